"""Each lane's contributions (a plugin's sources and webhook routes for one branch), set up once and retried.

A plugin whose `register_sources` or `register_webhooks` raises for a branch (a settings file it cannot read,
a missing credential, a bug) does not vanish: the failure is logged with its exception, recorded in the store
(so `hub status` and `hub doctor` show it, in any process), reported in the cycle report, and the setup is
tried again with exponential backoff, as Home Assistant retries an integration whose setup raised
ConfigEntryNotReady. Once it succeeds the record is cleared. A new process tries every lane at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hub.dispatch import backoff
from hub.logs import redact
from hub.plugins import BranchPlugins
from hub.sources import Poller, WebhookRoute
from hub.store import Store

__all__ = ["RETRY_INITIAL", "RETRY_MAX", "LaneContributions", "LaneSetup"]

log = logging.getLogger("hub.setup")
RETRY_INITIAL, RETRY_MAX = 30.0, 3600.0
Lane = tuple[str, str]


@dataclass
class LaneContributions:
    sources: list[Poller] = field(default_factory=list)
    routes: list[WebhookRoute] = field(default_factory=list)


class LaneSetup:
    """Thread-safe: lane workers and the webhook receiver may ask for the same lane at once."""

    def __init__(self, store: Store, branches: dict[str, BranchPlugins], clock: Callable[[], datetime]) -> None:
        self.store = store
        self.branches = branches
        self.clock = clock
        self._done: dict[Lane, LaneContributions] = {}
        self._retry_at: dict[Lane, datetime] = {}
        self._attempts: dict[Lane, int] = {}
        self._lock = threading.Lock()

    def get(self, lane: Lane, *, errors: list[str] | None = None, force: bool = False) -> LaneContributions | None:
        """The lane's contributions, setting it up when needed; None while its setup fails (the failure is
        appended to `errors` when it was tried now). `force` tries again without waiting for the backoff."""
        with self._lock:
            done = self._done.get(lane)
            if done is not None:
                return done
            retry_at = self._retry_at.get(lane)
            if retry_at is not None and retry_at > self.clock() and not force:
                return None
            return self._try(lane, errors)

    def ready(self, lane: Lane) -> LaneContributions | None:
        """The lane's contributions if it is already set up, else None: never waits, never sets up (the
        webhook receiver asks this on the event loop, and only goes to a thread for a lane not set up yet)."""
        return self._done.get(lane)

    def failure(self, lane: Lane) -> bool:
        return lane in self._retry_at

    def leave_open(self, lane: Lane) -> None:
        """Forget a lane without closing it: its worker is still inside a request when `hub run` stops, and
        closing a client under a running request is not safe (httplib2); the process's exit ends it."""
        with self._lock:
            self._done.pop(lane, None)

    def close(self) -> list[Lane]:
        """Call `close_lane` once for every lane set up, each plugin alone (a failure is logged by the facade,
        never stops the others); returns the lanes whose close failed. A later `get` sets a lane up again."""
        with self._lock:
            done = sorted(self._done.items(), key=lambda item: item[0])  # kept alive until closed
            self._done.clear()
        return [lane for lane, _ in done if not self.branches[lane[0]].close_lane(lane[1])]

    def _try(self, lane: Lane, errors: list[str] | None) -> LaneContributions | None:
        branch, plugin = lane
        plugins = self.branches[branch]
        hook = "register_sources"
        try:
            sources = plugins.contribution(plugin, hook)
            hook = "register_webhooks"
            routes = plugins.contribution(plugin, hook)
        except Exception as exc:  # a plugin's setup failure stays its own
            self._failed(lane, hook, exc, errors)
            return None
        contributions = LaneContributions(sources=list(sources), routes=list(routes))
        self._done[lane] = contributions
        self._retry_at.pop(lane, None)
        self._attempts.pop(lane, None)
        if self.store.setup_succeeded(branch, plugin):
            log.info("plugin set up after earlier failures", extra={"branch": branch, "plugin": plugin})
        return contributions

    def _failed(self, lane: Lane, hook: str, exc: Exception, errors: list[str] | None) -> None:
        branch, plugin = lane
        attempts = self._attempts.get(lane, 0) + 1
        self._attempts[lane] = attempts
        now = self.clock()
        retry_at = now + timedelta(seconds=backoff(attempts, RETRY_INITIAL, RETRY_MAX))
        self._retry_at[lane] = retry_at
        error = redact(f"{type(exc).__name__}: {exc}")
        self.store.setup_failed(branch, plugin, hook, error, now, retry_at)
        log.error("plugin setup failed", exc_info=exc,
                  extra={"branch": branch, "plugin": plugin, "hook": hook, "error": error, "attempt": attempts,
                         "retry_at": retry_at.isoformat(), "fix": f"hub doctor --branch {branch}"})
        if errors is not None:
            errors.append(f"{branch}/{plugin}: setup failed ({hook}): {error}")
