"""The conformance suite's checks with teeth, as functions: `hub.testing.ConnectorConformance` runs them as
tests, and a test can run one directly and expect its AssertionError (tests/test_conformance_teeth.py).

Each takes the suite (the connector's `ConnectorConformance` subclass: its plugin, `sample_events`,
`effect_snapshot`, `fail_next`, `not_applicable`) and the hub its `connector_hub` fixture built, and raises
AssertionError with a message naming the plugin and the event kind when the connector does not conform.
Events go through the real dispatcher (hub.testing_api): the hook, the failure taxonomy, the commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar, Protocol

from hub.app import Hub
from hub.events import Event, new_id
from hub.hookspecs import EVENT_HOOKS
from hub.plugins import new_manager
from hub.testing_api import (
    crash_after_effect,
    deliver,
    events,
    pauses,
    post_webhook,
    redeliver,
    resume,
)

__all__ = [
    "BRANCH",
    "ERROR_MAPPING",
    "Suite",
    "check_bad_signature_refused",
    "check_error_mapping",
    "check_every_kind_changes_the_fake",
    "check_redelivery_after_crash",
    "effect_kinds",
    "handled_kinds",
]

BRANCH = "conformance"
"""The branch every `connector_hub` has."""

RETRY_AFTER = 600
"""Seconds of Retry-After the fake's 429 carries: the delivery's next try must be at least this far away."""

ERROR_MAPPING: tuple[tuple[int, str], ...] = ((401, "auth failed"), (400, "rejected"), (503, "not ready"),
                                              (429, "not ready"))
"""What each answer of the service must become (STYLE §4; hub.api.check_response does it for httpx). The 429
comes last: a connector honouring Retry-After may, rightly, make no request at all until it has passed."""


class Suite(Protocol):
    """What the checks need from a connector's conformance class (ConnectorConformance provides it all)."""

    plugin_name: str
    plugin: object
    not_applicable: ClassVar[Mapping[str, str]]

    def sample_events(self, hub: Hub) -> list[Event]: ...

    def effect_snapshot(self, hub: Hub) -> Any: ...

    def declares_effects(self) -> bool: ...

    def fail_next(self, hub: Hub, status: int, retry_after: int | None = None) -> None: ...


def handled_kinds(plugin: object, name: str = "plugin") -> list[str]:
    """The event kinds a plugin implements a hook for, in the hookspecs' order."""
    pm = new_manager()
    pm.register(plugin, name=name)
    hooks = {caller.name for caller in pm.get_hookcallers(plugin) or []}
    return [kind for kind in EVENT_HOOKS if kind in hooks]


def effect_kinds(suite: Suite) -> list[str]:
    """The kinds whose delivery must change the fake: every handled kind not marked `effects:<kind>`."""
    return [kind for kind in handled_kinds(suite.plugin, suite.plugin_name)
            if f"effects:{kind}" not in suite.not_applicable]


def _with_hub_ids(event: Event) -> Event:
    """The event as the hub hands it over: its person and session carry the hub's ids (ingest assigns them)."""
    update: dict[str, Any] = {}
    candidate = event.candidate
    if candidate is not None and not candidate.id:
        candidate = update["candidate"] = candidate.model_copy(update={"id": new_id("cnd")})
    cid = candidate.id if candidate is not None else None
    for part in ("session", "outcome", "message"):
        value = getattr(event, part)
        if value is None:
            continue
        fill = {"candidate_id": value.candidate_id or cid}
        if part == "session" and not value.id:
            fill["id"] = new_id("ses")
        update[part] = value.model_copy(update=fill)
    return event.model_copy(update=update)


def _samples(suite: Suite, hub: Hub) -> dict[str, Event]:
    """One fresh sample event per kind (a new person each call, so a failed try never holds the next back), with
    the hub's ids filled in where the sample has none."""
    return {event.kind.value: _with_hub_ids(event) for event in suite.sample_events(hub)}


def _require_snapshot(suite: Suite, kinds: list[str]) -> None:
    assert suite.declares_effects(), (
        f"{suite.plugin_name} handles {', '.join(kinds)} but its conformance class declares no "
        "effect_snapshot(hub): return what the fake service holds now (rows, sent mails, journal lines), so the "
        "suite can check each event changes it once; or mark a kind not applicable with "
        "not_applicable = {'effects:<kind>': 'why'}")


def check_every_kind_changes_the_fake(suite: Suite, hub: Hub) -> None:
    """Each event kind the connector handles, delivered once, is done and changes `effect_snapshot`: a hook that
    returns without calling its service (a no-op send) fails here, named by its kind."""
    kinds = effect_kinds(suite)
    if not kinds:
        return
    _require_snapshot(suite, kinds)
    samples = _samples(suite, hub)
    for kind in kinds:
        assert kind in samples, f"{suite.plugin_name}: sample_events() gives no {kind} event to deliver"
        before = suite.effect_snapshot(hub)
        delivery = deliver(hub, samples[kind], plugin=suite.plugin_name, branch=BRANCH)
        assert delivery.done, (f"{suite.plugin_name}: the sample {kind} was not delivered: {delivery.state}, "
                               f"{delivery.last_error}")
        assert suite.effect_snapshot(hub) != before, (
            f"{suite.plugin_name}: delivering {kind} changed nothing in the fake (effect_snapshot is the same "
            "before and after): the hook has no observable effect")


def check_redelivery_after_crash(suite: Suite, hub: Hub) -> None:
    """Each handled kind, delivered, then the process "crashes" before the outcome is committed (its
    uncommitted state writes lost), then delivered again under the same key: the second try is done and
    changes nothing more in the fake."""
    kinds = effect_kinds(suite)
    if not kinds:
        return
    _require_snapshot(suite, kinds)
    samples = _samples(suite, hub)
    for kind in kinds:
        before = suite.effect_snapshot(hub)
        crashed = crash_after_effect(hub, samples[kind], plugin=suite.plugin_name, branch=BRANCH)
        assert not crashed.done, f"{suite.plugin_name}: {kind}: the simulated crash did not stop the commit"
        once = suite.effect_snapshot(hub)
        again = redeliver(hub, crashed)
        assert again.key == crashed.key
        assert again.done, f"{suite.plugin_name}: {kind} re-delivered after a crash: {again.state}, {again.last_error}"
        final = suite.effect_snapshot(hub)
        if once != before:  # the effect happened before the crash: the re-delivery must not repeat it
            assert final == once, (
                f"{suite.plugin_name}: {kind} re-delivered under the same key after a crash changed the fake again: "
                "use hub.delivery_key (an idempotency key, a lookup before sending, hub.checkpoint())")
        else:  # an effect made from committed state (a poller writing it): it must happen now
            assert final != before, (
                f"{suite.plugin_name}: {kind} was lost: neither the try that crashed nor its re-delivery changed "
                "the fake")


def check_error_mapping(suite: Suite, hub: Hub) -> None:
    """The fake answers 429 (with Retry-After), 401, 400 and 503 to a delivery's request: the delivery is
    retrying no sooner than Retry-After / the plugin is paused / dead at once / retrying."""
    kinds = effect_kinds(suite)
    if not kinds:
        return
    kind = kinds[0]
    name = suite.plugin_name
    for status, meaning in ERROR_MAPPING:
        event = _samples(suite, hub)[kind]
        suite.fail_next(hub, status, RETRY_AFTER if status == 429 else None)
        now = hub.clock()
        delivery = deliver(hub, event, plugin=name, branch=BRANCH)
        said = f"{name}: {kind} answered {status} by the service should be {meaning}, but the delivery is " \
               f"{delivery.state} ({delivery.last_error})"
        paused = (BRANCH, name) in pauses(hub)
        if meaning == "auth failed":
            assert paused and not delivery.done, said + ", and the plugin is not paused (raise PluginAuthFailed)"
            resume(hub, BRANCH, name)  # as `hub retry` after new credentials: the delivery that waited goes
            after = redeliver(hub, delivery)
            assert after.done, f"{name}: {kind} paused on 401, then resumed: {after.state}, {after.last_error}"
            continue
        assert not paused, said + ", and the plugin was paused"
        if meaning == "rejected":
            assert delivery.state == "dead", said + " (raise DeliveryRejected)"
            continue
        assert delivery.state == "retrying", said + " (raise PluginNotReady)"
        if status == 429:
            assert delivery.next_attempt_at >= now + timedelta(seconds=RETRY_AFTER), (
                f"{name}: {kind} answered 429 with Retry-After: {RETRY_AFTER}, but the next try is at "
                f"{delivery.next_attempt_at:%H:%M:%S} ({now:%H:%M:%S} now): pass retry_after to PluginNotReady")


def check_bad_signature_refused(suite: Suite, hub: Hub, body: bytes = b'{"event": "conformance"}') -> None:
    """Each webhook route the connector registers refuses a request without a valid signature (4xx) and stores
    no event for it."""
    contributions = hub.lane_contributions((BRANCH, suite.plugin_name))
    assert contributions is not None, f"{suite.plugin_name}: its setup failed in the conformance branch"
    for route in contributions.routes:
        method = "POST" if "POST" in route.methods else route.methods[0]
        before = len(events(hub, branch=BRANCH))
        result = post_webhook(hub, suite.plugin_name, body, {"content-type": "application/json",
                                                             "x-signature": "forged"},
                              branch=BRANCH, path=route.path, method=method)
        where = f"{suite.plugin_name}: webhook {method} /webhooks/{BRANCH}/{suite.plugin_name}{route.path}"
        assert 400 <= result.status < 500, f"{where} answered {result.status} to a request with a bad signature"
        assert not result.stored and len(events(hub, branch=BRANCH)) == before, (
            f"{where} stored events from a request with a bad signature")
