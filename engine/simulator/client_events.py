"""Client events on a simulated call's sideband, answered as the real API does: the
effects, the server events that follow and the errors for mistakes (reference §4.1, §4.8).

``ClientEvents`` is one part of a ``SimCall`` (engine/simulator/call.py): it works on
the call's ``CallState``; the responses it starts or cancels are ``Responses``' to run.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from engine.simulator.environment import Environment
from engine.simulator.faults import Faults
from engine.simulator.model import ResponseRequest
from engine.simulator.records import Recorded
from engine.simulator.response import Responses
from engine.simulator.session import apply_session_fields
from engine.simulator.sideband import Sideband
from engine.simulator.state import CallState

__all__ = ["CLIENT_EVENT_TYPES", "CONTENT_TYPES", "ClientEvents"]

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


class ClientEvents:
    """What the client sends on one call's sideband, answered as the real API does."""

    def __init__(
        self, state: CallState, env: Environment, sideband: Sideband, responses: Responses
    ) -> None:
        self._state = state
        self._env = env
        self._sideband = sideband
        self._responses = responses

    def _faults(self, name: str) -> Faults:
        return Faults.applying(self._state.faults, self._env.faults, name)

    def receive(self, text: str) -> None:
        """One text frame from the client: recorded, checked (strict mode) and answered."""
        try:
            event = json.loads(text)
        except json.JSONDecodeError:
            self._state.client_events.append(Recorded(self._env.now(), {"type": None, "raw": text}))
            self._sideband.error("The event is not valid JSON.", code="invalid_json")  # [inf]
            return
        if not isinstance(event, dict):
            self._sideband.error("The event must be a JSON object.", code="invalid_event")  # [inf]
            return
        self._state.client_events.append(Recorded(self._env.now(), event))
        self._state.violations += self._env.strict.client_event(event)
        if self._state.ended:
            return
        try:
            self._dispatch(event)
        finally:
            self._state.changed()

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        eid = event.get("event_id")
        if kind is None:
            self._sideband.error(
                "The 'type' field is missing.", code="invalid_event", client_event_id=eid
            )
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
            if item_id in self._state.item_bodies:
                self._sideband.emit(
                    {
                        "type": "conversation.item.retrieved",
                        "item": copy.deepcopy(self._state.item_bodies[item_id]),
                    }
                )
            else:
                self._item_not_found(item_id, eid)
        elif kind == "conversation.item.truncate":
            item_id = event.get("item_id")
            if item_id in self._state.item_bodies:
                self._sideband.emit(
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
            # Whatever is playing stops at once (cleared, never stopped), also after its
            # response.done. With nothing playing nothing is sent. [inf]
            self._responses.clear_audio()
        elif kind in ("input_audio_buffer.append", "input_audio_buffer.commit"):
            # Over SIP the caller's audio comes from the SIP leg; these do nothing useful.
            self._state.warn(f"client sent {kind} on a SIP call; audio comes from the SIP leg")
        elif kind == "input_audio_buffer.clear":
            self._sideband.emit({"type": "input_audio_buffer.cleared"})
        else:
            supported = ", ".join(f"'{t}'" for t in CLIENT_EVENT_TYPES)
            self._sideband.error(
                f"Invalid value: '{kind}'. Supported values are: {supported}.",
                code="invalid_value",
                param="type",
                client_event_id=eid,
            )

    def _item_not_found(self, item_id: Any, eid: Any) -> None:
        self._sideband.error(
            f"Item with item_id not found: {item_id}",  # [inf] exact wording
            code="item_not_found",
            param="item_id",
            client_event_id=eid,
        )

    # ------------------------------------------------------------------ client events

    def _on_session_update(self, event: dict[str, Any]) -> None:
        assert self._state.session is not None
        eid = event.get("event_id")
        fields = event.get("session")
        if fields is None:
            self._sideband.error(
                "Missing required parameter: 'session'.",
                code="missing_required_parameter",
                param="session",
                client_event_id=eid,
            )
            return
        if isinstance(fields, dict) and "type" not in fields:
            # The exact message reported in the field (reference §10 #4).
            self._sideband.error(
                "Missing required parameter: 'session.type'.",
                code="missing_required_parameter",
                param="session.type",
                client_event_id=eid,
            )
            return
        problems = apply_session_fields(
            self._state.session,
            fields,
            prefix="session.",
            initial=False,
            audio_was_produced=self._state.audio_produced,
        )
        fatal = [p for p in problems if p.fatal]
        for problem in problems:
            if not problem.fatal:
                self._state.warn(f"session.update: {problem.message}")
        if fatal:
            first = fatal[0]
            self._sideband.error(
                first.message, code=first.code, param=first.param, client_event_id=eid
            )
            return
        # session.updated does not echo the client's event_id.
        self._sideband.emit(
            {"type": "session.updated", "session": copy.deepcopy(self._state.session)}
        )

    def _on_response_create(self, event: dict[str, Any]) -> None:
        eid = event.get("event_id")
        params = event.get("response") or {}
        if not isinstance(params, dict):
            self._sideband.error(
                "Invalid type for 'response': expected an object.",
                code="invalid_type",
                param="response",
                client_event_id=eid,
            )
            return
        failure = self._faults("response_create_errors").take_response_create_error()
        if failure is not None:
            # Faults.response_create_errors: the platform fails this request. [inf] message
            server = failure == "server_error"
            self._sideband.error(
                "The server had an error while processing your request. Sorry about that!"
                if server
                else f"The response could not be created ({failure}).",
                code=failure,
                client_event_id=eid,
                type_="server_error" if server else "invalid_request_error",
            )
            return
        out_of_band = params.get("conversation") == "none"
        if self._state.active is not None and not out_of_band:
            # Reference §10 #9; the message is the one widely reported.
            self._sideband.error(
                "Conversation already has an active response in progress: "
                f"{self._state.active.id}. Wait until the response is finished before "
                "creating a new one.",
                code="conversation_already_has_active_response",
                client_event_id=eid,
            )
            return
        untagged = self._faults("untagged_responses").take_untagged()
        self._responses.start(
            ResponseRequest(params=params, trigger="response.create"), untagged=untagged
        )

    def _on_response_cancel(self, event: dict[str, Any]) -> None:
        wanted = event.get("response_id")
        active = self._state.active
        if active is None or (wanted and wanted != active.id):
            self._sideband.error(
                "Cancellation failed: no active response found",
                code="response_cancel_not_active",
                client_event_id=event.get("event_id"),
            )
            return
        self._responses.interrupt("client_cancelled")

    def _on_item_create(self, event: dict[str, Any]) -> None:
        eid = event.get("event_id")
        item = event.get("item")
        if not isinstance(item, dict) or "type" not in item:
            self._sideband.error(
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
            if call_id not in self._state.tool_calls:
                # The real API answers an unknown call_id with an error. [inf] wording
                self._sideband.error(
                    f"Tool call ID '{call_id}' not found in conversation.",
                    code="invalid_tool_call_id",
                    param="item.call_id",
                    client_event_id=eid,
                )
                return
            if not isinstance(item.get("output"), str):
                self._sideband.error(
                    "Invalid type for 'item.output': expected a string.",
                    code="invalid_type",
                    param="item.output",
                    client_event_id=eid,
                )
                return
            if call_id in self._state.tool_outputs:
                self._state.warn(f"second function_call_output for {call_id}")
            self._state.tool_outputs.add(call_id)
        elif kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system"):
                self._sideband.error(
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
                self._sideband.error(
                    message, code="invalid_value", param=param, client_event_id=eid
                )
                return
        item.setdefault("id", self._env.ids.item())
        item.setdefault("object", "realtime.item")
        item.setdefault("status", "completed")
        previous = event.get("previous_item_id")
        if previous is None:
            previous = self._state.append_item(item)
        elif previous == "root":
            self._state.items.insert(0, item["id"])
            self._state.item_bodies[item["id"]] = item
            previous = None
        else:
            # Documented: an id that cannot be found is an error and nothing is added.
            if previous not in self._state.items:
                self._sideband.error(
                    f"Item with item_id not found: {previous}",  # [inf] exact wording
                    code="item_not_found",
                    param="previous_item_id",
                    client_event_id=eid,
                )
                return
            self._state.items.insert(self._state.items.index(previous) + 1, item["id"])
            self._state.item_bodies[item["id"]] = item
        self._sideband.emit(
            {
                "type": "conversation.item.added",
                "previous_item_id": previous,
                "item": copy.deepcopy(item),
            }
        )
        self._sideband.emit(
            {
                "type": "conversation.item.done",
                "previous_item_id": previous,
                "item": copy.deepcopy(item),
            }
        )
        if (
            kind == "function_call_output"
            and self._faults("auto_response_after_tool_output").auto_response_after_tool_output
            and self._state.active is None
        ):
            # The server's own response: no client metadata, and from its response.created
            # on, the client's response.create is refused as a second active response.
            self._responses.start(ResponseRequest(params={}, trigger="tool_output"))

    def _on_item_delete(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        if item_id not in self._state.item_bodies:
            self._item_not_found(item_id, event.get("event_id"))
            return
        del self._state.item_bodies[item_id]
        if item_id in self._state.items:
            self._state.items.remove(item_id)
        self._sideband.emit({"type": "conversation.item.deleted", "item_id": item_id})
