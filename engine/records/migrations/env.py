"""Alembic's entry: runs the migrations on the connection ``engine.records.migrate`` hands
over (no alembic.ini, no URL of its own: the engine's settings decide the database)."""

from __future__ import annotations

from alembic import context

from engine.records.migrate import VERSION_TABLE
from engine.records.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "the records migrations run through the engine: `engine db upgrade` "
        "(or `engine serve`, which runs them at start)"
    )
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,  # SQLite alters a table by copying it
)
with context.begin_transaction():
    context.run_migrations()
