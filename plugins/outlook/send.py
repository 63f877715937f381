"""`message_due`: one e-mail per delivery key from the branch's Exchange mailbox, never twice across a crash.

`sendMail` answers 202 with no id, so a send made just before a crash could not be found again. Instead the
mail goes through a draft (reference §4): its immutable id (graph.py asks for immutable ids on every request,
so the id stays the same when the message moves from Drafts to Sent Items) is committed before it is sent,
and the draft carries a single-value extended property, `CravateDeliveryKey` in the hub's own property set,
whose value is a hash of the delivery key (nothing personal), so a draft whose id was never committed is found
again. Private state `send:<delivery key>` holds ids only:

    none --commit {"s": "new"}--> POST /users/{mb}/messages (the draft, with the property)
         --commit {"s": "draft", "id", "t": now}--> POST /users/{mb}/messages/{id}/send (202)
         --> {"s": "sent", "id", "msg", "c"}  (committed with the delivery's outcome)

and `mails:<candidate id>` lists the delivery keys of the mails made for that person (added with the "new"
commit, before any draft exists), so an erasure (erasure.py) finds every one of them, drafts included, without
searching the mailbox.

On a repeat of the same delivery key:

    "sent"   nothing, no request.
    "new"    the process stopped around the draft's creation: GET messages?$filter= on the property finds it
             (a draft -> send it; already sent -> done) or not (create it).
    "draft"  GET messages/{id}?$select=isDraft: false -> it was sent, done; true -> send it (but see the lag
             below); 404 (deleted, or gone from where the id points) -> look it up by the property, else create
             a new draft and send it.

After a restore (`hub.reconciling`, a week after `hub restore` put back an older database), the private state may
not know a mail sent after the backup: a delivery with no record looks the mail up by the property first, as
"new" does. Sent -> recorded "sent", no request more (counted in the day's recipients, not in this minute: it
left earlier, when is unknown); none -> created as usual. A draft (found with no record, or under a "new" record,
which may be older than the send) is recorded "draft" with "t" = now and sent once SEND_LAG has passed: the
restored state cannot say when a send was last tried, and the daemon that made the draft may have sent it a
moment before it stopped.

The lag. The 202 of `/send` "does not indicate that the request processing has completed" (user-sendmail.md,
reference §2.1): for a few seconds after it the message may still read `isDraft: true`. A crash right after
the 202 followed by an immediate restart would then send the draft a second time. So "t" records when the
send was about to be made, and a repeat that finds the recorded draft still a draft less than SEND_LAG after
"t" waits (PluginNotReady, retry_after = what remains) instead of sending; past SEND_LAG a message still in
Drafts was not sent (the crash came before the send, or the send failed) and is sent. The price is that a
crash between the "draft" commit and the send delays that one mail by up to SEND_LAG. SEND_LAG is 5 minutes:
Microsoft documents no bound for the lag ("a few seconds" is observed) [?], a late mail is cheap, a double one
is not.

Attachments (Message.attachments: the monthly report's HTML page) travel in the draft's own JSON, as
`#microsoft.graph.fileAttachment` items (`name`, `contentType`, `contentBytes` base64) of its `attachments`
("When using JSON format, you can include an attachment to the message", user-post-messages.md, v1.0): the draft,
its marker and its file are made by one request, so the crash-safe sequence above and its 2 requests stay as they
are (a separate POST .../messages/{id}/attachments would leave, after a crash between the two, a draft found by
its marker but without its file). That route takes a file "under 3 MB" (message-post-attachments.md; a bigger one
needs an upload session): the core plans no message whose attachments weigh more (hub.events.ATTACHMENTS_LIMIT),
and Graph's refusal, should one come, is a dead letter (OutlookRejected).

Graph requests per mail (the re-delivery after a crash, not counting what was done before it; the token is
one more request to login.microsoftonline.com per hour, none when cached), measured by
tests/plugins/outlook/test_outlook_send.py (after a restore: test_outlook_restore.py):

    normal case                                           2  create draft, send
    repeat after "sent"                                   0
    crash before the draft was made ("new", no draft)     3  find by property (none), create, send
    crash after the draft was made, before its commit     2  find by property (a draft), send
    crash after the "draft" commit, before the send       2  get (isDraft true, past SEND_LAG), send
                                                             (1 and a wait of SEND_LAG - elapsed before it)
    crash after the send, before "sent" was committed     1  get (isDraft false): no second mail
    the draft was deleted before being sent               4  get (404), find by property (none), create, send
    after a restore (reconciling), no record:
      the mail was sent after the backup                  1  find by property (sent): no second mail
      nothing was made                                    3  find by property (none), create, send
      a draft was left unsent                             3  find by property (a draft), then after SEND_LAG
                                                             get (isDraft true), send
    a minute's 30 mails or the day's 10,000 recipients    0  PluginNotReady until the window frees; a 429
      reached, or Graph asked to wait earlier                from Graph pauses the channel the same way

Limits (Exchange Online, per mailbox, reference §4): 30 messages per minute and 10,000 recipients per rolling
24 h. The hub counts its own sends in private state (`window`: the last minute's send times, and recipients in
5-minute buckets over 24 h), each one before it is made (committed with the draft's id: a crash right after
a send cannot let the next daemon send a 31st that minute), and defers, never fails. Staff sending from the
same mailbox are not counted: Exchange then refuses with a 429 or a 4xx the hub has not met yet [?].

List-Unsubscribe and List-Unsubscribe-Post (RFC 8058, hub/privacy/optout.py) are not sent by this channel: no
sound way was found (issue 14; the personal link in the body stays the way out). What was weighed:

- The JSON draft: `internetMessageHeaders` takes only names starting with x- (400 InvalidInternetMessageHeader,
  "The internet message header name 'List-Unsubscribe' should start with 'x-' or 'X-'.":
  microsoftgraph/msgraph-sdk-dotnet#2105, microsoftgraph/microsoft-graph-docs#21678).
- A draft made from MIME (user-post-messages.md, v1.0: POST /users/{id}/messages, `Content-Type: text/plain`,
  the whole MIME base64-encoded; 201 and the message JSON, isDraft true; malformed MIME -> 400
  ErrorMimeContentInvalidBase64String "Invalid base64 string for MIME content."; S/MIME payloads up to 4 MB,
  413 beyond), then /send. Not sound, for two reasons:
  1. List-Unsubscribe-Post would not reliably reach the person. List-Unsubscribe has a MAPI property,
     PidTagListUnsubscribe (0x1045), which "MIME writers must copy ... to the List-Unsubscribe header field"
     (learn.microsoft.com, PidTagListUnsubscribe canonical property); List-Unsubscribe-Post has none. Another
     header of an uploaded MIME is kept only as a named property of PS_INTERNET_HEADERS, and a mailbox gets
     that property only when transport delivers it a mail bearing the header: "you cannot just save an email
     that includes the x-header to a mailbox to create the mapping" (learn.microsoft.com/exchange/
     client-developer/exchange-web-services/how-to-provision-x-headers-by-using-ews-in-exchange). Reports of the
     live service agree: a custom header sent in MIME is missing at the recipient on a new mailbox
     (microsoftgraph/microsoft-graph-docs#17444), headers not starting with X- are "not delivered to the
     receiver" (microsoftgraph/microsoft-graph-docs-contrib#1093), Auto-Submitted is removed
     (microsoftgraph/msgraph-sdk-dotnet#2209). Without List-Unsubscribe-Post clients offer no one-click, and a
     sandbox keeping it would test a behaviour Graph does not promise.
  2. The marker cannot be on the draft when it is made. A MIME body carries no singleValueExtendedProperties;
     the property can be added by a PATCH afterwards ("in a new or existing message", message resource), but a
     crash between the create and the PATCH leaves a draft the "new" lookup does not find: a second draft is
     made and sent (still one mail), and the first stays in Drafts with the person's address, unknown to
     `mails:` and to the erasure, where staff may send it. The marker cannot travel inside the MIME either: an
     X- header there meets the named-property problem above, Graph cannot $filter on internetMessageHeaders
     (400, Rexezuge-CloudflareWorkers/Mail-Otter#165) nor returns them for drafts and Sent Items
     (microsoftgraph/microsoft-graph-docs#2716: "internet headers just do not exist on the copy in Sent
     Items"); a Message-ID of the hub's found by `$filter=internetMessageId eq` would rely on Exchange keeping
     the Message-ID it is given, which it does not always do (microsoftgraph/microsoft-graph-docs#3092) and
     does not document for drafts [?]. Each mail would also cost 3 requests (create, PATCH, send), not 2.
- Worth one test mail from a real tenant before deciding (not done): the JSON draft as today, List-Unsubscribe
  as the tagged property `String 0x1045` in singleValueExtendedProperties, in the same create as the marker (the
  crash-safe sequence and its 2 requests unchanged; third-party Graph senders do this, e.g. redaxo/core#6590),
  and List-Unsubscribe-Post as `String {00020386-0000-0000-C000-000000000046} Name List-Unsubscribe-Post`
  (PS_INTERNET_HEADERS; one third-party sender, not verified [?]). What reaches the recipient must be read on
  the received mail: Graph does not return internetMessageHeaders of a sent message.
"""

from __future__ import annotations

import hashlib
import logging
import math
from typing import TYPE_CHECKING, Any

from hub.errors import DeliveryRejected, PluginAuthFailed, PluginNotReady
from hub_outlook.auth import SERVICE
from hub_outlook.graph import Throttled

if TYPE_CHECKING:
    from hub.context import HubContext
    from hub.events import Message
    from hub_outlook.graph import GraphClient
    from hub_outlook.mailbox import Mailbox
    from hub_outlook.settings import Settings

log = logging.getLogger("hub.plugin.outlook")
PROPERTY_SET = "eb3876f0-afcf-4536-86a1-59533a1c4946"
"""The hub's own MAPI property set (a GUID made for cravate-hub); never change it: drafts made before would no
longer be found."""
PROPERTY_ID = f"String {{{PROPERTY_SET}}} Name CravateDeliveryKey"
SEND_LAG = 300.0
MINUTE = 60.0
DAY = 24 * 3600.0
BUCKET = 300
RECIPIENTS_PER_MAIL = 1  # To only: the hub sends no Cc or Bcc


def state_key(delivery_key: str) -> str:
    return f"send:{delivery_key}"


def person_key(candidate_id: str) -> str:
    """Private state listing the delivery keys of the mails made for one person (for the erasure)."""
    return f"mails:{candidate_id}"


def remember(hub: HubContext, candidate_id: str | None, delivery_key: str) -> None:
    if candidate_id is None:
        return  # a mail to staff
    keys: list[str] = list(hub.state_get(person_key(candidate_id)) or [])
    if delivery_key not in keys:
        hub.state_put(person_key(candidate_id), [*keys, delivery_key])


def marker(delivery_key: str) -> str:
    """The property's value: a hash of the delivery key (the key holds ids only, but needs not be shown)."""
    return hashlib.sha256(f"cravate-hub:{delivery_key}".encode()).hexdigest()[:40]


class SendLimit(PluginNotReady):
    """The mailbox's sending limits (the hub's own count) or a pause Graph asked for: wait, no request."""


class SendWindow:
    """The hub's count of this mailbox's sends (last minute; recipients over 24 h) and Graph's pause, in
    private state. Generic enough to live in the core one day: Gmail's channel keeps the same kind of window."""

    KEY = "window"

    def __init__(self, hub: HubContext, settings: Settings) -> None:
        self.hub = hub
        self.per_minute = settings.per_minute
        self.daily = settings.daily_recipients
        data = hub.state_get(self.KEY) or {}
        now = self._now()
        self.recent = sorted(float(t) for t in data.get("recent", []) if float(t) > now - MINUTE)
        self.buckets = {int(b): int(n) for b, n in data.get("buckets", {}).items() if int(b) + BUCKET > now - DAY}
        self.blocked_until = float(data.get("blocked_until", 0.0))

    def _now(self) -> float:
        return self.hub.now().timestamp()

    def _save(self) -> None:
        self.hub.state_put(self.KEY, {"recent": self.recent[-self.per_minute:],
                                      "buckets": {str(b): n for b, n in sorted(self.buckets.items())},
                                      "blocked_until": self.blocked_until})

    def recipients_today(self) -> int:
        now = self._now()
        return sum(n for b, n in self.buckets.items() if b + BUCKET > now - DAY)

    def check(self, recipients: int = RECIPIENTS_PER_MAIL) -> None:
        """Raise SendLimit (no request made) while Graph's pause lasts or a limit would be passed."""
        now = self._now()
        if self.blocked_until > now:
            raise SendLimit(f"{SERVICE} : envois en pause à la demande de Microsoft Graph (429)",
                            retry_after=math.ceil(self.blocked_until - now))
        recent = [t for t in self.recent if t > now - MINUTE]
        if len(recent) >= self.per_minute:
            wait = recent[-self.per_minute] + MINUTE - now
            raise SendLimit(f"{SERVICE} : limite de {self.per_minute} envois par minute atteinte",
                            retry_after=max(1.0, math.ceil(wait)))
        if self.recipients_today() + recipients > self.daily:
            live = sorted(b for b in self.buckets if b + BUCKET > now - DAY)
            wait = (live[0] + BUCKET + DAY - now) if live else 3600.0  # a bucket's end: never early
            raise SendLimit(f"{SERVICE} : limite de {self.daily} destinataires par 24 h atteinte",
                            retry_after=max(1.0, math.ceil(wait)))

    def count_send(self, recipients: int = RECIPIENTS_PER_MAIL, *, minute: bool = True) -> None:
        """Count a send now; `minute=False` for one made earlier at a time unknown (found after a restore): in
        the day's recipients (counting too many only defers), not in this minute's sends."""
        now = self._now()
        if minute:
            self.recent.append(now)
        bucket = int(now // BUCKET * BUCKET)
        self.buckets[bucket] = self.buckets.get(bucket, 0) + recipients
        self._save()

    def pause(self, seconds: float) -> None:
        """Graph said 429: the next deliveries wait without asking."""
        self.blocked_until = self._now() + math.ceil(seconds)
        self._save()


def deliver(hub: HubContext, message: Message, box: Mailbox) -> None:
    """Send `message` once for `hub.delivery_key` (see the module's docstring)."""
    if message.medium != "email":
        raise DeliveryRejected(f"Outlook n'envoie que des e-mails, pas « {message.medium} »")
    key = hub.delivery_key
    if not key:
        raise RuntimeError("message_due called outside a delivery (no delivery key)")
    record: dict[str, Any] | None = hub.state_get(state_key(key))
    if record is not None and record.get("s") == "sent":
        return
    window = SendWindow(hub, box.settings)
    window.check()
    try:
        _deliver(hub, message, box, key, record, window)
    except Throttled as exc:
        window.pause(exc.retry_after or 60.0)
        raise
    except PluginAuthFailed:
        box.forget()  # the next try re-reads the token cache (after `hub auth outlook`)
        raise


def _deliver(hub: HubContext, message: Message, box: Mailbox, key: str, record: dict[str, Any] | None,
             window: SendWindow) -> None:
    client = box.client()
    state = record.get("s") if record else None
    draft_id: str | None = None
    if record is not None and state == "draft":
        found = client.get_message(str(record["id"]))
        if found is None:
            found = _by_marker(client, key)
        if found is not None and not found.get("isDraft", True):
            _record_sent(hub, message, key, str(found["id"]), window, counted=bool(record.get("n")))
            return
        if found is not None:
            draft_id = str(found["id"])
            waited = hub.now().timestamp() - float(record.get("t", 0.0))
            if waited < SEND_LAG:  # maybe sent a moment ago and not yet out of Drafts: see the docstring
                raise PluginNotReady(f"{SERVICE} : envoi peut-être en cours, vérification dans quelques minutes",
                                     retry_after=max(1.0, math.ceil(SEND_LAG - waited)))
    elif state == "new" or (state is None and hub.reconciling):  # no record after a restore: look it up too
        found = _by_marker(client, key)
        if found is not None and not found.get("isDraft", True):
            if state is None:  # sent before the restore, at a time unknown: not in this minute's count
                window.count_send(minute=False)
            _record_sent(hub, message, key, str(found["id"]), window, counted=state is None)
            return
        if found is not None:
            draft_id = str(found["id"])
            if hub.reconciling:  # the restored state may predate its send: wait out the lag, as for "draft"
                hub.state_put(state_key(key), {"s": "draft", "id": draft_id, "t": hub.now().timestamp()})
                remember(hub, message.candidate_id, key)
                raise PluginNotReady(f"{SERVICE} : brouillon retrouvé après une restauration, envoi dans quelques "
                                     "minutes", retry_after=SEND_LAG)
    if draft_id is None:
        if state != "new":  # a crash while creating leaves a trace: the repeat looks for the draft first
            hub.state_put(state_key(key), {"s": "new"})
            remember(hub, message.candidate_id, key)
            hub.checkpoint()
        created = client.create_draft(graph_message(message, box.settings, key))
        if not created.get("id"):
            raise PluginNotReady(f"{SERVICE} a créé le brouillon sans en donner l'identifiant")
        draft_id = str(created["id"])
    earlier = record if record and record.get("s") == "draft" and record.get("n") else None
    if earlier is None:  # counted before the send, with the draft's id: a crash after the send cannot hide it
        window.count_send()
    elif hub.now().timestamp() - float(earlier.get("t", 0.0)) >= MINUTE:
        window.count_send(recipients=0)  # counted in the day already; the send happens in this minute
    hub.state_put(state_key(key), {"s": "draft", "id": draft_id, "t": hub.now().timestamp(), "n": 1})
    hub.checkpoint()  # the draft's id (and the send's place in the window) are durable before it is sent
    client.send_draft(draft_id)
    _record_sent(hub, message, key, draft_id, window, counted=True)


def _by_marker(client: GraphClient, key: str) -> dict[str, Any] | None:
    """The message carrying this delivery's property: a sent one first (then it went), else a draft."""
    found = client.find_by_property(PROPERTY_ID, marker(key))
    sent = [m for m in found if not m.get("isDraft", True)]
    return (sent or found)[0] if found else None


def graph_message(message: Message, settings: Settings, key: str) -> dict[str, Any]:
    """The draft's JSON (Graph `message` resource).

    Graph takes one body: the HTML part when the core rendered one, else the text. `internetMessageHeaders`
    accepts only names starting with `x-` (Graph answers 400 otherwise), so only the X- headers of the message
    are passed: List-Unsubscribe and List-Unsubscribe-Post are dropped (the module's docstring says why a MIME
    draft is no answer).
    """
    if message.html:
        body = {"contentType": "html", "content": message.html}
    else:
        body = {"contentType": "text", "content": message.text}
    draft: dict[str, Any] = {
        "subject": message.subject,
        "body": body,
        "toRecipients": [_recipient(message.to, message.to_name)],
        "singleValueExtendedProperties": [{"id": PROPERTY_ID, "value": marker(key)}],
    }
    reply_to = message.reply_to or settings.reply_to
    if reply_to:
        draft["replyTo"] = [_recipient(reply_to)]
    from_name = message.from_name or settings.from_name
    if from_name and settings.mailbox:
        draft["from"] = _recipient(settings.mailbox, from_name)
    headers = [{"name": name, "value": value} for name, value in message.headers.items()
               if name.lower().startswith("x-")]
    if headers:
        draft["internetMessageHeaders"] = headers
    if message.attachments:  # in the draft itself: made with its marker in one request (see the docstring)
        draft["attachments"] = [{"@odata.type": "#microsoft.graph.fileAttachment", "name": a.filename,
                                 "contentType": a.content_type, "contentBytes": a.content}
                                for a in message.attachments]
    return draft


def _recipient(address: str, name: str | None = None) -> dict[str, Any]:
    email: dict[str, str] = {"address": address}
    if name:
        email["name"] = name
    return {"emailAddress": email}


def _record_sent(hub: HubContext, message: Message, key: str, graph_id: str, window: SendWindow, *,
                 counted: bool = False) -> None:
    hub.state_put(state_key(key), {"s": "sent", "id": graph_id, "msg": message.id, "c": message.candidate_id})
    remember(hub, message.candidate_id, key)  # a mail made before the list existed
    if not counted:
        window.count_send()
    log.info("mail sent", extra={"branch": hub.branch, "message_id": message.id, "graph_id": graph_id,
                                 "candidate": message.candidate_id, "purpose": message.purpose})
