"""The erasure journal: one line per erasure, kept beside the database (not in it), so that `hub restore` can
do again the erasures made after the backup it puts back. Without it, restoring last week's backup would bring
back everyone forgotten since (RGPD art. 17: an erasure must stick).

A line holds the erasure's id, the branch, the person's hub id and the keyed hashes of their e-mail and phone
(the tombstones): nothing that identifies them without the hub's key. It is written, fsynced, *before* the
erasure's transaction: a crash in between leaves a line for an erasure staff asked for, which a replay then
simply finishes. The file is 0600 and appended to; the daily round of `hub run` drops the lines older than
`[records] journal` (hub.privacy.records: a restore of a backup older than that no longer redoes them, so the
setting must be at least as long as backups are kept), rewriting the file atomically. Appending and rewriting
take an exclusive lock on `erasures.jsonl.lock` beside it, so a `hub forget` run meanwhile loses no line.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.secrets import make_private_dirs, private_replacement

if TYPE_CHECKING:
    from hub.app import Hub

FILE = "erasures.jsonl"


class ErasureJournal:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILE
        self.lock_path = state_dir / (FILE + ".lock")

    def record(self, entry: dict[str, Any]) -> None:
        with self._locked():
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, (json.dumps(entry, separators=(",", ":")) + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)

    def older_than(self, limit: datetime) -> int:
        """How many lines `prune(limit)` would drop."""
        return len(self._split(limit)[1]) if self.path.exists() else 0

    def prune(self, limit: datetime) -> int:
        """Drop the lines of erasures made before `limit`: the file is replaced atomically (0600, fsynced),
        under the lock. How many lines went."""
        with self._locked():
            if not self.path.exists():
                return 0
            kept, dropped = self._split(limit)
            if dropped:
                with private_replacement(self.path) as out:
                    out.write("".join(line + "\n" for line in kept).encode())
        return len(dropped)

    def _split(self, limit: datetime) -> tuple[list[str], list[str]]:
        """(lines kept, lines dropped): only the line of an erasure made before `limit` is dropped; a line
        that cannot be read, or dated, is kept (better kept than lost)."""
        kept: list[str] = []
        dropped: list[str] = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            when = _when(entry.get("at")) if isinstance(entry, dict) else None
            if when is not None and when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            (dropped if when is not None and when < limit else kept).append(line)
        return kept, dropped

    @contextmanager
    def _locked(self) -> Iterator[None]:
        make_private_dirs(self.path.parent)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut by a crash while it was written: its erasure never started
            if isinstance(entry, dict) and entry.get("erasure") and entry.get("branch"):
                out.append(entry)
        return out


def replay(hub: Hub) -> list[str]:
    """After a restore: every erasure of the journal the database does not know is done again (the tombstones
    written, the person erased and every tool told), with reason "replay". Returns the people erased again."""
    known = {e.id for e in hub.store.list_erasures()}
    redone = []
    for entry in hub.eraser.journal.entries():
        branch, cid = str(entry["branch"]), str(entry.get("candidate") or "")
        if entry["erasure"] in known or branch not in hub.branches:
            continue
        erased_at = _when(entry.get("at")) or hub.clock()  # a tombstone blocks what happened before the erasure
        with hub.store.transaction():
            for kind, digest in entry.get("digests") or []:
                hub.store.add_tombstone(branch, str(kind), str(digest), erased_at, str(entry["erasure"]))
        if cid and hub.store.entity_branch("candidates", cid) == branch and hub.store.erasure_of(cid) is None:
            hub.eraser.forget(branch, cid, reason="replay")
            redone.append(cid)
    return redone


def _when(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
