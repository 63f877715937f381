"""One hanging service delays nothing else: lanes per (branch, plugin), deadlines, a stop that does not wait."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from hub.app import Hub
from hub.daemon import Daemon
from hub.events import EventKind
from hub.hookspecs import hookimpl
from hub.sources import Poller, PollResult
from hub.testing import make_event, write_config

ROOT = Path(__file__).resolve().parents[1]


def wait_until(condition: Callable[[], bool], limit: float = 20.0) -> None:
    """Poll a condition; the limit only guards against a hang, nothing is asserted about time."""
    end = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.02)


class SlowOrFast:
    """Branch 'slow' polls a service that never answers; branch 'fast' reads one new registration per poll
    and is also this plugin's sink, so its deliveries show whether its lane moves."""

    def __init__(self, hanging_url: str) -> None:
        self.url = hanging_url
        self.slow_calls = 0
        self.delivered: list[str] = []

    @hookimpl
    def register_sources(self, hub: Any, register: Any) -> None:
        if hub.branch == "slow":
            def poll(cursor: str | None) -> PollResult:
                self.slow_calls += 1
                httpx.get(self.url, timeout=60)  # blocks: the server accepts and never replies
                return PollResult([], cursor)
        else:
            def poll(cursor: str | None) -> PollResult:
                n = int(cursor or 0) + 1
                return PollResult([make_event(EventKind.CANDIDATE_REGISTERED, source_id=f"row-{n}")], str(n))
        register(Poller("rows", poll, interval=0.05))

    @hookimpl
    def candidate_registered(self, hub: Any, event: Any) -> None:
        self.delivered.append(hub.branch)


def test_a_hanging_service_delays_neither_another_branch_nor_the_stop(
        make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object], hanging_url: str) -> None:
    plugin = register_plugin("feed", SlowOrFast(hanging_url))
    assert isinstance(plugin, SlowOrFast)
    hub = make_hub({"slow": {"plugins": ["feed"]}, "fast": {"plugins": ["feed"]}})
    daemon = Daemon(hub, deadline=0.5)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    wait_until(lambda: plugin.slow_calls == 1)
    # while the slow branch's poll is stuck, the fast branch polls and delivers again and again
    wait_until(lambda: plugin.delivered.count("fast") >= 5)
    assert plugin.slow_calls == 1 and "slow" not in plugin.delivered
    # the stuck poll is reported past the deadline, as a failing source the status shows
    wait_until(lambda: any(r.branch == "slow" and "no answer" in (r.last_error or "")
                           for r in hub.store.list_sources()))
    daemon.stop()
    thread.join(timeout=15)
    assert not thread.is_alive(), "the daemon waited for the hanging service"


def _env(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({"HUB_PLUGINS": "example", "HUB_CONFIG": str(config), "HUB_B_EXAMPLE_TOKEN": "t0k3n-fake",
                "PYTHONPATH": str(ROOT)})
    return env


def _example_config(root: Path, url: str, **hub: Any) -> Path:
    return write_config(root, {"b": {"plugins": ["example"], "example": {"url": url, "poll_interval": 1}}}, hub)


def test_sigterm_stops_the_daemon_within_ten_seconds_while_a_service_hangs(tmp_path: Path,
                                                                          hanging_server: Any) -> None:
    config = _example_config(tmp_path, f"http://127.0.0.1:{hanging_server.port}")
    daemon = subprocess.Popen([sys.executable, "-m", "hub", "run"], env=_env(config), cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: len(hanging_server.accepted) >= 1 or daemon.poll() is not None, limit=30)
        assert daemon.poll() is None, daemon.communicate()
        daemon.send_signal(signal.SIGTERM)  # the poll is now blocked in a read that will last 10 s
        out, err = daemon.communicate(timeout=10)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
    assert daemon.returncode == 0
    assert "Traceback" not in out + err and "daemon stopped" in err


def test_run_once_with_a_hanging_service_ends_at_the_deadline_and_fails(tmp_path: Path, hanging_url: str) -> None:
    config = _example_config(tmp_path, hanging_url, deadline=1)
    once = subprocess.run([sys.executable, "-m", "hub", "run", "--once"], env=_env(config), cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert once.returncode == 1
    assert "no answer from example for branch b" in once.stderr
    assert "Traceback" not in once.stdout + once.stderr
