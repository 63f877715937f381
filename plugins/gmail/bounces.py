"""The `rebonds` source: bounces of the hub's own mails become `message_bounced` events.

The cursor is a Gmail historyId (the sync guide, https://developers.google.com/workspace/gmail/api/guides/sync):

- no cursor: users.getProfile's historyId (1 request): bounces are read from now on;
- a cursor: users.history.list(startHistoryId, historyTypes=messageAdded, labelId=INBOX), one page of 100 per
  poll (more=True while Gmail has more): an idle poll is that one request (2 quota units). Each message added
  to the inbox is read with messages.get(format=metadata, Content-Type only); only a delivery-status report
  is then read whole (format=raw) and parsed (dsn.py);
- history.list answers 404: the historyId is too old ("typically valid for at least a week, but in some rare
  circumstances ... only a few hours"). The 404 body is the same as any notFound, so it is the endpoint that
  decides: full sync = users.getProfile (the new cursor, taken first so nothing falls between), then
  messages.list(q="from:(mailer-daemon OR postmaster) newer_than:7d") and the same reads. Events already
  stored are dropped by the hub (source_id = the bounce's Gmail id), so reading twice is harmless;
- `hub resync --since D` gives the cursor "full:<days>": a full sync that far back.

A bounce is the hub's when the Message-ID it quotes is one the hub made (mime.message_id: the delivery key)
or, since Gmail may give a sent mail its own Message-ID, when `messages.list(q="rfc822msgid:<id>")` finds a
message the hub sent (private state `gm:<gmail id>`): one more request per bounce. Bounces of mail staff
sent by hand, and temporary failures (4.x.x, Gmail still trying), are skipped.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hub.events import Bounce, Candidate, Event, EventKind
from hub.sources import PollResult
from hub_gmail import dsn, mime
from hub_gmail.send import gmail_key, state_key

if TYPE_CHECKING:
    from hub.context import HubContext
    from hub_gmail.client import GmailClient
    from hub_gmail.mailbox import Mailbox

log = logging.getLogger("hub.plugin.gmail")
SOURCE = "rebonds"
FULL_SYNC_QUERY = "from:(mailer-daemon OR postmaster) newer_than:{days}d"
FULL_SYNC_DAYS = 7
FULL_SYNC_MAX = 500
PAGE = 100


class BounceSource:
    def __init__(self, hub: HubContext, box: Mailbox) -> None:
        self.hub = hub
        self.box = box

    def resync_cursor(self, since: datetime | None) -> str:
        days = FULL_SYNC_DAYS if since is None else max(1, (self.hub.now() - since).days + 1)
        return f"full:{days}"

    def poll(self, cursor: str | None) -> PollResult:
        client = self.box.client()
        if cursor is None:
            return PollResult([], str(self.box.profile()["historyId"]))
        if cursor.startswith("full:"):
            return self._full_sync(client, int(cursor[5:] or FULL_SYNC_DAYS))
        reply = client.history(cursor)
        if reply is None:
            log.info("history id expired: full sync", extra={"branch": self.hub.branch, "source": SOURCE})
            return self._full_sync(client, FULL_SYNC_DAYS)
        records = reply.get("history", [])
        ids = [str(added["message"]["id"]) for record in records for added in record.get("messagesAdded", [])
               if isinstance(added.get("message"), dict)]
        if reply.get("nextPageToken") and records:
            # resume after the last record read (history ids only grow); a record read twice is deduped
            return PollResult(self._read(client, ids), str(records[-1]["id"]), more=True)
        return PollResult(self._read(client, ids), str(reply.get("historyId") or cursor))

    def _full_sync(self, client: GmailClient, days: int) -> PollResult:
        start = str(self.box.profile()["historyId"])
        ids: list[str] = []
        token: str | None = None
        while len(ids) < FULL_SYNC_MAX:
            reply = client.list_messages(FULL_SYNC_QUERY.format(days=days), page_token=token, max_results=PAGE)
            ids += [str(m["id"]) for m in reply.get("messages", [])]
            token = reply.get("nextPageToken")
            if not token:
                break
        return PollResult(self._read(client, ids[:FULL_SYNC_MAX]), start)

    def _read(self, client: GmailClient, ids: list[str]) -> list[Event]:
        events = []
        for gmail_id in dict.fromkeys(ids):  # in order, once each
            meta = client.get_message(gmail_id, "metadata", ["Content-Type"])
            if meta is None or not dsn.is_report(_header(meta, "Content-Type")):
                continue  # deleted since, or an ordinary mail (a candidate's answer...)
            full = client.get_message(gmail_id, "raw")
            report = dsn.parse(mime.decode_raw(str(full["raw"]))) if full and full.get("raw") else None
            if report is None or not report.permanent:
                log.info("delivery report skipped", extra={"branch": self.hub.branch, "gmail_id": gmail_id,
                                                           "status": report.status if report else None})
                continue
            event = self._event(client, gmail_id, meta, report)
            if event is not None:
                events.append(event)
        return events

    def _event(self, client: GmailClient, gmail_id: str, meta: dict[str, Any], report: dsn.Dsn) -> Event | None:
        sent = self._sent_record(client, report.original_message_id)
        if sent is None:
            log.info("bounce of a mail the hub did not send", extra={"branch": self.hub.branch, "gmail_id": gmail_id})
            return None
        cid = sent.get("c")
        candidate = Candidate(id=cid) if cid and self.hub.candidate(cid) is not None else None
        millis = int(meta.get("internalDate") or 0)
        when = datetime.fromtimestamp(millis / 1000, UTC) if millis else self.hub.now()
        log.info("bounce read", extra={"branch": self.hub.branch, "gmail_id": gmail_id, "message_id": sent.get("msg"),
                                                "candidate": cid, "status": report.status})
        return Event(kind=EventKind.MESSAGE_BOUNCED, occurred_at=when, source_id=gmail_id, candidate=candidate,
                     bounce=Bounce(message_id=str(sent["msg"]), address=report.address, reason=report.reason,
                                   permanent=True))

    def _sent_record(self, client: GmailClient, msgid: str | None) -> dict[str, Any] | None:
        if not msgid:
            return None
        key = mime.delivery_key_of(msgid)
        record = self.hub.state_get(state_key(key)) if key else None
        if isinstance(record, dict) and record.get("s") == "sent":
            return record
        found = client.list_messages(f"rfc822msgid:{msgid.strip('<>')}", max_results=5).get("messages", [])
        for message in found:
            key = self.hub.state_get(gmail_key(str(message["id"])))
            record = self.hub.state_get(state_key(key)) if key else None
            if isinstance(record, dict) and record.get("s") == "sent":
                return record
        return None


def _header(message: dict[str, Any], name: str) -> str:
    for header in message.get("payload", {}).get("headers", []):
        if str(header.get("name", "")).lower() == name.lower():
            return str(header.get("value", ""))
    return ""
