"""What both crash tests do: start the daemon, SIGKILL it at a random moment, again and again; then run it
until the work is done and stop it cleanly."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from hub.events import EventKind
from hub.testing import make_candidate, make_event

ROOT = Path(__file__).resolve().parents[2]


def kill_repeatedly(env: dict[str, str], kills: int, rng: random.Random, unfinished: Callable[[], bool],
                    low: float = 0.4, high: float = 1.4) -> int:
    """Start and SIGKILL `hub run` `kills` times; how many kills landed while work was unfinished."""
    interrupted = 0
    for _ in range(kills):
        daemon = subprocess.Popen([sys.executable, "-m", "hub", "run"], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(low, high))  # picks the kill moment; nothing is asserted about timing
        daemon.kill()
        daemon.wait()
        interrupted += unfinished()
    return interrupted


def run_until(env: dict[str, str], done: Callable[[], bool], log: Path, limit: float = 240) -> None:
    """Run `hub run` until `done()` (or `limit` seconds), then SIGTERM it; it must exit 0. Its log goes to a
    file, never a pipe nobody reads (a full pipe would block the daemon)."""
    with log.open("w") as handle:
        daemon = subprocess.Popen([sys.executable, "-m", "hub", "run"], env=env, cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=handle)
        deadline = time.monotonic() + limit
        while not done() and time.monotonic() < deadline and daemon.poll() is None:
            time.sleep(0.2)
        time.sleep(0.5)  # a last effect done twice would show now
        daemon.terminate()
        code = daemon.wait(timeout=30)
    assert code == 0, log.read_text()[-2000:]


def write_feed(path: Path, people: int) -> None:
    """`people` registrations (person<i>@example.org) for the crash plugins' feed source to read."""
    now = datetime.now(UTC)
    lines = [make_event(EventKind.CANDIDATE_REGISTERED, occurred_at=now, source_id=f"signup-{i}",
                        candidate=make_candidate(ref=f"person-{i}", email=f"person{i}@example.org", phone=None)
                        ).model_dump_json() for i in range(people)]
    path.write_text("\n".join(lines), encoding="utf-8")


def messages_done(tmp_path: Path) -> int:
    """Messages whose delivery the hub committed as done (the daemon is still running: read-only)."""
    path = tmp_path / "config" / "var" / "hub.db"
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM deliveries WHERE kind='message_due' AND state='done'")
                       .fetchone()[0])
        except sqlite3.OperationalError:
            return 0
