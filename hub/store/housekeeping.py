"""The store's part of the retention of the hub's own operational records (hub.privacy.records): what the hub
keeps to run, not about a person, and for how long (`[records]` of hub.toml).

Each kind of record is one WHERE clause, used both to count (the dry run of `hub retention`) and to delete, each
kind in its own transaction. Never touched: events about a person (they go with the person's own retention),
anything still to deliver, a dead delivery younger than the limit (staff may still `hub retry` it), and the
events a source may read again (an event's (branch, source, source_id, kind) is what stores a fact read twice
once): the only events removed are the mails to staff (alerts, /tableau login links, monthly reports), which
the hub writes itself under an id holding the day (hub.messages.planner `staff_mail`), the link (`login_link`) or
the month (`staff_report`, planned only in the week after its moment), so that none can be made again.

A mixin of SqliteStore: it uses the store's `_read` / `_write` and joins the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from hub.store.rows import ts

FORGOTTEN = "candidate_forgotten"
ERROR_REMOVED = "error text removed after [records] operational"
"""What a dead delivery's error becomes past the limit: it is still retriable, and says why its text is gone."""

_STAFF_ALERTS = (
    "e.candidate_id IS NULL AND e.source = 'hub.messages' AND e.kind = 'message_due'"
    " AND (e.source_id LIKE 'alert:%' OR e.source_id LIKE 'login:%' OR e.source_id LIKE 'report:%')"
    " AND json_extract(e.body, '$.message.recipient') = 'staff' AND e.recorded_at < :operational"
    " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq"
    " AND (d.state IN ('pending', 'retrying') OR d.updated_at >= :operational))")
"""Mails to staff older than the limit, every delivery of theirs finished (done, skipped, dead) before it:
alerts (a staff address and the problem's text), /tableau login links (an address and an expired link), monthly
reports (an address, the figures and their page: the heaviest events the hub writes)."""

_DELIVERY_ERRORS = (
    "state IN ('done', 'skipped', 'dead') AND last_error IS NOT NULL AND last_error != :removed"
    f" AND updated_at < :operational AND kind != '{FORGOTTEN}'"
    f" AND event_seq NOT IN (SELECT e.seq FROM events e WHERE {_STAFF_ALERTS})")
"""Error texts of finished deliveries older than the limit (an erasure's deliveries are receipts: kept longer;
a staff alert's go with it)."""

_OLD_RECEIPTS = (
    "e.finished_at IS NOT NULL AND e.finished_at < :receipts AND ("
    " EXISTS (SELECT 1 FROM erasure_receipts r WHERE r.delivery_key >= e.id || '/' AND r.delivery_key < e.id || '0')"
    f" OR EXISTS (SELECT 1 FROM events ev WHERE ev.kind = '{FORGOTTEN}' AND ev.source = 'hub'"
    " AND ev.source_id = 'erasure:' || e.id)"
    " OR EXISTS (SELECT 1 FROM erasure_returns t WHERE t.erasure_id = e.id))")
"""Erasures finished before the limit that still have a receipt ('/' sorts just before '0': the manual items'
keys are '<erasure id>/<tool>')."""

KINDS = ("staff_alerts", "problems", "alert_claims", "delivery_errors", "receipts")
"""The kinds counted and purged, in the order they are purged."""


class Housekeeping:
    _read: Callable[..., Any]
    _write: Callable[..., Any]
    transaction: Callable[[], AbstractContextManager[None]]

    def records_due(self, operational_before: datetime, receipts_before: datetime) -> dict[str, int]:
        """How many of the hub's own records `purge_records` would remove now, per kind: staff alert mails,
        problems not reported again, alert claims, error texts of finished deliveries, erasure receipts (counted
        per erasure)."""
        args = _args(operational_before, receipts_before)
        return {
            "staff_alerts": self._count(f"SELECT COUNT(*) FROM events e WHERE {_STAFF_ALERTS}", args),
            "problems": self._count("SELECT COUNT(*) FROM problems WHERE last_seen < :operational", args),
            "alert_claims": self._count("SELECT COUNT(*) FROM alerts WHERE sent_at < :operational", args),
            "delivery_errors": self._count(f"SELECT COUNT(*) FROM deliveries WHERE {_DELIVERY_ERRORS}", args),
            "receipts": self._count(f"SELECT COUNT(*) FROM erasures e WHERE {_OLD_RECEIPTS}", args),
        }

    def purge_records(self, operational_before: datetime, receipts_before: datetime) -> dict[str, int]:
        """Atomic per kind (each in its own transaction; run again, it finds nothing more). Remove the hub's own
        records older than the limits: staff alert mails with their deliveries, problems no source reported
        since `operational_before`, alert claims, error texts of finished deliveries (a dead one's is replaced
        by ERROR_REMOVED: it stays retriable), and the receipts of erasures finished before `receipts_before`
        (tools' items, the return, the erasure's own event and deliveries; the erasure's row stays: it is what
        keeps the hub id erased). How many went, per kind (as `records_due`)."""
        args = _args(operational_before, receipts_before)
        done = dict.fromkeys(KINDS, 0)
        with self.transaction():
            seqs = [int(r[0]) for r in self._read(f"SELECT e.seq FROM events e WHERE {_STAFF_ALERTS}", args)]
            for chunk in _chunks(seqs):
                marks = ",".join("?" * len(chunk))
                self._write(f"DELETE FROM deliveries WHERE event_seq IN ({marks})", chunk)
                done["staff_alerts"] += int(self._write(f"DELETE FROM events WHERE seq IN ({marks})", chunk).rowcount)
        with self.transaction():
            done["problems"] = int(self._write("DELETE FROM problems WHERE last_seen < :operational", args).rowcount)
        with self.transaction():
            done["alert_claims"] = int(self._write("DELETE FROM alerts WHERE sent_at < :operational", args).rowcount)
        with self.transaction():
            done["delivery_errors"] = int(self._write(
                f"UPDATE deliveries SET last_error = CASE WHEN state = 'dead' THEN :removed ELSE NULL END"
                f" WHERE {_DELIVERY_ERRORS}", args).rowcount)
        with self.transaction():
            for (erasure_id,) in self._read(f"SELECT e.id FROM erasures e WHERE {_OLD_RECEIPTS}", args).fetchall():
                self._drop_receipt(str(erasure_id))
                done["receipts"] += 1
        return done

    def _drop_receipt(self, erasure_id: str) -> None:
        """Joins. The erasure's receipt: each tool's items, the return, its `candidate_forgotten` event and
        deliveries (the person's own events, already scrubbed by the erasure, stay)."""
        source_id = f"erasure:{erasure_id}"
        self._write("DELETE FROM erasure_receipts WHERE delivery_key IN (SELECT d.key FROM deliveries d JOIN events"
                    " ev ON ev.seq = d.event_seq WHERE ev.kind = ? AND ev.source = 'hub' AND ev.source_id = ?)",
                    (FORGOTTEN, source_id))
        self._write("DELETE FROM erasure_receipts WHERE delivery_key >= ? AND delivery_key < ?",
                    (f"{erasure_id}/", f"{erasure_id}0"))
        self._write("DELETE FROM erasure_returns WHERE erasure_id = ?", (erasure_id,))
        self._write("DELETE FROM deliveries WHERE event_seq IN (SELECT seq FROM events WHERE kind = ? AND"
                    " source = 'hub' AND source_id = ?)", (FORGOTTEN, source_id))
        self._write("DELETE FROM events WHERE kind = ? AND source = 'hub' AND source_id = ?", (FORGOTTEN, source_id))

    def _count(self, sql: str, args: dict[str, Any]) -> int:
        return int(self._read(sql, args).scalar())


def _args(operational_before: datetime, receipts_before: datetime) -> dict[str, Any]:
    return {"operational": ts(operational_before), "receipts": ts(receipts_before), "removed": ERROR_REMOVED}


def _chunks(values: list[int], size: int = 500) -> list[list[int]]:
    return [values[i:i + size] for i in range(0, len(values), size)]
