"""``GET /calls`` and ``GET /calls/{call_id}``: the records as JSON, for an operator's tools.

Only with ``Authorization: Bearer $ENGINE_ADMIN_TOKEN``. Without the token set, the routes
are off: 404, as for a path that does not exist. A missing or wrong token: 401. The token
is compared in constant time.
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .query import CallQuery, QueryError

if TYPE_CHECKING:
    from .service import Records

__all__ = ["call_routes"]

log = logging.getLogger("engine.records")

FILTERS = ("flow", "number", "outcome", "day", "since", "until", "limit", "before")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _refused(request: Request, token: str | None) -> Response | None:
    """None: the request may read records. Otherwise the answer."""
    if token is None:
        return PlainTextResponse("Not Found", status_code=404)  # as any unknown path
    given = request.headers.get("authorization", "")
    scheme, _, credentials = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        credentials.strip().encode("utf-8", "surrogateescape"), token.encode()
    ):
        return _error(
            401,
            "Authorization: Bearer ENGINE_ADMIN_TOKEN required",
            {"WWW-Authenticate": 'Bearer realm="engine"'},
        )
    return None


def call_routes(records: Records) -> list[Route]:
    token = records.settings.admin_token if records.settings is not None else None

    async def list_calls(request: Request) -> Response:
        refused = _refused(request, token)
        if refused is not None:
            return refused
        unknown = sorted(set(request.query_params) - set(FILTERS))
        if unknown:
            return _error(
                400, f"unknown parameter {unknown[0]!r}; the filters are {', '.join(FILTERS)}"
            )
        try:
            query = CallQuery.parse(dict(request.query_params))
        except QueryError as exc:
            return _error(400, str(exc))
        assert records.store is not None  # a token is only read with a database
        try:
            page, after = await records.store.find(query)
        except Exception as exc:
            from .database import describe_error  # loaded already: records are kept

            log.warning("GET /calls: the records database did not answer (%s)", describe_error(exc))
            return _error(503, "the records database is not answering; try again")
        return JSONResponse(
            {"calls": [c.to_dict() for c in page], "next": after.encode() if after else None}
        )

    async def show_call(request: Request) -> Response:
        refused = _refused(request, token)
        if refused is not None:
            return refused
        call_id = request.path_params["call_id"]
        try:
            record = await records.get(call_id)
        except Exception as exc:
            from .database import describe_error  # loaded already: records are kept

            log.warning(
                "GET /calls/{id}: the records database did not answer (%s)", describe_error(exc)
            )
            return _error(503, "the records database is not answering; try again")
        if record is None:
            return _error(404, "no record of that call")
        return JSONResponse(record.to_dict())

    return [
        Route("/calls", list_calls, methods=["GET"]),
        Route("/calls/{call_id}", show_call, methods=["GET"]),
    ]
