"""What happens on a call, in the engine's own words.

The platform adapter (``engine.openai``) turns the provider's wire events into these, and the
driver adds the engine's own (a tool finished, a timer fired). ``CallMachine`` sees nothing
else, so a second provider contract needs a new adapter, not a new machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .timers import TimerKey

__all__ = [
    "AgentSaid",
    "AudioCleared",
    "AudioStarted",
    "AudioStopped",
    "CallEnded",
    "CallEvent",
    "CallerSaid",
    "CallerSilent",
    "CallerStartedSpeaking",
    "KeypadPressed",
    "PlatformError",
    "ReferFailed",
    "ResponseFinished",
    "ResponseStarted",
    "SessionResumed",
    "SessionStarted",
    "TimerFired",
    "ToolCallRequested",
    "ToolFinished",
]


@dataclass(frozen=True, slots=True)
class SessionStarted:
    """The live connection to the call is open; the agent may speak."""


@dataclass(frozen=True, slots=True)
class SessionResumed:
    """The live connection dropped while the call was up and is open again.

    Whatever was being generated or played when it dropped is lost to us: no
    ``response.done`` or ``output_audio_buffer.stopped`` will come for it on the new one."""


@dataclass(frozen=True, slots=True)
class ResponseStarted:
    response_id: str
    request: str | None = None  # our tag for a response we asked for; None: the server's own


@dataclass(frozen=True, slots=True)
class ToolCallRequested:
    """A completed function call item of a response (never one of a cancelled item)."""

    response_id: str
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ResponseFinished:
    response_id: str
    status: str  # completed, cancelled, failed or incomplete


@dataclass(frozen=True, slots=True)
class AudioStarted:
    response_id: str


@dataclass(frozen=True, slots=True)
class AudioStopped:
    """The caller has heard everything of this response."""

    response_id: str


@dataclass(frozen=True, slots=True)
class AudioCleared:
    """Playback of this response was cut (the caller barged in)."""

    response_id: str


@dataclass(frozen=True, slots=True)
class CallerStartedSpeaking:
    pass


@dataclass(frozen=True, slots=True)
class CallerSaid:
    text: str


@dataclass(frozen=True, slots=True)
class AgentSaid:
    response_id: str
    text: str


@dataclass(frozen=True, slots=True)
class KeypadPressed:
    digit: str


@dataclass(frozen=True, slots=True)
class CallerSilent:
    """The caller said nothing for the session's idle timeout."""


@dataclass(frozen=True, slots=True)
class PlatformError:
    code: str | None
    message: str
    request: str | None = None  # our tag of the client event that failed, when known


@dataclass(frozen=True, slots=True)
class CallEnded:
    reason: str  # in words, for the log
    # How, for the call's record: caller_hung_up, hung_up (we did, as the flow asked),
    # transferred, dead_session (nobody could steer it), engine_shutdown. None: not said.
    how: str | None = None


@dataclass(frozen=True, slots=True)
class ToolFinished:
    call_id: str
    tool: str
    output: str
    ok: bool
    saved: Any = None
    # For the call's record (the machine does not read them): the service's HTTP status,
    # the run's time, and the runner's short error code (timeout, client_error, ...).
    status: int | None = None
    elapsed_ms: float | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ReferFailed:
    """The platform refused or failed the transfer request.

    ``certain`` is False when no answer came (a timeout): the REFER may have reached the
    carrier and be ringing, so it must not be followed by another one at once."""

    target: str
    reason: str
    certain: bool = True


@dataclass(frozen=True, slots=True)
class TimerFired:
    name: TimerKey


CallEvent = (
    SessionStarted
    | SessionResumed
    | ResponseStarted
    | ToolCallRequested
    | ResponseFinished
    | AudioStarted
    | AudioStopped
    | AudioCleared
    | CallerStartedSpeaking
    | CallerSaid
    | AgentSaid
    | KeypadPressed
    | CallerSilent
    | PlatformError
    | CallEnded
    | ToolFinished
    | ReferFailed
    | TimerFired
)
