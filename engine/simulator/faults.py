"""Fault injection: make the simulated OpenAI misbehave the ways the real one has.

Set on ``Simulator.faults`` (every call) or ``SimCall.faults`` (one call); a call's own
setting wins. Examples::

    sim.faults.accept = RestFault(status=500)           # every accept fails
    call.faults.accept = RestFault(hang_s=10)           # this accept never answers in time
    call.faults.refer = RestFault(status=500, times=1)  # first refer fails, retry works
    call.faults.refer_vanishes = True                   # 200, but the call stays up
    call.faults.refer_vanishes = 1                      # the first refer vanishes, then work
    call.faults.refer_vanishes = {"tel:+18005550100"}   # refers to this target vanish
    call.faults.accept = RestFault(hang_s=3, took_effect=True)  # accepted, answered late
    call.faults.refer_ring_s = 20                       # the target rings 20 s first
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

__all__ = ["Faults", "RestFault"]


@dataclass
class RestFault:
    """Misbehaviour of one REST action.

    ``hang_s``: wait this long before doing anything (a client with a shorter timeout
    sees no answer at all). Then, if ``status`` is set, answer with that status and an
    OpenAI-shaped error body instead of performing the action; if not, perform it
    normally. ``times`` limits how many requests are affected (``None``: all).

    ``took_effect``: perform the action at once (as if the request had no fault), then
    answer ``hang_s`` later (with ``status`` if set): a request that times out on the
    client's side but did happen, so a retry meets its effect.
    """

    status: int | None = None
    hang_s: float = 0.0
    message: str | None = None
    times: int | None = None
    took_effect: bool = False

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
    # 200 from refer, but no transfer happens and the call stays up (field reports; also
    # what a carrier that refuses the target or a line that does not answer looks like,
    # since no event reports a REFER's outcome). True: every refer; a number: that many
    # refers from now on (counted down); a set of target URIs: refers to those targets.
    refer_vanishes: bool | int | Collection[str] = False
    # After a function_call_output, the server starts a response by itself, racing the
    # client's response.create (reported; makes conversation_already_has_active_response).
    auto_response_after_tool_output: bool = False
    # The sideband handshake answers this HTTP status instead of 101.
    sideband_status: int | None = None
    # How long the transfer target rings after a 200 refer: the caller is on hold and the
    # call (and its sideband) stays up this long before it ends as transferred, as on
    # Twilio (reference §2.6). With refer_vanishes the call stays up after it too. The
    # larger of the call's and the simulator's setting applies.
    refer_ring_s: float = 0.0

    def refer_vanished(self, target: str) -> bool:
        """True if a refer to ``target`` vanishes (and counts it when a number is set)."""
        vanishes = self.refer_vanishes
        if isinstance(vanishes, bool):
            return vanishes
        if isinstance(vanishes, int):
            if vanishes <= 0:
                return False
            self.refer_vanishes = vanishes - 1
            return True
        if isinstance(vanishes, str):
            return target == vanishes
        return target in vanishes

    def rest(self, action: str) -> RestFault | None:
        fault = getattr(self, action, None)
        return fault if isinstance(fault, RestFault) else None
