"""The semantic lint rules: each a small named unit with a description.

A rule reads one parsed, structurally valid flow and reports diagnostics. Rules that compare
files with each other (a number claimed twice) live in ``engine.flow.lint``. Every rule has a
bad and a fixed example in ``docs/lint-rules.md``, held to the truth by golden tests.
"""

from __future__ import annotations

from . import references, session, steps, telephony, templating  # noqa: F401  (registers)
from .base import RULES, LintContext, Rule, rule, run_rules

__all__ = ["RULES", "LintContext", "Rule", "rule", "run_rules"]
