"""Per-device MQTT credentials: a random secret shown once, stored only as a Mosquitto hash.

The stored hash is exactly what ``mosquitto_passwd`` writes (``$7$`` = PBKDF2-HMAC-SHA512 with a
12-byte salt, base64), so ``meterbill broker export-auth`` can write the broker's password file
without ever knowing a secret again. Secrets are 32 random bytes: the iteration count only needs
to match what Mosquitto accepts, since nobody can guess such a secret however fast the hash is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["MOSQUITTO_ITERATIONS", "mosquitto_hash", "new_secret", "verify_mosquitto_hash"]

MOSQUITTO_ITERATIONS = 101  # mosquitto_passwd's default for $7$ hashes
_SALT_BYTES = 12
_KEY_BYTES = 64


def new_secret() -> str:
    """A new device secret: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def mosquitto_hash(secret: str, *, salt: bytes | None = None, iterations: int = MOSQUITTO_ITERATIONS) -> str:
    """The ``$7$iterations$salt$hash`` line Mosquitto's password file holds for ``secret``."""
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    key = hashlib.pbkdf2_hmac("sha512", secret.encode("utf-8"), salt, iterations, _KEY_BYTES)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"


def verify_mosquitto_hash(secret: str, stored: str) -> bool:
    """True when ``secret`` matches a ``$7$`` hash; False for any other or malformed hash."""
    parts = stored.split("$")
    if len(parts) != 5 or parts[1] != "7" or not parts[2].isdigit():
        return False
    try:
        salt = base64.b64decode(parts[3], validate=True)
    except ValueError:
        return False
    expected = mosquitto_hash(secret, salt=salt, iterations=int(parts[2]))
    return hmac.compare_digest(expected, stored)
