"""The simulated caller: speech with its VAD events, keys, silences and hanging up.

``Caller`` is one part of a ``SimCall`` (engine/simulator/call.py): it works on the
call's ``CallState``; the responses a caller's turn starts are ``Responses``' to run.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from typing import Any

from engine.simulator.control import CallControl
from engine.simulator.environment import Environment
from engine.simulator.model import ResponseRequest
from engine.simulator.response import Responses
from engine.simulator.sideband import Sideband
from engine.simulator.state import CallState

__all__ = ["CALLER_MS_PER_CHAR", "DTMF_EVENTS", "Caller"]

DTMF_EVENTS = frozenset("0123456789*#ABCD")
# A rough speech rate to give audio_*_ms fields plausible, deterministic values.
CALLER_MS_PER_CHAR = 60


class Caller:
    """What the caller of one call does."""

    def __init__(
        self,
        state: CallState,
        env: Environment,
        sideband: Sideband,
        responses: Responses,
        control: CallControl,
    ) -> None:
        self._state = state
        self._env = env
        self._sideband = sideband
        self._responses = responses
        self._control = control

    def _require_live(self, action: str) -> None:
        if self._state.ended:
            raise RuntimeError(f"caller cannot {action}: call {self._state.call_id} has ended")
        if self._state.session is None:
            raise RuntimeError(
                f"caller cannot {action}: call {self._state.call_id} is not accepted"
            )

    def _vad(self) -> dict[str, Any] | None:
        assert self._state.session is not None
        return self._state.session["audio"]["input"].get("turn_detection")

    def _transcription_enabled(self) -> bool:
        assert self._state.session is not None
        return bool(self._state.session["audio"]["input"].get("transcription"))

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
            self._state.warn("caller spoke but turn_detection is null: no VAD events")
            return
        item_id = self._env.ids.item()
        start = self._state.audio_ms
        self._sideband.emit(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": start,
                "item_id": item_id,
            }
        )
        if vad.get("interrupt_response", True):
            self._responses.interrupt("turn_detected")
        await self._responses.pace()
        self._state.audio_ms += max(300, CALLER_MS_PER_CHAR * len(text)) + int(
            vad.get("silence_duration_ms") or 500
        )
        self._sideband.emit(
            {
                "type": "input_audio_buffer.speech_stopped",
                "audio_end_ms": self._state.audio_ms,
                "item_id": item_id,
            }
        )
        item = self._commit_user_item(item_id)
        transcript = self._transcript_emitter(item["id"], text)
        if vad.get("create_response", True) and self._state.active is None:
            hooks = [transcript] if self._state.transcript_after_response else []
            if not self._state.transcript_after_response:
                transcript()
            self._responses.start(
                ResponseRequest(params={}, trigger="speech", caller_text=text), hooks
            )
        else:
            transcript()
        await self._responses.pace()

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
        previous = self._state.append_item(item)
        self._sideband.emit(
            {
                "type": "input_audio_buffer.committed",
                "previous_item_id": previous,
                "item_id": item_id,
            }
        )
        for kind in ("conversation.item.added", "conversation.item.done"):
            self._sideband.emit(
                {"type": kind, "previous_item_id": previous, "item": copy.deepcopy(item)}
            )
        return item

    def _transcript_emitter(self, item_id: str, text: str) -> Callable[[], None]:
        def emit() -> None:
            if not self._transcription_enabled() or self._state.ended:
                return
            model = (self._state.session or {})["audio"]["input"]["transcription"].get("model")
            if model != "whisper-1":  # whisper-1 sends no deltas
                self._sideband.emit(
                    {
                        "type": "conversation.item.input_audio_transcription.delta",
                        "item_id": item_id,
                        "content_index": 0,
                        "delta": text,
                    }
                )
            self._sideband.emit(
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
        self._sideband.send(
            {
                "type": "input_audio_buffer.dtmf_event_received",
                "event": digit,
                "received_at": int(time.time()),
            }
        )
        await self._responses.pace()

    async def stay_silent(self) -> bool:
        """The caller says nothing for ``idle_timeout_ms``: ``timeout_triggered``, an empty
        user turn and a nudge response. Only with server_vad and ``idle_timeout_ms`` set,
        and only when the model is idle; returns False (and records a warning) otherwise.

        The nudge's ``response.created`` follows ``Timing.nudge_delay_s`` after the
        timeout (at once by default); this returns before it when there is a delay.
        """
        self._require_live("stay silent")
        vad = self._vad()
        idle = vad.get("idle_timeout_ms") if vad else None
        if not vad or vad.get("type") != "server_vad" or not idle:
            self._state.warn("caller stayed silent but no server_vad idle_timeout_ms is set")
            return False
        if not self._state.idle:
            self._state.warn("caller stayed silent while the model was speaking: no idle timeout")
            return False
        start = self._state.audio_ms
        self._state.audio_ms += int(idle)
        item_id = self._env.ids.item()
        self._sideband.emit(
            {
                "type": "input_audio_buffer.timeout_triggered",
                "item_id": item_id,
                "audio_start_ms": start,
                "audio_end_ms": self._state.audio_ms,
            }
        )
        self._commit_user_item(item_id)
        delay = self._env.timing.nudge_delay_s
        if delay > 0:
            self._state.nudge_pending = True
            self._state.spawn(self._nudge_after(delay))
        else:
            self._responses.start(ResponseRequest(params={}, trigger="idle_timeout"))
        await self._responses.pace()
        return True

    async def _nudge_after(self, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            # Started before anyone is told the nudge is no longer pending, so a waiter
            # never sees a moment of idleness in between.
            self._state.nudge_pending = False
            if self._state.active is None and not self._state.audio_queue:
                self._responses.start(ResponseRequest(params={}, trigger="idle_timeout"))
            # else: a response began meanwhile (the client's, or the caller spoke); one
            # response at a time, so the server does not add its nudge. [inf]
        finally:
            self._state.nudge_pending = False
            self._state.changed()

    async def hang_up(self) -> None:
        """The caller hangs up: the sideband drops without a close frame and the call is
        gone (REST calls for it answer 404)."""
        self._control.end("caller_hangup")
        await asyncio.sleep(0)
