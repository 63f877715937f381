"""Schema migrations, applied in order; PRAGMA user_version records how many ran. Append, never edit."""

MIGRATIONS: list[str] = [
    """
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    branch TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    source_id TEXT NOT NULL,
    occurred_at REAL NOT NULL,
    recorded_at REAL NOT NULL,
    candidate_id TEXT,
    session_id TEXT,
    body TEXT NOT NULL,
    UNIQUE (branch, source, source_id, kind)
);
CREATE INDEX events_candidate ON events(candidate_id);
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_seq INTEGER NOT NULL REFERENCES events(seq),
    branch TEXT NOT NULL,
    plugin TEXT NOT NULL,
    kind TEXT NOT NULL,
    candidate_id TEXT,
    key TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending','retrying','done','dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    first_failed_at REAL,
    last_error TEXT,
    updated_at REAL NOT NULL,
    UNIQUE (event_seq, plugin)
);
CREATE INDEX deliveries_due ON deliveries(state, next_attempt_at);
CREATE INDEX deliveries_order ON deliveries(branch, plugin, candidate_id, state, event_seq);
CREATE TABLE sources (
    branch TEXT NOT NULL, plugin TEXT NOT NULL, name TEXT NOT NULL,
    cursor TEXT, last_ok_at REAL, last_error TEXT, updated_at REAL NOT NULL,
    PRIMARY KEY (branch, plugin, name)
);
CREATE TABLE links (
    branch TEXT NOT NULL, entity TEXT NOT NULL, hub_id TEXT NOT NULL, tool TEXT NOT NULL, external_id TEXT NOT NULL,
    PRIMARY KEY (branch, entity, tool, external_id)
);
CREATE INDEX links_hub ON links(branch, entity, hub_id, tool);
CREATE TABLE candidates (
    id TEXT PRIMARY KEY, branch TEXT NOT NULL, email_key TEXT, phone_key TEXT, body TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE INDEX candidates_email ON candidates(branch, email_key);
CREATE INDEX candidates_phone ON candidates(branch, phone_key);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY, branch TEXT NOT NULL, candidate_id TEXT, status TEXT NOT NULL, body TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX sessions_candidate ON sessions(candidate_id);
CREATE TABLE schedule (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    branch TEXT NOT NULL, session_id TEXT NOT NULL, kind TEXT NOT NULL, offset_text TEXT NOT NULL,
    due_at REAL NOT NULL, state TEXT NOT NULL CHECK (state IN ('waiting','fired','dropped','expired')),
    UNIQUE (session_id, kind, offset_text)
);
CREATE INDEX schedule_due ON schedule(state, due_at);
CREATE TABLE pauses (
    branch TEXT NOT NULL, plugin TEXT NOT NULL, reason TEXT NOT NULL, since REAL NOT NULL,
    PRIMARY KEY (branch, plugin)
);
CREATE TABLE problems (
    branch TEXT NOT NULL, plugin TEXT NOT NULL, ref TEXT NOT NULL, field TEXT NOT NULL, message TEXT NOT NULL,
    first_seen REAL NOT NULL, last_seen REAL NOT NULL,
    PRIMARY KEY (branch, plugin, ref)
);
CREATE TABLE kv (
    branch TEXT NOT NULL, plugin TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (branch, plugin, key)
)
""",
    """
ALTER TABLE pauses ADD COLUMN fix TEXT;
ALTER TABLE sources ADD COLUMN failing_since REAL;
CREATE TABLE alerts (
    branch TEXT NOT NULL, key TEXT NOT NULL, sent_at REAL NOT NULL,
    PRIMARY KEY (branch, key)
)
""",
    """
CREATE TABLE setup_failures (
    branch TEXT NOT NULL, plugin TEXT NOT NULL, hook TEXT NOT NULL, error TEXT NOT NULL, since REAL NOT NULL,
    attempts INTEGER NOT NULL, next_try_at REAL NOT NULL,
    PRIMARY KEY (branch, plugin)
)
""",
    """
CREATE TABLE deliveries_v4 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_seq INTEGER NOT NULL REFERENCES events(seq),
    branch TEXT NOT NULL,
    plugin TEXT NOT NULL,
    kind TEXT NOT NULL,
    candidate_id TEXT,
    key TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending','retrying','done','dead','skipped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    first_failed_at REAL,
    last_error TEXT,
    updated_at REAL NOT NULL,
    UNIQUE (event_seq, plugin)
);
INSERT INTO deliveries_v4 (id, event_seq, branch, plugin, kind, candidate_id, key, state, attempts, next_attempt_at,
                           first_failed_at, last_error, updated_at)
    SELECT id, event_seq, branch, plugin, kind, candidate_id, key, state, attempts, next_attempt_at,
           first_failed_at, last_error, updated_at FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_v4 RENAME TO deliveries;
CREATE INDEX deliveries_due ON deliveries(state, next_attempt_at);
CREATE INDEX deliveries_order ON deliveries(branch, plugin, candidate_id, state, event_seq);
CREATE INDEX deliveries_sent ON deliveries(branch, kind, state, updated_at)
""",
    """
DROP INDEX deliveries_due;
DROP INDEX deliveries_order;
DROP INDEX deliveries_sent;
CREATE INDEX deliveries_open ON deliveries(event_seq, next_attempt_at) WHERE state IN ('pending','retrying');
CREATE INDEX deliveries_lane_open ON deliveries(branch, plugin, event_seq, next_attempt_at)
    WHERE state IN ('pending','retrying');
CREATE INDEX deliveries_retrying ON deliveries(branch, plugin, candidate_id, event_seq) WHERE state='retrying';
CREATE INDEX deliveries_unfinished ON deliveries(state, branch, plugin) WHERE state IN ('pending','retrying','dead');
CREATE INDEX deliveries_sent_by_time ON deliveries(branch, updated_at) WHERE kind='message_due' AND state='done';
CREATE INDEX deliveries_sent_by_person ON deliveries(candidate_id, updated_at)
    WHERE kind='message_due' AND state='done';
CREATE INDEX schedule_waiting ON schedule(session_id) WHERE state='waiting';
CREATE INDEX events_source ON events(branch, source, seq)
""",
    """
CREATE TABLE erasures (
    id TEXT PRIMARY KEY, branch TEXT NOT NULL, candidate_id TEXT NOT NULL, reason TEXT NOT NULL,
    requested_at REAL NOT NULL, finished_at REAL, payload TEXT
);
CREATE INDEX erasures_candidate ON erasures(candidate_id);
CREATE TABLE erasure_receipts (
    delivery_key TEXT NOT NULL, plugin TEXT NOT NULL, status TEXT NOT NULL CHECK (status IN ('done','manual')),
    item TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (delivery_key, item)
);
CREATE TABLE tombstones (
    branch TEXT NOT NULL, kind TEXT NOT NULL, digest TEXT NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (branch, kind, digest)
)
""",
    """
CREATE TABLE optouts (
    branch TEXT NOT NULL, candidate_id TEXT NOT NULL, medium TEXT NOT NULL, source TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (branch, candidate_id, medium)
)
""",
    """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)
""",
    """
ALTER TABLE tombstones ADD COLUMN erasure_id TEXT;
-- an erasure writes its tombstones at its own requested_at: the tombstones made before this column find theirs
UPDATE tombstones SET erasure_id = (SELECT e.id FROM erasures e WHERE e.branch = tombstones.branch
    AND e.requested_at = tombstones.created_at ORDER BY e.id LIMIT 1);
CREATE TABLE erasure_returns (
    erasure_id TEXT PRIMARY KEY, branch TEXT NOT NULL, kind TEXT NOT NULL, source_id TEXT NOT NULL,
    occurred_at REAL NOT NULL, candidate_id TEXT
)
""",
    """
-- a row is now the latest contact preference per (person, medium): opted out (1) or back in (0), since `at`
ALTER TABLE optouts ADD COLUMN opted_out INTEGER NOT NULL DEFAULT 1;
""",
]
