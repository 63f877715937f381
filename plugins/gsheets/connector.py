"""One branch's wiring: a Sheets client built on first use, and the two pollers sharing it."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from hub.errors import PluginAuthFailed
from hub.sources import Poller, PollResult
from hub_gsheets.settings import Settings

if TYPE_CHECKING:
    from hub.context import HubContext
    from hub_gsheets.client import SheetsClient

T = TypeVar("T")
HTTP_FACTORY: Callable[[], Any] | None = None
"""Tests may set this to return an httplib2 stand-in (e.g. googleapiclient.http.HttpMockSequence)."""
_LOCK = threading.Lock()
_CONNECTORS: weakref.WeakKeyDictionary[HubContext, weakref.WeakSet[Connector]] = weakref.WeakKeyDictionary()
"""Each lane's connectors, by the lane's context, for `close_lane`. Weak on both sides: a hub never closed
leaves nothing behind, and one hub's close never touches another's."""


class Connector:
    def __init__(self, hub: HubContext) -> None:
        from hub_gsheets.form_source import FormSource
        from hub_gsheets.outcomes import OutcomeSource
        from hub_gsheets.tracking import TrackingSheet

        self.hub = hub
        self.settings = hub.settings_as(Settings)
        self._client: SheetsClient | None = None
        self.form = FormSource(hub, self.client) if self.settings.form_sheet else None
        self.tracking = TrackingSheet(hub, self.client)
        self.outcomes = OutcomeSource(hub, self.tracking)
        with _LOCK:
            _CONNECTORS.setdefault(hub, weakref.WeakSet()).add(self)

    def client(self) -> SheetsClient:
        if self._client is None:
            from hub_google import SCOPES, GoogleAuth
            from hub_gsheets.client import SheetsClient

            auth = GoogleAuth(self.hub, self.settings, SCOPES["gsheets"])
            self._client = SheetsClient(branch=self.hub.branch, auth=auth, api_endpoint=self.settings.api_endpoint,
                                        http=HTTP_FACTORY() if HTTP_FACTORY else None)
        return self._client

    def close(self) -> None:
        """Close the client's connections; a later use builds a new client."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _guard(self, poll: Callable[[str | None], PollResult]) -> Callable[[str | None], PollResult]:
        def guarded(cursor: str | None) -> PollResult:
            try:
                return poll(cursor)
            except PluginAuthFailed:
                self._client = None  # re-read the token file next time (after `hub auth google`)
                raise
        return guarded

    def pollers(self) -> list[Poller]:
        out = []
        if self.form is not None:
            out.append(Poller("formulaire", self._guard(self.form.poll), interval=self.settings.form_interval,
                              resync_cursor=self.form.resync_cursor))
        out.append(Poller("suivi", self._guard(self.outcomes.poll), interval=self.settings.sync_interval,
                          resync_cursor=self.outcomes.resync_cursor))
        return out


def close_connectors(hub: HubContext) -> None:
    """Close the Sheets clients of every connector built for the lane of `hub`."""
    with _LOCK:
        connectors = list(_CONNECTORS.pop(hub, ()))
    for connector in connectors:
        connector.close()
