"""`message_due`: one e-mail per delivery key, effectively once across crashes (reference E2, pattern a).

Gmail has no idempotency key, and a Message-ID set by the client may not survive an API send (reference E2:
huacnlee/omamail#85; gauteh/lieer#198: "sending via the API creates new ones"), so the send cannot be found
afterwards by what we wrote into it. Instead the delivery goes through a draft whose ids
are committed before it is sent, in the plugin's private state under `send:<delivery key>` (ids only: no
address, no body; `p:<candidate id>` lists the person's delivery keys, for the erasure):

    none  --commit {"s": "new"}-->  drafts.create  --commit {"s": "draft", draft, thread}-->  drafts.send
          --> {"s": "sent", gmail id}  (committed with the delivery's outcome)

On a repeat of the same delivery key:

    "sent"   return at once, no request.
    "new"    the process stopped around drafts.create: its draft may exist unrecorded. drafts.list with
             q=rfc822msgid:<our Message-ID> finds it (then it is sent) or not (a draft is created).
    "draft"  drafts.get: still a draft -> send it. Gone (404) -> it was sent (Google's drafts guide: "When the
             draft is sent, the draft is automatically deleted and a new message with an updated ID is created
             with the SENT system label"), or staff deleted it. Since the sent message has a NEW id, looking the
             draft's message id up in SENT (messages.get) cannot tell the two apart; the sent message stays in
             the draft's thread, so threads.get(format=minimal) on the recorded thread id does: a SENT message
             there -> done; otherwise messages.list q="rfc822msgid:<ours> in:sent" (in case Gmail moved it);
             nothing -> the draft was deleted unsent: a new one is created and sent.

The sent message's real Message-ID is NOT read back (messages.get format=metadata metadataHeaders=Message-ID,
5 units, one request per mail; the quota page https://developers.google.com/gmail/api/reference/quota gives
the costs): a bounce is matched when it arrives instead (bounces.py: our Message-ID when Gmail kept it, else one
`rfc822msgid:` search for the Message-ID the bounce quotes), which costs one request per bounce, not per mail.

Gmail requests per message (the re-delivery after a crash, not counting what was done before it), measured
against the sandbox by tests/plugins/gmail/test_gmail_send.py:

    normal case                                          2  drafts.create, drafts.send
      once per process when `sender` is unset           +1  users.getProfile (none if the bounce source
                                                            read it first)
    repeat after "sent"                                  0
    crash before drafts.create answered (no draft made)  3  drafts.list (none), drafts.create, drafts.send
    crash after drafts.create, before its commit         2  drafts.list (finds it), drafts.send; 3 if Gmail
                                                            rewrote the draft's Message-ID (one unsent draft
                                                            is then left in the mailbox's Drafts)
    crash after the "draft" commit, before drafts.send   2  drafts.get, drafts.send
    crash after drafts.send, before "sent" is committed  2  drafts.get (404), threads.get (SENT found): no
                                                            second mail
    the draft was deleted by staff before being sent     5  drafts.get, threads.get, messages.list, then
                                                            drafts.create, drafts.send
    daily limit reached (the hub's count), or Gmail      0  PluginNotReady until the window frees / the time
      asked to wait earlier                                 Gmail named

The daily limit: each send is counted in 5-minute buckets over a rolling 24 h (`window`); at the account's
limit (Settings.send_limit) the delivery waits without asking Gmail. When Gmail itself says stop (429, a
rate-limit 403, the sending limit), `blocked_until` makes the next deliveries wait too, without a request.
Deliveries wait (PluginNotReady), they are never dead-lettered for a limit.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from hub.errors import DeliveryRejected, PluginAuthFailed
from hub_gmail import mime
from hub_gmail.client import MAX_WAIT, RateLimited

if TYPE_CHECKING:
    from hub.context import HubContext
    from hub.events import Message
    from hub_gmail.client import GmailClient
    from hub_gmail.mailbox import Mailbox

log = logging.getLogger("hub.plugin.gmail")
WINDOW = 24 * 3600
BUCKET = 300
UNKNOWN_WAIT = 3600.0
"""Gmail says the sending limit is reached but the hub sent nothing in the last 24 h (staff did, from the
same mailbox): try again in an hour."""


def state_key(delivery_key: str) -> str:
    return f"send:{delivery_key}"


def gmail_key(gmail_id: str) -> str:
    """Sent Gmail message id -> delivery key, for matching a bounce found by its Message-ID."""
    return f"gm:{gmail_id}"


def person_key(candidate_id: str) -> str:
    """Hub candidate id -> the delivery keys of every mail about them (to them, or to their referrer or staff
    about them): what the erasure (erasure.py) looks up, since private state cannot be listed."""
    return f"p:{candidate_id}"


def _remember(hub: HubContext, message: Message, key: str) -> None:
    cid = message.candidate_id
    if not cid:
        return
    keys = list(hub.state_get(person_key(cid)) or [])
    if key not in keys:
        hub.state_put(person_key(cid), [*keys, key])


class SendWindow:
    """The hub's own count of sends over the last 24 h, and a pause Gmail asked for, in private state."""

    KEY = "window"

    def __init__(self, hub: HubContext, limit: int) -> None:
        self.hub = hub
        self.limit = limit
        data = hub.state_get(self.KEY) or {}
        now = hub.now().timestamp()
        self.buckets = {int(b): int(n) for b, n in data.get("buckets", {}).items() if int(b) + WINDOW + BUCKET > now}
        self.blocked_until = float(data.get("blocked_until", 0.0))

    def _save(self) -> None:
        self.hub.state_put(self.KEY, {"buckets": {str(b): n for b, n in sorted(self.buckets.items())},
                                      "blocked_until": self.blocked_until})

    def sent_in_window(self) -> int:
        now = self.hub.now().timestamp()
        return sum(n for b, n in self.buckets.items() if b + BUCKET > now - WINDOW)

    def frees_in(self) -> float:
        """Seconds until the oldest send counted leaves the 24 h window (a bucket's end, so never early)."""
        now = self.hub.now().timestamp()
        live = [b for b in self.buckets if b + BUCKET > now - WINDOW]
        if not live:
            return UNKNOWN_WAIT
        return min(MAX_WAIT, max(1.0, min(live) + BUCKET + WINDOW - now))

    def check(self) -> None:
        """Raise RateLimited (no request made) while Gmail's pause lasts or the limit is reached."""
        now = self.hub.now().timestamp()
        if self.blocked_until > now:
            raise RateLimited("Gmail : envoi en pause à la demande de Gmail", retry_after=self.blocked_until - now,
                              sending_limit=False)
        if self.sent_in_window() >= self.limit:
            raise RateLimited(f"Gmail : limite de {self.limit} envois par 24 h atteinte", retry_after=self.frees_in(),
                              sending_limit=True)

    def count_send(self) -> None:
        now = self.hub.now().timestamp()
        bucket = int(now // BUCKET * BUCKET)
        self.buckets[bucket] = self.buckets.get(bucket, 0) + 1
        self._save()

    def pause(self, exc: RateLimited) -> None:
        """Remember Gmail's answer so the next deliveries wait without asking; fill in the wait if Gmail named
        none (the sending limit: until the window frees, at most 24 h)."""
        if exc.retry_after is None:
            exc.retry_after = self.frees_in() if exc.sending_limit else 60.0
        self.blocked_until = self.hub.now().timestamp() + math.ceil(exc.retry_after)
        self._save()


def deliver(hub: HubContext, message: Message, box: Mailbox) -> None:
    """Send `message` once for `hub.delivery_key` (see the module's docstring)."""
    if message.medium != "email":
        raise DeliveryRejected(f"Gmail n'envoie que des e-mails, pas « {message.medium} »")
    key = hub.delivery_key
    if not key:
        raise RuntimeError("message_due called outside a delivery (no delivery key)")
    record: dict[str, Any] | None = hub.state_get(state_key(key))
    if record is not None and record.get("s") == "sent":
        return
    window = SendWindow(hub, box.settings.send_limit)
    window.check()
    try:
        _deliver(hub, message, box, key, record, window)
    except RateLimited as exc:
        window.pause(exc)
        raise
    except PluginAuthFailed:
        box.forget()  # the next try re-reads the token file (after `hub auth google`)
        raise


def _deliver(hub: HubContext, message: Message, box: Mailbox, key: str, record: dict[str, Any] | None,
             window: SendWindow) -> None:
    client = box.client()
    draft: dict[str, str] | None = None
    if record is not None and record.get("s") == "draft":
        if client.get_draft(record["d"]) is not None:
            draft = {"d": record["d"], "t": record.get("t", "")}
        else:
            sent = _sent_already(client, record, _our_message_id(box, key))
            if sent is not None:
                _record_sent(hub, message, key, sent, window)
                return
    elif record is not None and record.get("s") == "new":
        draft = _orphan_draft(client, _our_message_id(box, key))
    if draft is None:
        if record is None or record.get("s") != "new":  # a crash while creating leaves a trace: the repeat
            hub.state_put(state_key(key), {"s": "new", "c": message.candidate_id})  # looks for the draft
            _remember(hub, message, key)  # before making another; the erasure finds the draft by it
            hub.checkpoint()
        raw = mime.encode(mime.build(message, sender=box.sender(),
                                     from_name=message.from_name or box.settings.from_name,
                                     reply_to=message.reply_to or box.settings.reply_to, delivery_key=key,
                                     now=hub.now()))
        created = client.create_draft(raw)
        draft = {"d": str(created["id"]), "t": str(created.get("message", {}).get("threadId", ""))}
    hub.state_put(state_key(key), {"s": "draft", **draft, "c": message.candidate_id})
    _remember(hub, message, key)
    hub.checkpoint()  # the draft's id is durable before anything is sent
    sent = client.send_draft(draft["d"])
    _record_sent(hub, message, key, sent, window)


def _our_message_id(box: Mailbox, key: str) -> str:
    return mime.message_id(key, box.sender().rpartition("@")[2])


def _orphan_draft(client: GmailClient, msgid: str) -> dict[str, str] | None:
    for found in client.find_drafts(f"rfc822msgid:{msgid.strip('<>')}"):
        return {"d": str(found["id"]), "t": str(found.get("message", {}).get("threadId", ""))}
    return None


def _sent_already(client: GmailClient, record: dict[str, Any], msgid: str) -> dict[str, Any] | None:
    """The sent message of a draft that is gone, or None when it was deleted unsent."""
    thread = client.get_thread(record["t"]) if record.get("t") else None
    for item in (thread or {}).get("messages", []):
        labels = item.get("labelIds", [])
        if "SENT" in labels and "DRAFT" not in labels:
            return dict(item)
    found = client.list_messages(f"rfc822msgid:{msgid.strip('<>')} in:sent", max_results=1).get("messages", [])
    return dict(found[0]) if found else None


def _record_sent(hub: HubContext, message: Message, key: str, sent: dict[str, Any], window: SendWindow) -> None:
    gmail_id = str(sent["id"])
    hub.state_put(state_key(key), {"s": "sent", "g": gmail_id, "t": str(sent.get("threadId", "")),
                                   "msg": message.id, "c": message.candidate_id})
    hub.state_put(gmail_key(gmail_id), key)
    _remember(hub, message, key)
    window.count_send()
    log.info("mail sent", extra={"branch": hub.branch, "message_id": message.id, "gmail_id": gmail_id,
                                 "candidate": message.candidate_id, "purpose": message.purpose})
