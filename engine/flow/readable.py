"""After a syntax error: which lines to set aside, and which problems of the rest to believe.

A file with a YAML syntax error is refused as a whole, but its author still wants every other
mistake in one run. So lint blanks the lines YAML could not read (the broken line and the
lines that belong to it, ``SourceError.region``), reads what is left, and checks it. When
that leaves a required key out (`instructions: "never closed`), the rules cannot run, so the
broken line is also tried as `key: x`.

Blanking can cause problems that are not in the file: a key written on a blanked line is
missing, a state defined there is unknown, a tool used only there is unused. A problem of the
rest is reported only when the gap cannot have caused it:

- it is not on a line of the gap, nor on a line of an entry that contains the gap (the tool
  whose `say:` was blanked may look as if it did nothing);
- it is not about the whole file (a missing top-level key, "not a flow");
- it names no key or name written on a blanked line (`goto: billing`, `start: front_desk`);
- it is not a whole-flow rule (what is reachable or used depends on every line).

If what is left does not read either, only the first syntax error is reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .diagnostics import Diagnostic

__all__ = ["WHOLE_FLOW_RULES", "believable", "blank_lines", "stand_ins"]

# Rules whose finding depends on every line of the flow: never reported from a partial read.
WHOLE_FLOW_RULES = frozenset({"unreachable-state", "unused-tool", "keypad-tool-args", "not-a-flow"})

_KEY = re.compile(r"^\s*(?:-\s+)?[\"']?([^\s\"':#][^\"':#]*?)[\"']?\s*:(?:\s|$)")
_WORD = re.compile(r"[A-Za-z_][\w.-]*[\w]|[A-Za-z_]")


def blank_lines(text: str, region: tuple[int, int]) -> str:
    """``text`` with lines ``region`` (1-based, inclusive) emptied; line numbers are kept."""
    first, last = region
    lines = text.splitlines(keepends=True)
    for index in range(max(first - 1, 0), min(last, len(lines))):
        line = lines[index]
        content = line.rstrip("\r\n\x85\u2028\u2029")
        lines[index] = line[len(content) :]
    return "".join(lines)


def stand_ins(text: str, region: tuple[int, int]) -> list[str]:
    """The texts to check in place of ``text``: the broken lines blanked, and when the first
    of them is a `key: value` line, the same with `key: x` kept, so that a required key
    (`instructions:`) is still there and the rules can run. A problem with the stand-in value
    ``x`` is on its line, which is never reported."""
    blanked = blank_lines(text, region)
    lines = text.splitlines(keepends=True)
    if not 1 <= region[0] <= len(lines):
        return [blanked]
    first = lines[region[0] - 1]
    match = _KEY.match(first)
    if not match or "- " in first[: match.start(1)]:
        return [blanked]
    ending = first[len(first.rstrip("\r\n\x85\u2028\u2029")) :]
    indent = " " * (len(first) - len(first.lstrip(" ")))
    kept = blank_lines(text, (region[0] + 1, region[1])) if region[1] > region[0] else text
    lines = kept.splitlines(keepends=True)
    lines[region[0] - 1] = f"{indent}{match.group(1)}: x{ending}"
    return [blanked, "".join(lines)]


def believable(found: Iterable[Diagnostic], text: str, region: tuple[int, int]) -> list[Diagnostic]:
    """The problems found in ``text`` with ``region`` blanked that the gap cannot have caused."""
    lines = text.splitlines()
    first, last = region
    near = _lines_around(lines, first - 1)
    names = _names(lines[first - 1 : last])
    kept = []
    for diagnostic in found:
        if diagnostic.rule in WHOLE_FLOW_RULES or first <= diagnostic.line <= last:
            continue
        if diagnostic.line in near:
            continue
        if diagnostic.end_line is not None and diagnostic.end_line > diagnostic.line:
            continue  # a whole mapping: the flow, a tool, a state, which the gap may be part of
        # The message, not the hint: a hint may list what is defined, gap included.
        said = diagnostic.message
        if any(re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", said) for name in names):
            continue
        kept.append(diagnostic)
    return kept


def _content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _lines_around(lines: list[str], index: int) -> set[int]:
    """1-based lines that speak for an entry containing line ``index`` (0-based): each
    enclosing key's line and the first line of its contents."""
    near: set[int] = set()
    if not 0 <= index < len(lines):
        return near
    lowest = _indent(lines[index])
    for above in range(index - 1, -1, -1):
        if not _content(lines[above]) or _indent(lines[above]) >= lowest:
            continue
        lowest = _indent(lines[above])
        near.add(above + 1)
        below = next((k for k in range(above + 1, len(lines)) if _content(lines[k])), None)
        if below is not None:
            near.add(below + 1)
        if lowest == 0:
            break
    return near


def _names(blanked: list[str]) -> set[str]:
    """Keys and one-word values written on the blanked lines: what a problem caused by their
    absence would name."""
    found: set[str] = set()
    for line in blanked:
        if not _content(line):
            continue
        match = _KEY.match(line)
        if match:
            found.add(match.group(1).strip())
            line = line[match.end() :]
        # A list or a short value names things; a sentence's words are only words.
        short = line.lstrip().startswith(("[", "{")) or len(line.split()) <= 3
        for word in _WORD.findall(line):
            if short or "_" in word or "." in word:
                found.add(word)
        found.update(re.findall(r"\{\{\s*([\w.]+)", line))
    return {name for name in found if len(name) >= 2}
