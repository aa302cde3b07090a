"""Fixtures of the records tests: real databases (records_kit.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from records_kit import postgres_database
from sqlalchemy.engine import URL

from engine.records.settings import database_url


@pytest.fixture
def pg_url() -> Iterator[URL]:
    with postgres_database() as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> URL:
    return database_url(f"sqlite:///{tmp_path / 'records.db'}")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[URL]:
    """Each test twice: on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield database_url(f"sqlite:///{tmp_path / 'records.db'}")
    else:
        with postgres_database() as url:
            yield url
