"""The sandbox's Microsoft 365 tenants: app registrations, users with their mailbox and calendars, and the wire
shapes Graph gives them (message, event, error JSON, dateTimeTimeZone). sandbox.py serves it over HTTP.

Behaviour copied from Microsoft (sources in the comments; [?] marks a guess where no source was found):
- item ids change when a message moves folder (draft -> Sent Items) unless the request carries
  `Prefer: IdType="ImmutableId"`; an immutable id stays valid for the item's life
  (https://learn.microsoft.com/graph/outlook-immutable-id);
- event times are `{"dateTime": "2016-12-09T20:30:00.0000000", "timeZone": "UTC"}`, in UTC unless
  `Prefer: outlook.timezone` names a zone ("By default, the start time is in UTC.", resources/event.md);
  Windows zone names ("Romance Standard Time") and IANA names are accepted, anything else is Graph's
  TimeZoneNotSupportedException.
"""

from __future__ import annotations

import base64
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
WINDOWS_ZONES = {
    "UTC": "UTC", "Coordinated Universal Time": "UTC", "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik", "Romance Standard Time": "Europe/Paris",
    "W. Europe Standard Time": "Europe/Berlin", "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw", "E. Europe Standard Time": "Europe/Chisinau",
    "FLE Standard Time": "Europe/Kiev", "GTB Standard Time": "Europe/Bucharest",
    "Morocco Standard Time": "Africa/Casablanca", "W. Central Africa Standard Time": "Africa/Lagos",
    "Mauritius Standard Time": "Indian/Mauritius", "SA Western Standard Time": "America/La_Paz",
    "SA Eastern Standard Time": "America/Cayenne", "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago", "Mountain Standard Time": "America/Denver",
    "Pacific Standard Time": "America/Los_Angeles", "Hawaiian Standard Time": "Pacific/Honolulu",
    "Tokyo Standard Time": "Asia/Tokyo", "China Standard Time": "Asia/Shanghai",
    "India Standard Time": "Asia/Calcutta", "AUS Eastern Standard Time": "Australia/Sydney",
    "New Caledonia Standard Time": "Pacific/Noumea", "Tahiti Standard Time": "Pacific/Tahiti",
}
"""The Windows names Outlook uses (the subset the branches and the docs' examples need), to IANA."""
WELL_KNOWN_FOLDERS = {"drafts": "Drafts", "sentitems": "Sent Items", "inbox": "Inbox",
                      "deleteditems": "Deleted Items"}


class GraphError(Exception):
    """An answer in Graph's error JSON: {"error": {"code", "message", "innerError": {...}}}."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}")
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def body(self, now: datetime, request_id: str, client_request_id: str | None = None) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message,
                          "innerError": {"date": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                                         "request-id": request_id,
                                         "client-request-id": client_request_id or request_id}}}


def item_not_found() -> GraphError:
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def bad_request(code: str, message: str) -> GraphError:
    return GraphError(400, code, message)


# --- time ----------------------------------------------------------------------------------------------------------

def zone(name: str) -> ZoneInfo:
    """A Windows or IANA zone name as Graph accepts it in `timeZone` or `Prefer: outlook.timezone`."""
    iana = WINDOWS_ZONES.get(name, name)
    try:
        return ZoneInfo(iana) if "/" in iana or iana == "UTC" else _no_zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        return _no_zone(name)


def _no_zone(name: str) -> ZoneInfo:
    raise bad_request("TimeZoneNotSupportedException",
                      f"A valid TimeZone value must be specified. The following TimeZone value is not supported: "
                      f"'{name}'.")


def parse_moment(value: str) -> datetime:
    """An ISO 8601 date-time as Graph takes it (up to 7 fractional digits, optional Z or offset); naive = UTC."""
    text = value.strip()
    match = re.match(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(\.\d+)?(Z|[+-]\d{2}:\d{2})?$", text)
    if not match:
        raise bad_request("ErrorInvalidRequest" if "T" in text else "BadRequest",
                          f"Cannot convert the literal '{value}' to the expected type 'Edm.DateTimeOffset'.")
    fraction = (match.group(2) or ".0")[1:7].ljust(6, "0")
    moment = datetime.fromisoformat(f"{match.group(1)}.{fraction}{(match.group(3) or '').replace('Z', '+00:00')}")
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_dtz(value: Any, name: str) -> tuple[datetime, str]:
    """A dateTimeTimeZone ({"dateTime", "timeZone"}) as (aware UTC moment, zone name as given)."""
    if not isinstance(value, dict) or not value.get("dateTime"):
        raise bad_request("ErrorPropertyValidationFailure",  # [?] wording
                          f"At least one property failed validation: '{name}'.")
    zone_name = str(value.get("timeZone") or "UTC")
    local = parse_moment(str(value["dateTime"])).replace(tzinfo=None)
    return local.replace(tzinfo=zone(zone_name)).astimezone(UTC), zone_name


def format_dtz(moment: datetime, zone_name: str) -> dict[str, str]:
    local = moment.astimezone(zone(zone_name))
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond:06d}0", "timeZone": zone_name}


def iso_z(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- ids -----------------------------------------------------------------------------------------------------------

def outlook_id(prefix: str = "AAMkAD") -> str:
    """Outlook REST ids are long base64url strings (AAMkAD... for items, AAkALg... for immutable ids)."""
    return prefix + base64.urlsafe_b64encode(secrets.token_bytes(60)).decode().rstrip("=")


def change_key() -> str:
    return base64.b64encode(secrets.token_bytes(21)).decode()


# --- the directory -------------------------------------------------------------------------------------------------

@dataclass
class App:
    tenant: str
    client_id: str
    secret: str | None = None
    certificate_pem: str | None = None
    public_client_flows: bool = False
    consented: bool = True
    name: str = "cravate-hub"
    roles: tuple[str, ...] = ("Mail.Send", "Mail.ReadWrite", "Calendars.ReadWrite")
    """The application permissions an administrator consented to (the token's `roles` claim)."""


@dataclass
class Message:
    immutable_id: str
    rest_id: str
    folder: str  # a WELL_KNOWN_FOLDERS key
    data: dict[str, Any]  # the JSON the client posted (subject, body, recipients, headers, extended properties)
    created: datetime
    modified: datetime
    internet_message_id: str
    change_key: str
    conversation_id: str
    sent: datetime | None = None


@dataclass
class Event:
    id: str
    calendar_id: str
    data: dict[str, Any]  # subject, body, location, attendees, categories, online meeting, transactionId
    start: datetime  # aware, UTC
    end: datetime
    start_zone: str
    end_zone: str
    organizer: str  # an address
    created: datetime
    modified: datetime
    seq: int  # the mailbox's change counter when it last changed (delta)
    change_key: str = field(default_factory=change_key)
    ical_uid: str = field(default_factory=lambda: "040000008200E00074C5B7101A82E008" + secrets.token_hex(40).upper())
    join_url: str | None = None


@dataclass
class Calendar:
    id: str
    name: str
    is_default: bool


@dataclass(frozen=True)
class SentFile:
    """A file a sent mail carried (a fileAttachment): its name, type and bytes."""

    name: str
    content_type: str
    data: bytes


@dataclass
class SentMail:
    """What a recipient gets: what tests read through `OutlookSandbox.sent()`."""

    id: str  # the message's immutable id
    subject: str
    to: list[str]
    cc: list[str]
    bcc: list[str]
    reply_to: list[str]
    body: str
    content_type: str
    headers: dict[str, str]
    extended: dict[str, str]
    internet_message_id: str
    sent_at: datetime
    attachments: list[SentFile] = field(default_factory=list)


@dataclass
class Mailbox:
    address: str
    tenant: str
    oid: str = field(default_factory=lambda: str(uuid.uuid4()))
    name: str = ""
    messages: dict[str, Message] = field(default_factory=dict)  # immutable id -> message
    folders: dict[str, str] = field(default_factory=lambda: {k: outlook_id("AAMkAGI") for k in WELL_KNOWN_FOLDERS})
    outbox: list[SentMail] = field(default_factory=list)
    sends: list[tuple[datetime, int]] = field(default_factory=list)  # (when, recipients) for the sending limits
    calendars: dict[str, Calendar] = field(default_factory=dict)
    events: dict[str, Event] = field(default_factory=dict)
    tombstones: list[tuple[str, str, int]] = field(default_factory=list)  # (event id, calendar id, seq) removed
    deleted_events: dict[str, Event] = field(default_factory=dict)  # cancelled or DELETEd: in Deleted Items
    transactions: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # transactionId -> (event, when)
    cancellations: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0
    delta_epoch: int = 0  # expire_delta() bumps it: older state tokens answer 410

    def __post_init__(self) -> None:
        if not self.calendars:
            self.add_calendar("Calendar", default=True)

    def add_calendar(self, name: str, *, default: bool = False) -> Calendar:
        calendar = Calendar(outlook_id("AAMkAGI"), name, default)
        self.calendars[calendar.id] = calendar
        return calendar

    @property
    def default_calendar(self) -> Calendar:
        return next(c for c in self.calendars.values() if c.is_default)

    def folder_of(self, name_or_id: str) -> str:
        key = name_or_id.lower()
        if key in self.folders:
            return key
        for name, folder_id in self.folders.items():
            if folder_id == name_or_id:
                return name
        raise item_not_found()

    def message(self, message_id: str) -> Message:
        """By immutable id (valid for the item's life) or by its current REST id (changes when it moves)."""
        found = self.messages.get(message_id)
        if found is None:
            found = next((m for m in self.messages.values() if m.rest_id == message_id), None)
        if found is None:
            raise item_not_found()
        return found

    def event(self, event_id: str) -> Event:
        found = self.events.get(event_id)
        if found is None:
            raise item_not_found()
        return found

    def bump(self) -> int:
        self.seq += 1
        return self.seq

    def remove_event(self, event: Event, *, purge: bool = False) -> None:
        """Out of its calendar: into Deleted Items (cancel, DELETE), or gone for good (`purge`, permanentDelete)."""
        del self.events[event.id]
        self.tombstones.append((event.id, event.calendar_id, self.bump()))
        if not purge:
            self.deleted_events[event.id] = event


@dataclass
class Tenant:
    id: str
    domain: str
    apps: dict[str, App] = field(default_factory=dict)
    mailboxes: dict[str, Mailbox] = field(default_factory=dict)  # lower-case address -> mailbox

    def mailbox(self, who: str) -> Mailbox | None:
        """By address (any case) or by the user's object id, as Graph's /users/{id | userPrincipalName}."""
        found = self.mailboxes.get(who.lower())
        return found or next((m for m in self.mailboxes.values() if m.oid == who), None)


# --- wire shapes ---------------------------------------------------------------------------------------------------

def recipients(value: Any, field_name: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or any(not isinstance(r, dict) or not isinstance(r.get("emailAddress"), dict)
                                          for r in value):
        raise bad_request("ErrorInvalidRecipients", f"Invalid recipients in '{field_name}'.")  # [?] wording
    return [{"emailAddress": {k: v for k, v in r["emailAddress"].items() if k in ("name", "address")}}
            for r in value]


def addresses(value: list[dict[str, Any]]) -> list[str]:
    return [str(r["emailAddress"].get("address", "")) for r in value]


def message_json(box: Mailbox, message: Message, immutable: bool) -> dict[str, Any]:
    """A message as GET /messages/{id} shows it (api-reference message-get example), before $select."""
    data = message.data
    body = data.get("body") or {"contentType": "text", "content": ""}
    content = str(body.get("content", ""))
    posted_from = data.get("from")  # a mail received from outside keeps its sender; the hub's drafts name the box
    sender = posted_from if isinstance(posted_from, dict) and isinstance(posted_from.get("emailAddress"), dict) \
        else {"emailAddress": {"name": box.name or box.address, "address": box.address}}
    item_id = message.immutable_id if immutable else message.rest_id
    return {
        "@odata.etag": f'W/"{message.change_key}"', "id": item_id,
        "createdDateTime": iso_z(message.created), "lastModifiedDateTime": iso_z(message.modified),
        "changeKey": message.change_key, "categories": list(data.get("categories") or []),
        "receivedDateTime": iso_z(message.sent or message.created),
        "sentDateTime": iso_z(message.sent or message.created), "hasAttachments": bool(data.get("attachments")),
        "internetMessageId": message.internet_message_id, "subject": data.get("subject", ""),
        "bodyPreview": re.sub(r"<[^>]+>|\s+", " ", content).strip()[:255],
        "importance": data.get("importance", "normal"), "parentFolderId": box.folders[message.folder],
        "conversationId": message.conversation_id, "isDeliveryReceiptRequested": False,
        "isReadReceiptRequested": False, "isRead": True, "isDraft": message.sent is None,
        "webLink": f"https://outlook.office365.com/owa/?ItemID={item_id}&exvsurl=1&viewmodel=ReadMessageItem",
        "inferenceClassification": "focused",
        "body": {"contentType": str(body.get("contentType", "text")).lower(), "content": content},
        "sender": sender, "from": sender,
        "toRecipients": recipients(data.get("toRecipients"), "toRecipients"),
        "ccRecipients": recipients(data.get("ccRecipients"), "ccRecipients"),
        "bccRecipients": recipients(data.get("bccRecipients"), "bccRecipients"),
        "replyTo": recipients(data.get("replyTo"), "replyTo"), "flag": {"flagStatus": "notFlagged"},
        # returned only when $select names it (message resource: "Returned only on applying a $select")
        "internetMessageHeaders": list(data.get("internetMessageHeaders") or []),
    }


def event_json(box: Mailbox, event: Event, zone_name: str | None) -> dict[str, Any]:
    """An event as Graph returns it (user-post-events example response); times in `zone_name` or UTC."""
    data = event.data
    body = data.get("body") or {"contentType": "html", "content": ""}
    content = str(body.get("content", ""))
    location = data.get("location") or {}
    display = str(location.get("displayName", "")) if isinstance(location, dict) else ""
    organizer_is_me = event.organizer.lower() == box.address.lower()
    return {
        "@odata.etag": f'W/"{event.change_key}"', "id": event.id,
        "createdDateTime": event.created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z"),
        "lastModifiedDateTime": event.modified.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z"),
        "changeKey": event.change_key, "categories": list(data.get("categories") or []),
        "transactionId": data.get("transactionId"),
        "originalStartTimeZone": event.start_zone, "originalEndTimeZone": event.end_zone,
        "iCalUId": event.ical_uid, "reminderMinutesBeforeStart": 15, "isReminderOn": True,
        "hasAttachments": False, "subject": data.get("subject", ""),
        "bodyPreview": re.sub(r"<[^>]+>|\s+", " ", content).strip()[:255], "importance": "normal",
        "sensitivity": "normal", "isAllDay": False, "isCancelled": False, "isOrganizer": organizer_is_me,
        "responseRequested": True, "seriesMasterId": None, "showAs": "busy", "type": "singleInstance",
        "webLink": f"https://outlook.office365.com/owa/?itemid={event.id}&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None, "isOnlineMeeting": bool(event.join_url),
        "onlineMeetingProvider": data.get("onlineMeetingProvider", "unknown") if event.join_url else "unknown",
        "responseStatus": {"response": "organizer" if organizer_is_me else "notResponded",
                           "time": "0001-01-01T00:00:00Z"},
        "body": {"contentType": str(body.get("contentType", "html")).lower(), "content": content},
        "start": format_dtz(event.start, zone_name or "UTC"), "end": format_dtz(event.end, zone_name or "UTC"),
        "location": {"displayName": display, "locationType": "default", "uniqueId": display,
                     "uniqueIdType": "private"} if display else {"displayName": "", "locationType": "default",
                                                                  "uniqueIdType": "unknown", "address": {},
                                                                  "coordinates": {}},
        "locations": [{"displayName": display, "locationType": "default", "uniqueIdType": "unknown"}]
        if display else [],
        "recurrence": None,
        "attendees": [{"type": a.get("type", "required"),
                       "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
                       "emailAddress": a.get("emailAddress", {})} for a in data.get("attendees") or []],
        "organizer": {"emailAddress": {"name": event.organizer, "address": event.organizer}},
        "onlineMeeting": {"joinUrl": event.join_url} if event.join_url else None,
    }


def teams_join_url() -> str:
    thread = secrets.token_urlsafe(30)
    return (f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{thread}%40thread.v2/0?context="
            "%7b%22Tid%22%3a%22sandbox%22%7d")


def overlaps(event_start: datetime, event_end: datetime, start: datetime, end: datetime) -> bool:
    """calendarView: events that overlap the window (an event ending exactly at the start is outside)."""
    return event_start < end and event_end > start


def within(sends: list[tuple[datetime, int]], now: datetime, span: timedelta) -> list[tuple[datetime, int]]:
    return [(at, n) for at, n in sends if now - at < span]
