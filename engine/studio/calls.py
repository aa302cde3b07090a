"""The studio's calls pages (being built: issue #11)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from .context import Studio

__all__ = ["routes"]


def routes(studio: Studio) -> list[BaseRoute]:
    return []
