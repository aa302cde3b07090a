"""The Realtime session a call is answered with: model, voice, time zone."""

from __future__ import annotations

from collections.abc import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from ..diagnostics import Diagnostic, Severity
from ..validate import did_you_mean
from .base import LintContext, rule

# The Realtime models and voices of the official `openai` SDK 3.52.0 (see the reference).
KNOWN_MODELS = (
    "gpt-realtime", "gpt-realtime-1.5", "gpt-realtime-2", "gpt-realtime-2.1",
    "gpt-realtime-2.1-mini", "gpt-realtime-2025-08-28", "gpt-4o-realtime-preview",
    "gpt-4o-realtime-preview-2024-10-01", "gpt-4o-realtime-preview-2024-12-17",
    "gpt-4o-realtime-preview-2025-06-03", "gpt-4o-mini-realtime-preview",
    "gpt-4o-mini-realtime-preview-2024-12-17", "gpt-realtime-mini",
    "gpt-realtime-mini-2025-10-06", "gpt-realtime-mini-2025-12-15", "gpt-audio-1.5",
    "gpt-audio-mini", "gpt-audio-mini-2025-10-06", "gpt-audio-mini-2025-12-15",
)  # fmt: skip
# Announced for shutdown on 2027-01-20.
DEPRECATED_MODELS = frozenset({
    "gpt-realtime", "gpt-realtime-2025-08-28", "gpt-realtime-mini",
    "gpt-realtime-mini-2025-12-15", "gpt-audio-mini", "gpt-audio-mini-2025-12-15",
})  # fmt: skip
# The input transcription models of the same SDK (`audio.input.transcription.model`).
KNOWN_TRANSCRIPTION_MODELS = (
    "gpt-transcribe", "gpt-live-transcribe", "gpt-realtime-whisper", "whisper-1",
    "gpt-4o-mini-transcribe", "gpt-4o-mini-transcribe-2025-12-15", "gpt-4o-transcribe",
    "gpt-4o-transcribe-diarize",
)  # fmt: skip
# Announced for shutdown on 2027-02-26.
DEPRECATED_TRANSCRIPTION_MODELS = frozenset({
    "whisper-1", "gpt-4o-mini-transcribe", "gpt-4o-mini-transcribe-2025-12-15",
    "gpt-4o-transcribe", "gpt-4o-transcribe-diarize",
})  # fmt: skip
KNOWN_VOICES = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "sage",
    "shimmer",
    "verse",
    "marin",
    "cedar",
)


@rule("model", "An unknown or deprecated Realtime model.", Severity.WARNING)
def model(ctx: LintContext) -> Iterator[Diagnostic]:
    name = ctx.flow.model
    if "model" not in ctx.flow.model_fields_set:
        return
    if name in DEPRECATED_MODELS:
        yield ctx.diagnostic(
            "model",
            ("model",),
            f'the model "{name}" is deprecated and OpenAI will shut it down on 2027-01-20',
            hint='use "gpt-realtime-2.1", or "gpt-realtime-1.5"',
        )
    elif name not in KNOWN_MODELS:
        guess = did_you_mean(name, KNOWN_MODELS)
        yield ctx.diagnostic(
            "model",
            ("model",),
            f'"{name}" is not a Realtime model this engine knows; calls may be refused',
            hint=f'did you mean "{guess}"?' if guess else "see docs/flows.md for the list",
        )


@rule("transcription", "An unknown or deprecated transcription model.", Severity.WARNING)
def transcription(ctx: LintContext) -> Iterator[Diagnostic]:
    name = ctx.flow.transcription.model
    if name is None:
        return  # the engine's setting, ENGINE_TRANSCRIPTION_MODEL
    path = ("transcription", "model")
    if name in DEPRECATED_TRANSCRIPTION_MODELS:
        yield ctx.diagnostic(
            "transcription",
            path,
            f'the transcription model "{name}" is deprecated and OpenAI will shut it down on '
            "2027-02-26",
            hint='use "gpt-transcribe", or leave `transcription.model` out for the engine\'s '
            "default",
        )
    elif name not in KNOWN_TRANSCRIPTION_MODELS:
        guess = did_you_mean(name, KNOWN_TRANSCRIPTION_MODELS)
        yield ctx.diagnostic(
            "transcription",
            path,
            f'"{name}" is not a transcription model this engine knows; calls may be refused',
            hint=f'did you mean "{guess}"?' if guess else "see docs/flows.md for the list",
        )


@rule("voice", "An unknown voice name.", Severity.WARNING)
def voice(ctx: LintContext) -> Iterator[Diagnostic]:
    name = ctx.flow.voice
    if name in KNOWN_VOICES or name.startswith("voice_"):
        return
    guess = did_you_mean(name, KNOWN_VOICES)
    yield ctx.diagnostic(
        "voice",
        ("voice",),
        f'"{name}" is not a Realtime voice; choose one of: {", ".join(KNOWN_VOICES)}, '
        "or a custom voice id `voice_…`",
        hint=f'did you mean "{guess}"?' if guess else None,
    )


_ZONES: frozenset[str] | None = None


def _is_zone(name: str) -> bool:
    # Opening one zone is cheap; listing them all (for a suggestion) reads every zone file.
    if not name or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _zones() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return _ZONES


# What people write instead of a zone name ("Pacific Time", "eastern"), by first word.
_ZONE_WORDS = {
    "pacific": "America/Los_Angeles",
    "mountain": "America/Denver",
    "central": "America/Chicago",
    "eastern": "America/New_York",
}


def _zone_guess(name: str) -> str | None:
    """The zone a person most likely meant: "Pacific Time", "London" or "Europe/Londn"."""
    words = name.strip().lower().replace("_", " ").split()
    if words and words[0] in _ZONE_WORDS and set(words[1:]) <= {"time", "standard", "daylight"}:
        return _ZONE_WORDS[words[0]]
    by_city = {zone.rsplit("/", 1)[-1].lower(): zone for zone in sorted(_zones()) if "/" in zone}
    city = "_".join(words)
    if city in by_city:
        return by_city[city]
    return did_you_mean(name, _zones())


@rule("timezone", "`timezone` is not an IANA time zone name.")
def timezone(ctx: LintContext) -> Iterator[Diagnostic]:
    name = ctx.flow.timezone
    if _is_zone(name):
        return
    guess = _zone_guess(name)
    yield ctx.diagnostic(
        "timezone",
        ("timezone",),
        f'"{name}" is not a time zone name; use an IANA name such as "Europe/London" '
        'or "America/New_York"',
        hint=f'did you mean "{guess}"?' if guess else None,
    )
