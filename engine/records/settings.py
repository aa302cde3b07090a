"""Where records are kept and for how long, read once from the environment at start.

``ENGINE_DATABASE_URL`` names the database: unset, a SQLite file in the working directory
(``./engine-records.db``), so ``engine serve`` and ``engine demo`` keep records with no set-up
and ``engine calls`` run from the same place finds them; ``postgresql://…`` (or
``postgres://…``) for PostgreSQL, which several replicas can share. The URL may carry a
password: it is never logged or shown, only its redacted form (``redacted_url``).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

__all__ = [
    "DEFAULT_DAYS",
    "DEFAULT_SQLITE_FILE",
    "RecordsSettings",
    "database_url",
    "redacted",
]

DEFAULT_SQLITE_FILE = "engine-records.db"
DEFAULT_DAYS = 30
_URL_HELP = (
    "ENGINE_DATABASE_URL must be a postgresql://USER:PASSWORD@HOST:PORT/DATABASE or "
    "sqlite:///PATH URL"
)


def database_url(text: str | None, cwd: Path | None = None) -> URL:
    """The SQLAlchemy URL (async driver) for ``ENGINE_DATABASE_URL``'s value. Raises
    ``ValueError`` naming the variable, never quoting the value (it may hold a password)."""
    text = (text or "").strip()
    if not text:
        path = (cwd or Path.cwd()) / DEFAULT_SQLITE_FILE
        return URL.create("sqlite+aiosqlite", database=str(path))
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise ValueError(_URL_HELP) from None
    backend, _, driver = url.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "asyncpg"):
        if not url.host and not url.query.get("host"):
            raise ValueError("ENGINE_DATABASE_URL names no host: postgresql://USER@HOST/DATABASE")
        if not url.database:
            raise ValueError("ENGINE_DATABASE_URL names no database: postgresql://…/DATABASE")
        if "sslmode" in url.query:  # libpq's name (in many providers' URLs); asyncpg's is ssl
            mode = url.query["sslmode"]
            url = url.difference_update_query(["sslmode"]).update_query_dict({"ssl": mode})
        return url.set(drivername="postgresql+asyncpg")
    if backend == "sqlite" and driver in ("", "aiosqlite"):
        if not url.database or url.database == ":memory:":
            # Each connection would get a database of its own and every record would vanish.
            raise ValueError(
                "ENGINE_DATABASE_URL: an in-memory SQLite database keeps nothing; "
                "name a file, sqlite:///PATH"
            )
        return url.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres", "sqlite"):
        raise ValueError(f"{_URL_HELP}, without a driver name (the engine picks its own)")
    raise ValueError(f"{_URL_HELP}; other databases are not supported")


def redacted(url: URL) -> str:
    """The URL as it may be shown: the password (if any) as ``***``."""
    return url.render_as_string(hide_password=True)


def _days(env: Mapping[str, str]) -> int:
    text = env.get("ENGINE_RECORDS_DAYS", "").strip()
    if not text:
        return DEFAULT_DAYS
    if not text.isdigit() or int(text) > 36_500:
        raise ValueError(
            "ENGINE_RECORDS_DAYS must be a whole number of days (0 keeps records for ever)"
        )
    return int(text)


def _token(env: Mapping[str, str]) -> str | None:
    token = env.get("ENGINE_ADMIN_TOKEN", "")
    if not token.strip():
        return None
    if token != token.strip() or any(c.isspace() or not c.isprintable() for c in token):
        raise ValueError("ENGINE_ADMIN_TOKEN must be one word of printable characters")
    if len(token) < 16:
        raise ValueError("ENGINE_ADMIN_TOKEN must be at least 16 characters long")
    return token


def default_replica() -> str:
    """This process among the replicas: host name and process id (in a container, the host
    name is the container's)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class RecordsSettings:
    url: URL = field(repr=False)
    days: int = DEFAULT_DAYS  # records older than this are pruned; 0: never
    admin_token: str | None = field(default=None, repr=False)
    replica: str = field(default_factory=default_replica)
    # The writer: how many records may wait for the database, how many go in one write,
    # and how often the buffer is written when it is not full.
    buffer_size: int = 10_000
    batch_size: int = 100
    flush_interval_s: float = 0.5
    # Every database statement's deadline (connect included): a database that does not
    # answer is "down", never a wait without end.
    statement_timeout_s: float = 5.0
    prune_interval_s: float = 3600.0
    # How long a replica's claim on a call it has not answered yet holds without renewal.
    claim_lease_s: float = 10.0

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> RecordsSettings:
        env = os.environ if environ is None else environ
        return cls(
            url=database_url(env.get("ENGINE_DATABASE_URL"), cwd),
            days=_days(env),
            admin_token=_token(env),
        )

    @property
    def shown_url(self) -> str:
        return redacted(self.url)

    @property
    def shared(self) -> bool:
        """PostgreSQL: several replicas may share it, so calls are claimed in it."""
        return self.url.get_backend_name() == "postgresql"

    def __repr__(self) -> str:
        return (
            f"RecordsSettings(url={self.shown_url!r}, days={self.days}, replica={self.replica!r})"
        )
