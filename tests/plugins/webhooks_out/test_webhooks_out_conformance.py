"""The connector suite every plugin runs (hub.testing.ConnectorConformance), against the fake receiver."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import hub_webhooks_out.plugin as webhooks_out_plugin
from hub.app import Hub
from hub.sandbox import serve
from hub.testing import ConnectorConformance
from hub_webhooks_out.sandbox import ReceiverSandbox
from hub_webhooks_out.settings import KINDS
from hub_webhooks_out.signing import endpoint_secret

SECRET = "the-conformance-branch-secret"


class TestWebhooksOutConformance(ConnectorConformance):
    plugin_name = "webhooks_out"
    plugin = webhooks_out_plugin

    @pytest.fixture
    def connector_hub(self, make_hub: Callable[..., Hub], register_plugin: Callable[..., object]) -> Iterator[Hub]:
        self.sandbox = ReceiverSandbox()
        self.sandbox.add_receiver("crm", endpoint_secret(SECRET, "crm"))
        with serve({"webhooks_out": self.sandbox}) as urls:
            register_plugin("webhooks_out", webhooks_out_plugin)
            yield make_hub({"conformance": {"plugins": ["webhooks_out"], "webhooks_out": {"endpoints": [
                {"name": "crm", "url": f"{urls['webhooks_out']}/hooks/crm", "events": list(KINDS)}]}}},
                environ={"HUB_CONFORMANCE_WEBHOOKS_OUT_SECRET": SECRET})

    def effect_snapshot(self, hub: Hub) -> object:
        # every request the receiver accepted, repeats included: a re-post under the same id would show
        return self.sandbox.posts.get("crm", 0)
