"""What one hanging service costs the others, and how long `hub run` takes to stop on SIGTERM while it hangs.

Two branches share one plugin. Branch `fast` reads one registration per poll and is delivered to; branch
`slow` polls a loopback server that accepts connections and never answers. The same run measures the fast
branch's poll-to-delivery latency with the slow branch answering at once, then hanging, and the time from
SIGTERM to exit of a real `hub run` whose only service hangs.

Run: .venv/bin/python bench/hanging_bench.py
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from hub.daemon import Daemon
from hub.events import EventKind
from hub.hookspecs import hookimpl
from hub.plugins import PluginRegistry
from hub.sources import Poller, PollResult
from hub.testing import build_hub, make_event, write_config

ROOT = Path(__file__).resolve().parents[1]
SECONDS = 6.0


class Silent:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.conns.append(self.sock.accept()[0])
            except OSError:
                return


class Feed:
    def __init__(self, url: str | None) -> None:
        self.url = url
        self.polled: dict[str, float] = {}
        self.latency: list[float] = []

    @hookimpl
    def register_sources(self, hub: Any, register: Any) -> None:
        if hub.branch == "slow":
            def poll(cursor: str | None) -> PollResult:
                if self.url:
                    httpx.get(self.url, timeout=60)
                return PollResult([], cursor)
        else:
            def poll(cursor: str | None) -> PollResult:
                n = int(cursor or 0) + 1
                self.polled[f"row-{n}"] = time.perf_counter()
                return PollResult([make_event(EventKind.CANDIDATE_REGISTERED, source_id=f"row-{n}")], str(n))
        register(Poller("rows", poll, interval=0.05))

    @hookimpl
    def candidate_registered(self, hub: Any, event: Any) -> None:
        if hub.branch == "fast" and event.source_id in self.polled:
            self.latency.append(time.perf_counter() - self.polled[event.source_id])


def latency(url: str | None) -> list[float]:
    registry = PluginRegistry()
    feed = Feed(url)
    registry.add("feed", feed)
    with tempfile.TemporaryDirectory() as tmp:
        hub = build_hub(Path(tmp), registry, {"slow": {"plugins": ["feed"]}, "fast": {"plugins": ["feed"]}})
        daemon = Daemon(hub, deadline=1.0)
        thread = threading.Thread(target=daemon.run, daemon=True)
        thread.start()
        time.sleep(SECONDS)
        daemon.stop()
        thread.join(10)
        hub.close()
    return feed.latency


def stop_time() -> float:
    silent = Silent()
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), {"b": {"plugins": ["example"], "example": {
            "url": f"http://127.0.0.1:{silent.port}", "poll_interval": 1}}})
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update({"HUB_PLUGINS": "example", "HUB_CONFIG": str(config), "HUB_B_EXAMPLE_TOKEN": "x"})
        proc = subprocess.Popen([sys.executable, "-m", "hub", "run"], env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not silent.conns:
            time.sleep(0.01)
        started = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        return time.perf_counter() - started


def describe(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"{len(ms)} deliveries, median {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms"


def main() -> None:
    logging.disable(logging.ERROR)  # the hub rightly logs the hanging service; the figures are what matter here
    print(f"fast branch, poll -> delivered, over {SECONDS:.0f} s each:")
    print(f"  other branch answering: {describe(latency(None))}")
    silent = Silent()
    print(f"  other branch hanging:   {describe(latency(f'http://127.0.0.1:{silent.port}'))}")
    times = [stop_time() for _ in range(3)]
    print("hub run, SIGTERM -> exit, its only service hanging: " + ", ".join(f"{t:.2f} s" for t in times))


if __name__ == "__main__":
    main()
