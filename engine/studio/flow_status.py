"""Whether each flow file answers calls, read from the engine's registry.

The registry's account is the engine's own (``Engine.flows_status``, also served at
``/flows``): each file's good version answering now, if any, and its problems from the last
reload. From it a file is

- ``live``: its version answers calls and it has no errors;
- ``live-old`` ("live, with problems"): the file on disk has errors, so the registry
  refused it, and an older good version of it keeps answering;
- ``refused``: it has errors and nothing of it answers;
- ``waiting``: the registry has not read it yet (new, or being written).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .context import Studio

__all__ = ["FlowStatus", "ago", "statuses"]

LABELS = {
    "live": "live",
    "live-old": "live, with problems",
    "refused": "refused",
    "waiting": "not loaded yet",
}
EXPLAINED = {
    "live": "This version answers calls.",
    "live-old": "The file on disk has errors, so the engine did not take it: its last good "
    "version keeps answering calls until the errors are fixed.",
    "refused": "The file has errors and no earlier version of it answers: calls to its "
    "numbers are rejected until the errors are fixed.",
    "waiting": "The engine has not read this file yet; it does within a second.",
}


@dataclass(frozen=True)
class FlowStatus:
    name: str  # in URLs: relative to the flows folder
    file: str  # as the registry names it
    state: str
    flow_name: str | None  # of the version answering
    numbers: tuple[str, ...]
    version: str | None  # answering
    loaded_at: str | None
    problems: tuple[dict[str, Any], ...] = field(default=())  # the last reload's
    changed: float | None = None  # the file's modification time

    @property
    def label(self) -> str:
        return LABELS[self.state]

    @property
    def explained(self) -> str:
        return EXPLAINED[self.state]

    @property
    def errors(self) -> int:
        return sum(p["severity"] == "error" for p in self.problems)

    @property
    def warnings(self) -> int:
        return len(self.problems) - self.errors

    @property
    def changed_iso(self) -> str:
        if self.changed is None:
            return ""
        return datetime.fromtimestamp(self.changed, UTC).isoformat(timespec="seconds")

    @property
    def changed_ago(self) -> str:
        return ago(self.changed) if self.changed is not None else "unknown"


def registry_file(studio: Studio, name: str) -> str:
    """How the registry names the flow file ``name``: under the flows folder as configured."""
    return str(Path(studio.engine.settings.flows_dir).joinpath(*name.split("/")))


def statuses(studio: Studio, names: list[str] | None = None) -> list[FlowStatus]:
    """Each flow file's status (those named, or every flow file in the folder), in order."""
    by_file = {entry["file"]: entry for entry in studio.engine.flows_status()}
    if names is None:
        names = [_name(studio, path) for path in studio.files.all()]
    found = []
    for name in names:
        file = registry_file(studio, name)
        entry = by_file.get(file)
        try:
            changed: float | None = Path(file).stat().st_mtime
        except OSError:
            changed = None
        if entry is None:
            found.append(FlowStatus(name, file, "waiting", None, (), None, None, (), changed))
            continue
        problems = tuple(entry["problems"])
        errors = any(p["severity"] == "error" for p in problems)
        answering = entry["version"] is not None
        state = ("live-old" if errors else "live") if answering else "refused"
        if not answering and not errors:
            state = "waiting"
        found.append(
            FlowStatus(
                name,
                file,
                state,
                entry["name"],
                tuple(entry["numbers"]),
                entry["version"],
                entry["loaded_at"],
                problems,
                changed,
            )
        )
    return found


def _name(studio: Studio, path: Path) -> str:
    # The folder's files are found under the folder as given: no need to resolve each one.
    try:
        return path.relative_to(studio.files.folder).as_posix()
    except ValueError:
        return studio.files.name(path)


def ago(when: float, now: float | None = None) -> str:
    """``when`` for a person: "just now", "5 min ago", "3 h ago", else the day and time (UTC)."""
    seconds = (time.time() if now is None else now) - when
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M UTC")
