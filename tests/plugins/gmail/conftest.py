"""Fixtures: the Gmail sandbox served on loopback, and hubs whose branches send through it with the real client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gmail_helpers import ADDRESSES, BRANCH, Crash, gmail_table, token

import hub_gmail.plugin
from hub.app import Hub
from hub.sandbox import serve
from hub.testing import FakeClock
from hub_gmail.client import GmailClient
from hub_gmail.sandbox import GmailSandbox


@pytest.fixture
def sandbox(clock: FakeClock) -> GmailSandbox:
    fake = GmailSandbox(clock=clock)
    for branch, address in ADDRESSES.items():
        fake.add_mailbox(address, token(branch), branch=branch)
    return fake


@pytest.fixture
def sandbox_url(sandbox: GmailSandbox) -> Iterator[str]:
    with serve({"gmail": sandbox}) as urls:
        yield urls["gmail"]


@pytest.fixture
def make_gmail_hub(make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object],
                   sandbox_url: str) -> Callable[..., Hub]:
    """A hub whose branches (default: 'lyon') send through the sandbox; keyword arguments override settings."""
    register_plugin("gmail", hub_gmail.plugin)

    def make(*branches: str, **overrides: Any) -> Hub:
        names = branches or (BRANCH,)
        environ = {f"HUB_{b.upper()}_GMAIL_ACCESS_TOKEN": token(b) for b in names}
        data = {b: {"plugins": ["gmail"], "gmail": gmail_table(sandbox_url, **overrides)} for b in names}
        return make_hub(data, environ=environ)
    return make


@pytest.fixture
def gmail_hub(make_gmail_hub: Callable[..., Hub]) -> Hub:
    return make_gmail_hub()


@pytest.fixture
def crash_at(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, bool], None]]:
    """crash_at("create_draft", after=True): the process dies right after (or before) that Gmail call."""
    def arm(method: str, after: bool) -> None:
        real = getattr(GmailClient, method)

        def crashing(self: GmailClient, *args: Any, **kw: Any) -> Any:
            monkeypatch.setattr(GmailClient, method, real)  # once
            if after:
                real(self, *args, **kw)
            raise Crash(method)
        monkeypatch.setattr(GmailClient, method, crashing)
    yield arm
