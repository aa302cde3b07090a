"""The SQLAlchemy engine for the records database: async drivers (aiosqlite, asyncpg),
deadlines on connecting and on every statement, and nothing in errors that could leak."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .storable import json_serializer

__all__ = ["describe_error", "open_database"]


def open_database(url: URL, timeout_s: float = 5.0) -> AsyncEngine:
    """An engine for ``url`` (from ``settings.database_url``). Connects lazily: a database
    that is down does not stop anything here."""
    options: dict[str, Any] = {
        # Statements' parameters are records (masked, but long) and call ids: errors say
        # what failed, not with which values.
        "hide_parameters": True,
        "pool_timeout": timeout_s,
        "json_serializer": json_serializer,
    }
    if url.get_backend_name() == "postgresql":
        engine = create_async_engine(
            url,
            connect_args={
                "timeout": timeout_s,  # connecting
                "command_timeout": timeout_s,  # each statement
                "server_settings": {"application_name": "engine"},
            },
            pool_size=5,
            max_overflow=5,
            pool_recycle=1800,
            **options,
        )
    else:
        engine = create_async_engine(url, connect_args={"timeout": timeout_s}, **options)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL: `engine calls` reads while `engine serve` writes, neither waiting.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine


def describe_error(exc: BaseException) -> str:
    """One line saying why the database failed, for a log: the driver's own message (no
    SQL, no parameters, never the URL)."""
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        text = str(exc.orig)
    elif isinstance(exc, SQLAlchemyError):  # not the driver's: no parameters in it
        text = f"{exc.__class__.__name__}: {exc}"
    else:
        text = str(exc) or exc.__class__.__name__
    line = text.strip().splitlines()[0] if text.strip() else exc.__class__.__name__
    return line[:300]
