"""What ``CallMachine`` asks the world to do. The driver carries each one out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..flow.model import HttpRequest
from .timers import TimerKey

__all__ = [
    "Action",
    "AddNote",
    "CancelResponse",
    "CancelTimer",
    "FunctionSpec",
    "Hangup",
    "IdleTimeout",
    "Refer",
    "RequestResponse",
    "RunHttpTool",
    "SendToolOutput",
    "SetIdleTimeout",
    "StartTimer",
    "StopAudio",
    "UpdateSession",
]


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A tool as the model sees it: a name, what it does, a JSON Schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class IdleTimeout:
    """How long the caller's silence lasts before the platform reports it (None: never)."""

    ms: int | None


@dataclass(frozen=True, slots=True)
class RequestResponse:
    """Ask the model to respond. ``say``: speak exactly this line; None: respond freely."""

    request: str  # our tag, echoed back in ResponseStarted
    say: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateSession:
    instructions: str
    tools: tuple[FunctionSpec, ...]
    idle: IdleTimeout | None = None  # None: leave the caller-silence timeout as it is


@dataclass(frozen=True, slots=True)
class SetIdleTimeout:
    """Change only the caller-silence timeout (the caller is put on hold, or back)."""

    idle: IdleTimeout


@dataclass(frozen=True, slots=True)
class CancelResponse:
    """Stop the response under way and what the caller would still hear of it."""


@dataclass(frozen=True, slots=True)
class StopAudio:
    """Drop what the caller would still hear of a response that has finished generating.

    Over SIP the audio plays on for seconds after ``response.done``; with nothing to cancel,
    clearing the output buffer is what stops it."""


@dataclass(frozen=True, slots=True)
class AddNote:
    """Tell the model something it should know (the caller pressed a key, a tool answered)
    without the caller hearing it."""

    text: str


@dataclass(frozen=True, slots=True)
class SendToolOutput:
    call_id: str
    output: str


@dataclass(frozen=True, slots=True)
class RunHttpTool:
    call_id: str
    tool: str
    request: HttpRequest
    context: dict[str, Any] = field(hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class Refer:
    target: str


@dataclass(frozen=True, slots=True)
class Hangup:
    reason: str


@dataclass(frozen=True, slots=True)
class StartTimer:
    name: TimerKey
    seconds: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    name: TimerKey


Action = (
    RequestResponse
    | UpdateSession
    | SetIdleTimeout
    | CancelResponse
    | StopAudio
    | AddNote
    | SendToolOutput
    | RunHttpTool
    | Refer
    | Hangup
    | StartTimer
    | CancelTimer
)
