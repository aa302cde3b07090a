"""YAML text → plain Python data, remembering where every key and value came from.

PyYAML's own loaders are not fit for files that people edit by hand:
- they keep the last of two equal keys without a word;
- they expand aliases without limit (the "billion laughs" file);
- YAML 1.1 reads ``no`` as false, ``9:30`` as 570 and ``2024-01-01`` as a date, which
  surprises authors and disagrees with VS Code's YAML 1.2 reading of the same file.

So we only let PyYAML *compose* the node graph (which constructs no objects, hence no custom
tags are ever run) and build the data ourselves, with YAML 1.2 core-schema scalars, a budget
on alias expansion and depth, and a span for every node.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .diagnostics import Diagnostic, Span
from .yaml_errors import ScalarRecorder, explain

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "DataPath",
    "SourceDocument",
    "SourceError",
    "SpanTable",
    "load_source",
    "too_large",
]

MAX_FILE_BYTES = 512 * 1024
MAX_NODES = 50_000
MAX_DEPTH = 64

DataPath = tuple[str | int, ...]

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_ALLOWED_TAGS = {_STR, _INT, _FLOAT, _BOOL, _NULL, _MAP, _SEQ}


class _CoreResolver(yaml.resolver.BaseResolver):
    """The YAML 1.2 core schema: what VS Code's YAML extension uses too."""


_CoreResolver.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_CoreResolver.add_implicit_resolver(
    _INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_CoreResolver.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)
_CoreResolver.add_implicit_resolver(
    _NULL, re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)


class _Composer(
    yaml.reader.Reader,
    ScalarRecorder,
    yaml.parser.Parser,
    yaml.composer.Composer,
    _CoreResolver,
):
    def __init__(self, text: str) -> None:
        yaml.reader.Reader.__init__(self, text)
        ScalarRecorder.__init__(self)
        self.scalars = []
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _CoreResolver.__init__(self)


try:  # libyaml composes the same node graph about ten times faster than pure Python
    from yaml._yaml import CParser as _CParser
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    _HAVE_LIBYAML = False
else:
    _HAVE_LIBYAML = True

# libyaml's composer recurses in C with no depth check (100,000 nested `[` crash the
# process), so it only sees text whose nesting is provably shallow: every level is either a
# `[` / `{` or part of a line's leading run of spaces and block indicators (`- `, `? `, `: `).
_FAST_MAX_NESTING = 1_000
# Where libyaml and PyYAML read the same text differently, the pure-Python reading counts:
# libyaml takes `key:<tab>value` (PyYAML refuses it), counts a BOM inside the text as a
# column, places an empty value in `{key: }` one column later and reads a lone `!` tag as
# "" rather than null; and without a final line break the two end the last value in
# different places. (libyaml also accepts a few malformed constructs PyYAML refuses, such
# as `>#`; it reads them as the YAML spec's reference parser does.)
_EMPTY_FLOW_VALUE = re.compile(r":[ \r\n\x85\u2028\u2029]*[,}\]]")
_SEPARATORS = " \t\r\n\x85\u2028\u2029"


def _fast_declines(text: str) -> bool:
    if "\t" in text or "\ufeff" in text or not text.endswith("\n"):
        return True
    if _EMPTY_FLOW_VALUE.search(text):
        return True
    at = text.find("!")
    while at != -1:  # a lone `!` tag: few `!` in a flow, and most end a sentence
        before = text[at - 1] if at else " "
        after = text[at + 1] if at + 1 < len(text) else " "
        if before in _SEPARATORS + "[{," and after in _SEPARATORS + "]},":
            return True
        at = text.find("!", at + 1)
    return False


def _compose_fast(text: str) -> Node | bool | None:
    """The root node composed by libyaml, or False: use the pure-Python composer instead.

    Every problem is left to the pure-Python composer, whose messages (and marks) the
    diagnostics are written for; the fast path only ever serves files that parse."""
    if not _HAVE_LIBYAML or _fast_declines(text):
        return False
    budget = (_FAST_MAX_NESTING - 2 - text.count("[") - text.count("{")) // 2
    if budget < 1 or re.search(rf"^[ \t?:-]{{{budget},}}", text, re.MULTILINE):
        return False
    try:
        composer = _FastComposer(text)
        root: Node | None = composer.get_single_node()
    except Exception:  # any YAML or encoding problem: the slow path words it
        return False
    return root


# The core schema's implicit tags by a plain scalar's first character ("" for an empty one).
_IMPLICIT = {first: tuple(found) for first, found in _CoreResolver.yaml_implicit_resolvers.items()}
assert None not in _IMPLICIT, "resolve() below has no resolvers for any first character"
_DEFAULT_TAGS = {ScalarNode: _STR, SequenceNode: _SEQ, MappingNode: _MAP}

if _HAVE_LIBYAML:

    class _FastComposer(_CParser, _CoreResolver):
        """libyaml's composer with the core schema. libyaml asks for a tag for each node:
        answered here as BaseResolver does without path resolvers, in fewer steps."""

        def __init__(self, text: str) -> None:
            _CParser.__init__(self, text)
            _CoreResolver.__init__(self)

        def descend_resolver(self, current_node: Any, current_index: Any) -> None:
            return None  # no path resolvers: nothing to track

        def ascend_resolver(self) -> None:
            return None

        def resolve(self, kind: type[Node], value: str | None, implicit: Any) -> str:
            if kind is ScalarNode and implicit[0]:
                assert value is not None
                for tag, pattern in _IMPLICIT.get(value[:1], ()):
                    if pattern.match(value):
                        return tag
            return _DEFAULT_TAGS[kind]


class SourceError(Exception):
    """The file could not be read as YAML; carries one diagnostic for the author."""

    def __init__(
        self, diagnostic: Diagnostic, text: str = "", region: tuple[int, int] | None = None
    ) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic
        self.text = text  # what can be shown of the file, if it was read at all
        # The 1-based first and last line of a syntax error's broken part, when known: the
        # rest of the file can still be read and checked (engine.flow.readable).
        self.region = region


# A span as four numbers: line, col, end_line, end_col.
_Place = tuple[int, int, int, int]


class SpanTable(Mapping[DataPath, Span]):
    """Where each node of a file sits, by its path. A file has thousands of nodes and lint
    asks where a few of them are: each place is kept as four numbers and made a ``Span``
    only when asked for."""

    __slots__ = ("places",)

    def __init__(self, spans: Mapping[DataPath, Span] | None = None) -> None:
        self.places: dict[DataPath, _Place] = {}
        for path, span in (spans or {}).items():
            self[path] = span

    def __getitem__(self, path: DataPath) -> Span:
        return Span(*self.places[path])

    def __setitem__(self, path: DataPath, span: Span) -> None:
        self.places[path] = (span.line, span.col, span.end_line, span.end_col)

    def __contains__(self, path: object) -> bool:
        return path in self.places

    def __iter__(self) -> Iterator[DataPath]:
        return iter(self.places)

    def __len__(self) -> int:
        return len(self.places)

    def __repr__(self) -> str:
        return f"SpanTable({dict(self)!r})"


@dataclass
class SourceDocument:
    """A parsed file: its data, its text, and where each node sits in the text."""

    file: str
    text: str
    data: Any
    values: SpanTable = field(default_factory=SpanTable)
    keys: SpanTable = field(default_factory=SpanTable)
    # Block scalars (``|`` / ``>``) start on the line after their indicator; templates need
    # that to put a Jinja error on the right line.
    styles: dict[DataPath, str | None] = field(default_factory=dict)
    # The text as written, for plain scalars that YAML read as a number or boolean, so a
    # message can say `write "+18005551212" in quotes` instead of quoting a Python int.
    raw: dict[DataPath, str] = field(default_factory=dict)

    def span(self, path: DataPath, *, key: bool = False) -> Span:
        """The span of the node at ``path``, or of its nearest ancestor that exists."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if key and probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), Span(1, 1, 1, 2))

    @functools.cached_property
    def lines(self) -> list[str]:
        """The text's lines (``str.splitlines``), split once for all who need them."""
        return self.text.splitlines()


def _span(node: Node) -> Span:
    return Span(*_where(node))


def _where(node: Node) -> _Place:
    start, end = node.start_mark, node.end_mark
    if end.line > start.line and end.column == 0:
        # A block value's end mark sits at the start of the next line; keep it on its own.
        return (start.line + 1, start.column + 1, end.line, 10_000)
    return (start.line + 1, start.column + 1, end.line + 1, end.column + 1)


def _scalar(node: ScalarNode) -> Any:
    text = node.value
    if node.tag == _STR:
        return text
    if node.tag == _NULL:
        return None
    if node.tag == _BOOL:
        return text.lower() == "true"
    if node.tag == _INT:
        if text.startswith("0o"):
            return int(text[2:], 8)
        if text.startswith("0x"):
            return int(text[2:], 16)
        return int(text, 10)
    if node.tag == _FLOAT:
        lowered = text.lower()
        if lowered.endswith(".inf"):
            return float("-inf") if lowered.startswith("-") else float("inf")
        if lowered == ".nan":
            return float("nan")
        return float(text)
    raise AssertionError(node.tag)  # tags were checked before


class _Builder:
    def __init__(self, doc: SourceDocument) -> None:
        self.doc = doc
        self.count = 0
        # The tables filled for every node, looked up once (a file has thousands of nodes).
        self._values = doc.values.places
        self._keys = doc.keys.places
        self._styles = doc.styles

    def error(self, node: Node, rule: str, message: str, hint: str | None = None) -> SourceError:
        return SourceError(Diagnostic.at(self.doc.file, _span(node), rule, message, hint=hint))

    def _check_item_text(self, item: ScalarNode) -> None:
        """A list item whose plain text runs on to a line that starts with `- `: that line was
        meant as the next item, indented too far (``book_appointment - to_reception``)."""
        if item.end_mark.line == item.start_mark.line:
            return
        lines = self.doc.lines
        first = item.start_mark.line
        if not lines[first][: item.start_mark.column].rstrip().endswith("-"):
            return  # an item of a `[...]` list: no `- ` to line up with
        for index in range(first + 1, min(item.end_mark.line + 1, len(lines))):
            line = lines[index]
            stripped = line.lstrip(" ")
            if stripped == "-" or stripped.startswith("- "):
                col = len(line) - len(stripped)
                above = lines[first]
                dash = above.rfind("- ", 0, item.start_mark.column + 1)
                raise SourceError(
                    Diagnostic.at(
                        self.doc.file,
                        Span(index + 1, col + 1, index + 1, col + 2),
                        "yaml-syntax",
                        f"this `- ` item is indented more than the `- ` item on line "
                        f"{first + 1}, so YAML reads it as more of that item's text: "
                        f'"{_shorten(item.value)}"',
                        hint=f"line it up with the `- ` on line {first + 1} "
                        f"({max(dash, 0)} spaces)",
                    ),
                    region=(index + 1, index + 1),
                )

    def _refused(self, node: Node, depth: int) -> SourceError:
        """Why a node is refused: too many values, too deep, or a tag not allowed."""
        if self.count > MAX_NODES:
            return self.error(
                node,
                "yaml-too-large",
                f"this file expands to more than {MAX_NODES:,} values, usually because of "
                "aliases (*name) that repeat each other; it is refused",
                "write the values out, or use fewer nested aliases",
            )
        if depth > MAX_DEPTH:
            return self.error(
                node,
                "yaml-too-deep",
                f"values are nested more than {MAX_DEPTH} levels deep (or an alias refers to "
                "itself); the file is refused",
            )
        return self.error(
            node,
            "yaml-tag",
            f"the tag `{node.tag.replace('tag:yaml.org,2002:', '!!')}` is not allowed in a "
            "flow file",
            "remove the `!…` tag: flow files hold plain text, numbers, lists and mappings",
        )

    def build(self, node: Node, path: DataPath, depth: int) -> Any:
        self.count += 1
        tag = node.tag
        if self.count > MAX_NODES or depth > MAX_DEPTH or tag not in _ALLOWED_TAGS:
            raise self._refused(node, depth)
        self._values[path] = _where(node)  # paths are unique: keys are, indices are
        if isinstance(node, ScalarNode):
            style = node.style or None  # libyaml writes a plain scalar's style as ""
            if style is None and path and type(path[-1]) is int:
                self._check_item_text(node)  # a list item's text
            self._styles[path] = style
            if tag == _STR:
                return node.value
            value = _scalar(node)
            if style is None and value is not None:
                self.doc.raw[path] = node.value
            return value
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        assert isinstance(node, MappingNode)
        result: dict[str, Any] = {}
        first_seen: dict[str, Node] = {}
        keys = self._keys
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise self.error(
                    key_node,
                    "yaml-syntax",
                    "a key must be a plain word or text, not a list or mapping",
                )
            # Keys are always text: `1: to_billing` means the key "1", as a flow author reads it.
            key = key_node.value
            if key in first_seen:
                first_line = first_seen[key].start_mark.line + 1
                raise self.error(
                    key_node,
                    "yaml-duplicate-key",
                    f'the key "{key}" appears twice in the same mapping '
                    f"(first on line {first_line}); only one can count",
                    "remove one of them or merge their contents",
                )
            first_seen[key] = key_node
            child = (*path, key)
            keys[child] = _where(key_node)
            result[key] = self.build(value_node, child, depth + 1)
        return result


def load_source(file: str, text: str) -> SourceDocument:
    """Parse one YAML document. Raises ``SourceError`` with a diagnostic on any problem."""
    doc = SourceDocument(file=file, text=text, data=None)
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "replace")) > MAX_FILE_BYTES:
        raise too_large(file)
    root = _compose_fast(text)
    if root is False:
        root = _compose(file, text)
    if root is None:
        doc.data = None
        return doc
    assert isinstance(root, Node)
    doc.data = _Builder(doc).build(root, (), 0)
    return doc


def _compose(file: str, text: str) -> Node | None:
    """The pure-Python composer: slower, and the one whose errors the diagnostics word."""
    composer: _Composer | None = None
    try:
        composer = _Composer(text)
        return composer.get_single_node()
    except yaml.reader.ReaderError as exc:
        # Raised before any parsing: a control character (NUL, BEL, ...) or a lone surrogate.
        line, col = _place(text, exc.position)
        raise SourceError(
            Diagnostic.at(
                file,
                Span(line, col, line, col + 1),
                "yaml-syntax",
                f"the file contains an invisible control character (U+{exc.character:04X}) "
                "that YAML does not allow",
                hint="delete it: retype this line, or save the file again as plain UTF-8 text",
            )
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = (exc.problem or exc.context or "this is not valid YAML").strip()
        region = None  # the lines YAML could not read, when the mistake is understood
        span = Span(line, col, line, col + 1)
        hint = _syntax_hint(problem)
        context = exc.context or ""
        if "expected a single document" in context:
            message = "a flow file holds one document; remove the `---` and what follows it"
        elif context.startswith("found duplicate anchor") and exc.context_mark:
            anchor = context.split(";", 1)[0].removeprefix("found duplicate anchor ")
            message = (
                f"the anchor &{anchor.strip(chr(39))} is defined twice "
                f"(first on line {exc.context_mark.line + 1}); anchor names must differ"
            )
        elif "found undefined alias" in problem:
            alias = problem.removeprefix("found undefined alias").strip().strip("'")
            message = f"the alias `*{alias}` refers to no anchor `&{alias}` above it"
        elif hint is not None:
            message = (
                "a tab character: YAML allows only spaces to indent lines and to separate a "
                "key from its value"
            )
        else:
            scalars = composer.scalars_read() if composer is not None else []
            explained = explain(text, exc, scalars)
            span, message, hint, region = (
                explained.span,
                explained.message,
                explained.hint,
                explained.region,
            )
        raise SourceError(
            Diagnostic.at(file, span, "yaml-syntax", message, hint=hint), region=region
        ) from None
    except yaml.YAMLError as exc:
        raise SourceError(
            Diagnostic.at(file, Span(1, 1, 1, 2), "yaml-syntax", f"YAML syntax error: {exc}")
        ) from None
    except RecursionError:
        raise SourceError(
            Diagnostic.at(
                file,
                Span(1, 1, 1, 2),
                "yaml-too-deep",
                "values are nested too deeply; the file is refused",
            )
        ) from None
    finally:
        if composer is not None:
            composer.dispose()


def _shorten(text: str, most: int = 60) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def _place(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of ``text[index]``, counting lines as the printed source does."""
    lines = (text[:index] + "x").splitlines()
    return len(lines), len(lines[-1])


def too_large(file: str) -> SourceError:
    """The error for a file over ``MAX_FILE_BYTES`` (raised before any of it is parsed)."""
    return SourceError(
        Diagnostic.at(
            file,
            Span(1, 1, 1, 2),
            "yaml-too-large",
            f"this file is larger than {MAX_FILE_BYTES:,} bytes, the limit for a flow file",
            hint="split it into several flow files",
        )
    )


def _syntax_hint(problem: str) -> str | None:
    """The hint for the few errors whose PyYAML wording is already plain; None: explain it."""
    if "found character '\\t'" in problem or "tab" in problem:
        return "YAML indents with spaces, never tabs"
    if "found undefined alias" in problem:
        return "an alias `*name` must refer to an anchor `&name` defined above it"
    return None
