"""Billing: Decimal money, invoice assembly and lifecycle, numbering, ledger and e-invoice writers.

Pure domain code: it reaches storage only through Protocols that ``store/`` implements and imports
no I/O library (enforced by tests/test_architecture.py).
"""
