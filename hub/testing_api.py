"""The testing kit's public test API: what a connector's tests read and do on a hub made by `make_hub`, so they
never touch `hub.store` (plugins must not, and its methods change with the core).

Plain functions taking the hub, re-exported by `hub.testing`: `deliveries`, `pauses`, `problems`, `events`
read; `resume` ends a pause; `deliver`, `crash_after_effect` and `redeliver` run the real dispatcher for one
event and one plugin; `post_webhook` posts a request through the real webhook receiver. The clock is the
`clock` fixture (`hub.testing.FakeClock`): `clock.advance(seconds)` or `clock.advance(minutes=5)`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.app import Hub
from hub.events import Event

__all__ = [
    "Delivery",
    "Pause",
    "Problem",
    "SimulatedCrash",
    "WebhookResult",
    "crash_after_effect",
    "deliver",
    "deliveries",
    "events",
    "pauses",
    "post_webhook",
    "problems",
    "redeliver",
    "resume",
]

TEST_SOURCE = "testing"
"""The source the kit's `deliver` records its events under (a test's events never pass for a tool's)."""


def _when(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


@dataclass(frozen=True)
class Delivery:
    """One delivery of one event to one plugin, as a test reads it: its state (pending, retrying, done, dead,
    skipped), tries so far, when the next try is due and the last error's text."""

    id: int
    branch: str
    plugin: str
    kind: str
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    event_id: str
    key: str

    @property
    def done(self) -> bool:
        """The plugin's hook returned and its outcome was committed."""
        return self.state == "done"


@dataclass(frozen=True)
class Pause:
    """A plugin paused for a branch after its credentials were refused (PluginAuthFailed): why, since when,
    and the command staff are told to run."""

    branch: str
    plugin: str
    reason: str
    since: datetime
    fix: str | None


@dataclass(frozen=True)
class Problem:
    """A record a source could not read (`hub.report_problem`), as `hub status` shows it."""

    branch: str
    plugin: str
    ref: str
    field: str
    message: str


@dataclass(frozen=True)
class WebhookResult:
    """What the receiver answered a posted request, and the events it stored because of it (oldest first)."""

    status: int
    body: bytes
    stored: list[Event]


class SimulatedCrash(Exception):
    """Raised inside the dispatcher's commit by `crash_after_effect`: the transaction rolls back as a crash's."""


# --- reading -------------------------------------------------------------------------------------------------

def deliveries(hub: Hub, *, branch: str | None = None, plugin: str | None = None, kind: str | None = None,
               state: str | None = None, event: Event | str | None = None) -> list[Delivery]:
    """The deliveries matching every filter given, oldest first: read them instead of the store's tables."""
    event_id = event.id if isinstance(event, Event) else event
    rows = hub.store.list_deliveries(states=(state,) if state else (), branch=branch, plugin=plugin,
                                     limit=1_000_000)
    return [Delivery(id=r.id, branch=r.branch, plugin=r.plugin, kind=r.kind, state=r.state, attempts=r.attempts,
                     next_attempt_at=_when(r.next_attempt_at) or datetime.min.replace(tzinfo=UTC),
                     last_error=r.last_error, event_id=r.event_id, key=f"{r.event_id}:{r.plugin}")
            for r in sorted(rows, key=lambda r: r.id)
            if (kind is None or r.kind == kind) and (event_id is None or r.event_id == event_id)]


def pauses(hub: Hub, *, branch: str | None = None) -> dict[tuple[str, str], Pause]:
    """Every paused (branch, plugin), with why: a 401 must land here, and nothing else should."""
    return {key: Pause(row.branch, row.plugin, row.reason, _when(row.since) or datetime.min.replace(tzinfo=UTC),
                       row.fix)
            for key, row in hub.store.pause_details().items() if branch is None or key[0] == branch}


def problems(hub: Hub, *, branch: str | None = None, plugin: str | None = None) -> list[Problem]:
    """The input problems sources reported (`hub.report_problem`) and have not resolved."""
    return [Problem(r.branch, r.plugin, r.ref, r.field, r.message) for r in hub.store.list_problems(branch)
            if plugin is None or r.plugin == plugin]


def events(hub: Hub, *, branch: str | None = None, kind: str | None = None) -> list[Event]:
    """The events the hub stored (from polls, webhooks, the kit's `deliver`), oldest first, as stored (the log
    keeps ids, not a person's details)."""
    rows = hub.store.list_events(branch=branch, kind=kind, limit=1_000_000)
    return [Event.model_validate_json(row.body) for row in sorted(rows, key=lambda r: r.seq)]


def resume(hub: Hub, branch: str, plugin: str) -> bool:
    """End a plugin's pause, as `hub retry` does once credentials are fixed; True when it was paused."""
    return hub.store.resume(branch, plugin)


# --- delivering through the real dispatcher ------------------------------------------------------------------

def _store_for(hub: Hub, event: Event, branch: str, plugin: str) -> None:
    """Record the event with one pending delivery, to `plugin` alone (a no-op when it is already stored); a
    person with a hub id the hub does not know yet is saved first, as ingest would have (plugins read them)."""
    from hub.identity import email_key, phone_key

    person = event.candidate
    with hub.store.transaction():
        if person is not None and person.id and hub.store.get_entity("candidates", person.id) is None:
            hub.store.save_candidate(branch, person.id, person.model_dump(mode="json", exclude_none=True),
                                     email_key(person.email), phone_key(person.phone), hub.clock())
        hub.store.insert_event(event_id=event.id, branch=branch, kind=event.kind.value, source=TEST_SOURCE,
                               source_id=event.source_id, occurred_at=event.occurred_at,
                               candidate_id=event.candidate_id,
                               session_id=event.session.id if event.session else None,
                               body=event.model_dump_json(), sinks=[plugin], now=hub.clock())


def _one(hub: Hub, event_id: str, branch: str, plugin: str) -> Delivery:
    found = deliveries(hub, branch=branch, plugin=plugin, event=event_id)
    if not found:
        raise LookupError(f"no delivery of event {event_id} to {plugin!r} in branch {branch!r}")
    return found[-1]


def deliver(hub: Hub, event: Event, *, plugin: str, branch: str = "conformance") -> Delivery:
    """Store `event` with one delivery to `plugin` and run the dispatcher for that lane (the hook, the failure
    taxonomy, the commit), as the daemon would; returns the delivery after that try (other deliveries of the
    lane that are due run too). Delivering the same event again tries its open delivery again, if it is due."""
    _store_for(hub, event, branch, plugin)
    hub.dispatcher.run_due(branch=branch, plugin=plugin)
    return _one(hub, event.id, branch, plugin)


class _CommitFails:
    """The dispatcher's store, but recording an outcome raises: the hook ran, its transaction rolls back."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def finish_deliveries(self, *args: Any, **kwargs: Any) -> None:
        raise SimulatedCrash("crash between the side effect and its commit (simulated by the testing kit)")


@contextmanager
def _crashing_commits(hub: Hub) -> Iterator[None]:
    real = hub.dispatcher.store
    hub.dispatcher.store = _CommitFails(real)
    try:
        yield
    finally:
        hub.dispatcher.store = real


def crash_after_effect(hub: Hub, event: Event, *, plugin: str, branch: str = "conformance") -> Delivery:
    """Deliver `event` to `plugin` but crash before its outcome is committed: the hook ran (its side effect
    happened in the fake, and what it committed with `hub.checkpoint()` stays), then the transaction holding the
    delivery's outcome and its other state writes rolled back. The delivery is still open, under the same key:
    `redeliver` it and check the effect happened once."""
    _store_for(hub, event, branch, plugin)
    with _crashing_commits(hub), suppress(SimulatedCrash):
        hub.dispatcher.run_due(branch=branch, plugin=plugin)
    return _one(hub, event.id, branch, plugin)


def redeliver(hub: Hub, delivery: Delivery) -> Delivery:
    """Run the dispatcher for the delivery's lane again (as after a restart) and return it after that try; it
    runs only when due (move the clock past `next_attempt_at` for one that is retrying)."""
    hub.dispatcher.run_due(branch=delivery.branch, plugin=delivery.plugin)
    return _one(hub, delivery.event_id, delivery.branch, delivery.plugin)


# --- webhooks --------------------------------------------------------------------------------------------------

def post_webhook(hub: Hub, plugin: str, body: bytes, headers: Mapping[str, str] | None = None, *,
                 branch: str = "conformance", path: str = "", method: str = "POST",
                 query: Mapping[str, str] | None = None) -> WebhookResult:
    """Send one request to `/webhooks/<branch>/<plugin><path>` through the hub's real receiver (hub.webhooks:
    size limit, the plugin's handler, the commit before the answer); returns the status, the body and the
    events stored because of it. Sign `body` as the service would (or not, to test a refusal)."""
    from starlette.testclient import TestClient

    from hub.webhooks import build_app

    before = {row.seq for row in hub.store.list_events(branch=branch, limit=1_000_000)}
    client = TestClient(build_app(hub), raise_server_exceptions=False)
    try:
        reply = client.request(method, f"/webhooks/{branch}/{plugin}{path}", content=body,
                               headers=dict(headers or {}), params=dict(query or {}))
    finally:
        client.close()
    rows = [row for row in hub.store.list_events(branch=branch, limit=1_000_000) if row.seq not in before]
    return WebhookResult(status=reply.status_code, body=reply.content,
                         stored=[Event.model_validate_json(row.body) for row in sorted(rows, key=lambda r: r.seq)])
