-- Meter exchanges: the old meter's final index and the new meter's first index on a contract,
-- so consumption stays continuous across the exchange and is never negative.
CREATE TABLE meter_exchanges (
    contract_id      text NOT NULL REFERENCES contracts (id),
    at               timestamptz NOT NULL,
    register         text NOT NULL,
    old_device_id    text NOT NULL REFERENCES devices (id),
    old_final_index  double precision NOT NULL CHECK (old_final_index >= 0),
    new_device_id    text NOT NULL REFERENCES devices (id),
    new_first_index  double precision NOT NULL CHECK (new_first_index >= 0),
    PRIMARY KEY (contract_id, at, register)
);
CREATE INDEX contract_devices_device ON contract_devices (device_id);
CREATE INDEX contracts_customer ON contracts (customer_id);
