"""Structural validation: pydantic errors turned into diagnostics a flow author can act on.

Pydantic reports ``loc=('tools', 'lookup', 'http', 'timeout'), type='greater_than'``. We put
that at the line and column of the value (or of its key when the value is missing), quote what
the author wrote, say what is expected and list the choices.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ValidationError

from .diagnostics import Diagnostic
from .model import Flow
from .source import DataPath, SourceDocument

__all__ = ["CloseNames", "did_you_mean", "kind_of", "validate_document"]

_KIND = {
    "string": "text",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "dict": "a mapping (indented `key: value` lines)",
    "model": "a mapping (indented `key: value` lines)",
    "list": "a list (`- item` lines, or `[a, b]`)",
}


# What people write for the keys with symbols (`finish_key: star`).
_KEY_WORDS = {"star": "*", "asterisk": "*", "hash": "#", "pound": "#", "hash key": "#"}


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str | None:
    """The closest choice to a misspelt word, if one is close enough to be the likely intent."""
    pool = list(choices)
    found = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if not found:
        lowered = {c.lower(): c for c in pool}
        if word.lower() in lowered:
            return lowered[word.lower()]
    return found[0] if found else None


class CloseNames:
    """`did_you_mean` over one pool of names, asked many times (1,000 flows beside each other).

    Comparing a word with every name is quadratic over a folder: 1,000 flows that each name a
    missing hand-off made a million comparisons. A small pool is compared in full, as
    ``did_you_mean`` does; a large one through an index of each name with one or two
    characters deleted (as SymSpell does), so that only names within two edits of the word,
    the likely typos, are compared, and through an index of names' halves and more, so that a
    name with a word added or left out (`support-night` for `support`) is still found. Answers
    are remembered per word.
    """

    FULL_SCAN = 64  # up to this many names, compare with each one

    def __init__(self, names: typing.Iterable[str]) -> None:
        self.names = sorted(set(names))
        self.known = frozenset(self.names)
        self._guesses: dict[tuple[str, str | None], str | None] = {}
        self._large = len(self.names) > self.FULL_SCAN
        self._index: dict[str, set[str]] | None = None  # built when first needed
        self._shortest = min((len(name) for name in self.names), default=0)
        self._longest = max((len(name) for name in self.names), default=0)
        self._lowered: dict[str, set[str]] = {}
        self._parts: dict[str, set[str]] = {}
        if self._large:
            for name in self.names:
                lowered = name.lower()
                self._lowered.setdefault(lowered, set()).add(name)
                for part in _halves(lowered):
                    self._parts.setdefault(part, set()).add(name)

    def _edits(self) -> dict[str, set[str]]:
        if self._index is None:
            self._index = {}
            for name in self.names:
                for variant in _deletions(name.lower()):
                    self._index.setdefault(variant, set()).add(name)
        return self._index

    def guess(self, word: str, *, besides: str | None = None) -> str | None:
        """The name ``word`` most likely means, never ``besides`` (the asker's own name)."""
        key = (word, besides)
        if key not in self._guesses:
            if not self._large:
                pool = self.names
            else:
                lowered = word.lower()
                near: set[str] = set()
                if self._shortest - 2 <= len(lowered) <= self._longest + 2:  # else none is near
                    edits = self._edits()
                    for variant in _deletions(lowered):
                        near |= edits.get(variant, set())
                near |= self._parts.get(lowered, set())  # a word left out of the name
                for part in _halves(lowered):  # a word added to the name
                    near |= self._lowered.get(part, set())
                pool = sorted(near)
            choices = [name for name in pool if name != besides]
            self._guesses[key] = did_you_mean(word, choices) if choices else None
        return self._guesses[key]


def _halves(word: str) -> Iterator[str]:
    """The word's beginnings and ends that hold at least half of it."""
    for size in range((len(word) + 1) // 2, len(word)):
        yield word[:size]
        yield word[-size:]


def _deletions(word: str, depth: int = 2) -> set[str]:
    """The word, and the word with up to ``depth`` characters deleted."""
    found = {word}
    frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        found |= frontier
    return found


def describe(value: Any, raw: str | None = None) -> str:
    """How to quote a value back to its author."""
    if raw is not None:
        return raw
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'"{shown}"'
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)


def kind_of(value: Any) -> str:
    """A value's kind in a flow author's words: text, a number, a list…"""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "empty"


def _unwrap(annotation: Any) -> Any:
    """The model class inside ``X | None``, ``dict[str, X]``, ``list[X]``, or None."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _unwrap(arg)
            if found is not None:
                return found
    return None


def _container(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _container(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                return _container(arg)
    return origin


def model_at(path: DataPath) -> type[BaseModel] | None:
    """The model class that describes the mapping at ``path`` of a flow, if any."""
    current: type[BaseModel] | None = Flow
    annotation: Any = None
    for segment in path:
        if annotation is not None:
            # We are inside a dict or list of models: this segment is the key or index.
            current, annotation = _unwrap(annotation), None
            continue
        if current is None or not isinstance(segment, str):
            return None
        field = current.model_fields.get(segment)
        if field is None:
            return None
        if _container(field.annotation) in (dict, list):
            annotation = typing.get_args(_strip(field.annotation))[-1]
            current = None
        else:
            current = _unwrap(field.annotation)
    return current if annotation is None else None


def _strip(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _strip(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _strip(args[0])
    return annotation


def _label(path: DataPath) -> str:
    text = ""
    for segment in path:
        text += f"[{segment}]" if isinstance(segment, int) else (f".{segment}" if text else segment)
    return text or "the file"


def _known_path(doc: SourceDocument, loc: tuple[Any, ...]) -> DataPath:
    """Drop the segments pydantic adds for union members, e.g. ('vars', 'x', 'str')."""
    path: list[str | int] = []
    for segment in loc:
        candidate = (*path, segment)
        if candidate in doc.values or candidate in doc.keys:
            path.append(segment)
        elif not path or isinstance(segment, int):
            # A missing key is not in the document yet: keep it, it is the last segment.
            path.append(segment)
            break
        else:
            model = model_at(tuple(path))
            if model is None:
                continue  # a union member's tag ("str", "list[str]"): not in the file
            if segment == model.__name__:
                continue  # the tag of a model that is one member of a union
            if segment in model.model_fields:
                path.append(segment)
            break
    return tuple(path)


def _words_at(path: DataPath) -> list[str]:
    """The words a section may be instead (`silence: off`): the Literal members of a union
    with a model, at ``path``."""
    owner = model_at(path[:-1]) if path else None
    field = owner.model_fields.get(str(path[-1])) if owner is not None else None
    if field is None or typing.get_origin(field.annotation) not in (typing.Union, types.UnionType):
        return []
    return [
        str(word)
        for arg in typing.get_args(field.annotation)
        if typing.get_origin(arg) is typing.Literal
        for word in typing.get_args(arg)
    ]


def _message(doc: SourceDocument, path: DataPath, error: Any) -> tuple[str, str | None, bool]:
    """(message, hint, point at the key instead of the value)."""
    kind: str = error["type"]
    name = path[-1] if path else ""
    label = _label(path)
    value = error.get("input")
    raw = doc.raw.get(path)
    ctx = error.get("ctx") or {}

    if kind == "missing":
        parent = path[:-1]
        owner = f"`{_label(parent)}`" if parent else "the flow"
        return f"{owner} needs a `{name}`", _missing_hint(path), True

    if kind == "extra_forbidden":
        model = model_at(path[:-1])
        allowed = sorted(model.model_fields) if model else []
        if name == "<<":
            return "merge keys (`<<: *anchor`) are not supported in flow files", None, True
        guess = did_you_mean(str(name), allowed)
        hint = f'did you mean "{guess}"?' if guess else None
        keys = ", ".join(allowed)
        where = f" in `{_label(path[:-1])}`" if path[:-1] else ""
        return f'unknown key "{name}"{where}; the keys allowed here are: {keys}', hint, True

    if kind == "literal_error":
        expected = ctx.get("expected", "")
        choices = [c.strip().strip("'") for c in expected.replace(" or ", ", ").split(",")]
        guess = did_you_mean(str(value), choices) if isinstance(value, str) else None
        if isinstance(value, str) and value.strip().lower() in _KEY_WORDS:
            guess = _KEY_WORDS[value.strip().lower()]
        hint = f'did you mean "{guess}"?' if guess else None
        if not all(choice.isalnum() for choice in choices):
            # `#` unquoted starts a YAML comment and `*` an alias: show the quotes to write.
            choices = [f'"{choice}"' for choice in choices]
        return (
            f"`{label}` cannot be {describe(value, raw)}; choose one of: {', '.join(choices)}",
            hint,
            False,
        )

    for suffix, expected_kind in (
        ("string_type", "string"),
        ("int_type", "int"),
        ("int_from_float", "int"),
        ("float_type", "float"),
        ("bool_type", "bool"),
        ("dict_type", "dict"),
        ("model_type", "model"),
        ("model_attributes_type", "model"),
        ("list_type", "list"),
    ):
        if kind == suffix:
            wanted = _KIND[expected_kind]
            message = f"`{label}` must be {wanted}, but it is {kind_of(value)}"
            if value is not None and not isinstance(value, dict | list):
                message = (
                    f"`{label}` must be {wanted}, but {describe(value, raw)} is {kind_of(value)}"
                )
            if path[:1] == ("vars",) and len(path) == 2:
                wanted = "text, a number or true/false"
                message = f"`{label}` must be {wanted}, but it is {kind_of(value)}"
            hint = None
            if expected_kind == "string" and raw is not None:
                hint = f'write it in quotes: "{raw}"'
                if raw.startswith("+") or path[:1] == ("numbers",):
                    hint = f'phone numbers must be written in quotes: "{raw}"'
            elif expected_kind == "model" and (words := _words_at(path)):
                shown = " or ".join(f"`{word}`" for word in words)
                what = "it" if isinstance(value, dict | list) else describe(value, raw)
                message = f"`{label}` must be {wanted} or {shown}, but {what} is {kind_of(value)}"
                guess = did_you_mean(value, words) if isinstance(value, str) else None
                hint = f'did you mean "{guess}"?' if guess else f"to switch it off, write {shown}"
            elif expected_kind == "model" and isinstance(value, str):
                hint = "write the keys of this section on the lines below, indented"
            elif expected_kind == "list" and isinstance(value, str):
                hint = f"write a list: [{value}]"
            elif expected_kind == "list" and raw is not None and raw.startswith("+"):
                hint = f'write a list, with phone numbers in quotes: ["{raw}"]'
            elif name == "keypad" and value is None and _hash_key_below(doc, path):
                hint = (
                    'write the key in quotes, "#": TOOL; in YAML a # that is not in quotes '
                    "starts a comment"
                )
            elif expected_kind == "bool" and isinstance(value, str):
                word = "true" if value.lower() in ("yes", "y", "on") else "false"
                if value.lower() in ("yes", "y", "on", "no", "n", "off"):
                    hint = f'write {word}: in flow files "{value}" is text, not true or false'
                else:
                    hint = "write true or false"
            return message, hint, value is None

    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        limit = next(iter(ctx.values()), "")
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        bound = {
            "greater_than": "more than",
            "greater_than_equal": "at least",
            "less_than": "less than",
            "less_than_equal": "at most",
        }[kind]
        bound = f"{bound} {limit}"
        hint = None
        if name == "reject":
            hint = (
                "`reject` is a SIP error status from 400 to 699, e.g. 480 (unavailable), "
                "486 (busy) or 603 (decline)"
            )
        return f"`{label}` must be {bound}, but it is {describe(value, raw)}", hint, False

    if kind == "too_short":
        return f"`{label}` must not be empty", _missing_hint(path), False

    if kind == "string_pattern_mismatch" and path[:2] == ("trunk", "allow"):
        return (
            f'`{label}` cannot be {describe(value, raw)}: write a number prefix, "+" and '
            'digits such as "+1800", or a host name such as "pbx.example.com"',
            None,
            False,
        )
    if kind == "value_error":
        return f"`{label}`: {error['msg'].removeprefix('Value error, ')}", None, False

    if kind == "string_pattern_mismatch":
        return (
            f"`{label}` cannot be {describe(value, raw)}: use letters, digits and `_` only, "
            "starting with a letter",
            None,
            False,
        )

    if kind == "union_type" or kind.endswith("_type"):
        return f"`{label}` cannot be {describe(value, raw)} ({kind_of(value)})", None, False

    return f"`{label}`: {error['msg']}", None, False


def _hash_key_below(doc: SourceDocument, path: DataPath) -> bool:
    """Whether the line after the key at ``path`` is a `#: …` that YAML read as a comment."""
    span = doc.keys.get(path)
    lines = doc.lines
    if span is None or span.line >= len(lines):
        return False
    return lines[span.line].lstrip().startswith(("#:", "# :"))


def _missing_hint(path: DataPath) -> str | None:
    examples = {
        "name": "name: Acme support line",
        "numbers": 'numbers: ["+18005551212"]',
        "instructions": "instructions: You are the receptionist of ...",
        "description": "description: Say what the tool does and when to use it",
        "url": 'url: "https://api.example.com/..."',
    }
    example = examples.get(str(path[-1])) if path else None
    return f"for example: {example}" if example else None


_MISMATCH = frozenset(
    {
        "string_type",
        "int_type",
        "int_from_float",
        "float_type",
        "bool_type",
        "dict_type",
        "model_type",
        "model_attributes_type",
        "list_type",
    }
)


def _telling_errors(doc: SourceDocument, errors: list[Any]) -> list[tuple[Any, DataPath]]:
    """The errors worth showing, each with its place in the file.

    A value that may be one of two kinds (`transfer: text or a list`) is checked against
    both; when it is of one kind and wrong inside (`transfer: []`, a number in the list),
    the other kind's "must be text" is beside the point, so it is left out.
    """
    # A word a section may be instead (`silence: off`) reports its own error beside the
    # section's; the section's message names the word, so the word's is left out.
    errors = [
        error
        for error in errors
        if not (error["type"] == "literal_error" and str(error["loc"][-1]).startswith("literal["))
    ]
    placed = [(error, _known_path(doc, tuple(error["loc"]))) for error in errors]
    kept = []
    for error, path in placed:
        loc = tuple(error["loc"])
        if error["type"] in _MISMATCH and any(
            other is not error
            and tuple(other["loc"])[: len(path)] == loc[: len(path)]
            and tuple(other["loc"]) != loc
            and other_path[: len(path)] == path
            and (len(other_path) > len(path) or other["type"] not in _MISMATCH)
            for other, other_path in placed
        ):
            continue
        kept.append((error, path))
    return kept


def validate_document(doc: SourceDocument) -> tuple[Flow | None, list[Diagnostic]]:
    """Check a parsed document against the flow model."""
    if not isinstance(doc.data, dict):
        what = "empty" if doc.data is None else kind_of(doc.data)
        fix = "start from an example in flows/: a flow file begins with `name:`"
        if isinstance(doc.data, list) and doc.data and isinstance(doc.data[0], dict):
            fix = (
                "one file holds one flow: remove the `- ` in front of the first key, and "
                "the two spaces in front of each line below it"
            )
        return None, [
            Diagnostic.at(
                doc.file,
                doc.span(()),
                "not-a-flow",
                f"a flow file must be a mapping of keys such as `name:` and `numbers:`, "
                f"but this file is {what}",
                hint=fix,
            )
        ]
    try:
        return Flow.model_validate(doc.data), []
    except ValidationError as exc:
        diagnostics: list[Diagnostic] = []
        seen: set[DataPath] = set()
        for error, path in _telling_errors(doc, exc.errors(include_url=False)):
            if path in seen:
                continue  # one message per place: a union reports each of its members
            seen.add(path)
            message, hint, at_key = _message(doc, path, error)
            span = doc.span(path[:-1] if error["type"] == "missing" else path, key=at_key)
            diagnostics.append(Diagnostic.at(doc.file, span, "schema", message, hint=hint))
        return None, diagnostics
