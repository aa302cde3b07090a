"""Templates that could freeze the engine, reach into its workings, or print the environment.

At run time the sandbox stops all of these (``engine.flow.sandbox``), but then a call has
already failed. Lint finds them before a flow loads: it works out what it can from the
template's own constants (``range(100000)``, ``'ab' * 1000000``, ``9 ** 99999``) and reports
what no one can bound before the call (a power or a repeat count that comes from the call,
loops inside loops over the call's values, a macro that calls itself).
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeGuard

from jinja2 import TemplateSyntaxError, nodes

from ..diagnostics import Diagnostic
from ..sandbox import (
    BINOPS,
    MAX_RANGE,
    MAX_STEPS,
    MAX_VALUE_CHARS,
    MAX_WIDTH,
    WIDTH_FILTERS,
    WIDTH_METHODS,
    BudgetExceeded,
    check_brace_format,
    check_percent_format,
)
from ..templates import syntax_tree, template_shape
from .base import LintContext, rule
from .templating import locate, templated_fields

__all__ = ["Finding", "findings"]

# Attributes the sandbox refuses however they are reached: the usual steps of an escape.
_INNER_ATTRIBUTES = frozenset(
    {
        "mro",
        "gi_code",
        "gi_frame",
        "cr_code",
        "cr_frame",
        "ag_code",
        "ag_frame",
        "f_back",
        "f_builtins",
        "f_code",
        "f_globals",
        "f_locals",
        "func_code",
        "func_globals",
        "tb_frame",
    }
)
# Names whose values are text of unknown length: `caller.number * 1000000` repeats it.
_TEXT_NAMES = frozenset({"caller", "called", "call", "env"})
# Values that are plain data from a service, the model or the flow: `saved.order._id` is
# a field, not an attribute of the engine's objects.
_DATA_NAMES = frozenset({"saved", "args", "vars"})
# A caller's value repeated more than this many times is a mistake, however short it is.
_MAX_REPEAT = 1_000

_READS_INSIDE = (
    "this template tries to reach the engine's inner workings; templates read only the "
    "call's values"
)
_READS_INSIDE_HINT = (
    "remove it: a template reads values such as {{ caller.number }}, {{ vars.NAME }} or "
    "{{ saved.NAME.field }}"
)


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    lineno: int
    message: str
    hint: str
    needle: str  # a regex for the place in the template's text


def _walk(node: nodes.Node, parent: nodes.Node | None = None) -> Iterator[tuple[Any, Any]]:
    yield node, parent
    for child in node.iter_child_nodes():
        yield from _walk(child, node)


def _const(node: nodes.Node) -> Any:
    """The value of an expression made of constants only, worked out within the budget;
    ``None`` when it depends on the call (or is too big to work out: reported elsewhere)."""
    if isinstance(node, nodes.Const):
        return node.value
    if isinstance(node, nodes.Neg):
        value = _const(node.node)
        return -value if isinstance(value, int | float) else None
    if isinstance(node, nodes.BinExpr):
        left, right = _const(node.left), _const(node.right)
        if left is None or right is None:
            return None
        operation = BINOPS.get(node.operator)
        try:
            if operation is not None:
                return operation(left, right)
            return node.as_const()
        except Exception:
            return None
    return None


def _is_text(node: nodes.Node) -> bool:
    """A value that is certainly text or a list: repeating it builds a long value."""
    if isinstance(node, nodes.Const):
        return isinstance(node.value, str)
    if isinstance(node, nodes.List | nodes.Tuple | nodes.Concat):
        return True
    base = node
    while isinstance(base, nodes.Getattr | nodes.Getitem):
        base = base.node
    return isinstance(base, nodes.Name) and base.name in _TEXT_NAMES and base is not node


def _describe(node: nodes.Node) -> str:
    parts: list[str] = []
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
        elif isinstance(node.arg, nodes.Const):
            parts.append(str(node.arg.value))
        node = node.node
    if isinstance(node, nodes.Name):
        return ".".join([node.name, *reversed(parts)])
    if isinstance(node, nodes.Const):
        return repr(node.value)
    return "a value"


def _budget_message(exc: BudgetExceeded) -> str:
    return str(exc).replace("the template ", "this template ", 1)


def _power(node: nodes.Pow) -> Iterator[Finding]:
    left, right = _const(node.left), _const(node.right)
    hint = "write the number itself instead of a power"
    if left is None or right is None:
        yield Finding(
            "template-budget",
            node.lineno,
            "`**` (raise to a power) with a value from the call can build a number too "
            "large to compute, which would stop every call",
            hint,
            r"\*\*",
        )
        return
    try:
        BINOPS["**"](left, right)
    except BudgetExceeded as exc:
        yield Finding("template-budget", node.lineno, _budget_message(exc), hint, r"\*\*")
    except Exception:
        return


def _times(node: nodes.Mul) -> Iterator[Finding]:
    left, right = _const(node.left), _const(node.right)
    hint = "repeat text a small, fixed number of times, or write it out"
    if left is not None and right is not None:
        try:
            BINOPS["*"](left, right)
        except BudgetExceeded as exc:
            yield Finding("template-budget", node.lineno, _budget_message(exc), hint, r"\*")
        except Exception:
            return
        return
    for text, count in ((node.left, right), (node.right, left)):
        if not _is_text(text):
            continue
        what = _describe(text)
        if count is None:
            other = node.right if text is node.left else node.left
            if isinstance(other, nodes.Const):
                continue  # text * "text": fails at run time, costs nothing
            yield Finding(
                "template-budget",
                node.lineno,
                f"this template repeats {what} a number of times that comes from the call; "
                "nothing limits how long the result gets",
                hint,
                r"\*",
            )
        elif isinstance(count, int) and count > _MAX_REPEAT:
            yield Finding(
                "template-budget",
                node.lineno,
                f"this template repeats {what} {count:,} times; the result would be too "
                f"long to build (a template value holds at most {MAX_VALUE_CHARS:,} "
                "characters)",
                hint,
                r"\*",
            )
        return


def _range_size(node: nodes.Call) -> int | None:
    args = [_const(arg) for arg in node.args]
    if node.kwargs or node.dyn_args or node.dyn_kwargs or not args:
        return None
    if not all(isinstance(a, int) for a in args):
        return None
    try:
        return len(range(*args))
    except (ValueError, TypeError):
        return 0


def _is_range(node: nodes.Node) -> TypeGuard[nodes.Call]:
    return (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.Name)
        and node.node.name == "range"
    )


def _range(node: nodes.Call) -> Iterator[Finding]:
    size = _range_size(node)
    if size is None:
        yield Finding(
            "template-budget",
            node.lineno,
            "this template counts with range() up to a number that comes from the call; "
            "nothing limits how many times it repeats",
            "count to a fixed number, e.g. range(10), or loop over a list",
            r"range\s*\(",
        )
    elif size > MAX_RANGE:
        yield Finding(
            "template-budget",
            node.lineno,
            f"range() of {size:,} numbers is too many (at most {MAX_RANGE:,})",
            "count to a smaller number",
            r"range\s*\(",
        )


def _loop_size(node: nodes.For) -> int | None:
    """How many times a loop repeats, when the template alone says; None: the call decides."""
    items = node.iter
    if _is_range(items):
        return _range_size(items)
    if isinstance(items, nodes.List | nodes.Tuple):
        return len(items.items)
    value = _const(items)
    return len(value) if isinstance(value, str | list | tuple) else None


def _nested_loops(tree: nodes.Template) -> Iterator[Finding]:
    def visit(node: nodes.Node, outer: list[int | None]) -> Iterator[Finding]:
        for child in node.iter_child_nodes():
            if isinstance(child, nodes.For):
                sizes = [*outer, _loop_size(child)]
                unknown = sum(1 for size in sizes if size is None)
                repeats = 1
                for size in sizes:
                    repeats *= 1 if size is None else size
                if len(sizes) > 1 and unknown >= 2:
                    yield Finding(
                        "template-budget",
                        child.lineno,
                        "this template loops inside a loop, both over values from the call; "
                        "the number of repeats multiplies and nothing limits it",
                        "use one loop, or loop over a fixed list such as [1, 2, 3]",
                        r"\{%-?\s*for\b",
                    )
                    continue
                if len(sizes) > 1 and repeats > MAX_STEPS:
                    yield Finding(
                        "template-budget",
                        child.lineno,
                        f"these loops inside loops repeat {repeats:,} times (at most "
                        f"{MAX_STEPS:,})",
                        "loop fewer times, or use one loop",
                        r"\{%-?\s*for\b",
                    )
                    continue
                yield from visit(child, sizes)
            elif isinstance(child, nodes.Macro):
                yield from visit(child, [])
            else:
                yield from visit(child, outer)

    yield from visit(tree, [])


def _widths(node: nodes.Node) -> Iterator[Finding]:
    """A width or count too large, given to a filter or a text method."""
    if isinstance(node, nodes.Filter) and node.name in WIDTH_FILTERS:
        args = [*node.args, *(kw.value for kw in node.kwargs)]
        where = rf"\|\s*{node.name}\b"
    elif (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.Getattr)
        and node.node.attr in WIDTH_METHODS
    ):
        args = [*node.args, *(kw.value for kw in node.kwargs)]
        where = rf"\.\s*{node.node.attr}\b"
    else:
        return
    for arg in args:
        value = _const(arg)
        if isinstance(value, int) and abs(value) > MAX_WIDTH:
            yield Finding(
                "template-budget",
                node.lineno,
                f"this template asks for a width or count of {value:,} (at most {MAX_WIDTH:,})",
                "use a smaller number",
                where,
            )
            return


def _formats(node: nodes.Node) -> Iterator[Finding]:
    """`'%0999999d' % x`, `'{:>999999}'.format(x)`: widths too large; `'{0.__class__}'`:
    reaching inside a value."""
    if isinstance(node, nodes.Mod) and isinstance(node.left, nodes.Const):
        text = node.left.value
        if isinstance(text, str):
            try:
                check_percent_format(text)
            except BudgetExceeded as exc:
                yield Finding(
                    "template-budget", node.lineno, _budget_message(exc), "use a smaller width", "%"
                )
        return
    if not (isinstance(node, nodes.Getattr) and node.attr in ("format", "format_map")):
        return
    text = node.node.value if isinstance(node.node, nodes.Const) else None
    if not isinstance(text, str):
        return
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(text) if f]
        check_brace_format(text)
    except BudgetExceeded as exc:
        yield Finding(
            "template-budget", node.lineno, _budget_message(exc), "use a smaller width", r"format"
        )
        return
    except ValueError:
        return  # a broken format string: the render fails, nothing more
    if any("." in f or "[" in f for f in fields):
        yield Finding(
            "template-escape",
            node.lineno,
            "this template uses a `{0.name}` field in `.format`, which reaches inside "
            "values; templates read only the call's values",
            "write the value itself: {{ caller.number }}",
            r"format",
        )


def _root(node: nodes.Node) -> str | None:
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        node = node.node
    return node.name if isinstance(node, nodes.Name) else None


def _escapes(node: nodes.Node) -> Iterator[Finding]:
    if isinstance(node, nodes.Name) and node.name == "self":
        # Jinja's reference to the template itself: the classic first step of an escape.
        yield Finding(
            "template-escape",
            node.lineno,
            f"{_READS_INSIDE} (`self`)",
            _READS_INSIDE_HINT,
            r"\bself\b",
        )
        return
    name: str | None = None
    if isinstance(node, nodes.Getattr):
        name = node.attr
    elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        name = node.arg.value if isinstance(node.arg.value, str) else None
    if name is None:
        pass
    elif name.startswith("_") and not name.startswith("__") and _root(node) in _DATA_NAMES:
        pass  # a field of a service's answer, such as `saved.order._id`: plain data
    elif name.startswith("_") or name in _INNER_ATTRIBUTES:
        yield Finding(
            "template-escape",
            node.lineno,
            f"{_READS_INSIDE} (`{name}`)",
            _READS_INSIDE_HINT,
            re.escape(name),
        )
    if isinstance(node, nodes.Filter) and node.name == "attr":
        yield Finding(
            "template-escape",
            node.lineno,
            "the `attr` filter reads a value's inner attributes by name; templates read "
            "only the call's values",
            "write the value itself: {{ saved.order.status }}",
            r"\battr\b",
        )


def _recursive_macros(tree: nodes.Template) -> Iterator[Finding]:
    for macro in tree.find_all(nodes.Macro):
        for call in macro.find_all(nodes.Call):
            if isinstance(call.node, nodes.Name) and call.node.name == macro.name:
                yield Finding(
                    "template-budget",
                    call.lineno,
                    f"the macro `{macro.name}` calls itself; nothing limits how many times",
                    "write the text out instead of a macro that calls itself",
                    rf"\b{re.escape(macro.name)}\s*\(",
                )
                break


def _env_reads(node: nodes.Node, parent: nodes.Node | None) -> Iterator[Finding]:
    if not (isinstance(node, nodes.Name) and node.name == "env"):
        return
    by_name = (isinstance(parent, nodes.Getattr) and parent.node is node) or (
        isinstance(parent, nodes.Getitem)
        and parent.node is node
        and isinstance(parent.arg, nodes.Const)
        and isinstance(parent.arg.value, str)
    )
    if not by_name:
        yield Finding(
            "env-whole",
            node.lineno,
            "`env` is read here as a whole; a flow reads environment variables one at a "
            "time, by a name written in the flow",
            "write the variable's name: {{ env.ACME_TOKEN }}",
            r"\benv\b",
        )


def _env_methods(node: nodes.Node) -> Iterator[Finding]:
    # env.items(), env.keys(), env.get(...): a call on env lists or picks variables.
    target = node.node if isinstance(node, nodes.Call) else None
    if (
        isinstance(target, nodes.Getattr)
        and isinstance(target.node, nodes.Name)
        and target.node.name == "env"
    ):
        yield Finding(
            "env-whole",
            node.lineno,
            f"`env.{target.attr}()` would read the environment as a whole; a flow reads "
            "environment variables one at a time, by a name written in the flow",
            "write the variable's name: {{ env.ACME_TOKEN }}",
            rf"\benv\s*\.\s*{re.escape(target.attr)}\b",
        )


@functools.lru_cache(maxsize=4096)
def findings(source: str) -> tuple[Finding, ...]:
    """Every unsafe construct in one template, in order. Cached: flows repeat templates,
    and templates of one shape (``template_shape``) have the same findings."""
    return _findings(template_shape(source))


@functools.lru_cache(maxsize=4096)
def _findings(shape: str) -> tuple[Finding, ...]:
    tree = syntax_tree(shape)
    if isinstance(tree, TemplateSyntaxError):
        return ()  # template-syntax reports it
    found: list[Finding] = []
    for node, parent in _walk(tree):
        found.extend(_escapes(node))
        found.extend(_env_reads(node, parent))
        found.extend(_env_methods(node))
        found.extend(_formats(node))
        found.extend(_widths(node))
        if isinstance(node, nodes.Pow):
            found.extend(_power(node))
        elif isinstance(node, nodes.Mul):
            found.extend(_times(node))
        elif _is_range(node):
            found.extend(_range(node))
    found.extend(_nested_loops(tree))
    found.extend(_recursive_macros(tree))
    return tuple(found)


def _report(ctx: LintContext, rule_id: str) -> Iterator[Diagnostic]:
    for field, _info in templated_fields(ctx):
        shown: set[tuple[Any, str]] = set()  # the same mistake twice on a line: said once
        for found in findings(field.text):
            if found.rule != rule_id:
                continue
            span = locate(ctx, field.path, found.lineno, re.compile(found.needle))
            if (span, found.message) not in shown:
                shown.add((span, found.message))
                yield ctx.diagnostic(rule_id, span, found.message, hint=found.hint)


@rule(
    "template-budget",
    "A template could run too long or build too much text: a power, a huge range or repeat, "
    "loops inside loops over the call's values.",
)
def template_budget(ctx: LintContext) -> Iterator[Diagnostic]:
    yield from _report(ctx, "template-budget")


@rule(
    "template-escape",
    "A template tries to reach the engine's inner workings (`__class__`, `attr()`, "
    "`{0.x}` in `.format`).",
)
def template_escape(ctx: LintContext) -> Iterator[Diagnostic]:
    yield from _report(ctx, "template-escape")


@rule("env-whole", "A template reads `env` as a whole instead of one variable by name.")
def env_whole(ctx: LintContext) -> Iterator[Diagnostic]:
    yield from _report(ctx, "env-whole")
