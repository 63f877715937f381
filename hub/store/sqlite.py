"""The SQLite store: event log, deliveries (outbox), cursors, identity links, candidates, schedule.

Durability choices (see docs/architecture.md): WAL with synchronous=FULL so a commit survives power loss,
every write transaction opened with BEGIN IMMEDIATE so a competing writer waits instead of failing, one
connection per thread. The only code that writes SQL; it answers with the frozen rows of `hub.store.rows`.

Transactions: a method marked "atomic" opens its own transaction, or joins the caller's when one is open;
a method marked "joins" writes inside the caller's `transaction()` (called outside one, each statement
commits on its own). Reads never open a transaction.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from hub.store.housekeeping import Housekeeping
from hub.store.migrations import MIGRATIONS
from hub.store.privacy import PrivacyRows
from hub.store.reports import ReportRows
from hub.store.rows import (
    DEAD,
    PENDING,
    RETRYING,
    SKIPPED,
    DeliveryListing,
    DeliveryOutcome,
    DeliveryRow,
    EventRef,
    EventRow,
    LaneHealth,
    PauseRow,
    ProblemRow,
    ScheduleRow,
    SetupFailureRow,
    SourceRow,
    StateHealth,
    ts,
)

__all__ = ["SqliteStore"]
RowT = TypeVar("RowT")
T = TypeVar("T")


UNFINISHED = "state IN ('pending','retrying','dead')"  # verbatim the WHERE of the partial index deliveries_unfinished
MAX_GROUP = 64  # jobs in one group commit: bounds how long the write connection is held at once


class _Job:
    """One job handed to a group commit, and what became of it."""

    def __init__(self, job: Callable[[], Any]) -> None:
        self.job = job
        self.result: Any = None
        self.error: Exception | None = None
        self.done = threading.Event()


class _Result:
    """A read's rows, fetched before its connection went back to the pool (used like a cursor)."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self.description = cursor.description
        self._rows: list[sqlite3.Row] = cursor.fetchall()

    def fetchone(self) -> sqlite3.Row | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[sqlite3.Row]:
        return self._rows

    def scalar(self) -> Any:
        """The first column of the first row (an aggregate's value)."""
        return self._rows[0][0]

    def __iter__(self) -> Iterator[sqlite3.Row]:
        return iter(self._rows)


def _rows(cls: type[RowT], cursor: sqlite3.Cursor | _Result) -> list[RowT]:
    """Each result row as the frozen row type whose fields are the selected columns."""
    names = [d[0] for d in cursor.description]
    return [cls(**dict(zip(names, tuple(r), strict=True))) for r in cursor.fetchall()]


class SqliteStore(PrivacyRows, Housekeeping, ReportRows):
    """One SQLite database shared by the threads of one process: one write connection, used by one thread at
    a time (a transaction holds it), and a small pool of read connections lent for one read at a time. The
    number of open connections is therefore bounded whatever the number of threads (workers, the web
    server's pool); no connection belongs to a thread, so none is left behind when a thread ends.

    A thread inside a transaction reads through the write connection (it sees its own writes); other reads
    go to the pool and see what is committed (WAL: readers never wait for the writer).
    """

    def __init__(self, path: Path | str, *, durable: bool = True, readers: int = 4) -> None:
        self.path = Path(path)
        self.durable = durable
        if str(self.path) != ":memory:":
            _private_file(self.path)
        self._write_lock = threading.RLock()
        self._owner: int | None = None  # the thread inside a transaction
        self._pool: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        self._pool_lock = threading.Lock()
        self._readers_open = 0
        self._readers_max = max(1, readers)
        self._batch_lock = threading.Lock()
        self._waiting: list[_Job] = []
        self._writer = self._connect()
        self.migrate()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA foreign_keys=ON")
        # deleted and overwritten content is zeroed, not left in free space: an erased person's data must not
        # survive in the file (RGPD art. 17; https://sqlite.org/pragma.html#pragma_secure_delete)
        conn.execute("PRAGMA secure_delete=ON")
        return conn

    # --- connections and transactions ----------------------------------------------------------------------

    @property
    def conn(self) -> sqlite3.Connection:
        """The write connection (tests trace the statements it runs)."""
        return self._writer

    def open_connections(self) -> int:
        """How many SQLite connections this store holds open (the writer and the readers made so far)."""
        return 1 + self._readers_open

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        """A connection for one read: the writer inside this thread's transaction, else one of the pool's."""
        if self._owner == threading.get_ident():
            yield self._writer
            return
        conn = self._borrow()
        try:
            yield conn
        finally:
            self._pool.put(conn)

    def _borrow(self) -> sqlite3.Connection:
        try:
            return self._pool.get_nowait()
        except queue.Empty:
            pass
        with self._pool_lock:
            if self._readers_open < self._readers_max:
                self._readers_open += 1
                return self._connect()
        return self._pool.get(timeout=30)  # every reader lent: reads are short, one comes back soon

    def _read(self, sql: str, args: Sequence[Any] | dict[str, Any] = ()) -> _Result:
        """One query on a lent connection, its rows fetched at once."""
        with self._reader() as conn:
            return _Result(conn.execute(sql, args))

    def _write(self, sql: str, args: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        """One statement inside the caller's transaction (or in one of its own)."""
        with self._transaction() as conn:
            return conn.execute(sql, args)

    def _write_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._transaction() as conn:
            conn.executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT; nested calls join the outer transaction."""
        with self._transaction():
            yield

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        me = threading.get_ident()
        if self._owner == me:
            yield self._writer
            return
        with self._write_lock:
            conn = self._writer
            conn.execute("BEGIN IMMEDIATE")
            self._owner = me
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                self._owner = None

    def batched(self, job: Callable[[], T]) -> T:
        """Atomic, group-committed: run `job` in one transaction with the jobs other threads hand over at the
        same moment, and return its result once that transaction is durable (one fsync for the group).

        Whoever gets the write connection first runs every waiting job, each inside its own savepoint, so a
        job that raises is undone alone and its caller gets the exception; the others still commit.
        """
        if self._owner == threading.get_ident():  # inside this thread's transaction: it commits, not a group
            with self._transaction():
                return job()
        entry = _Job(job)
        with self._batch_lock:
            self._waiting.append(entry)
        while not entry.done.is_set():
            with self._write_lock:
                if entry.done.is_set():  # an earlier leader committed it while this thread waited
                    break
                with self._batch_lock:
                    group, self._waiting = self._waiting[:MAX_GROUP], self._waiting[MAX_GROUP:]
                self._commit_group(group)
        if entry.error is not None:
            raise entry.error
        return cast(T, entry.result)

    def _commit_group(self, group: list[_Job]) -> None:
        try:
            with self._transaction() as conn:
                for number, entry in enumerate(group):
                    conn.execute(f"SAVEPOINT job{number}")
                    try:
                        entry.result = entry.job()
                    except Exception as exc:  # this job alone is undone; its caller gets the exception
                        conn.execute(f"ROLLBACK TO job{number}")
                        entry.error = exc
                    conn.execute(f"RELEASE job{number}")
        except BaseException as exc:  # the commit itself failed: nothing of the group is stored
            for entry in group:
                entry.error = entry.error or (exc if isinstance(exc, Exception) else RuntimeError("interrupted"))
            if not isinstance(exc, Exception):
                raise
        finally:
            for entry in group:
                entry.done.set()

    def close(self) -> None:
        with self._write_lock:
            self._writer.close()
        with self._pool_lock:
            while True:
                try:
                    self._pool.get_nowait().close()
                except queue.Empty:
                    break
                self._readers_open -= 1

    def migrate(self) -> None:
        with self._transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise RuntimeError(f"{self.path} was written by a newer cravate-hub (schema {version}); upgrade")
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in script.split(";\n"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number}")

    def optimize(self) -> None:
        """Refresh the planner's statistics, reading at most ~1,000 rows per index (milliseconds at any size).

        Hot queries do not depend on them (their indexes are partial or pinned), but the others choose better
        with them, e.g. a session's reminders found through its own index, not by reading every waiting entry
        (https://sqlite.org/lang_analyze.html, "approximate ANALYZE" with analysis_limit)."""
        with self._write_lock:
            self._writer.execute("PRAGMA analysis_limit=1000")
            self._writer.execute("ANALYZE")

    @property
    def schema_version(self) -> int:
        return int(self._read("PRAGMA user_version").scalar())

    # --- events and deliveries -----------------------------------------------------------------------------

    def event_exists(self, branch: str, source: str, source_id: str, kind: str) -> bool:
        row = self._read(
            "SELECT 1 FROM events WHERE branch=? AND source=? AND source_id=? AND kind=?",
            (branch, source, source_id, kind)).fetchone()
        return row is not None

    def insert_event(self, *, event_id: str, branch: str, kind: str, source: str, source_id: str,
                     occurred_at: datetime, candidate_id: str | None, session_id: str | None, body: str,
                     sinks: Sequence[str], now: datetime, not_before: datetime | None = None,
                     skipped: str | None = None) -> int | None:
        """Joins. Store an event and one pending delivery per sink, due at `not_before` (default now), or, with
        `skipped` (the reason), recorded as skipped; None when it was already stored (dedupe)."""
        with self._transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO events(id, branch, kind, source, source_id, occurred_at, recorded_at,"
                " candidate_id, session_id, body) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (event_id, branch, kind, source, source_id, ts(occurred_at), ts(now), candidate_id, session_id,
                 body))
            if cur.rowcount == 0:
                return None
            seq = int(cur.lastrowid or 0)
            conn.executemany(
                "INSERT INTO deliveries(event_seq, branch, plugin, kind, candidate_id, key, state, attempts,"
                " next_attempt_at, updated_at) VALUES (?,?,?,?,?,?,?,0,?,?)",
                [(seq, branch, plugin, kind, candidate_id, f"{event_id}:{plugin}", SKIPPED if skipped else PENDING,
                  ts(not_before or now), ts(now)) for plugin in sinks])
            if skipped:
                conn.execute("UPDATE deliveries SET last_error=? WHERE event_seq=?", (f"skipped: {skipped}", seq))
        return seq

    def add_delivery(self, event_seq: int, plugin: str, now: datetime) -> bool:
        """Joins. Add a delivery for a plugin enabled after the event was stored (resync --force)."""
        row = self._write("SELECT id, branch, kind, candidate_id FROM events WHERE seq=?", (event_seq,)).fetchone()
        cur = self._write(
            "INSERT OR IGNORE INTO deliveries(event_seq, branch, plugin, kind, candidate_id, key, state, attempts,"
            " next_attempt_at, updated_at) VALUES (?,?,?,?,?,?,?,0,?,?)",
            (event_seq, row["branch"], plugin, row["kind"], row["candidate_id"], f"{row['id']}:{plugin}", PENDING,
             ts(now), ts(now)))
        return cur.rowcount > 0

    def due_deliveries(self, now: datetime, limit: int, *, branch: str | None = None,
                       plugin: str | None = None) -> list[DeliveryRow]:
        """Open deliveries whose time has come, oldest first, skipping paused plugins.

        A candidate's deliveries to one plugin keep event order (a cancellation never overtakes its booking):
        a delivery waits while an earlier one for the same candidate and plugin is waiting for a retry. Due
        siblings come in order in the same batch; the dispatcher stops at the first that fails.

        The open deliveries are walked in event order through a partial index that holds only them (one per
        lane when a lane is given), so a batch costs the same with 10k or 1M rows in the table: no sort of
        the backlog. INDEXED BY pins that plan (SQLite's own advice for time-critical queries,
        https://sqlite.org/lang_indexedby.html): without statistics the planner would pick the state index
        and sort every due row each batch.
        """
        lane = branch is not None and plugin is not None
        if lane:
            index, where = "deliveries_lane_open", "d.branch = :branch AND d.plugin = :plugin AND "
        else:
            index, where = "deliveries_open", ("(:branch IS NULL OR d.branch = :branch) AND "
                                               "(:plugin IS NULL OR d.plugin = :plugin) AND ")
        rows = self._read(
            f"""SELECT d.id, d.event_seq, d.branch, d.plugin, d.kind, d.key, d.state, d.attempts,
                      d.first_failed_at, d.candidate_id, e.body
               FROM deliveries d INDEXED BY {index} JOIN events e ON e.seq = d.event_seq
               WHERE {where}d.state IN ('pending','retrying') AND d.next_attempt_at <= :now
                 AND NOT EXISTS (SELECT 1 FROM pauses p WHERE p.branch=d.branch AND p.plugin=d.plugin)
                 AND NOT EXISTS (SELECT 1 FROM deliveries o INDEXED BY deliveries_retrying
                                 WHERE o.branch=d.branch AND o.plugin=d.plugin AND o.candidate_id=d.candidate_id
                                   AND o.state='retrying' AND o.next_attempt_at > :now
                                   AND o.event_seq < d.event_seq)
               ORDER BY d.{"branch, d.plugin, d." if lane else ""}event_seq LIMIT :limit""",
            {"now": ts(now), "limit": limit, "branch": branch, "plugin": plugin}).fetchall()
        return [DeliveryRow(**dict(r)) for r in rows]

    def finish_deliveries(self, outcomes: Sequence[DeliveryOutcome], now: datetime) -> None:
        """Joins. Record what the attempts decided."""
        self._write_many(
            "UPDATE deliveries SET state=?, attempts=?, next_attempt_at=COALESCE(?, next_attempt_at),"
            " last_error=?, first_failed_at=?, updated_at=? WHERE id=?",
            [(o.state, o.attempts, o.next_attempt_at, o.last_error, o.first_failed_at, ts(now), o.id)
             for o in outcomes])

    def retry_deliveries(self, now: datetime, *, branch: str | None = None, plugin: str | None = None,
                         ids: Sequence[int] = (), include_retrying: bool = True) -> int:
        """Atomic. Put dead (and retrying) deliveries back to pending, due now; how many."""
        states = ["dead", "retrying"] if include_retrying else ["dead"]
        sql = (f"UPDATE deliveries SET state='pending', attempts=0, first_failed_at=NULL, next_attempt_at=?,"
               f" updated_at=? WHERE {UNFINISHED} AND state IN ({','.join('?' * len(states))})")
        args: list[Any] = [ts(now), ts(now), *states]
        if branch:
            sql, args = sql + " AND branch=?", [*args, branch]
        if plugin:
            sql, args = sql + " AND plugin=?", [*args, plugin]
        if ids:
            sql, args = sql + f" AND id IN ({','.join('?' * len(ids))})", [*args, *ids]
        with self._transaction() as conn:
            return conn.execute(sql, args).rowcount

    def dead_letter_unrouted(self, lanes: Sequence[tuple[str, str]], now: datetime) -> int:
        """Atomic. Open deliveries to a plugin no longer enabled in their branch can never run: mark them dead."""
        pairs = {(r["branch"], r["plugin"]) for r in self._read(
            "SELECT DISTINCT branch, plugin FROM deliveries WHERE state IN ('pending','retrying')")}
        count = 0
        with self._transaction() as conn:
            for branch, plugin in sorted(pairs - set(lanes)):
                count += conn.execute(
                    "UPDATE deliveries SET state='dead', last_error=?, updated_at=? WHERE branch=? AND plugin=?"
                    " AND state IN ('pending','retrying')",
                    (f"plugin {plugin!r} is not enabled in branch {branch!r}: enable it, then run "
                     f"hub retry --branch {branch} --plugin {plugin}", ts(now), branch, plugin)).rowcount
        return count

    def redeliver(self, event_seq: int, plugin: str, now: datetime) -> None:
        """Joins. resync --force: deliver again an event already delivered (a new attempt under the same key)."""
        self._write("UPDATE deliveries SET state='pending', attempts=0, next_attempt_at=?, updated_at=?"
                          " WHERE event_seq=? AND plugin=?", (ts(now), ts(now), event_seq, plugin))

    def open_delivery_health(self, branch: str | None = None) -> dict[tuple[str, str], LaneHealth]:
        """Per (branch, plugin) and state among pending/retrying/dead: how many, and since when the oldest
        problem (first failure of a retrying one, last update of a dead one). Reads only open and dead rows."""
        sql = ("SELECT branch, plugin, state, COUNT(*) n, MIN(first_failed_at) first_failed, MIN(updated_at) oldest,"
               f" MIN(next_attempt_at) next_at FROM deliveries WHERE {UNFINISHED}"
               + (" AND branch=?" if branch else "") + " GROUP BY branch, plugin, state")
        out: dict[tuple[str, str], LaneHealth] = {}
        for row in self._read(sql, (branch,) if branch else ()):
            out.setdefault((row["branch"], row["plugin"]), {})[row["state"]] = StateHealth(
                count=row["n"], since=row["first_failed"] if row["state"] == RETRYING else row["oldest"],
                next_at=row["next_at"])
        return out

    def delivery_counts(self) -> dict[tuple[str, str], dict[str, int]]:
        """Per (branch, plugin): how many deliveries in each state, ever."""
        out: dict[tuple[str, str], dict[str, int]] = {}
        for row in self._read("SELECT branch, plugin, state, COUNT(*) n FROM deliveries"
                                     " GROUP BY branch, plugin, state"):
            out.setdefault((row["branch"], row["plugin"]), {})[row["state"]] = row["n"]
        return out

    def list_deliveries(self, *, states: Sequence[str] = (), branch: str | None = None,
                        plugin: str | None = None, limit: int = 100) -> list[DeliveryListing]:
        """Newest first."""
        sql = ("SELECT d.id, d.branch, d.plugin, d.kind, d.state, d.attempts, d.next_attempt_at, d.last_error,"
               " d.updated_at, e.id AS event_id FROM deliveries d JOIN events e ON e.seq=d.event_seq WHERE 1=1")
        args: list[Any] = []
        if states:
            if set(states) <= {PENDING, RETRYING, DEAD}:  # through the small index of unfinished deliveries
                sql += " AND " + UNFINISHED.replace("state", "d.state")
            sql += f" AND d.state IN ({','.join('?' * len(states))})"
            args += list(states)
        if branch:
            sql, args = sql + " AND d.branch=?", [*args, branch]
        if plugin:
            sql, args = sql + " AND d.plugin=?", [*args, plugin]
        return _rows(DeliveryListing, self._read(sql + " ORDER BY d.id DESC LIMIT ?", [*args, limit]))

    def list_events(self, *, branch: str | None = None, kind: str | None = None,
                    limit: int = 100) -> list[EventRow]:
        """Newest first."""
        sql, args = _EVENT_COLUMNS, list[Any]()
        if branch:
            sql, args = sql + " AND branch=?", [*args, branch]
        if kind:
            sql, args = sql + " AND kind=?", [*args, kind]
        return _rows(EventRow, self._read(sql + " ORDER BY seq DESC LIMIT ?", [*args, limit]))

    def events_since(self, branch: str, source: str, since: datetime | None) -> list[EventRef]:
        """The events a source gave since a time (all when None), oldest first."""
        sql = "SELECT seq, kind FROM events WHERE branch=? AND source=?"
        args: list[Any] = [branch, source]
        if since is not None:
            sql, args = sql + " AND occurred_at >= ?", [*args, ts(since)]
        return _rows(EventRef, self._read(sql + " ORDER BY seq", args))

    def sent_count(self, branch: str, since: datetime, *, plugin: str | None = None,
                   candidate_id: str | None = None, source_suffixes: Sequence[str] = ()) -> int:
        """Messages delivered (message_due deliveries done) since a time, for a branch, optionally one channel,
        one person, or purposes (the message events' source ids end with ':<purpose>')."""
        sql = ("SELECT COUNT(*) FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE d.branch=?"
               " AND d.kind='message_due' AND d.state='done' AND d.updated_at >= ?")
        args: list[Any] = [branch, ts(since)]
        if plugin is not None:
            sql, args = sql + " AND d.plugin=?", [*args, plugin]
        if candidate_id is not None:
            sql, args = sql + " AND d.candidate_id=?", [*args, candidate_id]
        if source_suffixes:
            sql += " AND (" + " OR ".join("e.source_id LIKE ?" for _ in source_suffixes) + ")"
            args += [f"%:{suffix}" for suffix in source_suffixes]
        return int(self._read(sql, args).scalar())

    def last_sent_at(self, branch: str, candidate_id: str, source_suffixes: Sequence[str]) -> float | None:
        """When a message of one of these purposes last went to this person."""
        sql = ("SELECT MAX(d.updated_at) FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE d.branch=?"
               " AND d.kind='message_due' AND d.state='done' AND d.candidate_id=? AND ("
               + " OR ".join("e.source_id LIKE ?" for _ in source_suffixes) + ")")
        row = self._read(sql, [branch, candidate_id, *[f"%:{s}" for s in source_suffixes]]).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    # --- cursors and source health -------------------------------------------------------------------------

    def cursor(self, branch: str, plugin: str, source: str) -> str | None:
        row = self._read("SELECT cursor FROM sources WHERE branch=? AND plugin=? AND name=?",
                                (branch, plugin, source)).fetchone()
        return None if row is None else row["cursor"]

    def save_cursor(self, branch: str, plugin: str, source: str, cursor: str | None, now: datetime) -> None:
        """Joins (with the events of the same page). A successful read also clears the source's error."""
        self._write(
            "INSERT INTO sources(branch, plugin, name, cursor, last_ok_at, last_error, updated_at)"
            " VALUES (?,?,?,?,?,NULL,?) ON CONFLICT(branch, plugin, name) DO UPDATE SET cursor=excluded.cursor,"
            " last_ok_at=excluded.last_ok_at, last_error=NULL, failing_since=NULL, updated_at=excluded.updated_at",
            (branch, plugin, source, cursor, ts(now), ts(now)))

    def source_failed(self, branch: str, plugin: str, source: str, error: str, now: datetime) -> None:
        """Atomic. Remember the error; `failing_since` keeps the first failure of a run of them."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO sources(branch, plugin, name, last_error, failing_since, updated_at) VALUES (?,?,?,?,?,?)"
                " ON CONFLICT(branch, plugin, name) DO UPDATE SET last_error=excluded.last_error,"
                " failing_since=COALESCE(sources.failing_since, excluded.failing_since),"
                " updated_at=excluded.updated_at", (branch, plugin, source, error, ts(now), ts(now)))

    def list_sources(self, branch: str | None = None) -> list[SourceRow]:
        sql = f"SELECT {_fields(SourceRow)} FROM sources" + (" WHERE branch=?" if branch else "") + \
            " ORDER BY branch, plugin, name"
        return _rows(SourceRow, self._read(sql, (branch,) if branch else ()))

    # --- identity ------------------------------------------------------------------------------------------

    def link(self, branch: str, entity: str, hub_id: str, tool: str, external_id: str) -> None:
        """Joins."""
        self._write("INSERT INTO links(branch, entity, hub_id, tool, external_id) VALUES (?,?,?,?,?)"
                          " ON CONFLICT(branch, entity, tool, external_id) DO UPDATE SET hub_id=excluded.hub_id",
                          (branch, entity, hub_id, tool, external_id))

    def lookup(self, branch: str, entity: str, tool: str, external_id: str) -> str | None:
        row = self._read("SELECT hub_id FROM links WHERE branch=? AND entity=? AND tool=? AND external_id=?",
                                (branch, entity, tool, external_id)).fetchone()
        return None if row is None else row["hub_id"]

    def external_ids(self, branch: str, entity: str, hub_id: str, tool: str) -> list[str]:
        rows = self._read("SELECT external_id FROM links WHERE branch=? AND entity=? AND hub_id=? AND tool=?"
                                 " ORDER BY rowid", (branch, entity, hub_id, tool)).fetchall()
        return [r["external_id"] for r in rows]

    # --- candidates and sessions (the hub's current picture) ------------------------------------------------

    def get_entity(self, table: str, hub_id: str) -> dict[str, Any] | None:
        row = self._read(f"SELECT body FROM {_entity(table)} WHERE id=?", (hub_id,)).fetchone()
        return None if row is None else json.loads(row["body"])

    def entity_branch(self, table: str, hub_id: str) -> str | None:
        row = self._read(f"SELECT branch FROM {_entity(table)} WHERE id=?", (hub_id,)).fetchone()
        return None if row is None else row["branch"]

    def save_candidate(self, branch: str, hub_id: str, body: dict[str, Any], email_key: str | None,
                       phone_key: str | None, now: datetime) -> None:
        """Joins. Insert or replace the hub's picture of a person, with its matching keys."""
        self._write(
            "INSERT INTO candidates(id, branch, email_key, phone_key, body, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET email_key=excluded.email_key,"
            " phone_key=excluded.phone_key, body=excluded.body, updated_at=excluded.updated_at",
            (hub_id, branch, email_key, phone_key, json.dumps(body), ts(now), ts(now)))

    def find_candidate(self, branch: str, *, email_key: str | None, phone_key: str | None) -> str | None:
        for column, key in (("email_key", email_key), ("phone_key", phone_key)):
            if key:
                row = self._read(f"SELECT id FROM candidates WHERE branch=? AND {column}=?"
                                        " ORDER BY created_at LIMIT 1", (branch, key)).fetchone()
                if row:
                    return str(row["id"])
        return None

    def save_session(self, branch: str, hub_id: str, candidate_id: str | None, status: str,
                     body: dict[str, Any], now: datetime) -> None:
        """Joins. Insert or replace the hub's picture of a session."""
        self._write(
            "INSERT INTO sessions(id, branch, candidate_id, status, body, updated_at) VALUES (?,?,?,?,?,?)"
            " ON CONFLICT(id) DO UPDATE SET candidate_id=excluded.candidate_id, status=excluded.status,"
            " body=excluded.body, updated_at=excluded.updated_at",
            (hub_id, branch, candidate_id, status, json.dumps(body), ts(now)))

    def set_session_status(self, hub_id: str, status: str, now: datetime) -> None:
        """Joins."""
        self._write("UPDATE sessions SET status=?, body=json_set(body, '$.status', ?), updated_at=?"
                          " WHERE id=?", (status, status, ts(now), hub_id))

    def has_session(self, candidate_id: str) -> bool:
        """Whether a person has booked anything (any session, whatever became of it)."""
        return self._read("SELECT 1 FROM sessions WHERE candidate_id=? LIMIT 1",
                                 (candidate_id,)).fetchone() is not None

    def waiting_for_booking(self, branch: str, registered_before: datetime) -> list[str]:
        """People of a branch registered before a time who have booked nothing since (they need a call)."""
        rows = self._read(
            "SELECT c.id FROM candidates c WHERE c.branch=? AND c.created_at < ? AND NOT EXISTS"
            " (SELECT 1 FROM sessions s WHERE s.candidate_id = c.id) AND NOT EXISTS"
            " (SELECT 1 FROM erasures e WHERE e.candidate_id = c.id) ORDER BY c.created_at",
            (branch, ts(registered_before))).fetchall()
        return [str(r[0]) for r in rows]

    def count(self, table: str, branch: str | None = None) -> int:
        sql = f"SELECT COUNT(*) FROM {_entity(table)}" + (" WHERE branch=?" if branch else "")
        return int(self._read(sql, (branch,) if branch else ()).scalar())

    # --- schedule ------------------------------------------------------------------------------------------

    def schedule(self, branch: str, session_id: str, kind: str, offset: str, due_at: datetime) -> None:
        """Joins. Plan a reminder or follow-up (once per session, kind and offset)."""
        self._write("INSERT OR IGNORE INTO schedule(branch, session_id, kind, offset_text, due_at, state)"
                          " VALUES (?,?,?,?,?,'waiting')", (branch, session_id, kind, offset, ts(due_at)))

    def unschedule(self, session_id: str) -> int:
        """Joins. Drop what was planned for a session; how many."""
        return self._write("UPDATE schedule SET state='dropped' WHERE session_id=? AND state='waiting'",
                                 (session_id,)).rowcount

    def due_schedule(self, now: datetime, limit: int = 500) -> list[ScheduleRow]:
        return _rows(ScheduleRow, self._read(
            f"SELECT {_fields(ScheduleRow)} FROM schedule WHERE state='waiting' AND due_at<=? ORDER BY due_at LIMIT ?",
            (ts(now), limit)))

    def mark_schedule(self, row_id: int, state: str) -> None:
        """Joins."""
        self._write("UPDATE schedule SET state=? WHERE id=?", (state, row_id))

    def list_schedule(self, *, session_id: str | None = None, state: str | None = None) -> list[ScheduleRow]:
        sql, args = f"SELECT {_fields(ScheduleRow)} FROM schedule WHERE 1=1", list[Any]()
        if session_id:
            sql, args = sql + " AND session_id=?", [*args, session_id]
        if state:
            sql, args = sql + " AND state=?", [*args, state]
        return _rows(ScheduleRow, self._read(sql + " ORDER BY due_at", args))

    # --- plugin pauses (auth failed) -----------------------------------------------------------------------

    def pause(self, branch: str, plugin: str, reason: str, now: datetime, fix: str | None = None) -> bool:
        """Atomic. Pause a plugin for a branch; True when it was not paused before (a new problem)."""
        with self._transaction() as conn:
            new = conn.execute("SELECT 1 FROM pauses WHERE branch=? AND plugin=?", (branch, plugin)).fetchone() is None
            conn.execute("INSERT INTO pauses(branch, plugin, reason, since, fix) VALUES (?,?,?,?,?)"
                         " ON CONFLICT(branch, plugin) DO UPDATE SET reason=excluded.reason, fix=excluded.fix",
                         (branch, plugin, reason, ts(now), fix))
        return new

    def resume(self, branch: str, plugin: str) -> bool:
        """Atomic. End a pause; True when there was one."""
        with self._transaction() as conn:
            return conn.execute("DELETE FROM pauses WHERE branch=? AND plugin=?", (branch, plugin)).rowcount > 0

    def pauses(self) -> dict[tuple[str, str], str]:
        """(branch, plugin) -> reason of every pause."""
        return {key: row.reason for key, row in self.pause_details().items()}

    def pause_details(self) -> dict[tuple[str, str], PauseRow]:
        """Every pause: its reason, since when, and the command that fixes it (or None)."""
        rows = _rows(PauseRow, self._read(f"SELECT {_fields(PauseRow)} FROM pauses"))
        return {(r.branch, r.plugin): r for r in rows}

    # --- alerts sent to staff (at most one per problem per period) -----------------------------------------

    def claim_alert(self, branch: str, key: str, now: datetime, period: float) -> bool:
        """Atomic. True (and remembered) when no alert for this problem was sent in the last `period` seconds."""
        with self._transaction() as conn:
            row = conn.execute("SELECT sent_at FROM alerts WHERE branch=? AND key=?", (branch, key)).fetchone()
            if row is not None and ts(now) - row["sent_at"] < period:
                return False
            conn.execute("INSERT INTO alerts(branch, key, sent_at) VALUES (?,?,?) ON CONFLICT(branch, key)"
                         " DO UPDATE SET sent_at=excluded.sent_at", (branch, key, ts(now)))
        return True

    # --- problems in the input (bad rows, payloads) ---------------------------------------------------------

    def report_problem(self, branch: str, plugin: str, ref: str, field: str, message: str, now: datetime) -> None:
        """Atomic."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO problems(branch, plugin, ref, field, message, first_seen, last_seen) VALUES"
                " (?,?,?,?,?,?,?) ON CONFLICT(branch, plugin, ref) DO UPDATE SET field=excluded.field,"
                " message=excluded.message, last_seen=excluded.last_seen",
                (branch, plugin, ref, field, message, ts(now), ts(now)))

    def resolve_problem(self, branch: str, plugin: str, ref: str) -> None:
        """Atomic."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM problems WHERE branch=? AND plugin=? AND ref=?", (branch, plugin, ref))

    def list_problems(self, branch: str | None = None) -> list[ProblemRow]:
        sql = f"SELECT {_fields(ProblemRow)} FROM problems" + (" WHERE branch=?" if branch else "") + \
            " ORDER BY branch, plugin, ref"
        return _rows(ProblemRow, self._read(sql, (branch,) if branch else ()))

    # --- plugins' private state ----------------------------------------------------------------------------

    def kv_get(self, branch: str, plugin: str, key: str) -> Any:
        row = self._read("SELECT value FROM kv WHERE branch=? AND plugin=? AND key=?",
                                (branch, plugin, key)).fetchone()
        return None if row is None else json.loads(row["value"])

    def kv_count(self, branch: str, plugin: str, prefix: str) -> int:
        """How many keys of a plugin's private state start with `prefix`."""
        return int(self._read("SELECT COUNT(*) FROM kv WHERE branch=? AND plugin=? AND key >= ? AND key < ?",
                                     (branch, plugin, prefix, prefix + "\uffff")).scalar())

    def kv_put(self, branch: str, plugin: str, key: str, value: Any) -> None:
        """Atomic (a delivery's context buffers these and writes them with the delivery's outcome)."""
        with self._transaction() as conn:
            conn.execute("INSERT INTO kv(branch, plugin, key, value) VALUES (?,?,?,?) ON CONFLICT(branch, plugin, key)"
                         " DO UPDATE SET value=excluded.value", (branch, plugin, key, json.dumps(value)))

    def kv_delete(self, branch: str, plugin: str, key: str) -> None:
        """Atomic."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM kv WHERE branch=? AND plugin=? AND key=?", (branch, plugin, key))


    # --- plugins whose setup failed (retried with backoff) --------------------------------------------------

    def setup_failed(self, branch: str, plugin: str, hook: str, error: str, now: datetime,
                     next_try_at: datetime) -> None:
        """Atomic. Count one more failed setup attempt of a plugin in a branch."""
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO setup_failures(branch, plugin, hook, error, since, attempts, next_try_at)"
                " VALUES (?,?,?,?,?,1,?) ON CONFLICT(branch, plugin) DO UPDATE SET hook=excluded.hook,"
                " error=excluded.error, attempts=setup_failures.attempts+1, next_try_at=excluded.next_try_at",
                (branch, plugin, hook, error, ts(now), ts(next_try_at)))

    def setup_succeeded(self, branch: str, plugin: str) -> bool:
        """Atomic. Forget a plugin's setup failure; True when there was one."""
        with self._transaction() as conn:
            return conn.execute("DELETE FROM setup_failures WHERE branch=? AND plugin=?",
                                (branch, plugin)).rowcount > 0

    def setup_failures(self, branch: str | None = None) -> list[SetupFailureRow]:
        sql = f"SELECT {_fields(SetupFailureRow)} FROM setup_failures" + (" WHERE branch=?" if branch else "")
        return _rows(SetupFailureRow, self._read(sql + " ORDER BY branch, plugin", (branch,) if branch else ()))


_EVENT_COLUMNS = "SELECT seq, id, branch, kind, source, source_id, occurred_at, recorded_at, candidate_id, " \
                 "session_id, body FROM events WHERE 1=1"


def _fields(cls: type) -> str:
    """The column list of a row dataclass (its field names are the table's column names)."""
    return ", ".join(f.name for f in dataclasses.fields(cls))


def _private_file(path: Path) -> None:
    """The database holds personal data: its folder is 0700 and the file 0600 before SQLite opens it
    (SQLite creates the -wal and -shm files with the database file's permissions)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)


def _entity(table: str) -> str:
    if table not in ("candidates", "sessions"):
        raise ValueError(table)
    return table
