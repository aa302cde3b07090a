"""Logging set-up: every line of a call carries its call id; JSON lines on request.

One record is one line. Values that reach the log come from callers and files (a call id, a
SIP header, a flow file's name), and a newline or a terminal escape in one of them must not
be able to write a line of its own: control characters are escaped (``\n`` is written as the
two characters backslash and n). A traceback keeps its lines, each indented under its record.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from contextvars import ContextVar

__all__ = ["FIELDS", "RateLimitedErrors", "current_call_id", "escape_control", "setup_logging"]

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators: everything a
# terminal or a log viewer may take as a line break or an escape sequence.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_control(text: str) -> str:
    """``text`` with every control character written as an escape: safe on one log line."""
    return _CONTROL.sub(_escaped, text)


def _traceback(text: str) -> str:
    """A traceback under its record: each line indented, its control characters escaped."""
    return "".join("\n    " + escape_control(line) for line in text.split("\n"))


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
        where = f" call={escape_control(str(call_id))}" if call_id else ""
        message = escape_control(record.getMessage())
        line = (
            f"{stamp} {record.levelname.lower():7} {escape_control(record.name)}{where}: {message}"
        )
        if record.exc_info:
            line += _traceback(self.formatException(record.exc_info))
        return line


# Fields a log call may pass with ``extra=`` (a flow file's problem: where and which rule; a
# call's summary line when it ends: engine/records/outcome.py). JSON lines carry them as
# fields of their own, so a log search can filter on them; the text format already has them
# in its message and is unchanged.
FIELDS = (
    *("file", "line", "col", "rule"),
    *("outcome", "flow", "duration_s", "states", "tools", "tool_failures", "transfers", "keys"),
)


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        call_id = getattr(record, "call_id", None)
        if call_id:
            entry["call_id"] = call_id
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # json escapes C0 controls itself; C1 controls and U+2028/2029 it leaves as they are.
        return _CONTROL.sub(
            lambda m: f"\\u{ord(m.group()):04x}", json.dumps(entry, ensure_ascii=False)
        )


class RateLimitedErrors(logging.Filter):
    """Lets one record of a kind through per ``every_s``; counts the rest and says how many
    were left out on the next one it lets through. Its traceback is dropped: the same
    traceback thousands of times is what filled the disk."""

    def __init__(self, needle: str, every_s: float = 60.0) -> None:
        super().__init__()
        self.needle = needle
        self.every_s = every_s
        self.suppressed = 0  # since the last record let through
        self.total_suppressed = 0
        self._next = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        if self.needle not in record.getMessage():
            return True
        now = time.monotonic()
        if now < self._next:
            self.suppressed += 1
            self.total_suppressed += 1
            return False
        self._next = now + self.every_s
        reason = record.exc_info[1] if record.exc_info else None
        message = record.getMessage() + (f": {reason}" if reason else "")
        if self.suppressed:
            message += f" ({self.suppressed} more since the last report)"
        message += f"; repeats are counted, not logged, for {self.every_s:.0f} s"
        record.msg, record.args = message, None
        record.exc_info = record.exc_text = None
        self.suppressed = 0
        return True


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
    # Out of file descriptors, asyncio logs each failed accept() with a traceback, thousands
    # a second: once a minute, with a count, is enough to see it.
    asyncio_log = logging.getLogger("asyncio")
    if not any(isinstance(f, RateLimitedErrors) for f in asyncio_log.filters):
        asyncio_log.addFilter(RateLimitedErrors("out of system resource"))
