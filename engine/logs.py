"""Logging set-up: every line of a call carries its call id; JSON lines on request."""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar

__all__ = ["current_call_id", "setup_logging"]

# The call a piece of work belongs to. Set once where a call's work starts (the webhook's
# answer task); every task started from there inherits it, so library log lines (REST
# client, sideband, tool runner) carry the call id without passing it around.
current_call_id: ContextVar[str | None] = ContextVar("current_call_id", default=None)


class _CallIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "call_id", None) is None:
            record.call_id = current_call_id.get()
        return True


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        call_id = getattr(record, "call_id", None)
        where = f" call={call_id}" if call_id else ""
        line = f"{stamp} {record.levelname.lower():7} {record.name}{where}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        call_id = getattr(record, "call_id", None)
        if call_id:
            entry["call_id"] = call_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(fmt: str = "text", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _TextFormatter())
    handler.addFilter(_CallIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Request lines from httpx and websockets repeat what our own log lines say.
    for noisy in ("httpx", "httpcore", "websockets", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
