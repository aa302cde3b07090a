"""The flow file, as pydantic models.

The models are the single source of the flow's shape: the JSON Schema in
``schemas/flow.schema.json`` is generated from them (editors show each ``description`` on
hover), and the linter maps their validation errors back to the author's line and column.

Validation here is structural (types, ranges, unknown keys). Rules that need to look across
the file (a state that does not exist, a number claimed twice, a template name that is not
defined) live in ``engine.flow.rules`` so each can give a precise, friendly message.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_VOICE",
    "E164_PATTERN",
    "HTTP_METHODS",
    "PARAMETER_TYPES",
    "Flow",
    "HttpRequest",
    "Parameter",
    "State",
    "Tool",
]

DEFAULT_MODEL = "gpt-realtime-2.1"
DEFAULT_VOICE = "marin"
E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
PARAMETER_TYPES = ("string", "number", "integer", "boolean")
NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"

Template = Annotated[str, Field(json_schema_extra={"x-template": "jinja2"})]


class _FlowModel(BaseModel):
    # strict: a flow author's `timeout: "3"` is a mistake to point at, not to coerce silently.
    # frozen: a loaded flow is an immutable snapshot that calls in progress keep using.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Parameter(_FlowModel):
    """One argument the model passes when it calls a tool."""

    type: Literal["string", "number", "integer", "boolean"] = Field(
        "string", description="The kind of value: string, number, integer or boolean."
    )
    description: str | None = Field(
        None, description="What the value is, in words the model understands."
    )
    enum: list[str] | None = Field(
        None, description="If set, the only values the model may pass.", min_length=1
    )
    required: bool = Field(
        True, description="Whether the model must always pass this value (default: true)."
    )


class HttpRequest(_FlowModel):
    """An outside HTTP service the tool calls; its answer goes back to the model."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field(
        "GET", description="The HTTP method: GET, POST, PUT, PATCH or DELETE."
    )
    url: Template = Field(
        description="The address to call (Jinja2). Scheme and host must be written in the "
        "file; values from `args` may only fill the path or query.",
        examples=["https://api.example.com/orders/{{ args.order_id }}"],
    )
    headers: dict[str, Template] = Field(
        default_factory=dict,
        description="Request headers (Jinja2 values). Put secrets here as "
        "`{{ env.NAME }}`, never in the file.",
    )
    query: dict[str, Template] = Field(
        default_factory=dict, description="Query-string parameters (Jinja2 values)."
    )
    body: dict[str, Any] | None = Field(
        None,
        description="A JSON body to send; text values inside it are Jinja2 templates.",
    )
    timeout: float = Field(
        5.0,
        gt=0,
        le=30,
        description="Seconds to wait for the answer before telling the model the service "
        "did not answer (more than 0, at most 30).",
    )
    save_as: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = Field(
        None,
        description="Keep the answer for the rest of the call under this name; later "
        "templates read it as `{{ saved.NAME }}`.",
    )


class Tool(_FlowModel):
    """Something the model may do. Steps run in order: say, http, goto, transfer or hangup."""

    description: str = Field(
        description="What the tool does and when to use it; the model reads this to decide."
    )
    parameters: dict[str, Parameter] = Field(
        default_factory=dict,
        description="The values the model passes, by name. All are required unless "
        "marked `required: false`.",
    )
    say: Template | None = Field(
        None, description="A line the agent speaks before the other steps (Jinja2)."
    )
    http: HttpRequest | None = Field(None, description="Call an outside HTTP service.")
    goto: str | None = Field(
        None, description="Move the call to this state: its instructions and tools."
    )
    transfer: Template | None = Field(
        None,
        description="Transfer the call (SIP REFER) to a `sip:` or `tel:` URI or an E.164 "
        "number (Jinja2). The `say` line is heard first.",
    )
    hangup: bool = Field(
        False, description="End the call after the other steps (the `say` line is heard first)."
    )


class State(_FlowModel):
    """One step of the conversation: what the agent should do and which tools it may use."""

    instructions: Template | None = Field(
        None, description="Added to the flow's instructions while the call is in this state."
    )
    tools: list[str] = Field(
        default_factory=list, description="The tools the model may call in this state."
    )


class Flow(_FlowModel):
    """How calls to one or more phone numbers are answered."""

    name: str = Field(description="A name for people: shown in logs, lint output and /flows.")
    numbers: list[str] = Field(
        min_length=1,
        description="The dialled numbers (SIP To) this flow answers, in E.164 such as "
        '"+18005551212"; "*" answers any number no other flow claims.',
        json_schema_extra={"items": {"type": "string", "pattern": r"^(\+[1-9][0-9]{1,14}|\*)$"}},
    )
    model: str = Field(DEFAULT_MODEL, description="The OpenAI Realtime model for the call.")
    voice: str = Field(
        DEFAULT_VOICE,
        description="The agent's voice: alloy, ash, ballad, coral, echo, sage, shimmer, verse, "
        "marin or cedar, or a custom voice id `voice_…`.",
    )
    instructions: Template = Field(
        description="What the agent is and how it behaves (Jinja2, rendered for each call)."
    )
    greeting: Template | None = Field(
        None, description="The first thing the agent says when the call is answered (Jinja2)."
    )
    timezone: str = Field(
        "UTC", description='The IANA time zone of `now` in templates, e.g. "Europe/London".'
    )
    vars: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="Named constants, read in templates as `{{ vars.NAME }}`. No secrets: "
        "use `{{ env.NAME }}` for those.",
    )
    start: str | None = Field(
        None, description="The state a call starts in; default: the first state listed."
    )
    states: dict[str, State] = Field(
        default_factory=dict,
        description="The conversation's states. Without states, the flow is one state that "
        "offers every tool.",
    )
    tools: dict[str, Tool] = Field(default_factory=dict, description="What the model may call.")

    @property
    def start_state(self) -> str | None:
        """The first state's name, or None for a flow without states."""
        if self.start is not None:
            return self.start
        return next(iter(self.states), None)

    def tools_of(self, state: str | None) -> list[str]:
        """The tools offered in ``state`` (every tool when the flow has no states)."""
        if not self.states or state is None:
            return list(self.tools)
        found = self.states.get(state)
        return list(found.tools) if found else []
