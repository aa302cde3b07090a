"""What the engine tells the model when something goes wrong: every word of it, in one place.

A flow's own lines (``lines.transfer_failed``, a tool's ``say``…) are the flow author's. The
texts here are the engine's. When a tool cannot run, its outside service fails or does not
answer in time, or a transfer is refused, the model reads a JSON tool output::

    {"ok": false, "error": "timeout", "message": "The service of the \"lookup\" tool did
     not answer within 5 seconds. Apologise and offer to transfer the caller or try again
     later."}

``error`` is a short code (the same one the engine logs); ``status`` is there when a service
answered with one; ``message`` says what happened and what to do, because the model turns it
into words for the caller. For a tool the engine runs by itself (a keypad key, a silence
step), which has no function call to answer, the same output reaches the model as a note.

No text here quotes a header value, a service's body or the flow's secrets: a refusal's
short ``reason`` is the only thing a service writes, and the flow's secrets are masked in it.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

__all__ = [
    "APOLOGISE",
    "CHANGES_WHERE_IT_GOES",
    "INVALID_ARGUMENTS",
    "NOT_A_TRANSFER_ADDRESS",
    "TOOL_LIMIT_REACHED",
    "TOOL_RAISED",
    "TRANSFER_UNAVAILABLE",
    "Told",
    "arg_not_in_form",
    "arg_not_one_of",
    "arg_too_long",
    "arg_wrong_type",
    "bad_redirect",
    "bad_url",
    "busy",
    "connection_broke",
    "cut_short",
    "failure_output",
    "key_pressed",
    "keyed_in",
    "may_not_reach",
    "missing_arguments",
    "not_prepared",
    "redirect_other_host",
    "refused",
    "server_error",
    "service_of",
    "stopped_keying",
    "timeout",
    "too_many_redirects",
    "tool_result",
    "transfer_refused",
    "unexpected_status",
    "unknown_tool",
    "unreachable",
]

# How most failures end: the model has something it can offer the caller.
APOLOGISE = "Apologise and offer to transfer the caller or try again later."


class Told(NamedTuple):
    """A failure as the model reads it: the short code and the message."""

    error: str
    message: str


def failure_output(told: Told, *, status: int | None = None, **extra: Any) -> str:
    """The tool output for a failure, in this key order: ``ok``, ``error``, ``status`` (when
    a service answered), ``message``, then ``extra`` (a refusal's ``reason``)."""
    payload: dict[str, Any] = {"ok": False, "error": told.error}
    if status is not None:
        payload["status"] = status
    payload["message"] = told.message
    payload.update(extra)
    return json.dumps(payload, ensure_ascii=False)


# -- a tool call the engine cannot run -------------------------------------------------------

# The flow's `limits.tool_calls` is reached: this call and every later one is refused.
TOOL_LIMIT_REACHED = Told(
    "limit_reached", "No more tools can be used on this call. Apologise to the caller."
)


def unknown_tool(name: str, offered: list[str]) -> Told:
    """The model called a tool the current state does not offer (``offered``: those it does)."""
    return Told(
        "unknown_tool",
        f"There is no tool named {name!r} right now. The tools you can use "
        f"are: {', '.join(offered) or 'none'}.",
    )


# The arguments are not JSON, or not a JSON object.
INVALID_ARGUMENTS = Told(
    "invalid_arguments",
    "The arguments were not a valid JSON object. Call the tool again with valid JSON arguments.",
)


def missing_arguments(missing: list[str]) -> Told:
    """Required parameters the model left out."""
    return Told(
        "missing_arguments",
        f"Missing required arguments: {', '.join(missing)}. Ask the caller for them, "
        "then call the tool again.",
    )


# -- a tool's outside service (the `http` step) ----------------------------------------------


def service_of(tool_name: str) -> str:
    """How the messages below name the service a tool calls."""
    return f'the service of the "{tool_name}" tool'


def busy(service: str) -> Told:
    """Every slot of the tools' connection pool stayed taken until the tool's timeout."""
    return Told("busy", f"Too many calls are using {service} right now. {APOLOGISE}")


def timeout(service: str, seconds: float) -> Told:
    """No answer within the tool's ``timeout`` (waiting for a slot included)."""
    return Told(
        "timeout", f"{_cap(service)} did not answer within {_seconds(seconds)}. {APOLOGISE}"
    )


def unreachable(service: str) -> Told:
    """The connection could not be made (refused, no route, the name did not resolve)."""
    return Told("connection", f"{_cap(service)} could not be reached. {APOLOGISE}")


def connection_broke(service: str) -> Told:
    """The connection broke, or the answer was not valid HTTP."""
    return Told("network", f"The connection to {service} broke before it answered. {APOLOGISE}")


def bad_url(tool_name: str) -> Told:
    """The rendered address is not one the runner calls (a value reached the host, not http
    or https, not a URL at all): nothing was sent."""
    return Told(
        "bad_url",
        f'The "{tool_name}" tool has an address that cannot be called, so nothing was sent. '
        f"{APOLOGISE}",
    )


def not_prepared(tool_name: str, error: str = "template") -> Told:
    """The request could not be made: a template failed (``template``), a rendered header is
    not one line of ASCII text (``bad_header``), or the body holds what JSON cannot."""
    return Told(
        error,
        f'The "{tool_name}" tool could not be prepared, so nothing was sent. {APOLOGISE}',
    )


def too_many_redirects(service: str) -> Told:
    return Told("too_many_redirects", f"{_cap(service)} redirected too many times. {APOLOGISE}")


def bad_redirect(service: str) -> Told:
    return Told(
        "bad_redirect",
        f"{_cap(service)} redirected to an address that cannot be called. {APOLOGISE}",
    )


def redirect_other_host(service: str) -> Told:
    """A redirect to another scheme, host or port: not followed, so credentials stay put."""
    return Told(
        "redirect_other_host",
        f"{_cap(service)} redirected to another host, which is not allowed, so the "
        f"request was stopped. {APOLOGISE}",
    )


def refused(service: str, phrase: str) -> Told:
    """A 4xx answer (``phrase``: ``HTTP 404 Not Found``). The output carries the answer's
    short ``reason`` when it gave one, never its body."""
    return Told(
        "client_error",
        f"{_cap(service)} refused the request ({phrase}). If its reason explains why, tell "
        "the caller in plain words; otherwise apologise and offer to transfer the caller.",
    )


def server_error(service: str, phrase: str) -> Told:
    """A 5xx answer."""
    return Told("server_error", f"{_cap(service)} failed ({phrase}). {APOLOGISE}")


def unexpected_status(service: str, phrase: str) -> Told:
    """An answer that is neither a success, a redirect nor an error (1xx, a 3xx without a
    ``Location``)."""
    return Told(
        "unexpected_status",
        f"{_cap(service)} gave an unexpected answer ({phrase}). {APOLOGISE}",
    )


def cut_short(cap: int) -> str:
    """Added to a successful text answer longer than the runner reads (not a failure)."""
    return f"[cut short: the answer was longer than {cap} bytes]"


# Whatever else goes wrong while a tool runs (a bug of ours, not the service's).
TOOL_RAISED = Told("internal", "The tool failed. Apologise and offer another way to help.")


# -- transfers -------------------------------------------------------------------------------

# A transfer none of whose targets could be filled in for this call (a template failed or
# rendered nothing), with no refusal to explain it.
TRANSFER_UNAVAILABLE = Told(
    "transfer_unavailable",
    "The transfer cannot be made right now. Apologise to the caller and offer another way to help.",
)


def transfer_refused(why: str) -> Told:
    """A transfer target failed its check (``engine.call.transfer_guard``); ``why`` is one of
    the reasons below, or what ``engine.flow.reach`` says a line may not reach."""
    return Told(
        "transfer_refused",
        f"The transfer was refused: {why}. Tell the caller you cannot transfer them "
        "there and offer another way to help.",
    )


NOT_A_TRANSFER_ADDRESS = "the address it gave is not a valid transfer address"
CHANGES_WHERE_IT_GOES = "the values given would change where the call goes"


def may_not_reach(problem: str) -> str:
    return f"this line may not transfer there: {problem}"


def arg_wrong_type(name: str, type_: str) -> str:
    return f'"{name}" must be a {type_}'


def arg_too_long(name: str) -> str:
    return f'"{name}" is too long'


def arg_not_one_of(name: str, allowed: list[str]) -> str:
    return f'"{name}" must be one of: {", ".join(allowed)}'


def arg_not_in_form(name: str) -> str:
    return f'"{name}" is not in the form this line accepts'


# -- notes: what the model is told that is not a tool's answer ------------------------------


def key_pressed(key: str) -> str:
    """Before the tool a keypad key runs."""
    return f"The caller pressed {key} on the keypad."


def keyed_in(name: str, value: str) -> str:
    """A `collect` entry is complete: its `save_as` name and the digits."""
    return f"The caller keyed in {name}: {value}."


def stopped_keying(name: str, keyed: int, fewest: int) -> str:
    """A `collect` entry timed out with too few digits (and no `on_timeout` step)."""
    digits = "digit" if keyed == 1 else "digits"
    return (
        f"The caller started keying {name} on the keypad but stopped after {keyed} {digits}; "
        f"{fewest} are needed."
    )


def tool_result(name: str, output: str) -> str:
    """The result (or failure output) of a tool the engine ran by itself, which has no
    function call to carry it."""
    return f"The {name} tool answered: {output}"


def not_made(kind: str) -> str:
    """A transfer or hangup whose calling response the caller cut short (they spoke over
    it, or pressed a key) is not made; the model is told so."""
    what = "the transfer was not made" if kind == "transfer" else "the call was not ended"
    return (
        f"The caller interrupted you before that happened, so {what}. Answer the caller; "
        "call the tool again if they still want it."
    )


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _seconds(value: float) -> str:
    return f"{value:g} second" + ("" if value == 1 else "s")
