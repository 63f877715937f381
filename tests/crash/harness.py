"""What both crash tests do: start the daemon, SIGKILL it at a random moment, again and again; then run it
until the work is done and stop it cleanly."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

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
