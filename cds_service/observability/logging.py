"""Logging set-up: one stderr handler, JSON lines (or readable text), redaction on every record.

``configure_logging(level, json)`` is called once at start-up by ``cds-service serve``; the same
``logging_config(level, json)`` dict is handed to uvicorn so every worker process logs alike.
The code logs with the standard library, ``log.info("msg", extra={...})``; the formatters emit
those extra fields as JSON keys (or ``key=value`` in text mode). ``httpx``/``httpcore`` are held
at WARNING (at INFO httpx logs each request's full URL, with ``?patient=<id>``), and uvicorn's
access log is off: ``RequestObserver`` writes one line per request instead.
"""

from __future__ import annotations

import logging
import logging.config
from datetime import datetime, timezone
from typing import Any

import orjson

from cds_service.observability.redact import _STANDARD, RedactionFilter

QUIET_LOGGERS = ("httpx", "httpcore", "hpack", "multipart", "python_multipart")
NOT_EMITTED = frozenset({"color_message"})  # uvicorn's ANSI-coloured copy of the message


_NOT_EXTRA = _STANDARD | NOT_EMITTED


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``level``, ``logger``, ``message``, the extras, ``exc_info`` and
    ``stack_info`` when there are any, and ``time`` (ISO 8601, UTC). Built as one dict and written
    by orjson: every hook call logs a line, so the formatter is on the request path."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"level": record.levelname, "logger": record.name, "message": record.getMessage()}
        for key, value in record.__dict__.items():
            if key not in _NOT_EXTRA:
                line[key] = value
        if record.exc_info:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        line["time"] = datetime.fromtimestamp(record.created, timezone.utc).isoformat()
        return orjson.dumps(line, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value …`` for reading logs in a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = " ".join(f"{k}={v}" for k, v in record.__dict__.items() if k not in _STANDARD and k not in NOT_EMITTED)
        return f"{line} {extras}" if extras else line


def logging_config(level: str = "INFO", json: bool = True) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` dictionary for ``level`` and output format."""
    level = level.upper()
    if not isinstance(logging.getLevelName(level), int):
        raise ValueError(f"unknown log level {level!r}")
    quiet = {name: {"level": "WARNING"} for name in QUIET_LOGGERS}
    # uvicorn's loggers lose their own handlers and propagate to ours.
    uvicorn = {name: {"level": level, "handlers": [], "propagate": True} for name in ("uvicorn", "uvicorn.error")}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactionFilter}},
        "formatters": {"json": {"()": JsonFormatter}, "text": {"()": TextFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "json" if json else "text",
                "filters": ["redact"],
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {**quiet, **uvicorn, "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": True}},
    }


def configure_logging(level: str = "INFO", json: bool = True) -> None:
    """Install the handler, formatter and redaction filter for this process, and spare every
    record what neither formatter prints: the caller's file and line, thread and process
    (the standard library's documented switches; a few µs on each request's access line)."""
    logging.config.dictConfig(logging_config(level, json))
    logging._srcfile = None  # no stack walk to find the caller
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
