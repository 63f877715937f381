"""What the store hands back: frozen rows with named, typed fields, so no caller sees a SQLite type.

Times are POSIX timestamps (float seconds, UTC) as stored; `from_ts` turns one into an aware datetime.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = [
    "DEAD",
    "DONE",
    "OPEN_STATES",
    "PENDING",
    "RETRYING",
    "SKIPPED",
    "DeliveryListing",
    "DeliveryOutcome",
    "DeliveryRow",
    "EventRef",
    "EventRow",
    "LaneHealth",
    "PauseRow",
    "ProblemRow",
    "ScheduleRow",
    "SetupFailureRow",
    "SourceRow",
    "StateHealth",
    "from_ts",
    "person_state_prefix",
    "ts",
]

PENDING, RETRYING, DONE, DEAD, SKIPPED = "pending", "retrying", "done", "dead", "skipped"
OPEN_STATES = (PENDING, RETRYING)


def ts(when: datetime) -> float:
    return when.timestamp()


def from_ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


@dataclass(frozen=True)
class DeliveryRow:
    """A due delivery with its event's body: what the dispatcher needs to call one plugin."""

    id: int
    event_seq: int
    branch: str
    plugin: str
    kind: str
    key: str
    state: str
    attempts: int
    first_failed_at: float | None
    candidate_id: str | None
    body: str


@dataclass(frozen=True)
class DeliveryOutcome:
    """What one attempt decided: the new state, and when to try again (None keeps the planned time)."""

    id: int
    state: str
    attempts: int
    next_attempt_at: float | None = None
    last_error: str | None = None
    first_failed_at: float | None = None


@dataclass(frozen=True)
class DeliveryListing:
    """One delivery as `hub deliveries` shows it."""

    id: int
    branch: str
    plugin: str
    kind: str
    state: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    updated_at: float
    event_id: str


@dataclass(frozen=True)
class StateHealth:
    """How many deliveries of a lane are in one state, and since when the oldest problem."""

    count: int
    since: float | None
    next_at: float | None


LaneHealth = dict[str, StateHealth]
"""State name ('pending', 'retrying', 'dead') -> its health, for one (branch, plugin)."""


@dataclass(frozen=True)
class EventRow:
    seq: int
    id: str
    branch: str
    kind: str
    source: str
    source_id: str
    occurred_at: float
    recorded_at: float
    candidate_id: str | None
    session_id: str | None
    body: str


@dataclass(frozen=True)
class EventRef:
    """An event's place in the log and its kind (enough to route it again)."""

    seq: int
    kind: str


@dataclass(frozen=True)
class SourceRow:
    branch: str
    plugin: str
    name: str
    cursor: str | None
    last_ok_at: float | None
    last_error: str | None
    failing_since: float | None
    updated_at: float


@dataclass(frozen=True)
class ScheduleRow:
    id: int
    branch: str
    session_id: str
    kind: str
    offset_text: str
    due_at: float
    state: str


@dataclass(frozen=True)
class PauseRow:
    branch: str
    plugin: str
    reason: str
    since: float
    fix: str | None


@dataclass(frozen=True)
class ProblemRow:
    branch: str
    plugin: str
    ref: str
    field: str
    message: str
    first_seen: float
    last_seen: float


@dataclass(frozen=True)
class SetupFailureRow:
    """A plugin whose setup (sources, webhooks, checks) raised for a branch, until a retry succeeds."""

    branch: str
    plugin: str
    hook: str
    error: str
    since: float
    attempts: int
    next_try_at: float


@dataclass(frozen=True)
class ErasureRow:
    """One erasure (`hub forget`, or the retention purge): its payload is what the plugins still need, kept
    until every plugin's delivery is done, then dropped."""

    id: str
    branch: str
    candidate_id: str
    reason: str
    requested_at: float
    finished_at: float | None


@dataclass(frozen=True)
class ReceiptRow:
    """One plugin's part of an erasure: its delivery's state and the items it reported."""

    plugin: str
    state: str  # the delivery's: pending, retrying, done, dead
    last_error: str | None
    items: tuple[tuple[str, str], ...]  # (done | manual, what)


@dataclass(frozen=True)
class RecipientRow:
    """What one tool received about a person (or gave the hub): per event kind, how many and when."""

    plugin: str
    kind: str
    role: str  # "sink" (the hub sent it) or "source" (the tool told the hub)
    count: int
    first_at: float
    last_at: float


def person_state_prefix(candidate_id: str) -> str:
    """What a plugin's private-state key tied to a person starts with (`HubContext.person_key`): the erasure of
    that person deletes every such key of every plugin of the branch once the erasure is finished."""
    return f"person:{candidate_id}:"
