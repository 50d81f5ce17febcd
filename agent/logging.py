"""Logging on loguru: console, rotating file, a JSONL trade journal, stdlib intercepted.

Every sink renders its own text through :func:`_render`, which redacts every registered
secret (the Alpaca keys, the SMTP password, and any extra value given) from the message,
the bound fields and the traceback. Tracebacks never show local variables
(``diagnose=False``), which is where secrets usually leak.

The journal holds one JSON object per line for each decision, order, fill, exit and
adjustment: ``journal("fill", trade_id=..., price=...)``.
"""

from __future__ import annotations

import json
import logging as std_logging
import os
import sys
import traceback
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from agent.config import AgentSettings, secret_values

if TYPE_CHECKING:
    from loguru import Message, Record

__all__ = ["configure_logging", "journal", "logger", "redact"]

_SECRET_ENV_VARS = (
    "ALPACA_API_KEY",
    "ALPACA_SECRET_KEY",
    "APCA_API_KEY_ID",
    "APCA_API_SECRET_KEY",
    "OPTAGENT_ALERTS__SMTP_PASSWORD",
)
_MIN_SECRET_LEN = 4
_NOISY_LIBRARIES = ("alembic", "urllib3", "httpx", "uvicorn.access", "numba")
"""Libraries whose INFO chatter (migration plugins, connection pools) is kept out of the logs."""
_secrets: list[str] = []


def register_secrets(values: Iterable[str]) -> None:
    """Add values that must never appear in any log output."""
    for value in values:
        if value and len(value) >= _MIN_SECRET_LEN and value not in _secrets:
            _secrets.append(value)
    _secrets.sort(key=len, reverse=True)


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "********")
    return text


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return repr(value)


def _exception_text(record: Record) -> str:
    exc = record["exception"]
    if exc is None or exc.type is None:
        return ""
    return "".join(traceback.format_exception(exc.type, exc.value, exc.traceback))


def _render(record: Record) -> str:
    component = record["extra"].get("component", "")
    where = f"{record['name']}:{record['function']}:{record['line']}"
    text = (
        f"{record['time']:%Y-%m-%d %H:%M:%S.%f} | {record['level'].name:<8} | "
        f"{component + ' | ' if component else ''}{where} - {record['message']}"
    )
    exc = _exception_text(record)
    if exc:
        text += "\n" + exc.rstrip("\n")
    return redact(text)


def _render_json(record: Record) -> str:
    payload: dict[str, Any] = {
        "at": record["time"].isoformat(),
        "level": record["level"].name,
        "component": record["extra"].get("component", ""),
        "where": f"{record['name']}:{record['function']}:{record['line']}",
        "message": record["message"],
    }
    exc = _exception_text(record)
    if exc:
        payload["exception"] = exc
    return redact(json.dumps(payload, default=_json_default))


def _format_text(record: Record) -> str:
    record["extra"]["_rendered"] = _render(record)
    return "{extra[_rendered]}\n"


def _format_json(record: Record) -> str:
    record["extra"]["_rendered"] = _render_json(record)
    return "{extra[_rendered]}\n"


def _format_journal(record: Record) -> str:
    entry = {"at": record["time"].isoformat(), "kind": record["extra"]["journal"]}
    entry.update(record["extra"].get("fields", {}))
    record["extra"]["_rendered"] = redact(json.dumps(entry, default=_json_default))
    return "{extra[_rendered]}\n"


def _not_journal(record: Record) -> bool:
    return "journal" not in record["extra"]


def _is_journal(record: Record) -> bool:
    return "journal" in record["extra"]


class _InterceptHandler(std_logging.Handler):
    """Route stdlib logging (alembic, uvicorn, urllib3…) into loguru."""

    def emit(self, record: std_logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(depth=6, exception=record.exc_info).log(level, record.getMessage())


def configure_logging(
    settings: AgentSettings,
    *,
    component: str = "",
    console: bool = True,
    files: bool = True,
    extra_secrets: Iterable[str] = (),
) -> None:
    """(Re)configure every sink; call once per process (each actor calls it in ``__init__``)."""
    register_secrets(secret_values(settings))
    register_secrets(os.environ.get(name, "") for name in _SECRET_ENV_VARS)
    register_secrets(extra_secrets)
    cfg = settings.logging
    logger.remove()
    logger.configure(extra={"component": component})
    if console:
        logger.add(
            sys.stderr,
            level=cfg.level,
            format=_format_json if cfg.console_json else _format_text,
            filter=_not_journal,
            backtrace=False,
            diagnose=False,
            colorize=False,
        )
    if files:
        cfg.dir.mkdir(parents=True, exist_ok=True)
        name = f"optagent-{component}.log" if component else "optagent.log"
        logger.add(
            cfg.dir / name,
            level=cfg.level,
            format=_format_text,
            filter=_not_journal,
            rotation=cfg.rotation,
            retention=cfg.retention,
            backtrace=False,
            diagnose=False,
            enqueue=False,
            encoding="utf-8",
        )
        cfg.journal_file.parent.mkdir(parents=True, exist_ok=True)
        logger.add(
            cfg.journal_file,
            level="INFO",
            format=_format_journal,
            filter=_is_journal,
            rotation=cfg.rotation,
            backtrace=False,
            diagnose=False,
            encoding="utf-8",
        )
    std_logging.basicConfig(handlers=[_InterceptHandler()], level=std_logging.INFO, force=True)
    for noisy in _NOISY_LIBRARIES:
        std_logging.getLogger(noisy).setLevel(std_logging.WARNING)


def add_sink(sink: Any, *, json_lines: bool = False, level: str = "DEBUG") -> int:
    """Add an extra redacting sink (a callable or a file-like); returns its id."""
    return logger.add(
        sink,
        level=level,
        format=_format_json if json_lines else _format_text,
        filter=_not_journal,
        backtrace=False,
        diagnose=False,
        colorize=False,
    )


def add_journal_sink(sink: Path | Any) -> int:
    return logger.add(sink, level="INFO", format=_format_journal, filter=_is_journal)


def journal(kind: str, **fields: object) -> None:
    """Write one JSON line to the trade journal (decision, order, fill, exit, adjustment…)."""
    logger.bind(journal=kind, fields=fields).info(kind)


def message_text(message: Message) -> str:
    """The rendered text of a message received by a callable sink."""
    return str(message)
