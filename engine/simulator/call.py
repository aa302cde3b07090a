"""One simulated SIP call: its state, its sideband, the scripted model and caller.

Event shapes and order follow the GA Realtime API as described in the reference notes
(shared/reference/openai-realtime-sip.md §4). Everything a test may want to check is
recorded on the call: REST requests, client events received, server events sent, and
how the call ended.

``SimCall`` keeps the call's state, its waiting helpers and its sideband I/O; the rest
comes from mixins: ``client_events`` (what the client sends), ``response`` (the model's
responses and their playback) and ``caller`` (what the caller does).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.simulator.caller import CallerMixin
from engine.simulator.client_events import ClientEventsMixin
from engine.simulator.connection import SidebandConnection
from engine.simulator.faults import Faults
from engine.simulator.model import ScriptedModel
from engine.simulator.records import Recorded, RestRequest, Waiters
from engine.simulator.response import ResponseMixin, SimResponse
from engine.simulator.session import apply_session_fields, default_session
from engine.simulator.strict import server_event_problems

if TYPE_CHECKING:
    from engine.simulator.server import Simulator

__all__ = ["SidebandConnection", "SimCall"]

log = logging.getLogger(__name__)


class SimCall(ClientEventsMixin, ResponseMixin, CallerMixin):
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
        sim: Simulator,
        call_id: str,
        *,
        sip_headers: list[dict[str, str]] | None = None,
        media_security: str | None = None,
    ) -> None:
        self._sim = sim
        self.call_id = call_id
        self.sip_headers = sip_headers or []
        self.media_security = media_security
        self.state = "pending"
        self.end_reason: str | None = None
        self.ended_at: float | None = None
        self.accepted_at: float | None = None
        self.accept_body: dict[str, Any] | None = None
        self.session: dict[str, Any] | None = None
        self.reject_status: int | None = None
        self.refer_targets: list[str] = []
        self.requests: list[RestRequest] = []
        self.client_events: list[Recorded] = []
        self.server_events: list[Recorded] = []
        self.warnings: list[str] = []
        self.violations: list[str] = []
        # Headers of each sideband handshake (authorization redacted).
        self.sideband_handshakes: list[dict[str, str]] = []
        self.faults = Faults()
        self.model = ScriptedModel()
        # Caller transcripts arrive after the response they triggered has started (the
        # real ordering is not guaranteed; this is the order that breaks naive code).
        self.transcript_after_response = True
        self._connections: list[SidebandConnection] = []
        self._conversation_id = sim.ids.conversation()
        self._items: list[str] = []  # item ids in conversation order
        self._item_bodies: dict[str, dict[str, Any]] = {}
        self._tool_calls: dict[str, str] = {}  # call_id -> item status
        self._tool_outputs: set[str] = set()
        self._active: SimResponse | None = None
        # Responses whose audio is still in the output buffer (usually zero or one).
        self._playing: list[SimResponse] = []
        # Response ids whose audio the caller heard to the end (output_audio_buffer.stopped)
        # and whose audio was cut (output_audio_buffer.cleared: clear or barge-in), in order.
        self.played_out: list[str] = []
        self.cleared: list[str] = []
        self._nudge_pending = False  # timeout_triggered sent, nudge not created yet
        self._audio_produced = False
        self._audio_ms = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._waiters = Waiters()
        self._ring_timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ properties

    @property
    def ended(self) -> bool:
        return self.state == "ended"

    @property
    def accepted(self) -> bool:
        return self.accepted_at is not None

    @property
    def connected(self) -> bool:
        return any(not c.dropped for c in self._connections)

    @property
    def response_active(self) -> bool:
        return self._active is not None

    @property
    def playing(self) -> str | None:
        """The id of the response whose audio the caller is hearing now (None: silence).
        Audio of a later response waits behind it in the output buffer."""
        return self._playing[0].id if self._playing else None

    @property
    def nudge_pending(self) -> bool:
        """True between ``input_audio_buffer.timeout_triggered`` and the nudge's
        ``response.created`` (see ``Timing.nudge_delay_s``)."""
        return self._nudge_pending

    def client_event_types(self) -> list[str]:
        return [r.type for r in self.client_events]

    def server_event_types(self) -> list[str]:
        return [r.type for r in self.server_events]

    def client_events_of(self, type_: str) -> list[dict[str, Any]]:
        return [r.event for r in self.client_events if r.type == type_]

    def server_events_of(self, type_: str) -> list[dict[str, Any]]:
        return [r.event for r in self.server_events if r.type == type_]

    def server_event_violations(self) -> list[str]:
        """Server events sent on this call that the ``openai`` SDK's models would not
        parse (empty without the SDK). Checked on demand, not while the call runs."""
        return [p for r in self.server_events for p in server_event_problems(r.event)]

    def requests_for(self, action: str) -> list[RestRequest]:
        return [r for r in self.requests if r.action == action]

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
        return await self._waiters.wait(predicate, timeout, what, self._describe)

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
        return await self.wait_until(
            lambda: _nth(self.client_events, type_, count, where),
            timeout=timeout,
            what=f"client event #{count} {type_!r}",
        )

    async def wait_for_server_event(
        self,
        type_: str,
        *,
        timeout: float = 2.0,
        count: int = 1,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """Like ``wait_for_client_event`` for events the simulator sent."""
        return await self.wait_until(
            lambda: _nth(self.server_events, type_, count, where),
            timeout=timeout,
            what=f"server event #{count} {type_!r}",
        )

    async def wait_for_request(
        self, action: str, *, timeout: float = 2.0, count: int = 1
    ) -> RestRequest:
        """The ``count``-th REST request for ``action`` (accept/reject/refer/hangup)."""

        def check() -> RestRequest | None:
            found = self.requests_for(action)
            return found[count - 1] if len(found) >= count else None

        return await self.wait_until(check, timeout=timeout, what=f"REST {action} #{count}")

    async def wait_connected(self, *, timeout: float = 2.0) -> None:
        await self.wait_until(lambda: self.connected, timeout=timeout, what="sideband connect")

    async def wait_ended(self, *, timeout: float = 2.0) -> str:
        """Wait for the call to end; returns the reason (``hangup``, ``transferred``,
        ``rejected``, ``caller_hangup``, ``not_answered``...)."""
        return await self.wait_until(
            lambda: self.end_reason if self.ended else None, timeout=timeout, what="call end"
        )

    async def wait_idle(self, *, timeout: float = 2.0) -> None:
        """Wait until no response is generating, no audio is playing and no nudge is
        about to be created.

        Idle is checked against what the simulator has received: right after a client
        sends ``response.create`` the call may still look idle. Wait for the client event
        (``wait_for_client_event``) or a server event first.
        """
        await self.wait_until(
            lambda: self._active is None and not self._playing and not self._nudge_pending,
            timeout=timeout,
            what="model idle",
        )

    def _describe(self) -> str:
        recent = ", ".join(self.server_event_types()[-4:]) or "none"
        got = ", ".join(self.client_event_types()[-4:]) or "none"
        return (
            f"call {self.call_id} state={self.state}, last client events: {got}; "
            f"last server events: {recent}"
        )

    def _changed(self) -> None:
        self._waiters.notify()

    # ------------------------------------------------------------------ lifecycle

    def _accept(self, body: dict[str, Any]) -> None:
        self.accept_body = copy.deepcopy(body)
        session = default_session(self._sim.ids.session(), int(time.time()))
        # Problems were checked by the REST handler; this applies the body.
        apply_session_fields(session, body, prefix="", initial=True)
        self.session = session
        self.state = "accepted"
        self.accepted_at = self._sim.now()
        if self._ring_timer is not None:
            self._ring_timer.cancel()
        self._changed()

    def _end(self, reason: str, *, drop_after_s: float = 0.0) -> None:
        """End the call now; drop its sockets (no close frame) after ``drop_after_s``."""
        if self.ended:
            return
        self.state = "ended"
        self.end_reason = reason
        self.ended_at = self._sim.now()
        if self._ring_timer is not None:
            self._ring_timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        self._active = None
        self._playing = []
        self._nudge_pending = False
        if drop_after_s > 0:
            asyncio.get_running_loop().call_later(drop_after_s, self._drop_all)
        else:
            self._drop_all()
        log.debug("sim call %s ended: %s", self.call_id, reason)
        self._changed()

    def _drop_all(self) -> None:
        for conn in self._connections:
            if not conn.dropped:
                conn.drop()
        self._changed()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _faults_for(self, name: str) -> Faults:
        """The ``Faults`` whose setting ``name`` applies: this call's, else the simulator's."""
        return Faults.applying(self.faults, self._sim.faults, name)

    def _warn(self, message: str) -> None:
        log.debug("sim call %s: %s", self.call_id, message)
        self.warnings.append(message)
        self._changed()

    # ------------------------------------------------------------------ sideband I/O

    def _attach(self, conn: SidebandConnection) -> None:
        self._connections.append(conn)
        assert self.session is not None
        # Whether a sideband attaching to a SIP call receives session.created is not
        # confirmed; sending it matches the WebSocket API and the Agents SDK's behaviour.
        self._emit({"type": "session.created", "session": copy.deepcopy(self.session)})
        self._changed()

    def _detach(self, conn: SidebandConnection) -> None:
        conn.dropped = True
        self._changed()

    def emit(self, event: dict[str, Any]) -> None:
        """Send any server event exactly as given (no ``event_id`` is added)."""
        self._send(event)

    def _append_item(self, item: dict[str, Any]) -> str | None:
        """Put an item at the end of the conversation; returns the id of the one before it
        (the ``previous_item_id`` of the events that announce it)."""
        previous = self._items[-1] if self._items else None
        self._items.append(item["id"])
        self._item_bodies[item["id"]] = item
        return previous

    def _emit(self, event: dict[str, Any]) -> dict[str, Any]:
        """Send a server event with a fresh ``event_id`` first, as the real API does."""
        full = {"type": event["type"], "event_id": self._sim.ids.event()}
        full.update({k: v for k, v in event.items() if k != "type"})
        self._send(full)
        return full

    def _send(self, event: dict[str, Any]) -> None:
        self.server_events.append(Recorded(self._sim.now(), event))
        for conn in self._connections:
            conn.send(event)
        self._changed()

    def _error(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        client_event_id: str | None = None,
        type_: str = "invalid_request_error",
    ) -> None:
        self._emit(
            {
                "type": "error",
                "error": {
                    "type": type_,
                    "code": code,
                    "message": message,
                    "param": param,
                    "event_id": client_event_id,
                },
            }
        )


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
