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

Sideband faults (reference §3, §4.3, §4.8, §10)::

    call.faults.untagged_responses = True        # responses come back without metadata
    call.faults.untagged_responses = 2           # ... the next two only
    call.faults.response_create_errors = 1       # next response.create: error, no response
    call.faults.response_create_error_code = "rate_limit_exceeded"   # default server_error
    call.faults.auto_response_after_tool_output = True   # server answers a tool output itself
    call.faults.caller_gone_on_accept = "404"    # accept 200, then sideband 404: call over
    call.faults.caller_gone_on_accept = "close"  # handshake 101, then dropped: call over
    call.faults.sideband_status = 500            # sideband handshakes answer 500...
    call.faults.sideband_status_times = 2        # ... the next two only, then they work

A counted setting (a number) is counted down on the ``Faults`` it was set on. For each
setting the call's own value wins when it is set (not ``None``/``False``/0); otherwise the
simulator's applies (``Faults.applying``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

__all__ = ["CALLER_GONE_MODES", "Faults", "RestFault"]

# How a caller who hung up while the call rang shows at sideband time.
CALLER_GONE_MODES = ("404", "close")


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
    # The sideband handshake answers this HTTP status instead of 101 (an OpenAI-shaped
    # error body). See sideband_status_times for how many handshakes.
    sideband_status: int | None = None
    # --- sideband behaviours of the real platform (issue #9); keep additions at the end.
    # Responses the client asks for come back without its metadata (response.created and
    # response.done carry metadata null). True: every one; a number: the next N.
    untagged_responses: bool | int = False
    # The next N client response.create events are answered with an error event (its
    # error.event_id is the client's event_id) and no response starts. Counted down.
    response_create_errors: int = 0
    # The error.code of those errors (error.type is server_error for "server_error",
    # invalid_request_error otherwise).
    response_create_error_code: str = "server_error"
    # The caller hung up while the call rang: accept still answered 200, but at sideband
    # time "404" refuses the handshake with 404 call_id_not_found, and "close" completes
    # the handshake then drops the socket without a close frame. Either way the call is
    # over (end_reason "caller_hangup").
    caller_gone_on_accept: str | None = None
    # How many handshakes sideband_status refuses: None, every one; N, the next N (counted
    # down), then handshakes succeed again.
    sideband_status_times: int | None = None

    # How long the transfer target rings after a 200 refer: the caller is on hold and the
    # call (and its sideband) stays up this long before it ends as transferred, as on
    # Twilio (reference §2.6). With refer_vanishes the call stays up after it too. The
    # larger of the call's and the simulator's setting applies.
    refer_ring_s: float = 0.0

    def __setattr__(self, name: str, value: object) -> None:
        # A mistyped mode would otherwise silently do nothing.
        if name == "caller_gone_on_accept" and not (value is None or value in CALLER_GONE_MODES):
            modes = ", ".join(repr(m) for m in CALLER_GONE_MODES)
            raise ValueError(f"caller_gone_on_accept must be None, {modes}; not {value!r}")
        super().__setattr__(name, value)

    @staticmethod
    def applying(own: Faults, shared: Faults, name: str) -> Faults:
        """The ``Faults`` whose setting ``name`` applies to a call: the call's ``own`` when
        it is set (not None/False/0/empty), else the simulator-wide ``shared`` one."""
        return own if getattr(own, name) else shared

    def take_untagged(self) -> bool:
        """True if the next client-requested response loses its metadata (and counts it)."""
        untagged = self.untagged_responses
        if isinstance(untagged, bool):
            return untagged
        if untagged <= 0:
            return False
        self.untagged_responses = untagged - 1
        return True

    def take_response_create_error(self) -> str | None:
        """The error code for this response.create, or None (counts it down)."""
        if self.response_create_errors <= 0:
            return None
        self.response_create_errors -= 1
        return self.response_create_error_code

    def take_sideband_status(self) -> int | None:
        """The status this handshake answers instead of 101, or None (counts it down)."""
        if self.sideband_status is None:
            return None
        if self.sideband_status_times is None:
            return self.sideband_status
        if self.sideband_status_times <= 0:
            return None
        self.sideband_status_times -= 1
        return self.sideband_status

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
