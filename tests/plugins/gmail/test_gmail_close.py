"""Closing the hub closes the mailbox's Gmail client: its httplib2 connections, which httplib2 keeps open until
told (issue 12, item 4: they stayed open for the process's life)."""

from __future__ import annotations

from collections.abc import Callable

import httplib2
from gmail_helpers import poll

from hub.app import Hub


def test_closing_the_hub_closes_the_mailbox_connections(make_gmail_hub: Callable[..., Hub],
                                                        made: list[httplib2.Http]) -> None:
    hub, other = make_gmail_hub(), make_gmail_hub()
    for _ in range(3):
        poll(hub), poll(other)
    assert len(made) == 2 and all(http.connections for http in made), "one open connection per hub's client"
    hub.close()
    assert made[0].connections == {}
    assert made[1].connections, "another hub's mailbox (another state directory) stays open"
    poll(other)
    other.close()
    assert made[1].connections == {}

