"""A YAML syntax error, explained in a flow author's words at the place the mistake was made.

PyYAML says where *it* gave up, in its own terms (``expected <block end>, but found
'<block mapping start>'``), often lines below the mistake: an unclosed quote is noticed at
the end of the file, ``greeting:>`` three lines later. This module looks back from that point
for the usual mistakes (a quote or bracket never closed, a line indented to no level above
it, ``key:value`` without a space, a block of text started wrongly, typographic quotes) and
says what to write instead. It runs only on text that failed to parse, so it costs nothing
on good files.

Each explanation also names the lines YAML could not read (``Explained.region``): lint
blanks them and checks what is left (see ``engine.flow.readable``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml
from yaml.tokens import ScalarToken, Token

from .diagnostics import Span

__all__ = ["Explained", "ScalarRecorder", "explain"]


@dataclass(frozen=True, slots=True)
class Explained:
    span: Span
    message: str
    hint: str | None
    # 1-based first and last line that YAML could not read, or None if unknown.
    region: tuple[int, int] | None


CURLY = "“”„‟‘’‚‛«»"
_KEY_LINE = re.compile(r"^\s*(?:-\s+)?(?:[^\s\"'#:][^#:]*?|\"[^\"]*\"|'[^']*'):(?:\s|$)")
_NO_SPACE = re.compile(r"^(\s*(?:-\s+)?)([A-Za-z_][\w-]*):(?!//)([^\s].*)$")
_URI_SCHEMES = {"tel", "sip", "sips", "http", "https", "mailto"}
_BLOCK_INDICATOR = re.compile(r":\s+[|>][-+0-9]*\s*(?:#.*)?$")


class _Lines:
    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def get(self, index: int) -> str:
        return self.lines[index] if 0 <= index < len(self.lines) else ""

    def indent(self, index: int) -> int:
        line = self.get(index)
        return len(line) - len(line.lstrip(" "))

    def is_content(self, index: int) -> bool:
        stripped = self.get(index).strip()
        return bool(stripped) and not stripped.startswith("#")

    def key(self, index: int) -> str:
        """How to name a line in a message: its key (`description:`) or its first words."""
        stripped = self.get(index).strip()
        match = re.match(r"^(-\s+)?([^\s:#][^:#]*?):(\s|$)", stripped)
        if match:
            return f"{match.group(1) or ''}{match.group(2)}:"
        return stripped[:30]

    def levels_above(self, index: int) -> list[int]:
        """The lines above ``index`` that open the blocks it may belong to: each indented less
        than all lines between it and ``index`` (nearest first)."""
        found: list[int] = []
        lowest = None
        for above in range(index - 1, -1, -1):
            if not self.is_content(above):
                continue
            width = self.indent(above)
            if lowest is None or width < lowest:
                found.append(above)
                lowest = width
                if width == 0:
                    break
        return found

    def block_end(self, index: int) -> int:
        """The last line of the block that ``index`` starts: it and the lines indented more."""
        width = self.indent(index)
        last = index
        for below in range(index + 1, len(self.lines)):
            if not self.is_content(below):
                continue
            if self.indent(below) <= width:
                break
            last = below
        return last


class ScalarRecorder(yaml.scanner.Scanner):
    """A scanner that keeps the scalar tokens it hands out: the explanation of an error looks
    back at them (where a quote opened, where a plain text began) without reading the file
    a second time."""

    scalars: list[ScalarToken]

    def get_token(self) -> Token:
        token = super().get_token()
        if type(token) is ScalarToken:
            self.scalars.append(token)
        return token

    def scalars_read(self) -> list[ScalarToken]:
        """The scalars handed out, then those scanned but not yet handed out."""
        pending = [t for t in self.tokens if type(t) is ScalarToken]
        return [*self.scalars, *pending]


def _at(line: int, col: int, width: int = 1) -> Span:
    """A span from 0-based ``line`` and ``col``."""
    return Span(line + 1, col + 1, line + 1, col + 1 + max(width, 1))


def _region(lines: _Lines, first: int, last: int | None = None) -> tuple[int, int]:
    end = max(lines.block_end(first), last if last is not None else first)
    return first + 1, end + 1


def _close_hint(line: str, col: int, closer: str, what: str = "text") -> str:
    """Say how to close what opened at ``col``; show the line closed when that is the fix."""
    rest = line[col + 1 :].rstrip()
    # Only a plain rest of the line: another bracket, quote or comment makes the fix a guess.
    others = r"[\"'#]" if what == "text" else r"[\[{#]"
    balanced = what == "text" or (rest.count('"') % 2 == 0 and rest.count("'") % 2 == 0)
    if rest and balanced and not rest.endswith(",") and not re.search(others, rest):
        return f"end the {what} with `{closer}` on this line: {line.strip()}{closer}"
    return f"end the {what} with `{closer}`"


_TOKEN_WORDS = {
    "<block end>": "the end of the block",
    "<block mapping start>": "a new key",
    "<block sequence start>": "a list item",
    "<scalar>": "a value",
    "<stream end>": "the end of the file",
    "<document start>": "the start of the document",
    "<flow mapping start>": "`{`",
    "<flow sequence start>": "`[`",
    "'?'": "a key",
    "'-'": "a list item",
}


def _plain(problem: str) -> str:
    """PyYAML's words with its token names said plainly."""
    for name, words in _TOKEN_WORDS.items():
        problem = problem.replace(f"'{name}'", words).replace(name, words)
    return problem


def _words(text: str, most: int = 2) -> str:
    """The first words of ``text``, with `…` if there is more."""
    words = text.split()
    return " ".join(words[:most]) + ("…" if len(words) > most else "")


def _quoted(value: str) -> str:
    value = value.strip()
    for left, right in (("“", "”"), ("‘", "’"), ("„", "“"), ("«", "»")):
        if value.startswith(left) and value.endswith(right):
            value = value[1:-1]
    if '"' not in value:
        return f'"{value}"'
    return "'" + value.replace("'", "''") + "'"


def explain(text: str, exc: yaml.MarkedYAMLError, scalars: list[ScalarToken]) -> Explained:
    """The explanation of the first syntax error in ``text``; ``scalars`` are the scalar
    tokens PyYAML's scanner read before it stopped (``ScalarRecorder``)."""
    lines = _Lines(text)
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line, mark.column) if mark else (0, 0)
    problem = (exc.problem or exc.context or "").strip()
    context = (exc.context or "").strip()
    tokens: list[Token] = list(scalars)
    for finder in (
        _unclosed_quote,
        _quote_ends_early,
        _unclosed_bracket,
        _no_space_after_colon,
        _missing_colon,
        _block_text,
        _indentation,
        _over_indented_key,
        _colon_in_value,
        _start_character,
    ):
        found = finder(lines, exc, tokens, line, col)
        if found is not None:
            return found
    if not lines.get(line).strip():  # at the end of the file: show the last line written
        line = next((k for k in range(line, -1, -1) if lines.is_content(k)), line)
        col = lines.indent(line)
    return Explained(
        _at(line, col),
        f"YAML cannot read the file from here: {_plain(problem or context)}",
        "look at this line and the one above it: indentation (spaces only), and that every "
        "quote and bracket opened is closed",
        _region(lines, line),
    )


# --- the finders: each returns an explanation, or None when the mistake is not its kind ----


def _unclosed_quote(
    lines: _Lines, exc: yaml.MarkedYAMLError, tokens: list[Token], line: int, col: int
) -> Explained | None:
    opener = None
    closed_at = None  # the line of the quote that YAML took for the closing one
    if (exc.context or "").startswith("while scanning a quoted scalar") and exc.context_mark:
        opener = exc.context_mark
    else:
        for token in tokens:
            if not isinstance(token, ScalarToken) or token.style not in ('"', "'"):
                continue
            start, end = token.start_mark.line, token.end_mark.line
            if start > line:
                break
            if end > start and any(
                lines.is_content(k)
                and lines.indent(k) <= lines.indent(start)
                and _KEY_LINE.match(lines.get(k))
                for k in range(start + 1, end + 1)
            ):
                opener, closed_at = token.start_mark, end
                break
    if opener is None:
        return None
    quote = lines.get(opener.line)[opener.column : opener.column + 1] or '"'
    kind = "double" if quote == '"' else "single"
    until = "the end of the file"
    if closed_at is not None:
        until = f"the next `{quote}`, on line {closed_at + 1}"
    return Explained(
        _at(opener.line, opener.column),
        f"this {kind} quote `{quote}` is never closed, so YAML reads everything after it, up "
        f"to {until}, as one text",
        _close_hint(lines.get(opener.line), opener.column, quote),
        _region(lines, opener.line),
    )


def _quote_ends_early(
    lines: _Lines, exc: yaml.MarkedYAMLError, tokens: list[Token], line: int, col: int
) -> Explained | None:
    """`'it's me'`: the apostrophe closes the text, and more follows on the same line."""
    for token in reversed(tokens):
        if not isinstance(token, ScalarToken) or token.end_mark.line != line:
            continue
        if token.end_mark.column > col:
            continue  # the text after the closing quote
        if token.style not in ('"', "'") or token.start_mark.line != line:
            return None
        end = token.end_mark.column
        rest = lines.get(line)[end:]
        if not rest.strip() or rest.lstrip()[0] in ",]}#:":
            return None
        quote = token.style
        inner = lines.get(line)[token.start_mark.column : len(lines.get(line).rstrip())]
        if not inner.endswith(quote):  # `"hi" she said`: quote all of it
            return Explained(
                _at(line, end - 1),
                f"this `{quote}` ends the text in quotes that started at column "
                f"{token.start_mark.column + 1}, and more text follows it",
                f"put the whole value in quotes: {_quoted(inner)}",
                _region(lines, line),
            )
        if quote == "'":
            fixed = '"' + inner[1:-1].replace('"', '\\"') + '"' if inner.endswith("'") else None
            how = "double an apostrophe inside single quotes (`''`)"
        else:
            fixed = "'" + inner[1:-1].replace("'", "''") + "'" if inner.endswith('"') else None
            how = 'write `\\"` for a quote inside double quotes'
        hint = f"write the value as {fixed}, or {how}" if fixed else how
        return Explained(
            _at(line, end - 1),
            f"this `{quote}` ends the text in quotes that started at column "
            f"{token.start_mark.column + 1}, and more text follows it",
            hint,
            _region(lines, line),
        )
    return None


def _unclosed_bracket(
    lines: _Lines, exc: yaml.MarkedYAMLError, tokens: list[Token], line: int, col: int
) -> Explained | None:
    context = exc.context or ""
    if not context.startswith(("while parsing a flow sequence", "while parsing a flow mapping")):
        return None
    opener = exc.context_mark
    if opener is None:
        return None
    bracket, closer, what = ("[", "]", "list") if "sequence" in context else ("{", "}", "mapping")
    at_line_start = lines.indent(line) <= lines.indent(opener.line) and _KEY_LINE.match(
        lines.get(line)
    )
    if line > opener.line and (at_line_start or "<stream end>" in (exc.problem or "")):
        return Explained(
            _at(opener.line, opener.column),
            f"this `{bracket}` is never closed: the {what} it starts must end with "
            f"`{closer}`, so YAML read on into line {line + 1}",
            _close_hint(lines.get(opener.line), opener.column, closer, what),
            _region(lines, opener.line, line - 1),
        )
    if "expected ','" in (exc.problem or ""):
        return Explained(
            _at(line, col),
            f"a comma is missing before this item of the {what} opened at line "
            f"{opener.line + 1}, column {opener.column + 1}",
            f"separate the items with commas, e.g. {bracket}a, b{closer}; text that holds a "
            "comma or a quote goes in quotes",
            _region(lines, opener.line, line),
        )
    return None


def _no_space_after_colon(
    lines: _Lines, exc: yaml.MarkedYAMLError, tokens: list[Token], line: int, col: int
) -> Explained | None:
    first = line
    if (exc.context or "").startswith("while scanning a simple key") and exc.context_mark:
        first = exc.context_mark.line
    else:
        plain = [
            t
            for t in tokens
            if isinstance(t, ScalarToken) and t.style is None and t.start_mark.line <= line
        ]
        if plain and plain[-1].end_mark.line >= line - 1:
            first = plain[-1].start_mark.line
    for index in range(first, line + 1):
        match = _NO_SPACE.match(lines.get(index))
        if not match or match.group(2).lower() in _URI_SCHEMES:
            continue
        lead, key, rest = match.groups()
        colon = len(lead) + len(key)
        if rest.startswith(("|", ">")):
            hint = (
                f"write `{key}: {rest}`; `{rest[0]}` then starts a block of text on the lines "
                "below, indented: `|` keeps its line breaks, `>` joins the lines into one "
                "paragraph"
            )
        else:
            hint = f"write `{key}: {rest}`"
        return Explained(
            _at(index, colon),
            f"`{key}:` needs a space after the colon: without it YAML reads "
            f"`{key}:{_words(rest)}` as text, not as the key `{key}`",
            hint,
            _region(lines, index),
        )
    return None


def _missing_colon(
    lines: _Lines, exc: yaml.MarkedYAMLError, tokens: list[Token], line: int, col: int
) -> Explained | None:
    """`description Hang up` on a line of keys: no colon, so YAML reads on into the next line."""
    problem = exc.problem or ""
    start = None
    if (exc.context or "").startswith("while scanning a simple key") and exc.context_mark:
        start = exc.context_mark
    elif problem.startswith("mapping values are not allowed"):
        plain = [t for t in tokens if isinstance(t, ScalarToken) and t.style is None]
        plain = [t for t in plain if t.start_mark.line < line <= t.end_mark.line]
        start = plain[-1].start_mark if plain else None
    if start is None or start.column != lines.indent(start.line):
        return None
    written = lines.get(start.line).strip()
    if ": " in written or written.endswith(":") or " " not in written:
        return None
    word, rest = written.split(" ", 1)
    if not re.fullmatch(r"[A-Za-z_][\w-]*", word):
        return None
    return Explained(
        _at(start.line, start.column, len(word)),
        f"`{word}` has no colon after it, so YAML does not read it as a key",
        f"write `{word}: {rest}`",
        _region(lines, start.line),
    )


def _block_text(
    lines: _Lines, exc: yaml.MarkedYAMLError, tokens: list[Token], line: int, col: int
) -> Explained | None:
    context = exc.context or ""
    if context.startswith("while scanning a block scalar") and exc.context_mark:
        at = exc.context_mark
        sign = lines.get(at.line)[at.column : at.column + 1]
        key = lines.key(at.line)
        return Explained(
            _at(line, col),
            f"text cannot follow `{sign}` on the same line: `{sign}` starts a block of text "
            "on the lines below it",
            f"put the text on the next lines, indented under `{key}`; `|` keeps the line "
            "breaks, `>` joins the lines into one paragraph (or remove the `"
            f"{sign}` to keep the text on this line)",
            _region(lines, at.line),
        )
    if context.startswith("while scanning a simple key") and exc.context_mark:
        start = exc.context_mark.line
        above = next((k for k in range(start - 1, -1, -1) if lines.is_content(k)), None)
        if (
            above is not None
            and _BLOCK_INDICATOR.search(lines.get(above))
            and lines.indent(start) <= lines.indent(above)
        ):
            key = lines.key(above)
            return Explained(
                _at(start, lines.indent(start), len(lines.get(start).strip())),
                f"the text of the block that `{key}` starts on line {above + 1} must be "
                f"indented more than `{key}`",
                f"indent the lines of the text by {lines.indent(above) + 2} spaces",
                _region(lines, start, line - 1),
            )
    # A line indented less than the block of text above it: the text ends before it.
    previous = [t for t in tokens if t.start_mark.line < line]
    last_scalar = next((t for t in reversed(previous) if isinstance(t, ScalarToken)), None)
    if (
        isinstance(last_scalar, ScalarToken)
        and last_scalar.style in ("|", ">")
        and col == lines.indent(line)
        and last_scalar.end_mark.line >= line - 1
    ):
        owner = last_scalar.start_mark.line
        body = next((k for k in range(owner + 1, line) if lines.is_content(k)), None)
        if body is not None and lines.indent(owner) < lines.indent(line) < lines.indent(body):
            return Explained(
                _at(line, col, len(lines.get(line).strip())),
                f"this line is indented less than the first line of the text of "
                f"`{lines.key(owner)}` (line {body + 1}), so the text ends before it",
                f"indent every line of the text at least as much as its first line "
                f"({lines.indent(body)} spaces)",
                _region(lines, line),
            )
    return None


def _indentation(
    lines: _Lines, exc: yaml.MarkedYAMLError, tokens: list[Token], line: int, col: int
) -> Explained | None:
    problem = exc.problem or ""
    if not problem.startswith(("expected <block end>", "did not find expected")):
        return None
    if col != lines.indent(line) or not lines.is_content(line):
        return None
    width = lines.indent(line)
    levels = lines.levels_above(line)
    widths = {lines.indent(k): k for k in levels}
    text = lines.get(line).strip()
    # Where a line may start: under each opening line above, and under the key that follows a
    # `- ` on it (`- name: x` opens a block at the column of `name`).
    starts: list[tuple[int, int, str]] = []
    for k in levels:
        starts.append((lines.indent(k), k, lines.key(k)))
        item = re.match(r"-\s+(?=\S)", lines.get(k).lstrip(" "))
        if item:
            rest = lines.get(k).lstrip(" ")[item.end() :]
            starts.append((lines.indent(k) + item.end(), k, _Lines(rest).key(0)))
    if width not in {start[0] for start in starts}:
        deeper = [start for start in starts if start[0] > width]
        shallower = [start for start in starts if start[0] < width]
        choices = []
        if deeper:
            w, k, name = min(deeper)
            choices.append(f"by {w} spaces to line up with `{name}` on line {k + 1}")
        if shallower:
            w, k, name = max(shallower)
            choices.append(f"by {w} to line up with `{name}` on line {k + 1}")
        spaces = "space" if width == 1 else "spaces"
        return Explained(
            _at(line, col, len(text)),
            f"this line is indented by {width} {spaces}, which lines it up with no line "
            "above it, so YAML cannot tell which block it belongs to",
            ("indent it " + ", or ".join(choices))
            if choices
            else "indent it like the lines around it",
            _region(lines, line),
        )
    if width in widths:
        owner = widths[width]
        owner_key = lines.key(owner)
        owner_is_item = lines.get(owner).lstrip().startswith("-")
    else:
        # Lined up with the key after a `- ` on a line above (`- say: …`): that key's block.
        _, owner, owner_key = next(start for start in starts if start[0] == width)
        owner_is_item = False
    if text.startswith("-") and not owner_is_item:
        return Explained(
            _at(line, col),
            f"this `- ` list item is lined up with the key `{owner_key}` on line "
            f"{owner + 1}: keys and list items cannot be mixed in one block",
            "put the list under a key of its own, indented by two more spaces, or write this "
            "line as a key",
            _region(lines, line),
        )
    if owner_is_item and not text.startswith("-"):
        return Explained(
            _at(line, col, len(text)),
            f"this line is lined up with the `- ` list item on line {owner + 1}, but it is "
            "not a list item: keys and list items cannot be mixed in one block",
            "start it with `- ` if it is another item, or indent it under the item it belongs to",
            _region(lines, line),
        )
    return None


def _over_indented_key(
    lines: _Lines, exc: yaml.MarkedYAMLError, tokens: list[Token], line: int, col: int
) -> Explained | None:
    """`say:` indented under `description: text`: YAML reads it as more of that text."""
    if not (exc.problem or "").startswith("mapping values are not allowed"):
        return None
    current = lines.get(line)
    match = _KEY_LINE.match(current)
    if not match or current.rstrip().find(":") != col:
        return None
    above = next((k for k in range(line - 1, -1, -1) if lines.is_content(k)), None)
    if above is None or lines.indent(above) >= lines.indent(line):
        return None
    # Find the key whose text this line continues: the nearest line above at a smaller indent.
    owner = above
    while owner > 0 and not _KEY_LINE.match(lines.get(owner)):
        owner -= 1
    key = lines.key(owner)
    return Explained(
        _at(line, lines.indent(line), col - lines.indent(line)),
        f"this line is indented more than `{key}` on line {owner + 1}, so YAML reads it as "
        "more of that line's text",
        f"line it up with `{key}` ({lines.indent(owner)} spaces) if it is another key of the "
        "same block",
        _region(lines, line),
    )


def _colon_in_value(
    lines: _Lines, exc: yaml.MarkedYAMLError, tokens: list[Token], line: int, col: int
) -> Explained | None:
    if not (exc.problem or "").startswith("mapping values are not allowed"):
        return None
    current = lines.get(line)
    match = re.match(r"^(\s*(?:-\s+)?[^\s:#][^:#]*?:\s+)(.*?)\s*(?:\s#.*)?$", current)
    value = match.group(2) if match else ""
    if value and value[0] in CURLY:
        return Explained(
            _at(line, len(match.group(1)) if match else col),
            f"`{value[0]}` is a typographic quote, not a quote to YAML, so the `: ` inside "
            "this value starts another key",
            f"use straight quotes: {match.group(1).strip() if match else ''} {_quoted(value)}",
            _region(lines, line),
        )
    fixed = f"{match.group(1)}{_quoted(value)}" if match and value else None
    return Explained(
        _at(line, col),
        "a `: ` (colon and space) inside a value: YAML reads it as the start of another key",
        f"put the whole value in quotes: {fixed.strip()}"
        if fixed
        else "put the value in quotes, or check the indentation of this line",
        _region(lines, line),
    )


def _start_character(
    lines: _Lines, exc: yaml.MarkedYAMLError, tokens: list[Token], line: int, col: int
) -> Explained | None:
    problem = exc.problem or ""
    context = exc.context or ""
    current = lines.get(line)
    if context.startswith("while scanning an alias") or "cannot start any token" in problem:
        sign = current[col : col + 1] if not context.startswith("while scanning an") else "*"
        if context.startswith("while scanning an") and exc.context_mark:
            sign = lines.get(exc.context_mark.line)[exc.context_mark.column :][:1] or "*"
            col = exc.context_mark.column
        if sign == "\t":
            return None
        meaning = {
            "*": " (YAML reads `*name` as a reference to an `&name` above)",
            "&": " (YAML reads `&name` as an anchor)",
        }.get(sign, "")
        return Explained(
            _at(line if not exc.context_mark else exc.context_mark.line, col),
            f'a value cannot start with "{sign}" unless it is in quotes{meaning}',
            f'put the value in quotes: "{current[col:].strip()}"',
            _region(lines, line),
        )
    if "unknown escape character" in problem:
        return Explained(
            _at(line, max(col - 1, 0), 2),
            "in double quotes a backslash `\\` starts a special character such as `\\n`, and "
            f"`\\{current[col : col + 1]}` is not one",
            "write `\\\\` for a backslash, or use single quotes, in which `\\` is just a backslash",
            _region(lines, line),
        )
    stripped = current.strip()
    value = stripped.split(": ", 1)[1] if ": " in stripped else ""
    if value.startswith("{{") and "<block end>" in problem:
        key = stripped.split(": ", 1)[0]
        return Explained(
            _at(line, current.find("{{"), 2),
            "a value that starts with `{{` must be in quotes: without them YAML reads the "
            "braces as a mapping",
            f"write it in quotes: {key}: {_quoted(value)}",
            _region(lines, line),
        )
    return None
