"""Who may open the live page /tableau, and what each sees: the access list of hub.toml and the branch files.

A branch's staff (`[report] viewers` in its file) see that branch only; the network's (`[report]
network_viewers` in hub.toml) see every branch and the network. An address listed in several branch files sees
those branches; an address listed for the network sees the network's view, whatever else lists it. Addresses
are compared with `hub.identity.email_key` (case and Unicode form ignored).

A viewer is known to the page by a keyed digest of their address (`Access.digest`), never by the address: the
login link and the session cookie carry the digest, and each request looks it up again in the list loaded at
start, so an address taken off the list loses its session when the hub restarts with the new list.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hub.identity import email_key
from hub.report.figures import NETWORK_TITLE
from hub.report.model import NETWORK
from hub.report.monthly import network_sender

if TYPE_CHECKING:
    from hub.config import HubConfig

__all__ = ["Access", "Scope"]


@dataclass(frozen=True)
class Scope:
    """What a viewer sees: the network (every branch and the network's figures), or some branches."""

    network: bool
    branches: tuple[str, ...] = ()

    def encode(self) -> list[str]:
        """As the session cookie holds it: ["reseau"] or the branch ids."""
        return [NETWORK] if self.network else list(self.branches)

    @classmethod
    def decode(cls, value: object) -> Scope | None:
        if not (isinstance(value, list) and value and all(isinstance(v, str) and v for v in value)):
            return None
        return cls(True) if value == [NETWORK] else cls(False, tuple(sorted(set(value))))

    def within(self, allowed: Scope) -> Scope | None:
        """This scope narrowed to what `allowed` still grants (None when nothing is left)."""
        if allowed.network:
            return self
        if self.network:
            return None
        kept = tuple(b for b in self.branches if b in allowed.branches)
        return Scope(False, kept) if kept else None


class Access:
    """The access list loaded at start, with each address's digest under the page's key."""

    def __init__(self, config: HubConfig, key: Callable[[], str]) -> None:
        self.config = config
        self._key = key
        self._scopes: dict[str, Scope] | None = None  # digest -> scope, made on first use (the key is read then)
        self._addresses: dict[str, str] = {}  # digest -> the address as listed (where its link is mailed)

    def digest(self, address: str) -> str | None:
        """The viewer's keyed digest (HMAC-SHA256 of the address's key, 32 hex); None for no address."""
        key = email_key(address)
        if key is None:
            return None
        return hmac.new(self._key().encode(), key.encode(), hashlib.sha256).hexdigest()[:32]

    def _table(self) -> dict[str, Scope]:
        if self._scopes is None:
            branches: dict[str, set[str]] = {}
            for branch_id, branch in self.config.branches.items():
                for address in branch.report.viewers:
                    branches.setdefault(address, set()).add(branch_id)
            table: dict[str, Scope] = {}
            listed = [(a, Scope(False, tuple(sorted(ids)))) for a, ids in branches.items()]
            for address, scope in [*listed, *((a, Scope(True)) for a in self.config.hub.report.network_viewers)]:
                digest = self.digest(address)
                if digest is not None:  # the network's view wins over a branch's for the same address
                    table[digest] = scope
                    self._addresses[digest] = address
            self._scopes = table
        return self._scopes

    def scope_of(self, digest: str) -> Scope | None:
        """What the viewer with this digest may see now; None when the address is not (or no longer) listed."""
        return self._table().get(digest)

    def address_of(self, digest: str) -> str | None:
        """The listed address a viewer's login link is mailed to."""
        self._table()
        return self._addresses.get(digest)

    def title(self, scope: Scope) -> str:
        """What the scope is called on the page and in the login mail."""
        if scope.network:
            return NETWORK_TITLE
        return ", ".join(self.config.branches[b].name for b in scope.branches if b in self.config.branches)

    def sender(self, scope: Scope, has_channel: Callable[[str], bool]) -> str | None:
        """The branch whose mail channel sends this viewer's login link: for a branch's staff, their branch (the
        first by id with a channel); for the network's, `[report] network_channel_branch`, else the first branch
        by id with a channel. None when no branch can send it."""
        if not scope.network:
            return next((b for b in scope.branches if has_channel(b)), None)
        return network_sender(self.config, has_channel)
