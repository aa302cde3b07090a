"""Pages from Jinja2 templates (``templates/``), escaped by default.

Every page gets ``root`` (where the studio is mounted, e.g. ``/studio``: links are written
``{{ root }}/flows``), ``user`` (None on the sign-in page), ``csrf`` (the session's token, for
forms: ``<input type="hidden" name="csrf" value="{{ csrf }}">``) and ``static`` (a file's URL
under ``static/``, with its version so a changed file is not served from a stale cache).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

__all__ = ["STATIC", "TEMPLATES", "render", "root_of"]

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


@cache
def _stamp(name: str) -> str:
    return str(int((STATIC / name).stat().st_mtime))


def root_of(request: Request) -> str:
    """Where the studio is mounted (``/studio``), as links start."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    root = root_of(request)
    session = getattr(request.state, "session", None)
    values = {
        "request": request,
        "root": root,
        "user": session.user if session is not None else None,
        "csrf": session.csrf if session is not None else "",
        "static": lambda name: f"{root}/static/{name}?v={_stamp(name)}",
        **context,
    }
    body = _environment().get_template(template).render(values)
    return HTMLResponse(body, status_code=status)
