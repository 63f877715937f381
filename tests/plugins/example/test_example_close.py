"""Closing the hub closes the example connector's lane client, not another branch's nor another hub's
(issue 12, item 4: it was closed at process exit only)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

import hub_example.plugin as example
from hub.app import Hub
from hub.sandbox import serve
from hub_example.sandbox import CarnetSandbox

TOKEN = "t0ken"


@pytest.fixture
def carnet_url(register_plugin: Callable[[str, object], object]) -> Iterator[str]:
    register_plugin("example", example)
    sandbox = CarnetSandbox()
    sandbox.add_signup(TOKEN, first_name="Zoé", email="zoe@example.org")
    with serve({"example": sandbox}) as urls:
        yield urls["example"]
    example.close_clients()


@pytest.fixture
def made(instances: Callable[[type[httpx.Client]], list[httpx.Client]]) -> list[httpx.Client]:
    return instances(httpx.Client)


def _hub(make_hub: Callable[..., Hub], url: str, *branches: str) -> Hub:
    return make_hub({b: {"plugins": ["example"], "example": {"url": url}} for b in branches},
                    environ={f"HUB_{b.upper()}_EXAMPLE_TOKEN": TOKEN for b in branches})


def _poll(hub: Hub, branch: str) -> None:
    poller = next(p for plugin, p in hub.pollers[branch] if plugin == "example")
    hub.poll(branch, "example", poller)


def test_closing_the_hub_closes_its_lanes_clients_only(make_hub: Callable[..., Hub], carnet_url: str,
                                                       made: list[httpx.Client]) -> None:
    hub, other = _hub(make_hub, carnet_url, "lyon", "nice"), _hub(make_hub, carnet_url, "lyon")
    _poll(hub, "lyon"), _poll(hub, "nice"), _poll(other, "lyon")
    assert len(made) == 3 and not any(client.is_closed for client in made)
    hub.close()
    assert made[0].is_closed and made[1].is_closed
    assert not made[2].is_closed, "another hub's client (another state directory) stays open"
    _poll(other, "lyon")
    assert len(made) == 3
