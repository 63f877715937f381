"""The core's conformance suite, run against the gsheets plugin and its sandbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
from gsheets_helpers import SHEET_ID, gsheets_table, poller

import hub_gsheets.plugin
from hub.app import Hub
from hub.testing import ConnectorConformance
from hub_gsheets.sandbox import DEMO_TOKEN, SheetsSandbox


class TestGsheetsConformance(ConnectorConformance):
    plugin_name = "gsheets"
    plugin = hub_gsheets.plugin
    not_applicable: ClassVar[dict[str, str]] = {
        **ConnectorConformance.not_applicable,
        "error_mapping": "its deliveries call no service (they mark rows pending; the `suivi` poller writes them), "
                         "so Google's answers are the poller's: test_gsheets_auth_and_errors.py",
    }

    @pytest.fixture
    def connector_hub(self, make_hub: Callable[..., Hub], register_plugin: Callable[[str, object], object],
                      sandbox: SheetsSandbox, sandbox_url: str) -> Iterator[Hub]:
        register_plugin("gsheets", hub_gsheets.plugin)
        self.sandbox = sandbox
        yield make_hub({"conformance": {"plugins": ["gsheets"], "gsheets": gsheets_table(sandbox_url)}},
                       environ={"HUB_CONFORMANCE_GSHEETS_ACCESS_TOKEN": DEMO_TOKEN})

    def effect_snapshot(self, hub: Hub) -> Any:
        """The tracking sheet after the pending rows are written (sinks only write from the `suivi` poller)."""
        poller(hub, "suivi", "conformance").poll(hub.store.cursor("conformance", "gsheets", "suivi"))
        return self.sandbox.values(SHEET_ID, "Suivi")
