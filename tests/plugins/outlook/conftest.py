"""Fixtures: Microsoft's login and Graph faked at the wire (respx, nothing reaches Microsoft), and hubs whose
branch sends through the Outlook channel with the real client and real MSAL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import respx

import hub_outlook.plugin
from hub.app import Hub
from hub.sandbox import DemoContext
from hub.serving import ServerThread
from hub.testing import FakeClock
from hub_outlook.sandbox import OutlookSandbox

from .outlook_helpers import BRANCH, SECRET, FakeMicrosoft, outlook_table


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as mocked:
        yield mocked


@pytest.fixture
def microsoft(router: respx.MockRouter) -> FakeMicrosoft:
    fake = FakeMicrosoft()
    fake.install(router)
    return fake


@pytest.fixture
def make_outlook_hub(make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object],
                     microsoft: FakeMicrosoft) -> Callable[..., Hub]:
    """A hub whose branch 'lyon' uses the Outlook channel; keyword arguments override [outlook] settings."""
    register_plugin("outlook", hub_outlook.plugin)

    def make(**overrides: Any) -> Hub:
        table = {k: v for k, v in outlook_table(**overrides).items() if v is not None}
        if table.get("auth") == "delegated" or "certificate_file" in table:
            table.pop("client_secret", None)
        return make_hub({BRANCH: {"plugins": ["outlook"], "outlook": table}},
                        environ={"OUTLOOK_SECRET_LYON": SECRET})
    return make


@pytest.fixture
def outlook_hub(make_outlook_hub: Callable[..., Hub]) -> Hub:
    return make_outlook_hub()


@pytest.fixture
def fake(outlook_sandbox: tuple[OutlookSandbox, str]) -> tuple[OutlookSandbox, str]:
    return outlook_sandbox


@pytest.fixture
def make_sandbox_hub(fake: tuple[OutlookSandbox, str], make_hub: Callable[..., Hub], clock: FakeClock,
                     register_plugin: Callable[[str, object], object]) -> Callable[..., Hub]:
    """A hub whose branch 'lyon' uses Outlook against the served sandbox (the demo's tenant, app and mailbox);
    no reminders or follow-ups; keyword arguments override [outlook] settings (calendar on, source off)."""
    sandbox, url = fake
    register_plugin("outlook", hub_outlook.plugin)

    def make(**settings: Any) -> Hub:
        demo = DemoContext(branch=BRANCH, base_url=url, people=[], now=clock)
        table = {**sandbox.demo_settings(demo), "calendar": True, "source": False, **settings}
        return make_hub({BRANCH: {"plugins": ["outlook"], "schedule": {"reminders": [], "followups": []},
                                  "outlook": table}}, environ=sandbox.demo_environ(demo))
    return make


@pytest.fixture
def outlook_sandbox(clock: FakeClock) -> Iterator[tuple[OutlookSandbox, str]]:
    """The Outlook sandbox served on loopback, on the tests' clock, and its base URL."""
    sandbox = OutlookSandbox(clock=clock)
    with ServerThread(sandbox.app()) as server:
        yield sandbox, server.url
