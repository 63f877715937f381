"""The conformance suite has teeth: a connector that does nothing, swallows a 401, repeats its effect after a
crash or takes an unsigned webhook fails its checks, with a message naming what is wrong (issue 16).

The checks run programmatically (hub.conformance) on a suite instance, as ConnectorConformance's tests do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import hub_example.plugin as example
from hub import conformance, hookimpl
from hub.app import Hub
from hub.context import HubContext
from hub.events import Event, EventKind
from hub.sandbox import serve
from hub.sources import WebhookReply, WebhookRequest, WebhookRoute
from hub.testing import (
    ConnectorConformance,
    FakeClock,
    crash_after_effect,
    deliver,
    deliveries,
    events,
    make_candidate,
    make_event,
    pauses,
    post_webhook,
    redeliver,
    resume,
)
from hub_example.sandbox import CarnetSandbox

TOKEN = "t0ken"


class ExampleSuite(ConnectorConformance):
    """The example connector's suite, as tests/plugins/example runs it (not collected here: no Test prefix)."""

    plugin_name = "example"
    plugin = example

    def __init__(self, sandbox: CarnetSandbox) -> None:
        self.sandbox = sandbox

    def effect_snapshot(self, hub: Hub) -> Any:
        return [len(entries) for entries in self.sandbox.journal.values()]


@pytest.fixture
def carnet() -> Iterator[tuple[CarnetSandbox, str]]:
    sandbox = CarnetSandbox()
    with serve({"example": sandbox}) as urls:
        yield sandbox, urls["example"]


@pytest.fixture
def example_hub(make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object],
                carnet: tuple[CarnetSandbox, str]) -> Hub:
    register_plugin("example", example)
    return make_hub({"conformance": {"plugins": ["example"], "example": {"url": carnet[1]}}},
                    environ={"HUB_CONFORMANCE_EXAMPLE_TOKEN": TOKEN})


@pytest.fixture
def suite(carnet: tuple[CarnetSandbox, str]) -> ExampleSuite:
    return ExampleSuite(carnet[0])


def test_the_example_connector_passes_every_check(suite: ExampleSuite, example_hub: Hub) -> None:
    conformance.check_every_kind_changes_the_fake(suite, example_hub)
    conformance.check_redelivery_after_crash(suite, example_hub)
    conformance.check_error_mapping(suite, example_hub)
    conformance.check_bad_signature_refused(suite, example_hub)


def test_a_no_op_sink_fails_naming_the_event_kind(suite: ExampleSuite, example_hub: Hub,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    real = example._write_journal

    def write_journal(hub: HubContext, event: Event, **extra: Any) -> None:
        if event.kind is not EventKind.SESSION_BOOKED:  # its bookings go nowhere, all else works
            real(hub, event, **extra)

    monkeypatch.setattr(example, "_write_journal", write_journal)
    with pytest.raises(AssertionError, match="delivering session_booked changed nothing in the fake"):
        conformance.check_every_kind_changes_the_fake(suite, example_hub)


def test_a_connector_with_no_effect_at_all_fails_on_its_first_kind(suite: ExampleSuite, example_hub: Hub,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(example, "_write_journal", lambda hub, event, **extra: None)
    with pytest.raises(AssertionError, match="example: delivering candidate_registered changed nothing"):
        conformance.check_every_kind_changes_the_fake(suite, example_hub)


def test_a_connector_declaring_no_effect_snapshot_is_told_to(carnet: tuple[CarnetSandbox, str],
                                                              example_hub: Hub) -> None:
    class Silent(ConnectorConformance):
        plugin_name = "example"
        plugin = example

    with pytest.raises(AssertionError, match="declares no effect_snapshot"):
        conformance.check_every_kind_changes_the_fake(Silent(), example_hub)


def test_a_connector_swallowing_401_fails_the_error_mapping(suite: ExampleSuite, example_hub: Hub,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    real = example.check_response

    def lenient(reply: httpx.Response, **kw: Any) -> httpx.Response:
        return reply if reply.status_code == 401 else real(reply, **kw)  # never PluginAuthFailed

    monkeypatch.setattr(example, "check_response", lenient)
    with pytest.raises(AssertionError, match=r"candidate_registered answered 401 .* should be auth failed"):
        conformance.check_error_mapping(suite, example_hub)
    assert not pauses(example_hub)


def test_a_connector_ignoring_retry_after_fails_the_error_mapping(suite: ExampleSuite, example_hub: Hub,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.errors import PluginNotReady

    real = example.check_response

    def hasty(reply: httpx.Response, **kw: Any) -> httpx.Response:
        if reply.status_code == 429:
            raise PluginNotReady("Carnet : trop de requêtes")  # Retry-After dropped
        return real(reply, **kw)

    monkeypatch.setattr(example, "check_response", hasty)
    with pytest.raises(AssertionError, match="answered 429 with Retry-After: 600"):
        conformance.check_error_mapping(suite, example_hub)


# --- a connector of the test's own, for the crash and the webhook checks --------------------------------------

class Tally:
    """A sink whose fake is a list; `careful` sinks look their key up in committed state before adding."""

    def __init__(self, careful: bool) -> None:
        self.careful = careful
        self.fake: list[str] = []

    @hookimpl
    def candidate_registered(self, hub: HubContext, event: Event) -> None:
        if self.careful and hub.state_get(f"sent:{hub.delivery_key}"):
            return
        if not self.careful:
            hub.state_put(f"sent:{hub.delivery_key}", True)  # lost with the crash: not enough
        self.fake.append(event.id)
        if self.careful:
            hub.state_put(f"sent:{hub.delivery_key}", True)
            hub.checkpoint()  # recorded durably before the delivery's own commit

    @hookimpl
    def register_webhooks(self, hub: HubContext, register: Callable[[WebhookRoute], None]) -> None:
        def handle(request: WebhookRequest) -> WebhookReply:
            if self.careful and request.headers.get("x-tally-signature") != "good":
                return WebhookReply(status=401, body=b"bad signature")
            event = make_event(EventKind.CANDIDATE_REGISTERED, candidate=make_candidate(),
                               source_id=request.body.decode())
            return WebhookReply(status=200, body=b"ok", events=[event])
        register(WebhookRoute(handle))


class TallySuite(ConnectorConformance):
    plugin_name = "tally"
    first_party = False

    def __init__(self, plugin: Tally) -> None:
        self.plugin = plugin

    def effect_snapshot(self, hub: Hub) -> Any:
        assert isinstance(self.plugin, Tally)
        return list(self.plugin.fake)


def tally_hub(make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object],
              careful: bool) -> tuple[TallySuite, Hub]:
    plugin = Tally(careful)
    register_plugin("tally", plugin)
    return TallySuite(plugin), make_hub({"conformance": {"plugins": ["tally"]}})


@pytest.mark.parametrize("careful", [True, False])
def test_an_effect_repeated_after_a_crash_fails(make_hub: Callable[..., Hub],
                                                register_plugin: Callable[[str, object], object],
                                                careful: bool) -> None:
    suite, hub = tally_hub(make_hub, register_plugin, careful)
    if careful:
        conformance.check_redelivery_after_crash(suite, hub)
        return
    with pytest.raises(AssertionError, match="candidate_registered re-delivered under the same key after a crash"):
        conformance.check_redelivery_after_crash(suite, hub)


@pytest.mark.parametrize("careful", [True, False])
def test_an_unsigned_webhook_stored_fails(make_hub: Callable[..., Hub],
                                          register_plugin: Callable[[str, object], object], careful: bool) -> None:
    suite, hub = tally_hub(make_hub, register_plugin, careful)
    if careful:
        conformance.check_bad_signature_refused(suite, hub)
        return
    with pytest.raises(AssertionError, match="answered 200 to a request with a bad signature"):
        conformance.check_bad_signature_refused(suite, hub)


# --- the public test API, on its own ---------------------------------------------------------------------------

def test_the_test_api_reads_deliveries_pauses_and_events_without_the_store(
        suite: ExampleSuite, example_hub: Hub, carnet: tuple[CarnetSandbox, str], clock: FakeClock) -> None:
    sandbox, _ = carnet
    booked = make_event(EventKind.SESSION_BOOKED, occurred_at=clock())
    sandbox.fail_next_request(429, retry_after=120)
    first = deliver(example_hub, booked, plugin="example")
    assert (first.state, first.kind, first.attempts) == ("retrying", "session_booked", 1)
    assert (first.next_attempt_at - clock()).total_seconds() >= 120 and "Carnet" in (first.last_error or "")
    assert redeliver(example_hub, first).state == "retrying"  # not due yet: nothing ran
    clock.advance(minutes=2, seconds=1)
    assert redeliver(example_hub, first).done

    sandbox.fail_next_request(401)
    registered = make_event(EventKind.CANDIDATE_REGISTERED, occurred_at=clock())
    waiting = deliver(example_hub, registered, plugin="example")
    assert not waiting.done and ("conformance", "example") in pauses(example_hub)
    assert resume(example_hub, "conformance", "example") and not pauses(example_hub)
    assert redeliver(example_hub, waiting).done
    assert [d.kind for d in deliveries(example_hub, plugin="example", state="done")] == [
        "session_booked", "candidate_registered"]
    assert [e.kind for e in events(example_hub, branch="conformance")] == [
        EventKind.SESSION_BOOKED, EventKind.CANDIDATE_REGISTERED]


def test_crash_after_effect_leaves_the_delivery_open_under_the_same_key(
        suite: ExampleSuite, example_hub: Hub, carnet: tuple[CarnetSandbox, str]) -> None:
    sandbox, _ = carnet
    event = make_event(EventKind.CANDIDATE_REGISTERED)
    crashed = crash_after_effect(example_hub, event, plugin="example")
    assert (crashed.state, crashed.attempts) == ("pending", 0) and len(sandbox.journal[TOKEN]) == 1
    again = redeliver(example_hub, crashed)
    assert again.done and again.key == crashed.key == f"{event.id}:example"
    assert len(sandbox.journal[TOKEN]) == 1  # Carnet honoured the Idempotency-Key


def test_post_webhook_goes_through_the_real_receiver(make_hub: Callable[..., Hub],
                                                     register_plugin: Callable[[str, object], object]) -> None:
    _, hub = tally_hub(make_hub, register_plugin, careful=True)
    refused = post_webhook(hub, "tally", b"one", {"x-tally-signature": "forged"})
    assert (refused.status, refused.stored) == (401, [])
    accepted = post_webhook(hub, "tally", b"one", {"x-tally-signature": "good"})
    assert accepted.status == 200 and accepted.body == b"ok"
    assert [e.kind for e in accepted.stored] == [EventKind.CANDIDATE_REGISTERED]
    assert post_webhook(hub, "tally", b"x" * 2_000_000, {"x-tally-signature": "good"}).status == 413
    assert post_webhook(hub, "nobody", b"one").status == 404


FIRST_PARTY_SANDBOXES = ["calendly", "example", "gmail", "gsheets", "outlook"]


@pytest.mark.parametrize("name", FIRST_PARTY_SANDBOXES)
def test_every_first_party_sandbox_fails_its_next_request_when_asked(name: str) -> None:
    """The protocol the suite's error mapping relies on: `fail_next_request(status, retry_after=)` answers the
    next API request with that status and Retry-After, once."""
    import importlib

    from hub.plugins import PluginRegistry

    registry = PluginRegistry()
    registry.add(name, importlib.import_module(f"hub_{name}.plugin"))
    sandbox = registry.sandboxes()[name]
    path = (sandbox.failing_paths or ("/",))[0] + "anything"
    with serve({name: sandbox}) as urls:
        sandbox.fail_next_request(429, retry_after=7)
        first = httpx.get(urls[name] + path, timeout=5)
        assert (first.status_code, first.headers.get("retry-after")) == (429, "7")
        sandbox.fail_next_request(401)
        assert httpx.get(urls[name] + path, timeout=5).status_code == 401
        assert httpx.get(urls[name] + path, timeout=5).status_code not in (401, 429)  # once only
