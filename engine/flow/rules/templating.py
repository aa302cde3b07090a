"""Jinja2 templates: syntax, and every name they read must exist where they are rendered."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..diagnostics import Diagnostic, Severity, Span
from ..model import Flow, Lines, Tool
from ..source import DataPath
from ..templates import (
    CALL_NAMES,
    ENVIRONMENT,
    KNOWN_ATTRIBUTES,
    TOOL_NAMES,
    TemplateInfo,
    analyze,
    has_template,
)
from ..validate import did_you_mean
from . import walk
from .base import LintContext, rule

# Environment variables that hold the engine's own secrets are never readable from a flow.
SECRET_ENV_PREFIXES = ("OPENAI_", "ENGINE_")


# Outcomes are decided before the call is answered: nothing is saved yet.
OUTCOME_NAMES = CALL_NAMES - {"saved"}
# `trunk.uri` turns one number into a URI: `number` is "+…", `digits` the same without "+".
TRUNK_URI_NAMES = CALL_NAMES | {"number", "digits"}


@dataclass(frozen=True)
class TemplateField:
    path: DataPath
    text: str
    tool: str | None  # the tool it belongs to: `args` is defined there only
    scope: frozenset[str] | None = None  # the names it may read, when not a tool's or the call's

    @property
    def names(self) -> frozenset[str]:
        if self.scope is not None:
            return self.scope
        return TOOL_NAMES if self.tool else CALL_NAMES


def _strings(value: Any, path: DataPath) -> Iterator[tuple[DataPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))


def transfer_fields(
    base: DataPath, transfer: str | list[str] | None
) -> Iterator[tuple[DataPath, str]]:
    """Each transfer target with its path: one text, or each item of a list."""
    if isinstance(transfer, str):
        yield (*base, "transfer"), transfer
    elif transfer is not None:
        for index, target in enumerate(transfer):
            yield (*base, "transfer", index), target


def _tool_fields(name: str, tool: Tool) -> Iterator[TemplateField]:
    base = ("tools", name)
    if tool.say is not None:
        yield TemplateField((*base, "say"), tool.say, name)
    for path, text in transfer_fields(base, tool.transfer):
        yield TemplateField(path, text, name)
    if tool.http is not None:
        http = (*base, "http")
        yield TemplateField((*http, "url"), tool.http.url, name)
        for section in ("headers", "query"):
            for key, text in getattr(tool.http, section).items():
                yield TemplateField((*http, section, key), text, name)
        if tool.http.body is not None:
            for path, text in _strings(tool.http.body, (*http, "body")):
                yield TemplateField(path, text, name)
    if tool.filler is not None:
        # Spoken while the tool's service works: the tool's `args` are known.
        yield TemplateField((*base, "filler", "say"), tool.filler.say, name)


def template_fields(flow: Flow) -> Iterator[TemplateField]:
    """Every value of a flow that is rendered as a template, with where it sits."""
    yield TemplateField(("instructions",), flow.instructions, None)
    if flow.greeting is not None:
        yield TemplateField(("greeting",), flow.greeting, None)
    for name, state in flow.states.items():
        if state.instructions is not None:
            yield TemplateField(("states", name, "instructions"), state.instructions, None)
    for name, tool in flow.tools.items():
        yield from _tool_fields(name, tool)
    # Steps run by the engine, not called by the model: no `args`.
    for found in walk.steps(flow):
        for key in ("say", "instructions"):
            text = getattr(found.step, key)
            if text is not None:
                yield TemplateField((*found.path, key), text, None)
    for key in Lines.model_fields:
        yield TemplateField(("lines", key), getattr(flow.lines, key), None)
    for place in walk.outcomes(flow):
        if place.outcome.say is not None:
            yield TemplateField((*place.path, "say"), place.outcome.say, None, OUTCOME_NAMES)
        if place.outcome.transfer is not None:
            path = (*place.path, "transfer")
            yield TemplateField(path, place.outcome.transfer, None, OUTCOME_NAMES)
    if flow.trunk.uri is not None:
        yield TemplateField(("trunk", "uri"), flow.trunk.uri, None, TRUNK_URI_NAMES)


def templated_fields(ctx: LintContext) -> list[tuple[TemplateField, TemplateInfo]]:
    """The fields of the file under lint that hold a template (most hold plain text), each
    with what its template reads: worked out once for all the rules."""
    cached: list[tuple[TemplateField, TemplateInfo]] | None = ctx.__dict__.get("_templated")
    if cached is None:
        cached = ctx.__dict__["_templated"] = [
            (field, analyze(field.text))
            for field in template_fields(ctx.flow)
            if has_template(field.text)
        ]
    return cached


def env_names(flow: Flow, ctx: LintContext | None = None) -> frozenset[str]:
    """The environment variables a flow names, one by one (``env.NAME`` or ``env["NAME"]``):
    the only ones its templates can read at run time. ``ctx``: the flow's lint context,
    whose fields are already worked out."""
    if ctx is not None:
        templated: Iterable[tuple[TemplateField, TemplateInfo]] = templated_fields(ctx)
    else:
        templated = (
            (field, analyze(field.text))
            for field in template_fields(flow)
            if has_template(field.text)
        )
    names = set()
    for _field, info in templated:
        for use in info.uses:
            if use.base == "env" and use.attribute:
                names.add(use.attribute)
    return frozenset(n for n in names if not n.startswith(SECRET_ENV_PREFIXES))


def saved_names(flow: Flow) -> set[str]:
    """The names `saved.NAME` may read: tool answers (`http.save_as`) and keyed digits
    (`collect.save_as`)."""
    saved = {t.http.save_as for t in flow.tools.values() if t.http and t.http.save_as}
    saved |= {s.collect.save_as for s in flow.states.values() if s.collect is not None}
    return saved


_NAME_ORDER = (
    "caller",
    "called",
    "call",
    "vars",
    "env",
    "now",
    "saved",
    "args",
    "number",
    "digits",
)


def _listed(names: frozenset[str]) -> str:
    """The names a template may read, in the order the docs give them: "a, b or c"."""
    ordered = [n for n in _NAME_ORDER if n in names] + sorted(names - set(_NAME_ORDER))
    return ", ".join(ordered[:-1]) + f" or {ordered[-1]}" if len(ordered) > 1 else ordered[0]


def locate(ctx: LintContext, path: DataPath, lineno: int, needle: re.Pattern[str] | None) -> Span:
    """The file position of something on line ``lineno`` of the template at ``path``."""
    value = ctx.span(path)
    block = ctx.doc.styles.get(path) in ("|", ">")
    expected = value.line + lineno if block else value.line
    lines = ctx.doc.lines
    last = min(max(value.end_line, value.line), len(lines))
    if needle is not None:
        best: Span | None = None
        for number in range(value.line, last + 1):
            for match in needle.finditer(lines[number - 1]):
                if number == value.line and match.start() + 1 < value.col:
                    continue
                candidate = Span(number, match.start() + 1, number, match.end() + 1)
                if best is None or abs(number - expected) < abs(best.line - expected):
                    best = candidate
        if best is not None:
            return best
    if block and expected <= len(lines):
        text = lines[expected - 1]
        start = len(text) - len(text.lstrip()) + 1
        return Span(expected, start, expected, len(text) + 1)
    return value


def _use_pattern(base: str, attribute: str | None) -> re.Pattern[str]:
    if attribute is None:
        return re.compile(rf"\b{re.escape(base)}\b")
    return re.compile(
        rf"\b{re.escape(base)}\s*(?:\.\s*{re.escape(attribute)}\b|\[\s*['\"]{re.escape(attribute)}['\"]\s*\])"
    )


def _templates(ctx: LintContext) -> Iterator[tuple[TemplateField, TemplateInfo]]:
    for field, info in templated_fields(ctx):
        if info.syntax_error is None:
            yield field, info


@rule("template-syntax", "A Jinja2 template that does not parse.")
def template_syntax(ctx: LintContext) -> Iterator[Diagnostic]:
    for field, info in templated_fields(ctx):
        if info.syntax_error is not None:
            span = locate(ctx, field.path, info.syntax_lineno, re.compile(r"\{[{%#]"))
            message, hint = plain_syntax_error(info.syntax_error)
            yield ctx.diagnostic("template-syntax", span, message, hint=hint)


_GENERIC_HINT = "templates look like {{ caller.number }}; check the braces and quotes"


def plain_syntax_error(jinja: str) -> tuple[str, str]:
    """Jinja's syntax error, said in words a flow author knows, with a likely fix."""
    missing = re.match(r"No (filter|test) named '(\w+)'", jinja)
    if missing:
        kind, name = missing.groups()
        known = ENVIRONMENT.filters if kind == "filter" else ENVIRONMENT.tests
        guess = did_you_mean(name, known)
        return (
            f'there is no template {kind} "{name}"',
            f'did you mean "{guess}"?' if guess else f"see the Jinja2 list of {kind}s",
        )
    block = re.search(r"innermost block that needs to be closed is '(\w+)'", jinja)
    unknown = re.search(r"Encountered unknown tag '(\w+)'", jinja)
    if block and jinja.startswith("Unexpected end of template"):
        name = block.group(1)
        return (
            f"this template opens `{{% {name} … %}}` and never closes it",
            f"add {{% end{name} %}} after the text that the `{name}` covers",
        )
    if block and unknown:
        name, tag = block.group(1), unknown.group(1)
        return (
            f"this template has an unknown tag `{{% {tag} %}}`; "
            f"the open `{{% {name} … %}}` is closed with `{{% end{name} %}}`",
            f"did you mean {{% end{name} %}}?",
        )
    if unknown:
        tag = unknown.group(1)
        if tag.startswith("end") or tag in ("else", "elif"):
            return (
                f"this template has `{{% {tag} %}}` without the `{{% if … %}}` or "
                "`{% for … %}` it belongs to",
                f"remove {{% {tag} %}}, or add the `{{% if … %}}` or `{{% for … %}}` before it",
            )
        return (
            f"`{{% {tag} %}}` is not a template tag",
            "the tags flows use are if, elif, else, endif, for and endfor",
        )
    if "expected 'end of print statement'" in jinja and jinja.startswith("unexpected end"):
        return "this template opens `{{` and never closes it with `}}`", _GENERIC_HINT
    if jinja == "unexpected '}'":
        return (
            "this template has a single `}` where `}}` is needed",
            "a value is written {{ caller.number }}, with two braces on each side",
        )
    if jinja.startswith("unexpected char '\"'") or jinja.startswith('unexpected char "\'"'):
        return "this template has a quote that is never closed", _GENERIC_HINT
    return f"this template has a syntax error: {jinja}", _GENERIC_HINT


@rule("template-name", "A template reads a name that does not exist where it is rendered.")
def template_name(ctx: LintContext) -> Iterator[Diagnostic]:
    saved = saved_names(ctx.flow)
    for field, info in _templates(ctx):
        for use in info.undeclared:
            if use.base in field.names:
                continue
            span = locate(ctx, field.path, use.lineno, _use_pattern(use.base, None))
            here = _listed(field.names)
            if use.base == "args":
                if field.path[:1] == ("tools",):
                    message = (
                        "`args` holds the values the model passed to the tool; its "
                        "`fallback` runs without them"
                    )
                else:
                    message = "`args` holds a tool's parameters and exists only inside a tool"
                yield ctx.diagnostic(
                    "template-name",
                    span,
                    message,
                    hint=f"use {here} here",
                )
                continue
            if use.base == "saved":
                yield ctx.diagnostic(
                    "template-name",
                    span,
                    "`saved` cannot be read here: this is decided before the call is answered, "
                    "when nothing is saved yet",
                    hint=f"use {here} here",
                )
                continue
            guess = did_you_mean(use.base, field.names)
            yield ctx.diagnostic(
                "template-name",
                span,
                f'there is no name "{use.base}" in templates; the names are: '
                + ", ".join(sorted(field.names)),
                hint=f'did you mean "{guess}"?' if guess else None,
            )
        for use in info.uses:
            known = KNOWN_ATTRIBUTES.get(use.base)
            if known is not None and use.attribute not in known:
                span = locate(ctx, field.path, use.lineno, _use_pattern(use.base, use.attribute))
                guess = did_you_mean(use.attribute or "", known)
                yield ctx.diagnostic(
                    "template-name",
                    span,
                    f'`{use.base}` has no "{use.attribute}"; it has: {", ".join(known)}',
                    hint=f'did you mean "{use.base}.{guess}"?' if guess else None,
                )
            elif use.base == "saved" and use.attribute not in saved and "saved" in field.names:
                span = locate(ctx, field.path, use.lineno, _use_pattern(use.base, use.attribute))
                guess = did_you_mean(use.attribute or "", saved)
                yield ctx.diagnostic(
                    "template-name",
                    span,
                    f'nothing is saved as "{use.attribute}": a tool saves its answer with '
                    "`http: {save_as: NAME}`, and a state the digits keyed in with "
                    "`collect: {save_as: NAME}`",
                    hint=f'did you mean "saved.{guess}"?'
                    if guess
                    else f"add `save_as: {use.attribute}` to the `http:` of the tool whose "
                    "answer this is",
                )


@rule("template-args", "`args.X` where the tool declares no parameter X.")
def template_args(ctx: LintContext) -> Iterator[Diagnostic]:
    for field, info in _templates(ctx):
        if field.tool is None:
            continue
        params = list(ctx.flow.tools[field.tool].parameters)
        for use in info.uses:
            if use.base != "args" or use.attribute in params:
                continue
            span = locate(ctx, field.path, use.lineno, _use_pattern("args", use.attribute))
            guess = did_you_mean(use.attribute or "", params)
            yield ctx.diagnostic(
                "template-args",
                span,
                f'the tool "{field.tool}" has no parameter "{use.attribute}"'
                + (f"; its parameters are: {', '.join(params)}" if params else ""),
                hint=f'did you mean "args.{guess}"?'
                if guess
                else f"declare it under `tools: {field.tool}: parameters:`",
            )


@rule("template-vars", "`vars.X` where the flow declares no var X.")
def template_vars(ctx: LintContext) -> Iterator[Diagnostic]:
    declared = list(ctx.flow.vars)
    for field, info in _templates(ctx):
        for use in info.uses:
            if use.base != "vars" or use.attribute in ctx.flow.vars:
                continue
            span = locate(ctx, field.path, use.lineno, _use_pattern("vars", use.attribute))
            guess = did_you_mean(use.attribute or "", declared)
            yield ctx.diagnostic(
                "template-vars",
                span,
                f'there is no var "{use.attribute}" under `vars:`',
                hint=f'did you mean "vars.{guess}"?'
                if guess
                else f"add `{use.attribute}:` under `vars:`",
            )


@rule("env-secret", "A template reads one of the engine's own secrets (OPENAI_*, ENGINE_*).")
def env_secret(ctx: LintContext) -> Iterator[Diagnostic]:
    for field, info in _templates(ctx):
        for use in info.uses:
            if use.base == "env" and (use.attribute or "").startswith(SECRET_ENV_PREFIXES):
                span = locate(ctx, field.path, use.lineno, _use_pattern("env", use.attribute))
                yield ctx.diagnostic(
                    "env-secret",
                    span,
                    f"`env.{use.attribute}` is one of the engine's own settings and cannot be "
                    "read by a flow",
                    hint="give the flow its own variable, e.g. ACME_TOKEN",
                )


@rule(
    "template-env",
    "`env.X` where the variable X is not set in this environment.",
    Severity.WARNING,
)
def template_env(ctx: LintContext) -> Iterator[Diagnostic]:
    for field, info in _templates(ctx):
        for use in info.uses:
            name = use.attribute or ""
            if use.base != "env" or name in ctx.env or name.startswith(SECRET_ENV_PREFIXES):
                continue
            span = locate(ctx, field.path, use.lineno, _use_pattern("env", use.attribute))
            yield ctx.diagnostic(
                "template-env",
                span,
                f"the environment variable {name} is not set here; calls that render this "
                "template will fail",
                hint=f"set {name} where the engine runs (it is read from the environment)",
            )
