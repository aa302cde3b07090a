"""A flow's versions: the list (who saved each, when, how), one version's text, and the diff
of any two (``current`` is the file on disk now).

The text of a version comes from ``flow_versions``, else from the versions the engine
loaded that still wait to be written there, else from the file on disk when it is that
version: a call's ``flow_version`` always resolves while the records keep it. Without a
records database only the version on disk is known, and the pages say so.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..records.database import describe_error
from ..records.versions import FILE_ON_DISK, FlowVersion
from .context import Studio
from .diffs import unified
from .flow_check import version_of
from .flow_status import registry_file
from .render import render
from .saves import Saver
from .writing import read_current

__all__ = ["VersionPages", "not_found"]

log = logging.getLogger("engine.studio")

VERSION = re.compile(r"[0-9a-f]{12}")
CURRENT = "current"


def not_found(request: Request, why: str) -> Response:
    return render(request, "refused.html", 404, why=why)


@dataclass
class OnDisk:
    text: str
    version: str
    changed_at: datetime


@dataclass
class Row:
    """One line of the versions table."""

    version: FlowVersion
    on_disk: bool
    live: bool
    previous: str | None  # the version before it, for "what changed"


class VersionPages:
    def __init__(self, studio: Studio, saver: Saver) -> None:
        self.studio = studio
        self.saver = saver

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/flows/{file:path}/versions", self.list_page, methods=["GET"]),
            Route("/flows/{file:path}/versions/{version}", self.version_page, methods=["GET"]),
            Route("/flows/{file:path}/diff", self.diff_page, methods=["GET"]),
        ]

    # -- where texts come from ------------------------------------------------------------
    @property
    def kept(self) -> bool:
        return self.studio.engine.records.versions is not None

    async def on_disk(self, path: Path | None) -> OnDisk | None:
        if path is None:
            return None

        def read() -> OnDisk:
            text = read_current(path)
            version = version_of(text)
            changed = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            return OnDisk(text, version, changed)

        try:
            return await self.saver.in_thread(read)
        except OSError:
            return None

    async def history(self, name: str) -> tuple[list[FlowVersion], str | None]:
        """The file's kept versions, newest first, and why none could be read (if so)."""
        versions = self.studio.engine.records.versions
        if versions is None:
            return [], None
        try:
            return await versions.history(name), None
        except Exception as exc:
            why = describe_error(exc)
            log.warning("studio: versions of %s not read (%s)", name, why)
            return [], f"The records database did not answer ({why})."

    async def kept_version(self, name: str, version: str) -> FlowVersion | None:
        records = self.studio.engine.records
        if records.versions is not None:
            try:
                found = await records.versions.get(name, version)
            except Exception as exc:
                log.warning("studio: version %s not read (%s)", version, describe_error(exc))
                found = None
            if found is not None:
                return found
        if records.loaded_versions is not None:
            text = records.loaded_versions.waiting_text(name, version)
            if text is not None:
                now = datetime.now(UTC)
                return FlowVersion(name, version, FILE_ON_DISK, now, "loaded", text=text)
        return None

    async def text_of(self, name: str, path: Path | None, version: str) -> str | None:
        if version == CURRENT:
            disk = await self.on_disk(path)
            return disk.text if disk else None
        if not VERSION.fullmatch(version):
            return None
        found = await self.kept_version(name, version)
        if found is not None:
            return found.text
        disk = await self.on_disk(path)
        return disk.text if disk is not None and disk.version == version else None

    def live_version(self, name: str) -> str | None:
        good = self.studio.engine.registry.snapshot.flows.get(registry_file(self.studio, name))
        return good.version if good is not None else None

    async def _path(self, name: str) -> Path | None:
        return await asyncio.to_thread(self.studio.files.find, name)

    # -- pages ----------------------------------------------------------------------------
    async def list_page(self, request: Request) -> Response:
        name = request.path_params["file"]
        path = await self._path(name)
        versions, trouble = await self.history(name)
        if path is None and not versions:
            return not_found(
                request, f"There is no flow file named {name}, and no kept versions of one."
            )
        disk = await self.on_disk(path)
        live = self.live_version(name)
        if disk is not None and disk.version not in {v.version for v in versions}:
            # Not in the table (yet, or records are off): the file on disk is a version too.
            versions.insert(
                0, FlowVersion(name, disk.version, FILE_ON_DISK, disk.changed_at, "on disk")
            )
        rows = []
        for i, v in enumerate(versions):
            previous = next((o.version for o in versions[i + 1 :] if o.version != v.version), None)
            rows.append(
                Row(v, disk is not None and v.version == disk.version, v.version == live, previous)
            )
        return render(
            request,
            "versions.html",
            file=name,
            rows=rows,
            kept=self.kept,
            trouble=trouble,
            on_disk=disk.version if disk else None,
        )

    async def version_page(self, request: Request) -> Response:
        name = request.path_params["file"]
        version = request.path_params["version"]
        if not VERSION.fullmatch(version):
            return not_found(
                request,
                f"{version} is not a version: a version is 12 letters and digits (0-9, a-f).",
            )
        path = await self._path(name)
        disk = await self.on_disk(path)
        found = await self.kept_version(name, version)
        if found is None and disk is not None and disk.version == version:
            found = FlowVersion(
                name, version, FILE_ON_DISK, disk.changed_at, "on disk", text=disk.text
            )
        if found is None or found.text is None:
            why = "" if self.kept else " Versions are not kept without a records database."
            return not_found(request, f"No version {version} of {name} is kept.{why}")
        versions, _ = await self.history(name)
        order = [v.version for v in versions]
        previous = None
        if version in order:
            previous = next((v for v in order[order.index(version) + 1 :] if v != version), None)
        elif found.based_on:
            previous = found.based_on
        return render(
            request,
            "version.html",
            file=name,
            v=found,
            lines=found.text.splitlines(),
            previous=previous,
            on_disk=disk.version if disk else None,
            exists=path is not None,
            live=self.live_version(name),
            kept=self.kept,
        )

    async def diff_page(self, request: Request) -> Response:
        name = request.path_params["file"]
        a = request.query_params.get("a", "")
        b = request.query_params.get("b", CURRENT) or CURRENT
        path = await self._path(name)
        texts = []
        for which in (a, b):
            text = await self.text_of(name, path, which)
            if text is None:
                return not_found(
                    request, f"No version {which or '(none given)'} of {name} is kept."
                )
            texts.append(text)
        label_a = "the file now" if a == CURRENT else a
        label_b = "the file now" if b == CURRENT else b
        diff = await self.saver.in_thread(unified, texts[0], texts[1], label_a, label_b)
        return render(
            request, "diff.html", file=name, a=a, b=b, label_a=label_a, label_b=label_b, diff=diff
        )
