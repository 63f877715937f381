"""One HTTP client per lane, shared by a connector's polls, deliveries and checks.

A client per call costs a connection pool and a TLS handshake each time (issue 12); a client per process
would mix branches' credentials. `LaneClients` keeps one httpx client per (state directory, branch), built on
first use, rebuilt when the settings it was built from change, closed when the lane stops (`close_lane`) or at
exit. httpx clients are thread-safe, so the daemon's workers share them.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from hub.context import HubContext

__all__ = ["LaneClients"]


class LaneClients:
    """A connector's clients, one per lane: `CLIENTS = LaneClients()` at module level, then
    `CLIENTS.get(hub, settings, lambda: httpx.Client(...))` wherever it calls its service, and
    `CLIENTS.close(hub)` in `close_lane`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str], tuple[Hashable, httpx.Client]] = {}
        atexit.register(self.close)

    def get(self, hub: HubContext, made_from: Hashable, build: Callable[[], httpx.Client]) -> httpx.Client:
        """The lane's client; `build()` makes a new one on first use and whenever `made_from` (the settings
        the client depends on) differs from the last call's, and the replaced client is closed."""
        key = (str(hub.state_dir), hub.branch)
        with self._lock:
            found = self._clients.get(key)
            if found is not None and found[0] == made_from:
                return found[1]
            client = build()
            self._clients[key] = (made_from, client)
        if found is not None:
            found[1].close()
        return client

    def close(self, hub: HubContext | None = None) -> None:
        """Close the lane's client of `hub`, or every lane's; the next `get` builds a new one."""
        with self._lock:
            if hub is None:
                clients = [client for _, client in self._clients.values()]
                self._clients.clear()
            else:
                found = self._clients.pop((str(hub.state_dir), hub.branch), None)
                clients = [found[1]] if found is not None else []
        for client in clients:
            client.close()
