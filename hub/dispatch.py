"""Delivering one event to one plugin, and deciding what a failure means.

Taxonomy (STYLE §4): PluginNotReady -> retry with exponential backoff and jitter, at least the Retry-After the
plugin reports, dead after `give_up_after`; PluginAuthFailed -> pause that plugin for that branch (its
deliveries wait) until `hub auth`/`hub retry` resumes it; DeliveryRejected -> dead now; anything else ->
retry up to `max_attempts`, then dead. Outcomes of a batch are committed together: a crash in between
re-delivers under the same idempotency key, which sinks use to make their effects happen once. State a plugin
writes during a delivery is committed in the same transaction as that delivery's outcome (and the outcomes
before it), so a delivery costs one commit however many state writes it makes.

A batch can be limited to one branch and plugin (the daemon runs one worker per pair, so a service that
hangs delays only its own deliveries) and stops early when `should_stop()` turns true; what was already
done in the batch is committed. Dead letters and pauses go through `Incidents`: logged at error with the
command that fixes them, and alerted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from tenacity import RetryCallState, wait_exponential_jitter

from hub.config import DeliverySettings
from hub.context import HubContext
from hub.errors import DeliverySkipped
from hub.events import Event, EventKind
from hub.failures import Failure, FailureKind, classify
from hub.incidents import Incidents
from hub.logs import redact
from hub.plugins import BranchPlugins
from hub.store import DEAD, DONE, RETRYING, SKIPPED, DeliveryOutcome, DeliveryRow, Store, ts

log = logging.getLogger("hub.dispatch")


class Undeliverable(Exception):
    """Raised by the dispatcher's `hydrate` when a stored event can no longer be written out for its plugin (a
    message whose person has no address any more): the delivery is skipped with this reason, not retried."""


class GateDecision(Protocol):
    @property
    def wait(self) -> float | None: ...
    @property
    def skip(self) -> str | None: ...
    @property
    def why(self) -> str: ...


Gatekeeper = Callable[[DeliveryRow, Event, datetime], GateDecision | None]
"""Asked before a message is delivered (hub.messages.policy): wait, skip, or None to go."""


def backoff(attempt: int, initial: float, maximum: float) -> float:
    """Seconds to wait before try number `attempt + 1`: exponential with jitter (tenacity's policy)."""
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]  # only the wait policy reads it
    state.attempt_number = max(1, attempt)
    return float(wait_exponential_jitter(multiplier=initial, max=maximum, jitter=initial)(state))


class Dispatcher:
    def __init__(self, store: Store, branches: dict[str, BranchPlugins], settings: DeliverySettings,
                 clock: Callable[[], datetime], incidents: Incidents, gate: Gatekeeper | None = None,
                 hydrate: Callable[[Event], Event] | None = None,
                 share: Callable[[str, str, Event], Event] | None = None) -> None:
        self.gate = gate
        self.share = share  # only the fields that plugin may copy into its tool (hub.privacy.share)
        self.hydrate = hydrate  # the stored event with the person's record and its message written (hub.hydrate)
        self.store = store
        self.branches = branches
        self.settings = settings
        self.clock = clock
        self.incidents = incidents

    def run_due(self, limit: int | None = None, *, branch: str | None = None, plugin: str | None = None,
                should_stop: Callable[[], bool] = lambda: False, failures: list[str] | None = None) -> int:
        """Deliver one batch of due deliveries (of one branch and plugin when given); returns how many were
        attempted. A short description of each failed attempt is appended to `failures`."""
        now = self.clock()
        rows = self.store.due_deliveries(now, limit or self.settings.batch_size, branch=branch, plugin=plugin)
        results: list[DeliveryOutcome] = []
        attempted = 0
        paused: set[tuple[str, str]] = set()
        blocked: set[tuple[str, str, str]] = set()  # (branch, plugin, candidate) whose earlier delivery failed
        for row in rows:
            if should_stop():
                break
            order_key = (row.branch, row.plugin, row.candidate_id or f"#{row.id}")
            if (row.branch, row.plugin) in paused or order_key in blocked:
                continue
            event = Event.model_validate_json(row.body)  # parsed once, for the gate and the hook
            try:
                event = self.hydrate(event) if self.hydrate is not None else event
            except Undeliverable as exc:
                log.info("delivery skipped", extra={"branch": row.branch, "plugin": row.plugin, "delivery": row.id,
                                                    "reason": str(exc)})
                results.append(DeliveryOutcome(row.id, SKIPPED, row.attempts, None, f"skipped: {exc}",
                                               row.first_failed_at))
                attempted += 1
                continue
            held = self._held(row, event, now)
            if held is not None:  # a message that must wait (quiet hours, caps) or no longer applies
                results.append(held)
                if held.state != SKIPPED:  # later messages to this person wait behind it, in order
                    blocked.add(order_key)
                attempted += 1
                continue
            plugins = self.branches.get(row.branch)
            ctx = plugins.context(row.plugin).for_delivery(row.key) if plugins is not None else None
            if self.share is not None:
                event = self.share(row.branch, row.plugin, event)
            result = self._deliver(row, event, now, paused, ctx)
            results.append(result)
            if (ctx is not None and ctx.pending_state) or row.kind == EventKind.MESSAGE_DUE.value:
                # its state with every outcome so far: one commit (a sent message is counted at once, for the
                # caps the next message's gate checks)
                with self.store.transaction():
                    if ctx is not None:
                        ctx.flush_state()
                    self.store.finish_deliveries(results, self.clock())
                results = []
            if result.state != DONE:
                blocked.add(order_key)
                if failures is not None:
                    failures.append(f"{row.branch}/{row.plugin}: delivery {row.id} {result.state}: {result.last_error}")
            attempted += 1
        if results:
            with self.store.transaction():
                self.store.finish_deliveries(results, self.clock())
        return attempted

    def drain(self, max_batches: int = 1000, *, branch: str | None = None, plugin: str | None = None,
              should_stop: Callable[[], bool] = lambda: False, failures: list[str] | None = None) -> int:
        """Deliver until nothing is due (bounded, so a plugin failing fast cannot spin forever)."""
        total = 0
        for _ in range(max_batches):
            done = self.run_due(branch=branch, plugin=plugin, should_stop=should_stop, failures=failures)
            total += done
            if not done or should_stop():
                break
        return total

    def _held(self, row: DeliveryRow, event: Event, now: datetime) -> DeliveryOutcome | None:
        """The gate's decision for a message (skipped, or waiting without using a try), or None: go."""
        if self.gate is None or row.kind != EventKind.MESSAGE_DUE.value:
            return None
        decision = self.gate(row, event, now)
        if decision is None:
            return None
        if decision.skip is not None:
            log.info("message skipped", extra={"branch": row.branch, "plugin": row.plugin, "delivery": row.id,
                                               "reason": decision.skip})
            return DeliveryOutcome(row.id, SKIPPED, row.attempts, None, f"skipped: {decision.skip}",
                                   row.first_failed_at)
        return DeliveryOutcome(row.id, row.state, row.attempts, ts(now) + (decision.wait or 0.0),
                               f"waiting: {decision.why}" if decision.why else None, row.first_failed_at)

    def _deliver(self, row: DeliveryRow, event: Event, now: datetime, paused: set[tuple[str, str]],
                 ctx: HubContext | None) -> DeliveryOutcome:
        attempts = row.attempts + 1
        plugins = self.branches.get(row.branch)
        if plugins is None or ctx is None or row.plugin not in plugins.names:
            return DeliveryOutcome(row.id, DEAD, attempts, None, f"plugin {row.plugin!r} is not enabled in branch "
                                   f"{row.branch!r}; enable it and run hub retry", row.first_failed_at)
        try:
            plugins.deliver(row.plugin, row.kind, ctx, event)
        except DeliverySkipped as exc:  # nothing to do for this plugin, by design: recorded, no alert
            log.info("delivery skipped by its plugin", extra={"branch": row.branch, "plugin": row.plugin,
                                                             "delivery": row.id, "reason": redact(str(exc))})
            return DeliveryOutcome(row.id, SKIPPED, attempts, None, redact(f"skipped: {exc}"), row.first_failed_at)
        except Exception as exc:
            failure = classify(exc)
            if failure.kind is FailureKind.AUTH_FAILED:
                paused.add((row.branch, row.plugin))
                reason = self.incidents.plugin_paused(row.branch, row.plugin, exc, now)
                return DeliveryOutcome(row.id, RETRYING, row.attempts, ts(now), f"auth failed: {reason}",
                                       row.first_failed_at or ts(now))
            result = self._outcome(row, attempts, now, failure)
        else:
            return DeliveryOutcome(row.id, DONE, attempts)
        if result.state == DEAD:
            self.incidents.delivery_dead(row.branch, row.plugin, event.id, result.last_error or "")
        else:
            wait = (result.next_attempt_at or ts(now)) - ts(now)
            log.info("delivery postponed", extra={"branch": row.branch, "plugin": row.plugin, "event": event.id,
                                                  "attempt": attempts, "error": result.last_error,
                                                  "next_try_in_s": round(wait)})
        return result

    def _outcome(self, row: DeliveryRow, attempts: int, now: datetime, failure: Failure) -> DeliveryOutcome:
        """Not ready: later, dead after give_up_after; rejected: dead now; unexpected: later, dead after
        max_attempts."""
        if failure.kind is FailureKind.REJECTED or (failure.kind is FailureKind.UNEXPECTED
                                                   and attempts >= self.settings.max_attempts):
            return DeliveryOutcome(row.id, DEAD, attempts, None, failure.message, row.first_failed_at or ts(now))
        return self._later(row, attempts, now, failure.message, failure.retry_after,
                           give_up=failure.kind is FailureKind.NOT_READY)

    def _later(self, row: DeliveryRow, attempts: int, now: datetime, error: str, retry_after: float | None,
               *, give_up: bool) -> DeliveryOutcome:
        first = row.first_failed_at or ts(now)
        if give_up and ts(now) - first >= self.settings.give_up_after:
            return DeliveryOutcome(row.id, DEAD, attempts, None, redact(f"gave up after {attempts} tries: {error}"),
                                   first)
        wait = backoff(attempts, self.settings.retry_initial, self.settings.retry_max)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return DeliveryOutcome(row.id, RETRYING, attempts, ts(now) + wait, redact(error), first)
