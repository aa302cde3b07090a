"""Opening hours and closed dates, read the way the engine reads them before answering.

Whether a day key, a time range or a date is valid is decided by the runtime's own reader
(``engine.flow.hours``), so lint and calls never disagree; the rules here only say, in the
author's words, what is wrong and what was likely meant.
"""

from __future__ import annotations

import calendar
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from ..diagnostics import Diagnostic
from ..hours import DAYS, parse_closed_date, parse_day_key, parse_range
from ..model import Hours
from ..source import DataPath
from ..validate import did_you_mean
from .base import LintContext, rule

_DAY_WORDS = {
    "monday": "mon",
    "tuesday": "tue",
    "tues": "tue",
    "wednesday": "wed",
    "weds": "wed",
    "thursday": "thu",
    "thur": "thu",
    "thurs": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
}
_DAY_SETS = {
    "weekdays": "mon-fri",
    "weekday": "mon-fri",
    "workdays": "mon-fri",
    "weekend": "sat-sun",
    "weekends": "sat-sun",
    "daily": "mon-sun",
    "everyday": "mon-sun",
    "every day": "mon-sun",
    "all": "mon-sun",
}
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


# --- days ---------------------------------------------------------------------------------


def _guess_day(word: str) -> str | None:
    word = word.strip().lower().rstrip(".")
    if word in DAYS:
        return word
    if word in _DAY_WORDS:
        return _DAY_WORDS[word]
    guess = did_you_mean(word, [*DAYS, *_DAY_WORDS])
    return _DAY_WORDS.get(guess, guess) if guess else None


def _guess_day_key(key: str) -> str | None:
    lowered = key.strip().lower()
    if lowered in _DAY_SETS:
        return _DAY_SETS[lowered]
    parts = re.split(r"\s*(?:-|–|—|\bto\b|\bthrough\b|\bthru\b)\s*", lowered)
    if len(parts) not in (1, 2):
        return None
    days = [_guess_day(part) for part in parts]
    if None in days:
        return None
    guess = "-".join(day for day in days if day)
    return guess if guess != key else None


def _day_key(days: list[int]) -> str:
    """A key for these weekdays: "fri", "mon-thu", or days joined by commas."""
    if len(days) == 1:
        return DAYS[days[0]]
    run = all((b - a) % 7 == 1 for a, b in itertools.pairwise(days))
    if run:
        return f"{DAYS[days[0]]}-{DAYS[days[-1]]}"
    return ", ".join(DAYS[d] for d in days)


@rule("hours-day", "A key of `hours.open` that is not a day (mon … sun) or a range of days.")
def hours_day(ctx: LintContext) -> Iterator[Diagnostic]:
    hours = ctx.flow.hours
    if hours is None:
        return
    for key in hours.open:
        try:
            parse_day_key(key)
        except ValueError:
            pass
        else:
            continue
        guess = _guess_day_key(key)
        if "," in key or "/" in key or "&" in key:
            hint = "give each day or range of days its own line, e.g. `mon: …` and `wed: …`"
        elif guess is not None:
            hint = f'did you mean "{guess}"?'
        else:
            hint = "write a day such as mon, or a range such as mon-fri (or fri-mon)"
        yield ctx.diagnostic(
            "hours-day",
            ("hours", "open", key),
            f'"{key}" is not a day: the days are mon, tue, wed, thu, fri, sat and sun, and a '
            "range of days is written mon-fri",
            hint=hint,
            key=True,
        )


# --- time ranges --------------------------------------------------------------------------

_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
_LOOSE_RANGE = re.compile(
    r"^\s*(\d{1,2})(?:[:.h]?(\d{2}))?\s*([ap])?\.?m?\.?\s*(?:-|–|—|to)\s*"
    r"(\d{1,2})(?:[:.h]?(\d{2}))?\s*([ap])?\.?m?\.?\s*$",
    re.IGNORECASE,
)


def _ranges(value: str | list[str], path: DataPath) -> Iterator[tuple[DataPath, str]]:
    if isinstance(value, str):
        yield path, value
    else:
        for index, item in enumerate(value):
            yield (*path, index), item


def _hour(hour: int, half: str | None) -> int:
    if half and half.lower() == "p" and hour < 12:
        return hour + 12
    if half and half.lower() == "a" and hour == 12:
        return 0
    return hour


def _guess_range(value: str) -> str | None:
    """What "9-5", "9am-5:30pm", "0900-1700" or "09.00 - 17.00" most likely mean."""
    found = _LOOSE_RANGE.match(value)
    if found is None:
        return None
    h1, m1, half1, h2, m2, half2 = found.groups()
    start, end = _hour(int(h1), half1), _hour(int(h2), half2)
    if not half1 and not half2 and end < start and end + 12 > start and end <= 12:
        end += 12  # "9-5": nine in the morning to five in the afternoon
    guess = f"{start:02d}:{int(m1 or 0):02d}-{end:02d}:{int(m2 or 0):02d}"
    try:
        parse_range(guess)
    except ValueError:
        return None
    return guess if guess != value else None


def _next_days(key: str) -> str | None:
    try:
        days = parse_day_key(key)
    except ValueError:
        return None
    return _day_key([(day + 1) % 7 for day in days])


def _range_problem(value: str, key: str) -> tuple[str, str | None]:
    """(message, hint) for a range the engine cannot read."""
    example = 'write "HH:MM-HH:MM" on a 24-hour clock, such as "09:00-17:30"'
    parts = value.split("-")
    times = [_TIME.match(part) for part in parts]
    if len(parts) != 2 or None in times:
        guess = _guess_range(value)
        hint = f'did you mean "{guess}"? (times are on a 24-hour clock)' if guess else None
        return f'"{value}" is not an opening time: {example}', hint
    (h1, m1), (h2, m2) = (tuple(int(n) for n in t.groups()) for t in times if t)
    for hours, minutes in ((h1, m1), (h2, m2)):
        if minutes > 59 or hours > 24 or (hours == 24 and minutes):
            shown = f"{hours:02d}:{minutes:02d}"
            return (
                f'"{value}" has {shown}, which is not a time of day: hours go from 00 to 23 '
                "(24:00 ends a day), minutes from 00 to 59",
                None,
            )
    start, end = parts[0].strip(), parts[1].strip()
    if h1 == 24:
        return (
            f'"{value}" starts at 24:00, the end of the day; 24:00 can only end a range',
            f'start at 00:00: "00:00-{end}"',
        )
    if (h1, m1) == (h2, m2):
        hint = 'for the whole day write "00:00-24:00"' if h1 == 0 else "correct one of the times"
        return f'"{value}" opens and closes at the same time, so it is never open', hint
    if (h2, m2) == (0, 0):
        return (
            f'"{value}" ends at 00:00, before it starts',
            f'write 24:00 for midnight at the end of the day: "{start}-24:00"',
        )
    if 5 <= h1 <= 12 and 3 <= h2 <= 11 and (h2, m2) < (h1, m1):
        # "9:00-5:00": a working day on a 12-hour clock (closing at 2 am is a late night; at
        # 5 am after opening at 9 am, hardly ever).
        return (
            f'"{value}" ends before it starts: times are on the 24-hour clock, so {end} is '
            "in the morning",
            f'did you mean "{start}-{h2 + 12:02d}:{m2:02d}"? ({h2}:{m2:02d} in the afternoon '
            f"is {h2 + 12:02d}:{m2:02d})",
        )
    following = _next_days(key)
    on_next = f"on {following}" if following else "on the next day"
    return (
        f'"{value}" ends before it starts: a range cannot run past midnight',
        f'split it at midnight: "{start}-24:00" here, and "00:00-{end}" {on_next}',
    )


@rule(
    "hours-range",
    'An opening time that is not "HH:MM-HH:MM", is empty, or ends before it starts.',
)
def hours_range(ctx: LintContext) -> Iterator[Diagnostic]:
    hours = ctx.flow.hours
    if hours is None:
        return
    for key, value in hours.open.items():
        for path, text in _ranges(value, ("hours", "open", key)):
            try:
                parse_range(text)
            except ValueError:
                message, hint = _range_problem(text, key)
                yield ctx.diagnostic("hours-range", path, message, hint=hint)


# --- overlaps -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Opening:
    path: DataPath
    key: str
    text: str
    days: tuple[int, ...]
    start: int
    end: int


def _openings(hours: Hours) -> list[_Opening]:
    found = []
    for key, value in hours.open.items():
        try:
            days = parse_day_key(key)
        except ValueError:
            continue  # hours-day
        for path, text in _ranges(value, ("hours", "open", key)):
            try:
                start, end = parse_range(text)
            except ValueError:
                continue  # hours-range
            found.append(_Opening(path, key, text, days, start, end))
    return found


@rule("hours-overlap", "Two opening times of the same day overlap.")
def hours_overlap(ctx: LintContext) -> Iterator[Diagnostic]:
    hours = ctx.flow.hours
    if hours is None:
        return
    openings = _openings(hours)
    for later_index, later in enumerate(openings):
        for earlier in openings[:later_index]:
            if not (earlier.start < later.end and later.start < earlier.end):
                continue
            shared = [day for day in later.days if day in earlier.days]
            if not shared:
                continue
            days = ", ".join(_DAY_NAMES[day] for day in shared)
            if earlier.key == later.key:
                where = f'"{later.text}" overlaps "{earlier.text}"'
                hint = "make them one range, or correct the times"
            else:
                where = (
                    f'"{later.text}" (under `{later.key}`) overlaps "{earlier.text}" '
                    f"(under `{earlier.key}`)"
                )
                hint = _overlap_hint(earlier, later)
            yield ctx.diagnostic(
                "hours-overlap",
                later.path,
                f"{where} on {days}; the opening times of a day add up, one does not "
                "replace the other",
                hint=hint,
            )
            break  # one message for this opening time


def _overlap_hint(earlier: _Opening, later: _Opening) -> str:
    wide, narrow = (earlier, later) if len(earlier.days) >= len(later.days) else (later, earlier)
    rest = [day for day in wide.days if day not in narrow.days]
    if rest and set(narrow.days) <= set(wide.days):
        return f"list each day once: `{_day_key(rest)}` and `{narrow.key}`, each with its own times"
    return "list each day once, or change the times so they do not overlap"


# --- closed dates -------------------------------------------------------------------------

_MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_MONTHS |= {name.lower(): number for number, name in enumerate(calendar.month_abbr) if name}
_FULL = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_YEARLY = re.compile(r"^(\d{2})-(\d{2})$")
_A_LEAP_YEAR = 2000
_YEAR_WORD = re.compile(r"[0-9]{4}")
_DAY_WORD = re.compile(r"([0-9]{1,2})(?:st|nd|rd|th)?")


def _real(year: int | None, month: int, day: int) -> bool:
    try:
        date(year if year is not None else _A_LEAP_YEAR, month, day)
    except ValueError:
        return False
    return True


def _written(year: int | None, month: int, day: int) -> str:
    return f"{year:04d}-{month:02d}-{day:02d}" if year is not None else f"{month:02d}-{day:02d}"


def _guess_date(text: str) -> str | None:
    """What "2026-12-5", "25/12/2026", "12/25" or "Dec 25" most likely mean."""
    words = [w for w in re.split(r"[\s,./-]+", text.strip().lower()) if w]
    years = [int(w) for w in words if _YEAR_WORD.fullmatch(w)]
    rest = [w for w in words if not _YEAR_WORD.fullmatch(w)]
    month_words = [w for w in rest if w in _MONTHS]
    numbers = [int(found[1]) for w in rest if (found := _DAY_WORD.fullmatch(w))]
    if len(years) > 1 or len(month_words) + len(numbers) != len(rest):
        return None  # words we cannot read
    year = years[0] if years else None
    if month_words and len(numbers) == 1:
        month, day = _MONTHS[month_words[0].rstrip(".")], numbers[0]
    elif not month_words and len(numbers) == 2:
        first, second = numbers
        if first > 12 >= second:
            month, day = second, first
        elif second > 12 >= first or first == second:
            month, day = first, second
        elif _YEAR_WORD.fullmatch(words[0]):
            month, day = first, second  # year first: year-month-day
        else:
            return None  # 03/04: March 4th or 3 April, nobody can tell
    else:
        return None
    if not _real(year, month, day):
        return None
    guess = _written(year, month, day)
    return guess if guess != text else None


def _date_problem(text: str) -> tuple[str, str | None]:
    full, yearly = _FULL.match(text.strip()), _YEARLY.match(text.strip())
    if full is None and yearly is None:
        guess = _guess_date(text)
        return (
            f'"{text}" is not a date: write "YYYY-MM-DD" for one day, or "MM-DD" for the same '
            'day every year, such as "2026-12-24" or "12-25"',
            f'did you mean "{guess}"?' if guess else None,
        )
    if full is not None:
        year: int | None = int(full[1])
        month, day = int(full[2]), int(full[3])
    else:
        assert yearly is not None
        year, month, day = None, int(yearly[1]), int(yearly[2])
    if not 1 <= month <= 12:
        swapped = _real(year, day, month)
        hint = f'the month comes first: "{_written(year, day, month)}"' if swapped else None
        return f'"{text}" is not a date: there is no month {month}', hint
    name = calendar.month_name[month]
    if day == 0:
        return f'"{text}" is not a date: the days of a month start at 01', None
    if year is None:
        days = calendar.monthrange(_A_LEAP_YEAR, month)[1]
        return f'"{text}" is not a date: {name} has {days} days at most', None
    days = calendar.monthrange(year, month)[1]
    if month == 2 and day == 29:
        return f'"{text}" is not a date: {year} is not a leap year, so February has 28 days', None
    return f'"{text}" is not a date: {name} {year} has {days} days', None


@rule("closed-date", 'A closed date that is not "YYYY-MM-DD" or "MM-DD", or not in the calendar.')
def closed_date(ctx: LintContext) -> Iterator[Diagnostic]:
    hours = ctx.flow.hours
    if hours is None:
        return
    for index, text in enumerate(hours.closed_dates):
        try:
            parse_closed_date(text)
        except ValueError:
            message, hint = _date_problem(text)
            yield ctx.diagnostic(
                "closed-date", ("hours", "closed_dates", index), message, hint=hint
            )
