"""How the store's hot paths grow with its size: delivery drain, ingest, schedule cancellation, `hub status`.

Run: `.venv/bin/python bench/scale_bench.py [--sizes 10000,100000] [--status-size 1000000]` (part of `make bench`).
The history is bulk-filled with plain SQL (a benchmark shortcut: the hub itself writes only through the
store); what is timed goes through the hub's own code. Each figure is a rate or a time at one size, so
"flat" means the rate at 100k is within 20% of the rate at 10k.
"""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hub.app import Hub
from hub.config import load_config
from hub.events import EventKind
from hub.hookspecs import hookimpl
from hub.plugins import PluginRegistry
from hub.status import collect
from hub.testing import FakeClock, make_candidate, make_event, write_config

BRANCH = "bench"
SAMPLE = 5000  # deliveries drained / events ingested for one rate


class NoOp:
    @hookimpl
    def candidate_registered(self, hub, event):  # type: ignore[no-untyped-def]
        return None


@contextmanager
def bench_hub(tmp: Path) -> Iterator[Hub]:
    registry = PluginRegistry()
    registry.add("noop", NoOp())
    write_config(tmp, {BRANCH: {"plugins": ["noop"]}}, {"delivery": {"batch_size": 200}})
    hub = Hub(load_config(tmp, registry.settings_models(), environ={}), registry, clock=FakeClock())
    try:
        yield hub
    finally:
        hub.close()


def fill(db: Path, events: int, state: str, start: int = 0) -> None:
    """`events` registrations with one delivery each to `noop`, in `state`, written straight to the file."""
    body = make_event(EventKind.CANDIDATE_REGISTERED, candidate=make_candidate()).model_dump_json()
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(
            "INSERT INTO events(id, branch, kind, source, source_id, occurred_at, recorded_at, candidate_id,"
            " session_id, body) VALUES (?,?,?,?,?,?,?,?,?,?)",
            ((f"evt_f{i}", BRANCH, "candidate_registered", "fill", f"f{i}", 1.0e9, 1.0e9, f"cnd_f{i}", None, body)
             for i in range(start, start + events)))
        conn.execute(
            "INSERT INTO deliveries(event_seq, branch, plugin, kind, candidate_id, key, state, attempts,"
            " next_attempt_at, updated_at) SELECT seq, branch, 'noop', kind, candidate_id, id || ':noop', ?, 0,"
            " 1.0e9, 1.0e9 FROM events WHERE source='fill' AND seq > (SELECT COALESCE(MAX(event_seq), 0)"
            " FROM deliveries)", (state,))
    conn.close()


def drain_rate(pending: int) -> float:
    with tempfile.TemporaryDirectory() as tmp, bench_hub(Path(tmp)) as hub:
        fill(hub.store.path, pending, "pending")
        hub.store.optimize()
        start, done = time.perf_counter(), 0
        while done < SAMPLE:
            done += hub.dispatcher.run_due()
        return done / (time.perf_counter() - start)


def ingest_rate(existing: int) -> float:
    with tempfile.TemporaryDirectory() as tmp, bench_hub(Path(tmp)) as hub:
        fill(hub.store.path, existing, "done")
        hub.store.optimize()
        made = [make_event(EventKind.CANDIDATE_REGISTERED, candidate=make_candidate(phone=f"06{i:08d}"),
                           source_id=f"new{i}") for i in range(SAMPLE)]
        start = time.perf_counter()
        for i in range(0, SAMPLE, 100):
            hub.ingest(BRANCH, "noop", made[i:i + 100], source="bench", cursor=str(i))
        return SAMPLE / (time.perf_counter() - start)


def cancellation_ms(rows: int, runs: int = 200) -> float:
    """Dropping one session's reminders while `rows` other entries wait in the schedule."""
    with tempfile.TemporaryDirectory() as tmp, bench_hub(Path(tmp)) as hub:
        conn = sqlite3.connect(hub.store.path)
        with conn:
            conn.executemany("INSERT INTO schedule(branch, session_id, kind, offset_text, due_at, state)"
                             " VALUES (?,?,?,?,?,'waiting')",
                             ((BRANCH, f"ses_{i // 3}", "reminder", f"{i % 3}h", 2.0e9 + i) for i in range(rows)))
        conn.close()
        hub.store.optimize()
        start = time.perf_counter()
        for i in range(runs):
            with hub.store.transaction():
                hub.store.unschedule(f"ses_{i * 7}")
        return (time.perf_counter() - start) / runs * 1000


def status_seconds(deliveries: int) -> float:
    """`hub status` (every branch) with `deliveries` done deliveries and 100 dead ones in the history."""
    with tempfile.TemporaryDirectory() as tmp, bench_hub(Path(tmp)) as hub:
        fill(hub.store.path, deliveries, "done")
        fill(hub.store.path, 100, "dead", start=deliveries)
        hub.store.optimize()
        start = time.perf_counter()
        collect(hub)
        return time.perf_counter() - start


def main() -> None:
    logging.disable(logging.WARNING)  # the figures, not the hub's log lines
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000", help="store sizes for the drain and ingest rates")
    parser.add_argument("--schedule-rows", type=int, default=113_000)
    parser.add_argument("--status-size", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    out = {
        "drain_per_s": {n: round(drain_rate(n)) for n in sizes},
        "ingest_per_s": {n: round(ingest_rate(n)) for n in sizes},
        "cancellation_ms": round(cancellation_ms(args.schedule_rows), 3),
        "status_s": round(status_seconds(args.status_size), 3),
    }
    if args.json:
        print(json.dumps(out))
        return
    for n in sizes:
        print(f"drain with {n:,} pending: {out['drain_per_s'][n]:,} deliveries/s")
    for n in sizes:
        print(f"ingest with {n:,} events stored: {out['ingest_per_s'][n]:,} events/s")
    print(f"schedule cancellation at {args.schedule_rows:,} rows: {out['cancellation_ms']} ms each")
    print(f"hub status at {args.status_size:,} deliveries: {out['status_s']} s")


if __name__ == "__main__":
    main()
