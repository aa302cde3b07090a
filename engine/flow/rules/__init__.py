"""The semantic lint rules: each a small named unit with a description.

A rule reads one parsed, structurally valid flow and reports diagnostics. Rules that compare
files with each other (a number claimed twice) live in ``engine.flow.lint``. Every rule has a
bad and a fixed example in ``docs/lint-rules.md``, held to the truth by golden tests.
"""

from __future__ import annotations

from . import (  # importing a module registers its rules
    credentials,
    hours,
    keypad,
    limits,
    outcomes,
    references,
    session,
    silence,
    steps,
    telephony,
    template_safety,
    templating,
    trunk,
)
from .base import RULES, LintContext, Rule, rule, run_rules

# The order rules are run and listed in docs/lint-rules.md: names, then what tools and steps
# do, the keypad, silence, before-answer decisions, the session, templates, secrets written
# into the flow, telephony.
_ORDER = [
    references,
    steps,
    keypad,
    silence,
    outcomes,
    hours,
    session,
    templating,
    template_safety,
    credentials,
    telephony,
    trunk,
    limits,
]


def _place(item: tuple[str, Rule]) -> int:
    check = item[1].check
    if check is None:
        return -1  # YAML, schema and cross-file rules first, as declared
    return next(i for i, module in enumerate(_ORDER) if module.__name__ == check.__module__)


_ordered = sorted(RULES.items(), key=_place)
RULES.clear()
RULES.update(_ordered)

__all__ = ["RULES", "LintContext", "Rule", "rule", "run_rules"]
