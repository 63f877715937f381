"""Limits that keep the webhook receiver answering under hostile traffic (slowloris, connection floods).

What uvicorn 0.55 (its h11 protocol) lacks, and why this module exists:

- no deadline for a request's headers: `timeout_keep_alive` is armed only after a response and disarmed by any
  byte, so a client that sends half a request line and stalls holds its socket (one open file) for ever;
- no deadline for a request's body: a body trickled one byte at a time holds the connection and the handler;
- no cap on open connections: `limit_concurrency` counts stalled connections too and then answers 503 to the
  complete requests, so stalled sockets would make every valid webhook refused; `limit_max_requests` stops the
  whole server after N requests, it is no per-connection cap.

`GuardedH11` adds them to uvicorn's h11 protocol. At the connection cap the oldest connection still waiting for
a request's headers (stalled, or idle between two requests) is closed to make room: a valid sender completes
its headers within milliseconds, so it is never the oldest waiting one, and refusing newcomers instead would let
a few stalled sockets, renewed every `header_timeout`, lock every sender out. Only when every connection carries
a request in progress is the newcomer refused (503).
"""

from __future__ import annotations

import asyncio
import logging
import math
import resource
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

if TYPE_CHECKING:
    from hub.config import WebhookSettings

log = logging.getLogger("hub.web_limits")

ACCEPT_BATCH = 64
"""Connections asyncio accepts per loop turn, at most an eighth of max_connections. A batch is open for about
four turns before its surplus is shed and closed, so the receiver's open files stay below max_connections +
4 x batch (768 by default, under systemd's 1,024); and a newcomer sees only a few batches arrive before it has
read its headers, so it is never the oldest one waiting (with batches larger than the cap, valid requests were
shed)."""

ACCEPT_QUEUE = 2048
"""Connections the kernel queues for us meanwhile (uvicorn's default backlog). asyncio uses one number for both;
a queue as short as the batch drops connections in a burst (each sender then waits a second to retry)."""

_CLOSE = (b"connection", b"close")
_REFUSED = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


@dataclass(frozen=True)
class WebLimits:
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive: float = 5.0
    max_connections: int = 512
    max_requests_per_connection: int = 100

    @classmethod
    def of(cls, settings: WebhookSettings) -> WebLimits:
        return cls(settings.header_timeout, settings.body_timeout, settings.keep_alive, settings.max_connections,
                   settings.max_requests_per_connection)

    def uvicorn_options(self) -> dict[str, Any]:
        """`uvicorn.Config` keywords (uvicorn's keep-alive takes whole seconds: rounded up; no WebSocket)."""
        return {"http": guarded_protocol(self), "ws": "none", "backlog": self.backlog(),
                "timeout_keep_alive": max(1, math.ceil(self.keep_alive))}

    def backlog(self) -> int:
        return max(4, min(ACCEPT_BATCH, self.max_connections // 8))

    def open_files_needed(self) -> int:
        return self.max_connections + 4 * self.backlog() + 256  # + the database, logs, clients' pools

    def ensure_open_files(self) -> None:
        """Raise the soft open-files limit to twice what the receiver may need (at least 4,096); warn if short."""
        needed = self.open_files_needed()
        soft, hard = raise_open_files_limit(max(4096, 2 * needed))
        if soft < needed:
            log.warning("open files limit below what the webhook receiver may need: raise LimitNOFILE or lower "
                        "webhooks.max_connections", extra={"limit": soft, "hard_limit": hard, "needed": needed})


class _Closures:
    """Counts the connections closed by a limit; says so at once, then at most once a minute (no log flood)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.logged = -math.inf

    def note(self, reason: str, client: tuple[str, int] | None) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        now = time.monotonic()
        if now - self.logged >= 60:
            log.warning("webhook receiver closed connections over its limits",
                        extra={**self.counts, "last_client": client[0] if client else "unknown"})
            self.counts, self.logged = {}, now


class GuardedH11(H11Protocol):
    """uvicorn's h11 protocol with header and body deadlines, a connection cap and a per-connection request cap.

    The deadline follows h11's view of the client: waiting for headers (the first request's, or the next one's
    after a response: the header deadline), sending a body (the body deadline), or waiting for our answer (none:
    a webhook being stored is never cut). `guarded_protocol` makes one subclass per server with its limits.
    """

    limits: ClassVar[WebLimits] = WebLimits()
    waiting: ClassVar[dict[GuardedH11, None]] = {}  # connections waiting for headers, oldest first
    closures: ClassVar[_Closures] = _Closures()

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._deadline: asyncio.TimerHandle | None = None
        self._phase: tuple[object, object] | None = None
        self._counted: object = None  # the last request counted against max_requests_per_connection
        self._requests = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]  # uvicorn narrows it to Transport
        self._follow()
        if len(self.connections) > self.limits.max_connections:
            oldest = next(iter(self.waiting), self)
            if oldest is not self:
                oldest._close("connection_cap")
            else:  # every other connection carries a request in progress: refuse this one
                self.transport.write(_REFUSED)
                self._close("all_busy")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.waiting.pop(self, None)
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        self._follow()

    def _follow(self) -> None:
        """Re-arm the deadline when the client's side of the request cycle moves on."""
        if self.transport.is_closing():
            return
        state = self.conn.their_state
        phase = (state, self.cycle)
        if phase == self._phase:
            return
        self._phase = phase
        self._disarm()
        self.waiting.pop(self, None)
        if state is h11.IDLE:
            self.waiting[self] = None
            self._deadline = self.loop.call_later(self.limits.header_timeout, self._close, "header_deadline")
        elif state is h11.SEND_BODY:
            self._deadline = self.loop.call_later(self.limits.body_timeout, self._body_late)
        if state is not h11.IDLE and self.cycle is not None and self.cycle is not self._counted:
            self._counted = self.cycle
            self._requests += 1
            if self._requests >= self.limits.max_requests_per_connection:  # the last one: say so, then close
                self.cycle.keep_alive = False
                self.cycle.default_headers = [*self.cycle.default_headers, _CLOSE]

    def _body_late(self) -> None:
        """408 when no answer has started; the handler reading the body is told the client left."""
        self._deadline = None
        cycle = self.cycle
        if cycle is not None and not cycle.response_started and not cycle.disconnected:
            for event in (h11.Response(status_code=408, reason=b"Request Timeout",
                                       headers=[(b"content-length", b"0"), _CLOSE]), h11.EndOfMessage()):
                self.transport.write(self.conn.send(event) or b"")
            cycle.disconnected = True  # the app's answer, if any, is dropped
            cycle.message_event.set()  # and its read of the body ends
        self._close("body_deadline")

    def _close(self, reason: str) -> None:
        self._disarm()
        self.waiting.pop(self, None)
        self.connections.discard(self)  # at once: the cap counts it gone (uvicorn forgets it a turn later)
        self.closures.note(reason, self.client)
        self.transport.close()

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


def widen_accept_queue(server: uvicorn.Server) -> None:
    """Let the kernel queue ACCEPT_QUEUE connections while asyncio accepts a batch per turn.

    listen() again on a listening socket only changes the length of its queue (Linux, BSD).
    """
    for listener in server.servers:
        for sock in listener.sockets:
            with sock.dup() as twin:
                twin.listen(ACCEPT_QUEUE)


def guarded_protocol(limits: WebLimits) -> type[GuardedH11]:
    """A GuardedH11 subclass with its own limits and bookkeeping (one per server)."""
    return type("GuardedH11", (GuardedH11,), {"limits": limits, "waiting": {}, "closures": _Closures()})


def raise_open_files_limit(wanted: int) -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to `wanted`, within the hard limit (never lower it); return (soft, hard).

    systemd's default soft limit is 1,024 while its hard one is 524,288: asking for more is free and keeps an
    fd burst from pausing intake (asyncio stops accepting for a second on EMFILE). Not up to the hard limit
    itself: the connection cap keeps the receiver far below it, and a modest limit still catches a leak.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft, hard


class RateLimit:
    """At most `limit` hits per `period` seconds for each key (a client address, a link), in memory.

    A sliding window: each key keeps the times of its last `limit` hits. Bounded: past `max_keys` keys the one
    hit least recently is forgotten, so a flood of addresses cannot grow it without end. Per process, reset by a
    restart: enough against a person's mistakes and a script trying links; nginx's `limit_req` is the first line
    of defence against a real flood (docs/operations.md).
    """

    def __init__(self, limit: int, period: float, *, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.period = period
        self.max_keys = max_keys
        self.clock = clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        """Count one hit for `key`: None when it is allowed, else the seconds to wait (it is not counted)."""
        now = self.clock()
        with self._lock:
            hits = self._hits.get(key)
            if hits is None:
                hits = self._hits[key] = deque(maxlen=self.limit)
            self._hits.move_to_end(key)
            while hits and hits[0] <= now - self.period:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(1.0, hits[0] + self.period - now)
            hits.append(now)
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
            return None
