"""One simulated SIP call: its state, its sideband, the scripted model and caller.

Event shapes and order follow the GA Realtime API as described in the reference notes
(shared/reference/openai-realtime-sip.md §4). Everything a test may want to check is
recorded on the call: REST requests, client events received, server events sent, and
how the call ended.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from websockets.protocol import State

from engine.simulator.faults import Faults
from engine.simulator.model import (
    ModelTurn,
    ResponseRequest,
    ScriptedModel,
    ToolCall,
    default_turn,
)
from engine.simulator.records import Recorded, RestRequest, Waiters
from engine.simulator.session import apply_session_fields, default_session

if TYPE_CHECKING:
    from websockets.server import ServerProtocol

    from engine.simulator.server import Simulator

__all__ = ["SidebandConnection", "SimCall"]

log = logging.getLogger(__name__)

DTMF_EVENTS = frozenset("0123456789*#ABCD")
CLIENT_EVENT_TYPES = (
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.clear",
    "output_audio_buffer.clear",
    "input_audio_buffer.commit",
    "response.cancel",
    "response.create",
    "conversation.item.create",
    "conversation.item.delete",
    "conversation.item.retrieve",
    "conversation.item.truncate",
)
# Rough speech rates to give audio_*_ms fields plausible, deterministic values.
CALLER_MS_PER_CHAR = 60
ASSISTANT_MS_PER_CHAR = 70


class SidebandConnection:
    """One accepted WebSocket, driven through websockets' sans-I/O protocol."""

    def __init__(self, protocol: ServerProtocol, writer: asyncio.StreamWriter) -> None:
        self.protocol = protocol
        self.writer = writer
        self.dropped = False

    def flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if self.writer.is_closing():
                return
            if chunk:
                self.writer.write(chunk)
            else:
                self.writer.close()  # the protocol asks for EOF after a close handshake

    @property
    def open(self) -> bool:
        return (
            not self.dropped and not self.writer.is_closing() and self.protocol.state is State.OPEN
        )

    def send(self, event: dict[str, Any]) -> bool:
        if not self.open:
            return False  # closing or gone: events are lost, as on the real service
        self.protocol.send_text(json.dumps(event).encode())
        self.flush()
        return True

    def drop(self) -> None:
        """Cut the TCP connection without a close frame (the peer sees 1006)."""
        self.dropped = True
        self.writer.transport.abort()

    def send_raw_text(self, text: str) -> None:
        if self.open:
            self.protocol.send_text(text.encode())
            self.flush()

    def close(self, code: int, reason: str) -> None:
        """A clean close handshake (not what OpenAI is known to do; for tests)."""
        if self.open:
            self.protocol.send_close(code, reason)
            self.flush()


@dataclass
class _Response:
    id: str
    params: dict[str, Any]
    turn: ModelTurn
    in_conversation: bool
    modalities: list[str]
    trigger: str = "response.create"
    on_created: list[Callable[[], None]] = field(default_factory=list)
    output: list[dict[str, Any]] = field(default_factory=list)
    current: dict[str, Any] | None = None  # the item being generated
    partial: str = ""  # its transcript / arguments so far
    output_index: int = 0
    audio_started: bool = False
    generated: bool = False  # response.done has been sent
    spoken_chars: int = 0
    task: asyncio.Task[None] | None = None
    release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def audio(self) -> bool:
        return "audio" in self.modalities


class SimCall:
    """A call as OpenAI sees it. Created by ``Simulator.place_call`` or ``new_call``.

    State goes ``pending`` → ``accepted`` → ``ended`` (or ``pending`` → ``ended`` when
    rejected, unanswered or the caller gives up). Caller actions (``say``, ``press``,
    ``stay_silent``, ``hang_up``) and model scripting (``call.model``) are available
    once a sideband is connected; events emitted with no sideband attached are recorded
    but reach nobody, as on the real service.
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
        self._active: _Response | None = None
        # Responses whose audio is still in the output buffer (usually zero or one).
        self._playing: list[_Response] = []
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

    def client_event_types(self) -> list[str]:
        return [r.type for r in self.client_events]

    def server_event_types(self) -> list[str]:
        return [r.type for r in self.server_events]

    def client_events_of(self, type_: str) -> list[dict[str, Any]]:
        return [r.event for r in self.client_events if r.type == type_]

    def server_events_of(self, type_: str) -> list[dict[str, Any]]:
        return [r.event for r in self.server_events if r.type == type_]

    def requests_for(self, action: str) -> list[RestRequest]:
        return [r for r in self.requests if r.action == action]

    # ------------------------------------------------------------------ waiting

    async def wait_until(
        self, predicate: Callable[[], Any], *, timeout: float = 2.0, what: str = "condition"
    ) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked on every change of this
        call) and return its value. Raises ``TimeoutError`` describing the call."""
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
        """Wait until no response is generating and no audio is playing.

        Idle is checked against what the simulator has received: right after a client
        sends ``response.create`` the call may still look idle. Wait for the client event
        (``wait_for_client_event``) or a server event first.
        """
        await self.wait_until(
            lambda: self._active is None and not self._playing,
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

    def _on_client_text(self, text: str) -> None:
        try:
            event = json.loads(text)
        except json.JSONDecodeError:
            self.client_events.append(Recorded(self._sim.now(), {"type": None, "raw": text}))
            self._error("The event is not valid JSON.", code="invalid_json")  # [inf]
            return
        if not isinstance(event, dict):
            self._error("The event must be a JSON object.", code="invalid_event")  # [inf]
            return
        self.client_events.append(Recorded(self._sim.now(), event))
        self.violations += self._sim.strict_client_event(event)
        if self.ended:
            return
        try:
            self._dispatch(event)
        finally:
            self._changed()

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        eid = event.get("event_id")
        if kind is None:
            self._error("The 'type' field is missing.", code="invalid_event", client_event_id=eid)
        elif kind == "session.update":
            self._on_session_update(event)
        elif kind == "response.create":
            self._on_response_create(event)
        elif kind == "response.cancel":
            self._on_response_cancel(event)
        elif kind == "conversation.item.create":
            self._on_item_create(event)
        elif kind == "conversation.item.delete":
            self._on_item_delete(event)
        elif kind == "conversation.item.retrieve":
            item_id = event.get("item_id")
            if item_id in self._item_bodies:
                self._emit(
                    {
                        "type": "conversation.item.retrieved",
                        "item": copy.deepcopy(self._item_bodies[item_id]),
                    }
                )
            else:
                self._item_not_found(item_id, eid)
        elif kind == "conversation.item.truncate":
            item_id = event.get("item_id")
            if item_id in self._item_bodies:
                self._emit(
                    {
                        "type": "conversation.item.truncated",
                        "item_id": item_id,
                        "content_index": event.get("content_index", 0),
                        "audio_end_ms": event.get("audio_end_ms", 0),
                    }
                )
            else:
                self._item_not_found(item_id, eid)
        elif kind == "output_audio_buffer.clear":
            for resp in list(self._playing):
                self._stop_playback(resp, cleared=True)
        elif kind in ("input_audio_buffer.append", "input_audio_buffer.commit"):
            # Over SIP the caller's audio comes from the SIP leg; these do nothing useful.
            self._warn(f"client sent {kind} on a SIP call; audio comes from the SIP leg")
        elif kind == "input_audio_buffer.clear":
            self._emit({"type": "input_audio_buffer.cleared"})
        else:
            supported = ", ".join(f"'{t}'" for t in CLIENT_EVENT_TYPES)
            self._error(
                f"Invalid value: '{kind}'. Supported values are: {supported}.",
                code="invalid_value",
                param="type",
                client_event_id=eid,
            )

    def _item_not_found(self, item_id: Any, eid: Any) -> None:
        self._error(
            f"Item with item_id not found: {item_id}",  # [inf] exact wording
            code="item_not_found",
            param="item_id",
            client_event_id=eid,
        )

    # ------------------------------------------------------------------ client events

    def _on_session_update(self, event: dict[str, Any]) -> None:
        assert self.session is not None
        eid = event.get("event_id")
        fields = event.get("session")
        if fields is None:
            self._error(
                "Missing required parameter: 'session'.",
                code="missing_required_parameter",
                param="session",
                client_event_id=eid,
            )
            return
        if isinstance(fields, dict) and "type" not in fields:
            # The exact message reported in the field (reference §10 #4).
            self._error(
                "Missing required parameter: 'session.type'.",
                code="missing_required_parameter",
                param="session.type",
                client_event_id=eid,
            )
            return
        problems = apply_session_fields(
            self.session,
            fields,
            prefix="session.",
            initial=False,
            audio_was_produced=self._audio_produced,
        )
        fatal = [p for p in problems if p.fatal]
        for problem in problems:
            if not problem.fatal:
                self._warn(f"session.update: {problem.message}")
        if fatal:
            first = fatal[0]
            self._error(first.message, code=first.code, param=first.param, client_event_id=eid)
            return
        # session.updated does not echo the client's event_id.
        self._emit({"type": "session.updated", "session": copy.deepcopy(self.session)})

    def _on_response_create(self, event: dict[str, Any]) -> None:
        params = event.get("response") or {}
        if not isinstance(params, dict):
            self._error(
                "Invalid type for 'response': expected an object.",
                code="invalid_type",
                param="response",
                client_event_id=event.get("event_id"),
            )
            return
        out_of_band = params.get("conversation") == "none"
        if self._active is not None and not out_of_band:
            # Reference §10 #9; the message is the one widely reported.
            self._error(
                "Conversation already has an active response in progress: "
                f"{self._active.id}. Wait until the response is finished before "
                "creating a new one.",
                code="conversation_already_has_active_response",
                client_event_id=event.get("event_id"),
            )
            return
        self._start_response(ResponseRequest(params=params, trigger="response.create"))

    def _on_response_cancel(self, event: dict[str, Any]) -> None:
        wanted = event.get("response_id")
        active = self._active
        if active is None or (wanted and wanted != active.id):
            self._error(
                "Cancellation failed: no active response found",
                code="response_cancel_not_active",
                client_event_id=event.get("event_id"),
            )
            return
        self._interrupt("client_cancelled")

    def _on_item_create(self, event: dict[str, Any]) -> None:
        eid = event.get("event_id")
        item = event.get("item")
        if not isinstance(item, dict) or "type" not in item:
            self._error(
                "Missing required parameter: 'item.type'.",
                code="missing_required_parameter",
                param="item.type",
                client_event_id=eid,
            )
            return
        item = copy.deepcopy(item)
        kind = item["type"]
        if kind == "function_call_output":
            call_id = item.get("call_id")
            if call_id not in self._tool_calls:
                # The real API answers an unknown call_id with an error. [inf] wording
                self._error(
                    f"Tool call ID '{call_id}' not found in conversation.",
                    code="invalid_tool_call_id",
                    param="item.call_id",
                    client_event_id=eid,
                )
                return
            if not isinstance(item.get("output"), str):
                self._error(
                    "Invalid type for 'item.output': expected a string.",
                    code="invalid_type",
                    param="item.output",
                    client_event_id=eid,
                )
                return
            if call_id in self._tool_outputs:
                self._warn(f"second function_call_output for {call_id}")
            self._tool_outputs.add(call_id)
        elif kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system"):
                self._error(
                    f"Invalid value: '{role}'. Supported values are: 'user', "
                    "'assistant', and 'system'.",
                    code="invalid_value",
                    param="item.role",
                    client_event_id=eid,
                )
                return
            problem = _content_problem(role, item.get("content"))
            if problem is not None:
                message, param = problem
                self._error(message, code="invalid_value", param=param, client_event_id=eid)
                return
        item.setdefault("id", self._sim.ids.item())
        item.setdefault("object", "realtime.item")
        item.setdefault("status", "completed")
        previous = event.get("previous_item_id")
        if previous == "root":
            self._items.insert(0, item["id"])
            previous = None
        elif previous is not None:
            # Documented: an id that cannot be found is an error and nothing is added.
            if previous not in self._items:
                self._error(
                    f"Item with item_id not found: {previous}",  # [inf] exact wording
                    code="item_not_found",
                    param="previous_item_id",
                    client_event_id=eid,
                )
                return
            self._items.insert(self._items.index(previous) + 1, item["id"])
        else:
            previous = self._items[-1] if self._items else None
            self._items.append(item["id"])
        self._item_bodies[item["id"]] = item
        self._emit(
            {
                "type": "conversation.item.added",
                "previous_item_id": previous,
                "item": copy.deepcopy(item),
            }
        )
        self._emit(
            {
                "type": "conversation.item.done",
                "previous_item_id": previous,
                "item": copy.deepcopy(item),
            }
        )
        if (
            kind == "function_call_output"
            and self.faults.auto_response_after_tool_output
            and self._active is None
        ):
            self._start_response(ResponseRequest(params={}, trigger="tool_output"))

    def _on_item_delete(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        if item_id not in self._item_bodies:
            self._item_not_found(item_id, event.get("event_id"))
            return
        del self._item_bodies[item_id]
        if item_id in self._items:
            self._items.remove(item_id)
        self._emit({"type": "conversation.item.deleted", "item_id": item_id})

    # ------------------------------------------------------------------ responses

    def _choose_turn(self, request: ResponseRequest) -> ModelTurn:
        if request.trigger == "idle_timeout":
            turn = self.model.next_nudge()
        else:
            turn = self.model.next_turn()
        if turn is None and self._sim.responder is not None:
            turn = self._sim.responder(self, request)
        return turn if turn is not None else default_turn(request)

    def _start_response(
        self, request: ResponseRequest, on_created: list[Callable[[], None]] | None = None
    ) -> _Response:
        assert self.session is not None
        params = request.params
        modalities = params.get("output_modalities") or self.session["output_modalities"]
        resp = _Response(
            id=self._sim.ids.response(),
            params=params,
            turn=self._choose_turn(request),
            in_conversation=params.get("conversation", "auto") != "none",
            modalities=list(modalities),
            trigger=request.trigger,
            on_created=on_created or [],
        )
        self._check_tools(resp)
        if resp.in_conversation:
            self._active = resp
        # response.created goes out synchronously: from here on the response is active,
        # so a racing response.create is refused exactly as the real server does.
        self._emit({"type": "response.created", "response": self._response_object(resp)})
        for callback in resp.on_created:
            callback()
        resp.task = self._spawn(self._run_response(resp))
        return resp

    def _check_tools(self, resp: _Response) -> None:
        assert self.session is not None
        tools = resp.params.get("tools", self.session.get("tools") or [])
        declared = {t.get("name") for t in tools if isinstance(t, dict)}
        for tool in resp.turn.tool_calls:
            if tool.name not in declared:
                self._warn(f"scripted model called undeclared tool {tool.name!r}")
        choice = resp.params.get("tool_choice", self.session.get("tool_choice"))
        if resp.turn.tool_calls and choice == "none":
            self._warn("scripted model called a tool although tool_choice is 'none'")

    def _response_object(self, resp: _Response, status: str = "in_progress") -> dict[str, Any]:
        assert self.session is not None
        voice = (resp.params.get("audio") or {}).get("output", {}).get("voice") or self.session[
            "audio"
        ]["output"]["voice"]
        return {
            "object": "realtime.response",
            "id": resp.id,
            "status": status,
            "status_details": None,
            "output": [],
            "conversation_id": self._conversation_id if resp.in_conversation else None,
            "output_modalities": resp.modalities,
            "max_output_tokens": resp.params.get(
                "max_output_tokens", self.session.get("max_output_tokens", "inf")
            ),
            "audio": {
                "output": {
                    "format": dict(self.session["audio"]["output"]["format"]),
                    "voice": voice,
                }
            },
            "usage": None,
            "metadata": resp.params.get("metadata"),
        }

    async def _pace(self) -> None:
        await asyncio.sleep(self._sim.timing.delta_interval_s)

    async def _run_response(self, resp: _Response) -> None:
        try:
            if resp.trigger == "idle_timeout":
                await asyncio.sleep(self._sim.timing.nudge_latency_s)
            await self._pace()
            turn = resp.turn
            if turn.text is not None:
                await self._generate_message(resp, turn.text, hold=turn.hold)
            for tool in turn.tool_calls:
                await self._generate_tool_call(resp, tool)
            status = turn.status
            reason = "max_output_tokens" if status == "incomplete" else None
            self._finish_response(resp, status, reason)
            if resp.audio_started:
                await self._play_out(resp)
        except asyncio.CancelledError:
            return  # whoever cancelled has already emitted the right events

    def _add_output_item(self, resp: _Response, item: dict[str, Any]) -> None:
        resp.current = item
        resp.partial = ""
        self._emit(
            {
                "type": "response.output_item.added",
                "response_id": resp.id,
                "output_index": resp.output_index,
                "item": copy.deepcopy(item),
            }
        )
        if resp.in_conversation:
            previous = self._items[-1] if self._items else None
            self._items.append(item["id"])
            self._item_bodies[item["id"]] = item
            self._emit(
                {
                    "type": "conversation.item.added",
                    "previous_item_id": previous,
                    "item": copy.deepcopy(item),
                }
            )

    async def _generate_message(self, resp: _Response, text: str, *, hold: bool) -> None:
        item = {
            "id": self._sim.ids.item(),
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
            "object": "realtime.item",
        }
        self._add_output_item(resp, item)
        audio = resp.audio
        part = {"type": "audio", "transcript": ""} if audio else {"type": "text", "text": ""}
        base = {
            "response_id": resp.id,
            "item_id": item["id"],
            "output_index": resp.output_index,
            "content_index": 0,
        }
        self._emit({"type": "response.content_part.added", **base, "part": part})
        if audio and not resp.audio_started:
            self._start_playback(resp)
        delta_type = (
            "response.output_audio_transcript.delta" if audio else "response.output_text.delta"
        )
        for n, chunk in enumerate(_chunks(text)):
            resp.partial += chunk
            resp.spoken_chars += len(chunk)
            self._emit({"type": delta_type, **base, "delta": chunk})
            await self._pace()
            if hold and n == 0:
                await resp.release.wait()
        self._close_message(resp, status="completed")

    def _close_message(self, resp: _Response, *, status: str) -> None:
        item = resp.current
        assert item is not None
        text = resp.partial
        base = {
            "response_id": resp.id,
            "item_id": item["id"],
            "output_index": resp.output_index,
            "content_index": 0,
        }
        if resp.audio:
            # Over SIP the audio goes to the media path; whether output_audio.done still
            # reaches the sideband is not documented. It is sent (without deltas). [inf]
            self._emit({"type": "response.output_audio.done", **base})
            self._emit(
                {"type": "response.output_audio_transcript.done", **base, "transcript": text}
            )
            part = {"type": "audio", "transcript": text}
            content = {"type": "output_audio", "transcript": text}
        else:
            self._emit({"type": "response.output_text.done", **base, "text": text})
            part = {"type": "text", "text": text}
            content = {"type": "output_text", "text": text}
        self._emit({"type": "response.content_part.done", **base, "part": part})
        item["content"] = [content]
        item["status"] = status
        self._close_item(resp, item)

    def _close_item(self, resp: _Response, item: dict[str, Any]) -> None:
        self._emit(
            {
                "type": "response.output_item.done",
                "response_id": resp.id,
                "output_index": resp.output_index,
                "item": copy.deepcopy(item),
            }
        )
        if resp.in_conversation:
            index = self._items.index(item["id"]) if item["id"] in self._items else 0
            previous = self._items[index - 1] if index > 0 else None
            self._emit(
                {
                    "type": "conversation.item.done",
                    "previous_item_id": previous,
                    "item": copy.deepcopy(item),
                }
            )
        resp.output.append(copy.deepcopy(item))
        resp.output_index += 1
        resp.current = None

    async def _generate_tool_call(self, resp: _Response, tool: ToolCall) -> None:
        call_id = tool.call_id or self._sim.ids.tool_call()
        item = {
            "id": self._sim.ids.item(),
            "type": "function_call",
            "status": "in_progress",
            "name": tool.name,
            "call_id": call_id,
            "arguments": "",
            "object": "realtime.item",
        }
        self._add_output_item(resp, item)
        self._tool_calls[call_id] = "in_progress"
        arguments = tool.arguments_json()
        for chunk in _fixed_chunks(arguments, 16):
            resp.partial += chunk
            self._emit(
                {
                    "type": "response.function_call_arguments.delta",
                    "response_id": resp.id,
                    "item_id": item["id"],
                    "output_index": resp.output_index,
                    "call_id": call_id,
                    "delta": chunk,
                }
            )
            await self._pace()
        self._close_tool_call(resp, status="completed")

    def _close_tool_call(self, resp: _Response, *, status: str) -> None:
        item = resp.current
        assert item is not None
        self._emit(
            {
                "type": "response.function_call_arguments.done",
                "response_id": resp.id,
                "item_id": item["id"],
                "output_index": resp.output_index,
                "call_id": item["call_id"],
                "name": item["name"],
                "arguments": resp.partial,
            }
        )
        item["arguments"] = resp.partial
        item["status"] = status
        self._tool_calls[item["call_id"]] = status
        self._close_item(resp, item)

    def _finish_response(self, resp: _Response, status: str, reason: str | None = None) -> None:
        obj = self._response_object(resp, status)
        obj["output"] = copy.deepcopy(resp.output)
        if status != "completed":
            obj["status_details"] = {"type": status, "reason": reason}
            if status == "failed":
                obj["status_details"] = {
                    "type": "failed",
                    "error": {"type": "server_error", "code": None, "message": "simulated"},
                }
        obj["usage"] = _usage(resp)
        resp.generated = True
        if self._active is resp:
            self._active = None
        self._emit({"type": "response.done", "response": obj})
        self._emit(
            {
                "type": "rate_limits.updated",
                "rate_limits": [
                    {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
                    {"name": "tokens", "limit": 800000, "remaining": 795000, "reset_seconds": 0.3},
                ],
            }
        )

    def _start_playback(self, resp: _Response) -> None:
        for previous in list(self._playing):
            if previous.generated:
                # One output buffer: an earlier, finished response is played out first
                # (its remaining playback is skipped so simulated time stays short).
                self._stop_playback(previous, cleared=False)
        resp.audio_started = True
        self._audio_produced = True
        self._playing.append(resp)
        self._emit({"type": "output_audio_buffer.started", "response_id": resp.id})

    async def _play_out(self, resp: _Response) -> None:
        """Wait for the caller to have heard the response, then report the buffer empty."""
        await asyncio.sleep(self._sim.timing.playback_s(resp.spoken_chars))
        self._stop_playback(resp, cleared=False)

    def _stop_playback(self, resp: _Response, *, cleared: bool) -> None:
        if resp not in self._playing:
            return
        self._playing.remove(resp)
        self._audio_ms += ASSISTANT_MS_PER_CHAR * resp.spoken_chars
        if resp.generated and resp.task is not None and resp.task is not asyncio.current_task():
            resp.task.cancel()  # it is only waiting for playback to end
        kind = "output_audio_buffer.cleared" if cleared else "output_audio_buffer.stopped"
        self._emit({"type": kind, "response_id": resp.id})

    def _interrupt(self, reason: str) -> bool:
        """Cancel the active response (``turn_detected`` or ``client_cancelled``).
        Returns True if something was interrupted."""
        resp = self._active
        if resp is None:
            if reason == "turn_detected" and self._playing:
                for playing in list(self._playing):
                    self._stop_playback(playing, cleared=True)
                return True
            return False
        if resp.task is not None:
            resp.task.cancel()
        if resp.current is not None:
            if resp.current["type"] == "function_call":
                self._close_tool_call(resp, status="incomplete")
            else:
                self._close_message(resp, status="incomplete")
        self._finish_response(resp, "cancelled", reason)
        if resp.audio_started:
            if reason == "turn_detected":
                self._stop_playback(resp, cleared=True)
            else:
                # After response.cancel, audio already generated keeps playing until the
                # client sends output_audio_buffer.clear or it drains.
                self._spawn(self._play_out(resp))
        return True

    def release(self) -> None:
        """Let a response scripted with ``hold=True`` finish."""
        if self._active is not None:
            self._active.release.set()

    # ------------------------------------------------------------------ caller

    def _require_live(self, action: str) -> None:
        if self.ended:
            raise RuntimeError(f"caller cannot {action}: call {self.call_id} has ended")
        if self.session is None:
            raise RuntimeError(f"caller cannot {action}: call {self.call_id} is not accepted")

    def _vad(self) -> dict[str, Any] | None:
        assert self.session is not None
        return self.session["audio"]["input"].get("turn_detection")

    def _transcription_enabled(self) -> bool:
        assert self.session is not None
        return bool(self.session["audio"]["input"].get("transcription"))

    async def say(self, text: str) -> None:
        """The caller speaks ``text``. Emits the VAD events, interrupts the model when
        ``interrupt_response`` is on (barge-in), commits a user item, and lets the server
        answer when ``create_response`` is on (the default). Returns once the caller's
        events are out; the response continues in the background."""
        self._require_live("speak")
        vad = self._vad()
        if vad is None:
            # With turn_detection null nothing happens until the client commits the
            # buffer, which is meaningless over SIP.
            self._warn("caller spoke but turn_detection is null: no VAD events")
            return
        item_id = self._sim.ids.item()
        start = self._audio_ms
        self._emit(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": start,
                "item_id": item_id,
            }
        )
        if vad.get("interrupt_response", True):
            self._interrupt("turn_detected")
        await self._pace()
        self._audio_ms += max(300, CALLER_MS_PER_CHAR * len(text)) + int(
            vad.get("silence_duration_ms") or 500
        )
        self._emit(
            {
                "type": "input_audio_buffer.speech_stopped",
                "audio_end_ms": self._audio_ms,
                "item_id": item_id,
            }
        )
        item = self._commit_user_item(item_id)
        transcript = self._transcript_emitter(item["id"], text)
        if vad.get("create_response", True) and self._active is None:
            hooks = [transcript] if self.transcript_after_response else []
            if not self.transcript_after_response:
                transcript()
            self._start_response(
                ResponseRequest(params={}, trigger="speech", caller_text=text), hooks
            )
        else:
            transcript()
        await self._pace()

    def _commit_user_item(self, item_id: str) -> dict[str, Any]:
        item = {
            "id": item_id,
            "type": "message",
            "status": "completed",
            "role": "user",
            # The transcript is filled in asynchronously by input transcription.
            "content": [{"type": "input_audio", "transcript": None}],
            "object": "realtime.item",
        }
        previous = self._items[-1] if self._items else None
        self._items.append(item_id)
        self._item_bodies[item_id] = item
        self._emit(
            {
                "type": "input_audio_buffer.committed",
                "previous_item_id": previous,
                "item_id": item_id,
            }
        )
        for kind in ("conversation.item.added", "conversation.item.done"):
            self._emit({"type": kind, "previous_item_id": previous, "item": copy.deepcopy(item)})
        return item

    def _transcript_emitter(self, item_id: str, text: str) -> Callable[[], None]:
        def emit() -> None:
            if not self._transcription_enabled() or self.ended:
                return
            model = (self.session or {})["audio"]["input"]["transcription"].get("model")
            if model != "whisper-1":  # whisper-1 sends no deltas
                self._emit(
                    {
                        "type": "conversation.item.input_audio_transcription.delta",
                        "item_id": item_id,
                        "content_index": 0,
                        "delta": text,
                    }
                )
            self._emit(
                {
                    "type": "conversation.item.input_audio_transcription.completed",
                    "item_id": item_id,
                    "content_index": 0,
                    "transcript": text,
                    "usage": {
                        "type": "tokens",
                        "total_tokens": 20 + len(text) // 4,
                        "input_tokens": 20,
                        "input_token_details": {"text_tokens": 0, "audio_tokens": 20},
                        "output_tokens": len(text) // 4,
                    },
                }
            )

        return emit

    async def press(self, digit: str) -> None:
        """The caller presses a key: ``input_audio_buffer.dtmf_event_received``, which has
        no ``event_id`` (as documented)."""
        self._require_live("press a key")
        if digit not in DTMF_EVENTS:
            raise ValueError(f"not a DTMF key: {digit!r} (use 0-9, *, #, A-D)")
        self._send(
            {
                "type": "input_audio_buffer.dtmf_event_received",
                "event": digit,
                "received_at": int(time.time()),
            }
        )
        await self._pace()

    async def stay_silent(self) -> bool:
        """The caller says nothing for ``idle_timeout_ms``: ``timeout_triggered``, an empty
        user turn and a nudge response. Only with server_vad and ``idle_timeout_ms`` set,
        and only when the model is idle; returns False (and records a warning) otherwise.
        """
        self._require_live("stay silent")
        vad = self._vad()
        idle = vad.get("idle_timeout_ms") if vad else None
        if not vad or vad.get("type") != "server_vad" or not idle:
            self._warn("caller stayed silent but no server_vad idle_timeout_ms is set")
            return False
        if self._active is not None or self._playing:
            self._warn("caller stayed silent while the model was speaking: no idle timeout")
            return False
        start = self._audio_ms
        self._audio_ms += int(idle)
        item_id = self._sim.ids.item()
        self._emit(
            {
                "type": "input_audio_buffer.timeout_triggered",
                "item_id": item_id,
                "audio_start_ms": start,
                "audio_end_ms": self._audio_ms,
            }
        )
        self._commit_user_item(item_id)
        self._start_response(ResponseRequest(params={}, trigger="idle_timeout"))
        await self._pace()
        return True

    async def hang_up(self) -> None:
        """The caller hangs up: the sideband drops without a close frame and the call is
        gone (REST calls for it answer 404)."""
        self._end("caller_hangup")
        await asyncio.sleep(0)

    def emit_text(self, text: str) -> None:
        """Send a raw text frame, e.g. something that is not JSON (not recorded)."""
        for conn in self._connections:
            conn.send_raw_text(text)

    def close_sideband(self, code: int = 1000, reason: str = "") -> None:
        """Close the sideband with a proper close frame; the call stays up."""
        for conn in self._connections:
            conn.close(code, reason)

    def drop_sideband(self) -> None:
        """Cut the sideband connections (no close frame) but keep the call up, as a
        network failure would."""
        self._drop_all()


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


# The content part types each message role may carry in conversation.item.create (the
# SDK's RealtimeConversationItem{System,User,Assistant}Message params).
CONTENT_TYPES = {
    "system": ("input_text",),
    "user": ("input_text", "input_audio", "input_image"),
    "assistant": ("output_text", "output_audio"),
}


def _content_problem(role: str, content: Any) -> tuple[str, str] | None:
    """Why a client message's content would be refused (message, param), or None.
    The real API's wording is not documented. [inf]"""
    if not isinstance(content, list):
        return "Invalid type for 'item.content': expected an array.", "item.content"
    allowed = CONTENT_TYPES[role]
    for index, part in enumerate(content):
        param = f"item.content[{index}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in allowed:
            supported = ", ".join(f"'{t}'" for t in allowed)
            return (
                f"Invalid value: '{kind}'. Supported values for a {role} message are: {supported}.",
                f"{param}.type",
            )
        if role == "assistant" and kind == "output_audio":
            return "Assistant audio content cannot be created by the client.", param
        if kind == "input_text" and not isinstance(part.get("text"), str):
            return f"Missing required parameter: '{param}.text'.", f"{param}.text"
    return None


def _chunks(text: str, size: int = 12) -> list[str]:
    """Split into word-ish deltas as the real stream does (never an empty list)."""
    if not text:
        return [""]
    out: list[str] = []
    current = ""
    for word in text.split(" "):
        piece = word if not out and not current else " " + word
        if len(current) + len(piece) > size and current:
            out.append(current)
            current = piece
        else:
            current += piece
    if current:
        out.append(current)
    return out


def _fixed_chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _usage(resp: _Response) -> dict[str, Any]:
    text_out = max(1, len("".join(i.get("arguments", "") for i in resp.output)) // 4)
    audio_out = resp.spoken_chars // 2 if resp.audio else 0
    input_tokens = 120
    output_tokens = text_out + audio_out
    return {
        "total_tokens": input_tokens + output_tokens,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "input_token_details": {
            "text_tokens": 100,
            "audio_tokens": 20,
            "image_tokens": 0,
            "cached_tokens": 0,
            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
    }
