"""The studio: the flows and the calls in a browser, served by the engine at ``/studio``.

Off unless ``ENGINE_ADMIN_TOKEN`` or ``ENGINE_STUDIO_USERS`` is set (``settings.py``). It calls
the same registry, lint, graph, scenario and records code as the CLI: it holds no second copy
of any of them. See docs/studio.md.
"""

from __future__ import annotations

from .app import studio_app
from .settings import StudioSettings

__all__ = ["StudioSettings", "studio_app"]
