"""Call control of one simulated call: what the REST routes and the sideband handshake
do to it, as the real API does it. The simulator's HTTP server (engine/simulator/server.py)
decides the HTTP answers and goes through ``CallControl`` for every change to a call.

``CallControl`` is one part of a ``SimCall`` (engine/simulator/call.py): it works on the
call's ``CallState`` and is the call's public surface for the server (``call.control``).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from typing import Any

from engine.simulator.client_events import ClientEvents
from engine.simulator.connection import SidebandConnection
from engine.simulator.environment import Environment
from engine.simulator.faults import Faults
from engine.simulator.records import RestRequest
from engine.simulator.session import (
    SessionProblem,
    apply_session_fields,
    check_session_fields,
    default_session,
)
from engine.simulator.sideband import Sideband
from engine.simulator.state import CallState

__all__ = ["CallControl"]

log = logging.getLogger(__name__)


class CallControl:
    """Accept, reject, refer, hang up and end one call; admit and serve its sidebands."""

    def __init__(
        self,
        state: CallState,
        env: Environment,
        sideband: Sideband,
        client_events: ClientEvents,
    ) -> None:
        self._state = state
        self._env = env
        self._sideband = sideband
        self._client_events = client_events

    def _faults(self, name: str) -> Faults:
        return Faults.applying(self._state.faults, self._env.faults, name)

    # ------------------------------------------------------------------ REST

    def record_request(self, record: RestRequest) -> None:
        """A REST request for this call arrived (it is answered later)."""
        self._state.requests.append(record)
        self._state.changed()

    def request_replied(self, record: RestRequest) -> None:
        """``record.status`` is set: the request for this call was replied to."""
        self._state.changed()

    def accept(self, body: dict[str, Any]) -> SessionProblem | None:
        """Accept the ringing call with ``body``, the session it asks for. Returns the
        problem the real API refuses the body for (nothing changes then); problems it
        lets through are recorded in ``warnings``, strict-mode ones in ``violations``."""
        self._state.violations += self._env.strict.accept_body(body)
        problems = check_session_fields({}, body, prefix="", initial=True)
        for problem in problems:
            if not problem.fatal:
                self._state.warn(f"accept: {problem.message}")
        fatal = [p for p in problems if p.fatal]
        if fatal:
            return fatal[0]
        self._state.accept_body = copy.deepcopy(body)
        session = default_session(self._env.ids.session(), int(time.time()))
        apply_session_fields(session, body, prefix="", initial=True)
        self._state.session = session
        self._state.phase = "accepted"
        self._state.accepted_at = self._env.now()
        if self._state.ring_timer is not None:
            self._state.ring_timer.cancel()
        self._state.changed()
        return None

    def reject(self, status_code: int) -> None:
        """Reject the ringing call with this SIP status."""
        self._state.reject_status = status_code
        self.end("rejected")

    def refer(self, target: str) -> None:
        """Transfer the accepted call to ``target``: it rings (``Faults.refer_ring_s``),
        then the call leaves OpenAI as ``transferred``, unless the refer vanishes
        (``Faults.refer_vanishes``) and the call stays up."""
        state = self._state
        now = self._env.now()
        ringing = state.refer_ringing
        if ringing is not None and now < ringing[0]:
            # [inf] OpenAI hands every refer to the trunk and tracks no transfer in
            # progress, so a second one is answered 200 and the trunk gets a second
            # REFER: two transfers. Recorded so tests can assert it never happens.
            state.warn(
                f"refer to {target} while the refer to {ringing[1]} still rings: "
                "a second transfer of one call"
            )
        state.refer_targets.append(target)
        ring_s = max(state.faults.refer_ring_s, self._env.faults.refer_ring_s)
        # The caller is on hold while the target rings; the call leaves once it answers.
        leaves_in = ring_s + self._env.timing.refer_end_s
        state.refer_ringing = (now + leaves_in, target)
        if state.faults.refer_vanished(target) or self._env.faults.refer_vanished(target):
            state.warn(f"refer to {target} vanished: the call stays up")
        else:
            asyncio.get_running_loop().call_later(leaves_in, self.end, "transferred")

    def hang_up(self) -> None:
        """Hang up: the call is over now; its sockets drop ``Timing.hangup_drop_s`` later
        (the 200 goes out first)."""
        self.end("hangup", drop_after_s=max(self._env.timing.hangup_drop_s, 0.001))

    def ring_for(self, seconds: float) -> None:
        """The caller gives up if the call is not answered within ``seconds``."""
        self._state.ring_timer = asyncio.get_running_loop().call_later(seconds, self._give_up)

    def _give_up(self) -> None:
        if self._state.phase == "pending":
            self.end("not_answered")

    def end(self, reason: str, *, drop_after_s: float = 0.0) -> None:
        """End the call now; drop its sockets (no close frame) after ``drop_after_s``."""
        state = self._state
        if state.ended:
            return
        state.phase = "ended"
        state.end_reason = reason
        state.ended_at = self._env.now()
        if state.ring_timer is not None:
            state.ring_timer.cancel()
        self.stop()
        state.active = None
        state.audio_queue = []
        state.nudge_pending = False
        if drop_after_s > 0:
            asyncio.get_running_loop().call_later(drop_after_s, self._sideband.drop)
        else:
            self._sideband.drop()
        log.debug("sim call %s ended: %s", state.call_id, reason)
        state.changed()

    def stop(self) -> None:
        """Cancel the call's own tasks (responses, playback, nudges)."""
        for task in list(self._state.tasks):
            task.cancel()

    # ------------------------------------------------------------------ sideband

    def takes_sideband(self) -> bool:
        """Whether a sideband may attach now: only to an accepted call that is still up
        (else the handshake is refused 404 call_id_not_found)."""
        if self._state.phase == "accepted" and self.caller_gone() == "404":
            # Accept answered 200, but the caller had already hung up. [obs]
            self.end("caller_hangup")
        return self._state.phase == "accepted"

    def sideband_fault(self) -> int | None:
        """The HTTP status ``Faults.sideband_status`` refuses this handshake with, or None
        (counts it down)."""
        return self._faults("sideband_status").take_sideband_status() or None

    def caller_gone(self) -> str | None:
        """``Faults.caller_gone_on_accept`` for this call ("404", "close" or None)."""
        return self._faults("caller_gone_on_accept").caller_gone_on_accept

    def handshake(self, headers: dict[str, str]) -> None:
        """A sideband handshake is let through; ``headers`` as received (authorization
        redacted, names in lower case)."""
        self._state.sideband_handshakes.append(headers)
        if headers.get("openai-beta"):
            self._state.warn(
                "sideband opened with an OpenAI-Beta header: that selects the beta protocol"
            )

    def connect(self, conn: SidebandConnection) -> bool:
        """A sideband is open (its 101 sent). False: the caller hung up while the call
        rang, so the call is over and ``conn`` must be dropped."""
        if self.caller_gone() == "close":
            # The handshake went through, then the socket drops without a close frame,
            # as on any call end. [inf]
            self.end("caller_hangup")
            return False
        self._sideband.attach(conn)
        assert self._state.session is not None
        # Whether a sideband attaching to a SIP call receives session.created is not
        # confirmed; sending it matches the WebSocket API and the Agents SDK's behaviour.
        self._sideband.emit(
            {"type": "session.created", "session": copy.deepcopy(self._state.session)}
        )
        return True

    def receive(self, text: str) -> None:
        """A text frame the client sent on a sideband of this call."""
        self._client_events.receive(text)

    def disconnect(self, conn: SidebandConnection) -> None:
        """A sideband of this call is gone (either side closed or dropped it)."""
        self._sideband.detach(conn)
