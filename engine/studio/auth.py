"""Who is signed in, and whether a change they ask for is really theirs.

A session is a cookie the engine signs (HMAC-SHA256 with ``StudioSettings.secret``): the
user's name and role, when it ends, a CSRF token, how the user signed in (``via``: the admin
token or the users file) and a ``proof`` of the credential it was opened with (``access.py``:
a session ends when that credential changes or goes). Nothing is kept on the server, so any
replica with the same secret reads it. Every request that changes something (any method but
GET and HEAD) must carry that CSRF token, as the form field ``csrf`` or the header
``X-CSRF-Token`` (htmx sends the header, ``static/studio.js``), and, when the browser says
where it comes from (``Origin``), come from this site.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from starlette.requests import Request

from .settings import StudioSettings

__all__ = [
    "COOKIE",
    "Role",
    "Session",
    "User",
    "csrf_ok",
    "open_session",
    "read_session",
    "same_origin",
    "token_matches",
]

COOKIE = "engine_studio"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Role(StrEnum):
    VIEWER = "viewer"  # reads flows and calls
    EDITOR = "editor"  # also saves and restores flows, runs scenarios, places test calls


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role

    @property
    def can_edit(self) -> bool:
        return self.role is Role.EDITOR


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    csrf: str
    expires: float
    via: str = ""  # "token" | "users"
    proof: str = ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())


def open_session(
    settings: StudioSettings,
    user: User,
    now: float | None = None,
    *,
    via: str = "",
    proof: str = "",
) -> str:
    """The cookie value of a new session for ``user``."""
    now = time.time() if now is None else now
    body = {
        "u": user.name,
        "r": str(user.role),
        "x": int(now + settings.session_hours * 3600),
        "c": secrets.token_urlsafe(24),
        "v": via,
        "p": proof,
    }
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{payload}.{_sign(settings.secret, payload)}"


def read_session(
    settings: StudioSettings, cookie: str | None, now: float | None = None
) -> Session | None:
    """The session a cookie holds, or None: missing, forged, altered or expired."""
    if not cookie or cookie.count(".") != 1:
        return None
    payload, signature = cookie.split(".")
    if not hmac.compare_digest(_sign(settings.secret, payload), signature):
        return None
    try:
        body: dict[str, Any] = json.loads(_unb64(payload))
        user = User(str(body["u"]), Role(body["r"]))
        expires, csrf = float(body["x"]), str(body["c"])
        via, proof = str(body.get("v", "")), str(body.get("p", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if expires <= (time.time() if now is None else now):
        return None
    return Session(user, csrf, expires, via, proof)


def token_matches(given: str, token: str) -> bool:
    """``given`` is the admin token, compared in constant time."""
    return hmac.compare_digest(given.strip().encode("utf-8", "surrogateescape"), token.encode())


def csrf_ok(request: Request, session: Session, form_token: str | None) -> bool:
    """A change request carries the session's CSRF token and, if the browser names where it
    comes from, comes from this site."""
    given = request.headers.get("x-csrf-token") or form_token or ""
    if not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), session.csrf.encode()):
        return False
    return same_origin(request)


def same_origin(request: Request) -> bool:
    """The browser does not say the request comes from another site (``Origin``)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return origin == f"{request.url.scheme}://{request.headers.get('host', '')}"
