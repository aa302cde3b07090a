"""What every page of the studio reads: the engine it runs in and the flow files.

The studio sees the engine through ``EngineView``, the few parts it reads, so that it does not
import the server (which mounts it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .files import FlowFiles
from .settings import StudioSettings

if TYPE_CHECKING:
    from ..flow.registry import Registry
    from ..records.service import Records
    from ..simulator import Simulator

__all__ = ["EngineView", "Studio"]


class EngineView(Protocol):
    """The engine serving the calls, as the studio reads it: its registry (what answers now
    and each file's problems), its records (the calls, and the flows' saved versions), its
    environment (what lint checks ``${VAR}`` against) and, in ``engine studio`` only, the
    simulator playing OpenAI."""

    registry: Registry
    records: Records
    environ: Mapping[str, str]
    simulator: Simulator | None

    @property
    def settings(self) -> Any: ...  # EngineSettings: .flows_dir

    def flows_status(self) -> list[dict[str, Any]]: ...  # each file: answering? problems?


@dataclass
class Studio:
    engine: EngineView
    settings: StudioSettings
    files: FlowFiles
