"""Fault injection: make the simulated OpenAI misbehave the ways the real one has.

Set on ``Simulator.faults`` (every call) or ``SimCall.faults`` (one call); a call's own
setting wins. Examples::

    sim.faults.accept = RestFault(status=500)           # every accept fails
    call.faults.accept = RestFault(hang_s=10)           # this accept never answers in time
    call.faults.refer = RestFault(status=500, times=1)  # first refer fails, retry works
    call.faults.refer_vanishes = True                   # 200, but the call stays up
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Faults", "RestFault"]


@dataclass
class RestFault:
    """Misbehaviour of one REST action.

    ``hang_s``: wait this long before doing anything (a client with a shorter timeout
    sees no answer at all). Then, if ``status`` is set, answer with that status and an
    OpenAI-shaped error body instead of performing the action; if not, perform it
    normally. ``times`` limits how many requests are affected (``None``: all).
    """

    status: int | None = None
    hang_s: float = 0.0
    message: str | None = None
    times: int | None = None

    def consume(self) -> bool:
        """True if this request is affected (and counts it)."""
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


@dataclass
class Faults:
    accept: RestFault | None = None
    reject: RestFault | None = None
    refer: RestFault | None = None
    hangup: RestFault | None = None
    # 200 from refer, but no transfer happens and the call stays up (field reports).
    refer_vanishes: bool = False
    # After a function_call_output, the server starts a response by itself, racing the
    # client's response.create (reported; makes conversation_already_has_active_response).
    auto_response_after_tool_output: bool = False
    # The sideband handshake answers this HTTP status instead of 101.
    sideband_status: int | None = None

    def rest(self, action: str) -> RestFault | None:
        fault = getattr(self, action, None)
        return fault if isinstance(fault, RestFault) else None
