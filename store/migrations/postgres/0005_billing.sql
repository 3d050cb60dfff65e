-- Billing: drafts replaced by billing runs, documents issued once and never changed again.
-- * invoices keep their EN 16931 document (billing.documents.to_data form) and the evidence behind it
--   (tariff version, devices, readings cut-off and digest, the rated statement) for the bundle;
-- * billing_runs is the progress record of `meterbill bill` (the API can show it);
-- * ledger_head is the one row every issuer locks, so ledger appends (and numbers) serialise;
-- * triggers refuse any change to an issued document, its lines or the ledger: the one change
--   allowed is the status issued -> credited with everything else equal.
ALTER TABLE invoices ADD COLUMN period text NOT NULL DEFAULT '';
ALTER TABLE invoices ADD COLUMN issue_date date;
ALTER TABLE invoices ADD COLUMN document jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE invoices ADD COLUMN evidence jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE invoices ADD COLUMN run_id text;
CREATE INDEX invoices_period ON invoices (period, contract_id);
CREATE INDEX invoices_credited ON invoices (credited_invoice_id);

CREATE TABLE billing_runs (
    id           text PRIMARY KEY,
    period       text NOT NULL,
    status       text NOT NULL CHECK (status IN ('running', 'finished', 'failed')),
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    done         integer NOT NULL DEFAULT 0,
    total        integer NOT NULL DEFAULT 0,
    failed       integer NOT NULL DEFAULT 0,
    error        text
);
CREATE INDEX billing_runs_period ON billing_runs (period, started_at);

CREATE TABLE ledger_head (
    id    integer PRIMARY KEY CHECK (id = 1),
    seq   bigint NOT NULL,
    hash  text NOT NULL
);
INSERT INTO ledger_head (id, seq, hash) VALUES (1, 0, repeat('0', 64));

CREATE FUNCTION invoices_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status NOT IN ('issued', 'credited') THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.status = 'credited'
       AND (to_jsonb(NEW) - 'status') = (to_jsonb(OLD) - 'status') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'invoice % (%) is %: an issued document never changes; correct it with a credit note',
        OLD.id, OLD.number, OLD.status USING ERRCODE = 'integrity_constraint_violation';
END
$$;
CREATE TRIGGER invoices_immutable BEFORE UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoices_immutable();

CREATE FUNCTION invoice_lines_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    parent text;
BEGIN
    parent := CASE WHEN TG_OP = 'INSERT' THEN NEW.invoice_id ELSE OLD.invoice_id END;
    IF EXISTS (SELECT 1 FROM invoices WHERE id = parent AND status IN ('issued', 'credited')) THEN
        RAISE EXCEPTION 'invoice % is issued: its lines never change', parent
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER invoice_lines_immutable BEFORE INSERT OR UPDATE OR DELETE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION invoice_lines_immutable();

CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entry % is append-only', OLD.seq USING ERRCODE = 'integrity_constraint_violation';
END
$$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
