"""A webhook costs one transaction: its events, the state its handler wrote and its problem bookkeeping are
stored together, or not at all; concurrent webhooks share commits and the connections stay bounded."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from hub.app import Hub
from hub.context import HubContext
from hub.events import EventKind
from hub.hookspecs import hookimpl
from hub.sources import WebhookReply, WebhookRequest, WebhookRoute
from hub.testing import make_candidate, make_event
from hub.webhooks import build_app


class Writer:
    """A handler that, like Calendly's, writes private state and resolves a problem before giving its event."""

    def __init__(self) -> None:
        self.fail_store = False

    @hookimpl
    def register_webhooks(self, hub: HubContext, register: Callable[[WebhookRoute], None]) -> None:
        def handle(request: WebhookRequest) -> WebhookReply:
            ref = request.body.decode()
            hub.state_put(f"seen:{ref}", 1)
            assert hub.state_get(f"seen:{ref}") == 1  # the handler reads its own held-back write
            hub.resolve_problem(ref)
            if ref.startswith("bad"):
                hub.report_problem(ref, "body", "notification illisible")
                return WebhookReply(status=400, body=b"malformed")
            event = make_event(EventKind.CANDIDATE_REGISTERED, candidate=make_candidate(ref=ref), source_id=ref)
            return WebhookReply(status=200, body=b"ok", events=[event])
        register(WebhookRoute(handle))


@pytest.fixture
def wired(make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object]) -> tuple[TestClient, Hub]:
    register_plugin("writer", Writer())
    hub = make_hub({"bordeaux": {"plugins": ["writer"]}})
    return TestClient(build_app(hub)), hub


def test_one_webhook_is_one_transaction(wired: tuple[TestClient, Hub]) -> None:
    http, hub = wired
    http.post("/webhooks/bordeaux/writer", content=b"warm-up")  # the lane is set up on first use
    begins: list[str] = []
    hub.store.conn.set_trace_callback(lambda sql: begins.append(sql) if sql.startswith("BEGIN") else None)
    try:
        assert http.post("/webhooks/bordeaux/writer", content=b"p1").status_code == 200
    finally:
        hub.store.conn.set_trace_callback(None)
    assert len(begins) == 1
    assert hub.store.list_events(kind="candidate_registered")[0].source_id == "p1"
    assert hub.store.kv_get("bordeaux", "writer", "seen:p1") == 1


def test_a_refused_webhook_still_records_its_problem(wired: tuple[TestClient, Hub]) -> None:
    http, hub = wired
    assert http.post("/webhooks/bordeaux/writer", content=b"bad-1").status_code == 400
    assert [p.ref for p in hub.store.list_problems("bordeaux")] == ["bad-1"]


def test_when_storing_fails_nothing_the_handler_wrote_is_kept(wired: tuple[TestClient, Hub],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    http, hub = wired

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")
    monkeypatch.setattr(hub.ingestor, "ingest_cleaned", broken)
    assert http.post("/webhooks/bordeaux/writer", content=b"p2").status_code == 503
    assert hub.store.kv_get("bordeaux", "writer", "seen:p2") is None
    assert hub.store.list_events() == []


def test_a_thousand_webhooks_from_sixteen_threads_keep_connections_bounded(wired: tuple[TestClient, Hub]) -> None:
    http, hub = wired
    answers: list[int] = []
    lock = threading.Lock()

    def send(n: int) -> None:
        for i in range(n, 1000, 16):
            status = http.post("/webhooks/bordeaux/writer", content=f"c{i}".encode()).status_code
            with lock:
                answers.append(status)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert answers.count(200) == 1000
    assert len(hub.store.list_events(kind="candidate_registered", limit=5000)) == 1000
    assert hub.store.open_connections() <= 5
