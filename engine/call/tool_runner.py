"""What running a tool's ``http`` step gives back, and what a runner of it must offer.

``CallDriver`` runs the machine's ``RunHttpTool`` actions through a ``ToolRunner`` and hands
the ``ToolResult`` back to the machine as a ``ToolFinished`` event. ``HttpToolRunner``
(``engine.call.tools``) is the engine's runner; ``engine test`` runs the same one over a
transport with no network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ..flow.model import HttpRequest

__all__ = ["ToolResult", "ToolRunner"]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The outcome of one tool run."""

    output: str  # the string sent to the model as the function_call_output (JSON text)
    ok: bool
    status: int | None  # HTTP status when one was received
    saved: Any  # parsed JSON (or text) for `save_as`, None when not ok
    error: str | None  # short code for logs; never holds secrets or header values
    elapsed_ms: float


class ToolRunner(Protocol):
    async def run(
        self, tool_name: str, request: HttpRequest, context: Mapping[str, Any]
    ) -> ToolResult:
        """Render ``request`` with the call's template ``context``, send it, and say what
        the model is told. Never raises for a failure of the outside service."""
        ...
