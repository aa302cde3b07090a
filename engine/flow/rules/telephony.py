"""Numbers and addresses: the dialled numbers, transfer targets and HTTP URLs.

Transfer targets and URLs are templates, so we render them here with sample values. Values a
caller can influence (the model's `args`, SIP headers) are replaced by a marker, which tells us
whether the caller could decide where a call goes or which host a tool talks to.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..diagnostics import Diagnostic
from ..model import Flow
from ..numbers import e164_hint, is_e164, parse_number_pattern
from ..reach import host_in, number_in, reach_problem, target_shape
from ..source import DataPath
from ..templates import FlowEnv, TemplateError, has_template, render
from ..urls import fixed_origin
from . import walk
from .base import LintContext, rule
from .templating import transfer_fields

TAINT = "\u27e6caller\u27e7"  # ⟦caller⟧: stands for a value the caller can influence
_SIP_URI = re.compile(
    r"^sips?:(?:[^@\s;]+@)?(?P<host>[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?(?:;\S*)?$"
)
_MAX_ENUM_RENDERS = 50


class _Tainted(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return TAINT


def sample_context(flow: Flow, env: Mapping[str, str], args: Mapping[str, Any]) -> dict[str, Any]:
    """Values shaped like a real call's, for rendering templates at lint time."""
    called = next((n for n in flow.numbers if n != "*"), "+15550100001")
    return {
        "caller": {"number": "+15550100000", "name": TAINT},
        "called": {"number": called},
        "call": {
            "id": "rtc_lint",
            "sip_headers": _Tainted(),
            "contact_host": "203.0.113.10",
            "state": flow.start_state or "",
        },
        "vars": dict(flow.vars),
        "env": _EnvSample(env),
        "now": None,
        "saved": _Tainted(),
        "args": _Tainted(args),
    }


class _EnvSample(FlowEnv):
    """The real environment where a variable is set, a harmless word where it is not. Like
    ``env`` in a call, it cannot be written whole: `{{ env }}` must not print the
    environment into a lint message."""

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> str:
        return self._values.get(name, "env-value")


def _renders(
    ctx: LintContext, tool_name: str | None, text: str, fixed: Mapping[str, Any] | None = None
) -> Iterator[str]:
    """The template rendered once per combination of the `enum` values it may receive (once,
    outside a tool); ``fixed`` gives other arguments a value of their own."""
    tool = ctx.flow.tools[tool_name] if tool_name is not None else None
    enumerated = [
        [(name, value) for value in param.enum]
        for name, param in (tool.parameters.items() if tool else ())
        if param.enum and f"args.{name}" in text.replace(" ", "")
    ]
    combos = itertools.islice(itertools.product(*enumerated), _MAX_ENUM_RENDERS)
    for combo in combos:
        try:
            yield render(text, sample_context(ctx.flow, ctx.env, {**(fixed or {}), **dict(combo)}))
        except TemplateError:
            return  # the template rules report why


@dataclass(frozen=True, slots=True)
class _Target:
    path: DataPath
    text: str
    tool: str | None  # None: an outcome, decided before the call is answered
    owner: str  # 'of "to_billing"', 'of `hours.when_closed`'


def _targets(flow: Flow) -> Iterator[_Target]:
    """Every transfer target: each of a tool's, and each outcome's."""
    for name, tool in flow.tools.items():
        for path, text in transfer_fields(("tools", name), tool.transfer):
            yield _Target(path, text, name, f'of "{name}"')
    for found in walk.outcomes(flow):
        if found.outcome.transfer is not None:
            path = (*found.path, "transfer")
            yield _Target(path, found.outcome.transfer, None, f"of {found.where}")


@rule("number-format", "A dialled or caller number that is not in E.164 form.")
def number_format(ctx: LintContext) -> Iterator[Diagnostic]:
    for index, number in enumerate(ctx.flow.numbers):
        if number == "*" or is_e164(number):
            continue
        shown = number.replace("\n", "\\n")  # a `|` block keeps its line break
        yield ctx.diagnostic(
            "number-format",
            ("numbers", index),
            f'"{shown}" is not a phone number in E.164 form: a "+", the country code, then '
            'the number, digits only, such as "+18005551212" (or "*" for any number)',
            hint=e164_hint(number),
        )
    for rule_index, caller_rule in enumerate(ctx.flow.callers):
        for index, number in enumerate(caller_rule.numbers):
            try:
                parse_number_pattern(number)
                continue
            except ValueError:
                pass
            shown = number.replace("\n", "\\n")
            written = number.strip()
            prefix = written.endswith("*")
            yield ctx.diagnostic(
                "number-format",
                ("callers", rule_index, "numbers", index),
                f'"{shown}" is not a caller number in E.164 form: a "+", the country code, '
                'then the number, digits only, such as "+14155550100", or the start of one '
                'followed by "*", such as "+1900*"',
                hint=e164_hint(written[:-1] if prefix else written, suffix="*" if prefix else "")
                or 'write the start of the numbers the rule is for, such as "+1900*" (callers '
                "who hide their number: `anonymous: true`)",
            )
    for name in ctx.flow.vars:
        raw = ctx.doc.raw.get(("vars", name), "")
        if raw.startswith("+") and raw[1:].isdigit():
            # YAML reads an unquoted +1800… as a number: the "+" is lost on the way.
            yield ctx.diagnostic(
                "number-format",
                ("vars", name),
                f'{raw} is read as a number, so it loses its "+" and cannot be dialled',
                hint=f'write phone numbers in quotes: "{raw}"',
            )


def _caller_picks_host(target: str) -> bool:
    """Whether a value the caller influences decides the scheme or host of a transfer."""
    if target.startswith(TAINT):
        return True
    if not target.lower().startswith(("sip:", "sips:")):
        return False
    scheme_host = target.split("@", 1)[-1] if "@" in target else target
    return TAINT in scheme_host


def target_problem(target: str) -> str | None:
    probe = target.replace(TAINT, "5550100")
    lowered = probe.lower()
    if lowered.startswith("tel:"):
        if not is_e164(probe[4:].split(";", 1)[0]):
            return "a `tel:` target needs an E.164 number"
        return None if target_shape(probe) else "a `tel:` target's `;params` are name=value"
    if lowered.startswith(("sip:", "sips:")):
        if not _SIP_URI.match(probe):
            return "a `sip:` target looks like sip:user@host"
        # As the engine checks it before sending: no second URI or header can hide in it.
        return (
            None
            if target_shape(probe)
            else "a `sip:` target is sip:user@host[:port][;params], with no @ ; ? : / # , or "
            "spaces in the user part"
        )
    if is_e164(probe):
        return None
    return "use a `sip:` or `tel:` URI, or an E.164 number"


@rule(
    "transfer-target",
    "A transfer target that is not a sip:/tel: URI or E.164 number once rendered.",
)
def transfer_target(ctx: LintContext) -> Iterator[Diagnostic]:
    for found in _targets(ctx.flow):
        for target in _renders(ctx, found.tool, found.text):
            if _caller_picks_host(target):
                yield ctx.diagnostic(
                    "transfer-target",
                    found.path,
                    f"the transfer target {found.owner} lets the caller decide the scheme or "
                    "host of the address; write them in the flow",
                    hint='for example: transfer: "sip:{{ args.extension }}@pbx.example.com"',
                )
                break
            problem = target_problem(target)
            if problem:
                shown = target.replace(TAINT, "…")
                hint = None
                if TAINT not in target and not shown.lower().startswith(("sip:", "sips:")):
                    bare = shown[4:] if shown.lower().startswith("tel:") else shown
                    hint = e164_hint(bare, prefix="tel:")
                yield ctx.diagnostic(
                    "transfer-target",
                    found.path,
                    f'"{shown}" is not a transfer target: {problem}',
                    hint=hint or 'for example "tel:+18005551212" or "sip:desk@pbx.example.com"',
                )
                break
            reach = reach_problem(target, ctx.flow) if TAINT not in target else None
            if reach:
                number = number_in(target, ctx.flow)
                entry = number or host_in(target) or target
                yield ctx.diagnostic(
                    "transfer-target",
                    found.path,
                    f'the transfer target {found.owner} goes to "{target}", which this flow '
                    f"may not reach: {reach}",
                    hint=f'if it is meant, add "{entry}" to `trunk: allow:` (once a number '
                    "prefix is listed, every number a transfer reaches must start with one)",
                )
                break


@rule(
    "transfer-from-args",
    "The model (and so anyone who talks to it), or what the caller sends, chooses the number "
    "a call is transferred to, with no `enum` or `pattern` to hold it.",
)
def transfer_from_args(ctx: LintContext) -> Iterator[Diagnostic]:
    for found in _targets(ctx.flow):
        tool = ctx.flow.tools[found.tool] if found.tool is not None else None
        used = found.text.replace(" ", "")
        free = [
            param
            for param, spec in (tool.parameters.items() if tool else ())
            if not spec.enum and not spec.pattern and f"args.{param}" in used
        ]
        # Arguments held by an `enum` or `pattern` stand in as a plain value: what is left
        # of the marker came from the caller's phone or a saved answer.
        held = {
            param: "0"
            for param, spec in (tool.parameters.items() if tool else ())
            if not spec.enum and spec.pattern
        }
        for target in _renders(ctx, found.tool, found.text, held):
            # A caller-chosen scheme or host is transfer-target's error; not said twice.
            if TAINT not in target or _caller_picks_host(target):
                continue
            if free and tool is not None:
                yield ctx.diagnostic(
                    "transfer-from-args",
                    found.path,
                    f'the tool "{found.tool}" transfers the call to a number or extension the '
                    "model chooses, and a caller could talk the model into any one",
                    hint=f'list the allowed values with `enum:` on the parameter "{free[0]}", '
                    'or their form with `pattern:` (e.g. "^[0-9]{3}$")',
                )
                break
            yield ctx.diagnostic(
                "transfer-from-args",
                found.path,
                f"the transfer target {found.owner} comes from what the caller's phone "
                "sends (a SIP header or the caller's name) or what a service answered, so a "
                "caller could choose where the call goes",
                hint="write the number in the flow, or in `vars:`",
            )
            break


_TAG = re.compile(r"\{[{%#]")
_LEADING_VAR = re.compile(r"^\s*\{\{\s*vars\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _written_out(flow: Flow, url: str) -> str | None:
    """The fix for a URL that starts with `{{ vars.NAME }}`: the var's address written out."""
    match = _LEADING_VAR.match(url)
    value = flow.vars.get(match.group(1)) if match else None
    if not isinstance(value, str) or match is None:
        return None
    fixed = value.rstrip("/") + url[match.end() :]
    if fixed_origin(fixed) is None:
        return None
    return f'write the address out: url: "{fixed}"'


@rule("url-host", "An HTTP tool URL whose scheme or host is not written out in the flow.")
def url_host(ctx: LintContext) -> Iterator[Diagnostic]:
    for name, tool in ctx.flow.tools.items():
        if tool.http is None:
            continue
        path = ("tools", name, "http", "url")
        text = tool.http.url
        literal = _TAG.split(text, maxsplit=1)[0]
        # A template where the scheme or host goes: at the very start, or after `://` before
        # the host ends. (Text without a scheme is the check below's.)
        reaches_host = not literal.strip() or "://" in literal
        if has_template(text) and fixed_origin(text) is None and reaches_host:
            yield ctx.diagnostic(
                "url-host",
                path,
                f'the URL of "{name}" takes its scheme or host from a template; every value '
                "put into a URL is encoded as data, so the scheme and host must be written out "
                "in the flow, followed by `/`",
                hint=_written_out(ctx.flow, text)
                or 'for example: url: "https://api.example.com/orders/{{ args.order_id }}"',
            )
            continue
        origin = fixed_origin(text)
        # Written out before any template: what it renders to starts the same, so there is
        # no need to render it (rendering every URL was most of lint's time on big folders).
        if not has_template(text):
            samples: list[str] | None = [text]
        else:
            samples = [origin + "/"] if origin is not None else None
        for url in samples or _renders(ctx, name, text):
            parts = urlsplit(url.strip())
            if parts.scheme not in ("http", "https") or not parts.netloc:
                yield ctx.diagnostic(
                    "url-host",
                    path,
                    f'the URL of "{name}" must start with https:// (or http://) and a host name',
                    hint='for example: url: "https://api.example.com/orders"',
                )
            break
