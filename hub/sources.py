"""What plugins contribute through the `register_*` hooks: pollers, webhook routes and health checks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from hub.events import Event

__all__ = ["Check", "PollResult", "Poller", "WebhookReply", "WebhookRequest", "WebhookRoute"]

@dataclass(frozen=True)
class PollResult:
    """One page read from a source.

    `cursor` is stored with the events in one transaction and handed to the next `poll`. `more=True` asks
    the hub to poll again at once (more pages are waiting). `again_after` (seconds) asks for the next poll
    sooner than the source's interval, e.g. work is left and the vendor's rate-limit window resets then (never
    later than the interval). `progress` (done, total) feeds resync's bar.
    """

    events: list[Event]
    cursor: str | None
    more: bool = False
    progress: tuple[int, int] | None = None
    again_after: float | None = None


@dataclass(frozen=True)
class Poller:
    """A source the daemon polls every `interval` seconds (the branch's default when None).

    `poll(cursor)` must cost one cheap request when nothing changed. `resync_cursor(since)` turns a
    date into a cursor that makes `poll` re-read from then (None: from the very beginning); dedupe makes
    re-reading harmless.
    """

    name: str
    poll: Callable[[str | None], PollResult]
    interval: float | None = None
    resync_cursor: Callable[[datetime | None], str | None] = lambda since: None


@dataclass(frozen=True)
class WebhookRequest:
    """What a webhook handler receives: the request as it came (raw `body` bytes, to check a signature on
    exactly what was signed; lower-cased `headers`; `path` below the plugin's mount point) and when it came."""

    method: str
    path: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    received_at: datetime


@dataclass(frozen=True)
class WebhookReply:
    """What to answer, and which events to commit before answering."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    events: list[Event] = field(default_factory=list)


@dataclass(frozen=True)
class WebhookRoute:
    """A handler mounted at `/webhooks/<branch>/<plugin>` + `path` (path "" or starting with '/')."""

    handler: Callable[[WebhookRequest], WebhookReply]
    path: str = ""
    methods: tuple[str, ...] = ("POST",)


@dataclass(frozen=True)
class Check:
    """A health check for `hub doctor`: `run()` returns a short success message or raises."""

    name: str
    run: Callable[[], str]
