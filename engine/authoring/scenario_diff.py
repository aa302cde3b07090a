"""Where an expected line and the closest line heard first differ, shown under a failure.

A `said:` line that was not heard is most often one that was heard a little differently (a
word changed, a comma, a capital). Listing every line the agent said leaves the reader to
compare them letter by letter; this finds the closest one and points at the first place it
differs: which word, and a caret under the character.
"""

from __future__ import annotations

import difflib
import json

__all__ = ["closest_difference"]

# Below this similarity (difflib's ratio, 0 to 1) a line heard is not taken for an attempt
# at the expected one, and nothing is pointed at.
MIN_SIMILARITY = 0.5
# A quoted line is shown from this many characters before its first difference, at most.
CONTEXT = 40


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _closest(wanted: str, candidates: list[str]) -> str | None:
    best, best_ratio = None, MIN_SIMILARITY
    for line in candidates:
        ratio = difflib.SequenceMatcher(None, wanted, line, autojunk=False).ratio()
        if ratio > best_ratio or (best is None and ratio == best_ratio):
            best, best_ratio = line, ratio
    return best


def _first_word_difference(wanted: str, heard: str, verb: str) -> str:
    want, got = wanted.split(), heard.split()
    for index, (w, g) in enumerate(zip(want, got, strict=False)):
        if w != g:
            return f"word {index + 1}: expected {_q(w)}, {verb} {_q(g)}"
    if len(want) > len(got):
        return f"word {len(got) + 1}: expected {_q(want[len(got)])}, {verb} nothing more"
    if len(got) > len(want):
        return f"word {len(want) + 1}: expected the end of the line, {verb} {_q(got[len(want)])}"
    return "the same words, with different spaces between them"


def closest_difference(wanted: str, lines: list[str], verb: str = "heard") -> tuple[str, ...]:
    """Lines to show under a failure: the line among ``lines`` closest to ``wanted``, the two
    one above the other and a caret under their first difference. Empty when no line is
    close enough to be an attempt at it.

    ``verb`` says what happened to a line (``heard``, ``told``)."""
    wanted = wanted.strip()
    heard = _closest(wanted, [line.strip() for line in lines])
    if heard is None or heard == wanted:
        return ()
    at = next(
        (i for i, (a, b) in enumerate(zip(wanted, heard, strict=False)) if a != b),
        min(len(wanted), len(heard)),
    )
    shown_wanted, shown_heard = _q(wanted), _q(heard)
    # The common part quotes the same in both, so the caret's column is the same in both.
    column = len(_q(wanted[:at])) - 1
    if column > CONTEXT:
        cut = column - CONTEXT // 2
        shown_wanted = "…" + shown_wanted[cut:]
        shown_heard = "…" + shown_heard[cut:]
        column = column - cut + 1
    width = max(len("expected"), len(verb)) + 1  # both labels as wide: the lines align
    return (
        f"closest line {verb}: {_first_word_difference(wanted, heard, verb)}",
        "  " + "expected".ljust(width) + shown_wanted,
        "  " + verb.ljust(width) + shown_heard,
        "  " + " " * (width + column) + "^",
    )
