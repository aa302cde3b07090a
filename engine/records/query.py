"""Which calls to list: the filters `engine calls` and `GET /calls` share, read from words
people type (`--since 2h`, `?outcome=abandoned`) with a clear error for anything else."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from .record import CallOutcome

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "CallQuery",
    "Cursor",
    "QueryError",
    "parse_day",
    "parse_time",
]

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
OUTCOMES = tuple(o.value for o in CallOutcome)
_AGO = re.compile(r"(\d{1,6})\s*(s|m|h|d|w)")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class QueryError(ValueError):
    """A filter that cannot be read; the message says what was expected."""


def parse_time(text: str, name: str, now: datetime) -> datetime:
    """``2026-11-24``, ``2026-11-24T15:00``, ``…+01:00`` (no zone: UTC), or a time ago:
    ``30m``, ``2h``, ``7d``, ``1w``."""
    text = text.strip()
    ago = _AGO.fullmatch(text)
    if ago:
        return now - timedelta(**{_UNITS[ago[2]]: int(ago[1])})
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise QueryError(
            f"{name} {text!r} is not a time: give a date and time such as 2026-11-24T15:00 "
            "(UTC unless a zone is written, e.g. +01:00) or a time ago such as 30m, 2h, 7d"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_day(text: str, name: str = "day") -> tuple[datetime, datetime]:
    """``2026-11-24``: that UTC day, as its first moment and the next day's."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise QueryError(f"{name} {text!r} is not a day: give it as 2026-11-24 (UTC)") from None
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


@dataclass(frozen=True)
class Cursor:
    """Where a page ended: the next page starts after this call (newest first)."""

    received_at: datetime
    call_id: str

    def encode(self) -> str:
        raw = f"{self.received_at.isoformat()}|{self.call_id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            at, call_id = raw.split("|", 1)
            when = datetime.fromisoformat(at)
            if when.tzinfo is None or not call_id:
                raise ValueError
        except ValueError:
            raise QueryError(
                "before must be the `next` value of an earlier page, as it was given"
            ) from None
        return cls(when.astimezone(UTC), call_id)


@dataclass(frozen=True)
class CallQuery:
    flow: str | None = None  # a flow's name, its file's name, or its path
    number: str | None = None  # the dialled number or the caller's
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = DEFAULT_LIMIT
    before: Cursor | None = None

    @classmethod
    def parse(cls, values: Mapping[str, str | None], now: datetime | None = None) -> CallQuery:
        """From words (CLI options or query parameters); ``QueryError`` names what is wrong.
        ``day`` (``2026-11-24``, a UTC day) narrows ``since``/``until`` to that day."""
        now = now or datetime.now(UTC)

        def text(name: str) -> str | None:
            value = values.get(name)
            if value is None or not value.strip():
                return None
            if len(value) > 256 or not value.isprintable():
                raise QueryError(f"{name} must be at most 256 printable characters")
            return value.strip()

        outcome = text("outcome")
        if outcome is not None and outcome not in OUTCOMES:
            raise QueryError(f"outcome {outcome!r} is not one of: {', '.join(OUTCOMES)}")
        since, until, day = text("since"), text("until"), text("day")
        start = parse_time(since, "since", now) if since else None
        end = parse_time(until, "until", now) if until else None
        if day is not None:  # a UTC day: within since/until when those are given too
            first, after = parse_day(day)
            start = max(start, first) if start else first
            end = min(end, after) if end else after
        if start and end and start >= end:
            raise QueryError(
                "since must be earlier than until"
                if day is None
                else f"day {day} is outside since/until"
            )
        limit_text = text("limit")
        limit = DEFAULT_LIMIT
        if limit_text is not None:
            if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
                raise QueryError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
            limit = int(limit_text)
        before = text("before")
        return cls(
            flow=text("flow"),
            number=text("number"),
            outcome=outcome,
            since=start,
            until=end,
            limit=limit,
            before=Cursor.decode(before) if before else None,
        )
