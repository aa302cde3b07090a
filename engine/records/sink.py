"""Where finished records go. The call path only ever calls ``put``, which must not block,
wait on I/O or raise: a record that cannot be kept is counted and dropped, never a call."""

from __future__ import annotations

from typing import Protocol

from .record import CallRecord

__all__ = ["RecordSink"]


class RecordSink(Protocol):
    def put(self, record: CallRecord) -> None: ...
