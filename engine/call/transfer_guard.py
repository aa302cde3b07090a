"""The check every transfer target passes before a REFER: it cannot be steered elsewhere.

A caller can talk the model into passing any `args`, and a caller's phone writes its SIP
headers, so a target rendered from them is checked, in this order:

1. every argument the model passed has its parameter's type and satisfies its `enum` and
   `pattern`;
2. the target is a well-formed ``sip:``/``sips:`` address (a user part without ``@``, ``;``,
   ``?``, ``:``, ``/`` or spaces; a host; optional port and ``;params``), a ``tel:`` E.164
   number or a bare E.164 number;
3. the values the model chose freely (arguments without an `enum`) fill only the user part
   of a ``sip:`` address or the digits of a number: rendered again with a marker in their
   place, the scheme, host, port and parameters must be the same, so
   ``sip:{{ args.ext }}@pbx.example.com`` with ``100@evil.example;x=`` is refused;
4. the flow may reach it (``engine.flow.reach``: ``trunk.allow``, premium-rate and other
   countries' numbers).

A refused transfer is never sent to the carrier: ``check_transfer`` gives the reason, which
the machine tells the model in the words of ``engine.call.wording`` (or, for a transfer the
engine runs by itself, treats as a target that did not take).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..flow.model import Flow, Parameter, Tool
from ..flow.reach import reach_problem, target_shape
from ..flow.templates import TemplateError, render
from . import wording
from .trunk import transfer_uri
from .wording import Told

__all__ = ["CheckedTransfer", "check_transfer", "transfer_targets"]

# Stands for a freely chosen value when the target is rendered a second time; its characters
# fit a SIP user part and nothing else, so it shows where such a value lands.
_MARK = "\u27e6free\u27e7"
_SEPARATORS = re.compile(r"[\s\-.()]")
# No number, extension or SIP user is longer; a longer value is refused before any `pattern`.
MAX_VALUE_CHARS = 256


@dataclass(frozen=True, slots=True)
class CheckedTransfer:
    """The REFER URI of one target (None: nothing to send), and why it was refused, if it was:
    a refusal is for the model; a target that merely could not be made has no reason."""

    uri: str | None
    refused: str | None = None


def transfer_targets(
    flow: Flow, tool: Tool, args: Mapping[str, Any], context: Mapping[str, Any]
) -> tuple[list[str], Told | None]:
    """The REFER URIs of ``tool``'s targets that pass, in order, and, when one was refused,
    what the model is told."""
    checked = [check_transfer(flow, tool, t, args, context) for t in tool.transfer_targets]
    refused = next((c.refused for c in checked if c.refused), None)
    told = wording.transfer_refused(refused) if refused is not None else None
    return [c.uri for c in checked if c.uri is not None], told


def check_transfer(
    flow: Flow, tool: Tool, template: str, args: Mapping[str, Any], context: Mapping[str, Any]
) -> CheckedTransfer:
    """Render ``template`` (one of ``tool``'s targets) for this call and check it."""
    for name, value in args.items():
        param = tool.parameters.get(name)
        problem = _arg_problem(name, value, param) if param is not None else None
        if problem:
            return CheckedTransfer(None, problem)
    try:
        target = render(template, context).strip()
    except TemplateError:
        return CheckedTransfer(None)
    if not target:
        return CheckedTransfer(None)
    shape = target_shape(target)
    if shape is None:
        return CheckedTransfer(None, wording.NOT_A_TRANSFER_ADDRESS)
    free = {n for n in args if (p := tool.parameters.get(n)) is None or not p.enum}
    if free and not _same_shape(template, context, free, shape):
        return CheckedTransfer(None, wording.CHANGES_WHERE_IT_GOES)
    problem = reach_problem(target, flow)
    if problem:
        return CheckedTransfer(None, wording.may_not_reach(problem))
    return CheckedTransfer(transfer_uri(target, flow.trunk, context))


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def _arg_problem(name: str, value: Any, param: Parameter) -> str | None:
    wrong_bool = isinstance(value, bool) and param.type != "boolean"
    if wrong_bool or not isinstance(value, _TYPES[param.type]):
        return wording.arg_wrong_type(name, param.type)
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_VALUE_CHARS:
        return wording.arg_too_long(name)
    if param.enum and text not in param.enum:
        return wording.arg_not_one_of(name, param.enum)
    if param.pattern and re.fullmatch(param.pattern, text) is None:
        return wording.arg_not_in_form(name)
    return None


def _same_shape(
    template: str,
    context: Mapping[str, Any],
    free: set[str],
    shape: tuple[str, ...],
) -> bool:
    """Whether the freely chosen values fill only a user part or digits of the target."""
    args = context.get("args")
    marked = {**(args if isinstance(args, Mapping) else {}), **dict.fromkeys(free, _MARK)}
    try:
        probe = render(template, {**context, "args": marked}).strip()
    except TemplateError:
        return False  # cannot tell where the values land: refuse rather than guess
    if _MARK not in probe:
        return True  # the free values do not reach the target at all
    if shape[0] in ("tel", "number"):
        # The `+` (and `tel:` and its params) are the flow's; the digits may be chosen, then
        # `reach` decides.
        written = probe[4:] if shape[0] == "tel" else probe
        params = shape[1] if shape[0] == "tel" else ""
        is_tel = probe.lower().startswith("tel:")
        return is_tel == (shape[0] == "tel") and written[:1] == "+" and probe.endswith(params)
    probed = target_shape(probe)
    return probed == shape and _MARK not in "".join(probed)
