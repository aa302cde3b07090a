"""``/studio/overview``: calls per flow per UTC day by outcome (a chart and a table of the
same numbers), and the busiest tools with their failures, over the last ``days`` days. The
database counts (engine/records/overview.py): no record is loaded."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..records.overview import busy_tools, calls_per_day
from .chart import COLOURS, OUTCOMES, lay_out
from .context import Studio
from .recorded import RECORDS_OFF, database_down, store_of
from .render import render

__all__ = ["routes"]

DEFAULT_DAYS = 14
MAX_DAYS = 90


def _days(text: str | None) -> int | None:
    if text is None or not text.strip():
        return DEFAULT_DAYS
    text = text.strip()
    return int(text) if text.isdigit() and 1 <= int(text) <= MAX_DAYS else None


def routes(studio: Studio) -> list[BaseRoute]:
    async def overview_page(request: Request) -> Response:
        days = _days(request.query_params.get("days"))
        context: dict[str, Any] = {"colours": COLOURS, "outcomes": OUTCOMES, "max_days": MAX_DAYS}
        if days is None:
            error = f"days must be a whole number from 1 to {MAX_DAYS}"
            shown = request.query_params.get("days", "")
            return render(request, "overview.html", 400, days=shown, error=error, **context)
        store = store_of(studio)
        if store is None:
            return render(request, "overview.html", days=days, off=RECORDS_OFF, **context)
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        since, until = today - timedelta(days=days - 1), today + timedelta(days=1)
        labels = [(since + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(days)]
        try:
            counts, tools = await asyncio.gather(
                calls_per_day(store.engine, since, until, store.timeout_s),
                busy_tools(store.engine, since, until, timeout_s=store.timeout_s),
            )
        except Exception as exc:
            return database_down(request, exc, "Overview")
        return render(
            request,
            "overview.html",
            days=days,
            chart=lay_out(counts, labels),
            tools=tools,
            since=labels[0],
            until=labels[-1],
            **context,
        )

    return [Route("/overview", overview_page, methods=["GET"])]
