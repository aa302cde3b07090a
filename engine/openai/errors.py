"""The exception hierarchy of the OpenAI adapter.

One base class, so a caller can catch "anything the platform did" in one place, and a
few subclasses for the outcomes that need a different reaction (a call that is already
gone is routine; a 500 from ``refer`` is not). No exception here ever carries the API
key or the webhook secret: messages are written for logs.
"""

from __future__ import annotations

from ..call.platform import CallGone

__all__ = [
    "CallControlError",
    "CallControlTimeout",
    "CallNotFound",
    "ConfigError",
    "OpenAIAdapterError",
    "SidebandError",
    "WebhookRejected",
]


class OpenAIAdapterError(Exception):
    """Base class of every error raised by ``engine.openai``."""


class ConfigError(OpenAIAdapterError, ValueError):
    """The environment does not describe a usable OpenAI configuration.

    The message names the variable and what is wrong with it, never its value.
    """


class WebhookRejected(OpenAIAdapterError):
    """A webhook delivery failed verification; answer it with a 4xx.

    ``reason`` is a short, log-safe explanation ("stale timestamp", "no matching
    signature", ...). It never contains the secret or the signature.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CallControlError(OpenAIAdapterError):
    """A call-control request (accept, reject, refer, hangup) did not succeed.

    ``status`` is the HTTP status, or ``None`` when no response arrived (network error,
    timeout). ``message`` comes from OpenAI's ``{"error": {"message": ...}}`` body when
    there is one. ``code`` is ``error.code`` when present.

    ``uncertain``: some attempt may have taken effect on OpenAI's side (it timed out or
    its connection broke after the request was sent, or it was answered 5xx), so the call
    may be in the state the action asked for even though this error is raised. Never act
    as if it certainly did not happen (e.g. never reject a call whose accept is uncertain).
    """

    def __init__(
        self,
        status: int | None,
        message: str,
        *,
        code: str | None = None,
        call_id: str | None = None,
        action: str | None = None,
        uncertain: bool = False,
    ) -> None:
        where = f"{action} {call_id}: " if action and call_id else ""
        shown = f"HTTP {status}: " if status is not None else ""
        super().__init__(f"{where}{shown}{message}")
        self.status = status
        self.message = message
        self.code = code
        self.call_id = call_id
        self.action = action
        self.uncertain = uncertain


class CallNotFound(CallControlError, CallGone):
    """OpenAI does not know the call (HTTP 404): the caller hung up, the call ended, or a
    late webhook retry arrived. Routine for a call controller; treat it as "call gone".

    Raised both by REST call control and by the sideband handshake.
    """

    def __init__(
        self,
        message: str = "call not found",
        *,
        code: str | None = None,
        call_id: str | None = None,
        action: str | None = None,
    ) -> None:
        super().__init__(404, message, code=code, call_id=call_id, action=action)


class CallControlTimeout(CallControlError):
    """No answer within the request's deadline. The request may or may not have taken
    effect on OpenAI's side."""

    def __init__(
        self, timeout_s: float, *, call_id: str | None = None, action: str | None = None
    ) -> None:
        super().__init__(
            None,
            f"no answer within {timeout_s:g}s",
            call_id=call_id,
            action=action,
            uncertain=True,
        )
        self.timeout_s = timeout_s


class SidebandError(OpenAIAdapterError):
    """The sideband WebSocket could not be opened (other than 404, see ``CallNotFound``):
    refused, timed out, or rejected with another HTTP status."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
