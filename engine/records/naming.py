"""How a flow file is named where people read it (the studio's URLs, ``flow_versions``): its
path relative to the flows folder. Here, apart, so the engine's records and the studio name a
file the same way without one importing the other."""

from __future__ import annotations

from pathlib import Path

__all__ = ["flow_file_name"]


def flow_file_name(folder: str | Path, path: str | Path) -> str:
    """``path`` relative to ``folder``, with ``/`` (``support.yaml``,
    ``team/after-hours.yaml``); a file outside the folder by its own name."""
    try:
        return Path(path).resolve().relative_to(Path(folder).resolve()).as_posix()
    except (OSError, ValueError):
        return Path(path).name
