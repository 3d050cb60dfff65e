-- Core tables of meterbill on SQLite. Money is TEXT holding a decimal string (exact), never REAL;
-- instants are INTEGER microseconds since the Unix epoch (UTC); dates are TEXT 'YYYY-MM-DD'; JSON is TEXT.

CREATE TABLE customers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    email       TEXT,
    language    TEXT NOT NULL DEFAULT 'en',
    address     TEXT NOT NULL DEFAULT '{}',   -- postal address lines, city, postcode, country
    siren       TEXT,                                 -- French company id, where given
    vat_id      TEXT,
    created_at  INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
);

CREATE TABLE devices (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('electricity_meter', 'gas_meter', 'water_meter', 'vehicle')),
    serial       TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'provisioned'
                 CHECK (status IN ('provisioned', 'active', 'suspended', 'retired')),
    secret_hash  TEXT,                                 -- only a hash of the MQTT secret is kept
    attributes   TEXT NOT NULL DEFAULT '{}',   -- registers, units, maxima, nominal interval
    created_at   INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    activated_at INTEGER,
    UNIQUE (kind, serial)
);

CREATE TABLE tariffs (
    tariff_id   TEXT NOT NULL,
    version     INTEGER NOT NULL CHECK (version >= 1),
    name        TEXT NOT NULL,
    currency    TEXT NOT NULL,
    timezone    TEXT NOT NULL,
    body        TEXT NOT NULL,                       -- the validated tariff document
    valid_from  TEXT,
    created_at  INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    PRIMARY KEY (tariff_id, version)
);

CREATE TABLE contracts (
    id              TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL REFERENCES customers (id),
    tariff_id       TEXT NOT NULL,
    tariff_version  INTEGER,                          -- NULL: the current version
    start_date      TEXT NOT NULL,
    end_date        TEXT,                             -- exclusive; NULL: open-ended
    billing_cycle   TEXT NOT NULL DEFAULT 'monthly',
    attributes      TEXT NOT NULL DEFAULT '{}',
    created_at      INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    CHECK (end_date IS NULL OR end_date > start_date)
);

CREATE TABLE contract_devices (
    contract_id  TEXT NOT NULL REFERENCES contracts (id),
    device_id    TEXT NOT NULL REFERENCES devices (id),
    valid_from   INTEGER NOT NULL,
    valid_to     INTEGER,                         -- exclusive; meter exchange closes one, opens another
    PRIMARY KEY (contract_id, device_id, valid_from)
);

CREATE TABLE trips (
    device_id    TEXT NOT NULL,
    trip_id      TEXT NOT NULL,
    start_ts     INTEGER NOT NULL,
    end_ts       INTEGER NOT NULL,
    distance_km  REAL NOT NULL CHECK (distance_km >= 0),
    received_at  INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    PRIMARY KEY (device_id, trip_id),
    CHECK (end_ts >= start_ts)
);
CREATE INDEX trips_device_start ON trips (device_id, start_ts);

CREATE TABLE events (
    device_id    TEXT NOT NULL,
    ts           INTEGER NOT NULL,
    type         TEXT NOT NULL,
    trip_id      TEXT,
    received_at  INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    PRIMARY KEY (device_id, ts, type)
);

CREATE TABLE dead_letters (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at  INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    topic        TEXT NOT NULL,
    payload      BLOB NOT NULL,
    reason       TEXT NOT NULL,
    detail       TEXT NOT NULL,
    device_id    TEXT
);
CREATE INDEX dead_letters_received ON dead_letters (received_at);

CREATE TABLE reading_conflicts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id        TEXT NOT NULL,
    register         TEXT NOT NULL,
    ts               INTEGER NOT NULL,
    stored_value     REAL NOT NULL,
    offered_value    REAL NOT NULL,
    unit             TEXT NOT NULL,
    offered_quality  TEXT NOT NULL,
    received_at      INTEGER NOT NULL,
    resolved_at      INTEGER,
    UNIQUE (device_id, register, ts, offered_value)   -- a redelivered conflict is recorded once
);

CREATE TABLE invoices (
    id                   TEXT PRIMARY KEY,
    number               TEXT UNIQUE,                 -- assigned at issue time, gap-free per series
    series               TEXT NOT NULL,
    type_code            TEXT NOT NULL DEFAULT '380' CHECK (type_code IN ('380', '381')),
    status               TEXT NOT NULL DEFAULT 'draft'
                         CHECK (status IN ('draft', 'approved', 'issued', 'credited')),
    customer_id          TEXT NOT NULL REFERENCES customers (id),
    contract_id          TEXT NOT NULL REFERENCES contracts (id),
    period_start         TEXT NOT NULL,
    period_end           TEXT NOT NULL,
    currency             TEXT NOT NULL,
    net_total            TEXT NOT NULL DEFAULT '0.00',
    tax_total            TEXT NOT NULL DEFAULT '0.00',
    gross_total          TEXT NOT NULL DEFAULT '0.00',
    credited_invoice_id  TEXT REFERENCES invoices (id),
    created_at           INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    issued_at            INTEGER
);
CREATE INDEX invoices_customer ON invoices (customer_id, period_start);

CREATE TABLE invoice_lines (
    invoice_id    TEXT NOT NULL REFERENCES invoices (id),
    line_no       INTEGER NOT NULL,
    code          TEXT NOT NULL,
    description   TEXT NOT NULL,
    quantity      TEXT NOT NULL,
    unit          TEXT NOT NULL,
    unit_price    TEXT NOT NULL,
    amount        TEXT NOT NULL,
    tax_category  TEXT NOT NULL,
    tax_rate      TEXT NOT NULL,
    trace         TEXT NOT NULL DEFAULT '{}',  -- tariff version, band/tier, reading range and count
    PRIMARY KEY (invoice_id, line_no)
);

CREATE TABLE invoice_sequences (
    series       TEXT NOT NULL,
    year         INTEGER NOT NULL,
    last_number  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (series, year)
);

CREATE TABLE ledger (
    seq              INTEGER PRIMARY KEY,
    invoice_id       TEXT NOT NULL UNIQUE REFERENCES invoices (id),
    document_number  TEXT NOT NULL,
    payload          TEXT NOT NULL,                    -- canonical serialisation that was hashed
    prev_hash        TEXT NOT NULL,
    hash             TEXT NOT NULL,
    created_at       INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'billing', 'support', 'customer')),
    password_hash  TEXT NOT NULL,
    customer_id    TEXT REFERENCES customers (id),
    created_at     INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)),
    CHECK ((role = 'customer') = (customer_id IS NOT NULL))
);
