"""Closing the hub closes the connector's Sheets client: its httplib2 connections, which httplib2 keeps open
until told (issue 12, item 4: they stayed open for the process's life)."""

from __future__ import annotations

from collections.abc import Callable

import httplib2
from gsheets_helpers import poll

from hub.app import Hub


def test_closing_the_hub_closes_the_sheets_connections(make_gsheets_hub: Callable[..., Hub],
                                                       made: list[httplib2.Http]) -> None:
    hub, other = make_gsheets_hub(), make_gsheets_hub()
    for _ in range(3):
        poll(hub, "formulaire"), poll(hub, "suivi"), poll(other, "formulaire")
    assert len(made) == 2 and all(http.connections for http in made), "one client per lane, its connection open"
    hub.close()
    assert made[0].connections == {}
    assert made[1].connections, "another hub's client stays open"
    other.close()
    assert made[1].connections == {}
