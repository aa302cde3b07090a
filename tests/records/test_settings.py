"""ENGINE_DATABASE_URL, ENGINE_RECORDS_DAYS and ENGINE_ADMIN_TOKEN: what each accepts, the
one line that names a wrong one (never its secret), and the filters' words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.records.query import CallQuery, Cursor, QueryError
from engine.records.settings import RecordsSettings

SECRET = "pa55-w0rd-secret"


def settings(**env: str) -> RecordsSettings:
    return RecordsSettings.from_env(env, cwd=Path("/srv/engine"))


def test_by_default_a_sqlite_file_in_the_working_directory():
    s = settings()
    assert s.url.render_as_string() == "sqlite+aiosqlite:////srv/engine/engine-records.db"
    assert not s.shared and s.days == 30 and s.admin_token is None


@pytest.mark.parametrize(
    ("given", "used"),
    [
        (
            f"postgresql://engine:{SECRET}@db:5432/calls",
            "postgresql+asyncpg://engine:***@db:5432/calls",
        ),
        (f"postgres://engine:{SECRET}@db/calls", "postgresql+asyncpg://engine:***@db/calls"),
        ("postgresql+asyncpg://engine@db/calls", "postgresql+asyncpg://engine@db/calls"),
        (
            "postgres://engine@db/calls?sslmode=require",
            "postgresql+asyncpg://engine@db/calls?ssl=require",
        ),
        ("sqlite:////var/lib/engine/records.db", "sqlite+aiosqlite:////var/lib/engine/records.db"),
        ("sqlite:///records.db", "sqlite+aiosqlite:///records.db"),
    ],
)
def test_database_urls_are_normalised_to_the_async_drivers(given, used):
    s = settings(ENGINE_DATABASE_URL=given)
    assert s.shown_url == used
    assert s.shared == used.startswith("postgresql")
    assert SECRET not in repr(s)


@pytest.mark.parametrize(
    ("given", "said"),
    [
        (f"mysql://engine:{SECRET}@db/calls", "other databases are not supported"),
        (f"postgresql+psycopg2://engine:{SECRET}@db/calls", "without a driver name"),
        (f"postgresql://engine:{SECRET}@/calls", "names no host"),
        (f"postgresql://engine:{SECRET}@db", "names no database"),
        ("sqlite://", "an in-memory SQLite database keeps nothing"),
        ("sqlite:///:memory:", "an in-memory SQLite database keeps nothing"),
        (f"not a url {SECRET}", "must be a postgresql://"),
    ],
)
def test_a_wrong_database_url_is_named_without_its_secret(given, said):
    with pytest.raises(ValueError) as caught:
        settings(ENGINE_DATABASE_URL=given)
    assert said in str(caught.value) and "ENGINE_DATABASE_URL" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_records_days():
    assert settings(ENGINE_RECORDS_DAYS="7").days == 7
    assert settings(ENGINE_RECORDS_DAYS="0").days == 0  # for ever
    for wrong in ("-1", "1.5", "a week", "99999999"):
        with pytest.raises(ValueError, match="ENGINE_RECORDS_DAYS must be a whole number"):
            settings(ENGINE_RECORDS_DAYS=wrong)


def test_admin_token():
    token = "0123456789abcdef-token"
    assert settings(ENGINE_ADMIN_TOKEN=token).admin_token == token
    assert settings(ENGINE_ADMIN_TOKEN="  ").admin_token is None
    for wrong, said in (("short", "at least 16"), ("has a space in it 0123", "one word")):
        with pytest.raises(ValueError, match=said) as caught:
            settings(ENGINE_ADMIN_TOKEN=wrong)
        assert wrong not in str(caught.value)
    assert token not in repr(settings(ENGINE_ADMIN_TOKEN=token))


NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def test_times_people_type():
    def since(text: str) -> datetime | None:
        return CallQuery.parse({"since": text}, now=NOW).since

    assert since("2h") == NOW - timedelta(hours=2)
    assert since("30m") == NOW - timedelta(minutes=30)
    assert since("7d") == NOW - timedelta(days=7)
    assert since("1w") == NOW - timedelta(weeks=1)
    assert since("2026-11-24") == datetime(2026, 11, 24, tzinfo=UTC)
    assert since("2026-11-24T10:00+01:00") == datetime(2026, 11, 24, 9, tzinfo=UTC)
    assert since("2026-11-24T10:00Z") == datetime(2026, 11, 24, 10, tzinfo=UTC)
    with pytest.raises(QueryError, match="since must be earlier than until"):
        CallQuery.parse({"since": "1h", "until": "2h"}, now=NOW)


def test_a_day_is_a_utc_day_within_since_and_until():
    query = CallQuery.parse({"day": "2026-11-24"}, now=NOW)
    assert (query.since, query.until) == (
        datetime(2026, 11, 24, tzinfo=UTC),
        datetime(2026, 11, 25, tzinfo=UTC),
    )
    narrowed = CallQuery.parse({"day": "2026-11-24", "since": "2026-11-24T12:00"}, now=NOW)
    assert narrowed.since == datetime(2026, 11, 24, 12, tzinfo=UTC)
    assert narrowed.until == datetime(2026, 11, 25, tzinfo=UTC)
    with pytest.raises(QueryError, match="day 'today' is not a day: give it as 2026-11-24"):
        CallQuery.parse({"day": "today"}, now=NOW)
    with pytest.raises(QueryError, match="day 2026-11-24 is outside since/until"):
        CallQuery.parse({"day": "2026-11-24", "since": "2026-11-26"}, now=NOW)


def test_a_cursor_goes_round_and_a_made_up_one_is_refused():
    cursor = Cursor(NOW, "rtc_1|with a bar")
    assert Cursor.decode(cursor.encode()) == cursor
    for wrong in ("xyz", "", "bm90LWEtY3Vyc29y"):
        with pytest.raises(QueryError, match="before must be the `next` value"):
            Cursor.decode(wrong)
