"""Tariff files: JSON or TOML in, a validated :class:`~rating.tariff.Tariff` out, or a ``TariffError``
whose message names the field path and the reason (``energy_charges[0].bands[2].price: must be >= 0``).

Numbers are parsed as ``Decimal`` so a price written ``0.1740`` is exactly 0.1740, never a float.
:func:`tariff_json_schema` exports the format as JSON Schema (docs/tariff.schema.json is generated from it).
"""

from __future__ import annotations

import json
import tomllib
from contextlib import suppress
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rating.errors import TariffError
from rating.tariff import Tariff

__all__ = ["format_path", "load_tariff", "parse_tariff", "tariff_from_dict", "tariff_json_schema"]

# pydantic error types -> our wording (the rest keep pydantic's message).
_REASONS: dict[str, str] = {
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "missing": "is required",
    "extra_forbidden": "is not a known field (check the spelling against docs/tariff-format.md)",
    "literal_error": "must be one of {expected}",
    "string_pattern_mismatch": "must match {pattern}",
    "too_short": "must have at least {min_length} item(s)",
    "finite_number": "must be a finite number",
}


def format_path(loc: tuple[int | str, ...]) -> str:
    """``("energy_charges", 0, "bands", 2, "price")`` -> ``energy_charges[0].bands[2].price``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _translate(exc: ValidationError, source: str) -> TariffError:
    """The first error as ``path: reason`` (plus a count of the others), ready for a person."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    # Union branches and model validators add loc parts that are type names, not fields.
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and (p[:1].isupper() or "[" in p)))
    message = str(first["msg"])
    template = _REASONS.get(first["type"])
    if first["type"] == "value_error":
        message = message.removeprefix("Value error, ")
        if message.startswith("@"):
            sub, _, message = message[1:].partition("|")
            loc = (*loc, *_split_sub(sub))
    elif template is not None:
        with suppress(KeyError):  # a template field pydantic did not provide: its own words are fine
            message = template.format(**(first.get("ctx") or {}))
    path = format_path(loc) or "(tariff)"
    more = f" (and {len(errors) - 1} more error(s))" if len(errors) > 1 else ""
    error = TariffError(f"{message}{more}", path=path)
    if source:
        error.args = (f"{source}: {error.args[0]}",)
    return error


def _split_sub(sub: str) -> tuple[int | str, ...]:
    """``"bands[2].price"`` -> ``("bands", 2, "price")``."""
    parts: list[int | str] = []
    for piece in sub.split("."):
        name, *indices = piece.replace("]", "").split("[")
        if name:
            parts.append(name)
        parts.extend(int(i) for i in indices)
    return tuple(parts)


def tariff_from_dict(data: Any, *, source: str = "") -> Tariff:
    """Validate parsed tariff data; raises :class:`TariffError` naming the field and the reason."""
    try:
        return Tariff.model_validate(data)
    except ValidationError as exc:
        raise _translate(exc, source) from None


def parse_tariff(text: str, *, fmt: str = "json", source: str = "") -> Tariff:
    """A tariff from JSON or TOML text (``fmt``: ``json`` or ``toml``)."""
    try:
        if fmt == "toml":
            data: Any = tomllib.loads(text, parse_float=Decimal)
        else:
            data = json.loads(text, parse_float=Decimal)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        where = f"{source}: " if source else ""
        raise TariffError(f"{where}not valid {fmt.upper()}: {exc}") from None
    return tariff_from_dict(data, source=source)


def load_tariff(path: Path) -> Tariff:
    """A tariff file, JSON or TOML by its suffix (``.toml``; anything else is read as JSON)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TariffError(f"cannot read tariff file {path}: {exc.strerror}") from None
    return parse_tariff(text, fmt="toml" if path.suffix.lower() == ".toml" else "json", source=str(path))


def tariff_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the tariff file format."""
    schema = Tariff.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://meterbill.invalid/schemas/tariff-1.json"
    return schema


if __name__ == "__main__":  # python -m rating.tariff_file > docs/tariff.schema.json
    print(json.dumps(tariff_json_schema(), indent=2, sort_keys=True))
