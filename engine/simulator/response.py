"""The simulated model's responses: choosing the turn, streaming its items, playback of
its audio, and interruption (barge-in or ``response.cancel``).

Event shapes and order follow the GA Realtime API (reference §4.2, §4.3, §4.7). Every
server event a response produces, and when, is decided here. ``Responses`` is one part
of a ``SimCall`` (engine/simulator/call.py): it works on the call's ``CallState``.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any

from engine.simulator.environment import Environment
from engine.simulator.model import ModelTurn, ResponseRequest, ToolCall, default_turn
from engine.simulator.sideband import Sideband
from engine.simulator.state import CallState, SimResponse

__all__ = ["ASSISTANT_MS_PER_CHAR", "Responses", "SimResponse"]

# A rough speech rate to give audio_*_ms fields plausible, deterministic values.
ASSISTANT_MS_PER_CHAR = 70


class Responses:
    """The responses of one call: started by the caller's turn, a client's
    ``response.create`` or the server itself; one in the conversation at a time
    (``CallState.active``), their audio queued in one output buffer
    (``CallState.audio_queue``)."""

    def __init__(self, state: CallState, env: Environment, sideband: Sideband) -> None:
        self._state = state
        self._env = env
        self._sideband = sideband

    def _emit(self, event: dict[str, Any]) -> None:
        self._sideband.emit(event)

    def _choose_turn(self, request: ResponseRequest) -> ModelTurn:
        if request.trigger == "idle_timeout":
            turn = self._state.model.next_nudge()
        else:
            turn = self._state.model.next_turn()
        if turn is None:
            turn = self._env.respond(request)
        return turn if turn is not None else default_turn(request)

    def start(
        self,
        request: ResponseRequest,
        on_created: list[Callable[[], None]] | None = None,
        *,
        untagged: bool = False,
    ) -> SimResponse:
        """Start a response now (``response.created`` is sent before this returns) and
        generate it in the background. ``on_created`` run right after
        ``response.created``; ``untagged``: the client's metadata is lost."""
        session = self._state.session
        assert session is not None
        params = request.params
        modalities = params.get("output_modalities") or session["output_modalities"]
        resp = SimResponse(
            id=self._env.ids.response(),
            params=params,
            turn=self._choose_turn(request),
            in_conversation=params.get("conversation", "auto") != "none",
            modalities=list(modalities),
            trigger=request.trigger,
            on_created=on_created or [],
            untagged=untagged,
        )
        self._check_tools(resp, session)
        if resp.in_conversation:
            self._state.active = resp
        # response.created goes out synchronously: from here on the response is active,
        # so a racing response.create is refused exactly as the real server does.
        self._emit({"type": "response.created", "response": self._response_object(resp)})
        for callback in resp.on_created:
            callback()
        resp.task = self._state.spawn(self._run_response(resp))
        return resp

    def _check_tools(self, resp: SimResponse, session: dict[str, Any]) -> None:
        tools = resp.params.get("tools", session.get("tools") or [])
        declared = {t.get("name") for t in tools if isinstance(t, dict)}
        for tool in resp.turn.tool_calls:
            if tool.name not in declared:
                self._state.warn(f"scripted model called undeclared tool {tool.name!r}")
        choice = resp.params.get("tool_choice", session.get("tool_choice"))
        if resp.turn.tool_calls and choice == "none":
            self._state.warn("scripted model called a tool although tool_choice is 'none'")

    def _response_object(self, resp: SimResponse, status: str = "in_progress") -> dict[str, Any]:
        session = self._state.session
        assert session is not None
        voice = (resp.params.get("audio") or {}).get("output", {}).get("voice") or session["audio"][
            "output"
        ]["voice"]
        return {
            "object": "realtime.response",
            "id": resp.id,
            "status": status,
            "status_details": None,
            "output": [],
            "conversation_id": self._state.conversation_id if resp.in_conversation else None,
            "output_modalities": resp.modalities,
            "max_output_tokens": resp.params.get(
                "max_output_tokens", session.get("max_output_tokens", "inf")
            ),
            "audio": {
                "output": {
                    "format": dict(session["audio"]["output"]["format"]),
                    "voice": voice,
                }
            },
            "usage": None,
            "metadata": None if resp.untagged else resp.params.get("metadata"),
        }

    async def pace(self) -> None:
        """The pause between two streamed deltas (``Timing.delta_interval_s``)."""
        await asyncio.sleep(self._env.timing.delta_interval_s)

    async def _run_response(self, resp: SimResponse) -> None:
        try:
            if resp.trigger == "idle_timeout":
                await asyncio.sleep(self._env.timing.nudge_latency_s)
            await self.pace()
            turn = resp.turn
            if turn.text is not None:
                await self._generate_message(resp, turn.text, hold=turn.hold)
            for tool in turn.tool_calls:
                await self._generate_tool_call(resp, tool)
            if turn.tool_calls:
                # The model may speak on after a call: response.done comes later, and a
                # client that waits for it before acting leaves the caller waiting.
                if turn.hold_done:
                    await self._hold(resp)
                if self._env.timing.response_done_delay_s > 0:
                    await asyncio.sleep(self._env.timing.response_done_delay_s)
            status = turn.status
            reason = "max_output_tokens" if status == "incomplete" else None
            self._finish_response(resp, status, reason)
            if resp.audio_started:
                await self._play_out(resp)
        except asyncio.CancelledError:
            return  # whoever cancelled has already emitted the right events

    def _add_output_item(self, resp: SimResponse, item: dict[str, Any]) -> None:
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
            previous = self._state.append_item(item)
            self._emit(
                {
                    "type": "conversation.item.added",
                    "previous_item_id": previous,
                    "item": copy.deepcopy(item),
                }
            )

    async def _generate_message(self, resp: SimResponse, text: str, *, hold: bool) -> None:
        item = {
            "id": self._env.ids.item(),
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
            await self.pace()
            if hold and n == 0:
                await self._hold(resp)
        self._close_message(resp, status="completed")

    async def _hold(self, resp: SimResponse) -> None:
        """Stall until ``release()`` (each release lets one hold pass) or a barge-in."""
        await resp.release.wait()
        resp.release.clear()

    def _close_message(self, resp: SimResponse, *, status: str) -> None:
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

    def _close_item(self, resp: SimResponse, item: dict[str, Any]) -> None:
        self._emit(
            {
                "type": "response.output_item.done",
                "response_id": resp.id,
                "output_index": resp.output_index,
                "item": copy.deepcopy(item),
            }
        )
        if resp.in_conversation:
            index = self._state.items.index(item["id"]) if item["id"] in self._state.items else 0
            previous = self._state.items[index - 1] if index > 0 else None
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

    async def _generate_tool_call(self, resp: SimResponse, tool: ToolCall) -> None:
        call_id = tool.call_id or self._env.ids.tool_call()
        item = {
            "id": self._env.ids.item(),
            "type": "function_call",
            "status": "in_progress",
            "name": tool.name,
            "call_id": call_id,
            "arguments": "",
            "object": "realtime.item",
        }
        self._add_output_item(resp, item)
        self._state.tool_calls[call_id] = "in_progress"
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
            await self.pace()
        self._close_tool_call(resp, status="completed")

    def _close_tool_call(self, resp: SimResponse, *, status: str) -> None:
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
        self._state.tool_calls[item["call_id"]] = status
        self._close_item(resp, item)

    def _finish_response(self, resp: SimResponse, status: str, reason: str | None = None) -> None:
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
        if self._state.active is resp:
            self._state.active = None
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

    def _start_playback(self, resp: SimResponse) -> None:
        # One output buffer: audio of a response that begins while an earlier one still
        # plays is queued behind it; the caller hears them in turn. started is sent when
        # the audio starts streaming into the buffer, after content_part.added (the
        # WebRTC docs); each response's stopped when its own audio has been heard. Whether
        # the real server instead sends one stopped when the whole buffer drains is not
        # documented. [inf]
        resp.audio_started = True
        self._state.audio_produced = True
        self._state.audio_queue.append(resp)
        self._emit({"type": "output_audio_buffer.started", "response_id": resp.id})

    async def _play_out(self, resp: SimResponse) -> None:
        """Wait for the caller to have heard the response (after whatever plays before it
        in the buffer), then report the buffer drained of it."""
        await self._state.wait_until(
            lambda: resp not in self._state.audio_queue or self._state.audio_queue[0] is resp,
            timeout=None,
            what="earlier audio played out",
        )
        if resp not in self._state.audio_queue:
            return  # cleared meanwhile
        await asyncio.sleep(self._env.timing.playback_s(resp.spoken_chars))
        self.stop_playback(resp, cleared=False)

    def stop_playback(self, resp: SimResponse, *, cleared: bool) -> None:
        if resp not in self._state.audio_queue:
            return
        self._state.audio_queue.remove(resp)
        self._state.audio_ms += ASSISTANT_MS_PER_CHAR * resp.spoken_chars
        if resp.generated and resp.task is not None and resp.task is not asyncio.current_task():
            resp.task.cancel()  # it is only waiting for playback to end
        (self._state.cleared if cleared else self._state.played_out).append(resp.id)
        kind = "output_audio_buffer.cleared" if cleared else "output_audio_buffer.stopped"
        self._emit({"type": kind, "response_id": resp.id})

    def clear_audio(self) -> None:
        """Empty the output buffer: whatever plays stops at once (``cleared``, never
        ``stopped``), also after its ``response.done``."""
        for playing in list(self._state.audio_queue):
            self.stop_playback(playing, cleared=True)

    def interrupt(self, reason: str) -> bool:
        """Cancel the active response (``turn_detected`` or ``client_cancelled``).
        Returns True if something was interrupted."""
        resp = self._state.active
        if resp is None:
            if reason == "turn_detected" and self._state.audio_queue:
                self.clear_audio()
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
        if reason == "turn_detected":
            # Barge-in empties the one output buffer: this response's audio and any an
            # earlier response still had playing (the active one may not speak yet).
            self.clear_audio()
        elif resp.audio_started:
            # After response.cancel, audio already generated keeps playing until the
            # client sends output_audio_buffer.clear or it drains.
            self._state.spawn(self._play_out(resp))
        return True

    def release(self) -> None:
        """Let a response scripted with ``hold=True`` finish."""
        if self._state.active is not None:
            self._state.active.release.set()


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


def _usage(resp: SimResponse) -> dict[str, Any]:
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
