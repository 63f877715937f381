"""The erasure journal: one line per erasure, kept beside the database (not in it), so that `hub restore` can
do again the erasures made after the backup it puts back. Without it, restoring last week's backup would bring
back everyone forgotten since (RGPD art. 17: an erasure must stick).

A line holds the erasure's id, the branch, the person's hub id and the keyed hashes of their e-mail and phone
(the tombstones): nothing that identifies them without the hub's key. It is written, fsynced, *before* the
erasure's transaction: a crash in between leaves a line for an erasure staff asked for, which a replay then
simply finishes. The file is 0600; appended to, never rewritten.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.secrets import make_private_dirs

if TYPE_CHECKING:
    from hub.app import Hub

FILE = "erasures.jsonl"


class ErasureJournal:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILE

    def record(self, entry: dict[str, Any]) -> None:
        make_private_dirs(self.path.parent)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, (json.dumps(entry, separators=(",", ":")) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

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
