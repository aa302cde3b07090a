"""Call records: what happened on each call, kept in a database (SQLite by default,
PostgreSQL shared by several replicas), and the claims that make one replica answer a call.

- ``CallRecord`` and its parts (``record.py``): what is kept of a call.
- ``RecordSink`` (``sink.py``): where the calls put their records; ``put`` never blocks.
- ``Records`` (``service.py``): the one object an engine wires in: ``sink``, ``claims``,
  ``start()``/``stop()``; ``call_routes(records)`` (``routes.py``) serves ``/calls``.
- ``RecordsSettings`` (``settings.py``): ``ENGINE_DATABASE_URL``, ``ENGINE_RECORDS_DAYS``,
  ``ENGINE_ADMIN_TOKEN``.
"""

from typing import TYPE_CHECKING, Any

from .record import CallOutcome, CallRecord, Step, ToolCall, TranscriptLine, TransferTry
from .sink import RecordSink

if TYPE_CHECKING:
    from .service import Records
    from .settings import RecordsSettings

__all__ = [
    "CallOutcome",
    "CallRecord",
    "RecordSink",
    "Records",
    "RecordsSettings",
    "Step",
    "ToolCall",
    "TranscriptLine",
    "TransferTry",
]


def __getattr__(name: str) -> Any:
    # The database side (SQLAlchemy, Alembic) is imported when asked for, not by code that
    # only builds records (the recorder, `engine test`).
    if name == "Records":
        from .service import Records

        return Records
    if name == "RecordsSettings":
        from .settings import RecordsSettings

        return RecordsSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
