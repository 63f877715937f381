"""The testing kit for connector authors, loaded as a pytest plugin (entry point `pytest11`).

Fixtures: `clock` (a clock tests move), `plugin_registry` + `register_plugin` (no entry points loaded; undone
after the test), `make_hub` (a hub on a temporary store with the branches you give). Factories build valid
events. `ConnectorConformance` is the test class every connector runs (see docs/writing-a-plugin.md).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, SecretStr

from hub import conformance
from hub.app import Hub
from hub.config import load_config
from hub.config.files import to_toml, write_config  # noqa: F401 (re-exported for connector authors)
from hub.events import (
    Bounce,
    Candidate,
    ContactPreference,
    Event,
    EventKind,
    Message,
    Outcome,
    OutcomeCategory,
    Session,
    new_id,
)
from hub.hookspecs import EVENT_HOOKS, hookimpl
from hub.plugins import ENTRY_POINT_GROUP, PluginRegistry, new_manager
from hub.sandbox import Sandbox
from hub.testing_api import (
    Delivery,
    Pause,
    Problem,
    SimulatedCrash,
    WebhookResult,
    crash_after_effect,
    deliver,
    deliveries,
    events,
    pauses,
    post_webhook,
    problems,
    redeliver,
    resume,
)

__all__ = [
    "CHANNEL_HOOKS",
    "T0",
    "ConnectorConformance",
    "Delivery",
    "FakeClock",
    "Pause",
    "Problem",
    "RecordingChannel",
    "RecordingSink",
    "SimulatedCrash",
    "WebhookResult",
    "build_hub",
    "clock",
    "crash_after_effect",
    "deliver",
    "deliveries",
    "events",
    "make_candidate",
    "make_event",
    "make_hub",
    "make_message",
    "make_session",
    "pauses",
    "plugin_registry",
    "post_webhook",
    "problems",
    "redeliver",
    "register_plugin",
    "resume",
]

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
"""Where every FakeClock starts (a Monday, 09:00 UTC): fixed, so schedules and expected dates are the same in
every run."""


class FakeClock:
    """A clock that only moves when told: deterministic schedules and retries, no sleeping in tests."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 0, **kw: float) -> datetime:
        """Move the clock forward by `seconds` plus any `timedelta` keywords (`days=3`, `hours=2`, `minutes=5`)
        and return the new time; the hub sees it at its next read, no sleeping."""
        self.now += timedelta(seconds=seconds, **kw)
        return self.now


# --- factories ---------------------------------------------------------------------------------------------

def make_candidate(**kw: Any) -> Candidate:
    """A candidate as a source reports one (own `ref`, fictional name, a unique e-mail, a French mobile); any
    field can be overridden by keyword. No hub `id`: ingest assigns it."""
    data: dict[str, Any] = {"ref": new_id("ref"), "first_name": "Aïcha", "last_name": "Benali",
                            "email": f"{new_id('p')}@example.org", "phone": "+33 6 12 34 56 78"}
    return Candidate(**{**data, **kw})


def make_session(start: datetime | None = None, **kw: Any) -> Session:
    """A booked three-hour workshop session, five days after T0 unless `start` is given; keywords override
    any field."""
    start = start or T0 + timedelta(days=5)
    return Session(**{"ref": new_id("sref"), "programme": "atelier", "start": start,
                      "end": start + timedelta(hours=3), **kw})


def make_event(kind: EventKind | str, *, candidate: Candidate | None = None, session: Session | None = None,
               outcome: Outcome | None = None, occurred_at: datetime | None = None, **kw: Any) -> Event:
    """A valid event of `kind`, with the payload parts that kind requires made up when not given (a candidate,
    a session, an outcome, a due, a message, a bounce or a contact preference); other keywords go to `Event`."""
    kind = EventKind(kind)
    when = occurred_at or T0
    if kind in (EventKind.CANDIDATE_REGISTERED, EventKind.CANDIDATE_NEEDS_CALL, EventKind.CANDIDATE_FORGOTTEN,
                EventKind.CANDIDATE_OPTED_OUT, EventKind.CANDIDATE_OPTED_IN):
        candidate = candidate or make_candidate()
    if kind in (EventKind.CANDIDATE_OPTED_OUT, EventKind.CANDIDATE_OPTED_IN):
        kw.setdefault("preference", ContactPreference(medium="email", via="staff"))
    if kind in (EventKind.SESSION_BOOKED, EventKind.SESSION_CANCELLED, EventKind.SESSION_REMINDER_DUE,
                EventKind.FOLLOWUP_DUE):
        session = session or make_session()
        candidate = candidate or make_candidate()
    if kind is EventKind.OUTCOME_RECORDED:
        outcome = outcome or Outcome(category=OutcomeCategory.PRESENT, observed_at=when)
        candidate = candidate or make_candidate()
    if kind in (EventKind.SESSION_REMINDER_DUE, EventKind.FOLLOWUP_DUE):
        kw.setdefault("due", {"offset": "48h", "due_at": when})
    if kind is EventKind.MESSAGE_DUE:
        candidate = candidate or make_candidate()
        kw.setdefault("message", make_message(candidate))
    if kind is EventKind.MESSAGE_BOUNCED:
        kw.setdefault("bounce", Bounce(message_id=new_id("msg"), address=candidate.email if candidate else None,
                                       reason="550 5.1.1 user unknown"))
    return Event(kind=kind, occurred_at=when, source_id=kw.pop("source_id", new_id("src")), candidate=candidate,
                 session=session, outcome=outcome, **kw)


def make_message(candidate: Candidate | None = None, **kw: Any) -> Message:
    """A rendered message to a candidate, as the core hands it to a channel."""
    person = candidate or make_candidate()
    values: dict[str, Any] = {
        "id": new_id("msg"), "purpose": "booking_confirmed", "to": person.email or "personne@exemple.invalid",
        "to_name": person.display_name, "candidate_id": person.id,
        "subject": "Votre rendez-vous à La Cravate Solidaire est confirmé",
        "text": f"Bonjour {person.first_name},\n\nVotre rendez-vous est confirmé : mardi 8 décembre à 14 h 00.\n",
        "html": f"<p>Bonjour {person.first_name},</p>"
                "<p>Votre rendez-vous est confirmé : mardi 8 décembre à 14 h 00.</p>",
        "from_name": "La Cravate Solidaire Lyon", **kw}
    return Message(**values)


# --- a sink that records what it was asked to do -----------------------------------------------------------

class RecordingSink:
    """A plugin implementing every event hook but the channels' (`message_due`: see RecordingChannel); records
    effects by idempotency key (so a repeat is visible).

    `fail` maps an event kind to an exception (or a callable returning one) to raise instead.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Event]] = []
        self.effects: dict[str, Event] = {}
        self.fail: dict[str, BaseException | Callable[[], BaseException | None]] = {}

    def _handle(self, hub: Any, kind: str, event: Event) -> None:
        self.calls.append((kind, hub.delivery_key, event))
        failure = self.fail.get(kind)
        if callable(failure) and not isinstance(failure, BaseException):
            failure = failure()
        if failure is not None:
            raise failure
        self.effects.setdefault(hub.delivery_key, event)

    def kinds(self) -> list[str]:
        """The event kinds of every call so far, in order, repeats included (a retry shows twice)."""
        return [kind for kind, _, _ in self.calls]


def _recording_hook(kind: str) -> Callable[[RecordingSink, Any, Event], None]:
    def hook(self: RecordingSink, hub: Any, event: Event) -> None:
        self._handle(hub, kind, event)
    hook.__name__ = hook.__qualname__ = kind
    return hook


class RecordingChannel(RecordingSink):
    """A channel (it implements `message_due` too): records each message it is asked to send, by key."""

    def sent(self) -> list[Message]:
        """The messages sent, one per delivery key (a repeated delivery is not sent twice)."""
        return [e.message for e in self.effects.values() if e.message is not None]


CHANNEL_HOOKS = (EventKind.MESSAGE_DUE.value,)
"""Only channels implement these: a plain sink would otherwise be taken as the branch's mail channel."""

for _kind in EVENT_HOOKS:  # one method per event kind, so a new kind is recorded without editing this file
    setattr(RecordingChannel if _kind in CHANNEL_HOOKS else RecordingSink, _kind, hookimpl(_recording_hook(_kind)))


# --- building a hub in a temporary directory ----------------------------------------------------------------

def build_hub(root: Path, registry: PluginRegistry, branches: dict[str, dict[str, Any]], *,
              hub: dict[str, Any] | None = None, clock: Callable[[], datetime] | None = None,
              environ: dict[str, str] | None = None) -> Hub:
    """A Hub configured from `branches` (branch id -> the branch file's tables) written under `root`, with the
    plugins of `registry` only (no entry points loaded); `hub` is the hub file's tables, `environ` stands for
    the process environment (secrets). The `make_hub` fixture calls it and closes what it built."""
    write_config(root, branches, hub)
    config = load_config(root, registry.settings_models(), environ=environ or {})
    return Hub(config, registry, clock=clock or FakeClock())


@pytest.fixture
def clock() -> FakeClock:
    """The test's FakeClock, starting at T0; `make_hub` gives it to every hub it builds."""
    return FakeClock()


@pytest.fixture
def plugin_registry() -> PluginRegistry:
    """An empty registry: tests choose exactly which plugins exist."""
    return PluginRegistry()


@pytest.fixture
def register_plugin(plugin_registry: PluginRegistry) -> Iterator[Callable[[str, object], object]]:
    """`register_plugin(name, module_or_object)` adds a plugin to the test's registry under `name` (as its entry
    point would) and removes it when the test ends, so tests never leak plugins into each other."""
    added: list[str] = []

    def register(name: str, plugin: object) -> object:
        plugin_registry.add(name, plugin)
        added.append(name)
        return plugin

    yield register
    for name in added:
        plugin_registry.remove(name)


@pytest.fixture
def make_hub(tmp_path: Path, plugin_registry: PluginRegistry, clock: FakeClock) -> Iterator[Callable[..., Hub]]:
    """`make_hub(branches, hub=None, clock=None, environ=None)`: a Hub in the test's temporary directory with
    the registered plugins only (see `build_hub`), on the test's `clock` unless another is given; every hub made
    is closed when the test ends."""
    hubs: list[Hub] = []

    def make(branches: dict[str, dict[str, Any]], **kw: Any) -> Hub:
        kw.setdefault("clock", clock)
        made = build_hub(tmp_path / f"config{len(hubs)}", plugin_registry, branches, **kw)
        hubs.append(made)
        return made

    yield make
    for made in hubs:
        made.close()


# --- the conformance suite ------------------------------------------------------------------------------------

class ConnectorConformance:
    """Subclass in your plugin's tests, set `plugin_name` and `plugin`, and provide a `connector_hub` fixture
    returning a Hub with one branch "conformance" that enables the plugin against its sandbox.

    A connector handling events declares their observable effect with `effect_snapshot(hub)` (what its fake
    service holds now) and lets the suite make the fake fail (`self.sandbox`, or override `fail_next`): the suite
    then checks (hub.conformance) that each event kind it handles changes the fake, that a re-delivery after a
    crash changes nothing more, that 429 / 401 / 400 / 5xx become not ready (after Retry-After) / paused / dead /
    not ready, and that its webhooks refuse a bad signature. Mark what does not apply in `not_applicable`.
    """

    plugin_name: str = ""
    plugin: object = None
    first_party: bool = True
    not_applicable: ClassVar[Mapping[str, str]] = {
        "effects:candidate_forgotten": "an erasure removes what other deliveries left; the connector's erasure "
                                       "tests check it",
    }
    """Checks that do not apply to this connector, with why: `effects:<kind>` (that kind has no effect to
    observe), `effects`, `redelivery`, `error_mapping`, `webhook_signatures`. Extend the default
    (`{**ConnectorConformance.not_applicable, ...}`) to keep its erasure entry."""

    def effect_snapshot(self, hub: Hub) -> Any:
        """What the plugin's effects look like in its fake service now (override it): comparable values, e.g.
        the sandbox's journal lines or sent mails. Required when the plugin handles events."""
        return None

    def declares_effects(self) -> bool:
        """True when the subclass overrides `effect_snapshot` (the suite then has something to observe)."""
        return type(self).effect_snapshot is not ConnectorConformance.effect_snapshot

    def fail_next(self, hub: Hub, status: int, retry_after: int | None = None) -> None:
        """Make the fake answer its next API request with `status` (Retry-After when given). Default: the
        `hub.sandbox.Sandbox` your `connector_hub` fixture stored in `self.sandbox` (its `fail_next_request`);
        override it for a fake that is not a Sandbox (respx routes)."""
        sandbox = getattr(self, "sandbox", None)
        if not isinstance(sandbox, Sandbox):
            pytest.fail(f"{self.plugin_name}: the suite cannot make the fake fail: set self.sandbox to your "
                        "hub.sandbox.Sandbox in connector_hub, or override fail_next(hub, status, retry_after)")
        sandbox.fail_next_request(status, retry_after=retry_after)

    def _unless_not_applicable(self, check: str) -> None:
        if check in self.not_applicable:
            pytest.skip(f"not applicable to {self.plugin_name}: {self.not_applicable[check]}")
        if check != "webhook_signatures" and not conformance.effect_kinds(self):
            pytest.skip(f"not applicable to {self.plugin_name}: it handles no event kind with an effect to observe")

    def sample_events(self, hub: Hub) -> list[Event]:
        """One event of every kind about one person and one session three days ahead of the hub's clock; override
        it to give events your connector needs (a programme it maps, a message for a channel)."""
        candidate = make_candidate()
        session = make_session(start=hub.clock() + timedelta(days=3))
        return [make_event(kind, candidate=candidate, session=session, occurred_at=hub.clock())
                for kind in EVENT_HOOKS]

    def test_entry_point_registered(self) -> None:
        """The plugin is installed under `plugin_name` in the `cravate_hub` entry-point group: the hub finds it."""
        names = {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
        assert self.plugin_name in names, f"no entry point {self.plugin_name!r} in group {ENTRY_POINT_GROUP!r}"
        assert names[self.plugin_name].load() is self.plugin

    def test_hooks_are_known_and_plain(self) -> None:
        """Every hook it implements exists (a misspelt one fails here) and uses no ordering tricks (STYLE §8)."""
        pm = new_manager()
        pm.register(self.plugin, name=self.plugin_name)
        pm.check_pending()
        for hook in pm.get_hookcallers(self.plugin) or []:
            for impl in hook.get_hookimpls():
                assert not (impl.tryfirst or impl.trylast or impl.hookwrapper or impl.wrapper), (
                    f"{hook.name}: order tricks are not allowed (STYLE §8)")

    def test_settings_model_is_strict_and_documented(self) -> None:
        """Its settings model forbids unknown keys (a typo is reported) and describes every field."""
        registry = PluginRegistry()
        registry.add(self.plugin_name, self.plugin)
        model = registry.settings_models()[self.plugin_name]
        if model is None:
            return
        assert issubclass(model, BaseModel)
        assert model.model_config.get("extra") == "forbid", "settings must forbid unknown keys"
        undocumented = [n for n, f in model.model_fields.items() if not f.description]
        assert not undocumented, f"fields without description: {undocumented}"

    def test_secrets_never_shown(self, connector_hub: Hub) -> None:
        """No secret setting's value appears in the settings' repr (logs and error messages use it)."""
        settings = connector_hub.config.branches["conformance"].settings.get(self.plugin_name)
        if settings is None:
            return
        for name, _ in type(settings).model_fields.items():
            value = getattr(settings, name)
            if isinstance(value, SecretStr):
                assert value.get_secret_value() not in repr(settings)

    def test_sandbox_contributed(self) -> None:
        """A first-party plugin ships a sandbox (a fake of its service) for tests and `hub demo`; set
        `first_party = False` in a third-party connector's suite to make it optional."""
        if not self.first_party:
            return
        registry = PluginRegistry()
        registry.add(self.plugin_name, self.plugin)
        assert self.plugin_name in registry.sandboxes(), "first-party plugins ship a sandbox"

    def test_second_poll_adds_nothing(self, connector_hub: Hub) -> None:
        """Polling each of its sources twice in a row stores nothing the second time (cursors and dedupe work)."""
        for plugin, poller in connector_hub.pollers["conformance"]:
            if plugin != self.plugin_name:
                continue
            connector_hub.poll("conformance", plugin, poller)
            assert connector_hub.poll("conformance", plugin, poller) == 0, f"{poller.name}: re-poll added events"

    def test_repeated_delivery_has_one_effect(self, connector_hub: Hub) -> None:
        """Each sample event it handles, delivered twice under the same key, changes `effect_snapshot` once."""
        plugins = connector_hub.branches["conformance"]
        for event in self.sample_events(connector_hub):
            if self.plugin_name not in plugins.sinks_for(event.kind.value):
                continue
            stored = connector_hub.ingest("conformance", "conformance-test", [event])
            for stored_event in stored:
                if self.plugin_name not in plugins.sinks_for(stored_event.kind.value):
                    continue
                ctx = plugins.context(self.plugin_name).for_delivery(f"{stored_event.id}:{self.plugin_name}")
                plugins.deliver(self.plugin_name, stored_event.kind.value, ctx, stored_event)
                once = self.effect_snapshot(connector_hub)
                plugins.deliver(self.plugin_name, stored_event.kind.value, ctx, stored_event)
                assert self.effect_snapshot(connector_hub) == once, f"{stored_event.kind}: repeated effect"

    def test_each_event_kind_changes_the_fake(self, connector_hub: Hub) -> None:
        """Each event kind it implements a hook for, delivered once through the dispatcher, is done and changes
        `effect_snapshot`: a connector whose send does nothing fails here."""
        self._unless_not_applicable("effects")
        conformance.check_every_kind_changes_the_fake(self, connector_hub)

    def test_redelivery_after_a_crash_changes_nothing_more(self, connector_hub: Hub) -> None:
        """A crash between the effect and its commit, then the same delivery again under the same key: done,
        and the fake is as the first try left it."""
        self._unless_not_applicable("redelivery")
        conformance.check_redelivery_after_crash(self, connector_hub)

    def test_service_errors_map_to_the_failure_taxonomy(self, connector_hub: Hub) -> None:
        """The fake's 429 (Retry-After honoured), 401, 400 and 503 become not ready, a pause, a dead letter and
        not ready."""
        self._unless_not_applicable("error_mapping")
        conformance.check_error_mapping(self, connector_hub)

    def test_webhooks_refuse_a_bad_signature(self, connector_hub: Hub) -> None:
        """Each webhook route it registers answers 4xx to an unsigned request and stores nothing."""
        self._unless_not_applicable("webhook_signatures")
        contributions = connector_hub.lane_contributions((conformance.BRANCH, self.plugin_name))
        if contributions is not None and not contributions.routes:
            pytest.skip(f"not applicable to {self.plugin_name}: it registers no webhook in the conformance branch")
        conformance.check_bad_signature_refused(self, connector_hub)
