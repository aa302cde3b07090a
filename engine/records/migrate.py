"""Bring the records schema up to date: Alembic's migrations, shipped in the package
(``migrations/``), run on the engine's own database. ``engine serve`` and ``engine demo``
run them at start; ``engine db upgrade`` runs them alone (for a deploy step, or a database
user that may alter tables where the replicas' may not).

Several replicas starting together on one PostgreSQL take turns: a transaction-level
advisory lock is held while migrating, and whoever comes second finds the schema current.
"""

from __future__ import annotations

import logging

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["VERSION_TABLE", "current_revision", "head_revision", "upgrade"]

# Our own name, so a database shared with another Alembic project keeps both apart.
VERSION_TABLE = "engine_schema_version"
# pg_advisory_xact_lock's key: any constant of our own ("engine records" in ASCII, folded).
_LOCK_KEY = 0x656E67696E65


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", "engine.records:migrations")
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def _upgrade(connection: Connection) -> tuple[str | None, str | None]:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    before = _current(connection)
    if before != head_revision():
        # Alembic says what it runs at INFO, and how it runs it at every start: only the
        # former is worth a line, and `upgrade`'s caller writes it.
        logging.getLogger("alembic").setLevel(logging.WARNING)
        command.upgrade(_config(connection), "head")
    return before, _current(connection)


async def upgrade(engine: AsyncEngine) -> tuple[str | None, str | None]:
    """Migrate to the newest schema (nothing to do when it is current); the revisions
    before and after."""
    async with engine.begin() as connection:
        return await connection.run_sync(_upgrade)


def _current(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(_current)
