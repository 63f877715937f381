"""A gsheets lane builds its Sheets service and resources once, however often it polls (issue 12, item 4).

google-api-python-client builds a new resource object (with a docstring per method pretty-printing the full
schemas: ~0.5 s and ~130 MB for `spreadsheets()`) on every call of `service.spreadsheets()`; polling a sheet
every few seconds then kept the daemon busy and its memory swinging. Counted, not timed.
"""

from __future__ import annotations

from collections.abc import Callable

from gsheets_helpers import poll

from hub.app import Hub


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
    assert len(METHODS) == 5
