"""The store as the rest of the core sees it: a protocol, so the SQLite store can be replaced (a single
writer for the performance work, PostgreSQL later) without touching its callers.

Every method answers with builtin types or the frozen rows of `hub.store.rows`; no caller sees a SQLite type.
"Atomic" methods open their own transaction (or join the caller's); "joins" methods write inside the caller's
`transaction()`. Reads never open one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from hub.store.reports import ReportEvent, ReportPerson, ReportSession
from hub.store.rows import (
    DeliveryListing,
    DeliveryOutcome,
    DeliveryRow,
    ErasureRow,
    EventRef,
    EventRow,
    LaneHealth,
    PauseRow,
    ProblemRow,
    ReceiptRow,
    RecipientRow,
    ScheduleRow,
    SetupFailureRow,
    SourceRow,
)

__all__ = ["Store"]
T = TypeVar("T")


class Store(Protocol):
    """Event log, outbox, cursors, identity links, the current picture of people and sessions, schedule,
    pauses, alerts, input problems, setup failures and plugins' private state."""

    path: Path

    def transaction(self) -> AbstractContextManager[None]:
        """BEGIN IMMEDIATE ... COMMIT; nested calls join the outer transaction."""
        ...

    def batched(self, job: Callable[[], T]) -> T:
        """Atomic, group-committed: run `job` in one transaction shared with the jobs other threads hand over
        at the same moment; return its result (or raise its exception) once that transaction is durable."""
        ...

    def close(self) -> None:
        ...

    def open_connections(self) -> int:
        """How many database connections the store holds open (bounded, whatever the number of threads)."""
        ...

    def optimize(self) -> None:
        """Refresh the query planner's statistics (cheap at any size; at start and once a day)."""
        ...

    @property
    def schema_version(self) -> int:
        ...

    def event_exists(self, branch: str, source: str, source_id: str, kind: str) -> bool:
        ...

    def insert_event(self, *, event_id: str, branch: str, kind: str, source: str, source_id: str,
                     occurred_at: datetime, candidate_id: str | None, session_id: str | None, body: str,
                     sinks: Sequence[str], now: datetime, not_before: datetime | None = None,
                     skipped: str | None = None) -> int | None:
        """Joins. Store an event and one pending delivery per sink, due at `not_before` (default now), or, with
        `skipped` (the reason), recorded as skipped; None when it was already stored (dedupe)."""
        ...

    def add_delivery(self, event_seq: int, plugin: str, now: datetime) -> bool:
        """Joins. Add a delivery for a plugin enabled after the event was stored (resync --force)."""
        ...

    def due_deliveries(self, now: datetime, limit: int, *, branch: str | None = None,
                       plugin: str | None = None) -> list[DeliveryRow]:
        """Open deliveries whose time has come, oldest first, skipping paused plugins.

        A candidate's deliveries to one plugin keep event order (a cancellation never overtakes its booking):
        a delivery waits while an earlier one for the same candidate and plugin is waiting for a retry. Due
        siblings come in order in the same batch; the dispatcher stops at the first that fails.
        """
        ...

    def finish_deliveries(self, outcomes: Sequence[DeliveryOutcome], now: datetime) -> None:
        """Joins. Record what the attempts decided."""
        ...

    def retry_deliveries(self, now: datetime, *, branch: str | None = None, plugin: str | None = None,
                         ids: Sequence[int] = (), include_retrying: bool = True) -> int:
        """Atomic. Put dead (and retrying) deliveries back to pending, due now; how many."""
        ...

    def dead_letter_unrouted(self, lanes: Sequence[tuple[str, str]], now: datetime) -> int:
        """Atomic. Open deliveries to a plugin no longer enabled in their branch can never run: mark them dead."""
        ...

    def redeliver(self, event_seq: int, plugin: str, now: datetime) -> None:
        """Joins. resync --force: deliver again an event already delivered (a new attempt under the same key)."""
        ...

    def open_delivery_health(self, branch: str | None = None) -> dict[tuple[str, str], LaneHealth]:
        """Per (branch, plugin) and state among pending/retrying/dead: how many, and since when the oldest
        problem (first failure of a retrying one, last update of a dead one). Reads only open and dead rows."""
        ...

    def delivery_counts(self) -> dict[tuple[str, str], dict[str, int]]:
        """Per (branch, plugin): how many deliveries in each state, ever."""
        ...

    def list_deliveries(self, *, states: Sequence[str] = (), branch: str | None = None,
                        plugin: str | None = None, limit: int = 100) -> list[DeliveryListing]:
        """Newest first."""
        ...

    def list_events(self, *, branch: str | None = None, kind: str | None = None,
                    limit: int = 100) -> list[EventRow]:
        """Newest first."""
        ...

    def events_since(self, branch: str, source: str, since: datetime | None) -> list[EventRef]:
        """The events a source gave since a time (all when None), oldest first."""
        ...

    def cursor(self, branch: str, plugin: str, source: str) -> str | None:
        ...

    def save_cursor(self, branch: str, plugin: str, source: str, cursor: str | None, now: datetime) -> None:
        """Joins (with the events of the same page). A successful read also clears the source's error."""
        ...

    def source_failed(self, branch: str, plugin: str, source: str, error: str, now: datetime) -> None:
        """Atomic. Remember the error; `failing_since` keeps the first failure of a run of them."""
        ...

    def list_sources(self, branch: str | None = None) -> list[SourceRow]:
        ...

    def link(self, branch: str, entity: str, hub_id: str, tool: str, external_id: str) -> None:
        """Joins."""
        ...

    def lookup(self, branch: str, entity: str, tool: str, external_id: str) -> str | None:
        ...

    def external_ids(self, branch: str, entity: str, hub_id: str, tool: str) -> list[str]:
        ...

    def get_entity(self, table: str, hub_id: str) -> dict[str, Any] | None:
        ...

    def entity_branch(self, table: str, hub_id: str) -> str | None:
        ...

    def save_candidate(self, branch: str, hub_id: str, body: dict[str, Any], email_key: str | None,
                       phone_key: str | None, now: datetime) -> None:
        """Joins. Insert or replace the hub's picture of a person, with its matching keys."""
        ...

    def find_candidate(self, branch: str, *, email_key: str | None, phone_key: str | None) -> str | None:
        ...

    def save_session(self, branch: str, hub_id: str, candidate_id: str | None, status: str,
                     body: dict[str, Any], now: datetime) -> None:
        """Joins. Insert or replace the hub's picture of a session."""
        ...

    def set_session_status(self, hub_id: str, status: str, now: datetime) -> None:
        """Joins."""
        ...

    def sent_count(self, branch: str, since: datetime, *, plugin: str | None = None,
                   candidate_id: str | None = None, source_suffixes: Sequence[str] = ()) -> int:
        """Messages delivered (message_due deliveries done) since a time, for a branch, optionally one channel,
        one person, or purposes (the message events' source ids end with ':<purpose>')."""
        ...

    def last_sent_at(self, branch: str, candidate_id: str, source_suffixes: Sequence[str]) -> float | None:
        """When a message of one of these purposes last went to this person."""
        ...

    def has_session(self, candidate_id: str) -> bool:
        """Whether a person has booked anything (any session, whatever became of it)."""
        ...

    def waiting_for_booking(self, branch: str, registered_before: datetime) -> list[str]:
        """People of a branch registered before a time who have booked nothing since (they need a call)."""
        ...

    def count(self, table: str, branch: str | None = None) -> int:
        ...

    def schedule(self, branch: str, session_id: str, kind: str, offset: str, due_at: datetime) -> None:
        """Joins. Plan a reminder or follow-up (once per session, kind and offset)."""
        ...

    def unschedule(self, session_id: str) -> int:
        """Joins. Drop what was planned for a session; how many."""
        ...

    def due_schedule(self, now: datetime, limit: int = 500) -> list[ScheduleRow]:
        ...

    def mark_schedule(self, row_id: int, state: str) -> None:
        """Joins."""
        ...

    def list_schedule(self, *, session_id: str | None = None, state: str | None = None) -> list[ScheduleRow]:
        ...

    def pause(self, branch: str, plugin: str, reason: str, now: datetime, fix: str | None = None) -> bool:
        """Atomic. Pause a plugin for a branch; True when it was not paused before (a new problem)."""
        ...

    def resume(self, branch: str, plugin: str) -> bool:
        """Atomic. End a pause; True when there was one."""
        ...

    def pauses(self) -> dict[tuple[str, str], str]:
        """(branch, plugin) -> reason of every pause."""
        ...

    def pause_details(self) -> dict[tuple[str, str], PauseRow]:
        """Every pause: its reason, since when, and the command that fixes it (or None)."""
        ...

    def claim_alert(self, branch: str, key: str, now: datetime, period: float) -> bool:
        """Atomic. True (and remembered) when no alert for this problem was sent in the last `period` seconds."""
        ...

    def report_problem(self, branch: str, plugin: str, ref: str, field: str, message: str, now: datetime) -> None:
        """Atomic."""
        ...

    def resolve_problem(self, branch: str, plugin: str, ref: str) -> None:
        """Atomic."""
        ...

    def list_problems(self, branch: str | None = None) -> list[ProblemRow]:
        ...

    def kv_get(self, branch: str, plugin: str, key: str) -> Any:
        ...

    def kv_count(self, branch: str, plugin: str, prefix: str) -> int:
        """How many keys of a plugin's private state start with `prefix`."""
        ...

    def kv_put(self, branch: str, plugin: str, key: str, value: Any) -> None:
        """Atomic (a delivery's context buffers these and writes them with the delivery's outcome)."""
        ...

    def kv_delete(self, branch: str, plugin: str, key: str) -> None:
        """Atomic."""
        ...

    def setup_failed(self, branch: str, plugin: str, hook: str, error: str, now: datetime,
                     next_try_at: datetime) -> None:
        """Atomic. Count one more failed setup attempt of a plugin in a branch."""
        ...

    def setup_succeeded(self, branch: str, plugin: str) -> bool:
        """Atomic. Forget a plugin's setup failure; True when there was one."""
        ...

    def setup_failures(self, branch: str | None = None) -> list[SetupFailureRow]:
        ...

    # --- privacy (hub.store.privacy) ---------------------------------------------------------------------------

    def recipients(self, branch: str, candidate_id: str) -> list[RecipientRow]:
        """Every tool that received something about the person, and every tool that told the hub about them."""
        ...

    def sessions_of(self, branch: str, candidate_id: str) -> list[dict[str, Any]]:
        ...

    def candidate_events(self, branch: str, candidate_id: str) -> list[tuple[int, str, str, float, str]]:
        """(seq, kind, source, occurred_at, body) of every event about the person, oldest first."""
        ...

    def delivery_states(self, branch: str, candidate_id: str) -> dict[int, list[tuple[str, str, float]]]:
        """event seq -> [(plugin, state, updated_at)] for the person's deliveries."""
        ...

    def last_contacts(self, branch: str) -> dict[str, float]:
        """Each person of the branch not yet erased -> the time of their last contact."""
        ...

    def add_erasure(self, erasure_id: str, branch: str, candidate_id: str, reason: str, payload: dict[str, Any],
                    now: datetime) -> None:
        """Joins."""
        ...

    def erasure_payload(self, erasure_id: str) -> dict[str, Any] | None:
        ...

    def list_erasures(self, branch: str | None = None, *, open_only: bool = False) -> list[ErasureRow]:
        ...

    def erasure_of(self, candidate_id: str) -> ErasureRow | None:
        ...

    def receipts(self, erasure_id: str) -> list[ReceiptRow]:
        """Each plugin's delivery of the erasure, with the items it reported."""
        ...

    def add_erasure_receipt(self, delivery_key: str, plugin: str, status: str, item: str, now: datetime) -> None:
        """Joins (a delivery's outcome)."""
        ...

    def finish_erasure(self, erasure_id: str, branch: str, candidate_id: str, now: datetime) -> None:
        """Joins. Every plugin is done: the payload, the person's identity links and every plugin's private
        state tied to them (keys starting with `person_state_prefix`) go."""
        ...

    def minimise_events(self) -> int:
        """Atomic. Rewrite event bodies an earlier version stored with a copy of the person: ids only (a
        message still to be delivered keeps its text); how many were rewritten."""
        ...

    def checkpoint(self) -> bool:
        """Copy the write-ahead log into the database and empty it (after an erasure)."""
        ...

    def records_due(self, operational_before: datetime, receipts_before: datetime) -> dict[str, int]:
        """How many of the hub's own records `purge_records` would remove now, per kind (staff_alerts, problems,
        alert_claims, delivery_errors, receipts)."""
        ...

    def purge_records(self, operational_before: datetime, receipts_before: datetime) -> dict[str, int]:
        """Atomic per kind. Remove the hub's own records older than the limits (staff alert mails and their
        deliveries, problems not reported since, alert claims, finished deliveries' error texts; the receipts of
        erasures finished before `receipts_before`); never a person's events nor anything still to deliver.
        How many went, per kind."""
        ...

    def backup_to(self, path: Path) -> None:
        """A consistent copy of the whole database in the new file `path` (0600), made while writers go on;
        FileExistsError when `path` exists."""
        ...

    def integrity_problems(self) -> list[str]:
        """What the database's own integrity check finds wrong in its file; empty when it is sound."""
        ...

    def meta_get(self, key: str) -> str | None:
        ...

    def meta_put(self, key: str, value: str) -> None:
        """Atomic."""
        ...

    def set_optout(self, branch: str, candidate_id: str, medium: str, source: str, now: datetime) -> bool:
        """Atomic. The person wants no more non-essential messages by `medium`; False when already so."""
        ...

    def set_contact_preference(self, branch: str, candidate_id: str, medium: str, opted_out: bool, source: str,
                               at: datetime) -> bool:
        """Atomic. The person opted out of (or back in to) messages by `medium` at `at`; kept only when no later
        fact is known (the latest per person and medium wins, whatever order they arrive in). True when kept."""
        ...

    def optout_of(self, branch: str, candidate_id: str, medium: str) -> tuple[str, float] | None:
        """(source, when) of the person's opt-out for `medium`, if it is their latest choice for it."""
        ...

    def optout_count(self, branch: str) -> int:
        ...

    def add_tombstone(self, branch: str, kind: str, digest: str, now: datetime, erasure_id: str | None = None) -> None:
        """Joins. A digest tombstoned again keeps the later erasure: a tombstone blocks what happened before it."""
        ...

    def tombstoned(self, branch: str, kind: str, digests: Sequence[str]) -> bool:
        ...

    def tombstones_for(self, branch: str, digests: Sequence[tuple[str, str]]
                       ) -> list[tuple[str, str, float, str | None]]:
        """(kind, digest, created_at, erasure id) of the branch's tombstones among `digests` ((kind, digest))."""
        ...

    def erasure_tombstones(self, branch: str, erasure_ids: Sequence[str]) -> list[tuple[str, str]]:
        """(kind, digest) of the branch's tombstones left by these erasures (a person's e-mail and phone)."""
        ...

    def lift_tombstones(self, branch: str, digests: Sequence[tuple[str, str]]) -> int:
        """Joins. The branch's tombstones among `digests` ((kind, digest)) go; how many went."""
        ...

    def erased_refs(self, branch: str, refs: Sequence[str]) -> bool:
        """Whether a tool's id in `refs` still names (its erasure not finished) an erased person or their session."""
        ...

    def add_erasure_return(self, erasure_id: str, branch: str, kind: str, source_id: str,
                           occurred_at: datetime) -> None:
        """Joins. The person of erasure `erasure_id` came back through the event (`kind`, `source_id`)."""
        ...

    def erasure_returns(self, branch: str | None = None) -> dict[str, tuple[float, str | None]]:
        """Erasure id -> (when its person came back, the hub id of their new record, None until it is stored)."""
        ...

    def settle_erasure_returns(self) -> list[tuple[str, str, str]]:
        """Joins. Each return not yet settled gets its new hub id; (erasure id, branch, hub id) of those settled."""
        ...

    def erase_in_hub(self, branch: str, candidate_id: str, kept: dict[str, Any], scrub: Callable[[str], str],
                     now: datetime) -> None:
        """Joins. The person's record keeps `kept`; every event about them is rewritten by `scrub`."""
        ...

    # --- the key figures (hub.store.reports) ------------------------------------------------------------------

    def report_people(self, branch: str) -> list[ReportPerson]:
        """Every person of the branch (erased ones included: their record keeps their groups)."""
        ...

    def report_sessions(self, branch: str) -> list[ReportSession]:
        """Every session of the branch, each version of a moved one included, in the order they were stored."""
        ...

    def report_events(self, branch: str, kinds: Sequence[str]) -> list[ReportEvent]:
        """The branch's events of these kinds, oldest first, with the payload fields the figures read."""
        ...
