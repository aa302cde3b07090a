"""``/studio/calls/CALL_ID``: one call as ``engine calls show`` tells it (the same words,
from engine/records/readable.py): the facts, the timeline in order with each tool's
arguments and answer, the transfers, how it ended, the transcript, and a link to the flow
version it ran."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..records import readable
from .context import Studio
from .recorded import RECORDS_OFF, database_down, version_link
from .render import render

__all__ = ["routes"]


def routes(studio: Studio) -> list[BaseRoute]:
    async def call_page(request: Request) -> Response:
        call_id = request.path_params["call_id"]
        records = studio.engine.records
        if not records.enabled:
            return render(request, "call_missing.html", 404, call_id=call_id, why=RECORDS_OFF)
        try:
            record = await records.get(call_id)  # still waiting to be written, or stored
        except Exception as exc:
            return database_down(request, exc, "Call")
        if record is None:
            why = "No record of this call: it may be older than the records keep, or not a call."
            return render(request, "call_missing.html", 404, call_id=call_id, why=why)
        return render(
            request,
            "call.html",
            record=record,
            headline=readable.outcome_words(record),
            facts=readable.facts(record),
            timeline=readable.timeline(record),
            offset=lambda at: readable.offset(record, at).strip(),
            compact=readable.compact,
            tool_head=readable.tool_head,
            transfer_text=readable.transfer_text,
            safe=readable.safe,
            version_link=version_link(request, studio, record),
        )

    return [Route("/calls/{call_id:path}", call_page, methods=["GET"])]
