"""The machine's timers, as keys the driver keeps its clock handles under.

A fixed timer is one of ``Timer``; a tool's filler has one per tool call, ``FillerTimer``.
The machine dispatches on the key itself, so no name is parsed back from a string.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["FillerTimer", "Timer", "TimerKey"]


class Timer(StrEnum):
    """The timers a call has at most one of each."""

    REQUEST = "request"  # a requested response has not started yet
    HEARD = "heard"  # the departure's line may still be playing
    TRANSFER = "transfer"  # the REFER has not taken yet
    COLLECT = "collect"  # a keypad entry waits for its next digit
    TIME_WARNING = "time_warning"  # the caller is told the time is nearly up
    TIME_UP = "time_up"  # the call's time limit


@dataclass(frozen=True, slots=True)
class FillerTimer:
    """When a slow tool's filler line is due: one per tool call."""

    call_id: str

    def __str__(self) -> str:  # how logs and records name it
        return f"filler:{self.call_id}"


TimerKey = Timer | FillerTimer
