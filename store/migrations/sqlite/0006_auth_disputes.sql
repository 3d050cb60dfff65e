-- Accounts, API keys, refresh tokens and disputes (issue 7: API and web).
-- (See the PostgreSQL file for the why.) Times are epoch microseconds like the other SQLite tables.
-- 0001 reserved a users table that nothing wrote to (no auditor role, no disabled flag, an
-- e-mail unique only case-sensitively): it is replaced.
DROP TABLE users;

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'billing', 'support', 'auditor', 'customer')),
    customer_id    TEXT REFERENCES customers (id),
    password_hash  TEXT NOT NULL,
    disabled       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    CHECK ((role = 'customer') = (customer_id IS NOT NULL))
);
CREATE UNIQUE INDEX users_email_ci ON users (lower(email));

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    name        TEXT NOT NULL DEFAULT '',
    prefix      TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER,
    last_used_at INTEGER
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE refresh_tokens (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    family_id   TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    revoked_at  INTEGER
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE disputes (
    id           TEXT PRIMARY KEY,
    invoice_id   TEXT NOT NULL REFERENCES invoices (id),
    line_no      INTEGER,
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    status       TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered', 'resolved', 'credited')),
    opened_by    TEXT NOT NULL,
    opened_at    INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    closed_at    INTEGER
);
CREATE INDEX disputes_customer ON disputes (customer_id, opened_at);
CREATE INDEX disputes_invoice ON disputes (invoice_id);
CREATE INDEX disputes_status ON disputes (status, opened_at);

CREATE TABLE dispute_events (
    dispute_id  TEXT NOT NULL REFERENCES disputes (id),
    seq         INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('opened', 'message', 'answered', 'resolved', 'credited')),
    actor_id    TEXT NOT NULL,
    actor_role  TEXT NOT NULL,
    message     TEXT NOT NULL DEFAULT '',
    credit_note_id TEXT,
    at          INTEGER NOT NULL,
    PRIMARY KEY (dispute_id, seq)
);
