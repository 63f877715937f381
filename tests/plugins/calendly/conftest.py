"""Fixtures for the Calendly connector: the fake served on loopback, and a hub with one branch using it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import hub_calendly.plugin as calendly_plugin
from hub.app import Hub
from hub.sandbox import serve
from hub.sources import Poller, WebhookReply, WebhookRequest
from hub.testing import FakeClock
from hub_calendly.sandbox import CalendlySandbox, Delivery

FIXTURES = Path(__file__).parent / "fixtures"
BRANCH = "antenne"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def sandbox(clock: FakeClock) -> CalendlySandbox:
    return CalendlySandbox(clock=clock)


@pytest.fixture
def sandbox_url(sandbox: CalendlySandbox) -> Iterator[str]:
    with serve({"calendly": sandbox}) as urls:
        yield urls["calendly"]


@pytest.fixture
def branch_settings() -> dict[str, Any]:
    """Extra [calendly] keys for the test branch (tests override this fixture or mutate the dict)."""
    return {}


@pytest.fixture
def calendly_hub(make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object],
                 sandbox: CalendlySandbox, sandbox_url: str, branch_settings: dict[str, Any]) -> Hub:
    register_plugin("calendly", calendly_plugin)
    token = sandbox.token_for(BRANCH)
    return make_hub({BRANCH: {"plugins": ["calendly"], "calendly": {"api_url": sandbox_url, **branch_settings}}},
                    environ={"HUB_ANTENNE_CALENDLY_TOKEN": token,
                             "HUB_ANTENNE_CALENDLY_WEBHOOK_SIGNING_KEY": "test-signing-key"})


def poller(hub: Hub, name: str, branch: str = BRANCH) -> Poller:
    return next(p for plugin, p in hub.pollers[branch] if p.name == name)


def webhook_sender(hub: Hub, branch: str = BRANCH) -> Callable[[Delivery], int]:
    """What the core's receiver does: hand the request to the plugin's route, commit its events, answer."""
    def send(delivery: Delivery) -> int:
        return deliver(hub, delivery.body, delivery.headers, branch).status
    return send


def deliver(hub: Hub, body: bytes, headers: dict[str, str], branch: str = BRANCH) -> WebhookReply:
    route = hub.webhook_routes()[(branch, "calendly", "")]
    request = WebhookRequest(method="POST", path="", headers={k.lower(): v for k, v in headers.items()}, query={},
                             body=body, received_at=hub.clock())
    reply = route.handler(request)
    if reply.events:
        hub.ingest(branch, "calendly", reply.events)
    return reply


def kinds(hub: Hub, branch: str = BRANCH) -> list[str]:
    return [row.kind for row in reversed(hub.store.list_events(branch=branch, limit=10_000))]


def stored(hub: Hub, kind: str, branch: str = BRANCH) -> list[dict[str, Any]]:
    """Stored events of a kind, oldest first, each with its person's record where the log keeps the id only."""
    rows = reversed(hub.store.list_events(branch=branch, kind=kind, limit=10_000))
    out = []
    for row in rows:
        body = json.loads(row.body)
        person = body.get("candidate")
        if isinstance(person, dict) and person.get("id"):
            body["candidate"] = hub.store.get_entity("candidates", person["id"]) or person
        out.append(body)
    return out
