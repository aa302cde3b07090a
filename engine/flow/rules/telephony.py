"""Numbers and addresses: the dialled numbers, transfer targets and HTTP URLs.

Transfer targets and URLs are templates, so we render them here with sample values. Values a
caller can influence (the model's `args`, SIP headers) are replaced by a marker, which tells us
whether the caller could decide where a call goes or which host a tool talks to.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from ..diagnostics import Diagnostic, Severity
from ..model import Flow
from ..numbers import is_e164, normalize_number
from ..templates import TemplateError, render
from .base import LintContext, rule

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


class _EnvSample(dict[str, str]):
    """The real environment where a variable is set, a harmless word where it is not."""

    def __init__(self, env: Mapping[str, str]) -> None:
        super().__init__(env)

    def __missing__(self, key: str) -> str:
        return "env-value"


def _renders(ctx: LintContext, tool_name: str, text: str) -> Iterator[str]:
    """The template rendered once per combination of the `enum` values it may receive."""
    tool = ctx.flow.tools[tool_name]
    enumerated = [
        [(name, value) for value in param.enum]
        for name, param in tool.parameters.items()
        if param.enum and f"args.{name}" in text.replace(" ", "")
    ]
    combos = itertools.islice(itertools.product(*enumerated), _MAX_ENUM_RENDERS)
    for combo in combos:
        try:
            yield render(text, sample_context(ctx.flow, ctx.env, dict(combo)))
        except TemplateError:
            return  # the template rules report why


@rule("number-format", "A dialled number that is not in E.164 form.")
def number_format(ctx: LintContext) -> Iterator[Diagnostic]:
    for index, number in enumerate(ctx.flow.numbers):
        if number == "*" or is_e164(number):
            continue
        guess = normalize_number(number)
        yield ctx.diagnostic(
            "number-format",
            ("numbers", index),
            f'"{number}" is not a phone number in E.164 form: a "+", the country code, then '
            'the number, digits only, such as "+18005551212" (or "*" for any number)',
            hint=f'did you mean "{guess}"?' if guess else None,
        )


def _target_problem(target: str) -> str | None:
    probe = target.replace(TAINT, "5550100")
    lowered = probe.lower()
    if lowered.startswith("tel:"):
        return (
            None if is_e164(probe[4:].split(";", 1)[0]) else "a `tel:` target needs an E.164 number"
        )
    if lowered.startswith(("sip:", "sips:")):
        return None if _SIP_URI.match(probe) else "a `sip:` target looks like sip:user@host"
    if is_e164(probe):
        return None
    return "use a `sip:` or `tel:` URI, or an E.164 number"


@rule(
    "transfer-target",
    "A transfer target that is not a sip:/tel: URI or E.164 number once rendered.",
)
def transfer_target(ctx: LintContext) -> Iterator[Diagnostic]:
    for name, tool in ctx.flow.tools.items():
        if tool.transfer is None:
            continue
        path = ("tools", name, "transfer")
        for target in _renders(ctx, name, tool.transfer):
            scheme_host = target.split("@", 1)[-1] if "@" in target else target[:5]
            if target.startswith(TAINT) or (
                target.lower().startswith(("sip:", "sips:")) and TAINT in scheme_host
            ):
                yield ctx.diagnostic(
                    "transfer-target",
                    path,
                    f'the transfer target of "{name}" lets the caller decide the scheme or host '
                    "of the address; write them in the flow",
                    hint='for example: transfer: "sip:{{ args.extension }}@pbx.example.com"',
                )
                break
            problem = _target_problem(target)
            if problem:
                shown = target.replace(TAINT, "…")
                number = normalize_number(shown) if TAINT not in target else None
                if number and len(number) < 11:
                    number = None  # too short to be a likely intent
                yield ctx.diagnostic(
                    "transfer-target",
                    path,
                    f'"{shown}" is not a transfer target: {problem}',
                    hint=f'did you mean "tel:{number}"?'
                    if number
                    else 'for example "tel:+18005551212"',
                )
                break


@rule(
    "transfer-from-args",
    "The model (and so anyone who talks to it) chooses the number a call is transferred to.",
    Severity.WARNING,
)
def transfer_from_args(ctx: LintContext) -> Iterator[Diagnostic]:
    for name, tool in ctx.flow.tools.items():
        if tool.transfer is None:
            continue
        for target in _renders(ctx, name, tool.transfer):
            if TAINT in target and not target.startswith(TAINT):
                yield ctx.diagnostic(
                    "transfer-from-args",
                    ("tools", name, "transfer"),
                    f'a caller could talk the model into transferring "{name}" to any number '
                    "or extension",
                    hint="list the allowed values with `enum:` on the parameter",
                )
                break


@rule("url-host", "An HTTP tool URL whose scheme or host is not fixed in the flow.")
def url_host(ctx: LintContext) -> Iterator[Diagnostic]:
    for name, tool in ctx.flow.tools.items():
        if tool.http is None:
            continue
        path = ("tools", name, "http", "url")
        for url in _renders(ctx, name, tool.http.url):
            parts = urlsplit(url.strip())
            if TAINT in parts.scheme or TAINT in parts.netloc or url.startswith(TAINT):
                yield ctx.diagnostic(
                    "url-host",
                    path,
                    f'the URL of "{name}" lets the caller decide which host is called; only the '
                    "path and query may come from `args`",
                    hint='for example: url: "https://api.example.com/orders/{{ args.order_id }}"',
                )
            elif parts.scheme not in ("http", "https") or not parts.netloc:
                yield ctx.diagnostic(
                    "url-host",
                    path,
                    f'the URL of "{name}" must start with https:// (or http://) and a host name',
                    hint='for example: url: "https://api.example.com/orders"',
                )
            break
