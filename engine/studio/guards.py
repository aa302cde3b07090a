"""The guard on every route that changes something (``changes``), apart from ``app.py`` so
the page modules that ``app.py`` imports can use it without importing ``app.py`` back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps

from starlette.requests import Request
from starlette.responses import Response

from .auth import csrf_ok
from .forms import read_form
from .render import render

__all__ = ["Endpoint", "changes"]

Endpoint = Callable[[Request], Awaitable[Response]]


def changes(endpoint: Endpoint) -> Endpoint:
    """For a route that changes something: an editor's session and the session's CSRF token,
    or 403 and nothing done."""

    @wraps(endpoint)
    async def guarded(request: Request) -> Response:
        session = request.state.session
        form = await read_form(request)
        if not csrf_ok(request, session, form.get("csrf")):
            return render(
                request,
                "refused.html",
                403,
                why="This form is out of date (or came from another site). Reload the page and try again.",
            )
        if not session.user.can_edit:
            return render(
                request,
                "refused.html",
                403,
                why="Your sign-in can read the studio but not change it; ask an editor.",
            )
        return await endpoint(request)

    return guarded
