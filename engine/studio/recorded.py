"""What the calls pages share: the records store (or why there is none), and the link from a
call to the flow version it ran."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from .context import Studio
from .render import render, root_of

if TYPE_CHECKING:
    from ..records.record import CallRecord
    from ..records.store import CallStore

__all__ = ["RECORDS_OFF", "database_down", "store_of", "version_link"]

log = logging.getLogger("engine.studio")

RECORDS_OFF = (
    "This engine keeps no call records, so there are no calls to show. Records are kept "
    "in ENGINE_DATABASE_URL's database (./engine-records.db by default); see docs/records.md."
)


def store_of(studio: Studio) -> CallStore | None:
    return studio.engine.records.store


def database_down(request: Request, exc: BaseException, title: str) -> Response:
    """The page when the records database does not answer: 503, why in a line (no URL)."""
    from ..records.database import describe_error

    log.warning("studio %s: the records database did not answer (%s)", title, describe_error(exc))
    return render(
        request,
        "records_down.html",
        503,
        title=title,
        why="The records database is not answering just now; try again in a moment.",
    )


def version_link(request: Request, studio: Studio, record: CallRecord) -> str | None:
    """The studio's page of the flow version the call ran, or None when it ran none."""
    if not record.flow_file or not record.flow_version:
        return None
    name = studio.files.name(record.flow_file)
    return (
        f"{root_of(request)}/flows/{quote(name, safe='/')}/versions/"
        f"{quote(record.flow_version, safe='')}"
    )
