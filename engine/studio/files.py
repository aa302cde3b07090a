"""The flow files the studio may show and change: those lint would check in the folder.

A flow is named in URLs by its path relative to the flows folder (``support.yaml``,
``team/after-hours.yaml``). Anything else (``..``, an absolute path, a file that is not a
flow, a link out of the folder) is not found.
"""

from __future__ import annotations

from pathlib import Path

from ..flow.lint import collect_files, is_flow_file
from ..records.naming import flow_file_name

__all__ = ["FlowFiles"]


class FlowFiles:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def all(self) -> list[Path]:
        """Every flow file in the folder, in lint's order."""
        files, _ = collect_files([str(self.folder)])
        return files

    def name(self, path: str | Path) -> str:
        """How ``path`` (absolute or relative to the working directory) is named in URLs."""
        return flow_file_name(self.folder, path)

    def find(self, name: str) -> Path | None:
        """The flow file named ``name``, or None. Only existing flow files inside the folder."""
        if not name or name.startswith(("/", "\\")) or "\\" in name or "\x00" in name:
            return None
        parts = name.split("/")
        if any(p in ("", ".", "..") for p in parts):
            return None
        root = self.folder.resolve()
        path = root.joinpath(*parts)
        try:
            resolved = path.resolve(strict=True)
            resolved.relative_to(root)
        except (OSError, ValueError):
            return None
        return path if is_flow_file(resolved) else None
