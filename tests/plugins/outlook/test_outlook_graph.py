"""The Graph client: a refused token refreshed once, permissions named on 403, Retry-After honoured, 404 as None,
at most 4 requests in flight per mailbox, nothing personal in logs; `hub doctor`; close_lane; and the core's
conformance suite (with respx in place of the sandbox, which is wired later)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import httpx
import pytest
import respx

import hub_outlook.graph
import hub_outlook.plugin
from hub.app import Hub
from hub.errors import DeliveryRejected, PluginAuthFailed, PluginNotReady
from hub.testing import ConnectorConformance
from hub_outlook.graph import GraphClient
from hub_outlook.mailbox import mailbox

from .outlook_helpers import BRANCH, MAILBOX, SECRET, FakeMicrosoft, graph_error, outlook_table

ACCESS_DENIED = graph_error("ErrorAccessDenied", "Access is denied. Check credentials and try again.")


def client(hub: Hub) -> GraphClient:
    return mailbox(hub.context(BRANCH, "outlook")).client()


def test_a_refused_token_is_renewed_once(outlook_hub: Hub, microsoft: FakeMicrosoft) -> None:
    graph = client(outlook_hub)
    assert graph.get_message("nope") is None
    microsoft.valid_tokens.clear()  # revoked before its expiry
    assert graph.get_message("nope") is None
    assert microsoft.token_posts == ["client_credentials", "client_credentials"]
    assert microsoft.graph_calls == ["get", "get", "get"] and graph.requests == 3


def test_a_token_refused_twice_pauses_with_the_command(outlook_hub: Hub, microsoft: FakeMicrosoft) -> None:
    expired = graph_error("InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
    microsoft.graph_answers += [httpx.Response(401, json=expired), httpx.Response(401, json=expired)]
    with pytest.raises(PluginAuthFailed) as caught:
        client(outlook_hub).get_message("x")
    assert caught.value.fix == "hub auth outlook --branch lyon" and "InvalidAuthenticationToken" in str(caught.value)
    assert len(microsoft.token_posts) == 2 and microsoft.graph_calls == ["get", "get"]


@pytest.mark.parametrize(("call", "permission"), [("create_draft", "Mail.ReadWrite"), ("send_draft", "Mail.Send")])
def test_access_denied_names_the_application_permission(outlook_hub: Hub, microsoft: FakeMicrosoft, call: str,
                                                        permission: str) -> None:
    microsoft.graph_answers.append(httpx.Response(403, json=ACCESS_DENIED))
    with pytest.raises(PluginAuthFailed) as caught:
        getattr(client(outlook_hub), call)({} if call == "create_draft" else "id")
    text = str(caught.value)
    assert f"permission d'application {permission}" in text and "RBAC for Applications" in text
    assert "ErrorAccessDenied" in text and MAILBOX not in text


@pytest.mark.parametrize(("status", "headers", "wait"), [(429, {"Retry-After": "12"}, 12.0),
                                                         (503, {"Retry-After": "7"}, 7.0),
                                                         (504, {}, 60.0)])
def test_throttling_and_outages_wait_as_told(outlook_hub: Hub, microsoft: FakeMicrosoft, status: int,
                                             headers: dict[str, str], wait: float) -> None:
    microsoft.graph_answers.append(httpx.Response(status, headers=headers, json=graph_error("TooManyRequests",
                                                                                            "Please retry later.")))
    with pytest.raises(PluginNotReady) as caught:
        client(outlook_hub).get_message("x")
    assert caught.value.retry_after == wait


def test_a_bad_request_is_rejected_with_the_code_only(outlook_hub: Hub, microsoft: FakeMicrosoft,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    microsoft.graph_answers.append(httpx.Response(400, headers={"request-id": "5d2e0000-aaaa"}, json=graph_error(
        "ErrorInvalidRecipients", f"Recipient '{MAILBOX}' is not resolved.")))
    with caplog.at_level(logging.INFO, logger="hub.plugin.outlook"), pytest.raises(DeliveryRejected) as caught:
        client(outlook_hub).create_draft({})
    assert str(caught.value) == "Outlook (Microsoft 365) a refusé la requête (400 ErrorInvalidRecipients)"
    (record,) = [r for r in caplog.records if r.getMessage() == "graph error"]
    assert record.__dict__["request_id"] == "5d2e0000-aaaa"
    assert record.__dict__["graph_code"] == "ErrorInvalidRecipients"
    assert MAILBOX not in repr(record.__dict__)  # no URL, no address in the log line


def test_a_mailbox_that_does_not_exist_is_a_setting_to_fix(make_outlook_hub: Callable[..., Hub],
                                                           microsoft: FakeMicrosoft) -> None:
    hub = make_outlook_hub(mailbox="personne@cravate.org")
    with pytest.raises(PluginAuthFailed, match="vérifiez mailbox"):
        client(hub).get_message("x")  # a lookup: 404 ErrorInvalidUser is not "no such message"


def test_a_network_error_is_not_ready_without_the_url(outlook_hub: Hub, microsoft: FakeMicrosoft) -> None:
    microsoft.graph_answers.append(httpx.ConnectTimeout(f"timed out on /users/{MAILBOX}"))
    with pytest.raises(PluginNotReady) as caught:
        client(outlook_hub).get_message("x")
    assert str(caught.value) == "Outlook (Microsoft 365) n'a pas répondu à temps (ConnectTimeout)"


class Watched:
    """The mailbox's semaphore, watched: how many threads wait for a slot."""

    def __init__(self, inner: threading.BoundedSemaphore, cond: threading.Condition, state: dict[str, int]) -> None:
        self.inner, self.cond, self.state = inner, cond, state

    def acquire(self, timeout: float | None = None) -> bool:
        with self.cond:
            self.state["waiting"] += 1
            self.cond.notify_all()
        got = self.inner.acquire(timeout=timeout)
        with self.cond:
            self.state["waiting"] -= 1
            self.cond.notify_all()
        return got

    def release(self) -> None:
        self.inner.release()


def test_at_most_four_requests_in_flight_per_mailbox_across_branches(
        make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object],
        microsoft: FakeMicrosoft, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two branches share one mailbox: 8 lookups at once, 4 reach Graph, 4 wait for a slot; no sleeping."""
    register_plugin("outlook", hub_outlook.plugin)
    hub = make_hub({b: {"plugins": ["outlook"], "outlook": outlook_table()} for b in (BRANCH, "paris")},
                   environ={"OUTLOOK_SECRET_LYON": SECRET})
    cond, state = threading.Condition(), {"waiting": 0, "inflight": 0, "most": 0}
    real = hub_outlook.graph.slots
    monkeypatch.setattr(hub_outlook.graph, "slots", lambda *a: Watched(real(*a), cond, state))
    release = threading.Event()

    def in_graph(request: httpx.Request) -> None:
        with cond:
            state["inflight"] += 1
            state["most"] = max(state["most"], state["inflight"])
            cond.notify_all()
        release.wait(10)
        with cond:
            state["inflight"] -= 1

    clients = [mailbox(hub.context(b, "outlook")).client() for b in (BRANCH, "paris")]
    for each in clients:
        each.auth.access_token()  # tokens first: only Graph requests are limited
    microsoft.on_graph = in_graph
    errors: list[BaseException] = []

    def lookup(graph: GraphClient) -> None:
        try:
            graph.get_message("x")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=lookup, args=(clients[n % 2],)) for n in range(8)]
    for thread in threads:
        thread.start()
    with cond:
        assert cond.wait_for(lambda: state["inflight"] == 4 and state["waiting"] == 4, timeout=10), state
    release.set()
    for thread in threads:
        thread.join(10)
    assert errors == [] and state["most"] == 4 and len(microsoft.graph_calls) == 8


# --- hub doctor ---------------------------------------------------------------------------------------------

def doctor(hub: Hub) -> dict[str, str]:
    return {check.name: check.run() for check in hub.branches[BRANCH].checks("outlook")}


def test_doctor_says_the_token_and_the_mailbox_work(outlook_hub: Hub, microsoft: FakeMicrosoft) -> None:
    results = doctor(outlook_hub)
    assert results["connexion Microsoft 365"] == ("jeton obtenu (application (client credentials)) avec "
                                                  "Mail.ReadWrite, Mail.Send")
    assert results["boîte Outlook"].startswith("boîte …@cravate.org accessible (brouillons en lecture et écriture)")
    assert "RBAC for Applications" in results["boîte Outlook"] and microsoft.graph_calls == ["drafts"]


def test_doctor_names_a_missing_permission(outlook_hub: Hub, microsoft: FakeMicrosoft) -> None:
    microsoft.app_roles = ["Mail.ReadWrite"]
    check = next(c for c in outlook_hub.branches[BRANCH].checks("outlook") if c.name == "connexion Microsoft 365")
    with pytest.raises(PluginAuthFailed, match=r"permission d'application Mail\.Send"):
        check.run()


def test_doctor_says_which_permission_the_mailbox_needs(outlook_hub: Hub, microsoft: FakeMicrosoft) -> None:
    microsoft.graph_answers.append(httpx.Response(403, json=ACCESS_DENIED))
    check = next(c for c in outlook_hub.branches[BRANCH].checks("outlook") if c.name == "boîte Outlook")
    with pytest.raises(PluginAuthFailed, match=r"permission d'application Mail\.ReadWrite"):
        check.run()


# --- the lane's client --------------------------------------------------------------------------------------

def test_one_client_per_lane_closed_with_the_hub(outlook_hub: Hub, microsoft: FakeMicrosoft) -> None:
    outlook_hub.cycle()  # the lane is set up (close_lane is called for lanes set up)
    first = client(outlook_hub)
    for _ in range(5):
        assert client(outlook_hub) is first
        first.get_message("x")
    assert microsoft.discovery_gets == 1 and microsoft.token_posts == ["client_credentials"]
    outlook_hub.close()
    assert first.http.is_closed


# --- the core's conformance suite -----------------------------------------------------------------------------

class TestOutlookConformance(ConnectorConformance):
    plugin_name = "outlook"
    plugin = hub_outlook.plugin

    @pytest.fixture
    def connector_hub(self, make_hub: Callable[..., Hub],
                      register_plugin: Callable[[str, object], object]) -> Iterator[Hub]:
        register_plugin("outlook", hub_outlook.plugin)
        self.fake = FakeMicrosoft(mailbox="conformance@cravate.org")
        with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
            self.fake.install(router)
            yield make_hub({"conformance": {"plugins": ["outlook"], "outlook": outlook_table(
                mailbox="conformance@cravate.org")}}, environ={"OUTLOOK_SECRET_LYON": SECRET})

    not_applicable: ClassVar[dict[str, str]] = {
        **ConnectorConformance.not_applicable,
        "effects:session_booked": "the conformance branch has no calendar, and FakeMicrosoft no calendar "
                                  "endpoints (the calendar's effects: test_outlook_calendar.py)",
        "effects:session_cancelled": "no calendar in the conformance branch (test_outlook_calendar.py)",
    }

    def effect_snapshot(self, hub: Hub) -> Any:
        return [(m["toRecipients"][0]["emailAddress"]["address"], m["subject"]) for m in self.fake.sent()]

    def fail_next(self, hub: Hub, status: int, retry_after: int | None = None) -> None:
        """The respx fake answers Graph's next request with `status` (its error shape, Retry-After when given);
        a 401 twice, since the client rightly renews its token once before giving up (credentials refused)."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        for _ in range(2 if status == 401 else 1):
            self.fake.graph_answers.append(httpx.Response(
                status, headers=headers, json=graph_error("Injected", "failure injected by the suite")))

    def test_repeated_delivery_has_one_effect(self, connector_hub: Hub) -> None:
        super().test_repeated_delivery_has_one_effect(connector_hub)
        assert self.fake.sent(), "the message_due sample was delivered"

