-- Readings on plain PostgreSQL: a btree primary key on the dedup key and a BRIN index on time
-- (readings arrive roughly in time order, so BRIN stays tiny and prunes range scans).
-- Rollups are computed on demand with date_bin (store/postgres.py).

CREATE TABLE readings (
    device_id    text NOT NULL,
    register     text NOT NULL,
    ts           timestamptz NOT NULL,              -- device time; interval start for kind=interval
    value        double precision NOT NULL,         -- quantity in the canonical unit below
    unit         text NOT NULL CHECK (unit IN ('kWh', 'm^3', 'km', 's')),
    kind         text NOT NULL CHECK (kind IN ('interval', 'cumulative')),
    quality      text NOT NULL CHECK (quality IN ('actual', 'estimated')),
    received_at  timestamptz NOT NULL,              -- gateway time
    PRIMARY KEY (device_id, register, ts)
);
CREATE INDEX readings_ts_brin ON readings USING brin (ts);
