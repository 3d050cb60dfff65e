"""Invoices as plain data: the exact, reversible JSON form the store keeps and the ledger hashes.

``to_data`` turns a frozen dataclass tree (an :class:`billing.invoice.Invoice`) into dicts, lists,
strings and ints: Decimals and dates become strings, so nothing is ever a float. ``from_data``
rebuilds the tree from the dataclasses' own type hints, running their validation again, so a
document read back is the same value as the one written (``from_data(type(x), to_data(x)) == x``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, TypeVar

__all__ = ["from_data", "to_data"]

T = TypeVar("T")


def to_data(value: Any) -> Any:
    """The JSON-ready form of ``value`` (a dataclass tree of str, int, bool, Decimal, dates, tuples)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [to_data(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_data(v) for k, v in value.items()}
    if isinstance(value, float):
        raise TypeError(f"float {value!r} in a document: amounts and quantities are Decimal")
    return value


def from_data(cls: type[T], data: Any) -> T:
    """Rebuild a ``cls`` from :func:`to_data` output."""
    return typing.cast(T, _build(cls, data, cls.__name__))


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(tp: Any, data: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if data is None:
            return None
        return _build(options[0], data, path) if len(options) == 1 else data
    if origin is typing.Literal:
        return data
    if dataclasses.is_dataclass(tp):
        hints = _hints(tp)  # type: ignore[arg-type]
        kwargs = {
            f.name: _build(hints[f.name], data[f.name], f"{path}.{f.name}")
            for f in dataclasses.fields(tp)
            if f.init and f.name in data
        }
        return tp(**kwargs)  # type: ignore[operator]
    if origin is tuple:
        args = typing.get_args(tp)
        item = args[0] if len(args) == 2 and args[1] is Ellipsis else None
        if item is not None:
            return tuple(_build(item, v, f"{path}[{i}]") for i, v in enumerate(data))
        return tuple(_build(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, data, strict=True)))
    if origin in (Mapping, dict) or tp in (dict, Mapping):
        return dict(data)
    if tp is Decimal:
        return Decimal(data)
    if tp is datetime:
        return datetime.fromisoformat(data)
    if tp is date:
        return date.fromisoformat(data)
    if isinstance(tp, type) and issubclass(tp, Enum):
        return tp(data)
    return data
