"""Errors of the billing core."""

from __future__ import annotations

from meterbill.errors import MeterbillError

__all__ = ["BillingError", "LifecycleError", "MoneyError"]


class BillingError(MeterbillError):
    """Base class of every error raised by ``billing``."""


class MoneyError(BillingError, ValueError):
    """An amount or currency that money arithmetic refuses (a float, an unknown currency)."""


class LifecycleError(BillingError, ValueError):
    """An invoice transition that the lifecycle does not allow."""
