-- What the ingestion gateway needs beyond readings:
-- * dead letters are idempotent per (topic, payload): a message redelivered after a crash between
--   commit and acknowledgement, or a device repeating the same bad message, counts occurrences
--   instead of piling up copies; replayed_at records a successful replay;
-- * readings flagged for review (stored, never dropped);
-- * one heartbeat row per gateway process, for `meterbill gateway status`.
ALTER TABLE dead_letters ADD COLUMN payload_sha256 text;
ALTER TABLE dead_letters ADD COLUMN occurrences integer NOT NULL DEFAULT 1;
ALTER TABLE dead_letters ADD COLUMN last_received_at timestamptz;
ALTER TABLE dead_letters ADD COLUMN replayed_at timestamptz;
CREATE UNIQUE INDEX dead_letters_identity ON dead_letters (topic, payload_sha256);
CREATE INDEX dead_letters_device ON dead_letters (device_id);

CREATE TABLE reading_reviews (
    device_id    text NOT NULL,
    register     text NOT NULL,
    ts           timestamptz NOT NULL,
    reason       text NOT NULL,
    detail       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at  timestamptz,
    PRIMARY KEY (device_id, register, ts, reason)
);

CREATE TABLE gateway_instances (
    client_id      text PRIMARY KEY,
    host           text NOT NULL,
    pid            integer NOT NULL,
    started_at     timestamptz NOT NULL,
    last_seen_at   timestamptz NOT NULL,
    connected      boolean NOT NULL,
    counters       jsonb NOT NULL DEFAULT '{}'::jsonb
);
