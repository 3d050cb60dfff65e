"""What every CLI command shares: consoles, settings from the context, the configured store."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.logging import RichHandler

from meterbill.settings import Settings, load_settings
from meterbill.wiring import open_store
from store.contract import Store

__all__ = [
    "Format",
    "FormatOption",
    "JsonFormatter",
    "console",
    "err_console",
    "output_format",
    "settings_from",
    "store_from",
]

console = Console()
err_console = Console(stderr=True)

Format = Literal["table", "json"]
FormatOption = Annotated[str, typer.Option("--format", help="table or json")]


def output_format(value: str) -> Format:
    """The ``--format`` of a listing command, or a usage error naming the choices."""
    if value not in ("table", "json"):
        raise typer.BadParameter(f"--format must be table or json, not {value!r}")
    return value  # type: ignore[return-value]


def settings_from(ctx: typer.Context, **overrides: object) -> Settings:
    """Settings for this invocation (``--config`` from the root command, then MB_* variables)."""
    root = ctx.find_root()
    settings = load_settings(root.obj, **{k: v for k, v in overrides.items() if v is not None})
    handler: logging.Handler
    if settings.log_format == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    else:
        handler = RichHandler(console=err_console, show_path=False)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
    for noisy in ("amqtt", "transitions", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    return settings


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


@contextmanager
def store_from(ctx: typer.Context) -> Iterator[Store]:
    """The configured store, migrated only by `meterbill db upgrade`; closed on exit."""
    store = open_store(settings_from(ctx))
    try:
        yield store
    finally:
        store.close()
