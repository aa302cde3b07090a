"""`# engine: ignore[rule]` comments: silence one rule where it is wrong, and say so in the file.

Where the comment is decides what it silences:

- at the end of a line (``url: … # engine: ignore[url-host]``): that line;
- on a line of its own, before the flow's first key (the file's opening comments): the whole
  file;
- on a line of its own further down: the line below it.

Several rules are separated by commas: ``# engine: ignore[template-env, unused-tool]``. A rule
that does not exist, or one that cannot be silenced (the file could not be read as a flow at
all), is reported itself, under ``lint-ignore``, so a typo never silences nothing quietly.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .diagnostics import Diagnostic, Severity, Span
from .rules import RULES

__all__ = ["UNIGNORABLE", "FileIgnores", "read_ignores", "unknown_rule_message"]

# A `#` that starts a YAML comment: at the start of a line or after a space.
_COMMENT = re.compile(r"(?:^|(?<=\s))#\s*engine\s*:\s*ignore\[(?P<rules>[^\]]*)\]")
_NAME = re.compile(r"[^,\s]+")
# `# engine: ignore` with no rule named: it silences nothing, which its author does not expect.
_BARE = re.compile(r"(?:^|(?<=\s))#\s*engine\s*:\s*ignore\b(?!\[[^\]]*[^\]\s,][^\]]*\])")

# Problems that keep the file from being a flow at all: silencing them would let lint pass a
# file the engine cannot load. `lint-ignore` reports the comments themselves.
UNIGNORABLE = frozenset(
    {
        "yaml-syntax",
        "yaml-duplicate-key",
        "yaml-tag",
        "yaml-too-large",
        "yaml-too-deep",
        "not-a-flow",
        "schema",
        "lint-ignore",
    }
) | (
    _SAFETY := frozenset(
        # What keeps a caller, the model or a service from reaching what the flow did not
        # mean (docs/security.md): an ignore comment must not be a way around it.
        {
            "env-secret",
            "env-whole",
            "header-secret",
            "template-budget",
            "template-escape",
            "transfer-from-args",
            "url-host",
        }
    )
)


@dataclass
class FileIgnores:
    """The rules one file silences: everywhere, and by line."""

    everywhere: set[str] = field(default_factory=set)
    by_line: dict[int, set[str]] = field(default_factory=dict)
    problems: list[Diagnostic] = field(default_factory=list)

    def keeps(self, diagnostic: Diagnostic) -> bool:
        rule = diagnostic.rule
        if rule in UNIGNORABLE:
            return True
        return rule not in self.everywhere and rule not in self.by_line.get(diagnostic.line, ())

    def filter(self, diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
        return [d for d in diagnostics if self.keeps(d)]


def unknown_rule_message(name: str) -> tuple[str, str | None]:
    """(message, hint) for a rule name that is not a rule, or cannot be silenced."""
    from .validate import did_you_mean  # validate imports the model; keep this module light

    if name in _SAFETY:
        return (
            f'"{name}" cannot be ignored: it keeps callers, the model and services from '
            "reaching what the flow did not mean (docs/security.md)",
            "fix the mistake instead",
        )
    if name in UNIGNORABLE:
        return (
            f'"{name}" cannot be ignored: with this problem the file is not a flow the engine '
            "can load",
            "fix the mistake instead",
        )
    choices = [rule for rule in RULES if rule not in UNIGNORABLE]
    guess = did_you_mean(name, choices)
    hint = f'did you mean "{guess}"?' if guess else "the rules are listed in docs/lint-rules.md"
    return f'"{name}" is not a lint rule, so nothing is ignored', hint


def _lines_below(lines: list[str], index: int) -> int | None:
    """The 1-based number of the first line after ``index`` that holds more than a comment."""
    for below in range(index + 1, len(lines)):
        stripped = lines[below].strip()
        if stripped and not stripped.startswith("#"):
            return below + 1
    return None


def _names(rules: str, start: int) -> Iterator[tuple[str, int]]:
    for match in _NAME.finditer(rules):
        yield match.group(), start + match.start()


def read_ignores(file: str, text: str) -> FileIgnores:
    """The ignore comments of one file's text."""
    found = FileIgnores()
    if "ignore" not in text:
        return found  # the common case, without splitting the file into lines
    lines = text.splitlines()
    in_header = True
    for index, line in enumerate(lines):
        stripped = line.strip()
        own_line = stripped.startswith("#")
        if stripped and not own_line and stripped != "---" and not stripped.startswith("%"):
            in_header = False
        bare = _BARE.search(line)
        if bare is not None:
            span = Span(index + 1, bare.start() + 1, index + 1, bare.end() + 1)
            found.problems.append(
                Diagnostic.at(
                    file,
                    span,
                    "lint-ignore",
                    "this comment names no rule, so nothing is ignored",
                    severity=Severity.WARNING,
                    hint="name the rules in brackets: # engine: ignore[template-env]",
                )
            )
            continue
        match = _COMMENT.search(line)
        if match is None:
            continue
        if not own_line:
            target: int | None = index + 1
        elif in_header:
            target = None  # the whole file
        else:
            target = _lines_below(lines, index)
            if target is None:
                continue  # nothing below to silence
        for name, col in _names(match["rules"], match.start("rules")):
            if name in RULES and name not in UNIGNORABLE:
                if target is None:
                    found.everywhere.add(name)
                else:
                    found.by_line.setdefault(target, set()).add(name)
                continue
            message, hint = unknown_rule_message(name)
            span = Span(index + 1, col + 1, index + 1, col + 1 + len(name))
            found.problems.append(
                Diagnostic.at(
                    file, span, "lint-ignore", message, severity=Severity.WARNING, hint=hint
                )
            )
    return found
