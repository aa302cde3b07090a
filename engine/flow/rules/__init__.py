"""The semantic lint rules: each a small named unit with a description.

A rule reads one parsed, structurally valid flow and reports diagnostics. Rules that compare
files with each other (a number claimed twice) live in ``engine.flow.lint``. Every rule has a
bad and a fixed example in ``docs/lint-rules.md``, held to the truth by golden tests.
"""

from __future__ import annotations

import importlib

from .base import RULES, LintContext, Rule, rule, run_rules

# The one place the order of the rules is declared: they are run, reported and listed in
# docs/lint-rules.md in this order (after the YAML, schema and cross-file rules of
# ``base``): names, then what tools and steps do, the keypad, silence, before-answer
# decisions, the session, templates, secrets written into the flow, telephony. Importing a
# module registers its rules, so they are imported in this order; a rule module that imports
# another one must come after it (tests/flow/test_rule_order.py holds the registry to it).
RULE_MODULES = (
    "references",
    "steps",
    "keypad",
    "silence",
    "outcomes",
    "hours",
    "session",
    "templating",
    "template_safety",
    "credentials",
    "telephony",
    "trunk",
    "limits",
)
for _module in RULE_MODULES:
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["RULES", "RULE_MODULES", "LintContext", "Rule", "rule", "run_rules"]
