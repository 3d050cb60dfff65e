-- Readings on TimescaleDB: a hypertable partitioned by device time, hourly and daily continuous
-- aggregates of interval consumption (real-time, so not-yet-materialised data is included), and
-- compression of chunks older than 30 days, segmented by device so late backfill stays cheap.

CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE readings (
    device_id    text NOT NULL,
    register     text NOT NULL,
    ts           timestamptz NOT NULL,
    value        double precision NOT NULL,
    unit         text NOT NULL CHECK (unit IN ('kWh', 'm^3', 'km', 's')),
    kind         text NOT NULL CHECK (kind IN ('interval', 'cumulative')),
    quality      text NOT NULL CHECK (quality IN ('actual', 'estimated')),
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (device_id, register, ts)
);
SELECT create_hypertable('readings', 'ts', chunk_time_interval => INTERVAL '7 days');

CREATE MATERIALIZED VIEW readings_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT device_id, register, unit, time_bucket(INTERVAL '1 hour', ts) AS bucket,
       sum(value) AS total, count(*) AS n
FROM readings WHERE kind = 'interval'
GROUP BY device_id, register, unit, bucket
WITH NO DATA;

CREATE MATERIALIZED VIEW readings_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT device_id, register, unit, time_bucket(INTERVAL '1 day', ts) AS bucket,
       sum(value) AS total, count(*) AS n
FROM readings WHERE kind = 'interval'
GROUP BY device_id, register, unit, bucket
WITH NO DATA;

SELECT add_continuous_aggregate_policy('readings_hourly',
    start_offset => INTERVAL '400 days', end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '15 minutes');
SELECT add_continuous_aggregate_policy('readings_daily',
    start_offset => INTERVAL '400 days', end_offset => INTERVAL '1 day',
    schedule_interval => INTERVAL '1 hour');

ALTER TABLE readings SET (timescaledb.compress, timescaledb.compress_segmentby = 'device_id, register',
                          timescaledb.compress_orderby = 'ts');
SELECT add_compression_policy('readings', INTERVAL '30 days');
