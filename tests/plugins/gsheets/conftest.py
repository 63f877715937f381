"""Fixtures: the Sheets sandbox served on loopback, and hubs whose branches use it through the real client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gsheets_helpers import BRANCH, SHEET_ID, gsheets_table

import hub_gsheets.plugin
from hub.app import Hub
from hub.sandbox import serve
from hub.testing import FakeClock
from hub_gsheets.sandbox import DEMO_TOKEN, FORM_HEADERS_FR, FORM_SHEET_FR, SheetsSandbox


@pytest.fixture
def sandbox(clock: FakeClock) -> SheetsSandbox:
    fake = SheetsSandbox(clock=clock)
    fake.create(SHEET_ID, {FORM_SHEET_FR: [FORM_HEADERS_FR]})
    return fake


@pytest.fixture
def sandbox_url(sandbox: SheetsSandbox) -> Iterator[str]:
    with serve({"gsheets": sandbox}) as urls:
        yield urls["gsheets"]


@pytest.fixture
def make_gsheets_hub(make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object],
                     sandbox_url: str) -> Callable[..., Hub]:
    """A hub with branch 'lyon' using gsheets against the sandbox; keyword arguments override settings."""
    register_plugin("gsheets", hub_gsheets.plugin)

    def make(branch: str = BRANCH, extra: dict[str, Any] | None = None, **overrides: Any) -> Hub:
        environ = {f"HUB_{branch.upper()}_GSHEETS_ACCESS_TOKEN": DEMO_TOKEN}
        data = {"plugins": ["gsheets"], "gsheets": gsheets_table(sandbox_url, **overrides), **(extra or {})}
        return make_hub({branch: data}, environ=environ)
    return make


@pytest.fixture
def gsheets_hub(make_gsheets_hub: Callable[..., Hub]) -> Hub:
    return make_gsheets_hub()


@pytest.fixture
def documented() -> Any:
    """The 'Basic writing' page's spreadsheet, served, with a raw service on it."""
    from google.oauth2.credentials import Credentials
    from googleapiclient.discovery import build

    fake = SheetsSandbox()
    fake.create("SPREADSHEET_ID", {"Sheet1": []})
    with serve({"gsheets": fake}) as urls:
        service = build("sheets", "v4", credentials=Credentials(token=DEMO_TOKEN), static_discovery=True,
                        client_options={"api_endpoint": urls["gsheets"] + "/"}, cache_discovery=False)
        yield fake, service.spreadsheets().values()
