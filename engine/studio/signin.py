"""Signing in and out.

With ``ENGINE_ADMIN_TOKEN`` set, the token signs in as ``admin``, an editor. The session is
a cookie (``auth.py``): HttpOnly (no script reads it), SameSite=Lax (no other site's form
sends it) and Secure when the studio is reached over HTTPS (``StudioSettings.secure_cookie``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .auth import COOKIE, Role, User, csrf_ok, open_session, token_matches
from .context import Studio
from .forms import read_form
from .render import render, root_of

__all__ = ["routes"]

ADMIN = User("admin", Role.EDITOR)


def _next_page(request: Request, wanted: str | None) -> str:
    """Where to go after signing in: a page of the studio, never another site."""
    root = root_of(request)
    if wanted and wanted.startswith("/") and not wanted.startswith(("//", "/\\")):
        return root + wanted
    return f"{root}/flows"


def routes(studio: Studio) -> list[BaseRoute]:
    settings = studio.settings

    ways = {"token": settings.admin_token is not None, "users": settings.users_file is not None}

    async def sign_in_page(request: Request) -> Response:
        return render(request, "sign_in.html", next=request.query_params.get("next", ""), **ways)

    async def sign_in(request: Request) -> Response:
        form = await read_form(request)
        wanted = form.get("next", "")
        user: User | None = None
        token = settings.admin_token
        if token is not None and token_matches(form.get("token", ""), token):
            user = ADMIN
        if user is None:
            return render(
                request,
                "sign_in.html",
                401,
                next=wanted,
                **ways,
                error="That did not sign you in. Check what you typed and try again.",
            )
        response = RedirectResponse(_next_page(request, wanted), 303)
        secure = settings.secure_cookie == "always" or (
            settings.secure_cookie == "auto" and request.url.scheme == "https"
        )
        response.set_cookie(
            COOKIE,
            open_session(settings, user),
            max_age=int(settings.session_hours * 3600),
            path=root_of(request) or "/",
            httponly=True,
            samesite="lax",
            secure=secure,
        )
        return response

    async def sign_out(request: Request) -> Response:
        form = await read_form(request)
        session = request.state.session
        if session is not None and not csrf_ok(request, session, form.get("csrf")):
            return render(request, "refused.html", 403, why="Reload the page and sign out again.")
        response = RedirectResponse(f"{root_of(request)}/sign-in", 303)
        response.delete_cookie(COOKIE, path=root_of(request) or "/")
        return response

    return [
        Route("/sign-in", sign_in_page, methods=["GET"]),
        Route("/sign-in", sign_in, methods=["POST"]),
        Route("/sign-out", sign_out, methods=["POST"]),
    ]
