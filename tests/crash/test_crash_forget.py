"""Crash test for erasure: `hub forget` run for ten people while the daemon works, each command and the daemon
SIGKILLed at random moments. Afterwards no one is half erased: a person is either untouched (the command died
before its transaction committed: running it again erases them) or erased in the hub and told to both sinks,
each once per delivery key, with a receipt. The kill moments come from a seeded generator."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub.testing import write_config
from tests.crash.harness import ROOT, run_until, write_feed

PEOPLE, FORGOTTEN, SEED = 20, 10, 20261203
SINKS = ("sink_a", "sink_b")


def hub_db(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{tmp_path / 'config' / 'var' / 'hub.db'}?mode=ro", uri=True, timeout=10)


def registered(tmp_path: Path) -> int:
    try:
        with hub_db(tmp_path) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM deliveries WHERE kind='candidate_registered'"
                                    " AND state='done'").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def erasures_closed(tmp_path: Path) -> int:
    try:
        with hub_db(tmp_path) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM erasures WHERE finished_at IS NOT NULL").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def forget(env: dict[str, str], who: str, kill_after: float | None) -> bool:
    """Run `hub forget --yes`; SIGKILL it after `kill_after` seconds if given. True if it ran to its end."""
    command = subprocess.Popen([sys.executable, "-m", "hub", "forget", "--candidate", who, "--yes"], env=env,
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if kill_after is None:
        return command.wait(timeout=60) == 0
    time.sleep(kill_after)  # picks the kill moment; nothing is asserted about timing
    command.kill()
    command.wait()
    return False


@pytest.mark.slow
def test_no_one_is_half_erased_across_sigkills_of_the_command_and_the_daemon(tmp_path: Path) -> None:
    feed, effects = tmp_path / "feed.jsonl", tmp_path / "effects.db"
    write_feed(feed, PEOPLE)
    write_config(tmp_path / "config", {"crash": {"plugins": ["feed", *SINKS],
                                                 "schedule": {"followups": [], "reminders": []}}},
                 {"delivery": {"batch_size": 5, "retry_initial": 1}})
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({"HUB_PLUGINS": "", "HUB_LOAD_PLUGINS": ",".join(f"{n}=tests.crash.plugins:{n}"
                                                                 for n in ("feed", *SINKS)),
                "HUB_CONFIG": str(tmp_path / "config"), "CRASH_FEED": str(feed), "CRASH_EFFECTS": str(effects),
                "PYTHONPATH": str(ROOT)})
    run_until(env, lambda: registered(tmp_path) >= PEOPLE * len(SINKS), tmp_path / "daemon-0.log")
    rng = random.Random(SEED)
    daemon = subprocess.Popen([sys.executable, "-m", "hub", "run"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed_commands = 0
    for i in range(FORGOTTEN):
        if rng.random() < 0.5:
            forget(env, f"person{i}@example.org", kill_after=rng.uniform(0.2, 1.2))
            killed_commands += 1
        else:
            assert forget(env, f"person{i}@example.org", kill_after=None)
        if rng.random() < 0.5:  # the daemon dies too, while it tells the sinks
            time.sleep(rng.uniform(0, 0.3))
            daemon.kill()
            daemon.wait()
            daemon = subprocess.Popen([sys.executable, "-m", "hub", "run"], env=env, cwd=ROOT,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    daemon.kill()
    daemon.wait()
    assert killed_commands >= 3

    with hub_db(tmp_path) as conn:  # before finishing: each person untouched or wholly erased in the hub
        erased_now = {row[0] for row in conn.execute("SELECT candidate_id FROM erasures")}
        records = {row[0]: json.loads(row[1]) for row in conn.execute("SELECT id, body FROM candidates")}
    for cid, record in records.items():
        if cid in erased_now:
            assert set(record) <= {"id", "referrer"}, record
        else:
            assert record.get("email"), record  # untouched: the command died before its commit
    for i in range(FORGOTTEN):  # what a coordinator does next: run it again for whoever is still there
        who = f"person{i}@example.org"
        with hub_db(tmp_path) as conn:
            still = any(json.loads(body).get("email") == who for (body,) in conn.execute(
                "SELECT body FROM candidates"))
        if still:
            assert forget(env, who, kill_after=None)
    run_until(env, lambda: erasures_closed(tmp_path) >= FORGOTTEN, tmp_path / "daemon.log")

    with hub_db(tmp_path) as conn:
        erasures = [row[0] for row in conn.execute("SELECT id FROM erasures WHERE finished_at IS NOT NULL")]
        bodies = [row[0] for row in conn.execute("SELECT body FROM events UNION ALL SELECT body FROM candidates")]
        receipts = conn.execute("SELECT COUNT(*) FROM erasure_receipts WHERE status='done'").fetchone()[0]
        states = dict(conn.execute("SELECT state, COUNT(*) FROM deliveries WHERE kind='candidate_forgotten'"
                                   " GROUP BY state").fetchall())
    assert len(erasures) == FORGOTTEN
    assert states == {"done": FORGOTTEN * len(SINKS)}
    assert receipts == FORGOTTEN * len(SINKS)
    for i in range(FORGOTTEN):
        assert not any(f"person{i}@example.org" in body for body in bodies), i
    assert any(f"person{FORGOTTEN}@example.org" in body for body in bodies)  # the others are kept (their record)
    with sqlite3.connect(effects) as conn:
        told = conn.execute("SELECT sink, COUNT(*) FROM effects WHERE kind='candidate_forgotten' GROUP BY sink")
        assert dict(told.fetchall()) == dict.fromkeys(SINKS, FORGOTTEN)  # each sink told once per person
    print(f"forget crash test: {killed_commands} commands killed, {FORGOTTEN} people erased, no one half erased")
