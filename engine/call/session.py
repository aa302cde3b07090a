"""The session a state asks for: instructions and exactly its tools, as the model sees them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..flow.model import DEFAULT_TRANSCRIPTION_MODEL, Flow, Tool
from ..flow.templates import render
from .actions import FunctionSpec, IdleTimeout
from .masking import flow_secrets

__all__ = [
    "SessionSpec",
    "function_spec",
    "idle_for",
    "instructions_for",
    "session_for",
    "tools_for",
    "transcription_for",
]


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """What a call is answered with; the adapter turns it into the provider's session body."""

    model: str
    voice: str
    instructions: str
    tools: tuple[FunctionSpec, ...]
    # The caller's speech-to-text model (audio.input.transcription.model); None: no transcript.
    transcription: str | None = DEFAULT_TRANSCRIPTION_MODEL
    idle: IdleTimeout | None = None  # None: the platform's default turn detection


def function_spec(name: str, tool: Tool) -> FunctionSpec:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param_name, param in tool.parameters.items():
        schema: dict[str, Any] = {"type": param.type}
        if param.description:
            schema["description"] = param.description
        if param.enum:
            schema["enum"] = list(param.enum)
        if param.pattern:
            schema["pattern"] = param.pattern
        properties[param_name] = schema
        if param.required:
            required.append(param_name)
    parameters = {"type": "object", "properties": properties, "required": required}
    return FunctionSpec(name=name, description=tool.description, parameters=parameters)


def tools_for(flow: Flow, state: str | None) -> tuple[FunctionSpec, ...]:
    return tuple(function_spec(n, flow.tools[n]) for n in flow.tools_of(state) if n in flow.tools)


def instructions_for(flow: Flow, state: str | None, context: Mapping[str, Any]) -> str:
    """The flow's instructions followed by the state's, the flow's secrets masked (see
    ``engine.call.masking``). Raises TemplateError."""
    text = render(flow.instructions, context).strip()
    if state is not None and state in flow.states:
        extra = flow.states[state].instructions
        if extra:
            text = f"{text}\n\n{render(extra, context).strip()}"
    return flow_secrets(flow, context.get("env")).mask(text)


def idle_for(flow: Flow, state: str | None) -> IdleTimeout | None:
    """The caller-silence timeout of ``state``'s silence ladder (every flow has one unless
    it writes `silence: off`). In a state switched off: no timeout. None when no state has
    a ladder at all, so such a flow never touches the platform's turn detection."""
    ladder = flow.silence_of(state)
    if ladder is not None:
        return IdleTimeout(round(ladder.after * 1000))
    if all(flow.silence_of(name) is None for name in (*flow.states, None)):
        return None
    return IdleTimeout(None)


def transcription_for(flow: Flow, default: str = DEFAULT_TRANSCRIPTION_MODEL) -> str:
    """The flow's transcription model, else ``default`` (the engine's setting)."""
    return flow.transcription.model or default


def session_for(
    flow: Flow,
    context: Mapping[str, Any],
    *,
    transcription_model: str = DEFAULT_TRANSCRIPTION_MODEL,
) -> SessionSpec:
    """The session a call to ``flow`` is answered with. ``transcription_model``: the
    engine's default (ENGINE_TRANSCRIPTION_MODEL), used when the flow names none."""
    state = flow.start_state
    return SessionSpec(
        model=flow.model,
        voice=flow.voice,
        instructions=instructions_for(flow, state, context),
        tools=tools_for(flow, state),
        transcription=transcription_for(flow, transcription_model),
        idle=idle_for(flow, state),
    )
