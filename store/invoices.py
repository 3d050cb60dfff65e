"""The invoice book on either backend: tariff versions, drafts, issue with gap-free numbers, the ledger.

One implementation for both backends, like the registry (a DB-API mixin and a :class:`Dialect`).
Issuing is one transaction that locks, in this order, the invoice row, the ledger head and the
series' sequence row (PostgreSQL ``SELECT ... FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` already
holds the whole database): concurrent issuers queue, so numbers never skip or repeat, and the
ledger chain is appended in issue order. Migration 0005's triggers refuse any change to an issued
document, its lines or the ledger, whatever client makes it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from billing.issue import SERIES, document_number, ledger_payload
from billing.ledger import LedgerEntry, canonical_bytes, chain_hash
from billing.lifecycle import EDITABLE, InvoiceStatus, check_transition
from billing.ports import (
    BillingRunRecord,
    DraftInvoice,
    Finalize,
    InvoiceRecord,
    RunStatus,
    SaveOutcome,
    TariffVersion,
)
from store.errors import NotFoundError
from store.sql import SqlMixin, date_out, json_out

__all__ = ["InvoiceMixin"]

_COLUMNS = (
    "id, number, status, type_code, contract_id, customer_id, period, period_start, period_end, currency,"
    " net_total, tax_total, gross_total, document, evidence, created_at, issued_at, issue_date,"
    " credited_invoice_id, run_id"
)
_RUN_COLUMNS = "id, period, status, started_at, finished_at, done, total, failed, error"


def _json_in(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class InvoiceMixin(SqlMixin):
    """Invoice methods of the Store; the backend provides the transactions and the dialect."""

    # -- tariffs --------------------------------------------------------------------------
    def add_tariff_version(self, tariff_id: str, body: str) -> int:
        """Store ``body`` (validated tariff JSON text) as the next version of ``tariff_id``; return it."""
        data = json.loads(body)
        with self._registry_write() as conn:
            row = self._exec(
                conn, "SELECT coalesce(max(version), 0) FROM tariffs WHERE tariff_id = %s", (tariff_id,)
            ).fetchone()
            version = int(row[0]) + 1
            self._exec(
                conn,
                "INSERT INTO tariffs (tariff_id, version, name, currency, timezone, body, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    tariff_id,
                    version,
                    str(data.get("name", "")),
                    str(data.get("currency", "")),
                    str(data.get("timezone", "")),
                    body,
                    self._dialect.time_in(datetime.now(UTC)),
                ),
            )
        return version

    def tariff_version(self, tariff_id: str, version: int | None = None) -> TariffVersion | None:
        """The given version of a tariff, or its latest; the body as JSON text (numbers exact)."""
        query = "SELECT version, CAST(body AS TEXT) FROM tariffs WHERE tariff_id = %s"
        params: list[Any] = [tariff_id]
        if version is not None:
            query += " AND version = %s"
            params.append(version)
        with self._registry_read() as conn:
            row = self._exec(conn, query + " ORDER BY version DESC LIMIT 1", params).fetchone()
        return None if row is None else TariffVersion(tariff_id, int(row[0]), row[1])

    # -- drafts ---------------------------------------------------------------------------
    def save_draft(self, draft: DraftInvoice, *, run_id: str | None = None) -> SaveOutcome:
        """Create or replace a draft/approved document (back to draft); an issued one is kept as it is."""
        d = self._dialect
        with self._registry_write() as conn:
            row = self._exec(conn, f"SELECT status FROM invoices WHERE id = %s{d.for_update}", (draft.id,)).fetchone()
            if row is not None and row[0] not in EDITABLE:
                return "kept_issued"
            values = (
                draft.type_code,
                SERIES[draft.type_code],
                draft.customer_id,
                draft.contract_id,
                draft.period,
                draft.period_start.isoformat(),
                draft.period_end.isoformat(),
                draft.currency,
                str(draft.net_total),
                str(draft.tax_total),
                str(draft.gross_total),
                _json_in(draft.document),
                _json_in(draft.evidence),
                draft.credited_invoice_id,
                run_id,
            )
            if row is None:
                self._exec(
                    conn,
                    "INSERT INTO invoices (type_code, series, customer_id, contract_id, period, period_start,"
                    " period_end, currency, net_total, tax_total, gross_total, document, evidence,"
                    " credited_invoice_id, run_id, status, created_at, id)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'draft', %s, %s)",
                    (*values, d.time_in(datetime.now(UTC)), draft.id),
                )
            else:
                self._exec(conn, "DELETE FROM invoice_lines WHERE invoice_id = %s", (draft.id,))
                self._exec(
                    conn,
                    "UPDATE invoices SET type_code = %s, series = %s, customer_id = %s, contract_id = %s,"
                    " period = %s, period_start = %s, period_end = %s, currency = %s, net_total = %s,"
                    " tax_total = %s, gross_total = %s, document = %s, evidence = %s,"
                    " credited_invoice_id = %s, run_id = %s, status = 'draft' WHERE id = %s",
                    (*values, draft.id),
                )
            self._write_lines(conn, draft.id, draft.document)
        return "created" if row is None else "replaced"

    def _write_lines(self, conn: Any, invoice_id: str, document: Any) -> None:
        """The document's lines as rows too, so the API and SQL can read them (derived, never edited)."""
        rows = [
            (
                invoice_id,
                n,
                line["code"],
                line["description"],
                line["quantity"],
                line["unit"],
                line["net_price"],
                line["net_amount"],
                line["vat_category"],
                line["vat_rate"],
                _json_in(line.get("trace") or {}),
            )
            for n, line in enumerate(document.get("lines", []), start=1)
        ]
        if rows:
            self._many(
                conn,
                "INSERT INTO invoice_lines (invoice_id, line_no, code, description, quantity, unit, unit_price,"
                " amount, tax_category, tax_rate, trace) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )

    # -- reading the book -----------------------------------------------------------------
    def _record(self, row: Sequence[Any]) -> InvoiceRecord:
        d = self._dialect
        (iid, number, status, type_code, contract_id, customer_id, period, start, end, currency) = row[:10]
        (net, tax, gross, document, evidence, created, issued, issue_date, credited, run_id) = row[10:]
        return InvoiceRecord(
            id=iid,
            number=number,
            status=status,
            type_code=type_code,
            contract_id=contract_id,
            customer_id=customer_id,
            period=period,
            period_start=date_out(start),
            period_end=date_out(end),
            currency=currency,
            net_total=Decimal(net),
            tax_total=Decimal(tax),
            gross_total=Decimal(gross),
            document=json_out(document),
            evidence=json_out(evidence),
            created_at=d.time_out(created),
            issued_at=d.opt_time_out(issued),
            issue_date=None if issue_date is None else date_out(issue_date),
            credited_invoice_id=credited,
            run_id=run_id,
        )

    def _select(
        self, where: str, params: Sequence[Any], *, lock: bool = False, conn: Any = None
    ) -> list[InvoiceRecord]:
        query = f"SELECT {_COLUMNS} FROM invoices {where}"
        if lock:
            query += self._dialect.for_update
        if conn is not None:
            return [self._record(r) for r in self._exec(conn, query, params).fetchall()]
        with self._registry_read() as read:
            return [self._record(r) for r in self._exec(read, query, params).fetchall()]

    def invoice(self, invoice_id: str) -> InvoiceRecord | None:
        found = self._select("WHERE id = %s", (invoice_id,))
        return found[0] if found else None

    def invoice_by_number(self, number: str) -> InvoiceRecord | None:
        found = self._select("WHERE number = %s", (number,))
        return found[0] if found else None

    def invoices(
        self,
        *,
        period: str | None = None,
        status: InvoiceStatus | None = None,
        contract_id: str | None = None,
        credited_invoice_id: str | None = None,
    ) -> list[InvoiceRecord]:
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("period", period),
            ("status", status),
            ("contract_id", contract_id),
            ("credited_invoice_id", credited_invoice_id),
        ):
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        return self._select(where + " ORDER BY id", params)

    def issued_records(self) -> list[InvoiceRecord]:
        return self._select("WHERE status IN ('issued', 'credited') ORDER BY issued_at, id", ())

    # -- lifecycle ------------------------------------------------------------------------
    def set_invoice_status(self, invoice_id: str, status: InvoiceStatus) -> InvoiceRecord:
        """draft <-> approved; issuing and crediting go through :meth:`issue_invoice`."""
        if status not in EDITABLE:
            raise ValueError(f"invoice {invoice_id}: use issue_invoice to move it to {status}")
        with self._registry_write() as conn:
            found = self._select("WHERE id = %s", (invoice_id,), lock=True, conn=conn)
            if not found:
                raise NotFoundError(f"invoice {invoice_id} does not exist")
            check_transition(invoice_id, found[0].status, status)
            self._exec(conn, "UPDATE invoices SET status = %s WHERE id = %s", (status, invoice_id))
        return replace(found[0], status=status)

    def issue_invoice(
        self, invoice_id: str, *, issue_date: date, issued_at: datetime, finalize: Finalize
    ) -> InvoiceRecord:
        """approved -> issued with the next number, the final document and a ledger entry, in one transaction."""
        d = self._dialect
        with self._registry_write() as conn:
            found = self._select("WHERE id = %s", (invoice_id,), lock=True, conn=conn)
            if not found:
                raise NotFoundError(f"invoice {invoice_id} does not exist")
            record = found[0]
            check_transition(record.number or invoice_id, record.status, "issued")
            head = self._exec(conn, f"SELECT seq, hash FROM ledger_head WHERE id = 1{d.for_update}").fetchone()
            series, year = SERIES[record.type_code], issue_date.year
            self._exec(
                conn,
                "INSERT INTO invoice_sequences (series, year, last_number) VALUES (%s, %s, 0)"
                " ON CONFLICT (series, year) DO NOTHING",
                (series, year),
            )
            row = self._exec(
                conn,
                f"SELECT last_number FROM invoice_sequences WHERE series = %s AND year = %s{d.for_update}",
                (series, year),
            ).fetchone()
            n = int(row[0]) + 1
            number = document_number(series, year, n)
            document = finalize(record, number, issue_date)
            issued = replace(
                record,
                number=number,
                status="issued",
                document=document,
                issued_at=issued_at.astimezone(UTC),
                issue_date=issue_date,
            )
            self._exec(
                conn, "UPDATE invoice_sequences SET last_number = %s WHERE series = %s AND year = %s", (n, series, year)
            )
            self._exec(
                conn,
                "UPDATE invoices SET status = 'issued', number = %s, document = %s, issued_at = %s, issue_date = %s"
                " WHERE id = %s",
                (number, _json_in(document), d.time_in(issued_at.astimezone(UTC)), issue_date.isoformat(), invoice_id),
            )
            payload = canonical_bytes(ledger_payload(issued))
            seq, previous = int(head[0]) + 1, str(head[1])
            digest = chain_hash(previous, payload)
            self._exec(
                conn,
                "INSERT INTO ledger (seq, invoice_id, document_number, payload, prev_hash, hash, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (seq, invoice_id, number, payload.decode("utf-8"), previous, digest, d.time_in(issued_at)),
            )
            self._exec(conn, "UPDATE ledger_head SET seq = %s, hash = %s WHERE id = 1", (seq, digest))
            if record.credited_invoice_id is not None:
                self._mark_credited(conn, record.credited_invoice_id)
        return issued

    def _mark_credited(self, conn: Any, invoice_id: str) -> None:
        found = self._select("WHERE id = %s", (invoice_id,), lock=True, conn=conn)
        if not found:
            raise NotFoundError(f"credit note: the credited invoice {invoice_id} does not exist")
        check_transition(found[0].number or invoice_id, found[0].status, "credited")
        if found[0].status != "credited":
            self._exec(conn, "UPDATE invoices SET status = 'credited' WHERE id = %s", (invoice_id,))

    # -- ledger ---------------------------------------------------------------------------
    def ledger_entries(self) -> list[LedgerEntry]:
        with self._registry_read() as conn:
            rows = self._exec(conn, "SELECT seq, document_number, payload, prev_hash, hash FROM ledger ORDER BY seq")
            return [LedgerEntry(int(s), num, p.encode("utf-8"), prev, h) for s, num, p, prev, h in rows.fetchall()]

    # -- billing runs ---------------------------------------------------------------------
    def _run_record(self, row: Sequence[Any]) -> BillingRunRecord:
        d = self._dialect
        rid, period, status, started, finished, done, total, failed, error = row
        return BillingRunRecord(
            rid, period, status, d.time_out(started), d.opt_time_out(finished), done, total, failed, error
        )

    def start_billing_run(self, run_id: str, period: str, total: int, started_at: datetime) -> BillingRunRecord:
        """A new run, or the unfinished run ``run_id`` resumed (status running again, counters kept)."""
        d = self._dialect
        with self._registry_write() as conn:
            row = self._exec(conn, f"SELECT {_RUN_COLUMNS} FROM billing_runs WHERE id = %s", (run_id,)).fetchone()
            if row is None:
                self._exec(
                    conn,
                    "INSERT INTO billing_runs (id, period, status, started_at, total)"
                    " VALUES (%s, %s, 'running', %s, %s)",
                    (run_id, period, d.time_in(started_at), total),
                )
            else:
                self._exec(
                    conn,
                    "UPDATE billing_runs SET status = 'running', total = %s, finished_at = NULL, error = NULL"
                    " WHERE id = %s",
                    (total, run_id),
                )
            row = self._exec(conn, f"SELECT {_RUN_COLUMNS} FROM billing_runs WHERE id = %s", (run_id,)).fetchone()
        return self._run_record(row)

    def record_run_progress(self, run_id: str, *, done: int, failed: int) -> None:
        with self._registry_write() as conn:
            self._exec(conn, "UPDATE billing_runs SET done = %s, failed = %s WHERE id = %s", (done, failed, run_id))

    def finish_billing_run(
        self, run_id: str, *, status: RunStatus, failed: int, finished_at: datetime, error: str | None = None
    ) -> None:
        with self._registry_write() as conn:
            self._exec(
                conn,
                "UPDATE billing_runs SET status = %s, failed = %s, finished_at = %s, error = %s WHERE id = %s",
                (status, failed, self._dialect.time_in(finished_at), error, run_id),
            )

    def billing_runs(self, *, period: str | None = None) -> list[BillingRunRecord]:
        where, params = ("WHERE period = %s", [period]) if period is not None else ("", [])
        with self._registry_read() as conn:
            rows = self._exec(
                conn, f"SELECT {_RUN_COLUMNS} FROM billing_runs {where} ORDER BY started_at DESC, id DESC", params
            ).fetchall()
        return [self._run_record(r) for r in rows]
