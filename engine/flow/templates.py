"""Jinja2 templates in flow files: one sandboxed environment, parsing for lint, rendering at run time.

Templates are code written by people who are not programmers and rendered with values a
caller can influence, so they run in a sandbox (no attribute tricks, no mutation) with a
budget (no long runs, no huge values: see ``sandbox``) and ``StrictUndefined`` (a misspelt
name is an error, not an empty string).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes

from .sandbox import BudgetedEnvironment, render_budget
from .urls import query_value, url_value

__all__ = [
    "CALL_NAMES",
    "TOOL_NAMES",
    "FlowEnv",
    "TemplateError",
    "TemplateInfo",
    "analyze",
    "has_template",
    "render",
    "syntax_tree",
    "template_shape",
]

# The names a template may read. `args` exists only inside a tool.
CALL_NAMES = frozenset({"caller", "called", "call", "vars", "env", "now", "saved"})
TOOL_NAMES = CALL_NAMES | {"args"}
# Subkeys we know at lint time, so `caller.nubmer` is caught before a call fails on it.
KNOWN_ATTRIBUTES = {
    "caller": ("number", "name"),
    "called": ("number",),
    "call": ("id", "sip_headers", "contact_host", "state"),
}

ENVIRONMENT = BudgetedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
)
# For `http` URLs: every `{{ … }}` output is percent-encoded data (engine.flow.urls), while
# expressions inside still see the values as they are (`{% if args.express %}` works).
# `query:` values are encoded by httpx: there only None/False/True are written as in URLs.
_FINALIZED = {
    "url": ENVIRONMENT.overlay(finalize=url_value),
    "query": ENVIRONMENT.overlay(finalize=query_value),
}


class FlowEnv:
    """``env`` in a template: the variables the flow names, read one at a time.

    It holds only the names the flow's templates write literally (``env.ACME_TOKEN``,
    ``env["ACME_TOKEN"]``), so neither ``{{ env }}`` nor ``env[caller.name]`` can reach a
    database password that happens to be in the engine's environment. It cannot be printed,
    listed or looped over.
    """

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):  # copy and pickle look for dunders before __init__ ran
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __iter__(self) -> Any:
        raise TypeError("env cannot be listed; read one variable at a time: env.NAME")

    def __str__(self) -> str:
        raise TypeError("env cannot be written whole; read one variable at a time: env.NAME")

    def __repr__(self) -> str:
        return f"FlowEnv({', '.join(sorted(self._values))})"  # names only, never values


class TemplateError(Exception):
    """A template failed to render for this call (a missing value, a bad filter…)."""


def has_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


@dataclass(frozen=True, slots=True)
class NameUse:
    base: str
    attribute: str | None
    lineno: int


@dataclass
class TemplateInfo:
    syntax_error: str | None = None
    syntax_lineno: int = 1
    undeclared: list[NameUse] = field(default_factory=list)
    uses: list[NameUse] = field(default_factory=list)


# What lint learns from a template (the names it reads and on which line, its syntax errors,
# what it does that could harm the engine) comes from its `{{ … }}` and the line breaks
# around them, never from the text between them: flows repeat expressions around text of
# their own (`https://api7.example.com/orders/{{ args.id }}`), so templates are parsed and
# analysed once per shape, not once per text.
_SIMPLE_PRINT = re.compile(r"\{\{([^{}'\"]*)\}\}")


def template_shape(source: str) -> str:
    """``source`` with each run of text between its `{{ … }}` written as ``x`` and the run's
    line breaks, when it is only text and plain `{{ … }}` (no quotes or braces inside, no
    `{{-` whitespace control, no `{% … %}` or `{# … #}`); otherwise ``source`` itself.
    Jinja reads both the same way but for what the text says."""
    if "\r" in source:  # Jinja counts \r and \r\n as line breaks too: keep it simple
        return source
    parts = _SIMPLE_PRINT.split(source)  # text, expression, text, …, text
    shape: list[str] = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            if "{" in part or "}" in part:
                return source
            if part:
                shape.append("x" + "\n" * part.count("\n"))
        elif part.startswith(("-", "+")) or part.endswith(("-", "+")):
            return source
        else:
            shape.append("{{" + part + "}}")
    return "".join(shape)


def syntax_tree(source: str) -> nodes.Template | TemplateSyntaxError:
    """The template's syntax tree, or why it does not parse. The tree is shared by every
    template of the same shape (``template_shape``): read it, never change it, and do not
    read its text (``TemplateData``), which is a stand-in."""
    return _parsed(template_shape(source))


@functools.lru_cache(maxsize=4096)
def _parsed(shape: str) -> nodes.Template | TemplateSyntaxError:
    try:
        return ENVIRONMENT.parse(shape)
    except TemplateSyntaxError as exc:
        return exc


@functools.lru_cache(maxsize=4096)
def analyze(source: str) -> TemplateInfo:
    """What a template reads, or why it does not parse. Cached: flows repeat templates."""
    return _analyzed(template_shape(source))


@functools.lru_cache(maxsize=4096)
def _analyzed(shape: str) -> TemplateInfo:
    tree = _parsed(shape)
    if isinstance(tree, TemplateSyntaxError):
        return _syntax_error(tree)
    try:
        # Compiling (inside find_undeclared_variables) is what finds an unknown filter or
        # test (`| uper`). It reads the tree, never changes it.
        undeclared = meta.find_undeclared_variables(tree) - set(ENVIRONMENT.globals)
    except TemplateSyntaxError as exc:
        return _syntax_error(exc)
    info = TemplateInfo()
    first_line: dict[str, int] = {}
    for name_node in tree.find_all(nodes.Name):
        first_line.setdefault(name_node.name, name_node.lineno)
    info.undeclared = [NameUse(n, None, first_line.get(n, 1)) for n in sorted(undeclared)]
    # `env.items()`: a method called, not a value read (template_safety reports it).
    called = {id(call.node) for call in tree.find_all(nodes.Call)}
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            base, attribute = node.node, node.attr
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
        ):
            base, attribute = node.node, node.arg.value
        else:
            continue
        if not isinstance(base, nodes.Name) or id(node) in called:
            continue
        info.uses.append(NameUse(base.name, attribute, node.lineno))
    return info


def _syntax_error(exc: TemplateSyntaxError) -> TemplateInfo:
    return TemplateInfo(syntax_error=exc.message or "syntax error", syntax_lineno=exc.lineno or 1)


@functools.lru_cache(maxsize=4096)
def _compiled(source: str, into: str = "text") -> Any:
    return _FINALIZED.get(into, ENVIRONMENT).from_string(source)


def render(
    source: str, context: Mapping[str, Any], *, into: Literal["text", "url", "query"] = "text"
) -> str:
    """Render a flow template for one call. Text without template syntax is returned as is.
    ``into="url"``: an `http` URL, whose interpolated values are percent-encoded;
    ``into="query"``: a `query:` value (None and False empty, True ``true``)."""
    if not has_template(source):
        return source
    try:
        with render_budget():
            return str(_compiled(source, into).render(context))
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error: {exc.message}") from None
    except Exception as exc:  # a template can fail in many ways; each is the flow's problem
        raise TemplateError(str(exc) or type(exc).__name__) from None
