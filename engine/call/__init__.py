"""The call runtime: the pure ``CallMachine``, its events and actions, the driver that binds
one machine to one live call, and the seam a telephony platform implements.

The core API, importable from here::

    from engine.call import CallMachine, CallDriver, SessionStarted, RequestResponse

- ``CallMachine``: one call's decisions, sans I/O: ``handle(event)`` returns actions.
- events (``SessionStarted``, ``ToolCallRequested``, ``TimerFired``…, together ``CallEvent``)
  and actions (``RequestResponse``, ``RunHttpTool``, ``Refer``…, together ``Action``).
- ``CallDriver``: runs one machine against a ``Platform`` and a ``ToolRunner``.
- ``Platform`` / ``CallPlatform`` / ``CallGone`` / ``IncomingCall`` / ``SessionSpec``: what a
  telephony platform offers the engine; ``engine.openai`` implements it.
- ``ToolResult`` / ``ToolRunner``: what running a tool's ``http`` step gives back.

What the model is told when something fails is in ``engine.call.wording``.
"""

from __future__ import annotations

from .actions import (
    Action,
    AddNote,
    CancelResponse,
    CancelTimer,
    FunctionSpec,
    Hangup,
    IdleTimeout,
    Refer,
    RequestResponse,
    RunHttpTool,
    SendToolOutput,
    SetIdleTimeout,
    StartTimer,
    StopAudio,
    UpdateSession,
)
from .driver import CallDriver
from .events import (
    AgentSaid,
    AudioCleared,
    AudioStarted,
    AudioStopped,
    CallEnded,
    CallerSaid,
    CallerSilent,
    CallerStartedSpeaking,
    CallEvent,
    KeypadPressed,
    PlatformError,
    ReferFailed,
    ResponseFinished,
    ResponseStarted,
    SessionResumed,
    SessionStarted,
    TimerFired,
    ToolCallRequested,
    ToolFinished,
)
from .incoming import IncomingCall
from .machine import CallMachine
from .platform import CallGone, CallPlatform, Platform
from .session import SessionSpec
from .timers import FillerTimer, Timer, TimerKey
from .tool_runner import ToolResult, ToolRunner

__all__ = [
    "Action",
    "AddNote",
    "AgentSaid",
    "AudioCleared",
    "AudioStarted",
    "AudioStopped",
    "CallDriver",
    "CallEnded",
    "CallEvent",
    "CallGone",
    "CallMachine",
    "CallPlatform",
    "CallerSaid",
    "CallerSilent",
    "CallerStartedSpeaking",
    "CancelResponse",
    "CancelTimer",
    "FillerTimer",
    "FunctionSpec",
    "Hangup",
    "IdleTimeout",
    "IncomingCall",
    "KeypadPressed",
    "Platform",
    "PlatformError",
    "Refer",
    "ReferFailed",
    "RequestResponse",
    "ResponseFinished",
    "ResponseStarted",
    "RunHttpTool",
    "SendToolOutput",
    "SessionResumed",
    "SessionSpec",
    "SessionStarted",
    "SetIdleTimeout",
    "StartTimer",
    "StopAudio",
    "Timer",
    "TimerFired",
    "TimerKey",
    "ToolCallRequested",
    "ToolFinished",
    "ToolResult",
    "ToolRunner",
    "UpdateSession",
]
