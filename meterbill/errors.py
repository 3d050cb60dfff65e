"""The root of meterbill's exceptions.

Every package keeps its own ``errors.py`` whose classes derive from :class:`MeterbillError` and
from the builtin they refine (``StoreError(MeterbillError, RuntimeError)``), so callers can catch
either "anything meterbill raised" or the ordinary Python category. This module imports nothing
so that the pure cores (``rating/``, ``devices/``) can depend on it without pulling in I/O.
"""

from __future__ import annotations

__all__ = ["ConfigurationError", "MeterbillError"]


class MeterbillError(Exception):
    """Base class of every error meterbill raises on purpose."""


class ConfigurationError(MeterbillError, ValueError):
    """Settings are missing, malformed or unsafe for the chosen environment."""
