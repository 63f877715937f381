"""One branch's mailbox: its settings, one httpx client, one MSAL application (auth.py), one Graph client.

A delivery's context is new for every delivery, so what must outlive a call (the MSAL application and its
token cache, the connection pool) is kept here, one object per (state directory, branch), rebuilt when the
branch's settings change, closed by `close_lane`. The lock only guards building; MSAL's own state is guarded
by auth.py's lock, and httpx clients are thread-safe.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import httpx

from hub_outlook.settings import Settings

if TYPE_CHECKING:
    from hub.context import HubContext
    from hub_outlook.auth import OutlookAuth
    from hub_outlook.graph import GraphClient

TIMEOUT = httpx.Timeout(30.0, connect=10.0)

_LOCK = threading.Lock()
_MAILBOXES: dict[tuple[str, str], Mailbox] = {}


class Mailbox:
    def __init__(self, hub: HubContext, settings: Settings) -> None:
        self.hub = hub
        self.branch = hub.branch
        self.settings = settings
        self._client: GraphClient | None = None

    def client(self) -> GraphClient:
        with _LOCK:
            if self._client is None:
                from hub_outlook.auth import OutlookAuth
                from hub_outlook.graph import GraphClient

                http = httpx.Client(timeout=TIMEOUT, headers={"User-Agent": "cravate-hub-outlook"})
                auth = OutlookAuth(self.hub, self.settings, http)
                self._client = GraphClient(branch=self.branch, settings=self.settings, auth=auth, http=http,
                                           clock=self.hub.now)
            return self._client

    @property
    def auth(self) -> OutlookAuth:
        return self.client().auth

    def forget(self) -> None:
        """After refused credentials: the MSAL application is built again (re-reading the token cache file
        `hub auth outlook` wrote) at the next use; the connections are kept."""
        with _LOCK:
            client = self._client
        if client is not None:
            client.auth.forget()

    def close(self) -> None:
        """Close the client's connections; a later use builds a new client."""
        with _LOCK:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def mailbox(hub: HubContext) -> Mailbox:
    """The branch's Mailbox, shared by its deliveries, its checks and the auth command."""
    settings = hub.settings_as(Settings)
    key = (str(hub.state_dir), hub.branch)
    stale: Mailbox | None = None
    with _LOCK:
        found = _MAILBOXES.get(key)
        if found is None or found.settings != settings:
            stale = found
            found = _MAILBOXES[key] = Mailbox(hub, settings)
    if stale is not None:
        stale.close()
    return found


def close_mailbox(hub: HubContext) -> None:
    """The lane stops: close its mailbox's client and forget the mailbox."""
    with _LOCK:
        found = _MAILBOXES.pop((str(hub.state_dir), hub.branch), None)
    if found is not None:
        found.close()
