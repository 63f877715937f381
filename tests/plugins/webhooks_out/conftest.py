"""A fake receiver served on loopback, and hubs whose branch sends it webhooks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import hub_webhooks_out.plugin as webhooks_out_plugin
from hub.app import Hub
from hub.sandbox import serve
from hub_webhooks_out.sandbox import ReceiverSandbox
from hub_webhooks_out.settings import KINDS
from hub_webhooks_out.signing import endpoint_secret

SECRET = "a-branch-secret-for-the-tests"
BRANCH = "lyon"


@pytest.fixture
def receiver() -> Iterator[ReceiverSandbox]:
    """The fake receiver, served; `receiver.url` is its base address."""
    sandbox = ReceiverSandbox()
    with serve({"webhooks_out": sandbox}) as urls:
        sandbox.url = urls["webhooks_out"]  # type: ignore[attr-defined]  # a test-only attribute
        yield sandbox


def endpoint(receiver: ReceiverSandbox, name: str, events: tuple[str, ...] = KINDS, **extra: Any) -> dict[str, Any]:
    """An endpoint's settings pointing at the fake receiver `name`, which knows its secret."""
    receiver.add_receiver(name, endpoint_secret(SECRET, name))
    return {"name": name, "url": f"{receiver.url}/hooks/{name}", "events": list(events), **extra}  # type: ignore[attr-defined]  # set by the fixture


@pytest.fixture
def webhooks_hub(make_hub: Callable[..., Hub], register_plugin: Callable[..., object]) -> Callable[..., Hub]:
    """`webhooks_hub(endpoints, branch="lyon", **settings)`: a hub whose branch sends to `endpoints`."""
    register_plugin("webhooks_out", webhooks_out_plugin)

    def make(endpoints: list[dict[str, Any]], branch: str = BRANCH, **settings: Any) -> Hub:
        return make_hub({branch: {"plugins": ["webhooks_out"],
                                  "webhooks_out": {"endpoints": endpoints, **settings}}},
                        environ={f"HUB_{branch.upper()}_WEBHOOKS_OUT_SECRET": SECRET})
    return make
