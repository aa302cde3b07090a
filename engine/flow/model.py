"""The flow file, as pydantic models.

The models are the single source of the flow's shape: the JSON Schema in
``schemas/flow.schema.json`` is generated from them (editors show each ``description`` on
hover), and the linter maps their validation errors back to the author's line and column.

Validation here is structural (types, ranges, unknown keys). Rules that need to look across
the file (a state that does not exist, a number claimed twice, a template name that is not
defined) live in ``engine.flow.rules`` so each can give a precise, friendly message.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "CARRIERS",
    "DEFAULT_MODEL",
    "DEFAULT_SILENCE_AFTER",
    "DEFAULT_TRANSCRIPTION_MODEL",
    "DEFAULT_TRANSFER_WAIT",
    "DEFAULT_VOICE",
    "DTMF_KEYS",
    "E164_PATTERN",
    "HTTP_METHODS",
    "PARAMETER_TYPES",
    "SILENCE_OFF",
    "TRANSFER_WAITS",
    "CallerRule",
    "Collect",
    "Filler",
    "Flow",
    "Hours",
    "HttpRequest",
    "Limits",
    "Lines",
    "Outcome",
    "Parameter",
    "Records",
    "Silence",
    "State",
    "Step",
    "Tool",
    "Transcription",
    "Trunk",
]

DEFAULT_MODEL = "gpt-realtime-2.1"
DEFAULT_VOICE = "marin"
# The caller's speech-to-text model when neither the flow nor ENGINE_TRANSCRIPTION_MODEL
# names one: not among the models OpenAI will shut down on 2027-02-26.
DEFAULT_TRANSCRIPTION_MODEL = "gpt-transcribe"
E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
PARAMETER_TYPES = ("string", "number", "integer", "boolean")
NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
# The keys a phone sends (RFC 4733 events), as OpenAI reports them in
# input_audio_buffer.dtmf_event_received.
DTMF_KEYS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#", "A", "B", "C", "D")
CARRIERS = ("bandwidth", "wavix", "twilio", "telnyx", "custom")
# OpenAI ends a Realtime session after 60 minutes; the engine's own limit must come first.
DEFAULT_CALL_MINUTES = 55.0
MAX_CALL_MINUTES = 59.0
# `silence: off` (YAML 1.2 reads `off` as text): no ladder, and no idle timeout, here.
SILENCE_OFF = "off"
# The ladder of a flow that writes none: a caller who has gone ends the call in 20 seconds.
DEFAULT_SILENCE_AFTER = 10.0
# Seconds a transfer may take before the engine calls it failed: the target's ring time and
# then the carrier's own hand-over. Without a carrier: about 8 rings of a person's phone.
DEFAULT_TRANSFER_WAIT = 45.0
TRANSFER_WAITS: dict[str | None, float] = {
    None: DEFAULT_TRANSFER_WAIT,
    # Twilio holds the caller while the target rings, and after the target answers waits up
    # to 32 s for our BYE (Twilio "Call Transfer via SIP REFER"; support article
    # 42826350337179): about 28 s of ringing plus those 32 s.
    "twilio": 60.0,
    # Guesses, marked as such: none of these documents how long a REFER target may ring.
    # Bandwidth's own transfers ring 30 s by default (BXML <Transfer> `callTimeout`, documented);
    # Telnyx's Call Control transfer `timeout_secs` is believed to default to 30 s (not
    # confirmed); for Wavix we found no figure. 45 s covers 30 s of ringing and a hand-over.
    "bandwidth": DEFAULT_TRANSFER_WAIT,
    "telnyx": DEFAULT_TRANSFER_WAIT,
    "wavix": DEFAULT_TRANSFER_WAIT,
    "custom": DEFAULT_TRANSFER_WAIT,
}

Template = Annotated[str, Field(json_schema_extra={"x-template": "jinja2"})]
# A group holding a quantifier, itself quantified: the shape of catastrophic backtracking.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)(?:[+*]|\{\d*,)")


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
        None,
        description="If set, the only values the model may pass. A transfer made with "
        "another value is refused and the model told.",
        min_length=1,
    )
    pattern: str | None = Field(
        None,
        description="If set, a regular expression the whole value must match, e.g. "
        '`"^[0-9]{3}$"` for a three-digit extension. A transfer made with a value that does '
        "not match is refused and the model told.",
        min_length=1,
        max_length=200,
    )
    required: bool = Field(
        True, description="Whether the model must always pass this value (default: true)."
    )

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression ({exc})") from None
            if _NESTED_QUANTIFIER.search(value):
                # `(a+)+` takes exponential time on a value the model chose: a frozen call.
                raise ValueError(
                    "a repeated group that itself repeats, such as (a+)+, can take minutes to "
                    "check; write it without the inner repeat"
                )
        return value


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


class Step(_FlowModel):
    """Something the engine does by itself: a rung of a silence ladder, a fallback, what
    happens when keyed digits time out. It runs in order: `say` or `instructions`, then
    `tool`, then `goto`, then `hangup`."""

    say: Template | None = Field(
        None, description="A line the agent speaks, word for word (Jinja2)."
    )
    instructions: Template | None = Field(
        None,
        description="Tell the model what to say and let it choose the words, e.g. "
        '"Ask again in simpler words." (Jinja2).',
    )
    tool: str | None = Field(
        None,
        description="Run this tool as if the model had called it. It must need no parameters.",
    )
    goto: str | None = Field(None, description="Move the call to this state.")
    hangup: bool = Field(False, description="End the call after the line has been heard.")


class Filler(_FlowModel):
    """A line spoken when the tool's service is slow to answer."""

    say: Template = Field(
        description='What the agent says while waiting, e.g. "One moment while I look that up."'
    )
    after: float = Field(
        2.0,
        gt=0,
        le=30,
        description="Seconds to wait for the service before the line is spoken (default 2).",
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
    transfer: Template | Annotated[list[Template], Field(min_length=1)] | None = Field(
        None,
        description="Transfer the call (SIP REFER) to a `sip:` or `tel:` URI or an E.164 "
        "number (Jinja2). The `say` line is heard first. A list is tried in order: when a "
        "transfer does not take, the caller is told and the next one is tried.",
    )
    hangup: bool = Field(
        False, description="End the call after the other steps (the `say` line is heard first)."
    )
    fallback: Step | None = Field(
        None,
        description="What happens when every transfer target has failed. Default: the caller "
        "hears `lines.transfer_failed` and the call goes on in the same state.",
    )
    filler: Filler | None = Field(
        None,
        description="A line the agent speaks if the `http` service has not answered within "
        "`after` seconds.",
    )

    @property
    def transfer_targets(self) -> list[str]:
        """The transfer targets in the order they are tried (empty: the tool does not transfer)."""
        if self.transfer is None:
            return []
        return [self.transfer] if isinstance(self.transfer, str) else list(self.transfer)


# A `trunk.allow` entry: "+" and up to 15 digits (a number prefix), or a host name.
AllowEntry = Annotated[
    str,
    Field(pattern=r"^(\+[0-9]{1,15}|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)$"),
]

Keypad = Annotated[
    dict[str, str],
    Field(json_schema_extra={"propertyNames": {"enum": list(DTMF_KEYS)}}),
]


class Collect(_FlowModel):
    """Digits the caller keys in while the call is in this state (a PIN, an account number)."""

    save_as: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = Field(
        description="The name the digits are kept under; templates read `{{ saved.NAME }}`."
    )
    digits: int = Field(ge=1, le=32, description="How many digits to collect (at most).")
    min_digits: int | None = Field(
        None,
        ge=1,
        le=32,
        description="The fewest digits accepted when the caller presses the finish key or "
        "stops; default: `digits`.",
    )
    finish_key: Literal["#", "*"] | None = Field(
        "#",
        description='The key that ends the entry early: "#" (default) or "*"; `null` for none.',
    )
    timeout: float = Field(
        5.0,
        gt=0,
        le=60,
        description="Seconds to wait for the next key before the entry ends (default 5).",
    )
    then: str | None = Field(
        None,
        description="A tool to run once the digits are in (it reads `{{ saved.NAME }}`). "
        "Without it the model is told the digits and carries on.",
    )
    on_timeout: Step | None = Field(
        None,
        description="What happens when the caller stops before keying enough digits. "
        "Default: the model is told and asks again.",
    )


class Silence(_FlowModel):
    """What happens when the caller says nothing: one step for each silence in a row."""

    after: float = Field(
        8.0,
        ge=5,
        le=30,
        description="Seconds of silence, after the agent stops speaking, that count as one "
        "silence (5 to 30; default 8).",
    )
    steps: list[Step] = Field(
        min_length=1,
        description="The first silence runs the first step, the second the second, and so "
        "on; the last step repeats. Speaking or pressing a key starts again from the top.",
    )


class State(_FlowModel):
    """One step of the conversation: what the agent should do and which tools it may use."""

    instructions: Template | None = Field(
        None, description="Added to the flow's instructions while the call is in this state."
    )
    tools: list[str] = Field(
        default_factory=list, description="The tools the model may call in this state."
    )
    keypad: Keypad = Field(
        default_factory=dict,
        description='Keys the caller may press and the tool each runs, e.g. `"1": to_billing`. '
        "They add to (and for the same key replace) the flow's `keypad`.",
    )
    collect: Collect | None = Field(
        None, description="Collect digits keyed in while the call is in this state."
    )
    silence: Silence | Literal["off"] | None = Field(
        None,
        description="What happens when the caller stays silent in this state; "
        "default: the flow's `silence`. `off`: nothing, in this state.",
    )


class Outcome(_FlowModel):
    """What happens to a call that is not answered the usual way. Choose one of `reject`,
    `say`, `flow` or `transfer` (`say` may come with `transfer`)."""

    reject: int | None = Field(
        None,
        ge=400,
        le=699,
        description="Refuse the call with this SIP status, e.g. 480 (unavailable), 486 "
        "(busy) or 603 (decline). The caller is never answered.",
    )
    say: Template | None = Field(
        None,
        description="Answer, speak this line, then hang up (or transfer, with `transfer`).",
    )
    flow: str | None = Field(
        None,
        description="Hand the call to another flow: its file name in the same folder, "
        "without `.yaml`.",
    )
    transfer: Template | None = Field(
        None,
        description="Answer and transfer the call (SIP REFER), after the `say` line if any.",
    )


class Hours(_FlowModel):
    """When the line is open. Outside these hours `when_closed` decides, before the call is
    answered."""

    open: dict[str, str | Annotated[list[str], Field(min_length=1)]] = Field(
        description='Opening times by day, e.g. `mon-fri: "09:00-17:30"` or '
        '`sat: ["10:00-12:00", "13:00-16:00"]`. Days: mon tue wed thu fri sat sun, '
        "or a range such as mon-fri. Days not listed are closed.",
    )
    closed_dates: list[str] = Field(
        default_factory=list,
        description='Days the line is closed: "2026-12-24" once, or "12-25" every year.',
    )
    when_closed: Outcome = Field(description="What happens to calls while the line is closed.")


class CallerRule(Outcome):
    """A rule on who is calling, checked before the call is answered (first match wins)."""

    numbers: list[str] = Field(
        default_factory=list,
        description='Caller numbers in E.164; a trailing "*" matches a prefix, e.g. "+1900*".',
    )
    anonymous: bool = Field(False, description="Match callers who withhold their number.")


class Trunk(_FlowModel):
    """How transfers reach your carrier: which URI a bare number becomes."""

    carrier: Literal["bandwidth", "wavix", "twilio", "telnyx", "custom"] | None = Field(
        None,
        description="bandwidth, wavix, twilio, telnyx or custom. Without it a bare number is "
        "sent as `tel:+NUMBER`.",
    )
    region: str | None = Field(
        None,
        description='Wavix only: the gateway region of `sip:NUMBER@REGION.wavix.net`, e.g. "us".',
    )
    domain: str | None = Field(
        None,
        description="Twilio: your trunk's termination domain (`NAME.pstn.twilio.com`). Telnyx: "
        "the SIP domain (default `sip.telnyx.com`).",
    )
    uri: Template | None = Field(
        None,
        description='custom only: the URI for a number (Jinja2), e.g. "sip:{{ number }}@pbx.example.com".',
    )
    allow: Annotated[list[AllowEntry], Field(min_length=1)] | None = Field(
        None,
        description='What transfers may reach: number prefixes such as "+1800" and SIP hosts '
        'such as "pbx.example.com". With a prefix listed, every number must start with one; '
        "with a host listed, every `sip:` target must be at one. Premium-rate numbers "
        "(+1900, +1976, …) and numbers in other countries than the flow's own are refused "
        "unless a listed prefix covers them. A refused transfer is not sent; the model is told.",
        examples=[["+1800", "+1555", "pbx.example.com"]],
    )
    transfer_wait: float = Field(
        DEFAULT_TRANSFER_WAIT,
        gt=0,
        le=120,
        description="Seconds to wait, after a transfer is sent, for the call to leave: the "
        "time the target may ring, and the carrier's hand-over. If the call is still here "
        "then, the transfer did not take. Default 45; 60 with `carrier: twilio`.",
    )

    @model_validator(mode="before")
    @classmethod
    def _carrier_wait(cls, data: Any) -> Any:
        """Each carrier's own `transfer_wait` when the flow does not set one."""
        if isinstance(data, dict) and "transfer_wait" not in data:
            carrier = data.get("carrier")
            wait = TRANSFER_WAITS.get(carrier) if isinstance(carrier, str) else None
            if wait is not None and wait != DEFAULT_TRANSFER_WAIT:
                return {**data, "transfer_wait": wait}
        return data


class Lines(_FlowModel):
    """What the engine itself says, in the flow's language."""

    transfer_retry: Template = Field(
        "I'm sorry, that line isn't answering. Let me try another.",
        description="Said before the next transfer target is tried.",
    )
    transfer_failed: Template = Field(
        "I'm sorry, I couldn't transfer your call just now. Is there anything else I can "
        "help you with?",
        description="Said when no transfer target took and the tool has no `fallback`.",
    )
    time_warning: Template = Field(
        "Just so you know, we'll need to wrap up this call in about a minute.",
        description="Said `limits.warn_minutes` before the call's time limit.",
    )
    time_up: Template = Field(
        "I'm sorry, we've reached the time limit for this call. Thank you for calling. Goodbye.",
        description="Said at the call's time limit, before it ends.",
    )
    tools_failing: Template = Field(
        "I'm sorry, our systems aren't responding right now. Please call back later. Goodbye.",
        description="Said when a tool limit is reached and `limits.fallback` is not set, "
        "before the call ends.",
    )
    still_there: Template = Field(
        "Are you still there?",
        description="Said after the first silence of a flow without its own `silence`.",
    )
    goodbye_silent: Template = Field(
        "I haven't heard anything, so I'll end the call now. Goodbye.",
        description="Said after the second silence in a row of a flow without its own "
        "`silence`, before the call ends.",
    )


class Limits(_FlowModel):
    """Caps that keep a call from running away."""

    call_minutes: float = Field(
        DEFAULT_CALL_MINUTES,
        gt=0,
        le=MAX_CALL_MINUTES,
        description="The longest a call may last, in minutes (default 55; OpenAI ends "
        "sessions at 60). At the limit the caller hears `lines.time_up` and the call ends.",
    )
    warn_minutes: float = Field(
        1.0,
        ge=0,
        description="How long before the limit the caller hears `lines.time_warning` "
        "(default 1; 0 for no warning).",
    )
    tool_calls: int = Field(
        50, ge=1, description="The most tool calls one call may make (default 50)."
    )
    tool_failures: int = Field(
        3,
        ge=1,
        description="How many tool calls in a row may fail before `fallback` runs (default 3).",
    )
    fallback: Step | None = Field(
        None,
        description="What happens when a tool limit is reached. Default: the caller hears "
        "`lines.tools_failing` and the call ends.",
    )


class Transcription(_FlowModel):
    """How the caller's words are written down (a separate speech-to-text model, for the
    logs; the Realtime model itself hears the audio)."""

    model: str | None = Field(
        None,
        description="The speech-to-text model, e.g. gpt-transcribe or gpt-live-transcribe. "
        "Default: the engine's ENGINE_TRANSCRIPTION_MODEL setting, else gpt-transcribe.",
    )


# A header whose name says it carries a credential is never kept in a record. (`Session-ID`,
# a SIP header naming the call, is not one: unlike the masking of tool headers, `session` is
# not in this list.)
_CREDENTIAL_NAME = re.compile(r"auth|token|key|secret|password|cookie", re.IGNORECASE)


class Records(_FlowModel):
    """What the record of each call keeps (every call gets one: see docs/runtime.md)."""

    transcript: bool = Field(
        True,
        description="Keep what the caller and the agent said (default: true). `false`: the "
        "record has no transcript, for lines where callers say private things.",
    )
    headers: list[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")]] = Field(
        default_factory=list,
        description="SIP headers of the incoming call to keep in its record, by name, e.g. "
        '`["X-Customer-Ref"]`. None by default. A header whose name says it holds a '
        "credential (auth, token, key, secret, password, cookie) cannot be kept.",
    )
    sensitive: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]] = Field(
        default_factory=list,
        description="Names of private values, e.g. `[card_number, date_of_birth]`: a tool "
        "argument or a field of a service's answer with one of these names is kept as "
        "`[masked]`, and so is its value wherever else the record would show it (the "
        "transcript too). Digits keyed into a `collect` are always masked.",
    )

    @field_validator("headers")
    @classmethod
    def _no_credentials(cls, names: list[str]) -> list[str]:
        for name in names:
            if _CREDENTIAL_NAME.search(name):
                raise ValueError(
                    f"{name!r} looks like a header that carries a credential; records never "
                    "keep secrets, so it cannot be listed"
                )
        return names


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
    transcription: Transcription = Field(
        default_factory=Transcription,
        description="How the caller's words are written down for the logs and transcripts.",
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
    global_tools: list[str] = Field(
        default_factory=list,
        description="Tools offered in every state as well as the state's own, e.g. a transfer "
        "to a person or an end-call tool.",
    )
    keypad: Keypad = Field(
        default_factory=dict,
        description="Keys the caller may press in any state and the tool each runs, e.g. "
        '`"0": to_operator`.',
    )
    silence: Silence | Literal["off"] | None = Field(
        None,
        description="What happens when the caller stays silent (each state may set its own). "
        'Without it: after 10 seconds `lines.still_there` ("Are you still there?"), after 10 '
        "more `lines.goodbye_silent` and the call ends. `off`: nothing; the call runs on "
        "until the caller speaks, hangs up or `limits.call_minutes` is reached.",
    )
    hours: Hours | None = Field(
        None, description="Opening hours and closed dates; without them the line is always open."
    )
    callers: list[CallerRule] = Field(
        default_factory=list,
        description="Rules on who is calling (blocked, VIP, anonymous), checked in order "
        "before `hours`.",
    )
    trunk: Trunk = Field(
        default_factory=Trunk, description="How transfers to a bare number reach your carrier."
    )
    limits: Limits = Field(
        default_factory=Limits, description="The call's time limit and caps on tool calls."
    )
    lines: Lines = Field(
        default_factory=Lines, description="What the engine itself says, in your words."
    )
    records: Records = Field(
        default_factory=Records,
        description="What each call's record keeps: the transcript, SIP headers, and which "
        "values are private.",
    )

    @property
    def start_state(self) -> str | None:
        """The first state's name, or None for a flow without states."""
        if self.start is not None:
            return self.start
        return next(iter(self.states), None)

    def tools_of(self, state: str | None) -> list[str]:
        """The tools offered in ``state``: its own, then the global ones (every tool when the
        flow has no states)."""
        if not self.states or state is None:
            return list(self.tools)
        found = self.states.get(state)
        own = list(found.tools) if found else []
        return own + [name for name in self.global_tools if name not in own]

    def keypad_of(self, state: str | None) -> dict[str, str]:
        """The keys that run a tool in ``state``: the flow's, overridden by the state's."""
        found = self.states.get(state) if state is not None else None
        return {**self.keypad, **(found.keypad if found else {})}

    def silence_of(self, state: str | None) -> Silence | None:
        """The silence ladder of ``state``: its own, else the flow's, else the default one
        (`default_silence`). None where `silence: off` switches it off."""
        found = self.states.get(state) if state is not None else None
        for written in (found.silence if found else None, self.silence):
            if written == SILENCE_OFF:
                return None
            if isinstance(written, Silence):
                return written
        return self.default_silence

    @functools.cached_property
    def default_silence(self) -> Silence:
        """The ladder of a flow that writes none: ask once, then say goodbye and hang up, in
        the flow's own `lines`."""
        return Silence(
            after=DEFAULT_SILENCE_AFTER,
            steps=[
                Step(say=self.lines.still_there),
                Step(say=self.lines.goodbye_silent, hangup=True),
            ],
        )

    def written_silences(self) -> list[tuple[str | None, Silence]]:
        """The ladders written in the file, with their state (None: the flow's own)."""
        found: list[tuple[str | None, Silence]] = []
        if isinstance(self.silence, Silence):
            found.append((None, self.silence))
        for name, state in self.states.items():
            if isinstance(state.silence, Silence):
                found.append((name, state.silence))
        return found

    def collect_of(self, state: str | None) -> Collect | None:
        found = self.states.get(state) if state is not None else None
        return found.collect if found else None
