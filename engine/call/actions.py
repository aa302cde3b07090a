"""What ``CallMachine`` asks the world to do. The driver carries each one out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..flow.model import HttpRequest

__all__ = [
    "Action",
    "CancelTimer",
    "FunctionSpec",
    "Hangup",
    "Refer",
    "RequestResponse",
    "RunHttpTool",
    "SendToolOutput",
    "StartTimer",
    "UpdateSession",
]


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A tool as the model sees it: a name, what it does, a JSON Schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RequestResponse:
    """Ask the model to respond. ``say``: speak exactly this line; None: respond freely."""

    request: str  # our tag, echoed back in ResponseStarted
    say: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateSession:
    instructions: str
    tools: tuple[FunctionSpec, ...]


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
    name: str
    seconds: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    name: str


Action = (
    RequestResponse
    | UpdateSession
    | SendToolOutput
    | RunHttpTool
    | Refer
    | Hangup
    | StartTimer
    | CancelTimer
)
