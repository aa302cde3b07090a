"""A flow's text checked by the real lint, and drawn by the real graph, for the studio.

``Checker.check`` lints a text as ``engine lint FOLDER`` would (``lint_in_folder``: the file
on its own and its hand-offs to the flows beside it) with the engine's environment, then
compares its numbers with the other flows answering now (``claimed_elsewhere``, as the
registry does before it takes a file). Lints run off the event loop (``work.Bounded``) and
are kept by the text's hash and the folder's modification time, so a page shown again, or a
text typed back to what it was, is not checked twice. ``diagram`` is ``engine graph``'s
drawing: ``build_graph`` then ``to_mermaid``.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..authoring.graph import EdgeKind, NodeKind, build_graph, to_mermaid
from ..flow.diagnostics import Diagnostic
from ..flow.lint import FileResult, lint_in_folder
from ..flow.model import Flow
from ..flow.registry import Snapshot, claimed_elsewhere
from .work import Bounded

__all__ = ["Check", "Checker", "Diagram", "diagram", "version_of"]

KEPT = 256  # checks kept (a few per flow: on disk, as typed)


def version_of(text: str) -> str:
    """A text's version as the registry names it: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Check:
    version: str
    result: FileResult
    problems: tuple[Diagnostic, ...]

    @property
    def errors(self) -> int:
        return sum(d.is_error for d in self.problems)

    @property
    def warnings(self) -> int:
        return len(self.problems) - self.errors

    @property
    def name(self) -> str | None:
        """The flow's ``name:`` as written, even in a text with errors."""
        if self.result.flow is not None:
            return self.result.flow.name
        data = self.result.doc.data if self.result.doc is not None else None
        name = data.get("name") if isinstance(data, dict) else None
        return name.strip() or None if isinstance(name, str) else None

    @property
    def drawable(self) -> Flow | None:
        """The flow, when ``engine graph`` would draw it: the file lints without errors
        (numbers other flows answer are not its concern)."""
        return self.result.flow if self.result.ok else None


@dataclass(frozen=True)
class Step:
    """One arrow of the diagram, in words (for readers without the picture)."""

    label: str
    target: str
    kind: str


@dataclass(frozen=True)
class Place:
    name: str
    kind: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Diagram:
    mermaid: str
    places: tuple[Place, ...]  # what each box leads to, in the diagram's order


def diagram(flow: Flow) -> Diagram:
    """``engine graph``'s diagram of ``flow``, and the same arrows as a list."""
    graph = build_graph(flow)
    labels = {node.id: node.label for node in graph.nodes}
    places = []
    for node in graph.nodes:
        steps = tuple(
            Step(edge.label or _WORDS.get(edge.kind, ""), labels[edge.target], str(edge.kind))
            for edge in graph.edges
            if edge.source == node.id
        )
        if steps or node.kind is NodeKind.STATE:
            places.append(Place(node.label, str(node.kind), steps))
    return Diagram(to_mermaid(graph), tuple(places))


_WORDS = {EdgeKind.START: "starts", EdgeKind.GOTO: "goes", EdgeKind.HANGUP: "hangs up"}


class Checker:
    def __init__(self, env: Mapping[str, str], work: Bounded) -> None:
        self.env = env
        self.work = work
        self._kept: OrderedDict[tuple[str, str, int], FileResult] = OrderedDict()

    async def check(self, file: str, text: str, answering: Snapshot | None = None) -> Check:
        """``text`` checked as the flow file ``file`` (its path as the registry names it);
        with ``answering``, its numbers compared with the other flows answering now."""
        key = (file, hashlib.sha256(text.encode()).hexdigest(), _folder_stamp(file))
        result = self._kept.get(key)
        if result is None:
            result = await self.work.run(lint_in_folder, file, text, self.env)
            self._kept[key] = result
            while len(self._kept) > KEPT:
                self._kept.popitem(last=False)
        else:
            self._kept.move_to_end(key)
        problems = list(result.diagnostics)
        if answering is not None:
            problems += result.ignores.filter(claimed_elsewhere(result, answering.flows.values()))
        problems.sort(key=Diagnostic.sort_key)
        return Check(key[1][:12], result, tuple(problems))


def _folder_stamp(file: str) -> int:
    """When a flow file was last added to or removed from ``file``'s folder: hand-offs to
    the flows beside it are checked again then."""
    try:
        return Path(file).parent.stat().st_mtime_ns
    except OSError:
        return 0
