-- What the ingestion gateway needs beyond readings:
-- * dead letters are idempotent per (topic, payload): a message redelivered after a crash between
--   commit and acknowledgement, or a device repeating the same bad message, counts occurrences
--   instead of piling up copies; replayed_at records a successful replay;
-- * readings flagged for review (stored, never dropped);
-- * one heartbeat row per gateway process, for `meterbill gateway status`.
ALTER TABLE dead_letters ADD COLUMN payload_sha256 TEXT;
ALTER TABLE dead_letters ADD COLUMN occurrences INTEGER NOT NULL DEFAULT 1;
ALTER TABLE dead_letters ADD COLUMN last_received_at INTEGER;
ALTER TABLE dead_letters ADD COLUMN replayed_at INTEGER;
CREATE UNIQUE INDEX dead_letters_identity ON dead_letters (topic, payload_sha256);
CREATE INDEX dead_letters_device ON dead_letters (device_id);

CREATE TABLE reading_reviews (
    device_id    TEXT NOT NULL,
    register     TEXT NOT NULL,
    ts           INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    detail       TEXT NOT NULL,
    created_at   INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    resolved_at  INTEGER,
    PRIMARY KEY (device_id, register, ts, reason)
);

CREATE TABLE gateway_instances (
    client_id      TEXT PRIMARY KEY,
    host           TEXT NOT NULL,
    pid            INTEGER NOT NULL,
    started_at     INTEGER NOT NULL,
    last_seen_at   INTEGER NOT NULL,
    connected      INTEGER NOT NULL,
    counters       TEXT NOT NULL DEFAULT '{}'
);
