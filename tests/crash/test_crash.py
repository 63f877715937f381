"""Crash test: a daemon killed with SIGKILL at 10 random moments while 300 events flow through it.

Afterwards every event is delivered to every sink, and no effect happened twice: the hub re-delivers
what it was doing when killed (at-least-once) under the same idempotency key, so the sinks' effects are
effectively once. The kill moments come from a seeded generator, so a failure can be replayed.
"""

from __future__ import annotations

import os
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.events import EventKind
from hub.testing import make_candidate, make_event, make_session, write_config
from tests.crash.harness import ROOT, kill_repeatedly, run_until

EVENTS, KILLS, SEED = 300, 10, 20261122
SINKS = ("sink_a", "sink_b")


def write_feed(path: Path) -> None:
    """300 events: 60 people, each registered, booked, then cancelled or attending, then an outcome."""
    now = datetime.now(UTC)
    lines = []
    for i in range(EVENTS // 5):
        person = make_candidate(ref=f"person-{i}", email=f"person{i}@example.org")
        session = make_session(start=now + timedelta(days=10 + i % 5), ref=f"booking-{i}")
        kinds = [EventKind.CANDIDATE_REGISTERED, EventKind.SESSION_BOOKED,
                 EventKind.SESSION_CANCELLED if i % 4 == 0 else EventKind.OUTCOME_RECORDED,
                 EventKind.OUTCOME_RECORDED, EventKind.OUTCOME_RECORDED]
        for n, kind in enumerate(kinds):
            lines.append(make_event(kind, candidate=person, session=session, occurred_at=now,
                                    source_id=f"{i}-{n}").model_dump_json())
    path.write_text("\n".join(lines), encoding="utf-8")


def effects_done(effects: Path) -> int:
    if not effects.exists():
        return 0
    with sqlite3.connect(effects) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM effects").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


@pytest.mark.slow
def test_no_event_lost_and_no_effect_twice_across_ten_sigkills(tmp_path: Path) -> None:
    feed, effects = tmp_path / "feed.jsonl", tmp_path / "effects.db"
    write_feed(feed)
    write_config(tmp_path / "config", {"crash": {"plugins": ["feed", *SINKS], "schedule": {"followups": [],
                                                                                           "reminders": []}}},
                 {"delivery": {"batch_size": 20}})
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({
        "HUB_PLUGINS": "",  # no installed plugin: only the three below
        "HUB_LOAD_PLUGINS": ",".join(f"{n}=tests.crash.plugins:{n}" for n in ("feed", *SINKS)),
        "HUB_CONFIG": str(tmp_path / "config"), "CRASH_FEED": str(feed), "CRASH_EFFECTS": str(effects),
        "PYTHONPATH": str(ROOT),
    })
    expected_effects = EVENTS * len(SINKS)
    interrupted = kill_repeatedly(env, KILLS, random.Random(SEED), lambda: effects_done(effects) < expected_effects)
    assert interrupted >= KILLS // 2, "the kills should land while work is in progress"
    run_until(env, lambda: effects_done(effects) >= expected_effects, tmp_path / "daemon.log", limit=180)

    hub_db = sqlite3.connect(tmp_path / "config" / "var" / "hub.db")
    events = [row[0] for row in hub_db.execute("SELECT id FROM events WHERE source='feed'")]
    states = dict(hub_db.execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state").fetchall())
    assert len(events) == EVENTS  # nothing lost, nothing stored twice
    assert states == {"done": expected_effects}
    with sqlite3.connect(effects) as conn:
        recorded = set(conn.execute("SELECT key FROM effects").fetchall())
        twice = conn.execute("SELECT key, COUNT(*) FROM effects GROUP BY key HAVING COUNT(*) > 1").fetchall()
        calls = conn.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    assert {(f"{event}:{sink}",) for event in events for sink in SINKS} == recorded
    assert twice == []
    assert calls >= expected_effects
    print(f"crash test: {KILLS} kills ({interrupted} mid-work), {calls} hook calls for {expected_effects} effects")
