"""What a rule is, what it sees, and the registry that runs them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from ..diagnostics import Diagnostic, Severity, Span
from ..model import Flow
from ..source import DataPath, SourceDocument

__all__ = ["RULES", "LintContext", "Rule", "rule", "run_rules"]


@dataclass
class LintContext:
    """One valid flow file under lint, plus what the rules may know of the world."""

    doc: SourceDocument
    flow: Flow
    env: Mapping[str, str] = field(default_factory=dict)

    def span(self, path: DataPath, *, key: bool = False) -> Span:
        return self.doc.span(path, key=key)

    def diagnostic(
        self,
        rule_id: str,
        where: DataPath | Span,
        message: str,
        *,
        hint: str | None = None,
        key: bool = False,
        severity: Severity | None = None,
    ) -> Diagnostic:
        span = where if isinstance(where, Span) else self.span(where, key=key)
        level = severity or RULES[rule_id].severity
        return Diagnostic.at(self.doc.file, span, rule_id, message, severity=level, hint=hint)


Check = Callable[[LintContext], Iterator[Diagnostic]]


@dataclass(frozen=True)
class Rule:
    id: str
    summary: str
    severity: Severity
    check: Check | None  # None: reported by the loader or the cross-file pass, not per flow


RULES: dict[str, Rule] = {}


def rule(
    rule_id: str, summary: str, severity: Severity = Severity.ERROR
) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        RULES[rule_id] = Rule(rule_id, summary, severity, check)
        return check

    return register


def declare(rule_id: str, summary: str, severity: Severity = Severity.ERROR) -> None:
    """A rule reported outside the per-flow pass (YAML reading, schema, cross-file)."""
    RULES[rule_id] = Rule(rule_id, summary, severity, None)


declare("yaml-syntax", "The file is not valid YAML.")
declare("yaml-duplicate-key", "A key appears twice in one mapping; YAML would keep only one.")
declare("yaml-tag", "A `!tag` is used; flow files hold plain values only.")
declare("yaml-too-large", "The file is too big, or its aliases expand to too many values.")
declare("yaml-too-deep", "Values are nested too deeply, or an alias refers to itself.")
declare("not-a-flow", "The file is not a mapping of flow keys.")
declare("schema", "A key is unknown, missing, of the wrong type or out of range.")
declare(
    "lint-ignore",
    "An `# engine: ignore[…]` comment names no rule, a rule that does not exist, or one that "
    "cannot be ignored.",
    Severity.WARNING,
)
declare("duplicate-number", "The same number is claimed twice, in one file or across files.")


def run_rules(ctx: LintContext) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for registered in RULES.values():
        if registered.check is not None:
            found.extend(registered.check(ctx))
    return found
