"""Opening hours: is the line open at a given moment, by a flow's `hours` and `timezone`.

Pure, and the one reading of the formats, so the runtime and the linter agree:

- a day key is ``mon`` … ``sun`` or a range ``mon-fri`` (a range may wrap: ``fri-mon`` is
  Friday, Saturday, Sunday and Monday); days not listed are closed;
- a value is ``"HH:MM-HH:MM"`` or a list of them: start inclusive, end exclusive, ``24:00``
  allowed as an end; a range that runs past midnight must be split in two
  (``"22:00-24:00"`` on one day, ``"00:00-02:00"`` on the next);
- a closed date is ``"YYYY-MM-DD"`` (that day once) or ``"MM-DD"`` (that day every year).

Everything is read in the flow's time zone: a call at 08:30 UTC is at 09:30 in London in
summer, so the line that opens at 09:00 there is open. On the day the clocks change the
wall-clock time is what counts (an hour that does not exist is never reached; one that
happens twice is open or closed both times).

The ``parse_*`` functions raise ``ValueError`` with a message a flow author can act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from .model import Hours

__all__ = [
    "DAYS",
    "MINUTES_PER_DAY",
    "ClosedDate",
    "Schedule",
    "compile_hours",
    "is_open",
    "parse_closed_date",
    "parse_day_key",
    "parse_range",
    "parse_ranges",
]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()
MINUTES_PER_DAY = 24 * 60

_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
_FULL_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_YEARLY_DATE = re.compile(r"^(\d{2})-(\d{2})$")
_A_LEAP_YEAR = 2000


def _day(name: str, key: str) -> int:
    day = name.strip().lower()
    if day not in DAYS:
        raise ValueError(
            f'"{name.strip()}" in "{key}" is not a day: use mon, tue, wed, thu, fri, sat or sun, '
            "or a range such as mon-fri"
        )
    return DAYS.index(day)


def parse_day_key(key: str) -> tuple[int, ...]:
    """The weekdays (0 = Monday) an `hours.open` key stands for, in order.

    ``"sat"`` → ``(5,)``; ``"mon-fri"`` → ``(0, 1, 2, 3, 4)``; ``"fri-mon"`` wraps →
    ``(4, 5, 6, 0)``. Case and spaces around the ``-`` do not matter. A range from a day to
    itself (``"mon-mon"``) is that one day.
    """
    parts = key.split("-")
    if len(parts) == 1:
        return (_day(parts[0], key),)
    if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
        raise ValueError(
            f'"{key}" is not a day or a range of days: write e.g. "mon", "mon-fri" or "fri-mon"'
        )
    first, last = _day(parts[0], key), _day(parts[1], key)
    count = (last - first) % 7 + 1
    return tuple((first + i) % 7 for i in range(count))


def _minutes(text: str, value: str, *, end: bool) -> int:
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f'"{text.strip()}" in "{value}" is not a time: write HH:MM, e.g. 09:00')
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes != 0):
        raise ValueError(f'"{text.strip()}" in "{value}" is not a time of day (00:00 to 24:00)')
    if hours == 24 and not end:
        raise ValueError(f'"{value}" starts at 24:00: a range may end at 24:00, not start there')
    return hours * 60 + minutes


def parse_range(value: str) -> tuple[int, int]:
    """``"HH:MM-HH:MM"`` as minutes after midnight: ``(start, end)``, start inclusive, end
    exclusive. ``"09:00-17:30"`` → ``(540, 1050)``; ``"22:00-24:00"`` → ``(1320, 1440)``.

    Raises ValueError for a malformed time, an empty range (``"09:00-09:00"``) and a range
    that ends before it starts (``"22:00-02:00"``: split it at midnight).
    """
    if not isinstance(value, str):
        raise ValueError(f'{value!r} is not a time range: write it as text, e.g. "09:00-17:30"')
    parts = value.split("-")
    if len(parts) != 2:
        raise ValueError(f'"{value}" is not a time range: write "HH:MM-HH:MM", e.g. "09:00-17:30"')
    start = _minutes(parts[0], value, end=False)
    end = _minutes(parts[1], value, end=True)
    if end == start:
        raise ValueError(f'"{value}" is empty: it ends when it starts')
    if end < start:
        if end == 0:
            raise ValueError(
                f'"{value}" ends at 00:00: write 24:00 for midnight at the end of a day'
            )
        raise ValueError(
            f'"{value}" ends before it starts: a range that runs past midnight must be split, '
            f'e.g. "{parts[0].strip()}-24:00" on one day and "00:00-{parts[1].strip()}" on the next'
        )
    return start, end


def parse_ranges(value: str | list[str]) -> tuple[tuple[int, int], ...]:
    """An `hours.open` value (one range or a list of them), each as ``parse_range`` reads it."""
    if isinstance(value, str):
        return (parse_range(value),)
    if not value:
        raise ValueError("an empty list of times: give at least one range, or leave the day out")
    return tuple(parse_range(item) for item in value)


@dataclass(frozen=True, slots=True)
class ClosedDate:
    """A closed day: ``year`` is None for one that comes back every year."""

    year: int | None
    month: int
    day: int

    def matches(self, when: date) -> bool:
        return (
            when.month == self.month
            and when.day == self.day
            and (self.year is None or when.year == self.year)
        )


def parse_closed_date(value: str) -> ClosedDate:
    """``"2026-12-24"`` (once) or ``"12-25"`` (every year). Raises ValueError for anything
    else and for a day that does not exist (``"2026-02-29"``, ``"04-31"``; ``"02-29"`` is
    fine: it comes in leap years)."""
    if not isinstance(value, str):
        raise ValueError(f'{value!r} is not a date: write "YYYY-MM-DD" or "MM-DD" as text')
    text = value.strip()
    full = _FULL_DATE.fullmatch(text)
    yearly = _YEARLY_DATE.fullmatch(text)
    if full is None and yearly is None:
        raise ValueError(
            f'"{value}" is not a date: write "YYYY-MM-DD" for one day or "MM-DD" for every year'
        )
    if full is not None:
        year: int | None = int(full.group(1))
        month, day = int(full.group(2)), int(full.group(3))
    else:
        assert yearly is not None
        year, month, day = None, int(yearly.group(1)), int(yearly.group(2))
    try:
        date(year if year is not None else _A_LEAP_YEAR, month, day)
    except ValueError:
        raise ValueError(f'"{value}" is not a day of the calendar') from None
    return ClosedDate(year, month, day)


@dataclass(frozen=True, slots=True)
class Schedule:
    """Hours read once: the open minutes of each weekday (Monday first) and the closed days."""

    week: tuple[tuple[tuple[int, int], ...], ...]  # 7 days, each a sorted tuple of ranges
    closed: tuple[ClosedDate, ...]
    timezone: str

    def is_open(self, at: datetime) -> bool:
        """Whether the line is open at ``at`` (aware: any zone; naive: the flow's zone)."""
        zone = ZoneInfo(self.timezone)
        local = at.astimezone(zone) if at.tzinfo is not None else at.replace(tzinfo=zone)
        if any(closed.matches(local.date()) for closed in self.closed):
            return False
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.week[local.weekday()])


def compile_hours(hours: Hours, timezone: str = "UTC") -> Schedule:
    """Read a flow's `hours` once. Raises ValueError (its message names the bad entry) and
    ``zoneinfo.ZoneInfoNotFoundError`` for an unknown time zone."""
    ZoneInfo(timezone)  # fail here, not at the first call
    week: list[list[tuple[int, int]]] = [[] for _ in DAYS]
    for key, value in hours.open.items():
        days = parse_day_key(key)
        try:
            ranges = parse_ranges(value)
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
        for day in days:
            week[day].extend(ranges)
    closed = tuple(parse_closed_date(d) for d in hours.closed_dates)
    return Schedule(tuple(tuple(sorted(day)) for day in week), closed, timezone)


def is_open(hours: Hours | None, timezone: str, at: datetime) -> bool:
    """Whether a flow with these `hours` (None: always open) answers at ``at``."""
    if hours is None:
        return True
    return compile_hours(hours, timezone).is_open(at)
