"""Running an ASGI app with uvicorn in a background thread (webhook receiver, sandbox fakes)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

from hub.web_limits import WebLimits, widen_accept_queue


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ServerThread:
    """uvicorn in a daemon thread; `start()` returns once it accepts connections, `stop()` within a second.

    With `limits` (the webhook receiver, exposed to the Internet) stalled and flooding clients are bounded by
    hub.web_limits; without (the loopback fakes of the sandbox) it is plain uvicorn.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int | None = None,
                 limits: WebLimits | None = None) -> None:
        self.host = host
        self.app = app
        self.limits = limits
        self._chosen = port is None  # a port we picked may be taken before uvicorn binds it: pick another then
        self._build(port or free_port(host))

    def _build(self, port: int) -> None:
        self.port = port
        options = self.limits.uvicorn_options() if self.limits else {}
        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_config=None, access_log=False,
                                lifespan="off", timeout_graceful_shutdown=2, **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"http-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ServerThread:
        for attempt in range(3 if self._chosen else 1):
            if attempt:  # free_port's port went to another process between its check and uvicorn's bind
                self._build(free_port(self.host))
            self.thread.start()
            deadline = time.monotonic() + timeout
            while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.01)
            if self.server.started:
                break
            if self.thread.is_alive():  # neither up nor dead within the timeout: give up, do not leave it running
                self.server.should_exit = True
                break
        if not self.server.started:
            raise RuntimeError(f"could not listen on {self.host}:{self.port} (port busy?)")
        if self.limits:
            widen_accept_queue(self.server)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        close = getattr(self.app, "close", None)  # the webhook receiver's thread pool
        if callable(close):
            close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
