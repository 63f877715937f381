"""Sessions staff book straight in Outlook become `session_booked` / `session_cancelled` (`source = true`).

Read with `calendarView/delta` (v1.0 needs a window: startDateTime/endDateTime), following
`@odata.nextLink` to the `@odata.deltaLink`, whose whole URL is the cursor: an idle poll is one request.

- **The window is frozen in the token** (reference §4, a Microsoft Q&A answer): once a day the reader finishes
  the round it is in, then starts a new full round on a window moved to today.
- **410 Gone / syncStateNotFound** (graph.SyncReset): a new full round. A full round lists what exists, not
  what was deleted meanwhile, so at its end every session the reader knows in the window and did not see is
  looked up (one GET each): gone means cancelled. Bookings carry stable `source_id`s, so the hub's dedupe
  makes a full round harmless: no duplicate.
- **`@removed`** also comes for an event moved out of the window ("Filter the events under @removed for the
  date range that your scenario requires", event-delta): a known session's event is looked up before it is
  called cancelled; one still there is read as it is now (moved, or cancelled).
- **A moved event** is a reschedule: a new session (`ref` = event id @ new start) replacing the old one, so the
  hub re-plans reminders and tells the person, as for a Calendly reschedule.
- **The hub's own events are never echoed**: those the calendar sink made carry its `transactionId`
  (calendar.is_hub_transaction) or are linked to a hub session this reader did not import.
- **Times**: `Prefer: outlook.timezone="UTC"`; Graph writes `{"dateTime": "2026-12-09T08:30:00.0000000",
  "timeZone": "UTC"}` without an offset, so the zone is attached here; a Windows zone name (when the header
  was not honoured) is mapped with tzlocal's CLDR table.

What the reader remembers (plugin state `calendar_known`): per event id, the session's current ref, the
previous one, its start and whether it is gone: ids and times, never a name or an address. It is written
before the hub stores the events a page gave, so after a crash it may be ahead, never behind; every event
emitted from it is one the hub dedupes, so a page read again gives the same events. An erasure (erasure.py)
drops the entries of the person's events, or, for an event kept because others attend it, leaves only
`{"start", "gone", "erased"}`: the reader never reads that event again (until the entry is pruned).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.events import Candidate, Event, EventKind, Session, SessionStatus
from hub.sources import Poller, PollResult
from hub_outlook.calendar import is_hub_transaction
from hub_outlook.graph import SyncReset

if TYPE_CHECKING:
    from hub.context import HubContext
    from hub_outlook.graph import GraphClient
    from hub_outlook.mailbox import Mailbox
    from hub_outlook.settings import Settings

SOURCE = "calendar"
KNOWN = "calendar_known"
PERMISSION = "Calendars.Read"
PREFER = ('outlook.timezone="UTC"', "odata.maxpagesize=50")
BACK = timedelta(days=1)
"""The window starts a day back: a session of this morning moved or cancelled is still seen."""
REFRESH = timedelta(days=1)
"""A window older than this is replaced by one starting today (the token keeps its window forever)."""
FORGET = timedelta(days=30)
"""Sessions whose start is this far before the window are forgotten (nothing about them changes any more)."""
_FRACTION = re.compile(r"(\.\d{1,6})\d*$")


class PayloadError(ValueError):
    """An Outlook event that cannot be read as a session; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class Round:
    """The cursor: the link to GET next, the window the round reads, and whether it is a full round."""

    link: str | None
    start: datetime
    end: datetime
    full: bool
    number: int

    def dump(self) -> str:
        return json.dumps({"link": self.link, "start": self.start.isoformat(), "end": self.end.isoformat(),
                           "full": self.full, "round": self.number})

    @classmethod
    def load(cls, cursor: str | None) -> Round | None:
        if not cursor:
            return None
        try:
            data = json.loads(cursor)
            return cls(data.get("link"), datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["end"]),
                       bool(data["full"]), int(data.get("round", 0)))
        except (ValueError, KeyError, TypeError):
            return None  # a cursor from another version: start over (dedupe makes it harmless)


def graph_time(value: Any, field: str) -> datetime:
    """A dateTimeTimeZone as an aware datetime: Graph gives no offset, the zone is attached here."""
    if not isinstance(value, dict) or not value.get("dateTime"):
        raise PayloadError(field, f"heure manquante ({field})")
    text = _FRACTION.sub(r"\1", str(value["dateTime"]).removesuffix("Z"))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise PayloadError(field, f"heure illisible ({field})") from None
    return moment.replace(tzinfo=zone_of(str(value.get("timeZone") or "UTC"), field))


def zone_of(name: str, field: str) -> ZoneInfo | Any:
    """UTC, an IANA name, or a Windows name ("Romance Standard Time") mapped through CLDR's table."""
    if name in ("UTC", "Coordinated Universal Time", "tzone://Microsoft/Utc"):
        return UTC
    from tzlocal.windows_tz import win_tz  # CLDR's windowsZones, kept current by tzlocal

    try:
        return ZoneInfo(win_tz.get(name, name))
    except (ZoneInfoNotFoundError, ValueError):
        raise PayloadError(field, f"fuseau horaire inconnu ({name})") from None


def graph_stamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(_FRACTION.sub(r"\1", value.removesuffix("Z")))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class CalendarSource:
    """The designated calendar of a branch's mailbox, read as sessions."""

    def __init__(self, hub: HubContext, settings: Settings, mailbox: Mailbox) -> None:
        self.hub, self.settings, self.mailbox = hub, settings, mailbox

    def poller(self) -> Poller:
        return Poller(SOURCE, self.poll, resync_cursor=lambda since: None)

    @property
    def client(self) -> GraphClient:
        return self.mailbox.client()

    # --- one page ----------------------------------------------------------------------------------------------

    def poll(self, cursor: str | None) -> PollResult:
        now = self.hub.now()
        current = Round.load(cursor) or self._fresh(now, 0)
        try:
            page = self._get(current)
        except SyncReset:
            if current.link is None:
                raise
            self.hub.log.warning("outlook delta state expired; full round", extra={"source": SOURCE})
            return PollResult([], self._fresh(now, current.number + 1).dump(), more=True)
        known: dict[str, dict[str, Any]] = dict(self.hub.state_get(KNOWN) or {})
        events: list[Event] = []
        for item in page.get("value") or []:
            if isinstance(item, dict) and item.get("id"):
                events += self._item(item, known, current)
        more = False
        if page.get("@odata.nextLink"):
            current.link, more = str(page["@odata.nextLink"]), True
        else:
            if current.full:
                events += self._vanished(known, current)
            current = Round(str(page.get("@odata.deltaLink") or ""), current.start, current.end, False,
                            current.number)
            if not current.link or now - current.start >= BACK + REFRESH:
                current, more = self._fresh(now, current.number + 1), True
        self.hub.state_put(KNOWN, self._pruned(known, current.start))
        return PollResult(events, current.dump(), more=more)

    def _fresh(self, now: datetime, number: int) -> Round:
        start = (now - BACK).replace(hour=0, minute=0, second=0, microsecond=0)
        return Round(None, start, start + BACK + timedelta(days=self.settings.source_days), True, number)

    def _get(self, current: Round) -> dict[str, Any]:
        if current.link:
            return self.client.request("GET", current.link, prefer=PREFER, permission=PERMISSION) or {}
        calendar = self.settings.source_calendar_id or self.settings.calendar_id
        rest = f"/calendars/{quote(calendar, safe='')}/calendarView/delta" if calendar else "/calendarView/delta"
        params = {"startDateTime": _z(current.start), "endDateTime": _z(current.end)}
        return self.client.request("GET", self.client.mailbox_path(rest), params=params, prefer=PREFER,
                                   permission=PERMISSION) or {}

    # --- one event ---------------------------------------------------------------------------------------------

    def _item(self, item: dict[str, Any], known: dict[str, dict[str, Any]], current: Round) -> list[Event]:
        event_id = str(item["id"])
        entry = known.get(event_id)
        if entry is not None and entry.get("erased"):
            return []  # a person who asked to be forgotten attends it: never read again
        if "@removed" in item:
            if entry is None:
                return []
            found = self.client.request("GET", self.client.mailbox_path(f"/events/{quote(event_id, safe='')}"),
                                        prefer=PREFER, permission=PERMISSION, missing_ok=True)
            if found is None:
                return self._cancelled(event_id, entry, self.hub.now())
            item = found
        if entry is None and self._ours(item):
            return []
        try:
            return self._changed(item, known, current)
        except PayloadError as exc:
            self.hub.report_problem(_problem_ref(item), exc.field, (
                f"{exc} (rendez-vous du {_day(item, self.hub.zone)}) : il n'est pas repris ; corrigez-le dans "
                "Outlook, il sera relu."))
            return []

    def _ours(self, item: dict[str, Any]) -> bool:
        """Made by the hub's calendar sink: its transactionId, or a link to a session of the hub."""
        return is_hub_transaction(item.get("transactionId")) or \
            self.hub.lookup("session", str(item["id"])) is not None

    def _wanted(self, item: dict[str, Any]) -> bool:
        category = (self.settings.source_category or "").strip().casefold()
        if category and category not in {str(c).strip().casefold() for c in item.get("categories") or []}:
            return False
        return item.get("type") != "seriesMaster" and not item.get("isAllDay")

    def _changed(self, item: dict[str, Any], known: dict[str, dict[str, Any]], current: Round) -> list[Event]:
        event_id = str(item["id"])
        entry = known.get(event_id)
        now = self.hub.now()
        if item.get("isCancelled") or not self._wanted(item):
            if entry is None:
                return []
            return self._cancelled(event_id, entry, graph_stamp(item.get("lastModifiedDateTime")) or now)
        start = graph_time(item.get("start"), "start")
        end = graph_time(item.get("end"), "end")
        candidate = self._candidate(item)
        when = _z(start)
        if entry is None:
            entry = {"ref": event_id, "prev": None, "start": when}
        elif entry.get("gone"):  # back in the calendar (a category put back): a new booking, a new key
            revived = int(entry.get("revived", 0)) + 1
            entry = {"ref": f"{event_id}@{when}/{revived}", "prev": None, "start": when, "revived": revived}
        elif entry["start"] != when:
            entry = {"ref": f"{event_id}@{when}", "prev": entry["ref"], "start": when}
        entry["round"] = current.number
        known[event_id] = entry
        self.hub.resolve_problem(_problem_ref(item))
        organizer = (item.get("organizer") or {}).get("emailAddress") or {}
        location = (item.get("location") or {}).get("displayName") or None
        session = Session(ref=entry["ref"], programme=self.settings.source_programme, start=start, end=end,
                          location=location, video_link=((item.get("onlineMeeting") or {}).get("joinUrl") or None),
                          host=organizer.get("name") or None, replaces_ref=entry.get("prev"))
        occurred = graph_stamp(item.get("lastModifiedDateTime" if entry.get("prev") else "createdDateTime")) or now
        return [Event(kind=EventKind.SESSION_BOOKED, occurred_at=occurred, source_id=entry["ref"],
                      candidate=candidate, session=session)]

    def _candidate(self, item: dict[str, Any]) -> Candidate:
        """The first attendee from outside (`outsiders`). An event without one is not a session yet (a problem
        says so)."""
        for address, name in outsiders(item, self.settings):
            first, _, last = ("" if name.casefold() == address.casefold() else name).partition(" ")
            return Candidate(first_name=first or None, last_name=last or None, email=address)
        raise PayloadError("attendees", "aucun participant extérieur : ajoutez l'adresse e-mail de la personne "
                                        "accompagnée comme participant")

    def _cancelled(self, event_id: str, entry: dict[str, Any], when: datetime) -> list[Event]:
        """The session as last known, cancelled (keyed by its ref: read twice, stored once)."""
        entry["gone"] = True
        start = datetime.fromisoformat(str(entry["start"]).replace("Z", "+00:00"))
        session = Session(ref=str(entry["ref"]), start=start, status=SessionStatus.CANCELLED)
        return [Event(kind=EventKind.SESSION_CANCELLED, occurred_at=when, source_id=f"{entry['ref']}#cancelled",
                      session=session)]

    def _vanished(self, known: dict[str, dict[str, Any]], current: Round) -> list[Event]:
        """After a full round: known sessions of the window it did not list were deleted meanwhile (or moved out
        of the window: looked up to tell)."""
        out: list[Event] = []
        for event_id, entry in list(known.items()):
            start = datetime.fromisoformat(str(entry["start"]).replace("Z", "+00:00"))
            if entry.get("gone") or entry.get("round") == current.number or not current.start <= start < current.end:
                continue
            out += self._item({"id": event_id, "@removed": {"reason": "deleted"}}, known, current)
        return out

    @staticmethod
    def _pruned(known: dict[str, dict[str, Any]], window_start: datetime) -> dict[str, dict[str, Any]]:
        limit = window_start - FORGET
        return {k: v for k, v in known.items()
                if datetime.fromisoformat(str(v["start"]).replace("Z", "+00:00")) >= limit}


def outsiders(item: dict[str, Any], settings: Settings) -> list[tuple[str, str]]:
    """(address, name) of the event's attendees from outside: not the mailbox, not the organizer, not a coach,
    not a colleague of the mailbox's domain."""
    mailbox = (settings.mailbox or "").casefold()
    domain = mailbox.rpartition("@")[2]
    organizer = str(((item.get("organizer") or {}).get("emailAddress") or {}).get("address") or "").casefold()
    staff = {mailbox, organizer, *(a.casefold() for a in settings.coach_mailboxes.values())}
    found = []
    for attendee in item.get("attendees") or []:
        email = (attendee.get("emailAddress") or {}) if isinstance(attendee, dict) else {}
        address = str(email.get("address") or "").strip()
        folded = address.casefold()
        if not address or folded in staff or (domain and folded.endswith("@" + domain)):
            continue
        found.append((address, str(email.get("name") or "").strip()))
    return found


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _problem_ref(item: dict[str, Any]) -> str:
    """Names the event by the end of its id (stable when it moves; the subject may hold a name)."""
    return f"rendez-vous Outlook …{str(item.get('id', ''))[-8:]}"


def _day(item: dict[str, Any], zone: ZoneInfo) -> str:
    try:
        return graph_time(item.get("start"), "start").astimezone(zone).strftime("%d/%m/%Y à %H:%M")
    except PayloadError:
        return "date illisible"
