"""Opening hours as pure functions: day keys, ranges, 24:00, closed dates, time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest

from engine.flow.hours import (
    ClosedDate,
    compile_hours,
    is_open,
    parse_closed_date,
    parse_day_key,
    parse_range,
    parse_ranges,
)
from engine.flow.model import Hours, Outcome

CLOSED = Outcome(reject=480)
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def hours(open_: dict, closed_dates: list[str] | None = None) -> Hours:
    return Hours(open=open_, closed_dates=closed_dates or [], when_closed=CLOSED)


# --- day keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "days"),
    [
        ("mon", (0,)),
        ("tue", (1,)),
        ("wed", (2,)),
        ("thu", (3,)),
        ("fri", (4,)),
        ("sat", (5,)),
        ("sun", (6,)),
        ("mon-fri", (0, 1, 2, 3, 4)),
        ("sat-sun", (5, 6)),
        ("fri-mon", (4, 5, 6, 0)),  # wraps over the weekend
        ("sun-sat", (6, 0, 1, 2, 3, 4, 5)),
        ("wed-wed", (2,)),
        ("Mon-Fri", (0, 1, 2, 3, 4)),
        (" mon - fri ", (0, 1, 2, 3, 4)),
    ],
)
def test_day_keys(key: str, days: tuple[int, ...]) -> None:
    assert parse_day_key(key) == days


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("tues", '"tues" in "tues" is not a day'),
        ("monday", '"monday" in "monday" is not a day'),
        ("mon-fry", '"fry" in "mon-fry" is not a day'),
        ("mon-", "is not a day or a range of days"),
        ("mon-wed-fri", "is not a day or a range of days"),
        ("", "is not a day"),
        ("weekdays", "use mon, tue, wed, thu, fri, sat or sun"),
    ],
)
def test_day_key_errors(key: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_day_key(key)


# --- ranges --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("09:00-17:30", (540, 1050)),
        ("00:00-24:00", (0, 1440)),
        ("22:00-24:00", (1320, 1440)),
        ("00:00-02:00", (0, 120)),
        ("9:00-17:00", (540, 1020)),
        ("09:00 - 17:00", (540, 1020)),
        ("23:59-24:00", (1439, 1440)),
    ],
)
def test_ranges(text: str, minutes: tuple[int, int]) -> None:
    assert parse_range(text) == minutes


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("09:00", "is not a time range"),
        ("9-17", '"9" in "9-17" is not a time'),
        ("09:00-17:60", "is not a time of day"),
        ("25:00-26:00", "is not a time of day"),
        ("09:00-24:30", "is not a time of day"),
        ("24:00-24:00", "a range may end at 24:00, not start there"),
        ("09:00-09:00", "is empty"),
        ("17:00-09:00", "ends before it starts.*must be split.*17:00-24:00.*00:00-09:00"),
        ("22:00-00:00", "write 24:00 for midnight"),
        ("09:00-12:00-13:00", "is not a time range"),
        ("", "is not a time range"),
    ],
)
def test_range_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_range(text)


def test_ranges_one_or_a_list() -> None:
    assert parse_ranges("09:00-12:00") == ((540, 720),)
    assert parse_ranges(["09:00-12:00", "13:00-17:00"]) == ((540, 720), (780, 1020))
    with pytest.raises(ValueError, match="empty list"):
        parse_ranges([])
    with pytest.raises(ValueError, match="ends before it starts"):
        parse_ranges(["09:00-12:00", "13:00-11:00"])


# --- closed dates --------------------------------------------------------------------------


def test_closed_dates() -> None:
    assert parse_closed_date("2026-12-24") == ClosedDate(2026, 12, 24)
    assert parse_closed_date("12-25") == ClosedDate(None, 12, 25)
    assert parse_closed_date("02-29") == ClosedDate(None, 2, 29)  # leap years only
    assert parse_closed_date("2028-02-29") == ClosedDate(2028, 2, 29)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-02-29", "is not a day of the calendar"),
        ("04-31", "is not a day of the calendar"),
        ("13-01", "is not a day of the calendar"),
        ("2026-00-10", "is not a day of the calendar"),
        ("12/25", 'write "YYYY-MM-DD" for one day or "MM-DD" for every year'),
        ("2026-12-24T00:00", "is not a date"),
        ("25-12-2026", "is not a date"),
        ("Dec 25", "is not a date"),
    ],
)
def test_closed_date_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_closed_date(text)


# --- is the line open? ---------------------------------------------------------------------

WEEKDAYS = hours({"mon-fri": "09:00-17:30"})


def at(zone: ZoneInfo, *fields: int) -> datetime:
    return datetime(*fields, tzinfo=zone)


def test_the_minute_before_and_the_minute_of_opening_and_closing() -> None:
    schedule = compile_hours(WEEKDAYS, "Europe/London")
    # Monday 2 March 2026 (GMT).
    assert not schedule.is_open(at(LONDON, 2026, 3, 2, 8, 59))
    assert not schedule.is_open(at(LONDON, 2026, 3, 2, 8, 59, 59))
    assert schedule.is_open(at(LONDON, 2026, 3, 2, 9, 0))
    assert schedule.is_open(at(LONDON, 2026, 3, 2, 17, 29))
    assert schedule.is_open(at(LONDON, 2026, 3, 2, 17, 29, 59))
    assert not schedule.is_open(at(LONDON, 2026, 3, 2, 17, 30))


def test_days_not_listed_are_closed() -> None:
    schedule = compile_hours(WEEKDAYS, "UTC")
    friday, saturday, sunday = (datetime(2026, 3, d, 12, tzinfo=UTC) for d in (6, 7, 8))
    assert schedule.is_open(friday)
    assert not schedule.is_open(saturday)
    assert not schedule.is_open(sunday)


def test_each_day_form() -> None:
    schedule = compile_hours(
        hours(
            {
                "mon-thu": "09:00-17:00",
                "fri": ["09:00-12:00", "13:00-16:00"],
                "sat": "10:00-12:00",
            }
        ),
        "UTC",
    )

    def open_at(day: int, hour: int, minute: int = 0) -> bool:
        return schedule.is_open(datetime(2026, 3, day, hour, minute, tzinfo=UTC))

    assert open_at(4, 16, 59) and not open_at(4, 17)  # Wednesday
    assert open_at(6, 11, 59) and not open_at(6, 12) and not open_at(6, 12, 59)  # Friday lunch
    assert open_at(6, 13) and not open_at(6, 16)
    assert open_at(7, 10) and not open_at(7, 9, 59) and not open_at(7, 12)  # Saturday
    assert not open_at(8, 11)  # Sunday: not listed


def test_wrapping_day_range_and_24_00() -> None:
    schedule = compile_hours(hours({"fri-mon": "00:00-24:00"}), "UTC")
    thursday_late = datetime(2026, 3, 5, 23, 59, tzinfo=UTC)
    friday_first_minute = datetime(2026, 3, 6, 0, 0, tzinfo=UTC)
    monday_last_minute = datetime(2026, 3, 9, 23, 59, 59, tzinfo=UTC)
    tuesday = datetime(2026, 3, 10, 0, 0, tzinfo=UTC)
    assert not schedule.is_open(thursday_late)
    assert schedule.is_open(friday_first_minute)
    assert schedule.is_open(datetime(2026, 3, 7, 3, 0, tzinfo=UTC))
    assert schedule.is_open(monday_last_minute)
    assert not schedule.is_open(tuesday)


def test_a_night_shift_split_at_midnight() -> None:
    schedule = compile_hours(hours({"fri": "22:00-24:00", "sat": "00:00-02:00"}), "UTC")
    assert schedule.is_open(datetime(2026, 3, 6, 23, 59, tzinfo=UTC))
    assert schedule.is_open(datetime(2026, 3, 7, 0, 0, tzinfo=UTC))
    assert schedule.is_open(datetime(2026, 3, 7, 1, 59, tzinfo=UTC))
    assert not schedule.is_open(datetime(2026, 3, 7, 2, 0, tzinfo=UTC))
    assert not schedule.is_open(datetime(2026, 3, 6, 21, 59, tzinfo=UTC))


def test_overlapping_keys_are_a_union() -> None:
    schedule = compile_hours(hours({"mon-fri": "09:00-12:00", "fri": "11:00-15:00"}), "UTC")
    assert schedule.is_open(datetime(2026, 3, 6, 14, 0, tzinfo=UTC))  # Friday afternoon
    assert not schedule.is_open(datetime(2026, 3, 5, 14, 0, tzinfo=UTC))  # Thursday


def test_closed_dates_once_and_every_year() -> None:
    schedule = compile_hours(
        hours({"mon-sun": "09:00-17:00"}, ["2026-12-24", "12-25", "02-29"]), "Europe/London"
    )
    assert not schedule.is_open(at(LONDON, 2026, 12, 24, 12))
    assert schedule.is_open(at(LONDON, 2027, 12, 24, 12))  # once: only in 2026
    assert not schedule.is_open(at(LONDON, 2026, 12, 25, 12))
    assert not schedule.is_open(at(LONDON, 2031, 12, 25, 12))  # every year
    assert schedule.is_open(at(LONDON, 2026, 12, 26, 12))
    assert not schedule.is_open(at(LONDON, 2028, 2, 29, 12))
    assert schedule.is_open(at(LONDON, 2028, 2, 28, 12))


def test_closed_dates_are_the_flow_zones_day() -> None:
    # 23:30 UTC on 24 December is already the 25th in Tokyo.
    schedule = compile_hours(hours({"mon-sun": "00:00-24:00"}, ["12-25"]), "Asia/Tokyo")
    assert not schedule.is_open(datetime(2026, 12, 24, 23, 30, tzinfo=UTC))
    assert schedule.is_open(datetime(2026, 12, 24, 14, 30, tzinfo=UTC))  # 23:30 on the 24th


def test_a_utc_clock_is_read_in_the_flows_zone() -> None:
    schedule = compile_hours(WEEKDAYS, "America/New_York")
    # Monday 2 March 2026: New York is UTC-5. 13:59 UTC = 08:59; 14:00 UTC = 09:00.
    assert not schedule.is_open(datetime(2026, 3, 2, 13, 59, tzinfo=UTC))
    assert schedule.is_open(datetime(2026, 3, 2, 14, 0, tzinfo=UTC))
    assert schedule.is_open(datetime(2026, 3, 2, 22, 29, tzinfo=UTC))
    assert not schedule.is_open(datetime(2026, 3, 2, 22, 30, tzinfo=UTC))
    # Friday 22:30 UTC is Friday 17:30 in New York: closed.
    assert not schedule.is_open(datetime(2026, 3, 6, 22, 30, tzinfo=UTC))
    # Saturday 00:30 UTC is still Friday 16:30 in Los Angeles: open, though by UTC it is
    # the weekend.
    los_angeles = compile_hours(WEEKDAYS, "America/Los_Angeles")
    assert los_angeles.is_open(datetime(2026, 3, 7, 0, 30, tzinfo=UTC))
    assert not los_angeles.is_open(datetime(2026, 3, 7, 1, 30, tzinfo=UTC))  # 17:30 PST
    # Tuesday 03:00 UTC is still Monday 22:00 in New York.
    assert not schedule.is_open(datetime(2026, 3, 3, 3, 0, tzinfo=UTC))
    # A time in another zone entirely is converted too.
    assert schedule.is_open(datetime(2026, 3, 2, 15, 0, tzinfo=LONDON))  # 10:00 in New York


def test_a_naive_time_is_the_flows_wall_clock() -> None:
    schedule = compile_hours(WEEKDAYS, "America/New_York")
    assert schedule.is_open(datetime(2026, 3, 2, 9, 0))
    assert not schedule.is_open(datetime(2026, 3, 2, 8, 59))


def test_the_day_the_clocks_go_forward() -> None:
    # Sunday 29 March 2026, London: 01:00 GMT becomes 02:00 BST.
    schedule = compile_hours(hours({"sun": ["01:30-02:30", "09:00-17:30"]}), "Europe/London")
    # 08:00 UTC is 09:00 BST: open by the wall clock (it would be 08:00 by GMT).
    assert not schedule.is_open(datetime(2026, 3, 29, 7, 59, tzinfo=UTC))
    assert schedule.is_open(datetime(2026, 3, 29, 8, 0, tzinfo=UTC))
    assert schedule.is_open(datetime(2026, 3, 29, 16, 29, tzinfo=UTC))
    assert not schedule.is_open(datetime(2026, 3, 29, 16, 30, tzinfo=UTC))  # 17:30 BST
    # 01:30-02:00 never happens that night; 02:00-02:30 BST does (01:00-01:30 UTC).
    assert not schedule.is_open(datetime(2026, 3, 29, 0, 59, tzinfo=UTC))  # 00:59 GMT
    assert schedule.is_open(datetime(2026, 3, 29, 1, 0, tzinfo=UTC))  # 02:00 BST
    assert schedule.is_open(datetime(2026, 3, 29, 1, 29, tzinfo=UTC))  # 02:29 BST
    assert not schedule.is_open(datetime(2026, 3, 29, 1, 30, tzinfo=UTC))  # 02:30 BST


def test_the_day_the_clocks_go_back() -> None:
    # Sunday 1 November 2026, New York: 02:00 EDT becomes 01:00 EST; 01:xx happens twice.
    schedule = compile_hours(hours({"sun": "01:00-02:00"}), "America/New_York")
    first = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT
    second = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST
    assert first.astimezone(NEW_YORK).hour == second.astimezone(NEW_YORK).hour == 1
    assert schedule.is_open(first) and schedule.is_open(second)
    assert not schedule.is_open(datetime(2026, 11, 1, 7, 0, tzinfo=UTC))  # 02:00 EST
    assert not schedule.is_open(first - timedelta(minutes=31))  # 00:59 EDT


def test_no_hours_is_always_open() -> None:
    assert is_open(None, "UTC", datetime(2026, 3, 7, 3, 0, tzinfo=UTC))
    assert is_open(WEEKDAYS, "UTC", datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    assert not is_open(WEEKDAYS, "UTC", datetime(2026, 3, 7, 9, 0, tzinfo=UTC))


def test_compile_names_the_bad_entry() -> None:
    with pytest.raises(ValueError, match=r'^mon-fri: "17:00-09:00" ends before it starts'):
        compile_hours(hours({"mon-fri": "17:00-09:00"}))
    with pytest.raises(ValueError, match='"sunday" in "sunday" is not a day'):
        compile_hours(hours({"sunday": "09:00-17:00"}))
    with pytest.raises(ValueError, match='"12-32" is not a day of the calendar'):
        compile_hours(hours({"mon": "09:00-17:00"}, ["12-32"]))
    with pytest.raises(ZoneInfoNotFoundError):
        compile_hours(WEEKDAYS, "Europe/Londres")
