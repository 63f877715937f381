"""The contract of a plugin's fake service, and serving all fakes on loopback.

A sandbox speaks the vendor's real wire format (checked against the vendor's documented examples) so the
real client code runs against it unchanged: in tests, in `hub sandbox` and in `hub demo`. It can also play
the part of the people using the tool (a candidate booking, staff typing an outcome) through demo actions.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import Any

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.serving import ServerThread

__all__ = ["DemoAction", "DemoContext", "DemoPerson", "DemoPhase", "Sandbox", "serve"]

class DemoPhase(IntEnum):
    """The demo's story, in order; each sandbox adds its actions to the phases it plays in."""

    REGISTER = 1
    BOOK = 2
    CHANGE = 3
    ATTEND = 4
    OUTCOME = 5


@dataclass(frozen=True)
class DemoPerson:
    """A fictional person the demo plays its story with; sandboxes put them in their fake service."""

    first_name: str
    last_name: str
    email: str
    phone: str
    referrer: str


@dataclass(frozen=True)
class DemoAction:
    """One step of the demo: in `phase`, `run()` acts in the fake service (a sign-up, a booking), shown as
    `label`."""

    phase: DemoPhase
    label: str
    run: Callable[[], object]  # what it returns is ignored


@dataclass
class DemoContext:
    """What a sandbox knows when it plans its part of the demo for one branch."""

    branch: str
    base_url: str
    people: list[DemoPerson]
    now: Callable[[], datetime]
    webhook_url: str | None = None
    shared: dict[str, Any] = field(default_factory=dict)


class Sandbox(ABC):
    """A fake vendor service. One instance serves every branch (one account, sheet or mailbox per branch)."""

    name: str = ""
    failing_paths: tuple[str, ...] = ()
    """Path prefixes `fail_next_request` applies to (its API, not its login endpoints); empty: every path."""

    @abstractmethod
    def app(self) -> Any:
        """The ASGI application speaking the vendor's wire format."""

    def demo_settings(self, demo: DemoContext) -> dict[str, Any]:
        """The plugin's table in the demo branch file, pointing the real client at this fake."""
        return {}

    def demo_environ(self, demo: DemoContext) -> dict[str, str]:
        """Fake secrets for the demo (environment variables), never real ones."""
        return {}

    def demo_actions(self, demo: DemoContext) -> list[DemoAction]:
        """What this fake service does in the demo's story (none by default: a sink only receives)."""
        return []

    def describe(self, branch: str) -> str:
        """What the fake holds now for a branch, as text a person reads (a table)."""
        return ""

    def fail_next_request(self, status: int, *, retry_after: int | None = None) -> None:
        """Answer the next request this fake receives with `status` (and `Retry-After: <retry_after>` seconds
        when given) instead of serving it: the conformance suite uses it to check a connector's error mapping
        (429 and 5xx: not ready, 401: auth failed, 400: rejected). A sandbox supports it by returning
        `self.failing(app)` from `app()`; one with its own fault machinery may override this instead."""
        with _INJECTED_LOCK:
            self.__dict__.setdefault("_injected", []).append((status, retry_after))

    def take_injected_failure(self) -> tuple[int, int | None] | None:
        """The next failure `fail_next_request` queued, removed from the queue (None when there is none)."""
        with _INJECTED_LOCK:
            queued: list[tuple[int, int | None]] = self.__dict__.get("_injected", [])
            return queued.pop(0) if queued else None

    def failing(self, app: Starlette) -> Starlette:
        """`app` with the failures queued by `fail_next_request` answered first (the same app, returned)."""
        app.add_middleware(_InjectedFailures, sandbox=self)
        return app


_INJECTED_LOCK = threading.Lock()  # the fake is served from another thread than the test asking it to fail


class _InjectedFailures:
    """ASGI middleware: an HTTP request gets the sandbox's next injected failure, if one is queued."""

    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        prefixes = self.sandbox.failing_paths
        applies = scope["type"] == "http" and (not prefixes or str(scope["path"]).startswith(prefixes))
        injected = self.sandbox.take_injected_failure() if applies else None
        if injected is None:
            await self.app(scope, receive, send)
            return
        status, retry_after = injected
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
        reply = JSONResponse({"error": {"code": status, "message": "failure injected by the test"}},
                             status_code=status, headers=headers)
        await reply(scope, receive, send)


@contextmanager
def serve(sandboxes: dict[str, Sandbox], host: str = "127.0.0.1") -> Iterator[dict[str, str]]:
    """Serve each sandbox on its own loopback port; yields {plugin: base_url}."""
    servers = {name: ServerThread(sandbox.app(), host) for name, sandbox in sandboxes.items()}
    started: list[ServerThread] = []
    try:
        for server in servers.values():
            started.append(server.start())
        yield {name: server.url for name, server in servers.items()}
    finally:
        for server in started:
            server.stop()
