"""Broker addresses: an ``mqtt://`` or ``mqtts://`` URL parsed once into a frozen value."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from gateway.errors import BrokerUrlError

__all__ = ["BrokerAddress"]

_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True)
class BrokerAddress:
    """Where a broker listens and how to log in; ``str()`` never shows the password."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """Parse ``mqtt[s]://[USER[:PASSWORD]@]HOST[:PORT]``; the error says what is wrong."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise BrokerUrlError(f"broker URL {_redact(url)!r} is malformed: {exc}") from exc
        if parts.scheme not in _DEFAULT_PORTS:
            raise BrokerUrlError(f"broker URL {_redact(url)!r} must start with mqtt:// or mqtts://")
        if not parts.hostname:
            raise BrokerUrlError(f"broker URL {_redact(url)!r} names no host")
        if parts.path not in ("", "/") or parts.query:
            raise BrokerUrlError(f"broker URL {_redact(url)!r} must not carry a path or query")
        return cls(
            host=parts.hostname,
            port=port or _DEFAULT_PORTS[parts.scheme],
            tls=parts.scheme == "mqtts",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    @property
    def url(self) -> str:
        """The URL without the password, for logs and status pages."""
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"

    def __str__(self) -> str:
        return self.url


def _redact(url: str) -> str:
    head, sep, tail = url.rpartition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return url
    scheme_user = head.rsplit(":", 1)[0]
    return f"{scheme_user}:***@{tail}"
