"""Billing errors."""

from __future__ import annotations

from meterbill.errors import MeterbillError

__all__ = ["BillingError", "LifecycleError"]


class BillingError(MeterbillError):
    """Base of the billing package's errors."""


class LifecycleError(BillingError, ValueError):
    """An invoice transition that the lifecycle does not allow."""
