"""Saving a flow's text: the lint gate, the conflict check, the atomic write, the version
kept, the reload, and whether the new version answers calls.

One ``Saver`` per studio. Saves of one file are taken one at a time (a lock per file): of
two people saving from the same version, the second finds the file changed under them and
is told (a conflict), with who saved the other version and what differs; nothing is written
for them and their text is handed back. Lint, diffs and every file operation run in threads,
a few at a time, so a big file never holds up the event loop (and the calls on it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ParamSpec, TypeVar

from ..flow.diagnostics import Diagnostic
from ..records.database import describe_error
from ..records.versions import FlowVersion
from .context import Studio
from .diffs import DiffLine, unified
from .flow_check import Checker, version_of
from .flow_status import registry_file
from .work import Bounded, Busy
from .writing import normalized, read_current, write_atomically

__all__ = ["SaveOutcome", "Saver"]

log = logging.getLogger("engine.studio")
P = ParamSpec("P")
T = TypeVar("T")

CHECK_TIMEOUT_S = 20.0  # a lint that takes longer: the save is refused as busy
LIVE_WAIT_S = 1.0  # how long a save waits to see its version answering
_THREADS = 2  # lint, diff and file work at once (the machine's other cores serve calls)


@dataclass
class SaveOutcome:
    """What became of a save (or a restore)."""

    status: str  # saved | unchanged | refused (lint errors) | conflict | failed
    file: str
    text: str  # the text that was to be saved: handed back to the editor whatever happened
    base_version: str
    version: str | None = None  # the new version (saved, unchanged)
    problems: list[Diagnostic] = field(default_factory=list)  # errors first, then warnings
    live: bool = False
    not_live: str | None = None  # why the engine does not answer with it (yet)
    failure: str | None = None  # why the file could not be written
    kept: str | None = None  # a note on the version history (not kept, and why)
    theirs: FlowVersion | None = None  # a conflict: who saved the version on disk, if known
    their_version: str | None = None
    diff: list[DiffLine] = field(default_factory=list)  # a conflict: theirs → yours

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.problems if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.problems if not d.is_error]

    @property
    def http_status(self) -> int:
        """For a plain form post: what the page's status says."""
        return {"refused": 422, "conflict": 409, "failed": 500}.get(self.status, 200)


class Saver:
    def __init__(self, studio: Studio) -> None:
        self.studio = studio
        self._locks: dict[str, asyncio.Lock] = {}
        self._threads = asyncio.Semaphore(_THREADS)
        self.checker = Checker(studio.engine.environ, Bounded(_THREADS, CHECK_TIMEOUT_S))

    async def in_thread(self, work: Callable[P, T], *args: P.args, **kw: P.kwargs) -> T:
        """``work(*args)`` in a thread, a few at a time."""
        async with self._threads:
            return await asyncio.to_thread(work, *args, **kw)

    def lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def save(
        self,
        name: str,
        path: Path,
        text: str,
        base_version: str,
        user: str,
        how: str = "saved",
    ) -> SaveOutcome:
        """Save ``text`` as the flow file ``name`` (at ``path``) if it has no lint errors
        and the file is still at ``base_version``."""
        text = normalized(text)
        out = SaveOutcome("saved", name, text, base_version)
        engine = self.studio.engine
        # The check the editor shows as one types (flow_check.py): the real lint, the flows
        # beside it for hand-offs, and the numbers the other flows answer.
        try:
            check = await self.checker.check(
                registry_file(self.studio, name), text, engine.registry.snapshot
            )
        except Busy:
            return self._failed(
                out, "the check of the text did not finish in time (the server is busy)"
            )
        out.problems = sorted(check.problems, key=lambda d: (not d.is_error, d.sort_key()))
        if out.errors or check.result.flow is None:
            out.status = "refused"
            return out
        async with self.lock(name):
            try:
                current = await self.in_thread(read_current, path)
            except OSError as exc:
                return self._failed(out, f"the file cannot be read: {_reason(exc)}")
            on_disk, out.version = version_of(current), check.version
            if on_disk != base_version:
                return await self._conflict(out, current, on_disk)
            if out.version == on_disk:
                out.status = "unchanged"
                await self._wait_live(out)
                return out
            try:
                await self.in_thread(write_atomically, path, text)
            except OSError as exc:
                return self._failed(out, f"the file could not be written: {_reason(exc)}")
            loaded = engine.records.loaded_versions
            if loaded is not None:
                loaded.kept(name, out.version)  # the reload below must not file it as "loaded"
            log.info("studio: %s saved %s (version %s, %s)", user, name, out.version, how)
            engine.reload_flows()  # live at once, not at the watcher's next look
            await self._keep(out, user, how)  # before the lock goes: a conflict names who
            await self._wait_live(out)
        return out

    def _failed(self, out: SaveOutcome, why: str) -> SaveOutcome:
        out.status = "failed"
        out.version = None
        out.failure = (
            why + ". Nothing was changed: the file and the flow answering calls are as before."
        )
        return out

    async def _conflict(self, out: SaveOutcome, current: str, on_disk: str) -> SaveOutcome:
        out.status = "conflict"
        out.their_version = on_disk
        out.version = None
        versions = self.studio.engine.records.versions
        if versions is not None:
            try:
                out.theirs = await versions.get(out.file, on_disk)
            except Exception as exc:
                log.warning("studio: versions not read (%s)", describe_error(exc))
        out.diff = await self.in_thread(
            unified, current, out.text, f"theirs ({on_disk})", "yours (not saved)"
        )
        return out

    async def _keep(self, out: SaveOutcome, user: str, how: str) -> None:
        """The new version in ``flow_versions``; a failure there does not undo the save."""
        versions = self.studio.engine.records.versions
        if versions is None:
            out.kept = "Versions are not kept: this engine has no records database."
            return
        assert out.version is not None
        row = FlowVersion(
            out.file,
            out.version,
            user,
            datetime.now(UTC),
            how,
            based_on=out.base_version or None,
            text=out.text,
        )
        try:
            await versions.add(row)
        except Exception as exc:
            why = describe_error(exc)
            log.warning("studio: version %s of %s not kept (%s)", out.version, out.file, why)
            out.kept = f"The file is saved, but this version could not be kept in the records database ({why})."

    async def _wait_live(self, out: SaveOutcome) -> None:
        """Whether the registry answers with the new version, looking for up to a second."""
        registry = self.studio.engine.registry
        key = registry_file(self.studio, out.file)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LIVE_WAIT_S
        while True:
            good = registry.snapshot.flows.get(key)
            if good is not None and good.version == out.version:
                out.live = True
                return
            if loop.time() >= deadline:
                break
            await asyncio.sleep(0.05)
        problems = registry.problems.get(key, [])
        errors = [d for d in problems if d.is_error]
        if errors:
            first = errors[0]
            out.not_live = (
                f"the engine refused it: line {first.line}: {first.message}"
                + (f" ({len(errors) - 1} more)" if len(errors) > 1 else "")
                + (
                    "; the last good version keeps answering calls"
                    if good is not None
                    else "; no version of this flow answers calls"
                )
            )
        else:
            out.not_live = "the engine has not taken it yet; it will at its next look at the folder"


def _reason(exc: OSError) -> str:
    return exc.strerror or exc.__class__.__name__
