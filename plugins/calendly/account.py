"""Who the token belongs to (user and organisation URIs), and building the client for a branch."""

from __future__ import annotations

import threading
import weakref
from datetime import UTC, datetime

from hub.context import HubContext
from hub_calendly.client import CalendlyClient
from hub_calendly.plugin import Settings

ACCOUNT_KEY = "account"


def calendly_time(when: datetime) -> str:
    """Calendly's UTC format, e.g. 2020-01-02T03:04:05.678123Z."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_LOCK = threading.Lock()
_CLIENTS: weakref.WeakKeyDictionary[HubContext, weakref.WeakSet[CalendlyClient]] = weakref.WeakKeyDictionary()
"""The clients built for each lane, by the lane's context, for `close_lane`. Weak on both sides: a hub never
closed (or a lane's pollers dropped) leaves nothing behind here, and one hub's close never touches another's."""


def make_client(hub: HubContext, settings: Settings) -> CalendlyClient:
    return remember(hub, CalendlyClient(settings.token.get_secret_value(), settings.api_url, clock=hub.now))


def remember(hub: HubContext, client: CalendlyClient) -> CalendlyClient:
    """Note a client built for the lane of `hub`, so that `close_clients(hub)` closes it."""
    with _LOCK:
        _CLIENTS.setdefault(hub, weakref.WeakSet()).add(client)
    return client


def close_clients(hub: HubContext) -> None:
    """Close every client built for the lane of `hub` (their pooled connections); they must not be used after."""
    with _LOCK:
        clients = list(_CLIENTS.pop(hub, ()))
    for client in clients:
        client.close()


class Account:
    """The token's user and organisation, asked once (`/users/me`) and remembered in the plugin's state."""

    def __init__(self, hub: HubContext, settings: Settings, client: CalendlyClient) -> None:
        self.hub, self.settings, self.client = hub, settings, client

    def get(self) -> dict[str, str]:
        known = self.hub.state_get(ACCOUNT_KEY)
        if isinstance(known, dict) and known.get("user") and known.get("organization"):
            return known
        me = self.client.me()
        known = {"user": str(me["uri"]), "organization": str(me["current_organization"])}
        self.hub.state_put(ACCOUNT_KEY, known)
        return known

    def scope_params(self) -> dict[str, str]:
        account = self.get()
        if self.settings.scope == "organization":
            return {"organization": account["organization"]}
        return {"user": account["user"]}
