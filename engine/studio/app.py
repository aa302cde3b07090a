"""The studio as one Starlette app, mounted by the engine at ``/studio``.

Every page but the sign-in page and the static files needs a session (``auth.py``); every
change needs an editor's session and its CSRF token (``changes``). The pages live in one
module per subject, each giving its routes: ``flows.py``, ``saving.py``, ``calls.py``.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import calls, flows, saving, signin
from .access import Access
from .auth import COOKIE, UNSAFE, read_session
from .context import EngineView, Studio
from .files import FlowFiles
from .guards import Endpoint, changes
from .render import STATIC, root_of
from .settings import StudioSettings

__all__ = ["Endpoint", "changes", "studio_app"]

OPEN_PATHS = ("/sign-in", "/static/")
# Every page: no framing by another site (clickjacking), no sniffing, no referrer to outside
# services, scripts and styles only from the studio itself.
SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "cache-control": "no-store",
}


class SessionGate:
    """Puts the session on ``request.state.session``; sends anyone without one to sign in.
    A session whose credential changed or went (``Access.still_good``) is no session."""

    def __init__(self, app: ASGIApp, settings: StudioSettings, access: Access) -> None:
        self.app = app
        self.settings = settings
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        session = read_session(self.settings, request.cookies.get(COOKIE))
        if session is not None and not self.access.still_good(session):
            session = None
        request.state.session = session
        path = scope["path"][len(root_of(request)) :] if scope.get("root_path") else scope["path"]
        if session is None and not path.startswith(OPEN_PATHS):
            await self._to_sign_in(request, path)(scope, receive, send)
            return
        if session is None and scope["method"] in UNSAFE and path != "/sign-in":
            await Response("sign in first", 401)(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers and not (
                        path.startswith("/static/") and name == "cache-control"
                    ):
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)

    def _to_sign_in(self, request: Request, path: str) -> Response:
        target = f"{root_of(request)}/sign-in"
        if path not in ("", "/"):
            query = f"?{request.url.query}" if request.url.query else ""
            target += "?next=" + quote(path + query, safe="")
        if request.headers.get("hx-request"):  # htmx follows this header, not a redirect
            return Response("sign in again", 401, headers={"HX-Redirect": target})
        return RedirectResponse(target, 303)


def studio_app(engine: EngineView, settings: StudioSettings) -> Starlette:
    """The studio's app. A users file with a mistake raises ``UsersFileError`` (a
    ``ValueError`` naming the file and line) here, at start."""
    access = Access(settings)
    studio = Studio(engine=engine, settings=settings, files=FlowFiles(engine.settings.flows_dir))

    async def home(request: Request) -> Response:
        return RedirectResponse(f"{root_of(request)}/flows", 303)

    routes: list[BaseRoute] = [
        Route("/", home),
        *signin.routes(studio, access),
        *saving.routes(studio),
        *calls.routes(studio),
        *flows.routes(studio),  # last: its /flows/{file:path} would take the others' URLs
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(GZipMiddleware, minimum_size=1024),
            Middleware(SessionGate, settings=settings, access=access),
        ],
    )
    app.state.studio = studio
    app.state.access = access
    return app
