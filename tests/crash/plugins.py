"""Plugins for the crash test, loaded into a daemon subprocess with HUB_LOAD_PLUGINS.

`feed` reads pre-written events from a JSON-lines file, a few per page, with the line number as cursor.
`sink_a` and `sink_b` record effects in their own SQLite file, keyed by the delivery's idempotency key, the
way a real sink uses the key against its service: check, then act. Every call is also logged, so the test
sees how often the hub re-delivered (at-least-once) and whether any effect happened twice.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from typing import Any

from hub import hookimpl
from hub.events import Event
from hub.sources import Poller, PollResult

FEED = os.environ.get("CRASH_FEED", "")
EFFECTS = os.environ.get("CRASH_EFFECTS", "")
PAGE = 2


def _db() -> sqlite3.Connection:
    conn = sqlite3.connect(EFFECTS, timeout=10, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS effects(sink TEXT, key TEXT, event TEXT, kind TEXT)")
    conn.execute("CREATE TABLE IF NOT EXISTS calls(sink TEXT, key TEXT)")
    return conn


class Feed:
    @hookimpl
    def register_sources(self, hub: Any, register: Any) -> None:
        with open(FEED, encoding="utf-8") as handle:
            lines = handle.read().splitlines()

        def poll(cursor: str | None) -> PollResult:
            start = int(cursor or 0)
            page = [Event.model_validate_json(line) for line in lines[start:start + PAGE]]
            time.sleep(random.uniform(0, 0.01))
            end = start + len(page)
            return PollResult(events=page, cursor=str(end))  # one page per poll: spreads the work over time
        register(Poller("feed", poll, interval=0.05))


class Sink:
    def __init__(self, name: str) -> None:
        self.name = name
        self.conn: sqlite3.Connection | None = None

    def _effect(self, hub: Any, event: Event) -> None:
        if self.conn is None:
            self.conn = _db()
        conn = self.conn
        conn.execute("INSERT INTO calls VALUES (?,?)", (self.name, hub.delivery_key))
        time.sleep(random.uniform(0, 0.004))  # the window in which a kill hurts
        conn.execute("BEGIN IMMEDIATE")
        seen = conn.execute("SELECT 1 FROM effects WHERE key=?", (hub.delivery_key,)).fetchone()
        if not seen:
            conn.execute("INSERT INTO effects VALUES (?,?,?,?)", (self.name, hub.delivery_key, event.id,
                                                                   event.kind.value))
        conn.execute("COMMIT")

    @hookimpl
    def candidate_registered(self, hub: Any, event: Event) -> None:
        self._effect(hub, event)

    @hookimpl
    def session_booked(self, hub: Any, event: Event) -> None:
        self._effect(hub, event)

    @hookimpl
    def session_cancelled(self, hub: Any, event: Event) -> None:
        self._effect(hub, event)

    @hookimpl
    def outcome_recorded(self, hub: Any, event: Event) -> None:
        self._effect(hub, event)

    @hookimpl
    def candidate_forgotten(self, hub: Any, event: Event) -> None:
        """The erasure of the person in this "tool": once per delivery key, and its receipt."""
        self._effect(hub, event)
        hub.erased(f"fiches de {self.name}")


feed = Feed()
sink_a = Sink("sink_a")
sink_b = Sink("sink_b")
