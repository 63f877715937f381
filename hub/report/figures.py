"""The key figures per branch and for the network, for a period: pure computation from the store, no rendering.

    report = compute(hub.store, hub.config, date(2026, 1, 1), date(2026, 2, 1), now=hub.clock())
    shared = publishable(report)        # hub.report.publish: small counts hidden, for anything leaving a branch

`compute` gives the raw view (every count, for the branch's own staff); each definition is in
hub.report.definitions and attached to its figure. People are counted by hub id; the report holds counts only.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from hub.events import SessionStatus
from hub.report.definitions import (
    BREAKDOWN_LABELS,
    BREAKDOWN_NOTES,
    CATEGORIES,
    DEFINITIONS,
    LABELS,
    SECTIONS,
    notes,
)
from hub.report.facts import BranchFacts, Horizon, Person, SessionFact, load
from hub.report.groups import AGE_BANDS, REFERRER_GROUPS, SEXES
from hub.report.model import (
    NETWORK,
    Breakdown,
    Cell,
    Figure,
    Kind,
    Part,
    Ref,
    Relation,
    Report,
    Role,
    ScopeFigures,
    Section,
)

if TYPE_CHECKING:
    from hub.config import HubConfig
    from hub.store import Store

__all__ = ["HONOURED_DAYS", "NETWORK_TITLE", "compute", "count_cell", "median_cell", "rate_cell"]

NETWORK_TITLE = "Réseau (toutes les antennes)"
HONOURED_DAYS = (15, 30)
ROLES: dict[Kind, tuple[Role, ...]] = {"count": ("value",), "rate": ("numerator", "denominator"),
                                       "median": ("denominator",)}
"""The counts each kind of figure is made of (a median: how many values)."""
REMINDER_PARTS = {"avec_rappel": "Avec rappel", "sans_rappel": "Sans rappel"}
_GROUP_LABELS = {"referrer": REFERRER_GROUPS, "sex": SEXES, "age_band": AGE_BANDS}


def compute(store: Store, config: HubConfig, start: date, end: date, branch: str | None = None, *,
            now: datetime | None = None) -> Report:
    """The raw figures of [start, end) (local midnights in the hub's time zone), per branch then for the
    network; with `branch`, that branch alone. `now` (default: `end`) bounds what is old enough to count in
    the 15/30-day figures when the period is not over."""
    settings = config.hub.report
    period = _Period.of(start, end, ZoneInfo(config.hub.timezone), now)
    ids = [branch] if branch is not None else sorted(config.branches)
    facts = [load(store, config.branches[b], config.zone(b)) for b in ids]
    self_booking = frozenset(settings.self_booking)
    scopes = [_Scope([f], period, self_booking).figures(f.branch, config.branches[f.branch].name or f.branch)
              for f in facts]
    if branch is None:
        scopes.append(_Scope(facts, period, self_booking).figures(NETWORK, NETWORK_TITLE))
    return Report(start, end, period.as_of, "raw", settings.small_count, tuple(scopes),
                  notes("raw", settings.small_count))


# --- cells ----------------------------------------------------------------------------------------------------

def count_cell(n: int) -> Cell:
    return Cell(n, str(n))


def rate_cell(numerator: int, denominator: int) -> Cell:
    """A percentage with one decimal, French style ("33,3 %"); "—" out of nobody."""
    if not denominator:
        return Cell(None, "—", numerator, denominator)
    value = round(100 * numerator / denominator, 1)
    return Cell(value, f"{value:.1f} %".replace(".", ","), numerator, denominator)


def median_cell(values: Sequence[int]) -> Cell:
    if not values:
        return Cell(None, "—", None, 0)
    value = statistics.median(values)
    value = int(value) if float(value).is_integer() else float(value)
    return Cell(value, f"{value}".replace(".", ","), None, len(values))


# --- the figures of one scope ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Period:
    start: datetime
    end: datetime
    as_of: datetime

    @classmethod
    def of(cls, start: date, end: date, zone: ZoneInfo, now: datetime | None) -> _Period:
        begin, finish = (datetime.combine(d, time(), tzinfo=zone) for d in (start, end))
        return cls(begin, finish, min(finish, now) if now is not None else finish)

    def holds(self, when: datetime | None) -> bool:
        return when is not None and self.start <= when < self.end


_Item = tuple[BranchFacts, str | None]
"""Something counted, with what it takes to find its person's groups: (their branch's facts, person id)."""


class _Scope:
    """The figures of a set of branches (one, or all for the network), and the relations between its counts."""

    def __init__(self, facts: list[BranchFacts], period: _Period, self_booking: frozenset[str]) -> None:
        self.facts = facts
        self.period = period
        self.self_booking = self_booking
        self.dimensions = [d for d, collected in (("sex", any(f.collects_sex for f in facts)),
                                                  ("age_band", any(f.collects_age for f in facts))) if collected]
        self.relations: list[Relation] = []

    def figures(self, scope: str, title: str) -> ScopeFigures:
        registered = [(f, p) for f in self.facts for p in f.people.values() if self.period.holds(p.registered)]
        sections = [self._registrations(registered), self._sessions(), self._journey(registered)]
        horizons = {h.key: h for f in self.facts for h in f.horizons}
        sections += [self._outcomes(h) for h in sorted(horizons.values(), key=lambda h: h.days)]
        return ScopeFigures(scope, title, tuple(sections), tuple(self.relations))

    # --- building blocks

    def _figure(self, key: str, kind: Kind, cell: Cell, breakdowns: Iterable[Breakdown] = (),
                footnote: str | None = None, label: str | None = None) -> Figure:
        base = key.rsplit(".", 1)[-1] if key.startswith("outcomes.") else key
        figure = Figure(key, label or LABELS[base], kind, cell, footnote or DEFINITIONS[base], tuple(breakdowns))
        roles = ROLES[kind]
        for breakdown in figure.breakdowns:  # the parts of a breakdown add up to the figure
            for role in roles:
                self.relations.append(((key, None, None, role),
                                       tuple((key, breakdown.dimension, p.key, role) for p in breakdown.parts)))
        return figure

    def _relate(self, total: Ref, *parts: Ref) -> None:
        self.relations.append((total, parts))

    def _groups(self, items: Sequence[_Item], dimensions: Iterable[str]) -> list[Breakdown]:
        """One breakdown of the items' count per dimension (every group listed, zeros included)."""
        out = []
        for dimension in dimensions:
            counts = Counter(f.group(pid, dimension) for f, pid in items)
            parts = tuple(Part(k, label, count_cell(counts.get(k, 0))) for k, label in _GROUP_LABELS[dimension].items())
            out.append(Breakdown(dimension, BREAKDOWN_LABELS[dimension], BREAKDOWN_NOTES[dimension], parts))
        return out

    # --- sections

    def _registrations(self, registered: list[tuple[BranchFacts, Person]]) -> Section:
        items: list[_Item] = [(f, p.id) for f, p in registered]
        figure = self._figure("registered", "count", count_cell(len(items)),
                              self._groups(items, ["referrer", *self.dimensions]))
        return Section("registrations", SECTIONS["registrations"], (figure,))

    def _sessions(self) -> Section:
        sessions = [(f, s) for f in self.facts for s in f.sessions if self.period.holds(s.start)]

        def having(status: str | None) -> list[tuple[BranchFacts, SessionFact]]:
            known = {SessionStatus.ATTENDED.value, SessionStatus.NO_SHOW.value, SessionStatus.CANCELLED.value}
            return [(f, s) for f, s in sessions if (s.status == status if status else s.status not in known)]

        held, absent = having(SessionStatus.ATTENDED.value), having(SessionStatus.NO_SHOW.value)

        def reminded(pairs: list[tuple[BranchFacts, SessionFact]]) -> dict[str, int]:
            sent = sum(1 for _, s in pairs if s.reminded)
            return {"avec_rappel": sent, "sans_rappel": len(pairs) - sent}

        def by_reminder(cells: dict[str, Cell]) -> Breakdown:
            parts = tuple(Part(key, label, cells[key]) for key, label in REMINDER_PARTS.items())
            return Breakdown("reminder", BREAKDOWN_LABELS["reminder"], BREAKDOWN_NOTES["reminder"], parts)

        held_n, absent_n = reminded(held), reminded(absent)
        held_by = by_reminder({k: count_cell(n) for k, n in held_n.items()})
        absent_by = by_reminder({k: count_cell(n) for k, n in absent_n.items()})
        rate_by = by_reminder({k: rate_cell(absent_n[k], held_n[k] + absent_n[k]) for k in REMINDER_PARTS})
        figures = (
            self._figure("sessions.booked", "count", count_cell(len(sessions))),
            self._figure("sessions.held", "count", count_cell(len(held)),
                         [held_by, *self._groups([(f, s.candidate_id) for f, s in held], self.dimensions)]),
            self._figure("sessions.no_show", "count", count_cell(len(absent)), [absent_by]),
            self._figure("sessions.cancelled", "count", count_cell(len(having(SessionStatus.CANCELLED.value)))),
            self._figure("sessions.unknown", "count", count_cell(len(having(None)))),
            self._figure("sessions.no_show_rate", "rate", rate_cell(len(absent), len(held) + len(absent)), [rate_by]),
        )
        self._relate(("sessions.booked", None, None, "value"), *(
            (k, None, None, "value") for k in ("sessions.held", "sessions.no_show", "sessions.cancelled",
                                                "sessions.unknown")))
        for part in (None, *REMINDER_PARTS):  # the rate is made of the two counts shown above it
            dim = "reminder" if part else None
            self._relate(("sessions.no_show_rate", dim, part, "numerator"), ("sessions.no_show", dim, part, "value"))
            self._relate(("sessions.no_show_rate", dim, part, "denominator"), ("sessions.held", dim, part, "value"),
                         ("sessions.no_show", dim, part, "value"))
        return Section("sessions", SECTIONS["sessions"], figures)

    def _journey(self, registered: list[tuple[BranchFacts, Person]]) -> Section:
        figures = []
        attended = {f.branch: f.first_attended() for f in self.facts}
        for days in HONOURED_DAYS:
            old_enough = [(f, p) for f, p in registered
                          if p.registered is not None and p.registered < self.period.as_of - timedelta(days=days)]
            quick = [(f, p) for f, p in old_enough if p.id in attended[f.branch] and p.registered is not None
                     and (f.local_date(attended[f.branch][p.id]) - f.local_date(p.registered)).days < days]
            figures.append(self._figure(f"journey.honoured_{days}", "rate", rate_cell(len(quick), len(old_enough))))
        booked = [(f, p) for f, p in registered if p.id in f.first_booking]
        alone = [(f, p) for f, p in booked if f.first_booking[p.id] in self.self_booking]
        figures.append(self._figure("journey.self_booked", "rate", rate_cell(len(alone), len(booked))))
        delays = []
        for f in self.facts:
            firsts = f.first_session()
            for g, p in registered:
                if g is f and p.id in firsts and p.registered is not None:
                    delay = (f.local_date(firsts[p.id]) - f.local_date(p.registered)).days
                    if delay >= 0:
                        delays.append(delay)
        figures.append(self._figure("journey.median_days", "median", median_cell(sorted(delays))))
        return Section("journey", SECTIONS["journey"], tuple(figures))

    def _outcomes(self, horizon: Horizon) -> Section:
        due: dict[tuple[str, str], BranchFacts] = {}
        for f in self.facts:
            for key, pid, when in f.due:
                if key == horizon.key and self.period.holds(when):
                    due[(f.branch, pid)] = f
        answered = [(f, pid) for (_, pid), f in due.items() if (pid, horizon.key) in f.outcomes]
        prefix = f"outcomes.{horizon.key}."
        figures = [self._figure(prefix + "due", "count", count_cell(len(due))),
                   self._figure(prefix + "answered", "count", count_cell(len(answered))),
                   self._figure(prefix + "response_rate", "rate", rate_cell(len(answered), len(due)))]
        for category in CATEGORIES:
            items: list[_Item] = [(f, pid) for f, pid in answered if f.outcomes[(pid, horizon.key)] == category]
            figures.append(self._figure(prefix + category, "count", count_cell(len(items)),
                                        self._groups(items, self.dimensions)))
        self._relate((prefix + "answered", None, None, "value"),
                     *((prefix + c, None, None, "value") for c in CATEGORIES))
        self._relate((prefix + "response_rate", None, None, "numerator"), (prefix + "answered", None, None, "value"))
        self._relate((prefix + "response_rate", None, None, "denominator"), (prefix + "due", None, None, "value"))
        title = SECTIONS["outcomes"].format(horizon=horizon.label)
        return Section(f"outcomes.{horizon.key}", title, tuple(figures))
