"""Graph change notifications for the calendar source, against the sandbox and the hub's real webhook receiver
served on loopback: the subscription is created once both addresses pass Graph's validation handshake, a change
makes the calendar source due (nothing is read from the notification), forged notifications are refused, the
subscription is renewed when under a day is left, lifecycle notifications are acted on by the keeper, and a
public address Graph cannot reach becomes a problem for staff while polling goes on."""

from __future__ import annotations

import json
import logging
import sys
import types
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest

import hub_outlook.plugin
from hub.app import Hub
from hub.sandbox import DemoContext
from hub.serving import ServerThread, free_port
from hub.sources import Poller, PollResult
from hub.testing import FakeClock
from hub.webhooks import build_app
from hub_outlook import notifications
from hub_outlook.sandbox import OutlookSandbox, Subscription

BRANCH = "lyon"
SERVED = "served"


class Calendar:
    """Stands in for the calendar source (calendar_source.py, tested on its own): what is checked here is only
    that it is polled, i.e. that the hub made it due."""

    def __init__(self) -> None:
        self.polls = 0

    def module(self) -> types.ModuleType:
        module = types.ModuleType("hub_outlook.calendar_source")
        calendar = self

        class CalendarSource:
            def __init__(self, hub: Any, settings: Any, mailbox: Any) -> None:
                pass

            def poller(self) -> Poller:
                def poll(cursor: str | None) -> PollResult:
                    calendar.polls += 1
                    return PollResult([], cursor)
                return Poller("calendar", poll, interval=300)

        module.CalendarSource = CalendarSource  # type: ignore[attr-defined]
        return module


@pytest.fixture
def calendar(monkeypatch: pytest.MonkeyPatch) -> Calendar:
    stand_in = Calendar()
    monkeypatch.setitem(sys.modules, "hub_outlook.calendar_source", stand_in.module())
    return stand_in


@pytest.fixture
def graph(clock: FakeClock) -> Iterator[tuple[OutlookSandbox, str]]:
    """The sandbox, accepting http notification addresses on loopback (the receiver here has no TLS)."""
    sandbox = OutlookSandbox(clock=clock, allow_http_notifications=True)
    with ServerThread(sandbox.app()) as server:
        yield sandbox, server.url


@pytest.fixture
def sandbox(graph: tuple[OutlookSandbox, str]) -> OutlookSandbox:
    return graph[0]


@pytest.fixture
def make_notified_hub(graph: tuple[OutlookSandbox, str], make_hub: Callable[..., Hub], clock: FakeClock,
                      register_plugin: Callable[[str, object], object],
                      calendar: Calendar) -> Iterator[Callable[..., Hub]]:
    """A hub whose branch reads its Outlook calendar (source = true), with webhooks.public_url = `public_url`:
    SERVED (the default) serves the hub's webhook receiver there on loopback."""
    sandbox, url = graph
    register_plugin("outlook", hub_outlook.plugin)
    servers: list[ServerThread] = []

    def make(public_url: str | None = SERVED, **settings: Any) -> Hub:
        port = free_port()
        address = f"http://127.0.0.1:{port}" if public_url == SERVED else public_url
        demo = DemoContext(branch=BRANCH, base_url=url, people=[], now=clock)
        table = {**sandbox.demo_settings(demo), "calendar": False, "source": True, **settings}
        made = make_hub({BRANCH: {"plugins": ["outlook"], "schedule": {"reminders": [], "followups": []},
                                  "outlook": table}}, environ=sandbox.demo_environ(demo),
                        hub={"webhooks": {"public_url": address}} if address else {})
        if public_url == SERVED:
            servers.append(ServerThread(build_app(made), port=port).start())
        return made

    yield make
    for server in servers:
        server.stop()


def started(hub: Hub, calendar: Calendar, sandbox: OutlookSandbox) -> Subscription:
    """Two cycles: the keeper creates the subscription, then the calendar is read again (changes made before
    the subscription existed were signalled to nobody); after them nothing is due."""
    assert hub.cycle().errors == []
    assert hub.cycle().errors == []
    before = calendar.polls
    assert hub.cycle().errors == []
    assert calendar.polls == before  # within its interval: not due
    return only_subscription(sandbox)


def only_subscription(sandbox: OutlookSandbox) -> Subscription:
    with sandbox.lock:
        subscriptions = list(sandbox.subscriptions.values())
    assert len(subscriptions) == 1, subscriptions
    return subscriptions[0]


def state(hub: Hub, key: str = notifications.STATE) -> Any:
    return hub.store.kv_get(BRANCH, "outlook", key)


def secret(hub: Hub) -> str:
    return (hub.context(BRANCH, "outlook").read_secret(notifications.SECRET_FILE) or "").strip()


def public(hub: Hub) -> str:
    return str(hub.config.hub.webhooks.public_url)


# --- creation --------------------------------------------------------------------------------------------------

def test_the_subscription_is_created_once_both_addresses_pass_the_handshake(
        make_notified_hub: Callable[..., Hub], sandbox: OutlookSandbox, calendar: Calendar, clock: FakeClock) -> None:
    hub = make_notified_hub()
    sub = started(hub, calendar, sandbox)
    base = f"{public(hub)}/webhooks/{BRANCH}/outlook"
    assert sub.notification_url == f"{base}/notifications"
    assert sub.lifecycle_url == f"{base}/lifecycle"  # the sandbox validated both before creating it
    assert sub.resource == f"/users/{sandbox.mailbox(BRANCH).address}/events"
    assert sub.change_types == ["created", "updated", "deleted"]
    assert timedelta(days=5, hours=23) < sub.expires - clock() <= timedelta(days=6)
    assert sub.client_state == secret(hub) and len(sub.client_state) >= 40
    kept = state(hub)
    assert kept["id"] == sub.id
    assert sandbox.mailbox(BRANCH).address not in json.dumps(kept) and secret(hub) not in json.dumps(kept)
    path = hub.context(BRANCH, "outlook").secret_path(notifications.SECRET_FILE)
    assert path.stat().st_mode & 0o777 == 0o600
    assert hub.cycle(force_poll=True).errors == []  # a later poll checks it (one GET), creates nothing
    assert sandbox.count("POST /subscriptions") == 1 and sandbox.count("GET /subscriptions/{id}") == 1


def test_a_configured_calendar_is_the_subscribed_resource(make_notified_hub: Callable[..., Hub],
                                                          sandbox: OutlookSandbox, calendar: Calendar) -> None:
    make_notified_hub()  # makes the branch's mailbox in the sandbox
    calendar_id = sandbox.add_calendar(BRANCH, "Sessions")
    hub = make_notified_hub(source_calendar_id=calendar_id)
    assert hub.cycle().errors == []
    sub = only_subscription(sandbox)
    assert sub.resource == f"/users/{sandbox.mailbox(BRANCH).address}/calendars/{quote(calendar_id, safe='')}/events"


@pytest.mark.parametrize("route", ["notifications", "lifecycle"])
def test_the_validation_token_comes_back_decoded_as_plain_text(make_notified_hub: Callable[..., Hub],
                                                               route: str) -> None:
    hub = make_notified_hub()
    token = "Validation: Testing client application reachability for subscription Request-Id: a+b&c=d é"
    answer = httpx.post(f"{public(hub)}/webhooks/{BRANCH}/outlook/{route}?validationToken={quote(token, safe='')}",
                        headers={"Content-Type": "text/plain; charset=utf-8"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain") and answer.text == token


def test_without_a_usable_public_address_or_with_notifications_off_there_is_no_subscription(
        make_notified_hub: Callable[..., Hub], sandbox: OutlookSandbox, calendar: Calendar) -> None:
    for public_url, settings in ((None, {}), (SERVED, {"notifications": False}),
                                 ("http://hub.example.org", {})):
        hub = make_notified_hub(public_url, **settings)
        assert hub.cycle().errors == []
        assert [p.name for _, p in hub.pollers[BRANCH]] == ["calendar"], (public_url, settings)
        assert hub.webhook_routes() == {}
    assert sandbox.count("POST /subscriptions") == 0 and calendar.polls == 3
    hub = make_notified_hub()  # the same settings with an address Graph can reach: one
    assert hub.cycle().errors == []
    assert sandbox.count("POST /subscriptions") == 1 and len(hub.webhook_routes()) == 2


def test_an_address_graph_cannot_reach_is_a_problem_and_polling_goes_on(
        make_notified_hub: Callable[..., Hub], sandbox: OutlookSandbox, calendar: Calendar) -> None:
    port = free_port()  # nothing listens there
    hub = make_notified_hub(f"http://127.0.0.1:{port}")
    assert hub.cycle().errors == []
    assert calendar.polls == 1 and sandbox.subscriptions == {}
    assert [r.status for r in sandbox.requests("POST /subscriptions")] == [400]
    (problem,) = hub.store.list_problems(BRANCH)
    assert (problem.plugin, problem.ref, problem.field) == ("outlook", "notifications", "webhooks.public_url")
    assert "webhooks.public_url" in problem.message and "hub doctor --branch lyon" in problem.message
    assert "aucune demande de validation" in problem.message
    assert state(hub) is None
    with ServerThread(build_app(hub), port=port):  # the address now leads to the hub
        assert hub.cycle(force_poll=True).errors == []
        assert len(sandbox.subscriptions) == 1
    assert hub.store.list_problems(BRANCH) == []


def test_a_handshake_that_reached_the_hub_but_failed_is_told_apart(make_notified_hub: Callable[..., Hub],
                                                                   sandbox: OutlookSandbox, calendar: Calendar,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """E.g. a relay that rewrites the answer: Graph reached the hub, so public_url itself is not the culprit."""
    real = sandbox._validate_url
    altered = "Subscription validation request failed. Response must exactly match validationToken query parameter."
    monkeypatch.setattr(sandbox, "_validate_url", lambda url: real(url) or altered)
    hub = make_notified_hub()
    assert hub.cycle().errors == []
    (problem,) = hub.store.list_problems(BRANCH)
    assert "a bien joint le hub" in problem.message and "webhooks.public_url" in problem.message
    assert sandbox.subscriptions == {} and calendar.polls == 1


# --- change notifications ------------------------------------------------------------------------------------

def test_a_change_notification_makes_the_calendar_due_and_reads_nothing(
        make_notified_hub: Callable[..., Hub], sandbox: OutlookSandbox, calendar: Calendar) -> None:
    hub = make_notified_hub()
    started(hub, calendar, sandbox)
    graph_reads = len(sandbox.requests())
    before = calendar.polls
    assert sandbox.notify(BRANCH, "created") == [202]
    assert len(sandbox.requests()) == graph_reads  # the handler asked Graph nothing
    assert hub.cycle().errors == []
    assert calendar.polls == before + 1
    assert hub.cycle().errors == []
    assert calendar.polls == before + 1  # one signal, one read


def test_forged_notifications_are_refused_and_poll_nothing(make_notified_hub: Callable[..., Hub],
                                                           sandbox: OutlookSandbox, calendar: Calendar,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    hub = make_notified_hub()
    sub = started(hub, calendar, sandbox)
    url = sub.notification_url
    mailbox_path = f"Users/{sub.mailbox}/Events/AAMk"

    def item(**changes: Any) -> dict[str, Any]:
        return {"subscriptionId": sub.id, "clientState": sub.client_state, "changeType": "updated",
                "resource": mailbox_path, **changes}
    before = calendar.polls
    with caplog.at_level(logging.INFO):
        assert httpx.post(url, json={"value": [item(clientState="guessed")]}).status_code == 403
        assert httpx.post(url, json={"value": [item(subscriptionId="another")]}).status_code == 403
        assert httpx.post(url, json={"value": [item(clientState=None)]}).status_code == 403
        assert httpx.post(url, content=b"{not json").status_code == 400
        assert httpx.post(url, json=[item()]).status_code == 400
    assert hub.cycle().errors == []
    assert calendar.polls == before
    ignored = [r for r in caplog.records if "ignored" in r.getMessage()]
    assert len(ignored) == 3
    for record in (r for r in caplog.records if r.name.startswith("hub")):  # not this test's own httpx client
        shown = record.getMessage() + str(record.__dict__)
        assert sub.mailbox not in shown and "/webhooks/" not in shown and str(sub.client_state) not in shown
    # a batch with one genuine item counts, the forged one beside it is ignored
    assert httpx.post(url, json={"value": [item(clientState="guessed"), item()]}).status_code == 202
    assert hub.cycle().errors == []
    assert calendar.polls == before + 1


# --- renewal and lifecycle -------------------------------------------------------------------------------------

def test_it_is_renewed_when_under_a_day_is_left_and_not_before(make_notified_hub: Callable[..., Hub],
                                                              sandbox: OutlookSandbox, calendar: Calendar,
                                                              clock: FakeClock) -> None:
    hub = make_notified_hub()
    sub = started(hub, calendar, sandbox)
    first_expiry = sub.expires
    clock.advance(days=4)  # two days left
    assert hub.cycle(force_poll=True).errors == []
    assert sandbox.count("PATCH /subscriptions/{id}") == 0
    clock.advance(days=1, hours=1)  # 23 hours left
    assert hub.cycle(force_poll=True).errors == []
    assert sandbox.count("PATCH /subscriptions/{id}") == 1
    renewed = only_subscription(sandbox)
    assert renewed.id == sub.id and renewed.expires > first_expiry
    assert timedelta(days=5, hours=23) < renewed.expires - clock() <= timedelta(days=6)
    assert notifications._moment(state(hub)["expires"]) == renewed.expires.replace(
        microsecond=renewed.expires.microsecond // 1000 * 1000)  # what Graph echoed
    assert hub.cycle(force_poll=True).errors == []
    assert sandbox.count("PATCH /subscriptions/{id}") == 1


def test_reauthorization_required_is_done_by_the_keeper_and_notifications_flow_again(
        make_notified_hub: Callable[..., Hub], sandbox: OutlookSandbox, calendar: Calendar) -> None:
    hub = make_notified_hub()
    sub = started(hub, calendar, sandbox)
    assert sandbox.lifecycle(sub.id, "reauthorizationRequired") == 202
    assert sandbox.count("POST /subscriptions/{id}/reauthorize") == 0  # not within the 3 s answer
    assert state(hub, notifications.LIFECYCLE) == {"id": sub.id, "action": "reauthorize"}
    assert sandbox.notify(BRANCH) == []  # Graph holds the notifications back until it is reauthorized
    assert hub.cycle().errors == []  # the keeper is due at once, not in an hour
    assert sandbox.count("POST /subscriptions/{id}/reauthorize") == 1
    assert sandbox.count("PATCH /subscriptions/{id}") == 0
    assert state(hub, notifications.LIFECYCLE) is None
    assert sandbox.notify(BRANCH) == [202]
    assert only_subscription(sandbox).id == sub.id


def test_reauthorization_with_a_renewal_due_is_one_patch(make_notified_hub: Callable[..., Hub],
                                                         sandbox: OutlookSandbox, calendar: Calendar,
                                                         clock: FakeClock) -> None:
    hub = make_notified_hub()
    sub = started(hub, calendar, sandbox)
    clock.advance(days=5, hours=1)
    assert sandbox.lifecycle(sub.id, "reauthorizationRequired") == 202
    assert hub.cycle().errors == []
    assert sandbox.count("PATCH /subscriptions/{id}") == 1
    assert sandbox.count("POST /subscriptions/{id}/reauthorize") == 0
    assert sandbox.notify(BRANCH) == [202]


def test_a_reauthorization_waits_ten_minutes_after_a_renewal(make_notified_hub: Callable[..., Hub],
                                                             sandbox: OutlookSandbox, calendar: Calendar,
                                                             clock: FakeClock) -> None:
    """Graph: no reauthorize and update of one subscription within 10 minutes (lifecycle events page)."""
    hub = make_notified_hub()
    sub = started(hub, calendar, sandbox)
    clock.advance(days=5, hours=1)
    assert hub.cycle(force_poll=True).errors == []
    assert sandbox.count("PATCH /subscriptions/{id}") == 1
    clock.advance(minutes=2)
    assert sandbox.lifecycle(sub.id, "reauthorizationRequired") == 202
    assert hub.cycle().errors == []
    assert sandbox.count("POST /subscriptions/{id}/reauthorize") == 0
    assert state(hub, notifications.LIFECYCLE) == {"id": sub.id, "action": "reauthorize"}  # still to do
    clock.advance(minutes=9)
    assert hub.cycle(force_poll=True).errors == []
    assert sandbox.count("POST /subscriptions/{id}/reauthorize") == 1
    assert sandbox.count("PATCH /subscriptions/{id}") == 1


def test_a_removed_subscription_is_recreated_and_the_calendar_read_again(
        make_notified_hub: Callable[..., Hub], sandbox: OutlookSandbox, calendar: Calendar) -> None:
    hub = make_notified_hub()
    sub = started(hub, calendar, sandbox)
    before = calendar.polls
    assert sandbox.lifecycle(sub.id, "subscriptionRemoved") == 202
    assert sandbox.subscriptions == {} and sandbox.count("POST /subscriptions") == 1  # nothing yet
    assert hub.cycle().errors == []
    new = only_subscription(sandbox)
    assert new.id != sub.id and new.lifecycle_url == sub.lifecycle_url
    assert state(hub)["id"] == new.id and state(hub, notifications.LIFECYCLE) is None
    assert calendar.polls > before
    assert sandbox.notify(BRANCH) == [202]  # the new one's notifications count


def test_a_missed_notification_reads_the_calendar(make_notified_hub: Callable[..., Hub], sandbox: OutlookSandbox,
                                                  calendar: Calendar) -> None:
    hub = make_notified_hub()
    sub = started(hub, calendar, sandbox)
    graph_reads = len(sandbox.requests())
    before = calendar.polls
    assert sandbox.lifecycle(sub.id, "missed") == 202
    assert hub.cycle().errors == []
    assert calendar.polls == before + 1
    assert len(sandbox.requests()) == graph_reads  # the subscription itself needs nothing
    assert only_subscription(sandbox).id == sub.id


def test_forged_lifecycle_notifications_are_refused(make_notified_hub: Callable[..., Hub], sandbox: OutlookSandbox,
                                                    calendar: Calendar) -> None:
    hub = make_notified_hub()
    sub = started(hub, calendar, sandbox)
    forged = {"value": [{"subscriptionId": sub.id, "clientState": "guessed", "lifecycleEvent": "subscriptionRemoved"}]}
    assert httpx.post(str(sub.lifecycle_url), json=forged).status_code == 403
    assert hub.cycle().errors == []
    assert state(hub, notifications.LIFECYCLE) is None and sandbox.count("POST /subscriptions") == 1
    assert only_subscription(sandbox).id == sub.id


def test_a_subscription_graph_no_longer_knows_is_recreated(make_notified_hub: Callable[..., Hub],
                                                           sandbox: OutlookSandbox, calendar: Calendar) -> None:
    hub = make_notified_hub()
    sub = started(hub, calendar, sandbox)
    before = calendar.polls
    with sandbox.lock:
        del sandbox.subscriptions[sub.id]  # e.g. removed while the hub was stopped
    assert hub.cycle(force_poll=True).errors == []
    new = only_subscription(sandbox)
    assert new.id != sub.id and state(hub)["id"] == new.id
    assert hub.cycle().errors == []
    assert calendar.polls >= before + 2  # the forced poll, then the read the recreation asked for


def test_a_new_secret_replaces_the_subscription_and_deletes_the_old_one(make_notified_hub: Callable[..., Hub],
                                                                        sandbox: OutlookSandbox,
                                                                        calendar: Calendar) -> None:
    hub = make_notified_hub()
    sub = started(hub, calendar, sandbox)
    hub.context(BRANCH, "outlook").write_secret(notifications.SECRET_FILE, "a-restored-older-secret\n")
    assert hub.cycle(force_poll=True).errors == []
    new = only_subscription(sandbox)  # the old one was deleted
    assert new.id != sub.id and new.client_state == "a-restored-older-secret"
    assert [r.status for r in sandbox.requests("DELETE /subscriptions/{id}")] == [204]
    assert sandbox.notify(BRANCH) == [202]


# --- wanted ----------------------------------------------------------------------------------------------------

def test_notifications_need_an_https_address_or_loopback() -> None:
    cases = {"https://hub.example.org/cravate/": True, "http://127.0.0.1:8787": True, "http://localhost:8787": True,
             "http://hub.example.org": False, "ftp://hub.example.org": False, "": False}
    on, off = (types.SimpleNamespace(source=True, notifications=flag) for flag in (True, False))
    for public_url, expected in cases.items():
        hub = types.SimpleNamespace(public_url=public_url or None)
        assert notifications.wanted(hub, on) is expected, public_url  # type: ignore[arg-type]
        assert notifications.wanted(hub, off) is False  # type: ignore[arg-type]


def test_hub_doctor_tells_whether_graph_knows_the_subscription(make_notified_hub: Callable[..., Hub],
                                                               sandbox: OutlookSandbox, calendar: Calendar) -> None:
    hub = make_notified_hub()
    (check,) = [c for c in hub.branches[BRANCH].checks("outlook") if c.name.startswith("notifications")]
    with pytest.raises(RuntimeError, match="pas encore d'abonnement"):
        check.run()
    sub = started(hub, calendar, sandbox)
    assert check.run().startswith("abonnement aux notifications de l'agenda actif jusqu'au")
    with sandbox.lock:
        del sandbox.subscriptions[sub.id]  # Graph lost it
    with pytest.raises(RuntimeError, match="ne connaît plus"):
        check.run()
