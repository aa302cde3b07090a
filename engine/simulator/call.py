"""One simulated SIP call, as tests see it and drive it.

Event shapes and order follow the GA Realtime API as described in the reference notes
(shared/reference/openai-realtime-sip.md §4). Everything a test may want to check is
recorded on the call: REST requests, client events received, server events sent, and
how the call ended.

``SimCall`` is put together from one declared state and five parts, each a class that
receives that state and the simulator's ``Environment`` (ids, clock, timing, faults,
responder, strictness):

- ``CallState`` (state.py): everything the call knows;
- ``Sideband`` (sideband.py): the server events it sends and the sockets they go to;
- ``Responses`` (response.py): the model's responses and the playback of their audio;
- ``ClientEvents`` (client_events.py): what the client sends, answered;
- ``CallControl`` (control.py): accept, reject, refer, hang up, sideband admission; the
  simulator's HTTP server uses it as ``call.control``;
- ``Caller`` (caller.py): what the caller does.

Each part knows only those before it in this list, so the modules import one way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.simulator.caller import Caller
from engine.simulator.client_events import ClientEvents
from engine.simulator.control import CallControl
from engine.simulator.environment import Environment
from engine.simulator.faults import Faults
from engine.simulator.model import ModelTurn, ResponseRequest, ScriptedModel
from engine.simulator.records import Recorded, RestRequest
from engine.simulator.response import Responses
from engine.simulator.sideband import Sideband
from engine.simulator.state import CallState, Phase
from engine.simulator.strict import server_event_problems

__all__ = ["Responder", "SimCall"]


class SimCall:
    """A call as OpenAI sees it. Created by ``Simulator.place_call`` or ``new_call``.

    State goes ``pending`` → ``accepted`` → ``ended`` (or ``pending`` → ``ended`` when
    rejected, unanswered or the caller gives up). Caller actions (``say``, ``press``,
    ``stay_silent``, ``hang_up``) and model scripting (``call.model``) are available
    once a sideband is connected; events emitted with no sideband attached are recorded
    but reach nobody, as on the real service.

    Whether the call is still up at OpenAI: ``state`` / ``ended`` / ``end_reason``, or
    ``await wait_ended()``. What the caller hears: ``playing`` (the response whose audio
    plays now), ``played_out`` and ``cleared`` (responses whose audio ended, in order).
    A sideband may drop (``drop_sideband``) and a new one attach while the call goes on.
    """

    def __init__(
        self,
        call_id: str,
        env: Environment,
        *,
        sip_headers: list[dict[str, str]] | None = None,
        media_security: str | None = None,
    ) -> None:
        self._state = state = CallState(
            call_id=call_id,
            conversation_id=env.ids.conversation(),
            sip_headers=sip_headers or [],
            media_security=media_security,
        )
        self._sideband = Sideband(state, env)
        self._responses = Responses(state, env, self._sideband)
        client_events = ClientEvents(state, env, self._sideband, self._responses)
        #: What the simulator's HTTP server does to this call (REST and sideband).
        self.control = CallControl(state, env, self._sideband, client_events)
        self._caller = Caller(state, env, self._sideband, self._responses, self.control)

    # ------------------------------------------------------------------ what it is

    @property
    def call_id(self) -> str:
        return self._state.call_id

    @property
    def sip_headers(self) -> list[dict[str, str]]:
        return self._state.sip_headers

    @property
    def media_security(self) -> str | None:
        return self._state.media_security

    @property
    def state(self) -> Phase:
        """``pending``, ``accepted`` or ``ended``."""
        return self._state.phase

    @property
    def ended(self) -> bool:
        return self._state.ended

    @property
    def end_reason(self) -> str | None:
        """``hangup``, ``transferred``, ``rejected``, ``caller_hangup``, ``not_answered``…"""
        return self._state.end_reason

    @property
    def ended_at(self) -> float | None:
        return self._state.ended_at

    @property
    def accepted(self) -> bool:
        return self._state.accepted_at is not None

    @property
    def accepted_at(self) -> float | None:
        return self._state.accepted_at

    @property
    def accept_body(self) -> dict[str, Any] | None:
        return self._state.accept_body

    @property
    def session(self) -> dict[str, Any] | None:
        """The effective Realtime session (None until accepted)."""
        return self._state.session

    @property
    def reject_status(self) -> int | None:
        return self._state.reject_status

    @property
    def refer_targets(self) -> list[str]:
        return self._state.refer_targets

    @property
    def connected(self) -> bool:
        """A sideband is attached and up."""
        return self._state.connected

    @property
    def response_active(self) -> bool:
        return self._state.active is not None

    @property
    def playing(self) -> str | None:
        """The id of the response whose audio the caller is hearing now (None: silence).
        Audio of a later response waits behind it in the output buffer."""
        queue = self._state.audio_queue
        return queue[0].id if queue else None

    @property
    def played_out(self) -> list[str]:
        """Ids of the responses whose audio the caller heard to the end, in order."""
        return self._state.played_out

    @property
    def cleared(self) -> list[str]:
        """Ids of the responses whose audio was cut (clear or barge-in), in order."""
        return self._state.cleared

    @property
    def nudge_pending(self) -> bool:
        """True between ``input_audio_buffer.timeout_triggered`` and the nudge's
        ``response.created`` (see ``Timing.nudge_delay_s``)."""
        return self._state.nudge_pending

    # ------------------------------------------------------------------ set-up

    @property
    def faults(self) -> Faults:
        """This call's faults; they win over the simulator's (``sim.faults``)."""
        return self._state.faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        self._state.faults = value

    @property
    def model(self) -> ScriptedModel:
        """The scripted model: ``call.model.speak(...)``, ``call_tool(...)``, ``nudge(...)``."""
        return self._state.model

    @property
    def transcript_after_response(self) -> bool:
        """Caller transcripts come after the response they triggered has started (True,
        the default: the order that breaks naive code) or before it."""
        return self._state.transcript_after_response

    @transcript_after_response.setter
    def transcript_after_response(self, value: bool) -> None:
        self._state.transcript_after_response = value

    # ------------------------------------------------------------------ records

    @property
    def requests(self) -> list[RestRequest]:
        return self._state.requests

    @property
    def client_events(self) -> list[Recorded]:
        return self._state.client_events

    @property
    def server_events(self) -> list[Recorded]:
        return self._state.server_events

    @property
    def warnings(self) -> list[str]:
        """Things the real API lets through that a test should know about."""
        return self._state.warnings

    @property
    def violations(self) -> list[str]:
        """Strict mode: client events and accept bodies the ``openai`` SDK would refuse."""
        return self._state.violations

    @property
    def sideband_handshakes(self) -> list[dict[str, str]]:
        """Headers of each sideband handshake let through (authorization redacted)."""
        return self._state.sideband_handshakes

    def client_event_types(self) -> list[str]:
        return [r.type for r in self._state.client_events]

    def server_event_types(self) -> list[str]:
        return [r.type for r in self._state.server_events]

    def client_events_of(self, type_: str) -> list[dict[str, Any]]:
        return [r.event for r in self._state.client_events if r.type == type_]

    def server_events_of(self, type_: str) -> list[dict[str, Any]]:
        return [r.event for r in self._state.server_events if r.type == type_]

    def server_event_violations(self) -> list[str]:
        """Server events sent on this call that the ``openai`` SDK's models would not
        parse (empty without the SDK). Checked on demand, not while the call runs."""
        return [p for r in self._state.server_events for p in server_event_problems(r.event)]

    def requests_for(self, action: str) -> list[RestRequest]:
        return [r for r in self._state.requests if r.action == action]

    # ------------------------------------------------------------------ waiting

    async def wait_until(
        self,
        predicate: Callable[[], Any],
        *,
        timeout: float | None = 2.0,
        what: str = "condition",
    ) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked on every change of this
        call) and return its value. Raises ``TimeoutError`` describing the call
        (``timeout=None``: no limit, for the simulator's own tasks, which end with the
        call)."""
        return await self._state.wait_until(predicate, timeout, what)

    async def wait_for_client_event(
        self,
        type_: str,
        *,
        timeout: float = 2.0,
        count: int = 1,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """The ``count``-th client event of this type received on this call (counting
        from the start of the call), waiting for it if needed."""
        found: dict[str, Any] = await self.wait_until(
            lambda: _nth(self._state.client_events, type_, count, where),
            timeout=timeout,
            what=f"client event #{count} {type_!r}",
        )
        return found

    async def wait_for_server_event(
        self,
        type_: str,
        *,
        timeout: float = 2.0,
        count: int = 1,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """Like ``wait_for_client_event`` for events the simulator sent."""
        found: dict[str, Any] = await self.wait_until(
            lambda: _nth(self._state.server_events, type_, count, where),
            timeout=timeout,
            what=f"server event #{count} {type_!r}",
        )
        return found

    async def wait_for_request(
        self, action: str, *, timeout: float = 2.0, count: int = 1
    ) -> RestRequest:
        """The ``count``-th REST request for ``action`` (accept/reject/refer/hangup)."""

        def check() -> RestRequest | None:
            found = self.requests_for(action)
            return found[count - 1] if len(found) >= count else None

        return await self._state.wait_until(check, timeout, f"REST {action} #{count}")

    async def wait_connected(self, *, timeout: float = 2.0) -> None:
        await self.wait_until(lambda: self.connected, timeout=timeout, what="sideband connect")

    async def wait_ended(self, *, timeout: float = 2.0) -> str:
        """Wait for the call to end; returns the reason (``hangup``, ``transferred``,
        ``rejected``, ``caller_hangup``, ``not_answered``...)."""
        return await self._state.wait_until(
            lambda: self._state.end_reason if self._state.ended else None, timeout, "call end"
        )

    async def wait_idle(self, *, timeout: float = 2.0) -> None:
        """Wait until no response is generating, no audio is playing and no nudge is
        about to be created.

        Idle is checked against what the simulator has received: right after a client
        sends ``response.create`` the call may still look idle. Wait for the client event
        (``wait_for_client_event``) or a server event first.
        """
        await self.wait_until(lambda: self._state.idle, timeout=timeout, what="model idle")

    # ------------------------------------------------------------------ the caller

    async def say(self, text: str) -> None:
        """The caller speaks (see ``Caller.say``); returns once the caller's events are
        out, the response continues in the background."""
        await self._caller.say(text)

    async def press(self, digit: str) -> None:
        """The caller presses a key (DTMF)."""
        await self._caller.press(digit)

    async def stay_silent(self) -> bool:
        """The caller says nothing for ``idle_timeout_ms`` (see ``Caller.stay_silent``);
        False (and a warning) when no idle timeout can fire."""
        return await self._caller.stay_silent()

    async def hang_up(self) -> None:
        """The caller hangs up: the sideband drops without a close frame and the call is
        gone (REST calls for it answer 404)."""
        await self._caller.hang_up()

    # ------------------------------------------------------------------ the model

    def release(self) -> None:
        """Let a response scripted with ``hold=True`` finish."""
        self._responses.release()

    # ------------------------------------------------------------------ the sideband

    def emit(self, event: dict[str, Any]) -> None:
        """Send any server event exactly as given (no ``event_id`` is added)."""
        self._sideband.send(event)

    def emit_text(self, text: str) -> None:
        """Send a raw text frame, e.g. something that is not JSON (not recorded)."""
        self._sideband.send_raw_text(text)

    def close_sideband(self, code: int = 1000, reason: str = "") -> None:
        """Close the sideband with a proper close frame; the call stays up."""
        self._sideband.close(code, reason)

    def drop_sideband(self, code: int | None = None) -> None:
        """The sideband fails while the SIP call stays up, as a network failure or a
        server restart would. ``code`` None (or 1006): the TCP connection is cut without
        a close frame (the client sees 1006); a code such as 1011: that close frame is
        sent, then the connection closes. The call, its conversation and its state carry
        on: a new sideband to the same call id is accepted and gets the events from then
        on (those emitted meanwhile reach nobody)."""
        self._sideband.drop(code)

    def _end(self, reason: str, *, drop_after_s: float = 0.0) -> None:
        # Kept for tests written before ``call.control`` existed; use ``control.end``.
        self.control.end(reason, drop_after_s=drop_after_s)


# What the simulator-wide ``sim.responder`` hook is: given the call and what the model
# was asked for, the turn to play, or None for the default (engine/simulator/model.py).
Responder = Callable[[SimCall, ResponseRequest], ModelTurn | None]


def _nth(
    records: list[Recorded],
    type_: str,
    count: int,
    where: Callable[[dict[str, Any]], bool] | None,
) -> dict[str, Any] | None:
    seen = 0
    for record in records:
        if record.type == type_ and (where is None or where(record.event)):
            seen += 1
            if seen == count:
                return record.event
    return None
