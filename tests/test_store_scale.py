"""The store stays fast and lean as it grows: hot queries walk an index (no full scan, no sort of the backlog)
and the number of open connections is bounded whatever the number of threads. Speed itself is measured by
bench/scale_bench.py, not here."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.store import SqliteStore

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def plan(store: SqliteStore, sql: str, args: dict[str, object] | tuple[object, ...] = ()) -> list[str]:
    return [str(row[3]) for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql, args)]


def traced(store: SqliteStore, call: Callable[[], object], marker: str) -> str:
    """The statement a store method runs, exactly as it runs it (captured through SQLite's trace)."""
    seen: list[str] = []
    store.conn.set_trace_callback(seen.append)
    store._owner = threading.get_ident()  # read through the traced write connection
    try:
        call()
    finally:
        store._owner = None
        store.conn.set_trace_callback(None)
    return next(s for s in seen if marker in s)


def due_sql(store: SqliteStore, lane: bool) -> str:
    return traced(store, lambda: store.due_deliveries(NOW, 10, branch="b" if lane else None,
                                                      plugin="p" if lane else None), "FROM deliveries d")


@pytest.fixture()
def store(tmp_path: Path) -> SqliteStore:
    made = SqliteStore(tmp_path / "hub.db")
    yield made
    made.close()


@pytest.mark.parametrize("lane", [False, True], ids=["all lanes", "one lane"])
def test_due_deliveries_walk_the_open_rows_in_order_without_sorting_the_backlog(store: SqliteStore,
                                                                                 lane: bool) -> None:
    steps = plan(store, due_sql(store, lane))
    assert any("deliveries_lane_open" in s or "deliveries_open" in s for s in steps), steps
    assert any("deliveries_retrying" in s for s in steps), steps  # the earlier-sibling check
    assert not any("TEMP B-TREE" in s for s in steps), steps
    assert not any(s.startswith("SCAN") and "USING" not in s for s in steps), steps


def test_a_cancellation_reads_only_the_session_s_own_reminders(store: SqliteStore) -> None:
    steps = plan(store, "UPDATE schedule SET state='dropped' WHERE session_id=? AND state='waiting'", ("s",))
    assert steps == ["SEARCH schedule USING INDEX schedule_waiting (session_id=?)"], steps


@pytest.mark.parametrize(("name", "sql"), [
    ("status counts", "SELECT branch, plugin, state, COUNT(*) n, MIN(first_failed_at), MIN(updated_at),"
                      " MIN(next_attempt_at) FROM deliveries WHERE state IN ('pending','retrying','dead')"
                      " GROUP BY branch, plugin, state"),
    ("due schedule", "SELECT id FROM schedule WHERE state='waiting' AND due_at<=1 ORDER BY due_at LIMIT 5"),
    ("dedupe", "SELECT 1 FROM events WHERE branch='b' AND source='s' AND source_id='x' AND kind='k'"),
    ("messages sent today", "SELECT COUNT(*) FROM deliveries d JOIN events e ON e.seq = d.event_seq"
                            " WHERE d.branch='b' AND d.kind='message_due' AND d.state='done' AND d.updated_at >= 1"),
    ("resync", "SELECT seq, kind FROM events WHERE branch='b' AND source='s' AND occurred_at >= 1 ORDER BY seq"),
])
def test_hot_queries_search_an_index(store: SqliteStore, name: str, sql: str) -> None:
    steps = plan(store, sql)
    assert steps and all(s.startswith(("SEARCH", "USE TEMP B-TREE FOR GROUP BY")) for s in steps), (name, steps)


@pytest.mark.parametrize("name", ["retry", "failed deliveries", "status"])
def test_commands_on_unfinished_deliveries_read_only_those(store: SqliteStore, name: str) -> None:
    calls: dict[str, tuple[Callable[[], object], str]] = {
        "retry": (lambda: store.retry_deliveries(NOW, branch="b"), "UPDATE deliveries"),
        "failed deliveries": (lambda: store.list_deliveries(states=["dead", "retrying"]), "FROM deliveries d"),
        "status": (lambda: store.open_delivery_health(), "FROM deliveries"),
    }
    call, marker = calls[name]
    steps = plan(store, traced(store, call, marker))
    assert any("deliveries_unfinished" in s for s in steps), steps


def test_statistics_can_be_refreshed_at_any_time(store: SqliteStore) -> None:
    for i in range(20):
        store.link("b", "candidate", f"cnd_{i}", "tool", f"x{i}")
    store.optimize()
    assert store.conn.execute("SELECT COUNT(*) FROM sqlite_stat1").fetchone()[0] > 0


def test_connections_stay_bounded_under_many_threads(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "hub.db", readers=3)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(60):
                with store.transaction():
                    store.link("b", "candidate", f"cnd_{n}_{i}", "tool", f"x{n}-{i}")
                assert store.lookup("b", "candidate", "tool", f"x{n}-{i}") == f"cnd_{n}_{i}"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.open_connections() <= 1 + 3
    assert store.conn.execute("SELECT COUNT(*) FROM links").fetchone()[0] == 16 * 60
    store.close()


def test_a_thread_in_a_transaction_reads_its_own_writes_and_others_do_not(store: SqliteStore) -> None:
    inside = threading.Event()
    release = threading.Event()
    seen_from_outside: list[str | None] = []

    def writer() -> None:
        with store.transaction():
            store.link("b", "candidate", "cnd_1", "tool", "x1")
            assert store.lookup("b", "candidate", "tool", "x1") == "cnd_1"
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=writer)
    thread.start()
    assert inside.wait(5)
    seen_from_outside.append(store.lookup("b", "candidate", "tool", "x1"))
    release.set()
    thread.join()
    assert seen_from_outside == [None]
    assert store.lookup("b", "candidate", "tool", "x1") == "cnd_1"
