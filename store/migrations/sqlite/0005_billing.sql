-- Billing: drafts replaced by billing runs, documents issued once and never changed again.
-- (See the PostgreSQL file for the why.) SQLite's RAISE takes a constant message: the store adds
-- which document it was when it translates the error.
ALTER TABLE invoices ADD COLUMN period TEXT NOT NULL DEFAULT '';
ALTER TABLE invoices ADD COLUMN issue_date TEXT;
ALTER TABLE invoices ADD COLUMN document TEXT NOT NULL DEFAULT '{}';
ALTER TABLE invoices ADD COLUMN evidence TEXT NOT NULL DEFAULT '{}';
ALTER TABLE invoices ADD COLUMN run_id TEXT;
CREATE INDEX invoices_period ON invoices (period, contract_id);
CREATE INDEX invoices_credited ON invoices (credited_invoice_id);

CREATE TABLE billing_runs (
    id           TEXT PRIMARY KEY,
    period       TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed')),
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    done         INTEGER NOT NULL DEFAULT 0,
    total        INTEGER NOT NULL DEFAULT 0,
    failed       INTEGER NOT NULL DEFAULT 0,
    error        TEXT
);
CREATE INDEX billing_runs_period ON billing_runs (period, started_at);

CREATE TABLE ledger_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO ledger_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TRIGGER invoices_no_delete_issued BEFORE DELETE ON invoices
WHEN OLD.status IN ('issued', 'credited')
BEGIN
    SELECT RAISE(ABORT, 'an issued invoice never changes; correct it with a credit note');
END;

CREATE TRIGGER invoices_no_update_issued BEFORE UPDATE ON invoices
WHEN OLD.status IN ('issued', 'credited') AND NOT (
    NEW.status = 'credited'
    AND NEW.id IS OLD.id AND NEW.number IS OLD.number AND NEW.series IS OLD.series
    AND NEW.type_code IS OLD.type_code AND NEW.customer_id IS OLD.customer_id
    AND NEW.contract_id IS OLD.contract_id AND NEW.period_start IS OLD.period_start
    AND NEW.period_end IS OLD.period_end AND NEW.currency IS OLD.currency
    AND NEW.net_total IS OLD.net_total AND NEW.tax_total IS OLD.tax_total
    AND NEW.gross_total IS OLD.gross_total AND NEW.credited_invoice_id IS OLD.credited_invoice_id
    AND NEW.created_at IS OLD.created_at AND NEW.issued_at IS OLD.issued_at
    AND NEW.period IS OLD.period AND NEW.issue_date IS OLD.issue_date
    AND NEW.document IS OLD.document AND NEW.evidence IS OLD.evidence AND NEW.run_id IS OLD.run_id
)
BEGIN
    SELECT RAISE(ABORT, 'an issued invoice never changes; correct it with a credit note');
END;

CREATE TRIGGER invoice_lines_no_insert_issued BEFORE INSERT ON invoice_lines
WHEN EXISTS (SELECT 1 FROM invoices WHERE id = NEW.invoice_id AND status IN ('issued', 'credited'))
BEGIN
    SELECT RAISE(ABORT, 'the lines of an issued invoice never change');
END;

CREATE TRIGGER invoice_lines_no_update_issued BEFORE UPDATE ON invoice_lines
WHEN EXISTS (SELECT 1 FROM invoices WHERE id = OLD.invoice_id AND status IN ('issued', 'credited'))
BEGIN
    SELECT RAISE(ABORT, 'the lines of an issued invoice never change');
END;

CREATE TRIGGER invoice_lines_no_delete_issued BEFORE DELETE ON invoice_lines
WHEN EXISTS (SELECT 1 FROM invoices WHERE id = OLD.invoice_id AND status IN ('issued', 'credited'))
BEGIN
    SELECT RAISE(ABORT, 'the lines of an issued invoice never change');
END;

CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;

CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;
