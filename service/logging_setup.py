"""Log lines for operators: readable text, or one JSON object per line (``LOG_FORMAT=json``).

Every line carries what ``domain.log_context`` holds when it is logged: the request id,
the caller's key name, the run or payout id. uvicorn's own loggers write through the
same handler (``serve`` passes uvicorn no logging config of its own).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from domain import log_context

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "context"}


class ContextFilter(logging.Filter):
    """Stamps each record with the log context of the task that logs it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.context = log_context.current().fields()
        return True


def _context(record: logging.LogRecord) -> dict[str, Any]:
    found: dict[str, Any] = getattr(record, "context", None) or log_context.current().fields()
    return found


def _extra(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_context(record),
            **_extra(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = {**_context(record), **_extra(record)}
        if not fields:
            return text
        return text + " " + " ".join(f"{k}={v}" for k, v in fields.items())


def handler(log_format: str) -> logging.Handler:
    out = logging.StreamHandler(sys.stderr)
    out.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    out.addFilter(ContextFilter())
    return out


def configure(log_format: str, level: int = logging.INFO) -> None:
    """The root logger writes through one handler in ``log_format``; uvicorn's loggers
    hand their lines to it."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler(log_format))
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_log = logging.getLogger(name)
        uvicorn_log.handlers.clear()
        uvicorn_log.propagate = True
    # APScheduler tells every start and end of every job at INFO; job_runs records them.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
