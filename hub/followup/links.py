"""The personal link of a follow-up mail: `<public_url>/suivi/<token>`.

The token names the branch, the person's hub id, the follow-up it answers (its `[schedule] followups` offset,
e.g. "3 months") and the session it follows, signed with a key the hub makes on first use and keeps 0600 in
the state directory (itsdangerous, HMAC-SHA256, a salt of its own), as the opt-out links are. So a link cannot
be forged, nor changed to name someone else or another follow-up, and the hub keeps no table of links.

It is timed: itsdangerous writes the signing time into the token, and a link older than the branch's
`[messages] followup_link_days` is refused as expired. The age is checked here rather than by `loads(max_age=)`
because the life is the branch's, known only once the signature is checked; both times come from the hub's
clock (tests move it).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer

from hub.secrets import read_or_create_key

__all__ = ["KEY_FILE", "PATH", "SALT", "FollowupLinks", "Found"]

KEY_FILE = Path("secrets") / "hub" / "followup_key"
SALT = "cravate-hub follow-up answer"
PATH = "/suivi/"
FUTURE_TOLERANCE = timedelta(minutes=10)
"""A token dated later than now (a clock stepped back) is refused beyond this."""


@dataclass(frozen=True)
class Found:
    """What a genuine token names, and when it was signed."""

    branch: str
    candidate_id: str
    horizon: str
    session_id: str
    signed_at: datetime

    def expires_at(self, days: int) -> datetime:
        return self.signed_at + timedelta(days=days)


class FollowupLinks:
    """Makes and reads the follow-up answer links of one hub (one key for every branch)."""

    def __init__(self, state_dir: Path, public_url: str | None, clock: Callable[[], datetime]) -> None:
        self.path = state_dir / KEY_FILE
        self.public_url = (public_url or "").rstrip("/") or None
        self.clock = clock
        self._serializer: URLSafeTimedSerializer | None = None
        self._key = ""
        self._lock = threading.Lock()  # the key is made once, even when the mailer and the page start together

    def _signer(self) -> URLSafeTimedSerializer:
        with self._lock:
            if self._serializer is None:
                self._key = read_or_create_key(self.path, what="la clé des liens de suivi")
                clock = self.clock

                class _HubClockSigner(TimestampSigner):
                    def get_timestamp(self) -> int:
                        return int(clock().timestamp())

                self._serializer = URLSafeTimedSerializer(self._key, salt=SALT, signer=_HubClockSigner)
            return self._serializer

    def link(self, branch: str, candidate_id: str, horizon: str, session_id: str) -> str | None:
        """The person's link for that follow-up, or None when the hub has no public address."""
        if self.public_url is None:
            return None
        token = self._signer().dumps([branch, candidate_id, horizon, session_id])
        return f"{self.public_url}{PATH}{token}"

    def read(self, token: str) -> Found | None:
        """What a genuine token names (expired or not: the caller knows the branch's life); None for anything
        forged, altered, cut, or dated in the future."""
        try:
            value, signed_at = self._signer().loads(token, return_timestamp=True)
        except BadSignature:
            return None
        if not (isinstance(value, list) and len(value) == 4 and all(isinstance(v, str) and v for v in value)):
            return None
        if signed_at > self.clock().astimezone(UTC) + FUTURE_TOLERANCE:
            return None
        return Found(value[0], value[1], value[2], value[3], signed_at)

    def expired(self, found: Found, days: int) -> bool:
        return self.clock() > found.expires_at(days)

    def digest(self, text: str) -> str:
        """A keyed digest (HMAC-SHA256 under the links' key, 16 hex): an answer's trace in its event's source id
        that a dictionary of likely words cannot reverse (the free word may say anything, health included)."""
        self._signer()
        return hmac.new(self._key.encode(), text.encode(), hashlib.sha256).hexdigest()[:16]
