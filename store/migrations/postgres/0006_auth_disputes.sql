-- Accounts, API keys, refresh tokens and disputes (issue 7: API and web).
-- * users: one account per e-mail, compared case-insensitively (lower(email) is unique); only an
--   argon2 hash of the password is kept; a customer account is tied to its customer;
-- * api_keys: integrations authenticate with a key of which only a SHA-256 hash and a short
--   prefix (shown in listings) are kept; revoked keys stay for the audit trail;
-- * refresh_tokens: each refresh rotates the token; tokens of one login share a family, and
--   presenting a used token again (reuse) revokes the whole family (RFC 6819 section 5.2.2.3);
-- * disputes and dispute_events: a customer disputes an invoice line; every step (opened,
--   message, answered, resolved, credited) is an event with its actor and time, shown to the customer.
-- 0001 reserved a users table that nothing wrote to (no auditor role, no disabled flag, an
-- e-mail unique only case-sensitively): it is replaced.
DROP TABLE users;

CREATE TABLE users (
    id             text PRIMARY KEY,
    email          text NOT NULL,
    role           text NOT NULL CHECK (role IN ('admin', 'billing', 'support', 'auditor', 'customer')),
    customer_id    text REFERENCES customers (id),
    password_hash  text NOT NULL,
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'customer') = (customer_id IS NOT NULL))
);
CREATE UNIQUE INDEX users_email_ci ON users (lower(email));

CREATE TABLE api_keys (
    id          text PRIMARY KEY,
    user_id     text NOT NULL REFERENCES users (id),
    name        text NOT NULL DEFAULT '',
    prefix      text NOT NULL,
    key_hash    text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    last_used_at timestamptz
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE refresh_tokens (
    id          text PRIMARY KEY,
    user_id     text NOT NULL REFERENCES users (id),
    family_id   text NOT NULL,
    token_hash  text NOT NULL UNIQUE,
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE disputes (
    id           text PRIMARY KEY,
    invoice_id   text NOT NULL REFERENCES invoices (id),
    line_no      integer,
    customer_id  text NOT NULL REFERENCES customers (id),
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered', 'resolved', 'credited')),
    opened_by    text NOT NULL,
    opened_at    timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    closed_at    timestamptz
);
CREATE INDEX disputes_customer ON disputes (customer_id, opened_at);
CREATE INDEX disputes_invoice ON disputes (invoice_id);
CREATE INDEX disputes_status ON disputes (status, opened_at);

CREATE TABLE dispute_events (
    dispute_id  text NOT NULL REFERENCES disputes (id),
    seq         integer NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('opened', 'message', 'answered', 'resolved', 'credited')),
    actor_id    text NOT NULL,
    actor_role  text NOT NULL,
    message     text NOT NULL DEFAULT '',
    credit_note_id text,
    at          timestamptz NOT NULL,
    PRIMARY KEY (dispute_id, seq)
);
