"""The effective Realtime session of a simulated call: defaults, and how accept bodies
and ``session.update`` change it, with the errors the real API gives for common mistakes.

Shapes follow the GA session object (``object: "realtime.session"``). Defaults come from
the reference notes (spec defaults). Where the real server's exact behaviour is not
documented, the choice made here is marked [inf] and errs towards being strict, so a
test catches a mistake that production might forgive silently.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "SessionProblem",
    "apply_session_fields",
    "default_session",
]

# The real default prompt is long; its opening is enough to recognise it. [inf]
DEFAULT_INSTRUCTIONS = (
    "Your knowledge cutoff is 2023-10. You are a helpful, witty, and friendly AI. "
    "Act like a human, but remember that you aren't a human."
)

SERVER_VAD_DEFAULTS: dict[str, Any] = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "idle_timeout_ms": None,
    "create_response": True,
    "interrupt_response": True,
}
SEMANTIC_VAD_DEFAULTS: dict[str, Any] = {
    "type": "semantic_vad",
    "eagerness": "auto",
    "create_response": True,
    "interrupt_response": True,
}

# OpenAI's SIP leg has been seen answering with PCMU; the session reports the negotiated
# format. [obs]
NEGOTIATED_FORMAT = {"type": "audio/pcmu"}

KNOWN_FIELDS = frozenset(
    {
        "type",
        "model",
        "instructions",
        "output_modalities",
        "audio",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "reasoning",
        "max_output_tokens",
        "truncation",
        "tracing",
        "prompt",
        "include",
    }
)
# Accepted without error by the real API per one community report, effect unknown. [obs]
TOLERATED_FIELDS = frozenset({"temperature"})
AUDIO_INPUT_FIELDS = frozenset({"format", "noise_reduction", "transcription", "turn_detection"})
AUDIO_OUTPUT_FIELDS = frozenset({"format", "voice", "speed"})


@dataclass(frozen=True)
class SessionProblem:
    """An error the real API would return (``fatal``) or a warning worth a test's
    attention (not fatal). ``param`` is relative to the session object."""

    message: str
    param: str | None = None
    code: str | None = None
    fatal: bool = True


def default_session(session_id: str, created_at: int) -> dict[str, Any]:
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": "gpt-realtime",
        "output_modalities": ["audio"],
        "instructions": DEFAULT_INSTRUCTIONS,
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        # A Realtime session lasts at most 60 minutes.
        "expires_at": created_at + 3600,
        "audio": {
            "input": {
                "format": dict(NEGOTIATED_FORMAT),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": dict(SERVER_VAD_DEFAULTS),
            },
            "output": {"format": dict(NEGOTIATED_FORMAT), "voice": "alloy", "speed": 1.0},
        },
        "include": None,
    }


def apply_session_fields(
    session: dict[str, Any],
    fields: dict[str, Any],
    *,
    prefix: str,
    initial: bool,
    audio_was_produced: bool = False,
) -> list[SessionProblem]:
    """Validate ``fields`` (an accept body or ``session.update``'s ``session``) and, when
    no fatal problem is found, apply them to ``session`` in place.

    ``prefix`` is how the real API names the object in messages: ``""`` for accept
    bodies, ``"session."`` for ``session.update``. Only the fields sent change; ``audio``
    is merged per direction, everything else is replaced whole (``tools`` included).
    """
    problems = check_session_fields(
        session, fields, prefix=prefix, initial=initial, audio_was_produced=audio_was_produced
    )
    if any(p.fatal for p in problems):
        return problems
    for key, value in fields.items():
        if key in ("type", "temperature"):
            continue
        if key == "model" and not initial:
            continue  # cannot change after accept; recorded as a warning
        if key == "audio":
            for direction in ("input", "output"):
                for sub_key, sub_value in (value.get(direction) or {}).items():
                    target = session["audio"][direction]
                    if sub_key == "turn_detection" and isinstance(sub_value, dict):
                        target[sub_key] = _with_vad_defaults(sub_value)
                    else:
                        target[sub_key] = copy.deepcopy(sub_value)
            continue
        session[key] = copy.deepcopy(value)
    return problems


def check_session_fields(
    session: dict[str, Any],
    fields: Any,
    *,
    prefix: str,
    initial: bool,
    audio_was_produced: bool = False,
) -> list[SessionProblem]:
    problems: list[SessionProblem] = []
    if not isinstance(fields, dict):
        return [SessionProblem(f"Invalid type for '{prefix or 'body'}': expected an object.")]
    if "type" not in fields:
        problems.append(
            SessionProblem(
                f"Missing required parameter: '{prefix}type'.",
                param=f"{prefix}type",
                code="missing_required_parameter",
            )
        )
    elif fields["type"] != "realtime":
        problems.append(
            SessionProblem(
                f"Invalid value: '{fields['type']}'. Supported values are: 'realtime'.",
                param=f"{prefix}type",
                code="invalid_value",
            )
        )
    for key in fields:
        if key in TOLERATED_FIELDS:
            problems.append(
                SessionProblem(
                    f"'{prefix}{key}' is not in the GA schema; its effect is unknown",
                    param=f"{prefix}{key}",
                    fatal=False,
                )
            )
        elif key not in KNOWN_FIELDS:
            # Beta-shaped configs (voice, input_audio_format, modalities, turn_detection at
            # the top level) land here; the GA API rejects unknown parameters. [inf]
            problems.append(
                SessionProblem(
                    f"Unknown parameter: '{prefix}{key}'.",
                    param=f"{prefix}{key}",
                    code="unknown_parameter",
                )
            )
    if "model" in fields and not initial and fields["model"] != session.get("model"):
        problems.append(
            SessionProblem(
                f"'{prefix}model' cannot be changed after the call was accepted; ignored",
                param=f"{prefix}model",
                fatal=False,
            )
        )
    audio = fields.get("audio")
    if audio is not None:
        problems += _check_audio(session, audio, prefix, audio_was_produced)
    return problems


def _check_audio(
    session: dict[str, Any], audio: Any, prefix: str, audio_was_produced: bool
) -> list[SessionProblem]:
    if not isinstance(audio, dict):
        return [
            SessionProblem(
                f"Invalid type for '{prefix}audio': expected an object.",
                param=f"{prefix}audio",
                code="invalid_type",
            )
        ]
    problems: list[SessionProblem] = []
    for direction, allowed in (("input", AUDIO_INPUT_FIELDS), ("output", AUDIO_OUTPUT_FIELDS)):
        part = audio.get(direction)
        if part is None:
            continue
        where = f"{prefix}audio.{direction}"
        if not isinstance(part, dict):
            problems.append(
                SessionProblem(
                    f"Invalid type for '{where}': expected an object.",
                    param=where,
                    code="invalid_type",
                )
            )
            continue
        for key in part:
            if key not in allowed:
                problems.append(
                    SessionProblem(
                        f"Unknown parameter: '{where}.{key}'.",
                        param=f"{where}.{key}",
                        code="unknown_parameter",
                    )
                )
        if "format" in part:
            if part["format"] is None:
                # Seen in the field (openai-agents-python #2308 / PR #2454).
                problems.append(
                    SessionProblem(
                        f"Invalid type for '{where}.format': expected an object, "
                        "but got null instead.",
                        param=f"{where}.format",
                        code="invalid_type",
                    )
                )
            else:
                problems.append(
                    SessionProblem(
                        f"'{where}.format' is set; over SIP the codec is negotiated and "
                        "forcing it has caused static or silence",
                        param=f"{where}.format",
                        fatal=False,
                    )
                )
        if (
            direction == "output"
            and "voice" in part
            and audio_was_produced
            and part["voice"] != session["audio"]["output"]["voice"]
        ):
            problems.append(
                SessionProblem(
                    "Cannot update a conversation's voice if assistant audio is present.",
                    param=f"{where}.voice",
                    code="cannot_update_voice",
                )
            )
        vad = part.get("turn_detection") if direction == "input" else None
        if isinstance(vad, dict) and vad.get("type") not in ("server_vad", "semantic_vad"):
            problems.append(
                SessionProblem(
                    f"Invalid value: '{vad.get('type')}'. Supported values are: "
                    "'server_vad' and 'semantic_vad'.",
                    param=f"{where}.turn_detection.type",
                    code="invalid_value",
                )
            )
        if isinstance(vad, dict) and vad.get("idle_timeout_ms") is not None:
            problems += _check_idle_timeout(vad, f"{where}.turn_detection.idle_timeout_ms")
    return problems


_JSON_KIND = {
    bool: "a boolean",
    float: "a decimal number",
    str: "a string",
    list: "an array",
    dict: "an object",
}


def _check_idle_timeout(vad: dict[str, Any], param: str) -> list[SessionProblem]:
    """``idle_timeout_ms``: server_vad only, an integer from 5000 to 30000 (the spec's
    range). The wording of the real errors is not documented. [inf]"""
    idle = vad["idle_timeout_ms"]
    if vad.get("type") != "server_vad":
        return [
            SessionProblem(
                "idle_timeout_ms is only supported with server_vad",
                param=param,
                code="invalid_value",
            )
        ]
    if not isinstance(idle, int) or isinstance(idle, bool):
        got = _JSON_KIND.get(type(idle), "another type")
        return [
            SessionProblem(
                f"Invalid type for '{param}': expected an integer, but got {got} instead.",
                param=param,
                code="invalid_type",
            )
        ]
    if not 5000 <= idle <= 30000:
        return [
            SessionProblem(
                f"Invalid 'idle_timeout_ms': must be between 5000 and 30000, got {idle}.",
                param=param,
                code="integer_out_of_range",
            )
        ]
    return []


def _with_vad_defaults(vad: dict[str, Any]) -> dict[str, Any]:
    # A turn_detection object replaces the session's whole (fields not sent go back to
    # their defaults), as for every object in session.update but `audio`. Whether the
    # real server merges it with the current one instead is not documented. [inf]
    defaults = SERVER_VAD_DEFAULTS if vad.get("type") == "server_vad" else SEMANTIC_VAD_DEFAULTS
    return {**defaults, **copy.deepcopy(vad)}
