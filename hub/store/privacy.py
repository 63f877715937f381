"""The store's part of privacy (hub.privacy): who received what about a person, erasures and their receipts,
tombstones, and the in-hub erasure itself (every copy of a person's data rewritten in one transaction).

A mixin of SqliteStore: it uses the store's `_read` / `_write` and joins the caller's transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

from hub.store.rows import ErasureRow, ReceiptRow, RecipientRow, person_state_prefix, ts

FORGOTTEN = "candidate_forgotten"


_PERSON = ("first_name", "last_name", "email", "phone", "referrer", "consent")
"""What an event's copy of a person held that the log no longer keeps (the record does)."""

class PrivacyRows:
    _read: Callable[..., Any]
    _reader: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _write: Callable[..., Any]
    transaction: Callable[[], AbstractContextManager[None]]

    # --- what went where ----------------------------------------------------------------------------------------

    def recipients(self, branch: str, candidate_id: str) -> list[RecipientRow]:
        """Every tool that received something about the person (deliveries done), and every tool that told the
        hub about them (event sources other than the hub itself), by event kind, with counts and dates."""
        sent = self._read(
            "SELECT d.plugin, d.kind, COUNT(*) AS n, MIN(d.updated_at) AS first, MAX(d.updated_at) AS last"
            " FROM deliveries d WHERE d.branch=? AND d.candidate_id=? AND d.state='done' AND d.kind != ?"
            " GROUP BY d.plugin, d.kind", (branch, candidate_id, FORGOTTEN)).fetchall()
        told = self._read(
            "SELECT source, kind, COUNT(*) AS n, MIN(recorded_at) AS first, MAX(recorded_at) AS last FROM events"
            " WHERE branch=? AND candidate_id=? AND source != 'hub' AND source NOT LIKE 'hub.%'"
            " GROUP BY source, kind",
            (branch, candidate_id)).fetchall()
        return [RecipientRow(r[0], r[1], "sink", int(r[2]), float(r[3]), float(r[4])) for r in sent] + \
               [RecipientRow(r[0], r[1], "source", int(r[2]), float(r[3]), float(r[4])) for r in told]

    def sessions_of(self, branch: str, candidate_id: str) -> list[dict[str, Any]]:
        rows = self._read("SELECT body FROM sessions WHERE branch=? AND candidate_id=? ORDER BY rowid",
                          (branch, candidate_id)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def candidate_events(self, branch: str, candidate_id: str) -> list[tuple[int, str, str, float, str]]:
        """(seq, kind, source, occurred_at, body) of every event about the person, oldest first."""
        rows = self._read("SELECT seq, kind, source, occurred_at, body FROM events WHERE branch=? AND candidate_id=?"
                          " ORDER BY seq", (branch, candidate_id)).fetchall()
        return [(int(r[0]), str(r[1]), str(r[2]), float(r[3]), str(r[4])) for r in rows]

    def delivery_states(self, branch: str, candidate_id: str) -> dict[int, list[tuple[str, str, float]]]:
        """event seq -> [(plugin, state, updated_at)] for the person's deliveries."""
        out: dict[int, list[tuple[str, str, float]]] = {}
        for r in self._read("SELECT event_seq, plugin, state, updated_at FROM deliveries WHERE branch=? AND"
                            " candidate_id=? ORDER BY id", (branch, candidate_id)).fetchall():
            out.setdefault(int(r[0]), []).append((str(r[1]), str(r[2]), float(r[3])))
        return out

    def last_contacts(self, branch: str) -> dict[str, float]:
        """Each person of the branch not yet erased -> the time of their last contact: the latest of what a
        tool told about them (registration, booking, cancellation, outcome), their sessions' start, and the
        messages they were sent."""
        rows = self._read(
            "SELECT candidate_id, MAX(t) FROM ("
            " SELECT candidate_id, occurred_at AS t FROM events WHERE branch=:b AND candidate_id IS NOT NULL"
            "  AND source != 'hub' AND source NOT LIKE 'hub.%'"
            " UNION ALL SELECT candidate_id, updated_at FROM deliveries WHERE branch=:b AND kind='message_due'"
            "  AND state='done' AND candidate_id IS NOT NULL"
            " UNION ALL SELECT candidate_id, CAST(strftime('%s', json_extract(body, '$.start')) AS REAL) FROM sessions"
            "  WHERE branch=:b AND candidate_id IS NOT NULL"
            ") WHERE candidate_id NOT IN (SELECT candidate_id FROM erasures) AND t IS NOT NULL"
            " GROUP BY candidate_id", {"b": branch}).fetchall()
        return {str(r[0]): float(r[1]) for r in rows}

    # --- erasures -----------------------------------------------------------------------------------------------

    def add_erasure(self, erasure_id: str, branch: str, candidate_id: str, reason: str, payload: dict[str, Any],
                    now: datetime) -> None:
        """Joins."""
        self._write("INSERT INTO erasures(id, branch, candidate_id, reason, requested_at, payload) VALUES"
                    " (?,?,?,?,?,?)", (erasure_id, branch, candidate_id, reason, ts(now), json.dumps(payload)))

    def erasure_payload(self, erasure_id: str) -> dict[str, Any] | None:
        row = self._read("SELECT payload FROM erasures WHERE id=?", (erasure_id,)).fetchone()
        return json.loads(row[0]) if row is not None and row[0] else None

    def list_erasures(self, branch: str | None = None, *, open_only: bool = False) -> list[ErasureRow]:
        where = [w for w in ("branch=?" if branch else "", "finished_at IS NULL" if open_only else "") if w]
        sql = "SELECT id, branch, candidate_id, reason, requested_at, finished_at FROM erasures" + \
              (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY requested_at, id"
        return [ErasureRow(*r) for r in self._read(sql, (branch,) if branch else ()).fetchall()]

    def erasure_of(self, candidate_id: str) -> ErasureRow | None:
        row = self._read("SELECT id, branch, candidate_id, reason, requested_at, finished_at FROM erasures WHERE"
                         " candidate_id=? ORDER BY requested_at DESC LIMIT 1", (candidate_id,)).fetchone()
        return ErasureRow(*row) if row is not None else None

    def receipts(self, erasure_id: str) -> list[ReceiptRow]:
        """Each plugin's delivery of the erasure, with the items it reported."""
        rows = self._read(
            "SELECT d.plugin, d.state, d.last_error, d.key FROM deliveries d JOIN events e ON e.seq = d.event_seq"
            " WHERE e.kind=? AND e.source='hub' AND e.source_id=? ORDER BY d.plugin",
            (FORGOTTEN, f"erasure:{erasure_id}")).fetchall()
        out = []
        for plugin, state, error, key in rows:
            items = self._read("SELECT status, item FROM erasure_receipts WHERE delivery_key=? ORDER BY rowid",
                               (key,)).fetchall()
            out.append(ReceiptRow(str(plugin), str(state), error, tuple((str(s), str(i)) for s, i in items)))
        manual: dict[str, list[tuple[str, str]]] = {}  # tools without a delivery: what staff must do
        for plugin, status, item in self._read("SELECT plugin, status, item FROM erasure_receipts WHERE"
                                               " delivery_key >= ? AND delivery_key < ? ORDER BY plugin, rowid",
                                               (f"{erasure_id}/", f"{erasure_id}/\uffff")).fetchall():
            manual.setdefault(str(plugin), []).append((str(status), str(item)))
        return out + [ReceiptRow(plugin, "manual", None, tuple(items)) for plugin, items in sorted(manual.items())]

    def add_erasure_receipt(self, delivery_key: str, plugin: str, status: str, item: str, now: datetime) -> None:
        """Joins (a delivery's outcome)."""
        self._write("INSERT INTO erasure_receipts(delivery_key, plugin, status, item, at) VALUES (?,?,?,?,?)"
                    " ON CONFLICT(delivery_key, item) DO UPDATE SET status=excluded.status, at=excluded.at",
                    (delivery_key, plugin, status, item, ts(now)))

    def finish_erasure(self, erasure_id: str, branch: str, candidate_id: str, now: datetime) -> None:
        """Joins. Every plugin is done: the payload, the person's identity links and every plugin's private
        state tied to them (keys starting with `person_state_prefix`) go."""
        self._write("UPDATE erasures SET payload=NULL, finished_at=? WHERE id=?", (ts(now), erasure_id))
        prefix = person_state_prefix(candidate_id)  # compared as text: LIKE would read the id's "_" as a wildcard
        self._write("DELETE FROM kv WHERE branch=? AND substr(key, 1, ?)=?", (branch, len(prefix), prefix))
        self._write("DELETE FROM links WHERE branch=? AND entity='candidate' AND hub_id=?", (branch, candidate_id))
        self._write("DELETE FROM links WHERE branch=? AND entity='session' AND hub_id IN"
                    " (SELECT id FROM sessions WHERE candidate_id=?)", (branch, candidate_id))

    def minimise_events(self) -> int:
        """Atomic. Rewrite event bodies an earlier version stored with a copy of the person (hub.privacy.minimise):
        the candidate reduced to its id, a bounce to its message id, a sent or skipped message to what it was
        (one still to be delivered, or dead and retriable, keeps its text: it is sent as it was planned). How
        many bodies were rewritten."""
        with self.transaction():
            copied = " OR ".join([*(f"json_extract(body, '$.candidate.{f}') IS NOT NULL" for f in _PERSON),
                                  "json_extract(body, '$.candidate.extra') NOT IN ('{}', '')"])
            people = self._write(
                "UPDATE events SET body=json_set(body, '$.candidate',"
                " json_object('id', json_extract(body, '$.candidate.id')))"
                " WHERE json_type(body, '$.candidate') = 'object' AND json_extract(body, '$.candidate.id') IS NOT NULL"
                f" AND ({copied})").rowcount
            bounces = self._write(
                "UPDATE events SET body=json_set(body, '$.bounce.address', NULL, '$.bounce.reason', '')"
                " WHERE kind='message_bounced' AND json_extract(body, '$.bounce.address') IS NOT NULL").rowcount
            messages = self._write(
                "UPDATE events SET body=json_set(body, '$.message.to', '', '$.message.to_name', NULL,"
                " '$.message.subject', '', '$.message.text', '', '$.message.html', NULL,"
                " '$.message.headers', json('{}'))"
                " WHERE kind='message_due' AND json_extract(body, '$.message.recipient') != 'staff'"
                " AND coalesce(json_extract(body, '$.message.text'), '') != ''"
                " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq=events.seq"
                " AND d.state IN ('pending', 'retrying', 'dead'))").rowcount
        return int(people) + int(bounces) + int(messages)

    def checkpoint(self) -> bool:
        """Copy the write-ahead log into the database and empty it, so that the pages an erasure replaced are
        gone from the WAL file too; False when a reader kept it from finishing (it is done again later)."""
        row = self._read("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return row is not None and int(row[0]) == 0

    # --- facts about the database itself (a backup, a restore) --------------------------------------------------

    def backup_to(self, path: Path) -> None:
        """A consistent copy of the whole database in the new file `path` (0600), through SQLite's online backup
        API from a read connection: the copy is the database as of one moment, with what the write-ahead log
        holds, and writers go on meanwhile (WAL readers never block them). FileExistsError when `path` exists."""
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.chmod(path, 0o600)
        target = sqlite3.connect(path)
        try:
            with self._reader() as conn:
                conn.backup(target)  # every page in one step: one read transaction, never restarted
        finally:
            target.close()

    def integrity_problems(self) -> list[str]:
        """What `PRAGMA integrity_check` finds wrong in the database file (at most 100 lines); empty when sound."""
        found = [str(r[0]) for r in self._read("PRAGMA integrity_check(100)").fetchall()]
        return [] if found == ["ok"] else found


    def meta_get(self, key: str) -> str | None:
        row = self._read("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def meta_put(self, key: str, value: str) -> None:
        """Atomic."""
        self._write("INSERT INTO meta(key, value) VALUES (?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    (key, value))

    # --- opt-outs -----------------------------------------------------------------------------------------------

    def set_optout(self, branch: str, candidate_id: str, medium: str, source: str, now: datetime) -> bool:
        """Atomic. The person wants no more non-essential messages by `medium`; False when already so."""
        if self.optout_of(branch, candidate_id, medium) is not None:
            return False
        return self.set_contact_preference(branch, candidate_id, medium, True, source, now)

    def set_contact_preference(self, branch: str, candidate_id: str, medium: str, opted_out: bool, source: str,
                               at: datetime) -> bool:
        """Atomic. The person opted out of (or back in to) messages by `medium` at `at`; kept only when no later
        fact is known (the latest per person and medium wins, whatever order they arrive in). True when kept."""
        cur = self._write(
            "INSERT INTO optouts(branch, candidate_id, medium, source, at, opted_out) VALUES (?,?,?,?,?,?)"
            " ON CONFLICT(branch, candidate_id, medium) DO UPDATE SET source=excluded.source, at=excluded.at,"
            " opted_out=excluded.opted_out WHERE excluded.at >= optouts.at",
            (branch, candidate_id, medium, source, ts(at), int(opted_out)))
        return bool(cur.rowcount)

    def optout_of(self, branch: str, candidate_id: str, medium: str) -> tuple[str, float] | None:
        """(source, when) of the person's opt-out for `medium`, if it is their latest choice for it."""
        row = self._read("SELECT source, at FROM optouts WHERE branch=? AND candidate_id=? AND medium=?"
                         " AND opted_out=1", (branch, candidate_id, medium)).fetchone()
        return (str(row[0]), float(row[1])) if row is not None else None

    def optout_count(self, branch: str) -> int:
        return int(self._read("SELECT COUNT(*) FROM optouts WHERE branch=? AND opted_out=1", (branch,)).scalar())

    # --- tombstones ---------------------------------------------------------------------------------------------

    def add_tombstone(self, branch: str, kind: str, digest: str, now: datetime, erasure_id: str | None = None) -> None:
        """Joins. A digest tombstoned again keeps the later erasure: a tombstone blocks what happened before it."""
        self._write("INSERT INTO tombstones(branch, kind, digest, created_at, erasure_id) VALUES (?,?,?,?,?)"
                    " ON CONFLICT(branch, kind, digest) DO UPDATE SET created_at=excluded.created_at,"
                    " erasure_id=excluded.erasure_id WHERE excluded.created_at >= tombstones.created_at",
                    (branch, kind, digest, ts(now), erasure_id))

    def tombstones_for(self, branch: str, digests: Sequence[tuple[str, str]]
                       ) -> list[tuple[str, str, float, str | None]]:
        """(kind, digest, created_at, erasure id) of the branch's tombstones among `digests` ((kind, digest))."""
        out = []
        for kind, digest in digests:
            row = self._read("SELECT created_at, erasure_id FROM tombstones WHERE branch=? AND kind=? AND digest=?",
                             (branch, kind, digest)).fetchone()
            if row is not None:
                out.append((kind, digest, float(row[0]), None if row[1] is None else str(row[1])))
        return out

    def erasure_tombstones(self, branch: str, erasure_ids: Sequence[str]) -> list[tuple[str, str]]:
        """(kind, digest) of the branch's tombstones left by these erasures (a person's e-mail and phone)."""
        marks = ",".join("?" * len(erasure_ids))
        rows = self._read(f"SELECT kind, digest FROM tombstones WHERE branch=? AND erasure_id IN ({marks})"
                          " ORDER BY kind, digest", (branch, *erasure_ids)).fetchall() if erasure_ids else []
        return [(str(r[0]), str(r[1])) for r in rows]

    def lift_tombstones(self, branch: str, digests: Sequence[tuple[str, str]]) -> int:
        """Joins. The branch's tombstones among `digests` ((kind, digest)) go; how many went."""
        return sum(int(self._write("DELETE FROM tombstones WHERE branch=? AND kind=? AND digest=?",
                                   (branch, kind, digest)).rowcount) for kind, digest in digests)

    def erased_refs(self, branch: str, refs: Sequence[str]) -> bool:
        """Whether a tool's id in `refs` still names (its erasure not finished: the links stay until then) an
        erased person or one of their sessions."""
        for ref in refs:
            row = self._read(
                "SELECT 1 FROM erasures e JOIN links l ON l.branch=e.branch AND l.entity='candidate'"
                " AND l.hub_id=e.candidate_id WHERE e.branch=:b AND e.finished_at IS NULL AND l.external_id=:r"
                " UNION ALL SELECT 1 FROM erasures e JOIN sessions s ON s.candidate_id=e.candidate_id"
                " JOIN links l ON l.branch=e.branch AND l.entity='session' AND l.hub_id=s.id"
                " WHERE e.branch=:b AND e.finished_at IS NULL AND l.external_id=:r LIMIT 1",
                {"b": branch, "r": ref}).fetchone()
            if row is not None:
                return True
        return False

    # --- erased people who came back ----------------------------------------------------------------------------

    def add_erasure_return(self, erasure_id: str, branch: str, kind: str, source_id: str,
                           occurred_at: datetime) -> None:
        """Joins. The person of erasure `erasure_id` came back: the event (`kind`, `source_id`) that brought them,
        stored in this transaction, is their new start (the first one is kept)."""
        self._write("INSERT OR IGNORE INTO erasure_returns(erasure_id, branch, kind, source_id, occurred_at)"
                    " VALUES (?,?,?,?,?)", (erasure_id, branch, kind, source_id, ts(occurred_at)))

    def erasure_returns(self, branch: str | None = None) -> dict[str, tuple[float, str | None]]:
        """Erasure id -> (when its person came back, the hub id of their new record), for the erasures whose
        person came back; the hub id is None only while the event that brought them is not stored."""
        rows = self._read(
            "SELECT r.erasure_id, r.occurred_at, COALESCE(r.candidate_id, (SELECT ev.candidate_id FROM events ev"
            " WHERE ev.branch=r.branch AND ev.kind=r.kind AND ev.source_id=r.source_id AND ev.candidate_id IS NOT"
            " NULL ORDER BY ev.seq DESC LIMIT 1)) FROM erasure_returns r"
            + (" WHERE r.branch=?" if branch else ""), (branch,) if branch else ()).fetchall()
        return {str(r[0]): (float(r[1]), None if r[2] is None else str(r[2])) for r in rows}

    def settle_erasure_returns(self) -> list[tuple[str, str, str]]:
        """Joins. Each return not yet settled gets the hub id its event was stored with; (erasure id, branch,
        new hub id) of those settled now."""
        settled = []
        for erasure_id, branch in self._read("SELECT erasure_id, branch FROM erasure_returns"
                                             " WHERE candidate_id IS NULL").fetchall():
            cid = self.erasure_returns(str(branch)).get(str(erasure_id), (0.0, None))[1]
            if cid is not None:
                self._write("UPDATE erasure_returns SET candidate_id=? WHERE erasure_id=?", (cid, erasure_id))
                settled.append((str(erasure_id), str(branch), cid))
        return settled

    def tombstoned(self, branch: str, kind: str, digests: Sequence[str]) -> bool:
        if not digests:
            return False
        marks = ",".join("?" * len(digests))
        row = self._read(f"SELECT 1 FROM tombstones WHERE branch=? AND kind=? AND digest IN ({marks}) LIMIT 1",
                         (branch, kind, *digests)).fetchone()
        return row is not None

    # --- the in-hub erasure -------------------------------------------------------------------------------------

    def erase_in_hub(self, branch: str, candidate_id: str, kept: dict[str, Any], scrub: Callable[[str], str],
                     now: datetime) -> None:
        """Joins. The person's record keeps `kept` (its id, pseudonymous facts for reports); every event
        about them is rewritten by `scrub` (no name, contact or message text left); what was still to be
        delivered about them is skipped (the erasure's own deliveries aside); their reminders and follow-ups
        are dropped; problems naming them go."""
        self._write("UPDATE candidates SET body=?, email_key=NULL, phone_key=NULL, updated_at=? WHERE id=?",
                    (json.dumps(kept), ts(now), candidate_id))
        for seq, body in self._read("SELECT seq, body FROM events WHERE branch=? AND candidate_id=?",
                                    (branch, candidate_id)).fetchall():
            self._write("UPDATE events SET body=? WHERE seq=?", (scrub(body), seq))
        self._write("UPDATE deliveries SET state='skipped', last_error='skipped: person erased', updated_at=?"
                    " WHERE candidate_id=? AND state IN ('pending','retrying') AND kind != ?",
                    (ts(now), candidate_id, FORGOTTEN))
        self._write("UPDATE schedule SET state='dropped' WHERE state='waiting' AND session_id IN"
                    " (SELECT id FROM sessions WHERE candidate_id=?)", (candidate_id,))
        self._write("DELETE FROM problems WHERE branch=? AND instr(ref, ?) > 0", (branch, candidate_id))
