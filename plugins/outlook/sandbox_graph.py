"""The Graph v1.0 resources the sandbox serves: messages (drafts, send, sendMail, the extended-property filter),
events (create with transactionId, update, cancel, delete), calendars and the calendarView delta.

sandbox.py authenticates, routes and throttles; these handlers get the caller's mailbox and answer a Reply.
Behaviour with its source; [?] marks a guess:
- `internetMessageHeaders`: names must start with x-/X- (400 InvalidInternetMessageHeader), at most 5
  (400 InvalidInternetMessageHeaderCollection); third-party reports of the live service, wording [?];
- event bodies (create, update): a name that is no property of microsoft.graph.event is refused with 400
  RequestBodyRead, as Graph does (`check_event_properties` names the live answers); the sandbox keeps only the
  properties it models (EVENT_FIELDS, start and end);
- `$filter` on messages: only `singleValueExtendedProperties/Any(ep: ep/id eq '...' and ep/value eq '...')`
  (the form of https://learn.microsoft.com/graph/api/resources/extended-properties-overview); any other filter
  is refused with 400 so a test never passes on a filter the fake would ignore;
- calendarView delta: startDateTime/endDateTime required on the first call (400 ErrorInvalidParameter "This
  request requires a time window..."), no $select/$filter/$expand/$orderby/$search (400 ErrorInvalidUrlQuery
  "The following parameters are not supported with change tracking over the 'CalendarView' resource: ..."),
  the window frozen in the state token, deleted or out-of-window items as `@removed: {"reason": "deleted"}`
  (api-reference/v1.0/api/event-delta.md, concepts/delta-query-events.md); an expired token answers 410 Gone,
  code syncStateNotFound, with a Location header naming the initial query with an empty $deltatoken
  (concepts/delta-query-overview.md, "Synchronization reset" and "Token duration"; the message text is [?]);
- `$search` on messages (search-query-parameter.md, "Using $search on message collections"): the whole mailbox,
  Deleted Items included (user-list-messages.md), sorted by the time sent, newest first, at most 1000 results; the
  value in double quotes, either a bare term (from, subject, body) or one KQL property among to, from, cc, bcc,
  recipients, participants, subject, body (an address matches its SMTP address, alias or display name). Graph
  refuses it with $filter (400 SearchWithFilter "The query parameter '$filter' is not supported with '$search'.")
  and with $orderby (400 SearchWithOrderBy, "... '$orderBy' is not supported with '$search'."): codes and wording
  as third-party code meets them [?]; no ConsistencyLevel header (that is for directory objects). Search reads
  Exchange's content index, which lags behind new and moved items: an item changed less than `search_lag` ago is
  not found yet (the lag is not documented [?]; the sandbox's default is a minute);
- DELETE of a message or an event, and an event's cancel, move the item to Deleted Items ("The action moves the
  event to the Deleted Items folder", event-cancel.md; for a DELETEd message, reported by users of the live
  service, gptscript-ai/desktop#451), where it still holds what it held; a DELETE in Deleted Items removes it.
  `POST .../messages/{id}/permanentDelete` and `POST .../events/{id}/permanentDelete` (v1.0; 204, no body) put
  it in the dumpster's Purges folder, out of every client's reach (message-permanentdelete.md,
  event-permanentdelete.md): gone from the sandbox. They need Mail.ReadWrite and Calendars.ReadWrite (the pages'
  permission tables, no higher permission listed): without them, 403 ErrorAccessDenied. Whether the organizer's
  permanentDelete of a meeting tells the attendees, as its DELETE does (event-delete.md), is not documented: the
  sandbox assumes it does [?];
- a message's `attachments` (in the JSON of a draft or of sendMail): the sandbox models file attachments only.
  Each needs `@odata.type` "#microsoft.graph.fileAttachment" (without it the item is read as the base type, which
  has no `contentBytes`: 400 RequestBodyRead, the OData wording for an unknown property; "the attachment in this
  case is of type #microsoft.graph.fileAttachment", learn.microsoft.com/answers/questions/526835), a `name` and a
  `contentBytes` in base64 (fileattachment.md; a missing one: 400 ErrorRequiredPropertyMissing, code and wording
  [?]), and weighs "under 3 MB" (message-post-attachments.md, v1.0; larger files need an upload session, read as
  3,000,000 bytes: 413 RequestEntityTooLarge, the status SDK users report, msgraph-sdk-powershell#1554, wording
  [?]). itemAttachment and referenceAttachment exist in Graph but are refused here (400), so a test never passes
  on a type the fake does not model. A sent mail keeps its files (`SentMail.attachments`); a message with one
  says `hasAttachments: true`;
- sending limits of Exchange Online, 30 messages a minute and 10,000 recipients a day per mailbox
  (exchange-online-limits): what Graph answers past them is not documented; 429 + Retry-After with code
  ErrorExceededMessageLimit is a guess [?] (the code is what third-party code catches).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses
from typing import Any

from hub_outlook.sandbox_model import (
    WELL_KNOWN_FOLDERS,
    Event,
    GraphError,
    Mailbox,
    Message,
    SentFile,
    SentMail,
    addresses,
    bad_request,
    change_key,
    event_json,
    item_not_found,
    message_json,
    outlook_id,
    overlaps,
    parse_dtz,
    parse_moment,
    recipients,
    teams_join_url,
    within,
    zone,
)

GRAPH_JSON = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"
_EP_FILTER = re.compile(r"^\s*singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*\1/id\s+eq\s+'((?:[^']|'')*)'\s+"
                        r"and\s+\1/value\s+eq\s+'((?:[^']|'')*)'\s*\)\s*$", re.IGNORECASE)
_EP_EXPAND = re.compile(r"^\s*singleValueExtendedProperties\(\s*\$filter\s*=\s*id\s+eq\s+'((?:[^']|'')*)'\s*\)\s*$",
                        re.IGNORECASE)
_EP_ID = re.compile(r"^(String|Integer|Boolean|SystemTime|Double|Binary)\s+(\{[0-9a-fA-F-]{36}\}\s+(Name\s+\S.*|"
                    r"Id\s+0x[0-9a-fA-F]+)|0x[0-9a-fA-F]{4})$")
_DELTA_REFUSED = ("$orderby", "$filter", "$select", "$expand", "$search")
_KQL = re.compile(r'^\s*(?:(to|from|cc|bcc|recipients|participants|subject|body)\s*:\s*)?("?)([^"\s]+)\2\s*$',
                  re.IGNORECASE)
FILE_ATTACHMENT = "#microsoft.graph.fileAttachment"
ATTACHMENT_TYPES = ("#microsoft.graph.fileAttachment", "#microsoft.graph.itemAttachment",
                    "#microsoft.graph.referenceAttachment")
ATTACHMENT_MAX = 3_000_000
"""A file attached in the message's JSON must be under 3 MB (message-post-attachments.md), read as bytes."""
SEARCH_MAX = 1000
"""A $search request on messages returns up to 1000 results (search-query-parameter.md)."""
PERMISSIONS = {"permanent_delete_message": "Mail.ReadWrite", "permanent_delete_event": "Calendars.ReadWrite"}
"""What a handler needs the token to carry (app roles, or delegated scopes); other routes are not checked."""
MAX_HEADERS = 5
_SAFE = "$,/()':"
EVENT_FIELDS = ("subject", "body", "location", "attendees", "categories", "isOnlineMeeting", "onlineMeetingProvider",
                "transactionId", "importance", "sensitivity", "showAs", "isReminderOn")
"""What the sandbox keeps of an event's JSON (start and end aside); other event properties are accepted and
dropped."""
EVENT_PROPERTIES = frozenset(name.lower() for name in (
    "id", "categories", "changeKey", "createdDateTime", "lastModifiedDateTime",  # entity, outlookItem
    "allowNewTimeProposals", "attendees", "body", "bodyPreview", "cancelledOccurrences", "end", "hasAttachments",
    "hideAttendees", "iCalUId", "importance", "isAllDay", "isCancelled", "isDraft", "isOnlineMeeting",
    "isOrganizer", "isReminderOn", "location", "locations", "onlineMeeting", "onlineMeetingProvider",
    "onlineMeetingUrl", "organizer", "originalEndTimeZone", "originalStart", "originalStartTimeZone", "recurrence",
    "reminderMinutesBeforeStart", "responseRequested", "responseStatus", "sensitivity", "seriesMasterId", "showAs",
    "start", "subject", "transactionId", "type", "webLink",
    "attachments", "calendar", "exceptionOccurrences", "extensions", "instances",  # navigation properties
    "multiValueExtendedProperties", "singleValueExtendedProperties"))
"""Every property of microsoft.graph.event in v1.0, read-only ones and those of its base types included (the
event resource page, https://learn.microsoft.com/graph/api/resources/event, "Properties" and "Relationships",
and the v1.0 OpenAPI description of the type). Graph refuses any other name (`check_event_properties`)."""


@dataclass
class Ctx:
    """One Graph request as the handlers see it."""

    path: str  # the URL path, e.g. /graph/v1.0/users/x@y/messages
    base: str  # scheme://host/graph/v1.0 of this request: links the sandbox returns start with it
    query: dict[str, str]
    prefer: dict[str, str]
    body: bytes
    content_type: str = "application/json"

    @property
    def immutable(self) -> bool:
        return self.prefer.get("idtype", "").lower() == "immutableid"

    @property
    def zone(self) -> str | None:
        name = self.prefer.get("outlook.timezone")
        if name:
            zone(name)  # refuses an unknown zone
        return name

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise bad_request("BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header "
                                            "is set and payload is of valid JSON format.")
        return data


@dataclass
class Reply:
    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _unquote(value: str) -> str:
    return value.replace("''", "'")


def _context(ctx: Ctx, box: Mailbox, what: str) -> str:
    return f"{ctx.base}/$metadata#users('{box.address}')/{what}"


class GraphResources:
    """Mixin of OutlookSandbox: the resource handlers (called under the sandbox's lock)."""

    clock: Callable[[], datetime]
    messages_per_minute: int | None
    recipients_per_day: int | None
    transaction_retention: timedelta
    search_lag: timedelta

    # --- messages ----------------------------------------------------------------------------------------------

    def create_message(self, ctx: Ctx, box: Mailbox) -> Reply:
        data = ctx.json()
        self._check_message(data)
        now = self.clock()
        message = Message(outlook_id("AAkALg"), outlook_id(), "drafts", data, now, now,
                          str(data.get("internetMessageId") or f"<{outlook_id('')[:40]}@sandbox.prod.outlook.com>"),
                          change_key(), outlook_id("AAQkAD"))
        box.messages[message.immutable_id] = message
        return Reply(201, {"@odata.context": _context(ctx, box, "messages/$entity"),
                           **self._shaped(ctx, box, message)})

    @staticmethod
    def _check_message(data: dict[str, Any]) -> None:
        headers = data.get("internetMessageHeaders") or []
        if not isinstance(headers, list):
            raise bad_request("InvalidInternetMessageHeaderCollection", "The internet message headers are invalid.")
        for header in headers:
            name = str(header.get("name", "")) if isinstance(header, dict) else ""
            if not name.lower().startswith("x-"):
                raise bad_request("InvalidInternetMessageHeader",
                                  f"The internet message header name '{name}' should start with 'x-' or 'X-'.")
        if len(headers) > MAX_HEADERS:
            raise bad_request("InvalidInternetMessageHeaderCollection",
                              f"Maximum number of headers in one message should be less than or equal to "
                              f"{MAX_HEADERS}.")
        for prop in data.get("singleValueExtendedProperties") or []:
            if not isinstance(prop, dict) or not _EP_ID.match(str(prop.get("id", ""))) or "value" not in prop:
                raise bad_request("ErrorInvalidProperty", "The extended property id is invalid.")  # [?] wording
        for name in ("toRecipients", "ccRecipients", "bccRecipients", "replyTo"):
            recipients(data.get(name), name)
        file_attachments(data.get("attachments"))

    def _shaped(self, ctx: Ctx, box: Mailbox, message: Message) -> dict[str, Any]:
        """A message with $select and $expand applied."""
        full = message_json(box, message, ctx.immutable)
        selected = [s.strip() for s in ctx.query.get("$select", "").split(",") if s.strip()]
        unknown = [s for s in selected if s not in full and s != "singleValueExtendedProperties"]
        if unknown:
            raise bad_request("RequestBroker--ParseUri",
                              f"Could not find a property named '{unknown[0]}' on type 'microsoft.graph.message'.")
        out = ({k: full[k] for k in ("@odata.etag", "id", *selected) if k in full} if selected
               else {k: v for k, v in full.items() if k != "internetMessageHeaders"})
        expand = ctx.query.get("$expand")
        if expand:
            match = _EP_EXPAND.match(expand)
            if not match:
                raise bad_request("BadRequest", f"Parsing OData Select and Expand failed: the sandbox only expands "
                                                f"singleValueExtendedProperties($filter=id eq '...'), not '{expand}'.")
            wanted = _unquote(match.group(1)).lower()
            props = [{"id": p["id"], "value": p["value"]} for p in message.data.get("singleValueExtendedProperties")
                     or [] if str(p["id"]).lower() == wanted]
            if props:  # Graph leaves the property out when no property matches
                out["singleValueExtendedProperties"] = props
        return out

    def get_folder(self, ctx: Ctx, box: Mailbox, folder: str) -> Reply:
        """GET /mailFolders/{well-known name or id} (mailFolder resource), $select honoured."""
        key = box.folder_of(folder)
        inside = [m for m in box.messages.values() if m.folder == key]
        full = {"id": box.folders[key], "displayName": WELL_KNOWN_FOLDERS[key],
                "parentFolderId": box.folders["inbox"][:-4] + "AQAA", "childFolderCount": 0,
                "unreadItemCount": 0, "totalItemCount": len(inside), "sizeInBytes": 0, "isHidden": False}
        selected = [s.strip() for s in ctx.query.get("$select", "").split(",") if s.strip()]
        unknown = [s for s in selected if s not in full]
        if unknown:
            raise bad_request("RequestBroker--ParseUri",
                              f"Could not find a property named '{unknown[0]}' on type 'microsoft.graph.mailFolder'.")
        shown = {k: full[k] for k in ("id", *selected)} if selected else full
        return Reply(200, {"@odata.context": _context(ctx, box, "mailFolders/$entity"), **shown})

    def get_message(self, ctx: Ctx, box: Mailbox, message_id: str) -> Reply:
        message = box.message(message_id)
        return Reply(200, {"@odata.context": _context(ctx, box, "messages/$entity"),
                           **self._shaped(ctx, box, message)})

    def list_messages(self, ctx: Ctx, box: Mailbox, folder: str | None) -> Reply:
        folder_key = box.folder_of(folder) if folder else None
        if "$search" in ctx.query:
            return self.search_messages(ctx, box, folder_key)
        if "$orderby" in ctx.query:
            raise bad_request("ErrorInvalidUrlQuery", "The sandbox does not implement $orderby on messages.")
        items = [m for m in box.messages.values() if folder_key is None or m.folder == folder_key]
        text = ctx.query.get("$filter")
        if text is not None:
            match = _EP_FILTER.match(text)
            if not match:
                raise bad_request("ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes.")
            prop_id, value = _unquote(match.group(2)).lower(), _unquote(match.group(3))
            items = [m for m in items if any(str(p.get("id", "")).lower() == prop_id and str(p.get("value")) == value
                                             for p in m.data.get("singleValueExtendedProperties") or [])]
        items.sort(key=lambda m: (m.sent or m.created, m.immutable_id), reverse=True)
        top = min(1000, int(ctx.query.get("$top", "10")))
        skip = int(ctx.query.get("$skip", "0"))
        page = items[skip:skip + top]
        out: dict[str, Any] = {"@odata.context": _context(ctx, box, "messages"),
                               "value": [self._shaped(ctx, box, m) for m in page]}
        if skip + top < len(items):
            rest = {k: v for k, v in ctx.query.items() if k not in ("$skip", "$top")}
            out["@odata.nextLink"] = self._link(ctx, {**rest, "$top": str(top), "$skip": str(skip + top)})
        return Reply(200, out)

    @staticmethod
    def _link(ctx: Ctx, query: dict[str, str]) -> str:
        from urllib.parse import urlencode

        return f"{ctx.base}{ctx.path.split('/graph/v1.0', 1)[1]}?{urlencode(query, safe=_SAFE)}"

    def send_draft(self, ctx: Ctx, box: Mailbox, message_id: str) -> Reply:
        message = box.message(message_id)
        if message.sent is not None:
            raise bad_request("ErrorInvalidOperation", "Only a draft message can be sent.")  # [?] code and wording
        self._send(box, message, save=True)
        return Reply(202)

    def send_mail(self, ctx: Ctx, box: Mailbox) -> Reply:
        now = self.clock()
        if ctx.content_type.startswith("text/plain"):
            try:
                raw = base64.b64decode(ctx.body, validate=True)
            except (binascii.Error, ValueError):
                raise bad_request("ErrorMimeContentInvalidBase64String",
                                  "Invalid base64 string for MIME content.") from None
            data, save = _from_mime(raw), True
        else:
            payload = ctx.json()
            posted = payload.get("message")
            if not isinstance(posted, dict):
                raise bad_request("ErrorInvalidRequest", "The message is required.")  # [?] wording
            self._check_message(posted)
            data = posted
            save = str(payload.get("saveToSentItems", True)).lower() != "false"  # the doc example sends "false"
        message = Message(outlook_id("AAkALg"), outlook_id(), "drafts", data, now, now,
                          f"<{outlook_id('')[:40]}@sandbox.prod.outlook.com>", change_key(), outlook_id("AAQkAD"))
        self._send(box, message, save=save)
        return Reply(202)

    def _send(self, box: Mailbox, message: Message, *, save: bool) -> None:
        data, now = message.data, self.clock()
        to, cc, bcc = (addresses(recipients(data.get(k), k)) for k in ("toRecipients", "ccRecipients",
                                                                          "bccRecipients"))
        if not to + cc + bcc:
            raise bad_request("ErrorInvalidRecipients", "At least one recipient isn't valid., A message can't be "
                                                        "sent because it contains no recipients.")  # [?]
        self._spend(box, len(to + cc + bcc), now)
        message.sent, message.folder, message.modified = now, "sentitems", now
        message.rest_id, message.change_key = outlook_id(), change_key()  # moved: a new REST id
        if save:
            box.messages[message.immutable_id] = message
        else:
            box.messages.pop(message.immutable_id, None)
        body = data.get("body") or {}
        box.outbox.append(SentMail(
            message.immutable_id, str(data.get("subject", "")), to, cc, bcc,
            addresses(recipients(data.get("replyTo"), "replyTo")), str(body.get("content", "")),
            str(body.get("contentType", "text")).lower(),
            {str(h["name"]): str(h.get("value", "")) for h in data.get("internetMessageHeaders") or []},
            {str(p["id"]): str(p["value"]) for p in data.get("singleValueExtendedProperties") or []},
            message.internet_message_id, now, file_attachments(data.get("attachments"))))

    def _spend(self, box: Mailbox, count: int, now: datetime) -> None:
        minute = within(box.sends, now, timedelta(minutes=1))
        day = within(box.sends, now, timedelta(days=1))
        box.sends = day
        wait = None
        if self.messages_per_minute is not None and len(minute) >= self.messages_per_minute:
            wait = minute[0][0] + timedelta(minutes=1) - now
        elif self.recipients_per_day is not None and sum(n for _, n in day) + count > self.recipients_per_day:
            wait = day[0][0] + timedelta(days=1) - now
        if wait is not None:
            seconds = str(max(1, int(wait.total_seconds() + 0.999)))
            raise GraphError(429, "ErrorExceededMessageLimit", "Cannot send mail. The sending limit of this mailbox "
                             "was exceeded (30 messages per minute, 10,000 recipients per day).",
                             {"Retry-After": seconds})
        box.sends.append((now, count))

    def search_messages(self, ctx: Ctx, box: Mailbox, folder_key: str | None) -> Reply:
        """GET .../messages?$search="...": see the module's docstring."""
        if "$filter" in ctx.query:
            raise bad_request("SearchWithFilter", "The query parameter '$filter' is not supported with '$search'.")
        if "$orderby" in ctx.query:
            raise bad_request("SearchWithOrderBy", "The query parameter '$orderBy' is not supported with '$search'.")
        text = ctx.query["$search"].strip()
        if len(text) < 2 or not (text.startswith('"') and text.endswith('"')):
            raise bad_request("BadRequest", "Syntax error: the $search value must be enclosed in double quotes.")  # [?]
        match = _KQL.match(text[1:-1].replace('\\"', '"'))
        if not match:
            raise bad_request("BadRequest", f"The sandbox does not implement the search {text}: one term, or one "
                                            "property:value among to, from, cc, bcc, recipients, participants, "
                                            "subject, body.")
        prop, term = (match.group(1) or "").lower(), match.group(3).casefold()
        indexed = self.clock() - self.search_lag
        items = [m for m in box.messages.values() if (folder_key is None or m.folder == folder_key)
                 and m.modified <= indexed and _matches(box, m, prop, term)]
        items.sort(key=lambda m: (m.sent or m.created, m.immutable_id), reverse=True)
        items = items[:SEARCH_MAX]
        top = min(1000, int(ctx.query.get("$top", "10")))
        skip = _decode_skip(ctx.query.get("$skiptoken"))
        page = items[skip:skip + top]
        out: dict[str, Any] = {"@odata.context": _context(ctx, box, "messages"),
                               "value": [self._shaped(ctx, box, m) for m in page]}
        if skip + top < len(items):
            rest = {k: v for k, v in ctx.query.items() if k != "$skiptoken"}
            out["@odata.nextLink"] = self._link(ctx, {**rest, "$skiptoken": _encode({"skip": skip + top})})
        return Reply(200, out)

    def delete_message(self, ctx: Ctx, box: Mailbox, message_id: str) -> Reply:
        """Into Deleted Items (a new REST id, as any move); from Deleted Items, out of the mailbox's view."""
        message = box.message(message_id)
        if message.folder == "deleteditems":
            del box.messages[message.immutable_id]
        else:
            message.folder, message.rest_id, message.modified = "deleteditems", outlook_id(), self.clock()
        return Reply(204)

    def permanent_delete_message(self, ctx: Ctx, box: Mailbox, message_id: str) -> Reply:
        del box.messages[box.message(message_id).immutable_id]
        return Reply(204)

    # --- calendars and events ----------------------------------------------------------------------------------

    def list_calendars(self, ctx: Ctx, box: Mailbox) -> Reply:
        return Reply(200, {"@odata.context": _context(ctx, box, "calendars"), "value": [
            {"id": c.id, "name": c.name, "color": "auto", "hexColor": "", "isDefaultCalendar": c.is_default,
             "changeKey": c.id[-16:], "canShare": True, "canViewPrivateItems": True, "canEdit": True,
             "allowedOnlineMeetingProviders": ["teamsForBusiness"], "defaultOnlineMeetingProvider": "teamsForBusiness",
             "isTallyingResponses": True, "isRemovable": not c.is_default,
             "owner": {"name": box.name or box.address, "address": box.address}} for c in box.calendars.values()]})

    def create_event(self, ctx: Ctx, box: Mailbox, calendar_id: str | None) -> Reply:
        data = ctx.json()
        check_event_properties(data)
        tz = ctx.zone
        if calendar_id is not None and calendar_id not in box.calendars:
            raise item_not_found()
        transaction = data.get("transactionId")
        known = box.transactions.get(str(transaction)) if transaction else None
        # event resource, transactionId: "A custom identifier specified by a client app for the server to avoid
        # redundant POST operations in case of client retries to create the same event." (resources/event.md)
        # How long the server remembers it is not documented: `transaction_retention` [?].
        if known and known[0] in box.events and self.clock() - known[1] < self.transaction_retention:
            event = box.events[known[0]]
        else:
            event = self.new_event(box, data, box.address, calendar_id)
        return Reply(201, {"@odata.context": _context(ctx, box, "events/$entity"), **event_json(box, event, tz)})

    def new_event(self, box: Mailbox, data: dict[str, Any], organizer: str, calendar_id: str | None) -> Event:
        start, start_zone = parse_dtz(data.get("start"), "start")
        end, end_zone = parse_dtz(data.get("end"), "end")
        if end < start:
            raise bad_request("ErrorInvalidRequest", "The end of the event is before its start.")  # [?] wording
        now = self.clock()
        kept = {k: data[k] for k in EVENT_FIELDS if k in data}
        event = Event(outlook_id(), calendar_id or box.default_calendar.id, kept, start, end, start_zone, end_zone,
                      organizer, now, now, box.bump())
        if data.get("isOnlineMeeting") and data.get("onlineMeetingProvider", "teamsForBusiness") == "teamsForBusiness":
            event.join_url = teams_join_url()
        box.events[event.id] = event
        if data.get("transactionId"):
            box.transactions[str(data["transactionId"])] = (event.id, now)
        return event

    def list_events(self, ctx: Ctx, box: Mailbox, calendar_id: str | None) -> Reply:
        if "$filter" in ctx.query or "$orderby" in ctx.query:
            raise bad_request("ErrorInvalidUrlQueryFilter", "The sandbox does not filter or order events.")
        calendar = calendar_id or box.default_calendar.id
        items = sorted((e for e in box.events.values() if e.calendar_id == calendar), key=lambda e: e.start)
        top, skip = min(1000, int(ctx.query.get("$top", "10"))), int(ctx.query.get("$skip", "0"))
        out: dict[str, Any] = {"@odata.context": _context(ctx, box, "events"),
                               "value": [event_json(box, e, ctx.zone) for e in items[skip:skip + top]]}
        if skip + top < len(items):
            out["@odata.nextLink"] = self._link(ctx, {"$top": str(top), "$skip": str(skip + top)})
        return Reply(200, out)

    def get_event(self, ctx: Ctx, box: Mailbox, event_id: str) -> Reply:
        return Reply(200, {"@odata.context": _context(ctx, box, "events/$entity"),
                           **event_json(box, box.event(event_id), ctx.zone)})

    def patch_event(self, ctx: Ctx, box: Mailbox, event_id: str) -> Reply:
        data = ctx.json()
        check_event_properties(data)
        event, tz = box.event(event_id), ctx.zone
        self.update_event(box, event, data)
        return Reply(200, {"@odata.context": _context(ctx, box, "events/$entity"), **event_json(box, event, tz)})

    def update_event(self, box: Mailbox, event: Event, data: dict[str, Any]) -> None:
        start, start_zone = parse_dtz(data["start"], "start") if "start" in data else (event.start, event.start_zone)
        end, end_zone = parse_dtz(data["end"], "end") if "end" in data else (event.end, event.end_zone)
        if end < start:
            raise bad_request("ErrorInvalidRequest", "The end of the event is before its start.")  # [?] wording
        event.start, event.start_zone, event.end, event.end_zone = start, start_zone, end, end_zone
        event.data.update({k: data[k] for k in EVENT_FIELDS if k in data and k != "transactionId"})
        if data.get("isOnlineMeeting") and not event.join_url:
            event.join_url = teams_join_url()
        event.modified, event.change_key, event.seq = self.clock(), change_key(), box.bump()

    def cancel_event(self, ctx: Ctx, box: Mailbox, event_id: str) -> Reply:
        event = box.event(event_id)
        if event.organizer.lower() != box.address.lower():
            # event-cancel.md: "An attendee calling this action gets an error (HTTP 400 Bad Request), with the
            # following error message: 'Your request can't be completed. You need to be an organizer to cancel a
            # meeting.'" (the code is not given [?])
            raise bad_request("ErrorInvalidRequest",
                              "Your request can't be completed. You need to be an organizer to cancel a meeting.")
        comment = ctx.json().get("Comment") or ctx.json().get("comment")
        self.drop_event(box, event, str(comment) if comment is not None else None)
        return Reply(202)

    def delete_event(self, ctx: Ctx, box: Mailbox, event_id: str) -> Reply:
        self.drop_event(box, box.event(event_id), None)
        return Reply(204)

    def permanent_delete_event(self, ctx: Ctx, box: Mailbox, event_id: str) -> Reply:
        """From the calendar (the attendees told, [?] see the module's docstring) or from Deleted Items."""
        if box.deleted_events.pop(event_id, None) is None:
            self.drop_event(box, box.event(event_id), None, purge=True)
        return Reply(204)

    def drop_event(self, box: Mailbox, event: Event, comment: str | None, *, purge: bool = False) -> None:
        """Cancelled or deleted: gone from the calendar (into Deleted Items, unless purged); the organizer's
        attendees get a cancellation."""
        if event.organizer.lower() == box.address.lower() and event.data.get("attendees"):
            box.cancellations.append({"event_id": event.id, "subject": event.data.get("subject", ""),
                                      "attendees": [a.get("emailAddress", {}).get("address", "")
                                                    for a in event.data["attendees"]],
                                      "comment": comment, "at": self.clock()})
        box.remove_event(event, purge=purge)

    # --- calendarView delta ------------------------------------------------------------------------------------

    def delta(self, ctx: Ctx, box: Mailbox, calendar_id: str | None) -> Reply:
        refused = [p for p in _DELTA_REFUSED if p in ctx.query]
        if refused:
            raise bad_request("ErrorInvalidUrlQuery", "The following parameters are not supported with change "
                                                      "tracking over the 'CalendarView' resource: '$orderby, $filter, "
                                                      "$select, $expand, $search'.")
        calendar = calendar_id or box.default_calendar.id
        if calendar not in box.calendars:
            raise item_not_found()
        tz = ctx.zone
        skip, delta = ctx.query.get("$skiptoken"), ctx.query.get("$deltatoken")
        if skip or delta:
            state = _decode(skip or delta or "")
            if state is None or state.get("mb") != box.oid or state.get("cal") != calendar:
                raise bad_request("ErrorInvalidUrlQuery", "The state token is not valid.")  # [?]
            if state["epoch"] != box.delta_epoch:
                restart = self._link(ctx, {"startDateTime": state["s"], "endDateTime": state["e"],
                                           "$deltatoken": ""})
                raise GraphError(410, "syncStateNotFound", "The sync state is no longer available; start a full "
                                 "synchronization again.", {"Location": restart})
            if delta:
                state = {**state, "since": state["upto"], "upto": box.seq, "after": -1}
        else:
            start_text, end_text = ctx.query.get("startDateTime"), ctx.query.get("endDateTime")
            if not start_text or not end_text:
                raise bad_request("ErrorInvalidParameter", "This request requires a time window specified by the "
                                                           "query string parameters StartDateTime and EndDateTime.")
            parse_moment(start_text), parse_moment(end_text)
            state = {"mb": box.oid, "cal": calendar, "epoch": box.delta_epoch, "s": start_text, "e": end_text,
                     "since": None, "upto": box.seq, "after": -1}
        items = self._changes(box, state)
        size = max(1, int(ctx.prefer.get("odata.maxpagesize", "10")))
        page = items[:size]
        out: dict[str, Any] = {"@odata.context": _context(ctx, box, "events(*)"),
                               "value": [item if "@removed" in item else event_json(box, box.events[item["id"]], tz)
                                         for _, item in page]}
        if len(items) > size:
            out["@odata.nextLink"] = self._link(ctx, {"$skiptoken": _encode({**state, "after": page[-1][0]})})
        else:
            final = {k: v for k, v in state.items() if k not in ("since", "after")}
            out["@odata.deltaLink"] = self._link(ctx, {"$deltatoken": _encode(final)})
        headers = {"Preference-Applied": f"odata.maxpagesize={size}"} if "odata.maxpagesize" in ctx.prefer else {}
        return Reply(200, out, headers)

    @staticmethod
    def _changes(box: Mailbox, state: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
        """(seq, item) in change order after the page cursor: events changed up to `upto` (a change made while
        paging has a later seq and comes in the next round), and, after the first round, removals."""
        start, end = parse_moment(state["s"]), parse_moment(state["e"])
        since, upto, after = state["since"], state["upto"], state["after"]
        floor = max(after, since if since is not None else -1)
        found: list[tuple[int, dict[str, Any]]] = []
        for event in box.events.values():
            if event.calendar_id != state["cal"] or not floor < event.seq <= upto:
                continue
            if overlaps(event.start, event.end, start, end):
                found.append((event.seq, {"id": event.id}))
            elif since is not None:  # moved out of the window: Graph reports it as removed
                found.append((event.seq, _removed(event.id)))
        if since is not None:
            found += [(seq, _removed(event_id)) for event_id, cal, seq in box.tombstones
                      if cal == state["cal"] and floor < seq <= upto]
        return sorted(found, key=lambda pair: pair[0])


def file_attachments(value: Any) -> list[SentFile]:
    """A message's `attachments` as Graph takes them (see the module's docstring), read back as files."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request("RequestBodyRead", "An unexpected 'StartObject' node was found for property named "
                                             "'attachments' when reading from the JSON reader. A 'StartArray' node "
                                             "was expected.")
    files: list[SentFile] = []
    for item in value:
        if not isinstance(item, dict):
            raise bad_request("RequestBodyRead", "Cannot read an attachment that is not a JSON object.")  # [?]
        kind = item.get("@odata.type")
        if kind is None:
            extra = next((k for k in item if k in ("contentBytes", "contentId", "contentLocation")), None)
            if extra:
                raise bad_request("RequestBodyRead", f"The property '{extra}' does not exist on type "
                                  "'microsoft.graph.attachment'. Make sure to only use property names that are "
                                  "defined by the type or mark the type as open type.")
            raise bad_request("ErrorRequiredPropertyMissing", "The attachment's @odata.type is required.")  # [?]
        if kind not in ATTACHMENT_TYPES:
            raise bad_request("RequestBodyRead", f"A type named '{str(kind).lstrip('#')}' could not be resolved by "
                                                 "the model.")
        if kind != FILE_ATTACHMENT:
            raise bad_request("ErrorInvalidRequest", f"The sandbox models file attachments only, not {kind}.")
        for required in ("name", "contentBytes"):
            if not isinstance(item.get(required), str) or not item[required]:
                raise bad_request("ErrorRequiredPropertyMissing",
                                  f"Required property is missing: {required}.")  # [?] code and wording
        try:
            data = base64.b64decode(item["contentBytes"], validate=True)
        except (binascii.Error, ValueError):
            raise bad_request("RequestBodyRead", "Cannot convert the literal to the expected type 'Edm.Binary'.") \
                from None  # [?] wording
        if len(data) >= ATTACHMENT_MAX:
            raise GraphError(413, "RequestEntityTooLarge", "The attachment is too large: attach files of 3 MB or "
                                                           "more with an upload session.")  # [?] code, wording
        files.append(SentFile(item["name"], str(item.get("contentType") or "application/octet-stream"), data))
    return files


def check_event_properties(data: dict[str, Any]) -> None:
    """Graph reads a POST or PATCH body against the event type before anything else: a name that is not a
    property of microsoft.graph.event is refused, 400 RequestBodyRead, and nothing is created or changed. Live
    answers: a PATCH of an event carrying the SDK's `graphResponseHeaders` (microsoftgraph/msgraph-sdk-java#391,
    then with the type named 'Microsoft.OutlookServices.Event') and, with today's type names, a message carrying
    `OdataType` (microsoftgraph/msgraph-sdk-python#440): "The property 'OdataType' does not exist on type
    'microsoft.graph.message'. Make sure to only use property names that are defined by the type or mark the type
    as open type." Conservative: names are compared without case [?], read-only properties (id,
    createdDateTime...) pass (what Graph does with them is not documented [?]), and so do OData annotations
    ("@odata.type", "subject@odata.type")."""
    for name in data:
        if "@" not in name and name.lower() not in EVENT_PROPERTIES:
            raise bad_request("RequestBodyRead", f"The property '{name}' does not exist on type "
                                                 "'microsoft.graph.event'. Make sure to only use property names "
                                                 "that are defined by the type or mark the type as open type.")


def _matches(box: Mailbox, message: Message, prop: str, term: str) -> bool:
    """KQL's `prop:term` on one message (no property: from, subject and body)."""
    data = message.data

    def people(*names: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for name in names:
            if name == "from":
                shown = message_json(box, message, True)["from"]
                found.append(shown["emailAddress"])
            else:
                found += [r["emailAddress"] for r in recipients(data.get(name), name)]
        return found

    def person(who: dict[str, Any]) -> bool:
        address = str(who.get("address", "")).casefold()
        return term in (address, address.partition("@")[0]) or term in str(who.get("name", "")).casefold().split()

    def text(name: str) -> bool:
        value = data.get(name)
        content = value.get("content", "") if isinstance(value, dict) else value
        return term in str(content or "").casefold()

    fields = {"to": ("toRecipients",), "cc": ("ccRecipients",), "bcc": ("bccRecipients",), "from": ("from",),
              "recipients": ("toRecipients", "ccRecipients", "bccRecipients"),
              "participants": ("from", "toRecipients", "ccRecipients", "bccRecipients")}
    if prop in fields:
        return any(person(p) for p in people(*fields[prop]))
    if prop in ("subject", "body"):
        return text(prop)
    return any(person(p) for p in people("from")) or text("subject") or text("body")


def _decode_skip(token: str | None) -> int:
    if not token:
        return 0
    state = _decode_token(token)
    if state is None or not isinstance(state.get("skip"), int):
        raise bad_request("BadRequest", "The $skiptoken is not valid.")  # [?]
    return int(state["skip"])


def _removed(event_id: str) -> dict[str, Any]:
    return {"@odata.type": "#microsoft.graph.event", "id": event_id, "@removed": {"reason": "deleted"}}


def _encode(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(token: str) -> dict[str, Any] | None:
    data = _decode_token(token)
    return data if data is not None and {"mb", "cal", "epoch", "s", "e", "upto"} <= set(data) else None


def _decode_token(token: str) -> dict[str, Any] | None:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error):
        return None
    return data if isinstance(data, dict) else None


def _from_mime(raw: bytes) -> dict[str, Any]:
    """sendMail with a MIME body: the fields the sandbox records."""
    mail = BytesParser(policy=policy.default).parsebytes(raw)

    def people(header: str) -> list[dict[str, Any]]:
        return [{"emailAddress": {"name": n, "address": a}} for n, a in getaddresses([str(mail.get(header, ""))])
                if a]

    part = mail.get_body(preferencelist=("html", "plain")) if hasattr(mail, "get_body") else None
    content = part.get_content() if part is not None else ""
    return {"subject": str(mail.get("Subject", "")), "toRecipients": people("To"), "ccRecipients": people("Cc"),
            "bccRecipients": people("Bcc"), "replyTo": people("Reply-To"),
            "body": {"contentType": "html" if part is not None and part.get_content_subtype() == "html" else "text",
                     "content": content},
            "internetMessageHeaders": [{"name": k, "value": str(v)} for k, v in mail.items()
                                       if k.lower().startswith("x-")][:MAX_HEADERS]}


def utc_now() -> datetime:
    return datetime.now(UTC)
