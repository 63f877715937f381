"""The contract of a plugin's fake service, and serving all fakes on loopback.

A sandbox speaks the vendor's real wire format (checked against the vendor's documented examples) so the
real client code runs against it unchanged: in tests, in `hub sandbox` and in `hub demo`. It can also play
the part of the people using the tool (a candidate booking, staff typing an outcome) through demo actions.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum
from typing import Any

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
