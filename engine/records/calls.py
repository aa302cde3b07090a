"""``CallRecords``: the engine's side of records. A recorder for each call it decides on;
when the call is over, its record goes to the sink (which keeps it, off the call path),
then to each consumer (metrics), and its one summary line to the log.

The engine calls it at three points: decided (``decided``), accepted (the recorder
``watch``es the call's machine through its driver), over (``finish``); ``server.py`` holds
none of this.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Sequence

from ..call.answer import Answer, Refusal
from ..call.incoming import IncomingCall
from .outcome import summary
from .record import CallOutcome, CallRecord
from .recorder import CallRecorder
from .sink import RecordSink

__all__ = ["CallRecords", "RecordConsumer"]

log = logging.getLogger("engine.records")

RecordConsumer = Callable[[CallRecord], None]


class CallRecords:
    """``consumers`` is read when each record is finished, so one added later counts."""

    def __init__(
        self,
        sink: RecordSink,
        consumers: Sequence[RecordConsumer] = (),
        *,
        default_country_code: str | None = None,
        replica: str | None = None,
    ) -> None:
        self.sink = sink
        self.consumers = consumers
        self.default_country_code = default_country_code
        # host:pid, as records/settings.py names a replica (that module imports SQLAlchemy)
        self.replica = replica or f"{socket.gethostname()}:{os.getpid()}"

    def decided(
        self, call: IncomingCall, decision: Answer | Refusal, received: float
    ) -> CallRecorder:
        """A recorder for a call the engine decided on; ``received``: ``perf_counter`` when
        its webhook arrived. Cheap: it only keeps references until the call is over."""
        wall = time.time() - (time.perf_counter() - received)
        return CallRecorder(
            call.call_id, wall, decision, call.sip_headers, self.default_country_code
        )

    def finish(
        self, recorder: CallRecorder, how: str | None = None, detail: str | None = None
    ) -> CallRecord | None:
        """The call is over (``how``/``detail`` for one that never ran: ``ended_how`` and
        words): build its record, log its summary, hand it on. Never raises."""
        error = recorder.error
        try:
            record = recorder.finish(how, detail, replica=self.replica)
        except Exception:
            log.exception("the record of the call could not be built", extra=_call(recorder))
            return None
        if record is None:
            return None  # already finished
        message, fields = summary(record)
        level = logging.INFO
        if record.outcome is CallOutcome.FAILED:  # a task that raised is a bug: an error
            level = logging.ERROR if error is not None else logging.WARNING
        log.log(level, "%s", message, extra={**fields, **_call(recorder)}, exc_info=error)
        for keep in (self.sink.put, *self.consumers):
            try:
                keep(record)
            except Exception:  # a sink or a consumer must not break the next one, or a call
                log.exception("a call record consumer failed", extra=_call(recorder))
        return record


def _call(recorder: CallRecorder) -> dict[str, str]:
    return {"call_id": recorder.call_id}
