"""The session a state asks for: instructions and exactly its tools, as the model sees them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..flow.model import Flow, Tool
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
]


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """What a call is answered with; the adapter turns it into the provider's session body."""

    model: str
    voice: str
    instructions: str
    tools: tuple[FunctionSpec, ...]
    transcription: bool = True
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
    env = context.get("env")
    return flow_secrets(flow, env if isinstance(env, Mapping) else {}).mask(text)


def idle_for(flow: Flow, state: str | None) -> IdleTimeout | None:
    """The caller-silence timeout of ``state``'s silence ladder. None when the flow has no
    ladder anywhere, so such a flow never touches the platform's turn detection."""
    if flow.silence is None and not any(s.silence for s in flow.states.values()):
        return None
    ladder = flow.silence_of(state)
    return IdleTimeout(round(ladder.after * 1000) if ladder else None)


def session_for(flow: Flow, context: Mapping[str, Any]) -> SessionSpec:
    state = flow.start_state
    return SessionSpec(
        model=flow.model,
        voice=flow.voice,
        instructions=instructions_for(flow, state, context),
        tools=tools_for(flow, state),
        idle=idle_for(flow, state),
    )
