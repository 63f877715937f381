"""A gsheets lane builds its Sheets service and resources once, however often it polls (issue 12, item 4).

google-api-python-client builds a new resource object (with a docstring per method pretty-printing the full
schemas: ~0.5 s and ~130 MB for `spreadsheets()`) on every call of `service.spreadsheets()`; polling a sheet
every few seconds then kept the daemon busy and its memory swinging. Counted, not timed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from googleapiclient import discovery
from gsheets_helpers import poll

from hub.app import Hub


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many services and resource objects google-api-python-client made."""
    counts = {"services": 0, "resources": 0}
    build, init = discovery.build_from_document, discovery.Resource.__init__

    def counting_build(*args: Any, **kwargs: Any) -> Any:
        counts["services"] += 1
        return build(*args, **kwargs)

    def counting_init(self: Any, *args: Any, **kwargs: Any) -> None:
        counts["resources"] += 1
        init(self, *args, **kwargs)

    monkeypatch.setattr(discovery, "build_from_document", counting_build)  # build() calls it too
    monkeypatch.setattr(discovery.Resource, "__init__", counting_init)
    return counts


def test_twenty_polls_build_the_service_and_its_resources_once(make_gsheets_hub: Callable[..., Hub],
                                                               built: dict[str, int]) -> None:
    hub = make_gsheets_hub()
    poll(hub, "formulaire")
    poll(hub, "suivi")
    after_first = dict(built)
    assert after_first["services"] == 1
    for _ in range(20):
        poll(hub, "formulaire")
        poll(hub, "suivi")
    assert built == after_first, "each poll built resources again"


def test_the_service_knows_only_the_methods_the_connector_calls() -> None:
    from hub_gsheets.client import METHODS, SheetsClient

    client = SheetsClient(branch="lyon", api_endpoint="http://127.0.0.1:9/", http=object())
    assert set(vars(client._spreadsheets)) >= {"get", "batchUpdate"}
    assert "create" not in vars(client._spreadsheets) and "developerMetadata" not in vars(client._spreadsheets)
    assert len(METHODS) == 4
