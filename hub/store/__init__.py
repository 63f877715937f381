"""The hub's durable store: `Store` is the interface the core uses, `SqliteStore` the embedded default.

    store = open_store(config.db_path)
    with store.transaction():
        store.insert_event(...)

The rows it answers with are in `hub.store.rows`; the schema and its migrations in `hub.store.migrations`.
"""

from __future__ import annotations

from pathlib import Path

from hub.store.protocol import Store
from hub.store.rows import (
    DEAD,
    DONE,
    OPEN_STATES,
    PENDING,
    RETRYING,
    SKIPPED,
    DeliveryListing,
    DeliveryOutcome,
    DeliveryRow,
    EventRef,
    EventRow,
    LaneHealth,
    PauseRow,
    ProblemRow,
    ScheduleRow,
    SetupFailureRow,
    SourceRow,
    StateHealth,
    from_ts,
    ts,
)
from hub.store.sqlite import SqliteStore

__all__ = ["DEAD", "DONE", "OPEN_STATES", "PENDING", "RETRYING", "SKIPPED", "DeliveryListing", "DeliveryOutcome",
           "DeliveryRow", "EventRef", "EventRow", "LaneHealth", "PauseRow", "ProblemRow", "ScheduleRow",
           "SetupFailureRow", "SourceRow", "SqliteStore", "StateHealth", "Store", "from_ts", "open_store", "ts"]


def open_store(path: Path | str, *, durable: bool = True) -> Store:
    """The embedded SQLite store at `path` (created 0600, migrated to the current schema)."""
    return SqliteStore(path, durable=durable)
