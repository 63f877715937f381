"""The login links and session cookies of the live page /tableau: signed, timed, no password anywhere.

One key, made on first use and kept 0600 in the state directory (`secrets/hub/tableau_key`), signs both with
itsdangerous (HMAC-SHA256), each under its own salt so one can never pass for the other. Both carry the viewer's
keyed digest (hub.report.access), never the address.

- A **login link** (`<public_url>/tableau/entree/<token>`) names the viewer and a random id. It is valid for
  `[report] login_link_life` (15 minutes) and serves once: its id is remembered as spent until it expires. The
  ids are kept in memory, so a link signed before the hub (re)started is refused too: no link can serve twice
  across a restart.
- A **session** (the cookie's value) names the viewer, their scope and a random id; it lasts
  `[report] session_life` (8 hours). Logging out remembers the id as ended until the session would have
  expired, so a copy of the cookie taken before is refused as well (in memory: a restart forgets it, the
  browser's copy is deleted anyway).

Both times come from the hub's clock (tests move it); a token dated in the future is refused.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer

from hub.report.access import Scope
from hub.secrets import read_or_create_key

__all__ = ["ENTRY_PATH", "KEY_FILE", "LoginPass", "Passes", "Session"]

KEY_FILE = Path("secrets") / "hub" / "tableau_key"
LOGIN_SALT = "cravate-hub tableau login link"
SESSION_SALT = "cravate-hub tableau session"
ENTRY_PATH = "/tableau/entree/"
FUTURE_TOLERANCE = timedelta(minutes=2)
MAX_REMEMBERED = 100_000
"""Spent links and ended sessions remembered at most (each for minutes or hours; logins are rate-limited)."""


@dataclass(frozen=True)
class LoginPass:
    """What a genuine, unexpired, unspent login link names."""

    viewer: str  # the keyed digest of the address
    link_id: str
    expires_at: datetime


@dataclass(frozen=True)
class Session:
    viewer: str
    scope: Scope
    session_id: str
    expires_at: datetime


class _Spent:
    """Ids used up (links) or ended (sessions), each until its token expires; thread-safe, bounded."""

    def __init__(self) -> None:
        self._until: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def add(self, token_id: str, until: datetime, now: datetime) -> bool:
        """Remember `token_id`; False when it already was (a second use)."""
        with self._lock:
            if token_id in self._until:
                return False
            if len(self._until) >= MAX_REMEMBERED:
                self._until = {k: v for k, v in self._until.items() if v > now}
            self._until[token_id] = until
            return True

    def __contains__(self, token_id: str) -> bool:
        with self._lock:
            return token_id in self._until


class Passes:
    """Makes and reads the login links and sessions of one hub."""

    def __init__(self, state_dir: Path, public_url: str | None, clock: Callable[[], datetime],
                 link_life: float, session_life: float) -> None:
        self.path = state_dir / KEY_FILE
        self.public_url = (public_url or "").rstrip("/") or None
        self.clock = clock
        self.link_life = timedelta(seconds=link_life)
        self.session_life = timedelta(seconds=session_life)
        self.started = int(clock().timestamp())  # links signed before this second may have been used already
        self._key = ""
        self._serializers: dict[str, URLSafeTimedSerializer] = {}
        self._lock = threading.Lock()
        self._spent_links = _Spent()
        self._ended_sessions = _Spent()

    def key(self) -> str:
        self._serializer(LOGIN_SALT)
        return self._key

    def _serializer(self, salt: str) -> URLSafeTimedSerializer:
        with self._lock:
            if not self._key:
                self._key = read_or_create_key(self.path, what="la clé du tableau de bord")
            if salt not in self._serializers:
                clock = self.clock

                class _HubClockSigner(TimestampSigner):
                    def get_timestamp(self) -> int:
                        return int(clock().timestamp())

                self._serializers[salt] = URLSafeTimedSerializer(self._key, salt=salt, signer=_HubClockSigner)
            return self._serializers[salt]

    def _read(self, salt: str, token: str, life: timedelta) -> tuple[dict[str, object], datetime] | None:
        """The payload of a genuine token younger than `life`; None for anything forged, cut, expired or
        dated in the future."""
        try:
            value, signed_at = self._serializer(salt).loads(token, return_timestamp=True)
        except BadSignature:
            return None
        now = self.clock().astimezone(UTC)
        if not isinstance(value, dict) or signed_at > now + FUTURE_TOLERANCE or now > signed_at + life:
            return None
        return value, signed_at

    # --- login links -------------------------------------------------------------------------------------------

    def link(self, viewer: str) -> tuple[str, str] | None:
        """(the link, its id) for this viewer; None when the hub has no public address (never the address a
        request came in with: a forged Host header would send the link elsewhere)."""
        if self.public_url is None:
            return None
        link_id = secrets.token_urlsafe(12)
        token = self._serializer(LOGIN_SALT).dumps({"v": viewer, "i": link_id})
        return f"{self.public_url}{ENTRY_PATH}{token}", link_id

    def read_link(self, token: str) -> LoginPass | None:
        """What a link names if it can still be used: genuine, unexpired, not spent, signed since the start."""
        read = self._read(LOGIN_SALT, token, self.link_life)
        if read is None:
            return None
        value, signed_at = read
        viewer, link_id = value.get("v"), value.get("i")
        if not (isinstance(viewer, str) and isinstance(link_id, str) and viewer and link_id):
            return None
        if signed_at.timestamp() < self.started or link_id in self._spent_links:
            return None
        return LoginPass(viewer, link_id, signed_at + self.link_life)

    def spend(self, found: LoginPass) -> bool:
        """Use the link up; False when it already was (two clicks at once: one wins)."""
        return self._spent_links.add(found.link_id, found.expires_at, self.clock())

    # --- sessions ----------------------------------------------------------------------------------------------

    def open_session(self, viewer: str, scope: Scope) -> str:
        """The cookie's value for a new session."""
        return self._serializer(SESSION_SALT).dumps({"v": viewer, "s": scope.encode(),
                                                    "i": secrets.token_urlsafe(12)})

    def read_session(self, value: str) -> Session | None:
        """The session a cookie holds, if genuine, unexpired and not logged out."""
        read = self._read(SESSION_SALT, value, self.session_life)
        if read is None:
            return None
        payload, signed_at = read
        viewer, session_id, scope = payload.get("v"), payload.get("i"), Scope.decode(payload.get("s"))
        if not (isinstance(viewer, str) and isinstance(session_id, str) and viewer and session_id) or scope is None:
            return None
        if session_id in self._ended_sessions:
            return None
        return Session(viewer, scope, session_id, signed_at + self.session_life)

    def end_session(self, session: Session) -> None:
        self._ended_sessions.add(session.session_id, session.expires_at, self.clock())
