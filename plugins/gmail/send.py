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

    while reconciling (a week after a restore), no record or "new" (measured by test_gmail_restore.py), with
    u = the mails to that address since the reach that the hub has no `gm:` record of and this process has
    not read (mail sent between the backup and the restore, staff's own, drafts):
      the delivery's mail was sent before               1 + u  messages.list, messages.get... (the match is one
                                                            of the u): nothing sent
      its draft was left unsent                         3 + u  messages.list, messages.get..., drafts.list,
                                                            drafts.send
      nothing found (a new mail)                        3 + u  messages.list, messages.get..., drafts.create,
                                                            drafts.send; 3 for a first mail to an address
      (one more messages.list per 500 mails to that address within the reach)

After a restore (`hub.reconciling`, a week after `hub restore` put back an older database), the private state
may not know a mail sent after the backup: no record, or "new" while its draft was made and sent since. Before
creating a draft, the channel then looks for the delivery's own mail in the mailbox. Every mail carries
`X-Cravate-Delivery: <marker>` (a hash of the delivery key: the key is the hub's business, not the
recipient's). It survives the send: Gmail rewrites the Message-ID only, the sender's Sent copy is the message
as built (the sources are in sandbox_mailbox.py's docstring). Gmail search cannot find it (no operator reads an
arbitrary header; a hidden word in the body would be a word the recipient sees, since Gmail rebuilds the
text/plain part from the HTML; a per-delivery List-Id, which `list:` searches, would make each mail a mailing
list to the recipient's filters; the draft's thread id is what the restore lost), so the search narrows to the
candidates and the marker is read on each:

    messages.list q="to:<address> after:<now - 38 days> {in:sent in:drafts}", includeSpamTrash (a sent mail
        staff trashed was still sent), newest first, 500 a page
    each hit: skipped when `gm:<id>` (the hub's record of its sent mails, restored or made since) names
        another delivery, or when this process already read its markers; else messages.get format=metadata
        metadataHeaders=[X-Cravate-Delivery, Message-ID] (our Message-ID, when Gmail kept it, is a marker too,
        which also covers mail sent before the header existed)
    ours and SENT  -> recorded "sent", nothing sent;  ours and DRAFT (not trashed) -> drafts.list by the same
    query gives its draft id, which is committed and sent;  nothing -> a new draft, as usual.

The reach, 38 days: the reconciliation lasts 7 days after the restore (hub.context.RECONCILE_DAYS) and a mail
sent up to 31 days before the restore (a backup that old) is still found. What the hub cannot know: the backup's
own date (HubContext does not give it), which would narrow the search.

The daily limit: each send is counted in 5-minute buckets over a rolling 24 h (`window`); at the account's
limit (Settings.send_limit) the delivery waits without asking Gmail. When Gmail itself says stop (429, a
rate-limit 403, the sending limit), `blocked_until` makes the next deliveries wait too, without a request.
Deliveries wait (PluginNotReady), they are never dead-lettered for a limit.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from hub.context import RECONCILE_DAYS
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
MARKER_HEADER = "X-Cravate-Delivery"
REACH_DAYS = RECONCILE_DAYS + 31
"""How far back the look-up after a restore searches: the reconciliation week plus a backup a month old."""
SEARCH_PAGE = 500
_SAFE_ADDRESS = re.compile(r"^[^\s\"(){}<>]+@[^\s\"(){}<>]+$")  # nothing Gmail's query syntax would read


def marker(delivery_key: str) -> str:
    """The value of `X-Cravate-Delivery` for a delivery key: the same on every try, unique per delivery, and
    telling the recipient nothing (a hash)."""
    return hashlib.sha256(f"cravate-hub/{delivery_key}".encode()).hexdigest()[:32]


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

    def count_send(self, at: datetime | None = None) -> None:
        """One send now, or at `at` (a send found after a restore: counted when it was made)."""
        now = (at or self.hub.now()).timestamp()
        if now + WINDOW + BUCKET <= self.hub.now().timestamp():
            return  # older than the window: it no longer counts
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
    if (record is None or record.get("s") == "new") and hub.reconciling:
        found = _made_before(hub, client, message, key)
        if found is not None and "d" not in found:
            log.info("mail found sent after a restore: not sent again", extra={
                "branch": hub.branch, "message_id": message.id, "gmail_id": found.get("id")})
            _record_sent(hub, message, key, found, window, at=_internal_date(found))
            return
        draft = found  # its unsent draft, or None: a new one
    elif record is not None and record.get("s") == "draft":
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
        raw = mime.encode(mime.build(_marked(message, key), sender=box.sender(),
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


def _marked(message: Message, key: str) -> Message:
    """The message with the delivery's marker header (one, whatever the case of a header of that name)."""
    headers = {k: v for k, v in message.headers.items() if k.strip().lower() != MARKER_HEADER.lower()}
    return message.model_copy(update={"headers": {**headers, MARKER_HEADER: marker(key)}})


def _made_before(hub: HubContext, client: GmailClient, message: Message, key: str) -> dict[str, Any] | None:
    """After a restore: the delivery's mail already sent ({id, threadId, internalDate}), or its unsent draft
    ({"d": draft id, "t": thread id}), or None (see the module's docstring)."""
    ours = marker(key)
    to = mime.address(message.to, message.to_name, what="du destinataire").addr_spec
    since = int((hub.now() - timedelta(days=REACH_DAYS)).timestamp())
    scope = (f"to:{to} " if _SAFE_ADDRESS.match(to) else "") + f"after:{since}"
    draft: dict[str, Any] | None = None
    token: str | None = None
    while True:
        reply = client.list_messages(scope + " {in:sent in:drafts}", page_token=token, max_results=SEARCH_PAGE,
                                     include_spam_trash=True)
        for hit in reply.get("messages", []):
            gmail_id = str(hit["id"])
            known = hub.state_get(gmail_key(gmail_id))
            if known == key:
                return {"id": gmail_id, "threadId": str(hit.get("threadId", ""))}
            if known is not None or ours not in client.markers.get(gmail_id, frozenset({ours})):
                continue  # another delivery's mail, or read already and not ours
            found = client.get_message(gmail_id, "metadata", [MARKER_HEADER, "Message-ID"])
            if found is None:
                continue
            client.markers[gmail_id] = _markers(found)
            if ours not in client.markers[gmail_id]:
                continue
            labels = set(found.get("labelIds", []))
            if "SENT" in labels and "DRAFT" not in labels:
                return found
            if "DRAFT" in labels and "TRASH" not in labels and draft is None:
                draft = found  # sent mail, if any, still wins: keep looking
        token = reply.get("nextPageToken")
        if not token:
            break
    if draft is None:
        return None
    for item in client.find_drafts(scope, max_results=100):
        if str(item.get("message", {}).get("id", "")) == str(draft["id"]):
            return {"d": str(item["id"]), "t": str(draft.get("threadId", ""))}
    return None  # gone meanwhile: a new draft is made


def _markers(found: dict[str, Any]) -> frozenset[str]:
    """The delivery markers a message's headers carry: X-Cravate-Delivery, and our Message-ID when Gmail kept it."""
    out: set[str] = set()
    for header in found.get("payload", {}).get("headers", []):
        name, value = str(header.get("name", "")).lower(), str(header.get("value", "")).strip()
        if name == MARKER_HEADER.lower() and value:
            out.add(value.lower())
        elif name == "message-id":
            key = mime.delivery_key_of(value)
            if key is not None:
                out.add(marker(key))
    return frozenset(out)


def _internal_date(found: dict[str, Any]) -> datetime | None:
    millis = str(found.get("internalDate") or "")
    return datetime.fromtimestamp(int(millis) / 1000, UTC) if millis.isdigit() else None


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


def _record_sent(hub: HubContext, message: Message, key: str, sent: dict[str, Any], window: SendWindow,
                 at: datetime | None = None) -> None:
    gmail_id = str(sent["id"])
    hub.state_put(state_key(key), {"s": "sent", "g": gmail_id, "t": str(sent.get("threadId", "")),
                                   "msg": message.id, "c": message.candidate_id})
    hub.state_put(gmail_key(gmail_id), key)
    _remember(hub, message, key)
    window.count_send(at)
    log.info("mail sent", extra={"branch": hub.branch, "message_id": message.id, "gmail_id": gmail_id,
                                 "candidate": message.candidate_id, "purpose": message.purpose})
