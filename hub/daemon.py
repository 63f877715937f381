"""`hub run`: lanes (branch, plugin) polled and delivered by their own workers, the schedule fired, webhooks
served, until SIGTERM/SIGINT.

The main thread only fires the schedule, hands each idle lane its next step and watches deadlines; network
calls happen in the lane workers (hub/lanes.py), so a service that never answers delays only its own lane.
A stop request is honoured between steps: the main thread gives lanes `STOP_GRACE` seconds to finish the
step in progress, then leaves; nothing needs cleaning up (every step is a committed transaction) but the
lanes' clients, which the caller's `hub.close()` closes (`close_lane`).
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType

from hub.app import CycleReport, Hub, Lane
from hub.errors import HubError
from hub.lanes import Lanes, Step
from hub.lock import DaemonLock
from hub.serving import ServerThread
from hub.web_limits import WebLimits

log = logging.getLogger("hub.daemon")
TICK = 1.0
STOP_GRACE = 4.0
DEFAULT_DEADLINE = 120.0
OPTIMIZE_EVERY = 86400.0  # planner statistics refreshed daily as the store grows


class Daemon:
    def __init__(self, hub: Hub, *, deadline: float | None = None) -> None:
        self.hub = hub
        self.stop_event = threading.Event()
        self.deadline = float(deadline or hub.config.hub.deadline or DEFAULT_DEADLINE)

    def stop(self, *_: object) -> None:
        self.stop_event.set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        self.stop()

    def run(self, *, once: bool = False) -> CycleReport:
        """Run until stopped (or one full cycle with `once`); returns what the last cycle did."""
        if threading.current_thread() is threading.main_thread():  # before the lock: once it is held, a
            signal.signal(signal.SIGTERM, self._on_signal)          # SIGTERM is always a clean stop
            signal.signal(signal.SIGINT, self._on_signal)
        with DaemonLock(self.hub.config.db_path):
            for name, error in self.hub.registry.errors.items():
                log.error("plugin not loaded", extra={"plugin": name, "error": error, "fix": "hub plugins"})
            self.hub.dead_letter_unrouted()
            self.hub.store.optimize()  # fresh planner statistics; cheap at any size (analysis_limit)
            if not once:
                _ = self.hub.pollers  # set every lane up before workers start; failures are logged, retried
            server = self._start_webhooks()
            lanes = Lanes(self.hub, self.stop_event, self.deadline)
            log.info("daemon started", extra={"branches": sorted(self.hub.branches), "once": once,
                                              "lanes": len(lanes.workers)})
            try:
                return self._once(lanes) if once else self._loop(lanes)
            finally:
                if server is not None:
                    server.server.should_exit = True  # stops accepting while the lanes finish
                blocked = lanes.stop(STOP_GRACE)
                if blocked:
                    log.warning("stopped without waiting for services that do not answer",
                                extra={"lanes": [f"{b}/{p}" for b, p in blocked]})
                for lane in blocked:  # hub.close() closes the other lanes' clients (close_lane)
                    self.hub.setup.leave_open(lane)
                if server is not None:
                    server.stop()
                log.info("daemon stopped")

    def _poll_step(self, lanes: Lanes, *, force: bool) -> Step:
        def step(lane: Lane, report: CycleReport, should_stop: Callable[[], bool]) -> None:
            worker = lanes.workers[lane]

            def on_source(name: str | None) -> None:
                worker.activity = name or ""
            self.hub.poll_lane(lane, report, force=force, should_stop=should_stop, on_source=on_source)
        return step

    def _deliver_step(self, max_batches: int) -> Step:
        def step(lane: Lane, report: CycleReport, should_stop: Callable[[], bool]) -> None:
            self.hub.deliver_lane(lane, report, max_batches=max_batches, should_stop=should_stop)
        return step

    def _both_step(self, lanes: Lanes) -> Step:
        poll, deliver = self._poll_step(lanes, force=False), self._deliver_step(20)

        def step(lane: Lane, report: CycleReport, should_stop: Callable[[], bool]) -> None:
            poll(lane, report, should_stop)
            deliver(lane, report, should_stop)
        return step

    def _once(self, lanes: Lanes) -> CycleReport:
        """Poll every lane, fire the schedule, deliver every lane: each phase waits for slow lanes no longer
        than the deadline."""
        report = lanes.run_step(self._poll_step(lanes, force=True))
        report.fired = self.hub.fire_schedule()
        report.merge(lanes.run_step(self._deliver_step(1000)))
        log.log(logging.ERROR if report.errors else logging.INFO, "cycle done",
                extra={k: v for k, v in vars(report).items() if v})
        return report

    def _loop(self, lanes: Lanes) -> CycleReport:
        step = self._both_step(lanes)
        tick = min([TICK] + [p.interval for ps in self.hub.pollers.values() for _, p in ps if p.interval])
        report = CycleReport()
        last_optimized = time.monotonic()
        while not self.stop_event.is_set():
            started = time.monotonic()
            try:
                report.fired = self.hub.fire_schedule()
            except Exception:  # the store busy for too long: try again next tick
                log.error("schedule not fired", exc_info=True)
            if time.monotonic() - last_optimized > OPTIMIZE_EVERY:
                self.hub.store.optimize()
                last_optimized = time.monotonic()
            lanes.submit_idle(step)
            lanes.watch()
            self.stop_event.wait(max(0.05, tick - (time.monotonic() - started)))
        return report

    def _start_webhooks(self) -> ServerThread | None:
        listen = self.hub.config.hub.webhooks.listen
        if not listen:
            return None
        from hub.webhooks import build_app  # uvicorn only when a receiver is configured
        host, _, port = listen.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        _check_port_free(host, int(port), listen)
        limits = WebLimits.of(self.hub.config.hub.webhooks)
        limits.ensure_open_files()
        server = ServerThread(build_app(self.hub), host, int(port), limits)
        try:
            server.start()
        except RuntimeError as exc:
            raise HubError(f"the webhook receiver could not listen on {listen} ({exc}); change webhooks.listen "
                           "in hub.toml, then run: hub config check") from None
        log.info("webhook receiver listening", extra={"listen": listen})
        return server


def _check_port_free(host: str, port: int, listen: str) -> None:
    """Say plainly that the port is taken (uvicorn would only log and exit its thread)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            why = "the port is already in use (another hub, or another program)" if exc.errno == 98 else (
                exc.strerror or type(exc).__name__)
            raise HubError(f"the webhook receiver cannot listen on {listen}: {why}; stop that program or change "
                           "webhooks.listen in hub.toml, then run: hub config check") from None
