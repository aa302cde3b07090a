"""Alembic migrations of the records schema, run by ``engine.records.migrate``."""
