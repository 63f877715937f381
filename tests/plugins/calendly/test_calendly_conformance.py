"""The connector suite every plugin runs (hub.testing.ConnectorConformance)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

import hub_calendly.plugin as calendly_plugin
from hub.app import Hub
from hub.testing import ConnectorConformance, FakeClock
from hub_calendly.sandbox import CalendlySandbox


class TestCalendlyConformance(ConnectorConformance):
    plugin_name = "calendly"
    plugin = calendly_plugin

    @pytest.fixture
    def connector_hub(self, make_hub: Callable[..., Hub], register_plugin: Callable[..., object],
                      sandbox: CalendlySandbox, sandbox_url: str, clock: FakeClock) -> Hub:
        register_plugin("calendly", calendly_plugin)
        for n in range(3):  # something to read, so that "a second poll adds nothing" means something
            sandbox.book("conformance", email=f"c{n}@exemple.invalid", first_name="C", last_name=str(n),
                         start=clock() + timedelta(days=n + 1))
        return make_hub({"conformance": {"plugins": ["calendly"], "calendly": {"api_url": sandbox_url}}},
                        environ={"HUB_CONFORMANCE_CALENDLY_TOKEN": sandbox.token_for("conformance")})
