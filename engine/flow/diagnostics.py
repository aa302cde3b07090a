"""One record for every problem a flow author can make, and the ways we print it.

The text format follows actionlint: ``file:line:col: message [rule]``, then the source line
with a ``^~~~`` mark under the offending value, so a person can find and fix the mistake
without knowing anything about YAML parsers or pydantic. The JSON format is for programs; the
GitHub format is GitHub Actions workflow commands, which put each problem on the line of the
pull request's diff.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum

__all__ = [
    "RULES_DOC",
    "Diagnostic",
    "Severity",
    "Span",
    "format_github",
    "format_json",
    "format_text",
    "summary_line",
]


# Where each rule is explained, with a bad and a fixed example: every message links to its
# rule's section there (as ruff and actionlint do), `docs/lint-rules.md#template-env`.
RULES_DOC = "docs/lint-rules.md"


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a file, 1-based lines and columns, end column exclusive."""

    line: int
    col: int
    end_line: int
    end_col: int


@dataclass(frozen=True, slots=True)
class Diagnostic:
    file: str
    line: int
    col: int
    rule: str
    severity: Severity
    message: str
    hint: str | None = None
    end_line: int | None = None
    end_col: int | None = None
    # The marked text is a secret: the text format shows the line with it starred out.
    mask: bool = False

    @classmethod
    def at(
        cls,
        file: str,
        span: Span,
        rule: str,
        message: str,
        *,
        severity: Severity = Severity.ERROR,
        hint: str | None = None,
    ) -> Diagnostic:
        return cls(
            file, span.line, span.col, rule, severity, message, hint, span.end_line, span.end_col
        )

    def masked(self) -> Diagnostic:
        """This diagnostic, its marked text never shown (a token written into a flow)."""
        return dataclasses.replace(self, mask=True)

    @property
    def url(self) -> str:
        """The rule's section in the docs: its meaning, a bad and a fixed example."""
        return f"{RULES_DOC}#{self.rule}"

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file, self.line, self.col, self.rule)


def _underline(diagnostic: Diagnostic, source_line: str) -> str:
    start = max(diagnostic.col - 1, 0)
    if diagnostic.end_line == diagnostic.line and diagnostic.end_col:
        end = max(diagnostic.end_col - 1, start + 1)
    else:
        # A value that runs over several lines is marked to the end of its first line.
        end = max(len(source_line.rstrip()), start + 1)
    end = min(end, max(len(source_line), start + 1))
    # Keep tabs in the margin so the mark lines up under the same characters.
    margin = "".join(ch if ch == "\t" else " " for ch in source_line[:start])
    return margin + "^" + "~" * (end - start - 1)


def _starred(diagnostic: Diagnostic, source_line: str) -> str:
    """The line with the marked text (inside its quotes) written as stars."""
    start = max(diagnostic.col - 1, 0)
    end = len(source_line)
    if diagnostic.end_line == diagnostic.line and diagnostic.end_col:
        end = min(diagnostic.end_col - 1, end)
    marked = source_line[start:end]
    inner = marked.strip("\"'")
    left = marked.index(inner) if inner else 0
    stars = marked[:left] + "*" * len(inner) + marked[left + len(inner) :]
    return source_line[:start] + stars + source_line[end:]


def format_text(diagnostics: Sequence[Diagnostic], sources: dict[str, str]) -> str:
    """Render diagnostics for a terminal. ``sources`` maps file names to their text."""
    out: list[str] = []
    split: dict[str, list[str]] = {}  # each file's lines, split once however many problems
    for d in diagnostics:
        label = "warning: " if d.severity is Severity.WARNING else ""
        out.append(f"{d.file}:{d.line}:{d.col}: {label}{d.message} [{d.rule}]")
        lines = split.get(d.file)
        if lines is None:
            lines = split[d.file] = sources.get(d.file, "").splitlines()
        if 1 <= d.line <= len(lines):
            source_line = lines[d.line - 1]
            if d.mask:
                source_line = _starred(d, source_line)
            number = str(d.line)
            pad = " " * len(number)
            out.append(f"{pad} |")
            out.append(f"{number} | {source_line}")
            out.append(f"{pad} | {_underline(d, source_line)}")
            if d.hint:
                out.append(f"{pad} = {d.hint}")
            out.append(f"{pad} = see {d.url}")
        else:
            if d.hint:
                out.append(f"  = {d.hint}")
            out.append(f"  = see {d.url}")
    return "\n".join(out)


def summary_line(diagnostics: Iterable[Diagnostic], files: int) -> str:
    items = list(diagnostics)
    errors = sum(1 for d in items if d.is_error)
    warnings = len(items) - errors
    noun = "file" if files == 1 else "files"
    if not items:
        return f"no problems found in {files} {noun}"
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return f"{' and '.join(parts)} in {files} {noun}"


def format_json(diagnostics: Sequence[Diagnostic]) -> str:
    items = []
    for d in diagnostics:
        item = asdict(d)
        del item["mask"]
        items.append({**item, "url": d.url})
    return json.dumps(items, indent=2, ensure_ascii=False)


def _escape_data(text: str) -> str:
    # GitHub's rules for a workflow command's message (actions/toolkit `escapeData`).
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    # A property value also may not hold the `:` and `,` that end it (`escapeProperty`).
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_github(diagnostics: Sequence[Diagnostic]) -> str:
    """Render diagnostics as GitHub Actions workflow commands, one line each.

    ``::error file=flows/a.yaml,line=3,col=5,endLine=3,endColumn=9,title=unknown-state::…``
    (``::warning`` for a warning). GitHub shows each one as an annotation on that line of the
    pull request. The hint follows the message, as "(hint: …)", then the rule's section in
    the docs, as "(see docs/lint-rules.md#rule)".
    """
    out: list[str] = []
    for d in diagnostics:
        command = "warning" if d.severity is Severity.WARNING else "error"
        props = [("file", d.file), ("line", str(d.line)), ("col", str(d.col))]
        if d.end_line is not None:
            props.append(("endLine", str(d.end_line)))
        if d.end_col is not None:
            props.append(("endColumn", str(d.end_col)))
        props.append(("title", d.rule))
        message = f"{d.message} (hint: {d.hint})" if d.hint else d.message
        message += f" (see {d.url})"
        joined = ",".join(f"{key}={_escape_property(value)}" for key, value in props)
        out.append(f"::{command} {joined}::{_escape_data(message)}")
    return "\n".join(out)
