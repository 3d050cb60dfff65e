"""CLI for what ingestion left behind: ``meterbill deadletters|conflicts|reviews|readings ...``.

Everything a device sent is untrusted: topics, details and payloads are printed with control
characters escaped and never interpreted as rich markup. Data meant for programs (``--format
json``, ``readings export``) goes to stdout as plain text; notes go to stderr.
"""

from __future__ import annotations

import base64
import csv
import json
import math
import os
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer
from rich.table import Table
from rich.text import Text

from meterbill.cli_common import FormatOption, console, err_console, output_format, settings_from, store_from
from store.contract import Conflict, DeadLetter, Store

if TYPE_CHECKING:
    from devices.model import Device
    from devices.readings import Reading, ReadingReview
    from gateway.pipeline import Accept, Reject

__all__ = ["conflicts_app", "deadletters_app", "readings_app", "reviews_app"]

deadletters_app = typer.Typer(no_args_is_help=True, help="Messages the gateway refused: list, show, replay.")
conflicts_app = typer.Typer(no_args_is_help=True, help="Readings offered again with another value (first one kept).")
reviews_app = typer.Typer(no_args_is_help=True, help="Stored readings flagged for a person's review.")
readings_app = typer.Typer(no_args_is_help=True, help="Stored readings.")

LimitOption = Annotated[int, typer.Option("--limit", min=1, help="at most this many, newest first")]

_DETAIL_WIDTH = 60  # characters of a dead letter's detail shown in a table
_HEX_DUMP_BYTES = 256  # bytes of a binary payload shown by `deadletters show`
_REPLAY_CHUNK = 200  # dead letters committed per store transaction during a replay
_LOOK_AHEAD = (timedelta(days=1), timedelta(days=31), None)  # searching the index that closes the last interval


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).isoformat(timespec="seconds")


def _safe(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with control and other non-printable characters escaped (``\\x1b``, ``\\u200b``)."""
    kept = "\n\t" if keep_newlines else ""
    return "".join(c if c.isprintable() or c in kept else repr(c)[1:-1] for c in text)


def _cell(text: str, width: int | None = None) -> Text:
    """A table cell that rich shows as is (device-sent text is never markup)."""
    shown = _safe(text)
    if width is not None and len(shown) > width:
        shown = shown[: width - 1] + "…"
    return Text(shown)


def _payload_text(payload: bytes) -> str | None:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _hex_dump(data: bytes) -> list[str]:
    """``xxd``-like lines: offset, 16 bytes in hex, the printable ASCII of them."""
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        ascii_ = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{offset:08x}  {hexes:<47}  {ascii_}")
    return lines


# -- dead letters -------------------------------------------------------------------------
def _letter_public(letter: DeadLetter) -> dict[str, object]:
    return {
        "id": letter.id,
        "received_at": _iso(letter.received_at),
        "last_received_at": _iso(letter.last_received_at or letter.received_at),
        "occurrences": letter.occurrences,
        "topic": letter.topic,
        "device_id": letter.device_id,
        "reason": letter.reason,
        "detail": letter.detail,
        "replayed": letter.replayed_at is not None,
        "replayed_at": _iso(letter.replayed_at),
        "payload_bytes": len(letter.payload),
        "payload_base64": base64.b64encode(letter.payload).decode("ascii"),
        "payload_text": _payload_text(letter.payload),  # null when the payload is not UTF-8
    }


@deadletters_app.command("list")
def deadletters_list(
    ctx: typer.Context,
    device: Annotated[str | None, typer.Option("--device", help="only this device's")] = None,
    pending: Annotated[bool, typer.Option("--pending", help="only those not replayed successfully")] = False,
    limit: LimitOption = 100,
    fmt: FormatOption = "table",
) -> None:
    """Dead letters, most recently received first (JSON: payload as base64, and as text when UTF-8)."""
    output = output_format(fmt)
    with store_from(ctx) as store:
        letters = store.dead_letters(limit=limit, device_id=device, pending_only=pending)
    if output == "json":
        print(json.dumps([_letter_public(x) for x in letters], indent=1, ensure_ascii=False))
        return
    if not letters:
        console.print("no dead letters" + (" pending" if pending else ""))
        return
    table = Table("id", "first received", "last received", "n", "topic", "device", "reason", "detail", "replayed")
    for x in letters:
        table.add_row(
            str(x.id),
            _when(x.received_at),
            _when(x.last_received_at or x.received_at),
            str(x.occurrences),
            _cell(x.topic),
            _cell(x.device_id or ""),
            _cell(x.reason),
            _cell(x.detail, _DETAIL_WIDTH),
            _when(x.replayed_at) if x.replayed_at else "no",
        )
    console.print(table)


@deadletters_app.command("show")
def deadletters_show(
    ctx: typer.Context,
    letter_id: Annotated[int, typer.Argument(metavar="ID", help="the dead letter's id (see `deadletters list`)")],
    fmt: FormatOption = "table",
) -> None:
    """Everything about one dead letter; the payload as text when it is UTF-8, else a hex dump of its start."""
    output = output_format(fmt)
    with store_from(ctx) as store:
        letter = store.dead_letter(letter_id)
    if letter is None:
        raise typer.BadParameter(f"there is no dead letter {letter_id} (see `meterbill deadletters list`)")
    if output == "json":
        print(json.dumps(_letter_public(letter), indent=1, ensure_ascii=False))
        return
    fields = [
        ("id", str(letter.id)),
        ("topic", letter.topic),
        ("device", letter.device_id or "(none)"),
        ("reason", letter.reason),
        ("detail", letter.detail),
        ("first received", _when(letter.received_at)),
        ("last received", _when(letter.last_received_at or letter.received_at)),
        ("occurrences", str(letter.occurrences)),
        ("replayed", _when(letter.replayed_at) if letter.replayed_at else "no (pending)"),
    ]
    for name, value in fields:
        typer.echo(f"{name + ':':<16}{_safe(value)}")
    text = _payload_text(letter.payload)
    if text is not None:
        typer.echo(f"{'payload:':<16}{len(letter.payload)} bytes, UTF-8 text")
        typer.echo(_safe(text, keep_newlines=True))
        return
    shown = letter.payload[:_HEX_DUMP_BYTES]
    more = f", first {len(shown)} shown" if len(shown) < len(letter.payload) else ""
    typer.echo(f"{'payload:':<16}{len(letter.payload)} bytes, not UTF-8 (hex dump{more})")
    for line in _hex_dump(shown):
        typer.echo(line)


@dataclass
class _ReplayTally:
    replayed: list[int] = field(default_factory=list)
    rejected: list[tuple[DeadLetter, str, str]] = field(default_factory=list)  # letter, reason, detail
    readings: Counter[str] = field(default_factory=Counter)  # inserted, duplicates, conflicts, reviews


@deadletters_app.command("replay")
def deadletters_replay(
    ctx: typer.Context,
    letter_ids: Annotated[list[int] | None, typer.Argument(metavar="[ID]...", help="dead letter ids")] = None,
    device: Annotated[str | None, typer.Option("--device", help="every pending dead letter of this device")] = None,
    all_pending: Annotated[bool, typer.Option("--all-pending", help="every pending dead letter")] = False,
) -> None:
    """Run stored messages through the gateway's pipeline again, with the registry as it is now.

    For a device provisioned or fixed after its messages were refused. Messages go oldest first,
    checked against the current time and the gateway's MB_GATEWAY_* limits; what is accepted is
    committed as the gateway commits it (readings stamped as received now) and the dead letter is
    marked replayed. A message refused again stays pending, reported with its current reason.
    Exit status 0 when everything selected was replayed, 1 otherwise.
    """
    from gateway.pipeline import Message, process
    from gateway.service import RegistryCache
    from meterbill.cli_gateway import gateway_options

    if not letter_ids and device is None and not all_pending:
        raise typer.BadParameter("name dead letter ids, --device ID or --all-pending")
    policy = gateway_options(settings_from(ctx)).config.policy
    with store_from(ctx) as store:
        selected, already = _select_letters(store, letter_ids or [], device, all_pending)
        for letter in already:
            console.print(f"#{letter.id} was already replayed at {_when(letter.replayed_at)}: left as it is")
        if not selected:
            console.print("nothing to replay")
            return
        now = datetime.now(UTC)
        cache = RegistryCache(store, ttl_s=3600.0)
        tally = _ReplayTally()
        for start in range(0, len(selected), _REPLAY_CHUNK):
            chunk = selected[start : start + _REPLAY_CHUNK]
            decisions = [(x, process(Message(0, x.topic, x.payload, now), now, cache.lookup, policy)) for x in chunk]
            _commit_replay(store, decisions, now, tally)
    _report_replay(tally)
    if tally.rejected:
        raise typer.Exit(1)


def _select_letters(
    store: Store, letter_ids: Sequence[int], device: str | None, all_pending: bool
) -> tuple[list[DeadLetter], list[DeadLetter]]:
    """(pending letters to replay, oldest first; letters named by id that were already replayed)."""
    chosen: dict[int, DeadLetter] = {}
    for letter_id in letter_ids:
        letter = store.dead_letter(letter_id)
        if letter is None:
            raise typer.BadParameter(f"there is no dead letter {letter_id} (see `meterbill deadletters list`)")
        chosen[letter.id] = letter
    if device is not None or all_pending:
        # The store lists with a limit only; pending letters are few and capped in size.
        for letter in store.dead_letters(limit=2**31 - 1, device_id=None if all_pending else device, pending_only=True):
            chosen[letter.id] = letter
    letters = sorted(chosen.values(), key=lambda x: (x.received_at, x.id))
    return [x for x in letters if x.replayed_at is None], [x for x in letters if x.replayed_at is not None]


def _commit_replay(
    store: Store, decisions: list[tuple[DeadLetter, Accept | Reject]], now: datetime, tally: _ReplayTally
) -> None:
    """Commit the accepted messages like the gateway does, then mark their dead letters replayed.

    If the store refuses the chunk (not merely unavailable), each message is committed alone and one
    it refuses alone stays pending with reason ``store_refused``. Commit and marking are two steps: a
    crash between them leaves the letter pending, and replaying it again is harmless (idempotent store).
    """
    from gateway.pipeline import Accept
    from gateway.service import batch_of  # one batch builder for the gateway and replays
    from store.errors import StoreError, StoreUnavailable

    accepted: list[tuple[DeadLetter, Accept]] = []
    for letter, decision in decisions:
        if isinstance(decision, Accept):
            accepted.append((letter, decision))
        else:
            tally.rejected.append((letter, decision.reason, decision.detail))
    if not accepted:
        return
    try:
        groups = [accepted]
        results = [store.commit_batch(batch_of([d for _, d in accepted]))]
    except StoreUnavailable:
        raise
    except StoreError:
        groups, results = [], []
        for letter, decision in accepted:
            try:
                results.append(store.commit_batch(batch_of([decision])))
                groups.append([(letter, decision)])
            except StoreUnavailable:
                raise
            except StoreError as exc:
                tally.rejected.append((letter, "store_refused", str(exc)[:1000]))
    for result in results:
        tally.readings.update(
            inserted=result.readings.inserted,
            duplicates=result.readings.duplicates,
            conflicts=result.readings.conflicts,
            reviews=result.reviews_inserted,
        )
    ids = [letter.id for group in groups for letter, _ in group]
    store.mark_replayed(ids, at=now)
    tally.replayed.extend(ids)


def _report_replay(tally: _ReplayTally) -> None:
    r = tally.readings
    console.print(
        f"replayed {len(tally.replayed)}: {r['inserted']} readings stored, {r['duplicates']} already stored,"
        f" {r['conflicts']} conflicts, {r['reviews']} flagged for review",
        markup=False,
    )
    if not tally.rejected:
        return
    by_reason = Counter(reason for _, reason, _ in tally.rejected)
    summary = ", ".join(f"{reason} {n}" for reason, n in sorted(by_reason.items()))
    console.print(f"still rejected {len(tally.rejected)} ({summary}); they stay pending:", markup=False)
    for letter, reason, detail in sorted(tally.rejected, key=lambda t: t[0].id):
        console.print(f"  #{letter.id} {_safe(letter.topic)}: {reason}: {_safe(detail)}", markup=False, soft_wrap=True)


# -- conflicts and reviews ----------------------------------------------------------------
def _conflict_public(c: Conflict) -> dict[str, object]:
    return {
        "device_id": c.device_id,
        "register": c.register,
        "ts": _iso(c.ts),
        "stored_value": c.stored_value,
        "offered_value": c.offered_value,
        "unit": c.unit,
        "offered_quality": c.offered_quality,
        "received_at": _iso(c.received_at),
    }


@conflicts_app.command("list")
def conflicts_list(ctx: typer.Context, limit: LimitOption = 100, fmt: FormatOption = "table") -> None:
    """Readings whose key was already stored with another value: the stored one is kept and billed."""
    output = output_format(fmt)
    with store_from(ctx) as store:
        conflicts = store.conflicts(limit=limit)
    if output == "json":
        print(json.dumps([_conflict_public(c) for c in conflicts], indent=1))
        return
    if not conflicts:
        console.print("no conflicts")
        return
    table = Table("device", "register", "ts", "stored", "offered", "unit", "offered quality", "received")
    for c in conflicts:
        table.add_row(
            _cell(c.device_id),
            _cell(c.register),
            _when(c.ts),
            repr(c.stored_value),
            repr(c.offered_value),
            c.unit,
            c.offered_quality,
            _when(c.received_at),
        )
    console.print(table)


def _stored_value(store: Store, review: ReadingReview) -> Reading | None:
    found = store.readings(device_ids=[review.device_id], start=review.ts, end=review.ts + timedelta(microseconds=1))
    return next((r for r in found if r.register == review.register), None)


@reviews_app.command("list")
def reviews_list(ctx: typer.Context, limit: LimitOption = 100, fmt: FormatOption = "table") -> None:
    """Unresolved readings flagged for review (stored and billed as sent), newest first, with their value."""
    output = output_format(fmt)
    with store_from(ctx) as store:
        reviews = store.reviews(limit=limit)
        values = [_stored_value(store, r) for r in reviews]
    if output == "json":
        rows = [
            {
                "device_id": r.device_id,
                "register": r.register,
                "ts": _iso(r.ts),
                "reason": r.reason,
                "detail": r.detail,
                "value": None if v is None else v.value,
                "unit": None if v is None else v.unit,
            }
            for r, v in zip(reviews, values, strict=True)
        ]
        print(json.dumps(rows, indent=1, ensure_ascii=False))
        return
    if not reviews:
        console.print("no readings to review")
        return
    table = Table("device", "register", "ts", "value", "unit", "reason", "detail")
    for r, v in zip(reviews, values, strict=True):
        table.add_row(
            _cell(r.device_id),
            _cell(r.register),
            _when(r.ts),
            "" if v is None else repr(v.value),
            "" if v is None else v.unit,
            _cell(r.reason),
            _cell(r.detail),
        )
    console.print(table)


# -- readings export ----------------------------------------------------------------------
def _instant(text: str | None, option: str) -> datetime | None:
    """ISO 8601 with an offset (or Z), or epoch seconds, as aware UTC; a naive time is refused."""
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise typer.BadParameter(f"{option} {text!r} is not a time", param_hint=option)
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise typer.BadParameter(f"{option} {text!r}: epoch seconds out of range", param_hint=option) from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{option} {text!r} is neither ISO 8601 (e.g. 2026-01-01T00:00:00+01:00) nor epoch seconds",
            param_hint=option,
        ) from None
    if moment.utcoffset() is None:
        raise typer.BadParameter(
            f"{option} {text!r} has no UTC offset; a naive time is ambiguous, write e.g. {text}+00:00 or"
            f" {text}Z, or epoch seconds",
            param_hint=option,
        )
    return moment.astimezone(UTC)


class _Sink:
    """Rows written as they come: CSV with a header, or a JSON array of objects."""

    def __init__(self, out: TextIO, fmt: str) -> None:
        self._out = out
        self._json = fmt == "json"
        self.rows = 0
        if self._json:
            out.write("[")
        else:
            self._csv = csv.writer(out, lineterminator="\n")
            self._csv.writerow(("device_id", "ts", "value", "unit"))

    def write(self, device_id: str, ts: datetime, value: float, unit: str) -> None:
        stamp = ts.astimezone(UTC).isoformat()
        if self._json:
            row = {"device_id": device_id, "ts": stamp, "value": float(value), "unit": unit}
            self._out.write(("\n " if self.rows == 0 else ",\n ") + json.dumps(row, ensure_ascii=False))
        else:
            self._csv.writerow((device_id, stamp, repr(float(value)), unit))  # repr: the float exactly
        self.rows += 1

    def close(self) -> None:
        if self._json:
            self._out.write("\n]\n" if self.rows else "]\n")
        self._out.flush()


@dataclass
class _ExportTally:
    derived: int = 0
    several_registers: dict[str, list[str]] = field(default_factory=dict)


def _device_rows(
    store: Store,
    device: Device,
    registers: frozenset[str] | None,
    start: datetime | None,
    end: datetime | None,
    tally: _ExportTally,
) -> Iterator[tuple[str, datetime, float, str]]:
    """One device's interval consumption per register, in (register, ts) order.

    A register with interval readings in [start, end) exports them; one with only cumulative
    indexes exports the intervals between consecutive indexes, each stamped at its start, the
    last one closed by the first index at or after ``end`` when there is one.
    """
    from devices.intervals import to_intervals

    series: dict[str, list[Reading]] = {}
    for r in store.readings(device_ids=[device.id], start=start, end=end):
        if registers is None or r.register in registers:
            series.setdefault(r.register, []).append(r)
    cumulative_only = {code for code, rows in series.items() if all(r.kind == "cumulative" for r in rows)}
    closing = _closing_indexes(store, device.id, cumulative_only, end) if end is not None else {}
    exported: list[str] = []
    for code in sorted(series):
        rows = series[code]
        if code not in cumulative_only:
            intervals = [r for r in rows if r.kind == "interval"]
            for r in intervals:
                yield r.device_id, r.ts, r.value, r.unit
            if intervals:
                exported.append(code)
            continue
        register = device.register(code)
        nominal = device.nominal_interval if device.nominal_interval > timedelta(0) else None
        closed = rows + ([closing[code]] if code in closing else [])
        derived = to_intervals(closed, register_max=register.maximum if register else None, nominal_interval=nominal)
        for i in derived:
            yield i.device_id, i.start, i.consumption, i.unit
        tally.derived += len(derived)
        if derived:
            exported.append(code)
    if len(exported) > 1:
        tally.several_registers[device.id] = exported


def _closing_indexes(store: Store, device_id: str, codes: set[str], end: datetime) -> dict[str, Reading]:
    """The first cumulative reading at or after ``end`` of each register in ``codes``, where one exists."""
    found: dict[str, Reading] = {}
    for window in _LOOK_AHEAD:
        if len(found) == len(codes):
            break
        for r in store.readings(device_ids=[device_id], start=end, end=None if window is None else end + window):
            if r.register in codes and r.kind == "cumulative" and r.register not in found:
                found[r.register] = r  # readings come ordered by register, ts: the first is the earliest
    return found


def _devices_to_export(store: Store, device_ids: Sequence[str]) -> list[Device]:
    if not device_ids:
        return sorted(store.devices(), key=lambda d: d.id)
    devices = []
    for device_id in dict.fromkeys(device_ids):
        device = store.device(device_id)
        if device is None:
            raise typer.BadParameter(f"device {device_id} is not registered", param_hint="--device")
        devices.append(device)
    return devices


@readings_app.command("export")
def readings_export(
    ctx: typer.Context,
    device: Annotated[
        list[str] | None, typer.Option("--device", metavar="ID", help="only this device; repeat for several")
    ] = None,
    register: Annotated[
        list[str] | None,
        typer.Option("--register", metavar="CODE", help="only this register, e.g. 1-0:1.8.0; repeat for several"),
    ] = None,
    from_: Annotated[
        str | None,
        typer.Option(
            "--from", metavar="TS", help="intervals starting at or after TS: ISO 8601 with offset, or epoch seconds"
        ),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", metavar="TS", help="intervals starting before TS: ISO 8601 with offset, or epoch seconds"),
    ] = None,
    all_registers: Annotated[
        bool, typer.Option("--all-registers", help="every register, not only each device's billing register")
    ] = False,
    fmt: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", dir_okay=False, help="write here (default: stdout)")
    ] = None,
) -> None:
    """Interval consumption as `meterbill rate` reads it: device_id,ts,value,unit.

    ts is the interval start in UTC with its offset, value the consumption in the canonical unit
    (kWh, m^3, km), printed exactly (Python repr) so re-rating gives the same figures. Rows come
    per device, register and time. A register with stored interval readings exports them; a
    register with only cumulative indexes (in the time range) exports the consumption between
    consecutive indexes, computed like billing does (rollover at the register's maximum from the
    registry; an unexplained drop counts 0); the interval that starts before --to is closed by the
    first index after it, and one not closed yet is left out. By default each device exports its
    billing register only (its first: 1-0:1.8.0 import energy, the gas or water volume, the
    odometer), because `meterbill rate` takes one register's consumption per device and the
    tariff registers 1-0:1.8.1/1.8.2 would count the same energy twice; --register chooses others,
    --all-registers exports every one. --format json writes a list of objects with the same fields.
    """
    from devices.intervals import IndexSeriesError

    if fmt not in ("csv", "json"):
        raise typer.BadParameter(f"--format must be csv or json, not {fmt!r}", param_hint="--format")
    start, end = _instant(from_, "--from"), _instant(to, "--to")
    if start is not None and end is not None and not start < end:
        raise typer.BadParameter(f"--from {from_} must be before --to {to}", param_hint="--from")
    registers = frozenset(register) if register else None
    tally = _ExportTally()
    with store_from(ctx) as store:
        devices = _devices_to_export(store, device or [])
        with _opened(output) as out:
            sink = _Sink(out, fmt)
            try:
                for d in devices:
                    chosen = registers
                    if chosen is None and not all_registers and d.registers:
                        chosen = frozenset({d.registers[0].code})  # the billing register
                    for row in _device_rows(store, d, chosen, start, end, tally):
                        sink.write(*row)
            except IndexSeriesError as exc:
                err_console.print(f"[red]error:[/] {_safe(str(exc))}", highlight=False)
                raise typer.Exit(1) from None
            sink.close()
    where = f" to {output}" if output is not None else ""
    err_console.print(
        f"exported {sink.rows} intervals{where} ({tally.derived} derived from cumulative indexes)",
        markup=False,
        highlight=False,
    )
    if tally.several_registers:
        first, codes = next(iter(tally.several_registers.items()))
        err_console.print(
            f"note: {len(tally.several_registers)} device(s) have several registers in this export"
            f" (e.g. {first}: {', '.join(codes)}); `meterbill rate` expects one register per device:"
            " choose one with --register",
            markup=False,
            highlight=False,
        )


@contextmanager
def _opened(path: Path | None) -> Iterator[TextIO]:
    """stdout, or ``path`` written to a hidden temporary file and renamed into place when complete."""
    if path is None:
        yield sys.stdout
        return
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            yield out
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
