-- Readings on SQLite: the dedup key is the primary key of a WITHOUT ROWID table, so rows are
-- clustered by device, register and time (what rating and exports scan); a time index serves
-- "everything in a window". ts and received_at are INTEGER microseconds since the epoch (UTC).

CREATE TABLE readings (
    device_id    TEXT NOT NULL,
    register     TEXT NOT NULL,
    ts           INTEGER NOT NULL,
    value        REAL NOT NULL,
    unit         TEXT NOT NULL CHECK (unit IN ('kWh', 'm^3', 'km', 's')),
    kind         TEXT NOT NULL CHECK (kind IN ('interval', 'cumulative')),
    quality      TEXT NOT NULL CHECK (quality IN ('actual', 'estimated')),
    received_at  INTEGER NOT NULL,
    PRIMARY KEY (device_id, register, ts)
) WITHOUT ROWID;
CREATE INDEX readings_ts ON readings (ts);
