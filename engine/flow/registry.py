"""The map from dialled number to flow, built from a folder and reloaded file by file.

A reload is lint-gated per file: a file that does not lint keeps its last good version
answering, and its diagnostics are returned. The watcher's reloads also wait until a file
is complete: a flow rewritten in place goes through states (empty, half written) that may
well be valid YAML and lint clean, so a changed file is taken only when two looks in a row
find it the same (size, modification time and content). Every reload produces a new immutable
``Snapshot``; a call keeps the ``FlowSnapshot`` it started with however often the folder
changes after.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from .diagnostics import Diagnostic
from .lint import FileResult, collect_files, lint_text, read_file
from .model import Flow
from .numbers import normalize_number
from .source import SourceError

__all__ = ["FlowSnapshot", "Registry", "ReloadReport", "Snapshot", "claimed_elsewhere"]


def _same_file(before: os.stat_result, after: os.stat_result) -> bool:
    """Nothing wrote to the file while it was read."""
    return (before.st_size, before.st_mtime_ns, before.st_ino) == (
        after.st_size,
        after.st_mtime_ns,
        after.st_ino,
    )


@dataclass(frozen=True, slots=True)
class FlowSnapshot:
    """One good version of one flow file."""

    path: str
    flow: Flow
    version: str  # the first 12 hex digits of the file's SHA-256
    loaded_at: float


@dataclass(frozen=True)
class Snapshot:
    """Every flow answering at one moment, by number. Never changes once built."""

    flows: Mapping[str, FlowSnapshot]  # by file path
    by_number: Mapping[str, FlowSnapshot]
    catch_all: FlowSnapshot | None
    default_country_code: str | None = None

    def route(self, dialled: str) -> FlowSnapshot | None:
        """The flow for a SIP `To` value (any carrier's form), or None: reject with 404."""
        number = normalize_number(dialled, self.default_country_code)
        if number is not None and number in self.by_number:
            return self.by_number[number]
        return self.catch_all

    def by_stem(self, stem: str, beside: str | None = None) -> FlowSnapshot | None:
        """The flow whose file is ``<stem>.yaml`` (or ``.yml``), for a ``flow:`` hand-off.

        With ``beside`` (the handing flow's path) only a file in the same folder counts, as
        the flow file says: "its file name in the same folder, without `.yaml`". A stem
        written with its suffix (``after-hours.yaml``) is read without it. None: no such
        flow is loaded (missing, or it does not lint).
        """
        wanted = stem.strip()
        for suffix in (".yaml", ".yml"):
            if wanted.endswith(suffix):
                wanted = wanted[: -len(suffix)]
                break
        if not wanted or "/" in wanted or "\\" in wanted:
            return None
        folder = Path(beside).parent if beside is not None else None
        found = [
            snap
            for path, snap in sorted(self.flows.items())
            if Path(path).stem == wanted and (folder is None or Path(path).parent == folder)
        ]
        return found[0] if found else None


@dataclass
class ReloadReport:
    loaded: list[str] = field(default_factory=list)  # new or changed files now live
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    rejected: dict[str, list[Diagnostic]] = field(default_factory=dict)  # kept last good
    warnings: dict[str, list[Diagnostic]] = field(default_factory=dict)
    pending: list[str] = field(default_factory=list)  # changed, maybe still being written

    @property
    def ok(self) -> bool:
        return not self.rejected


def claimed_elsewhere(result: FileResult, others: Iterable[FlowSnapshot]) -> list[Diagnostic]:
    """The numbers of ``result``'s flow that one of ``others`` (another file's good version)
    already answers: the registry refuses such a flow; the studio's editor says so as it is
    typed."""
    if result.flow is None or result.doc is None:
        return []
    others = list(others)
    found = []
    for index, number in enumerate(result.flow.numbers):
        for other in others:
            if other.path != result.file and number in other.flow.numbers:
                found.append(
                    Diagnostic.at(
                        result.file,
                        result.doc.span(("numbers", index)),
                        "duplicate-number",
                        f'"{number}" is already answered by {other.path}; a number can '
                        "belong to one flow only",
                        hint="remove it from one of the two flows",
                    )
                )
    return found


class Registry:
    """Loads a folder of flows; ``snapshot`` is what the webhook routes with."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        env: Mapping[str, str] | None = None,
        default_country_code: str | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.env = env
        self.default_country_code = default_country_code
        self._good: dict[str, FlowSnapshot] = {}
        self._hashes: dict[str, str] = {}  # last text seen per file, good or not
        self._looks: dict[str, tuple[int, int, str]] = {}  # size, mtime_ns, hash: last look
        self.problems: dict[str, list[Diagnostic]] = {}  # last reload's, per file
        self.snapshot = self._build()

    def reload(self, *, settle: bool = False) -> ReloadReport:
        """Re-read the folder. Changed files that lint replace their old version.

        ``settle`` (the watcher's reloads): a changed file is taken only when this look finds
        it as the previous look did (same size, modification time and content); until then it
        is ``pending`` and its last good version keeps answering. Without it (start-up, an
        explicit reload) every file is taken as it is now.
        """
        report = ReloadReport()
        files, _ = collect_files([self.folder])
        present = {str(p) for p in files}
        for gone in [p for p in self._good if p not in present]:
            del self._good[gone]
            report.removed.append(gone)
        # A file refused for a conflict or for its size keeps no hash, so its problems are
        # forgotten by their own key: a deleted file has no problems left to show.
        for gone in [p for p in self._hashes if p not in present]:
            del self._hashes[gone]
        for gone in [p for p in self.problems if p not in present]:
            del self.problems[gone]
        for gone in [p for p in self._looks if p not in present]:
            del self._looks[gone]
        for path in files:
            name = str(path)
            try:
                before = path.stat()
                text = read_file(path)
                after = path.stat()
            except SourceError as exc:  # too large: never read, never loaded
                self._hashes.pop(name, None)
                report.rejected[name] = self.problems[name] = [exc.diagnostic]
                continue
            except OSError:
                continue  # being written, or gone: the next reload sees it
            digest = hashlib.sha256(text.encode()).hexdigest()
            if self._hashes.get(name) == digest:
                report.unchanged.append(name)
                continue
            look = (after.st_size, after.st_mtime_ns, digest)
            settled = self._looks.get(name) == look and _same_file(before, after)
            self._looks[name] = look
            if settle and not settled:
                report.pending.append(name)  # the next look decides
                continue
            self._hashes[name] = digest
            result = lint_text(name, text, self.env)
            errors = [d for d in result.diagnostics if d.is_error]
            conflicts = self._claimed_elsewhere(result)
            if conflicts:
                # Not this text's fault alone: check it again on the next reload, when the
                # other file may have given the number up or been removed.
                del self._hashes[name]
                errors.extend(conflicts)
            if errors or result.flow is None:
                report.rejected[name] = sorted(errors, key=Diagnostic.sort_key)
                self.problems[name] = report.rejected[name]
                continue
            self.problems[name] = [d for d in result.diagnostics if not d.is_error]
            if self.problems[name]:
                report.warnings[name] = self.problems[name]
            self._good[name] = FlowSnapshot(name, result.flow, digest[:12], time.time())
            report.loaded.append(name)
        self.snapshot = self._build()
        return report

    def _claimed_elsewhere(self, result: FileResult) -> list[Diagnostic]:
        return claimed_elsewhere(result, self._good.values())

    def _build(self) -> Snapshot:
        by_number: dict[str, FlowSnapshot] = {}
        catch_all = None
        for snap in sorted(self._good.values(), key=lambda s: s.path):
            for number in snap.flow.numbers:
                if number == "*":
                    catch_all = catch_all or snap
                else:
                    by_number.setdefault(number, snap)
        return Snapshot(
            flows=MappingProxyType(dict(self._good)),
            by_number=MappingProxyType(by_number),
            catch_all=catch_all,
            default_country_code=self.default_country_code,
        )
