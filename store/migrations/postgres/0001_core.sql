-- Core tables of meterbill on PostgreSQL. Money is NUMERIC (exact), never float; times are timestamptz.

CREATE TABLE customers (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    email       text,
    language    text NOT NULL DEFAULT 'en',
    address     jsonb NOT NULL DEFAULT '{}'::jsonb,   -- postal address lines, city, postcode, country
    siren       text,                                 -- French company id, where given
    vat_id      text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE devices (
    id           text PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('electricity_meter', 'gas_meter', 'water_meter', 'vehicle')),
    serial       text NOT NULL,
    status       text NOT NULL DEFAULT 'provisioned'
                 CHECK (status IN ('provisioned', 'active', 'suspended', 'retired')),
    secret_hash  text,                                 -- only a hash of the MQTT secret is kept
    attributes   jsonb NOT NULL DEFAULT '{}'::jsonb,   -- registers, units, maxima, nominal interval
    created_at   timestamptz NOT NULL DEFAULT now(),
    activated_at timestamptz,
    UNIQUE (kind, serial)
);

CREATE TABLE tariffs (
    tariff_id   text NOT NULL,
    version     integer NOT NULL CHECK (version >= 1),
    name        text NOT NULL,
    currency    text NOT NULL,
    timezone    text NOT NULL,
    body        jsonb NOT NULL,                       -- the validated tariff document
    valid_from  date,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tariff_id, version)
);

CREATE TABLE contracts (
    id              text PRIMARY KEY,
    customer_id     text NOT NULL REFERENCES customers (id),
    tariff_id       text NOT NULL,
    tariff_version  integer,                          -- NULL: the current version
    start_date      date NOT NULL,
    end_date        date,                             -- exclusive; NULL: open-ended
    billing_cycle   text NOT NULL DEFAULT 'monthly',
    attributes      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (end_date IS NULL OR end_date > start_date)
);

CREATE TABLE contract_devices (
    contract_id  text NOT NULL REFERENCES contracts (id),
    device_id    text NOT NULL REFERENCES devices (id),
    valid_from   timestamptz NOT NULL,
    valid_to     timestamptz,                         -- exclusive; meter exchange closes one, opens another
    PRIMARY KEY (contract_id, device_id, valid_from)
);

CREATE TABLE trips (
    device_id    text NOT NULL,
    trip_id      text NOT NULL,
    start_ts     timestamptz NOT NULL,
    end_ts       timestamptz NOT NULL,
    distance_km  double precision NOT NULL CHECK (distance_km >= 0),
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, trip_id),
    CHECK (end_ts >= start_ts)
);
CREATE INDEX trips_device_start ON trips (device_id, start_ts);

CREATE TABLE events (
    device_id    text NOT NULL,
    ts           timestamptz NOT NULL,
    type         text NOT NULL,
    trip_id      text,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, ts, type)
);

CREATE TABLE dead_letters (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    topic        text NOT NULL,
    payload      bytea NOT NULL,
    reason       text NOT NULL,
    detail       text NOT NULL,
    device_id    text
);
CREATE INDEX dead_letters_received ON dead_letters (received_at);

CREATE TABLE reading_conflicts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id        text NOT NULL,
    register         text NOT NULL,
    ts               timestamptz NOT NULL,
    stored_value     double precision NOT NULL,
    offered_value    double precision NOT NULL,
    unit             text NOT NULL,
    offered_quality  text NOT NULL,
    received_at      timestamptz NOT NULL,
    resolved_at      timestamptz,
    UNIQUE (device_id, register, ts, offered_value)   -- a redelivered conflict is recorded once
);

CREATE TABLE invoices (
    id                   text PRIMARY KEY,
    number               text UNIQUE,                 -- assigned at issue time, gap-free per series
    series               text NOT NULL,
    type_code            text NOT NULL DEFAULT '380' CHECK (type_code IN ('380', '381')),
    status               text NOT NULL DEFAULT 'draft'
                         CHECK (status IN ('draft', 'approved', 'issued', 'credited')),
    customer_id          text NOT NULL REFERENCES customers (id),
    contract_id          text NOT NULL REFERENCES contracts (id),
    period_start         date NOT NULL,
    period_end           date NOT NULL,
    currency             text NOT NULL,
    net_total            numeric(18, 2) NOT NULL DEFAULT 0,
    tax_total            numeric(18, 2) NOT NULL DEFAULT 0,
    gross_total          numeric(18, 2) NOT NULL DEFAULT 0,
    credited_invoice_id  text REFERENCES invoices (id),
    created_at           timestamptz NOT NULL DEFAULT now(),
    issued_at            timestamptz
);
CREATE INDEX invoices_customer ON invoices (customer_id, period_start);

CREATE TABLE invoice_lines (
    invoice_id    text NOT NULL REFERENCES invoices (id),
    line_no       integer NOT NULL,
    code          text NOT NULL,
    description   text NOT NULL,
    quantity      numeric(20, 6) NOT NULL,
    unit          text NOT NULL,
    unit_price    numeric(20, 8) NOT NULL,
    amount        numeric(18, 2) NOT NULL,
    tax_category  text NOT NULL,
    tax_rate      numeric(7, 4) NOT NULL,
    trace         jsonb NOT NULL DEFAULT '{}'::jsonb,  -- tariff version, band/tier, reading range and count
    PRIMARY KEY (invoice_id, line_no)
);

CREATE TABLE invoice_sequences (
    series       text NOT NULL,
    year         integer NOT NULL,
    last_number  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (series, year)
);

CREATE TABLE ledger (
    seq              bigint PRIMARY KEY,
    invoice_id       text NOT NULL UNIQUE REFERENCES invoices (id),
    document_number  text NOT NULL,
    payload          text NOT NULL,                    -- canonical serialisation that was hashed
    prev_hash        text NOT NULL,
    hash             text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id             text PRIMARY KEY,
    email          text NOT NULL UNIQUE,
    role           text NOT NULL CHECK (role IN ('admin', 'billing', 'support', 'customer')),
    password_hash  text NOT NULL,
    customer_id    text REFERENCES customers (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'customer') = (customer_id IS NOT NULL))
);
