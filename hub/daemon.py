"""`hub run`: repeat the hub's cycle until SIGTERM/SIGINT, serving webhooks alongside when configured.

The loop wakes at least once a second, so a stop request is honoured within about a second plus the
delivery in progress; nothing needs cleaning up after a hard kill (every step is a committed transaction).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType

from hub.app import Hub
from hub.lock import DaemonLock
from hub.serving import ServerThread

log = logging.getLogger("hub.daemon")
TICK = 1.0


class Daemon:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.stop_event = threading.Event()

    def stop(self, *_: object) -> None:
        self.stop_event.set()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        self.stop()

    def run(self, *, once: bool = False) -> None:
        if threading.current_thread() is threading.main_thread():  # before the lock: once it is held, a
            signal.signal(signal.SIGTERM, self._on_signal)          # SIGTERM is always a clean stop
            signal.signal(signal.SIGINT, self._on_signal)
        with DaemonLock(self.hub.config.db_path):
            for name, error in self.hub.registry.errors.items():
                log.error("plugin not loaded", extra={"plugin": name, "error": error})
            server = self._start_webhooks()
            log.info("daemon started", extra={"branches": sorted(self.hub.branches), "once": once})
            try:
                if once:
                    report = self.hub.cycle(force_poll=True)
                    log.info("cycle done", extra=vars(report))
                    return
                tick = min([TICK] + [p.interval for ps in self.hub.pollers.values() for _, p in ps if p.interval])
                while not self.stop_event.is_set():
                    started = time.monotonic()
                    report = self.hub.cycle(max_batches=20)
                    if report.ingested or report.delivered or report.fired:
                        log.info("cycle", extra={k: v for k, v in vars(report).items() if v})
                    if report.delivered >= 20 * self.hub.config.hub.delivery.batch_size:
                        continue  # more is due: go on without sleeping
                    self.stop_event.wait(max(0.0, tick - (time.monotonic() - started)))
            finally:
                if server is not None:
                    server.stop()
                log.info("daemon stopped")

    def _start_webhooks(self) -> ServerThread | None:
        listen = self.hub.config.hub.webhooks.listen
        if not listen:
            return None
        from hub.webhooks import build_app  # Starlette only when a receiver is configured
        host, _, port = listen.rpartition(":")
        server = ServerThread(build_app(self.hub), host or "127.0.0.1", int(port)).start()
        log.info("webhook receiver listening", extra={"listen": listen})
        return server
