"""Bulk provisioning: a CSV of devices checked row by row before anything is stored.

Columns: ``device_id,kind,serial`` are required; ``max_power_kw`` and ``interval_minutes`` are
optional (defaults by kind). Every bad row is reported with its line number and reason, and the
caller stores nothing unless no row is bad: a half-imported fleet is worse than none.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import timedelta

from devices.errors import RegistryError
from devices.model import DEVICE_KINDS, Device

__all__ = ["ImportPlan", "RowError", "parse_device_csv"]

REQUIRED = ("device_id", "kind", "serial")
OPTIONAL = ("max_power_kw", "interval_minutes")


@dataclass(frozen=True)
class RowError:
    line: int  # line number in the file; the header is line 1
    device_id: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line} ({self.device_id or 'no id'}): {self.reason}"


@dataclass(frozen=True)
class ImportPlan:
    devices: tuple[Device, ...]
    errors: tuple[RowError, ...]
    lines: dict[str, int]  # device id -> line, to report store-side refusals (id already taken)

    @property
    def ok(self) -> bool:
        return not self.errors


def parse_device_csv(text: str) -> ImportPlan:
    """Check every row of a devices CSV; the plan holds the devices only when no row is bad."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown column(s) {', '.join(unknown)} (allowed: {', '.join(REQUIRED + OPTIONAL)})")
        return ImportPlan((), (RowError(1, "", "; ".join(problems)),), {})

    devices: list[Device] = []
    errors: list[RowError] = []
    lines: dict[str, int] = {}
    serials: dict[tuple[str, str], int] = {}
    for row in reader:
        line = reader.line_num
        values = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        device_id = values.get("device_id", "")
        if None in row:  # more fields than header columns
            errors.append(RowError(line, device_id, f"{len(row[None])} more field(s) than the header has"))
            continue
        if device_id in lines:
            errors.append(RowError(line, device_id, f"device_id repeats line {lines[device_id]}"))
            continue
        try:
            device = _device(values)
        except (RegistryError, ValueError) as exc:
            errors.append(RowError(line, device_id, str(exc)))
            continue
        key = (device.kind, device.serial)
        if key in serials:
            errors.append(
                RowError(line, device_id, f"serial {device.serial} of a {device.kind} repeats line {serials[key]}")
            )
            continue
        lines[device_id] = line
        serials[key] = line
        devices.append(device)
    if not devices and not errors:
        errors.append(RowError(1, "", "the file has a header but no device rows"))
    return ImportPlan(tuple(devices) if not errors else (), tuple(errors), lines)


def _device(values: dict[str, str]) -> Device:
    kind = values["kind"]
    if kind not in DEVICE_KINDS:
        raise RegistryError(f"kind {kind!r} is not one of {', '.join(DEVICE_KINDS)}")
    extra: dict[str, object] = {}
    if values.get("max_power_kw"):
        extra["max_power_kw"] = _positive(values["max_power_kw"], "max_power_kw")
    if values.get("interval_minutes"):
        extra["nominal_interval"] = timedelta(minutes=_positive(values["interval_minutes"], "interval_minutes"))
    return Device.new(values["device_id"], kind, values["serial"], **extra)


def _positive(text: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{column} {text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{column} must be a positive number, got {text}")
    return value
