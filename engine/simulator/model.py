"""The scripted "model": what the simulated assistant does on its next response.

Tests queue turns on a call (``call.model.speak("Hello")``,
``call.model.call_tool("lookup", {"id": 7}, preamble="One moment.")``). When nothing is
queued, the simulator asks the simulator-wide ``responder`` hook (``Responder``, in
engine/simulator/call.py), and failing that speaks the text of
``response.instructions`` ("Say exactly: X" speaks X) or a generic line.

The response the server creates by itself when the caller stays silent (``idle_timeout``)
does not take from that queue, so a scripted turn is kept for the response the test meant
it for; it speaks what ``call.model.nudge(...)`` queued, or the responder's turn, or
"Are you still there?".
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ModelTurn", "ResponseRequest", "ScriptedModel", "ToolCall"]

GENERIC_REPLY = "Okay. How else can I help you?"
NUDGE_REPLY = "Are you still there?"


@dataclass(frozen=True)
class ToolCall:
    """A function call the model makes. ``arguments`` is a dict (JSON-encoded for the
    wire) or a raw string, sent verbatim (useful to test malformed arguments)."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    call_id: str | None = None  # generated (``call_…``) when not given

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, separators=(",", ":"))


@dataclass(frozen=True)
class ModelTurn:
    """One response: optional spoken ``text`` first, then ``tool_calls`` in order.

    ``hold=True`` makes the response stall after its first transcript delta until
    ``call.release()`` or a barge-in, so a test can interrupt it deterministically.
    ``hold_done=True`` makes it stall after its last function call item is done, before
    ``response.done`` (the model speaking on after it called a tool), likewise: a client
    that acts on the item has acted by then. Each hold takes its own ``release()``.
    ``status`` other than ``"completed"`` ends the response as ``incomplete``/``failed``.
    """

    text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    hold: bool = False
    status: str = "completed"
    hold_done: bool = False


@dataclass(frozen=True)
class ResponseRequest:
    """What the model was asked for: the ``response`` object of ``response.create``
    (empty for automatic responses) and why the response exists."""

    params: dict[str, Any]
    trigger: str  # "response.create", "speech", "idle_timeout", "tool_output"
    caller_text: str | None = None


class ScriptedModel:
    """Per-call queue of turns."""

    def __init__(self) -> None:
        self._queue: deque[ModelTurn] = deque()
        self._nudges: deque[ModelTurn] = deque()

    def speak(self, text: str, *, hold: bool = False) -> None:
        """The next response says ``text``."""
        self._queue.append(ModelTurn(text=text, hold=hold))

    def call_tool(
        self,
        name: str,
        arguments: dict[str, Any] | str | None = None,
        *,
        preamble: str | None = None,
        call_id: str | None = None,
    ) -> None:
        """The next response calls function ``name`` (after speaking ``preamble``)."""
        tool = ToolCall(name, {} if arguments is None else arguments, call_id)
        self._queue.append(ModelTurn(text=preamble, tool_calls=(tool,)))

    def nudge(self, text: str, *, hold: bool = False) -> None:
        """The next idle-timeout response (the server's nudge) says ``text``."""
        self._nudges.append(ModelTurn(text=text, hold=hold))

    def queue(self, *turns: ModelTurn) -> None:
        self._queue.extend(turns)

    def pending(self) -> int:
        return len(self._queue)

    def next_turn(self) -> ModelTurn | None:
        return self._queue.popleft() if self._queue else None

    def next_nudge(self) -> ModelTurn | None:
        return self._nudges.popleft() if self._nudges else None


_SAY_EXACTLY = re.compile(r"say\s+exactly\s*[:\-]?\s*(.+)", re.IGNORECASE | re.DOTALL)
_QUOTED = re.compile(r"""['"“‘](.+?)['"”’]\s*\.?\s*$""", re.DOTALL)


def default_turn(request: ResponseRequest) -> ModelTurn:
    """What an obedient model would say when the test did not script anything."""
    instructions = request.params.get("instructions")
    if isinstance(instructions, str) and instructions.strip():
        match = _SAY_EXACTLY.search(instructions)
        if match:
            return ModelTurn(text=_unquote(match.group(1).strip()))
        quoted = _QUOTED.search(instructions)
        if quoted:  # "Say to the user 'Thank you for calling'"
            return ModelTurn(text=quoted.group(1).strip())
        return ModelTurn(text=instructions.strip())
    if request.trigger == "idle_timeout":
        return ModelTurn(text=NUDGE_REPLY)
    return ModelTurn(text=GENERIC_REPLY)


def _unquote(text: str) -> str:
    pairs = {'"': '"', "'": "'", "“": "”", "‘": "’"}
    if len(text) >= 2 and text[0] in pairs and text[-1] == pairs[text[0]]:
        return text[1:-1]
    return text
