"""Keyed hashes (HMAC-SHA256) of identifying values, with a key the hub keeps for itself (0600).

A plain hash of an e-mail address is not pseudonymous: anyone holding a guess of the address recomputes it. With
a secret key it matches a returning value only for whoever holds the key (the tombstones of erased people, the
ids a source derives from what people typed).
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from hub.secrets import read_or_create_key

__all__ = ["PSEUDONYM_KEY", "KeyedHash"]

PSEUDONYM_KEY = Path("secrets") / "hub" / "pseudonym_key"


class KeyedHash:
    """HMAC-SHA256 under the key in `path` (made on first use)."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what
        self._key: bytes | None = None

    def key(self) -> bytes:
        if self._key is None:
            self._key = bytes.fromhex(read_or_create_key(self.path, what=self.what))
        return self._key

    def hexdigest(self, value: str) -> str:
        return hmac.new(self.key(), value.encode(), hashlib.sha256).hexdigest()
