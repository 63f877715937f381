"""Closing the hub closes the lane's Calendly clients, the pollers' shared one and the webhook handler's
(issue 12, item 4: `CalendlyClient.close()` was never called, each client's connection pool stayed open)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

import hub_calendly.plugin as calendly_plugin
from hub.app import Hub
from hub.testing import FakeClock
from hub_calendly.sandbox import CalendlySandbox
from hub_calendly.webhook import sign

from .conftest import BRANCH, deliver, fixture_bytes, poller


@pytest.fixture
def made(instances: Callable[[type[httpx.Client]], list[httpx.Client]]) -> list[httpx.Client]:
    """Every httpx client built from now on (the connector's: the sandbox is already served)."""
    return instances(httpx.Client)


def test_closing_the_hub_closes_the_pollers_and_the_webhook_handlers_clients(
        calendly_hub: Hub, sandbox: CalendlySandbox, clock: FakeClock, made: list[httpx.Client]) -> None:
    sandbox.book(BRANCH, email="zoe@exemple.invalid", first_name="Zoé", last_name="Nom",
                 start=clock() + timedelta(days=1))
    for name in ("calendly-bookings", "calendly-no-shows", "calendly-webhook-check"):
        calendly_hub.poll(BRANCH, "calendly", poller(calendly_hub, name))
    body = fixture_bytes("webhook_invitee_created.json")
    headers = {"Content-Type": "application/json",
               "Calendly-Webhook-Signature": sign("test-signing-key", body, int(clock().timestamp()))}
    assert deliver(calendly_hub, body, headers).status == 200
    _ = calendly_hub.webhook_routes()[(BRANCH, "calendly", "")].handler.client  # type: ignore[attr-defined]
    assert len(made) == 2, "one client shared by the three pollers, one for the webhook handler"
    assert not any(client.is_closed for client in made)
    calendly_hub.close()
    assert all(client.is_closed for client in made)


def test_one_hubs_close_leaves_another_hubs_clients_open(
        calendly_hub: Hub, make_hub: Callable[..., Hub], sandbox: CalendlySandbox, sandbox_url: str,
        made: list[httpx.Client]) -> None:
    other = make_hub({BRANCH: {"plugins": ["calendly"], "calendly": {"api_url": sandbox_url}}},
                     environ={"HUB_ANTENNE_CALENDLY_TOKEN": sandbox.token_for(BRANCH)})
    _ = poller(calendly_hub, "calendly-bookings"), poller(other, "calendly-bookings")
    first, second = made
    other.close()
    assert second.is_closed and not first.is_closed
    calendly_hub.poll(BRANCH, "calendly", poller(calendly_hub, "calendly-bookings"))  # still works
    calendly_hub.close()
    assert first.is_closed


def test_close_lane_without_clients_does_nothing(calendly_hub: Hub) -> None:
    calendly_plugin.close_lane(calendly_hub.context(BRANCH, "calendly"))  # never set up: nothing to close
