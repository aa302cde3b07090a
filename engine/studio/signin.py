"""Signing in and out.

With ``ENGINE_ADMIN_TOKEN`` set, the token signs in as ``admin``, an editor; with
``ENGINE_STUDIO_USERS`` set, a name and password from that file (``users.py``). The session is
a cookie (``auth.py``): HttpOnly (no script reads it), SameSite=Lax (no other site's form
sends it), Secure when the studio is reached over HTTPS (``StudioSettings.secure_cookie``),
and its path is where the studio is mounted. Failed sign-ins are limited per address and per
name (``ratelimit.py``); an unknown name and a wrong password get the same answer.
"""

from __future__ import annotations

import math
import re

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .access import ADMIN, Access, CheckBusy
from .auth import COOKIE, csrf_ok, open_session, same_origin
from .context import Studio
from .forms import read_form
from .render import render, root_of

__all__ = ["ADMIN", "routes"]

# A page of the studio: one "/", then anything but a second "/" or "\" (which browsers read
# as "another site"), and no spaces or control characters (which browsers drop).
_LOCAL = re.compile(r"/(?![/\\])[^\s\\\x00-\x1f\x7f]*")


def _next_page(request: Request, wanted: str | None) -> str:
    """Where to go after signing in: a page of the studio, never another site."""
    root = root_of(request)
    if wanted and _LOCAL.fullmatch(wanted):
        return root + wanted
    return f"{root}/flows"


def _minutes(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    return "a minute" if minutes <= 1 else f"{minutes} minutes"


def routes(studio: Studio, access: Access | None = None) -> list[BaseRoute]:
    settings = studio.settings
    access = access or Access(settings)
    limiter = access.limiter

    ways = {"token": settings.admin_token is not None, "users": settings.users_file is not None}

    def page(request: Request, status: int, wanted: str, error: str, **headers: str) -> Response:
        response = render(request, "sign_in.html", status, next=wanted, **ways, error=error)
        response.headers.update(headers)
        return response

    async def sign_in_page(request: Request) -> Response:
        return render(request, "sign_in.html", next=request.query_params.get("next", ""), **ways)

    async def sign_in(request: Request) -> Response:
        form = await read_form(request)
        wanted = form.get("next", "")
        if not same_origin(request):
            return render(
                request, "refused.html", 403, why="Sign in from the studio's own sign-in page."
            )
        name = form.get("name", "").strip()
        address = request.client.host if request.client is not None else "unknown"
        keys = [f"addr:{address}"] + ([f"name:{name[:64].lower()}"] if name else [])
        wait = limiter.retry_after(keys)
        if wait is not None:
            return page(
                request,
                429,
                wanted,
                f"Too many failed sign-ins. Try again in {_minutes(wait)}.",
                **{"retry-after": str(wait)},
            )
        tried = limiter.failed(keys)  # counted from now, so sign-ins tried at once all count
        try:
            signed = await access.sign_in(name, form.get("password", ""), form.get("token", ""))
        except CheckBusy:
            limiter.succeeded(keys, tried)  # not a guess that was heard
            return page(
                request,
                503,
                wanted,
                "The studio is busy. Try again shortly.",
                **{"retry-after": "5"},
            )
        if signed is None:
            return page(
                request,
                401,
                wanted,
                "That did not sign you in. Check what you typed and try again.",
            )
        limiter.succeeded(keys, tried)
        response = RedirectResponse(_next_page(request, wanted), 303)
        secure = settings.secure_cookie == "always" or (
            settings.secure_cookie == "auto" and request.url.scheme == "https"
        )
        response.set_cookie(
            COOKIE,
            open_session(settings, signed.user, via=signed.via, proof=signed.proof),
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
        response.delete_cookie(COOKIE, path=root_of(request) or "/", httponly=True, samesite="lax")
        return response

    return [
        Route("/sign-in", sign_in_page, methods=["GET"]),
        Route("/sign-in", sign_in, methods=["POST"]),
        Route("/sign-out", sign_out, methods=["POST"]),
    ]
