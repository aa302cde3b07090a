"""The lint rules' order is declared once (``engine.flow.rules.RULE_MODULES``): they are
registered, run and documented in it."""

from __future__ import annotations

import re
from pathlib import Path

from engine.flow.rules import RULE_MODULES, RULES

DOC = Path(__file__).resolve().parents[2] / "docs" / "lint-rules.md"


def test_rules_are_registered_in_the_declared_module_order() -> None:
    # The rules reported outside the per-flow pass (YAML, schema, cross-file) come first.
    checked = [r.check is not None for r in RULES.values()]
    assert checked == sorted(checked)
    modules = [r.check.__module__.rsplit(".", 1)[1] for r in RULES.values() if r.check]
    assert set(modules) == set(RULE_MODULES)
    places = [RULE_MODULES.index(module) for module in modules]
    assert places == sorted(places), "a rule module registered out of its declared place"


def test_the_rules_page_lists_the_rules_in_that_order() -> None:
    headings = re.findall(r"(?m)^## ([a-z0-9-]+)$", DOC.read_text(encoding="utf-8"))
    assert [h for h in headings if h in RULES] == list(RULES)
