"""A unified diff of two texts of a flow, line by line, each line marked for the page."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

__all__ = ["DiffLine", "unified"]


@dataclass(frozen=True, slots=True)
class DiffLine:
    kind: str  # head (the files' names), hunk (@@ … @@), added, removed, same
    text: str


def unified(a: str, b: str, a_label: str, b_label: str, context: int = 3) -> list[DiffLine]:
    """What changes from ``a`` to ``b``, as ``diff -u`` shows it; empty when they are the
    same. Blocks (difflib on two 1 MiB texts takes a while): call through a thread."""
    lines: list[DiffLine] = []
    found = difflib.unified_diff(
        a.splitlines(), b.splitlines(), a_label, b_label, n=context, lineterm=""
    )
    for i, line in enumerate(found):
        if i < 2:
            kind = "head"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "added"
        elif line.startswith("-"):
            kind = "removed"
        else:
            kind = "same"
        lines.append(DiffLine(kind, line))
    return lines
