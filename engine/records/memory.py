"""``RecentRecords``: the last records, in memory. The engine's sink when no store is set
(the demo, tests, a single process run by hand)."""

from __future__ import annotations

from collections import OrderedDict

from .record import CallRecord

__all__ = ["RecentRecords"]


class RecentRecords:
    """A ``RecordSink`` keeping the last ``keep`` records, by call id. A record for a call id
    already kept replaces it (a call whose first delivery failed to accept, answered on a
    later one)."""

    def __init__(self, keep: int = 100) -> None:
        self.keep = keep
        self._records: OrderedDict[str, CallRecord] = OrderedDict()

    def put(self, record: CallRecord) -> None:
        self._records.pop(record.call_id, None)
        self._records[record.call_id] = record
        while len(self._records) > self.keep:
            self._records.popitem(last=False)

    def get(self, call_id: str) -> CallRecord | None:
        return self._records.get(call_id)

    @property
    def records(self) -> list[CallRecord]:
        """Oldest first."""
        return list(self._records.values())
