"""Group commit: jobs handed over at the same moment share one durable commit, and one failing job is undone
alone."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from hub.store import SqliteStore


@pytest.fixture()
def store(tmp_path: Path) -> SqliteStore:
    made = SqliteStore(tmp_path / "hub.db")
    yield made
    made.close()


def _wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.001)


def test_jobs_waiting_together_share_one_commit(store: SqliteStore) -> None:
    commits: list[str] = []
    store.conn.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    results: dict[int, str] = {}

    def first_job() -> str:  # holds the writer until the 15 others are queued behind it
        _wait_for(lambda: len(store._waiting) == 15)
        store.link("b", "candidate", "cnd_0", "tool", "x0")
        return "cnd_0"

    def run(n: int) -> None:
        if n == 0:
            results[n] = store.batched(first_job)
            return
        _wait_for(lambda: store._owner is not None)  # the first job is running
        results[n] = store.batched(lambda: (store.link("b", "candidate", f"cnd_{n}", "tool", f"x{n}"), f"cnd_{n}")[1])

    threads = [threading.Thread(target=run, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    store.conn.set_trace_callback(None)
    assert results == {n: f"cnd_{n}" for n in range(16)}
    assert len(commits) == 2  # the first job alone, then the fifteen that waited behind it together
    assert [store.lookup("b", "candidate", "tool", f"x{n}") for n in range(16)] == [f"cnd_{n}" for n in range(16)]


def test_a_failing_job_is_undone_alone_and_its_caller_gets_the_error(store: SqliteStore) -> None:
    outcome: dict[str, object] = {}
    gate = threading.Event()

    def holder() -> None:
        store.batched(lambda: gate.wait(10))

    def failing() -> None:
        def job() -> None:
            store.link("b", "candidate", "cnd_bad", "tool", "bad")
            raise ValueError("refused")
        try:
            store.batched(job)
        except ValueError as exc:
            outcome["error"] = str(exc)

    def good() -> None:
        outcome["good"] = store.batched(lambda: store.link("b", "candidate", "cnd_ok", "tool", "ok"))

    first = threading.Thread(target=holder)
    first.start()
    _wait_for(lambda: store._owner is not None)
    others = [threading.Thread(target=failing), threading.Thread(target=good)]
    for t in others:
        t.start()
    _wait_for(lambda: len(store._waiting) == 2)
    gate.set()
    for t in [first, *others]:
        t.join(30)
    assert outcome == {"error": "refused", "good": None}
    assert store.lookup("b", "candidate", "tool", "bad") is None
    assert store.lookup("b", "candidate", "tool", "ok") == "cnd_ok"


def test_a_job_handed_over_inside_a_transaction_joins_it_and_takes_no_one_else_s(store: SqliteStore) -> None:
    """Otherwise another thread's job would be answered "stored" before the outer transaction commits."""
    from hub.store.sqlite import _Job

    other = _Job(lambda: store.link("b", "candidate", "cnd_other", "tool", "other"))
    with store.transaction():
        store._waiting.append(other)  # another thread's job, waiting for the writer
        assert store.batched(lambda: store.link("b", "candidate", "cnd_in", "tool", "in")) is None
        assert not other.done.is_set()
        store._waiting.remove(other)
    assert store.lookup("b", "candidate", "tool", "in") == "cnd_in"
