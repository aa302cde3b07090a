"""A best-effort flow from a file with schema errors, so one lint run shows every mistake.

A misspelt key used to stop lint before any rule ran: the unknown tool, the bad opening hours
and the number without a country code two lines further down appeared only on the next run.
Here the parts pydantic refuses are taken out (an unknown key, an optional value of the wrong
kind, a list item) or, where something must be there, given a harmless placeholder (a required
value, an entry of `tools:`, `states:` or `vars:`, so that the names it defines still exist and
nothing that uses them is reported). The rules then run on what is left.

What was taken out could make a rule report a mistake the author did not make (a tool whose
`say:` was misspelt "does nothing"). So each change taints a region of the file: the mapping it
was in (the tool, the state), or, at the top level, the key itself; rule diagnostics there are
dropped, and so are those of the rules that judge the flow as a whole (a state no call reaches,
a tool nothing uses), since a dropped `goto:` or `tools:` changes their answer. The file is
still refused (its schema errors are errors): this flow is for the rules only, never loaded.
"""

from __future__ import annotations

import copy
import types
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from .diagnostics import Diagnostic
from .model import Flow
from .source import DataPath, SourceDocument
from .validate import did_you_mean, model_at

__all__ = ["WHOLE_FLOW_RULES", "Salvaged", "salvage"]

# Rules whose answer depends on every part of the flow being there.
WHOLE_FLOW_RULES = frozenset({"unreachable-state", "unused-tool"})
_ROUNDS = 8  # each round fixes what the last one's placeholders still got wrong
_PLACEHOLDER = "placeholder"
_MISSING = object()


class Salvaged(typing.NamedTuple):
    flow: Flow
    tainted: list[tuple[int, int]]  # first and last line of each region changed

    def keeps(self, diagnostic: Diagnostic) -> bool:
        """Whether a rule's diagnostic on this flow is about the file as written."""
        if diagnostic.rule in WHOLE_FLOW_RULES:
            return False
        return not any(first <= diagnostic.line <= last for first, last in self.tainted)

    def filter(self, diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
        return [d for d in diagnostics if self.keeps(d)]


def salvage(doc: SourceDocument) -> Salvaged | None:
    """The flow with its invalid parts taken out or stood in for, or None if that fails."""
    if not isinstance(doc.data, dict):
        return None
    data = copy.deepcopy(doc.data)
    tainted: list[tuple[int, int]] = []
    patched: set[DataPath] = set()
    for _ in range(_ROUNDS):
        try:
            return Salvaged(Flow.model_validate(data), tainted)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        places = {
            _place(data, tuple(error["loc"]), error["type"]): error["type"] for error in errors
        }
        if () in places:
            return None  # the flow as a whole is wrong: nothing to take out
        # Deepest and last first, so deleting a list item does not move one still to fix.
        for path in sorted(places, key=_order, reverse=True):
            if path in patched:  # its stand-in was refused too: take out what holds it
                if not _drop(data, path[:-1], patched):
                    return None
                tainted.append(_region(doc, path[:-1]))
                continue
            if places[path] == "extra_forbidden":
                # An unknown key is most often a misspelt one: read it as the key it is closest
                # to (`instruction:` as `instructions:`), so that what it says still counts.
                # The section around it is as written; a key taken out taints its own lines.
                if not _rename_or_drop(data, path):
                    tainted.append(_region(doc, path, own=True))
                patched.add(path)
                continue
            if not _fix(data, path):
                return None
            patched.add(path)
            tainted.append(_region(doc, path))
    return None


def _order(path: DataPath) -> tuple[Any, ...]:
    return tuple((0, s) if isinstance(s, int) else (1, str(s)) for s in path)


def _place(data: Any, loc: tuple[Any, ...], kind: str) -> DataPath:
    """The part of ``loc`` that is in the data (pydantic adds union members' names), plus the
    missing key for a `missing` error."""
    path: list[str | int] = []
    node = data
    for segment in loc:
        in_map = isinstance(node, dict) and segment in node
        in_list = isinstance(node, list) and isinstance(segment, int) and 0 <= segment < len(node)
        if in_map or in_list:
            node = node[segment]
        else:
            if kind == "missing" and isinstance(node, dict) and segment == loc[-1]:
                path.append(segment)
            break
        path.append(segment)
    return tuple(path)


def _get(data: Any, path: DataPath) -> Any:
    node = data
    for segment in path:
        try:
            node = node[segment]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return node


def _fix(data: Any, path: DataPath) -> bool:
    """Take out, or stand in for, the value at ``path``. False when it cannot be done."""
    if not path:
        return False
    parent = _get(data, path[:-1])
    last = path[-1]
    if isinstance(parent, list) and isinstance(last, int) and last < len(parent):
        del parent[last]
        return True
    if not isinstance(parent, dict):
        return False
    owner = model_at(path[:-1])
    if owner is not None:  # a key of a section: `tools.lookup.http`
        field = owner.model_fields.get(str(last))
        if field is None or not field.is_required():
            parent.pop(last, None)
        else:
            parent[last] = _stand_in(field.annotation, path)
        return True
    entry = _entry_annotation(path)  # an entry of a named map: `tools.lookup`, `vars.desk`
    parent[last] = _stand_in(entry, path) if entry is not None else _PLACEHOLDER
    return True


def _rename_or_drop(data: Any, path: DataPath) -> bool:
    """Move an unknown key's value to the free key it most likely means (True), or take it
    out (False)."""
    parent = _get(data, path[:-1])
    owner = model_at(path[:-1])
    if not isinstance(parent, dict):
        return False
    value = parent.pop(path[-1], None)
    if owner is None or not isinstance(path[-1], str):
        return False
    free = [name for name in owner.model_fields if name not in parent]
    meant = did_you_mean(path[-1], free)
    if meant is None:
        return False
    parent[meant] = value
    return True


def _drop(data: Any, path: DataPath, patched: set[DataPath]) -> bool:
    """A stand-in that was refused too: take out what holds it, if that may go."""
    if len(path) < 2:
        return False
    parent = _get(data, path[:-1])
    owner = model_at(path[:-1])
    if isinstance(parent, dict) and owner is not None:
        field = owner.model_fields.get(str(path[-1]))
        if field is not None and not field.is_required():
            parent.pop(path[-1], None)
            patched.add(path)
            return True
    return False


def _entry_annotation(path: DataPath) -> Any:
    """The type of one entry of the named map at ``path[:-1]`` (`tools:` holds Tools)."""
    owner = model_at(path[:-2]) if len(path) >= 2 else None
    field = owner.model_fields.get(str(path[-2])) if owner is not None else None
    if field is None:
        return None
    args = typing.get_args(_bare(field.annotation))
    return args[-1] if args else None


def _bare(annotation: Any) -> Any:
    """``X`` of ``Annotated[X, …]`` and of ``X | None``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _bare(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _bare(args[0]) if len(args) == 1 else annotation
    return annotation


def _stand_in(annotation: Any, path: DataPath) -> Any:
    """A harmless value of the given type: the least a required key can hold."""
    if path == ("numbers",):
        return ["*"]  # a flow answers at least one number
    annotation = _bare(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return typing.get_args(annotation)[0]
    if origin in (typing.Union, types.UnionType):
        return _stand_in(typing.get_args(annotation)[0], path)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {
            name: _stand_in(field.annotation, (*path, name))
            for name, field in annotation.model_fields.items()
            if field.is_required()
        }
    if origin is list or annotation is list:
        return []
    if origin is dict or annotation is dict:
        return {}
    if annotation is bool:
        return False
    if annotation in (int, float):
        return 1
    return _PLACEHOLDER


def _region(doc: SourceDocument, path: DataPath, *, own: bool = False) -> tuple[int, int]:
    """The lines a change at ``path`` may affect: its section (the tool, the state), or the
    key itself at the top level of the file (or with ``own``)."""
    owner = path
    for length in range(len(path) - 1, 0, -1):
        if own:
            break
        if model_at(path[:length]) is not None:
            owner = path[:length]
            break
    key = doc.keys.get(owner)
    if owner not in doc.values:  # a key that is missing: nothing written to taint
        return (key.line, key.end_line) if key else (0, -1)
    value = doc.values[owner]
    first = min(key.line, value.line) if key else value.line
    return first, _block_end(doc, first, max(value.end_line, first))


def _block_end(doc: SourceDocument, first: int, last: int) -> int:
    """``last``, moved down over the lines indented under line ``first`` (comments too): an
    empty `keypad:` followed by `  #: to_person` is one mistake, reported once."""
    lines = doc.lines
    if not 1 <= first <= len(lines):
        return last
    head = lines[first - 1]
    indent = len(head) - len(head.lstrip())
    while last < len(lines):
        below = lines[last]
        if below.strip() and len(below) - len(below.lstrip()) <= indent:
            break
        last += 1
    return last
