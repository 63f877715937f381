"""What the key figures are computed from, read once per branch: people (by group), the sessions as they stand
(a moved session once, at its latest version), each person's first booking, the follow-ups that fell due, and
the outcome retained for each person and follow-up horizon.

The outcome rules (docs/report.md, hub.report.definitions): an outcome that names its horizon (the person's
own answer on the follow-up page) counts at that horizon; a staff entry without one counts at the horizon
nearest to its observation date, horizons measured from the person's first attended session (a tie goes to
the shorter horizon; without an attended session it counts at none). For one person and one horizon, a staff
entry wins over the person's own answer, and among entries of the same origin the latest observed wins (then
the latest stored). Attendance (present, absent, absence withdrawn) is not an outcome. An outcome corrected
under the same id counts in its latest version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from hub.durations import Offset, parse_offset
from hub.events import ATTENDANCE, BY_CANDIDATE, EventKind, OutcomeCategory, SessionStatus
from hub.report.groups import AGE_BANDS, UNKNOWN, age_band, referrer_group, sex_group

if TYPE_CHECKING:
    from hub.config import BranchConfig
    from hub.store import Store
    from hub.store.reports import ReportEvent, ReportPerson

__all__ = ["BranchFacts", "Horizon", "Person", "SessionFact", "horizon_of", "load"]

_OUTCOMES = frozenset(c.value for c in OutcomeCategory if c not in ATTENDANCE)
_DAY = 86400.0
_MONTH_DAYS = 30.44  # only to order horizons written in months and in days against each other


@dataclass(frozen=True)
class Horizon:
    """A follow-up horizon, keyed the same however it was written ('3 months', '3 mois')."""

    key: str  # "3_mois", "90_jours"
    label: str  # "à 3 mois"
    offset: Offset

    @property
    def days(self) -> float:
        return self.offset.months * _MONTH_DAYS + self.offset.seconds / _DAY


def horizon_of(text: str | None) -> Horizon | None:
    try:
        offset = parse_offset(str(text))
    except ValueError:
        return None
    if offset.months and not offset.seconds:
        return Horizon(f"{offset.months}_mois", f"à {offset.months} mois", offset)
    days = round(offset.seconds / _DAY, 2)
    shown = f"{days:g}".replace(".", ",")
    return Horizon(f"{shown.replace(',', '_')}_jours", f"à {shown} jour{'s' if days > 1 else ''}", offset)


@dataclass(frozen=True)
class Person:
    id: str
    registered: datetime | None
    referrer: str
    sex: str
    age: str


@dataclass(frozen=True)
class SessionFact:
    """A session at its latest version: `reminded` when a reminder of it (or of an earlier version) went."""

    id: str
    candidate_id: str | None
    start: datetime
    status: str
    reminded: bool


@dataclass
class BranchFacts:
    branch: str
    zone: ZoneInfo
    horizons: list[Horizon]
    people: dict[str, Person] = field(default_factory=dict)
    sessions: list[SessionFact] = field(default_factory=list)
    first_booking: dict[str, str] = field(default_factory=dict)  # person -> source of their first booking
    due: list[tuple[str, str, datetime]] = field(default_factory=list)  # (horizon key, person, when it fired)
    outcomes: dict[tuple[str, str], str] = field(default_factory=dict)  # (person, horizon key) -> category
    collects_sex: bool = False
    collects_age: bool = False

    def local_date(self, when: datetime) -> date:
        return when.astimezone(self.zone).date()

    def group(self, person_id: str | None, dimension: str) -> str:
        """The person's group in `dimension` (referrer, sex, age_band); UNKNOWN for someone not registered."""
        person = self.people.get(person_id or "")
        if person is None:
            return UNKNOWN
        return {"referrer": person.referrer, "sex": person.sex, "age_band": person.age}[dimension]

    def first_attended(self) -> dict[str, datetime]:
        """Each person's first attended session (its start)."""
        return _first(s for s in self.sessions if s.status == SessionStatus.ATTENDED.value)

    def first_session(self) -> dict[str, datetime]:
        """Each person's first session not cancelled (attended, missed, or still to come)."""
        return _first(s for s in self.sessions if s.status != SessionStatus.CANCELLED.value)


def _first(sessions: Iterable[SessionFact]) -> dict[str, datetime]:
    out: dict[str, datetime] = {}
    for s in sessions:
        if s.candidate_id and (s.candidate_id not in out or s.start < out[s.candidate_id]):
            out[s.candidate_id] = s.start
    return out


def load(store: Store, branch: BranchConfig, zone: ZoneInfo) -> BranchFacts:
    horizons = [h for h in (horizon_of(t) for t in branch.schedule.followups) if h is not None]
    facts = BranchFacts(branch.id, zone, sorted({h.key: h for h in horizons}.values(), key=lambda h: h.days))
    kinds = [EventKind.CANDIDATE_REGISTERED, EventKind.SESSION_BOOKED, EventKind.FOLLOWUP_DUE,
             EventKind.OUTCOME_RECORDED]
    events = store.report_events(branch.id, [k.value for k in kinds])
    first_registration: dict[str, float] = {}
    for event in events:
        cid = event.candidate_id
        if cid and event.kind == EventKind.CANDIDATE_REGISTERED.value:
            first_registration[cid] = min(first_registration.get(cid, event.occurred_at), event.occurred_at)
        elif cid and event.kind == EventKind.SESSION_BOOKED.value:
            facts.first_booking.setdefault(cid, event.source)  # events come oldest first
    _people(facts, store.report_people(branch.id), first_registration)
    _sessions(facts, store)
    by_key = {h.key: h for h in facts.horizons}
    for event in events:
        if event.kind == EventKind.FOLLOWUP_DUE.value and event.candidate_id:
            horizon = horizon_of(event.horizon)
            if horizon is not None and horizon.key in by_key:
                facts.due.append((horizon.key, event.candidate_id, _at(event.occurred_at)))
    _outcomes(facts, [e for e in events if e.kind == EventKind.OUTCOME_RECORDED.value])
    return facts


def _people(facts: BranchFacts, rows: list[ReportPerson], first_registration: dict[str, float]) -> None:
    """Only people with a registration count; the date is the record's, or (erased: the record keeps no date)
    the first registration event's."""
    for row in rows:
        if row.id not in first_registration:
            continue
        registered = _parse(row.registered_at) if not row.erased else None
        registered = registered or _at(first_registration[row.id])
        year = registered.astimezone(facts.zone).year
        band = age_band(row.birth_year, year) if row.birth_year is not None else \
            (row.age_band if row.age_band in AGE_BANDS else UNKNOWN)  # an erased record keeps its band
        person = Person(row.id, registered, referrer_group(row.referrer_kind, row.referrer_structure),
                        sex_group(row.sex), band)
        facts.people[row.id] = person
        facts.collects_sex = facts.collects_sex or person.sex != UNKNOWN
        facts.collects_age = facts.collects_age or person.age != UNKNOWN


def _sessions(facts: BranchFacts, store: Store) -> None:
    rows = store.report_sessions(facts.branch)
    by_id = {r.id: r for r in rows}
    replaced = {r.replaces for r in rows if r.replaces}
    for row in rows:
        if row.id in replaced:
            continue
        start = _parse(row.start)
        if start is None:
            continue
        reminded, seen, at = row.reminded, {row.id}, row
        while at.replaces and at.replaces in by_id and at.replaces not in seen:  # back along the moves
            at = by_id[at.replaces]
            seen.add(at.id)
            reminded = reminded or at.reminded
        facts.sessions.append(SessionFact(row.id, row.candidate_id, start, row.status, reminded))


def _outcomes(facts: BranchFacts, events: list[ReportEvent]) -> None:
    latest: dict[str, ReportEvent] = {}  # an outcome corrected under the same id: its latest version
    for event in events:
        latest[event.outcome_id or f"event:{event.seq}"] = event
    anchors = facts.first_attended()
    by_key = {h.key: h for h in facts.horizons}
    best: dict[tuple[str, str], tuple[int, datetime, int, str]] = {}
    for event in latest.values():
        cid, category = event.candidate_id, event.category
        if not cid or category not in _OUTCOMES:
            continue
        observed = _parse(event.observed_at) or _at(event.occurred_at)
        staff = event.recorded_by != BY_CANDIDATE
        if event.horizon:
            horizon = horizon_of(event.horizon)
            key = horizon.key if horizon is not None and horizon.key in by_key else None
        else:
            key = _nearest(facts.horizons, anchors.get(cid), observed) if staff else None
        if key is None:
            continue
        rank = (1 if staff else 0, observed, event.seq, category)
        if (cid, key) not in best or rank > best[(cid, key)]:
            best[(cid, key)] = rank
    facts.outcomes = {k: v[3] for k, v in best.items()}


def _nearest(horizons: list[Horizon], anchor: datetime | None, observed: datetime) -> str | None:
    """The horizon whose date (the anchor + the horizon) is nearest to `observed`; a tie goes to the shorter."""
    if anchor is None or not horizons:
        return None
    return min(horizons, key=lambda h: abs((observed - h.offset.after(anchor)).total_seconds())).key


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None
