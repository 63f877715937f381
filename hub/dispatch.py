"""Delivering one event to one plugin, and deciding what a failure means.

Taxonomy (STYLE §4): PluginNotReady -> retry with exponential backoff and jitter, at least the Retry-After the
plugin reports, dead after `give_up_after`; PluginAuthFailed -> pause that plugin for that branch (its
deliveries wait) until `hub auth`/`hub retry` resumes it; DeliveryRejected -> dead now; anything else ->
retry up to `max_attempts`, then dead. Outcomes of a batch are committed together: a crash in between
re-delivers under the same idempotency key, which sinks use to make their effects happen once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from tenacity import RetryCallState, wait_exponential_jitter

from hub.config import DeliverySettings
from hub.errors import DeliveryRejected, PluginAuthFailed, PluginNotReady
from hub.events import Event
from hub.logs import redact
from hub.plugins import BranchPlugins
from hub.store import DEAD, DONE, RETRYING, DeliveryRow, Store, ts

log = logging.getLogger("hub.dispatch")
Result = tuple[int, str, int, float | None, str | None, float | None]


def backoff(attempt: int, initial: float, maximum: float) -> float:
    """Seconds to wait before try number `attempt + 1`: exponential with jitter (tenacity's policy)."""
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = max(1, attempt)
    return float(wait_exponential_jitter(multiplier=initial, max=maximum, jitter=initial)(state))


class Dispatcher:
    def __init__(self, store: Store, branches: dict[str, BranchPlugins], settings: DeliverySettings,
                 clock: Callable[[], datetime]) -> None:
        self.store = store
        self.branches = branches
        self.settings = settings
        self.clock = clock

    def run_due(self, limit: int | None = None) -> int:
        """Deliver one batch of due deliveries; returns how many were attempted."""
        now = self.clock()
        rows = self.store.due_deliveries(now, limit or self.settings.batch_size)
        results: list[Result] = []
        paused: set[tuple[str, str]] = set()
        blocked: set[tuple[str, str, str]] = set()  # (branch, plugin, candidate) whose earlier delivery failed
        for row in rows:
            order_key = (row.branch, row.plugin, row.candidate_id or f"#{row.id}")
            if (row.branch, row.plugin) in paused or order_key in blocked:
                continue
            result = self._deliver(row, now, paused)
            if result[1] != DONE:
                blocked.add(order_key)
            results.append(result)
        if results:
            with self.store.transaction():
                self.store.finish_deliveries(results, self.clock())
        return len(results)

    def drain(self, max_batches: int = 1000) -> int:
        """Deliver until nothing is due (bounded, so a plugin failing fast cannot spin forever)."""
        total = 0
        for _ in range(max_batches):
            done = self.run_due()
            total += done
            if not done:
                break
        return total

    def _deliver(self, row: DeliveryRow, now: datetime, paused: set[tuple[str, str]]) -> Result:
        attempts = row.attempts + 1
        plugins = self.branches.get(row.branch)
        if plugins is None or row.plugin not in plugins.names:
            return (row.id, DEAD, attempts, None,
                    f"plugin {row.plugin!r} is not enabled in branch {row.branch!r}; enable it and run hub retry",
                    row.first_failed_at)
        event = Event.model_validate_json(row.body)
        try:
            plugins.deliver(row.plugin, row.kind, plugins.context(row.plugin).for_delivery(row.key), event)
        except PluginNotReady as exc:
            log.info("delivery postponed: service not ready", extra={"branch": row.branch, "plugin": row.plugin,
                                                                       "event": event.id, "attempt": attempts})
            return self._later(row, attempts, now, f"not ready: {exc}", exc.retry_after, give_up=True)
        except PluginAuthFailed as exc:
            paused.add((row.branch, row.plugin))
            reason = redact(f"{exc} -> run: hub auth {row.plugin} --branch {row.branch}")
            self.store.pause(row.branch, row.plugin, reason, now)
            log.error("plugin paused: authentication failed",
                      extra={"branch": row.branch, "plugin": row.plugin, "event": event.id})
            return (row.id, RETRYING, row.attempts, ts(now), f"auth failed: {redact(str(exc))}",
                    row.first_failed_at or ts(now))
        except DeliveryRejected as exc:
            log.error("delivery rejected", extra={"branch": row.branch, "plugin": row.plugin, "event": event.id})
            return (row.id, DEAD, attempts, None, f"rejected: {redact(str(exc))}", row.first_failed_at or ts(now))
        except Exception as exc:
            log.warning("delivery failed", extra={"branch": row.branch, "plugin": row.plugin, "event": event.id,
                                                  "error": type(exc).__name__})
            if attempts >= self.settings.max_attempts:
                return (row.id, DEAD, attempts, None, redact(f"{type(exc).__name__}: {exc}"),
                        row.first_failed_at or ts(now))
            return self._later(row, attempts, now, f"{type(exc).__name__}: {exc}", None, give_up=False)
        return (row.id, DONE, attempts, None, None, None)

    def _later(self, row: DeliveryRow, attempts: int, now: datetime, error: str, retry_after: float | None,
               *, give_up: bool) -> Result:
        first = row.first_failed_at or ts(now)
        if give_up and ts(now) - first >= self.settings.give_up_after:
            return (row.id, DEAD, attempts, None, redact(f"gave up after {attempts} tries: {error}"), first)
        wait = backoff(attempts, self.settings.retry_initial, self.settings.retry_max)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return (row.id, RETRYING, attempts, ts(now) + wait, redact(error), first)
