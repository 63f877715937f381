"""One branch's mailbox: its settings, a Gmail client built on first use, and the sender address.

A delivery's context is new for every delivery, so what must outlive one call (the client and its refreshed
token, the address read from users.getProfile) is kept here, one object per (state directory, branch),
rebuilt when the branch's settings change. A lane never runs two steps at once, so one client per branch is
never used by two threads at a time; the lock only guards building it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hub_gmail.settings import Settings

if TYPE_CHECKING:
    from hub.context import HubContext
    from hub_gmail.client import GmailClient

HTTP_FACTORY: Callable[[], Any] | None = None
"""Tests may set this to return an httplib2 stand-in (e.g. googleapiclient.http.HttpMockSequence)."""

_LOCK = threading.Lock()
_MAILBOXES: dict[tuple[str, str], Mailbox] = {}


class Mailbox:
    def __init__(self, hub: HubContext, settings: Settings) -> None:
        self.hub = hub
        self.branch = hub.branch
        self.settings = settings
        self._client: GmailClient | None = None
        self._sender: str | None = settings.sender

    def client(self) -> GmailClient:
        with _LOCK:
            if self._client is None:
                from hub_gmail.client import GmailClient
                from hub_google import SCOPES, GoogleAuth

                auth = GoogleAuth(self.hub, self.settings, SCOPES["gmail"])
                self._client = GmailClient(branch=self.branch, auth=auth, api_endpoint=self.settings.api_endpoint,
                                           http=HTTP_FACTORY() if HTTP_FACTORY else None, clock=self.hub.now)
            return self._client

    def profile(self) -> dict[str, Any]:
        """users.getProfile (1 request); remembers the mailbox's address for `sender`."""
        profile = self.client().profile()
        if self._sender is None:
            self._sender = str(profile["emailAddress"])
        return profile

    def sender(self) -> str:
        """The From address: `sender` when set, else the mailbox's own, read once per process (the bounce
        source's first poll usually has read it already)."""
        if self._sender is None:
            self.profile()
        assert self._sender is not None  # set by profile()
        return self._sender

    def scopes(self) -> frozenset[str]:
        """The scopes the mailbox's credentials carry: those Google granted when the credentials say (a user
        token refreshed), else those they were made with (the token file's, a service account's), else those
        the hub asks for (hub_google.SCOPES["gmail"]; a fixed token says none)."""
        auth = self.client().auth
        if auth is None:
            from hub_google import SCOPES

            return frozenset(SCOPES["gmail"])
        creds = auth.credentials
        granted = getattr(creds, "granted_scopes", None) or getattr(creds, "scopes", None)
        return frozenset(granted or auth.scopes)

    def forget(self) -> None:
        """After refused credentials: build the client again (re-reading the token file) at the next use."""
        with _LOCK:
            self._client = None

    def close(self) -> None:
        """Close the client's connections; a later use builds a new client."""
        with _LOCK:
            client, self._client = self._client, None
        if client is not None:
            client.close()


def mailbox(hub: HubContext) -> Mailbox:
    """The branch's Mailbox, shared by its deliveries, its bounce source and its checks."""
    settings = hub.settings_as(Settings)
    key = (str(hub.state_dir), hub.branch)
    with _LOCK:
        found = _MAILBOXES.get(key)
        if found is None or found.settings != settings:
            found = _MAILBOXES[key] = Mailbox(hub, settings)
        return found


def close_mailbox(hub: HubContext) -> None:
    """The lane stops: close its mailbox's client and forget the mailbox (another hub on the same state
    directory and branch builds a new client at its next use)."""
    with _LOCK:
        found = _MAILBOXES.pop((str(hub.state_dir), hub.branch), None)
    if found is not None:
        found.close()
