"""The carrier preset that turns a bare number into the URI a transfer is sent to."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..diagnostics import Diagnostic, Severity
from ..templates import TemplateError, analyze, has_template, render
from .base import LintContext, rule
from .telephony import TAINT, sample_context, target_problem

# The keys each carrier reads besides `carrier` and `transfer_wait` (None: no carrier).
_USES: dict[str | None, tuple[str, ...]] = {
    None: (),
    "bandwidth": (),
    "wavix": ("region",),
    "twilio": ("domain",),
    "telnyx": ("domain",),
    "custom": ("uri",),
}
_EXAMPLES = {
    "region": 'region: "us"',
    "domain": 'domain: "acme.pstn.twilio.com"',
    "uri": 'uri: "sip:{{ number }}@pbx.example.com"',
}
_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_REGION = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")
_SAMPLE_NUMBER = "+15550100002"


def _host_only(value: str) -> str:
    """A host name out of what people paste: "sip:acme.pstn.twilio.com", "https://x/"."""
    text = re.sub(r"^[A-Za-z]+:(//)?", "", value.strip())
    text = text.split("@")[-1].split("/")[0].split(";")[0].split(":")[0]
    return text


@rule("trunk", "A `trunk` preset that is missing what its carrier needs, or has keys it ignores.")
def trunk(ctx: LintContext) -> Iterator[Diagnostic]:
    spec = ctx.flow.trunk
    carrier = spec.carrier
    who = f"`carrier: {carrier}`" if carrier else "a trunk without `carrier`"
    for key in ("region", "domain", "uri"):
        if getattr(spec, key) is None or key in _USES[carrier]:
            continue
        users = [name for name, keys in _USES.items() if key in keys and name]
        yield ctx.diagnostic(
            "trunk",
            ("trunk", key),
            f"`trunk.{key}` is not used by {who}; only {' and '.join(users)} read it",
            hint=f"remove `{key}`, or set `carrier: {users[0]}` if that is your carrier",
            key=True,
        )
    if carrier == "wavix" and not (spec.region or "").strip():
        yield ctx.diagnostic(
            "trunk",
            ("trunk", "carrier"),
            "Wavix needs the `region` of its gateway: a number is sent to "
            "sip:NUMBER@REGION.wavix.net, so without it no transfer to a number can be made",
            hint=f"add {_EXAMPLES['region']} (your Wavix region) under `trunk:`",
        )
    if carrier == "twilio" and not (spec.domain or "").strip():
        yield ctx.diagnostic(
            "trunk",
            ("trunk", "carrier"),
            "Twilio trunks take transfers at their termination domain; without `domain` a "
            "number is sent as tel:+NUMBER, which the trunk may refuse",
            hint=f"add {_EXAMPLES['domain']} (your trunk's termination SIP URI) under `trunk:`",
            severity=Severity.WARNING,
        )
    for key in ("region", "domain"):
        value = getattr(spec, key)
        pattern = _HOST if key == "domain" else _REGION
        if value is None or key not in _USES[carrier] or pattern.match(value.strip()):
            continue
        host = _host_only(value)
        if key == "region":
            host = host.removesuffix(".wavix.net")
        yield ctx.diagnostic(
            "trunk",
            ("trunk", key),
            f'`trunk.{key}` is "{value}", but it must be a host name only, with no scheme, '
            'user or path, such as "acme.pstn.twilio.com"'
            if key == "domain"
            else f'`trunk.region` is "{value}", but it must be the region only, such as "us"',
            hint=f'did you mean "{host}"?' if host and _HOST.match(host) else None,
        )
    if carrier == "custom":
        yield from _custom_uri(ctx)


def _custom_uri(ctx: LintContext) -> Iterator[Diagnostic]:
    uri = ctx.flow.trunk.uri
    if uri is None or not uri.strip():
        yield ctx.diagnostic(
            "trunk",
            ("trunk", "uri") if uri is not None else ("trunk", "carrier"),
            "`carrier: custom` needs a `uri`: the address a number is transferred to",
            hint=f"add {_EXAMPLES['uri']} under `trunk:`",
        )
        return
    info = analyze(uri) if has_template(uri) else None
    if info is not None and info.syntax_error is not None:
        return  # template-syntax
    used = {use.base for use in info.undeclared} if info is not None else set()
    if not used & {"number", "digits"}:
        yield ctx.diagnostic(
            "trunk",
            ("trunk", "uri"),
            "`trunk.uri` does not use the number, so every transfer to a number would go to "
            "the same place",
            hint='put {{ number }} (with "+") or {{ digits }} (without) where the number goes, '
            'e.g. "sip:{{ digits }}@pbx.example.com"',
        )
        return
    context = sample_context(ctx.flow, ctx.env, {})
    context |= {"number": _SAMPLE_NUMBER, "digits": _SAMPLE_NUMBER[1:]}
    try:
        rendered = render(uri, context).strip()
    except TemplateError:
        return  # the template rules say why
    problem = target_problem(rendered)
    if problem is not None or not rendered.lower().startswith(("sip:", "sips:", "tel:")):
        shown = rendered.replace(TAINT, "…")
        yield ctx.diagnostic(
            "trunk",
            ("trunk", "uri"),
            f'`trunk.uri` gives "{shown}" for the number {_SAMPLE_NUMBER}, which is not a '
            "`sip:` or `tel:` address",
            hint='for example "sip:{{ number }}@pbx.example.com"',
        )
