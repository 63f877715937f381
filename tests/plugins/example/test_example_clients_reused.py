"""The example connector keeps one httpx client per lane, reused by its polls and deliveries, closed on
request (issue 12, item 4): a client per call cost a new connection pool and handshake each time. Counted."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

import hub_example.plugin as example
from hub.app import Hub
from hub.events import EventKind
from hub.sandbox import serve
from hub.testing import make_event
from hub_example.sandbox import CarnetSandbox

TOKEN = "t0ken"


@pytest.fixture
def carnet_hub(make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object]) -> Iterator[Hub]:
    register_plugin("example", example)
    sandbox = CarnetSandbox()
    sandbox.add_signup(TOKEN, first_name="Zoé", email="zoe@example.org")
    with serve({"example": sandbox}) as urls:
        yield make_hub({"lyon": {"plugins": ["example"], "example": {"url": urls["example"]}}},
                       environ={"HUB_LYON_EXAMPLE_TOKEN": TOKEN})
    example.close_clients()


@pytest.fixture
def made(instances: Callable[[type[httpx.Client]], list[httpx.Client]]) -> list[httpx.Client]:
    return instances(httpx.Client)


def test_twenty_polls_and_deliveries_share_one_client(carnet_hub: Hub, made: list[httpx.Client]) -> None:
    poller = next(p for plugin, p in carnet_hub.pollers["lyon"] if plugin == "example")
    context = carnet_hub.context("lyon", "example")
    for i in range(20):
        carnet_hub.poll("lyon", "example", poller)
        example.candidate_registered(context.for_delivery(f"key-{i}"), make_event(EventKind.CANDIDATE_REGISTERED))
    assert len(made) == 1


def test_close_clients_closes_the_lane_client(carnet_hub: Hub, made: list[httpx.Client]) -> None:
    poller = next(p for plugin, p in carnet_hub.pollers["lyon"] if plugin == "example")
    carnet_hub.poll("lyon", "example", poller)
    assert len(made) == 1 and not made[0].is_closed
    example.close_clients()
    assert made[0].is_closed
    carnet_hub.poll("lyon", "example", poller)  # the next use builds a new one
    assert len(made) == 2 and not made[1].is_closed
