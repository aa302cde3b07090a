"""OpenAI Realtime wire format ↔ the engine's call events and actions.

This is the one place that knows the shapes of Realtime server and client events (see
``shared/reference/openai-realtime-sip.md`` §2 and §4). A second contract (GPT-Live) gets a
module like this one; ``CallMachine`` stays as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..call.actions import (
    Action,
    AddNote,
    CancelResponse,
    FunctionSpec,
    IdleTimeout,
    RequestResponse,
    SendToolOutput,
    SetIdleTimeout,
    StopAudio,
    UpdateSession,
)
from ..call.events import (
    AgentSaid,
    AudioCleared,
    AudioStarted,
    AudioStopped,
    CallerSaid,
    CallerSilent,
    CallerStartedSpeaking,
    CallEvent,
    KeypadPressed,
    PlatformError,
    ResponseFinished,
    ResponseStarted,
    ToolCallRequested,
)
from ..call.session import SessionSpec

__all__ = ["accept_body", "client_events", "server_event"]

_TAG = "engine_request"  # our key in response metadata, echoed in response.* events


def _tools(tools: tuple[FunctionSpec, ...]) -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "name": t.name,
            "description": t.description,
            "parameters": t.parameters,
        }
        for t in tools
    ]


def _voice(voice: str) -> str | dict[str, str]:
    return {"id": voice} if voice.startswith("voice_") else voice


def _turn_detection(idle: IdleTimeout) -> dict[str, Any]:
    # idle_timeout_ms is server_vad's alone; the other fields keep their defaults.
    return {"type": "server_vad", "idle_timeout_ms": idle.ms}


def accept_body(session: SessionSpec) -> dict[str, Any]:
    """The body of POST /realtime/calls/{id}/accept. Never an audio format: SIP negotiates it."""
    audio: dict[str, Any] = {"output": {"voice": _voice(session.voice)}}
    audio_input: dict[str, Any] = {}
    if session.transcription:
        audio_input["transcription"] = {"model": session.transcription}
    if session.idle is not None:
        audio_input["turn_detection"] = _turn_detection(session.idle)
    if audio_input:
        audio["input"] = audio_input
    return {
        "type": "realtime",
        "model": session.model,
        "instructions": session.instructions,
        "audio": audio,
        "tools": _tools(session.tools),
        "tool_choice": "auto",
    }


def client_events(action: Action) -> list[dict[str, Any]]:
    """The sideband events for an action (none when the action is not a sideband event)."""
    if isinstance(action, RequestResponse):
        response: dict[str, Any] = {"metadata": {_TAG: action.request}}
        if action.say is not None:
            # The form OpenAI's SIP guide uses for a scripted line.
            response["instructions"] = f"Say exactly: {action.say}"
        return [
            {
                "type": "response.create",
                "event_id": f"evt_{action.request}",
                "response": response,
            }
        ]
    if isinstance(action, UpdateSession):
        session: dict[str, Any] = {
            "type": "realtime",
            "instructions": action.instructions,
            "tools": _tools(action.tools),
            "tool_choice": "auto",
        }
        if action.idle is not None:
            session["audio"] = {"input": {"turn_detection": _turn_detection(action.idle)}}
        return [{"type": "session.update", "session": session}]
    if isinstance(action, SetIdleTimeout):
        # Only the fields sent change (reference §4.5): instructions and tools stay.
        audio = {"input": {"turn_detection": _turn_detection(action.idle)}}
        return [{"type": "session.update", "session": {"type": "realtime", "audio": audio}}]
    if isinstance(action, SendToolOutput):
        return [
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "function_call_output",
                    "call_id": action.call_id,
                    "output": action.output,
                },
            }
        ]
    if isinstance(action, AddNote):
        return [
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "system",
                    "content": [{"type": "input_text", "text": action.text}],
                },
            }
        ]
    if isinstance(action, CancelResponse):
        # Cancel, then clear what was generated but not yet played (SIP plays it out
        # otherwise); the order OpenAI's SDKs document (reference §4.7).
        return [{"type": "response.cancel"}, {"type": "output_audio_buffer.clear"}]
    if isinstance(action, StopAudio):
        return [{"type": "output_audio_buffer.clear"}]
    return []


def _request_tag(response: Mapping[str, Any]) -> str | None:
    metadata = response.get("metadata") or {}
    tag = metadata.get(_TAG) if isinstance(metadata, Mapping) else None
    return tag if isinstance(tag, str) else None


def server_event(event: Mapping[str, Any]) -> CallEvent | None:
    """The call event a server event means, or None for the many we do not act on."""
    kind = event.get("type")
    if kind == "response.created":
        response = event.get("response") or {}
        return ResponseStarted(str(response.get("id", "")), _request_tag(response))
    if kind == "response.output_item.done":
        item = event.get("item") or {}
        if item.get("type") == "function_call" and item.get("status") == "completed":
            return ToolCallRequested(
                response_id=str(event.get("response_id", "")),
                call_id=str(item.get("call_id", "")),
                name=str(item.get("name", "")),
                arguments=str(item.get("arguments") or ""),
            )
        return None
    if kind == "response.done":
        response = event.get("response") or {}
        return ResponseFinished(str(response.get("id", "")), str(response.get("status", "")))
    if kind == "output_audio_buffer.started":
        return AudioStarted(str(event.get("response_id", "")))
    if kind == "output_audio_buffer.stopped":
        return AudioStopped(str(event.get("response_id", "")))
    if kind == "output_audio_buffer.cleared":
        return AudioCleared(str(event.get("response_id", "")))
    if kind == "input_audio_buffer.speech_started":
        return CallerStartedSpeaking()
    if kind == "conversation.item.input_audio_transcription.completed":
        return CallerSaid(str(event.get("transcript", "")))
    if kind == "response.output_audio_transcript.done":
        return AgentSaid(str(event.get("response_id", "")), str(event.get("transcript", "")))
    if kind == "input_audio_buffer.dtmf_event_received":
        return KeypadPressed(str(event.get("event", "")))
    if kind == "input_audio_buffer.timeout_triggered":
        return CallerSilent()
    if kind == "error":
        error = event.get("error") or {}
        client_id = error.get("event_id")
        tag = client_id[4:] if isinstance(client_id, str) and client_id.startswith("evt_") else None
        return PlatformError(error.get("code"), str(error.get("message", "")), tag)
    return None
