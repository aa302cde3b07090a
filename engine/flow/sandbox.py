"""The Jinja2 sandbox with a budget: no template can run long or build a huge value.

Templates are rendered inside the event loop, between two events of a call, so a template
that computes ``9 ** (9 ** 9)``, loops ``range(100000)`` inside ``range(100000)`` or repeats
the caller's number a hundred million times would freeze every call on the engine. Python
cannot interrupt one operation once it has started, so the budget works in two ways:

* **before** each operation that can build something big (``**``, ``*`` on text or lists,
  ``+``, ``%``, ``~``, filters and methods with a width or count, ``range``), its result size
  is worked out from its operands and the operation is refused when it would pass
  ``MAX_VALUE_CHARS`` characters (or ``MAX_NUMBER_BITS`` for a number);
* **while** it runs, every loop step, call and filter counts against ``MAX_STEPS`` and a CPU
  time limit (``MAX_RENDER_SECONDS``, the thread's own time, so a busy machine does not fail
  a good template), and the text it writes is counted against ``MAX_OUTPUT_CHARS``.

Going over any of these raises ``BudgetExceeded``: the render fails like any other failed
render, and the flow's documented fallback for that place applies.

The checks also hold while Jinja folds constants at compile time (``{{ 'x' * 999999999 }}``
would otherwise be computed by ``engine lint``): without a render under way only the size
checks apply.
"""

from __future__ import annotations

import contextlib
import math
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from contextvars import ContextVar
from functools import update_wrapper
from typing import Any

from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.visitor import NodeTransformer

__all__ = [
    "BINOPS",
    "MAX_NUMBER_BITS",
    "MAX_OUTPUT_CHARS",
    "MAX_RANGE",
    "MAX_RENDER_SECONDS",
    "MAX_STEPS",
    "MAX_VALUE_CHARS",
    "MAX_WIDTH",
    "WIDTH_FILTERS",
    "WIDTH_METHODS",
    "BudgetExceeded",
    "BudgetedEnvironment",
    "RenderBudget",
    "check_brace_format",
    "check_percent_format",
    "render_budget",
    "shared_budget",
]

MAX_VALUE_CHARS = 100_000  # one computed text or list
MAX_OUTPUT_CHARS = 1_000_000  # what one render writes, literal text included
MAX_STEPS = 100_000  # loop steps, calls and filters of one render
MAX_RANGE = 10_000  # items of one range()
MAX_WIDTH = 10_000  # a width, count or padding given to a filter or method
MAX_NUMBER_BITS = 4_096  # about 1,200 digits
MAX_RENDER_SECONDS = 0.25  # CPU time of one render


class BudgetExceeded(SecurityError):
    """A template would run too long or build too much; the render is stopped."""


class RenderBudget:
    """What renders may still spend: one per render, or one ``shared_budget`` for many."""

    __slots__ = ("deadline", "seconds_left", "steps", "written")

    def __init__(self, seconds: float = MAX_RENDER_SECONDS, steps: int = MAX_STEPS) -> None:
        self.seconds_left = seconds  # CPU time left, counted only while rendering
        self.deadline = math.inf  # while a render runs: when its time is up
        self.steps = steps
        self.written = 0  # characters of every {{ … }} written, into any block

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        start = time.thread_time()
        self.deadline = start + self.seconds_left
        try:
            yield
        finally:
            self.seconds_left -= time.thread_time() - start
            self.deadline = math.inf

    def spend(self, steps: int = 1) -> None:
        self.steps -= steps
        if self.steps < 0:
            raise BudgetExceeded(
                f"the template repeats more than {MAX_STEPS:,} steps (loops and calls)"
            )
        # Reading the clock costs more than a step: look at it every 64 steps. No step is
        # long (each costly operation is refused before it starts), so 64 are not either.
        if not self.steps & 63 and time.thread_time() > self.deadline:
            raise BudgetExceeded(f"the template ran longer than {MAX_RENDER_SECONDS} s")

    def write(self, chars: int) -> None:
        self.written += chars
        if self.written > MAX_OUTPUT_CHARS:
            raise _too_much_output()


_budget: ContextVar[RenderBudget | None] = ContextVar("template_budget", default=None)


@contextlib.contextmanager
def shared_budget(seconds: float, steps: int) -> Iterator[RenderBudget]:
    """One budget for every render inside: ``engine lint`` renders a flow's transfer
    targets and URLs many times (once per `enum` value), and all of them together must not
    hold up a hot reload longer than one render may hold up a call. Only the time spent
    rendering counts."""
    budget = RenderBudget(seconds, steps)
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


@contextlib.contextmanager
def render_budget() -> Iterator[RenderBudget]:
    """The budget of one render: a fresh one, or the ``shared_budget`` it runs inside."""
    outer = _budget.get()
    if outer is not None:
        with outer.running():
            yield outer
        return
    with shared_budget(MAX_RENDER_SECONDS, MAX_STEPS) as budget, budget.running():
        yield budget


def _spend(steps: int = 1) -> None:
    budget = _budget.get()
    if budget is not None:
        budget.spend(steps)


def _too_much_output() -> BudgetExceeded:
    return BudgetExceeded(f"the template writes more than {MAX_OUTPUT_CHARS:,} characters")


def _too_big(what: str) -> BudgetExceeded:
    return BudgetExceeded(f"the template builds {what} longer than {MAX_VALUE_CHARS:,} characters")


def _size(value: Any) -> int:
    """Characters (or items) of a value that can grow; 0 for anything else."""
    if isinstance(value, str | bytes | list | tuple | dict | set | frozenset):
        return len(value)
    return 0


def _check_size(value: Any) -> Any:
    if _size(value) > MAX_VALUE_CHARS:
        raise _too_big("a text or list")
    return value


def _check_number(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_NUMBER_BITS:
        raise BudgetExceeded("the template builds a number too large to compute")
    return value


def _check_width(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_WIDTH:
        raise BudgetExceeded(
            f"the template asks for a width or count of {value:,} (at most {MAX_WIDTH:,})"
        )


# A number in a %-format or {}-format spec: a width or a precision.
_SPEC_NUMBER = re.compile(r"\d+")
_PERCENT_SPEC = re.compile(r"%[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def check_percent_format(text: str) -> None:
    for match in _PERCENT_SPEC.finditer(text):
        for number in match.groups():
            if number == "*":
                raise BudgetExceeded("the template takes a width from a value (`%*`)")
            if number:
                _check_width(int(number))


def check_brace_format(text: str) -> None:
    for _literal, _field, spec, _conversion in string.Formatter().parse(text):
        if spec and "{" in spec:
            raise BudgetExceeded("the template takes a width from a value (`{:{}}`)")
        for number in _SPEC_NUMBER.findall(spec or ""):
            _check_width(int(number))


# -- operators --------------------------------------------------------------------------------


def _power(left: Any, right: Any) -> Any:
    whole = isinstance(left, int) and isinstance(right, int)
    if whole and right > 0 and abs(left) > 1 and right * math.log2(abs(left)) > MAX_NUMBER_BITS:
        raise BudgetExceeded("the template raises a number to a power too large to compute")
    return left**right


def _times(left: Any, right: Any) -> Any:
    for seq, count in ((left, right), (right, left)):
        if isinstance(count, int) and _size(seq) * max(count, 0) > MAX_VALUE_CHARS:
            raise _too_big("a repeated text or list")
    whole = isinstance(left, int) and isinstance(right, int)
    if whole and left.bit_length() + right.bit_length() > MAX_NUMBER_BITS:
        raise BudgetExceeded("the template multiplies numbers too large to compute")
    return left * right


def _plus(left: Any, right: Any) -> Any:
    if _size(left) + _size(right) > MAX_VALUE_CHARS:
        raise _too_big("a joined text or list")
    return left + right


def _modulo(left: Any, right: Any) -> Any:
    if isinstance(left, str):
        check_percent_format(left)
        return _check_size(left % right)
    return left % right


BINOPS: dict[str, Callable[[Any, Any], Any]] = {"**": _power, "*": _times, "+": _plus, "%": _modulo}


# -- filters and methods that take a width or a count -----------------------------------------


def _lines(value: Any) -> int:
    return str(value).count("\n") + 1


# Filters whose numbers are widths or counts: `center(80)`, `batch(3)`, `tojson(indent=2)`.
WIDTH_FILTERS = frozenset({"batch", "center", "indent", "slice", "tojson", "truncate", "wordwrap"})
# Methods of a text that pad it to a width.
WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def _filter_guard(name: str, value: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse before running a filter whose result would be too big."""
    if name in WIDTH_FILTERS:
        for arg in (*args, *kwargs.values()):
            _check_width(arg)
    if name == "indent":
        width = args[0] if args else kwargs.get("width", 4)
        pad = width if isinstance(width, int) else len(str(width))
        if _size(str(value)) + pad * _lines(value) > MAX_VALUE_CHARS:
            raise _too_big("an indented text")
    elif name == "format" and isinstance(value, str):
        check_percent_format(value)
    elif name == "replace" and len(args) >= 2:
        _check_replace(str(value), str(args[1]))


def _check_replace(text: str, new: str) -> None:
    # Replacing "" puts `new` between every two characters: the most it can grow.
    if len(text) + (len(text) + 1) * len(new) > MAX_VALUE_CHARS:
        raise _too_big("a replaced text")


def _budgeted_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    # Filters marked pass_context/pass_environment take that first; the value comes next.
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _spend()
        value = args[skip] if len(args) > skip else None
        _filter_guard(name, value, tuple(args[skip + 1 :]), kwargs)
        if name == "join" and len(args) > skip:
            items = list(_budgeted_iter(value))
            separator = args[skip + 1] if len(args) > skip + 1 else kwargs.get("d", "")
            estimate = sum(_size(str(i)) for i in items) + _size(separator) * len(items)
            if estimate > MAX_VALUE_CHARS:
                raise _too_big("a joined text")
            args = (*args[:skip], items, *args[skip + 1 :])
        return _check_number(_check_size(func(*args, **kwargs)))

    return update_wrapper(wrapper, func)


def _method_guard(obj: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse before calling a method of a text that would build something huge."""
    name = getattr(obj, "__name__", "")
    owner = getattr(obj, "__self__", None)
    if not isinstance(owner, str):
        return
    if name in WIDTH_METHODS:
        for arg in (*args, *kwargs.values()):
            _check_width(arg)
    if name == "replace" and len(args) >= 2:
        _check_replace(owner, str(args[1]))
    elif name == "expandtabs":
        tab = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(tab, int) and len(owner) + owner.count("\t") * tab > MAX_VALUE_CHARS:
            raise _too_big("a text with tabs expanded")
    elif name == "join" and args:
        items = args[0]
        if isinstance(items, Sized) and len(owner) * len(items) > MAX_VALUE_CHARS:
            raise _too_big("a joined text")


# -- loops, ~ and output ----------------------------------------------------------------------


def _budgeted_iter(iterable: Any) -> Iterator[Any]:
    """A loop's items, one step of the budget each."""
    for item in iterable:
        _spend()
        yield item


def _budgeted_join(*parts: Any) -> str:
    """``a ~ b``: refused before joining when the result would be too long."""
    texts = [str(p) for p in parts]
    if sum(len(t) for t in texts) > MAX_VALUE_CHARS:
        raise _too_big("a joined text")
    return "".join(texts)


def _budgeted_concat(pieces: Iterable[Any]) -> str:
    """Jinja's ``concat``: a render's output, or a block's (``{% set %}``, a macro).

    Counted piece by piece as they are written, so a loop writing the same long value again
    and again is stopped before the text is built.
    """
    out: list[str] = []
    size = 0
    for piece in pieces:
        size += len(piece)
        if size > MAX_OUTPUT_CHARS:
            raise _too_much_output()
        out.append(piece)
    return "".join(out)


def _counted_output(value: Any) -> Any:
    """Jinja's ``finalize``: sees every ``{{ … }}`` value as it is written, also into a block
    (``{% set %}``, a macro) whose text is joined only at its end."""
    budget = _budget.get()
    if budget is not None:
        budget.write(len(value) if isinstance(value, str) else len(str(value)))
    return value


def _budgeted_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise BudgetExceeded(
            f"range() of {len(numbers):,} numbers is too many (at most {MAX_RANGE:,})"
        )
    return numbers


def _call_node(name: str, args: Sequence[nodes.Node], lineno: int) -> nodes.Call:
    return nodes.Call(
        nodes.EnvironmentAttribute(name, lineno=lineno), list(args), [], None, None, lineno=lineno
    )


class _Budgeted(NodeTransformer):
    """Rewrites a parsed template so its loops and ``~`` go through the budget."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _call_node("budget_iter", [node.iter], node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _call_node("budget_join", node.nodes, node.lineno)


class BudgetedEnvironment(ImmutableSandboxedEnvironment):
    """``ImmutableSandboxedEnvironment`` where every costly operation is on a budget."""

    intercepted_binops = frozenset(BINOPS)

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=_counted_output, **options)
        self.binop_table.update(BINOPS)
        # Globals a flow has no use for: lipsum() writes any amount of text, cycler and
        # joiner are the usual first step of a sandbox escape.
        for name in ("lipsum", "cycler", "joiner"):
            self.globals.pop(name, None)
        self.globals["range"] = _budgeted_range
        self.filters = {n: _budgeted_filter(n, f) for n, f in self.filters.items()}
        self.concat = _budgeted_concat  # type: ignore[method-assign]
        self.budget_iter = _budgeted_iter
        self.budget_join = _budgeted_join

    def _generate(self, source: nodes.Template, *args: Any, **kwargs: Any) -> str:
        transformer = _Budgeted()
        tree = transformer.visit(source)
        tree.set_environment(self)
        return super()._generate(tree, *args, **kwargs)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _spend()
        return _check_size(self.binop_table[operator](left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _spend()
        if __obj is not _budgeted_iter and __obj is not _budgeted_join:
            _method_guard(__obj, args, kwargs)
        return _check_number(_check_size(super().call(__context, __obj, *args, **kwargs)))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        check_brace_format(value.__self__)
        return wrapped
