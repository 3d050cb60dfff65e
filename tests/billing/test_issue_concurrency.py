"""Concurrent issuing on PostgreSQL: parallel workers, numbers 1..N without a gap or a duplicate."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

from billing.issue import audit, finalize
from billing.readings_csv import rate_readings_csv
from billing.runs import run_billing
from store.postgres import PostgresStore
from tests.billing.billing_world import PERIOD, SELLER, add_world

WORKERS = 8
INVOICES = 24


def test_parallel_issuers_never_skip_or_repeat_a_number(pg_url: str) -> None:
    setup = PostgresStore(pg_url, max_size=2)
    try:
        setup.upgrade()
        add_world(setup, INVOICES)
        result = run_billing(setup, period=PERIOD, seller=SELLER, rate_csv=rate_readings_csv)
        assert not result.failures
        ids = [r.id for r in setup.invoices(period=PERIOD)]
        for invoice_id in ids:
            setup.set_invoice_status(invoice_id, "approved")
    finally:
        setup.close()
    workers = [PostgresStore(pg_url, max_size=1) for _ in range(WORKERS)]  # one connection each, as processes
    try:

        def issue(k: int) -> str:
            # every worker tries every invoice, in its own order: the losers must be refused, not numbered
            mine = ids[k:] + ids[:k]
            got = []
            for invoice_id in mine:
                try:
                    record = workers[k].issue_invoice(
                        invoice_id, issue_date=date(2026, 2, 3), issued_at=datetime.now(UTC), finalize=finalize
                    )
                except ValueError:  # LifecycleError: someone else issued it first
                    continue
                got.append(record.number)
            return ",".join(n for n in got if n)

        with ThreadPoolExecutor(WORKERS) as pool:
            numbers = [n for chunk in pool.map(issue, range(WORKERS)) for n in chunk.split(",") if n]
        assert sorted(numbers) == [f"FA-2026-{n:06d}" for n in range(1, INVOICES + 1)]
        check = workers[0]
        assert sorted(r.number or "" for r in check.issued_records()) == sorted(numbers)
        outcome = audit(check)
        assert outcome.broken is None and outcome.entries == INVOICES
        assert [e.seq for e in check.ledger_entries()] == list(range(1, INVOICES + 1))
    finally:
        for w in workers:
            w.close()
