"""Gateway errors."""

from __future__ import annotations

from meterbill.errors import MeterbillError

__all__ = ["BrokerError", "BrokerUrlError"]


class BrokerError(MeterbillError, ConnectionError):
    """The MQTT broker cannot be started, reached, or did not deliver."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class BrokerUrlError(MeterbillError, ValueError):
    """A broker URL (MB_MQTT_URL) is malformed."""
