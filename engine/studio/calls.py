"""The studio's calls pages: the recent calls (``call_list.py``), one call
(``call_page.py``), the overview (``overview.py``) and the test call from a flow's page
(``test_call.py``)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from . import call_list, call_page, overview, test_call
from .context import Studio

__all__ = ["routes"]


def routes(studio: Studio) -> list[BaseRoute]:
    return [
        *call_list.routes(studio),
        *call_page.routes(studio),
        *overview.routes(studio),
        *test_call.routes(studio),
    ]
