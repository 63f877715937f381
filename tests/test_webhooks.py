"""The webhook receiver answers only after the events are committed, and guards its door."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from hub.app import Hub
from hub.events import EventKind
from hub.hookspecs import hookimpl
from hub.sources import WebhookReply, WebhookRequest, WebhookRoute
from hub.testing import make_candidate, make_event
from hub.webhooks import build_app


class Receiver:
    def __init__(self) -> None:
        self.seen: list[WebhookRequest] = []

    def handle(self, request: WebhookRequest) -> WebhookReply:
        self.seen.append(request)
        if request.headers.get("x-signature") != "good":
            return WebhookReply(status=401, body=b"bad signature")
        event = make_event(EventKind.CANDIDATE_REGISTERED, candidate=make_candidate(ref="p1"),
                           source_id=request.body.decode())
        return WebhookReply(status=200, body=b"ok", events=[event])

    @hookimpl
    def register_webhooks(self, hub, register):  # type: ignore[no-untyped-def]
        register(WebhookRoute(self.handle))
        register(WebhookRoute(self.handle, path="/ping", methods=("GET",)))


@pytest.fixture
def receiver(register_plugin: Callable[[str, object], object]) -> Receiver:
    return register_plugin("recv", Receiver())  # type: ignore[return-value]


@pytest.fixture
def client(make_hub: Callable[..., Hub], receiver: Receiver) -> tuple[TestClient, Hub]:
    hub = make_hub({"bordeaux": {"plugins": ["recv"]}}, hub={"webhooks": {"max_body_bytes": 2048}})
    return TestClient(build_app(hub)), hub


def test_events_are_stored_before_the_answer(client: tuple[TestClient, Hub]) -> None:
    http, hub = client
    response = http.post("/webhooks/bordeaux/recv", content=b"delivery-1", headers={"X-Signature": "good"})
    assert response.status_code == 200 and response.text == "ok"
    assert [r.kind for r in hub.store.list_events()] == ["candidate_registered"]


def test_repeated_delivery_is_one_event(client: tuple[TestClient, Hub]) -> None:
    http, hub = client
    for _ in range(10):
        assert http.post("/webhooks/bordeaux/recv", content=b"same", headers={"X-Signature": "good"}).status_code == 200
    assert len(hub.store.list_events()) == 1


def test_refused_signature_creates_no_event(client: tuple[TestClient, Hub]) -> None:
    http, hub = client
    response = http.post("/webhooks/bordeaux/recv", content=b"x", headers={"X-Signature": "forged"})
    assert response.status_code == 401
    assert hub.store.list_events() == []


def test_handler_sees_raw_body_and_lowercase_headers(client: tuple[TestClient, Hub], receiver: Receiver) -> None:
    http, _ = client
    http.post("/webhooks/bordeaux/recv?a=1", content=b'{"b": 1}', headers={"X-Signature": "good"})
    seen = receiver.seen[-1]
    assert seen.body == b'{"b": 1}' and seen.headers["x-signature"] == "good" and seen.query == {"a": "1"}


def test_body_over_the_limit_is_refused(client: tuple[TestClient, Hub]) -> None:
    http, hub = client
    response = http.post("/webhooks/bordeaux/recv", content=b"x" * 5000, headers={"X-Signature": "good"})
    assert response.status_code == 413
    assert hub.store.list_events() == []


def test_unknown_routes_and_methods(client: tuple[TestClient, Hub]) -> None:
    http, _ = client
    assert http.post("/webhooks/lyon/recv", content=b"x").status_code == 404
    assert http.post("/webhooks/bordeaux/other", content=b"x").status_code == 404
    assert http.get("/webhooks/bordeaux/recv").status_code == 405
    assert http.get("/webhooks/bordeaux/recv/ping", headers={"X-Signature": "no"}).status_code == 401
    for nowhere in ("/", "/webhooks/", "/webhooks/bordeaux", "/webhooks//recv", "/elsewhere"):
        assert http.post(nowhere, content=b"x").status_code == 404, nowhere
    assert http.request("OPTIONS", "/webhooks/bordeaux/recv").status_code == 405
    assert http.post("/webhooks/bordeaux/recv?a=1&b=", content=b"x", headers={"X-Signature": "good"}
                     ).status_code == 200


def test_storage_failure_answers_503_so_the_sender_retries(client: tuple[TestClient, Hub],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    http, hub = client

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")
    monkeypatch.setattr(hub, "store_webhook", broken)
    assert http.post("/webhooks/bordeaux/recv", content=b"x", headers={"X-Signature": "good"}).status_code == 503


def test_healthz(client: tuple[TestClient, Hub]) -> None:
    http, _ = client
    assert http.get("/healthz").json() == {"ok": True}  # no branch names on a public address
