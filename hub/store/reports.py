"""The store's part of the key figures (hub.report): what happened in a branch, by id and date only.

Three reads per branch, each one pass over the branch's rows: the people (their groups, never a name or a
contact), the sessions (with whether a reminder went), and the events the figures count. A mixin of
SqliteStore; it only reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ReportEvent", "ReportPerson", "ReportRows", "ReportSession"]


@dataclass(frozen=True)
class ReportPerson:
    """What the report needs of one person's record (an erased record keeps only these, minus the year of
    birth, replaced by the age band)."""

    id: str
    registered_at: str | None  # ISO; the record's first registration date
    sex: str | None
    birth_year: int | None
    age_band: str | None  # kept by an erasure instead of the year of birth
    referrer_kind: str | None
    referrer_structure: str | None
    erased: bool


@dataclass(frozen=True)
class ReportSession:
    id: str
    candidate_id: str | None
    status: str
    start: str  # ISO
    replaces: str | None
    reminded: bool  # a `reminder` message about this session was delivered (its delivery is done)


@dataclass(frozen=True)
class ReportEvent:
    """An event the figures count, with the few payload fields they read (None where the kind has none)."""

    seq: int
    kind: str
    source: str
    occurred_at: float
    candidate_id: str | None
    session_id: str | None
    category: str | None  # outcome_recorded: the outcome's category
    horizon: str | None  # outcome_recorded: the follow-up it answers; followup_due: its offset
    observed_at: str | None  # outcome_recorded: when the outcome was observed (ISO)
    recorded_by: str | None
    outcome_id: str | None


class ReportRows:
    _read: Callable[..., Any]

    def report_people(self, branch: str) -> list[ReportPerson]:
        """Every person of the branch (erased ones included: their record keeps their groups)."""
        rows = self._read(
            "SELECT c.id, json_extract(c.body, '$.registered_at'), json_extract(c.body, '$.sex'),"
            " json_extract(c.body, '$.birth_year'), json_extract(c.body, '$.extra.age_band'),"
            " json_extract(c.body, '$.referrer.kind'), json_extract(c.body, '$.referrer.structure'),"
            " EXISTS (SELECT 1 FROM erasures e WHERE e.candidate_id = c.id)"
            " FROM candidates c WHERE c.branch=? ORDER BY c.created_at, c.id", (branch,)).fetchall()
        return [ReportPerson(str(r[0]), _text(r[1]), _text(r[2]), int(r[3]) if isinstance(r[3], int) else None,
                             _text(r[4]), _text(r[5]), _text(r[6]), bool(r[7])) for r in rows]

    def report_sessions(self, branch: str) -> list[ReportSession]:
        """Every session of the branch, each version of a moved one included, in the order they were stored."""
        rows = self._read(
            "WITH reminded AS (SELECT DISTINCT m.session_id AS id FROM events m JOIN deliveries d"
            "  ON d.event_seq = m.seq WHERE m.branch=:b AND m.kind='message_due' AND m.session_id IS NOT NULL"
            "  AND json_extract(m.body, '$.message.purpose')='reminder' AND d.state='done')"
            " SELECT s.id, s.candidate_id, s.status, json_extract(s.body, '$.start'),"
            " json_extract(s.body, '$.replaces'), s.id IN (SELECT id FROM reminded)"
            " FROM sessions s WHERE s.branch=:b ORDER BY s.rowid", {"b": branch}).fetchall()
        return [ReportSession(str(r[0]), _text(r[1]), str(r[2]), str(r[3]), _text(r[4]), bool(r[5]))
                for r in rows]

    def report_events(self, branch: str, kinds: Sequence[str]) -> list[ReportEvent]:
        """The branch's events of these kinds, oldest first, with the payload fields the figures read."""
        if not kinds:
            return []
        marks = ",".join("?" * len(kinds))
        rows = self._read(
            "SELECT seq, kind, source, occurred_at, candidate_id, session_id,"
            " json_extract(body, '$.outcome.category'),"
            " COALESCE(json_extract(body, '$.outcome.horizon'), json_extract(body, '$.due.offset')),"
            " json_extract(body, '$.outcome.observed_at'), json_extract(body, '$.outcome.recorded_by'),"
            f" json_extract(body, '$.outcome.id') FROM events WHERE branch=? AND kind IN ({marks}) ORDER BY seq",
            (branch, *kinds)).fetchall()
        return [ReportEvent(int(r[0]), str(r[1]), str(r[2]), float(r[3]), _text(r[4]), _text(r[5]), _text(r[6]),
                            _text(r[7]), _text(r[8]), _text(r[9]), _text(r[10])) for r in rows]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
