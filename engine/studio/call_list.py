"""``/studio/calls``: recent calls, newest first, a page at a time, with the filters of
``engine calls`` (flow, number, outcome, and the UTC day): the same query and store code."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..records.query import OUTCOMES, CallQuery, QueryError
from ..records.readable import duration
from .context import Studio
from .recorded import RECORDS_OFF, database_down, store_of
from .render import render, root_of

__all__ = ["routes"]

FILTERS = ("flow", "number", "outcome", "day")
PAGE = 50


def _flow_names(studio: Studio) -> list[str]:
    """The flows answering now, for the flow filter's suggestions."""
    names = {snap.flow.name for snap in studio.engine.registry.snapshot.flows.values()}
    return sorted(names, key=str.casefold)


def routes(studio: Studio) -> list[BaseRoute]:
    async def calls_page(request: Request) -> Response:
        chosen = {name: request.query_params.get(name, "").strip() for name in FILTERS}
        context: dict[str, Any] = {
            "chosen": chosen,
            "outcomes": OUTCOMES,
            "flow_names": _flow_names(studio),
            "duration": duration,
        }
        store = store_of(studio)
        if store is None:
            return render(request, "calls.html", calls=[], off=RECORDS_OFF, **context)
        try:
            query = CallQuery.parse(
                {**chosen, "before": request.query_params.get("before"), "limit": str(PAGE)}
            )
        except QueryError as exc:
            return render(request, "calls.html", 400, calls=[], error=str(exc), **context)
        try:
            page, after = await store.find(query)
        except Exception as exc:
            return database_down(request, exc, "Calls")
        kept = {k: v for k, v in chosen.items() if v}
        older = None
        if after is not None:
            older = f"{root_of(request)}/calls?" + urlencode({**kept, "before": after.encode()})
        newest = None
        if query.before is not None:
            newest = f"{root_of(request)}/calls" + ("?" + urlencode(kept) if kept else "")
        return render(
            request,
            "calls.html",
            calls=page,
            filtered=bool(kept),
            older=older,
            newest=newest,
            **context,
        )

    return [Route("/calls", calls_page, methods=["GET"])]
