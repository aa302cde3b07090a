"""Who may open the studio, read once from the environment at start.

The studio is off unless ``ENGINE_ADMIN_TOKEN`` or ``ENGINE_STUDIO_USERS`` (a users file with
hashed passwords, ``users.py``) is set: an engine that nobody configured for it serves 404 at
``/studio``, as for any path that does not exist.

``ENGINE_STUDIO_SECRET`` signs the session cookies. Unset, each process makes a random one at
start: sessions end when it restarts, and replicas behind one load balancer need the same
secret set on each, or a session opened on one is refused by the next.

``ENGINE_STUDIO_SECURE_COOKIE`` (auto, always, never) says when the session cookie is marked
Secure (sent over HTTPS only): auto, when the request came over HTTPS.

Sign-in attempts are limited (``ratelimit.py``): ``sign_in_failures`` failures within
``sign_in_window_s`` from one address, or for one user name, and the next is refused until
the oldest of them is that old.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["StudioSettings"]

SESSION_HOURS = 12.0
SIGN_IN_FAILURES = 5
SIGN_IN_WINDOW_S = 300.0


@dataclass(frozen=True)
class StudioSettings:
    admin_token: str | None = None
    users_file: Path | None = None
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    # Secure cookies are sent by the browser over HTTPS only. "auto": when the request came
    # over HTTPS (uvicorn's --proxy-headers makes that true behind a TLS proxy).
    secure_cookie: str = "auto"  # auto | always | never
    session_hours: float = SESSION_HOURS
    sign_in_failures: int = SIGN_IN_FAILURES
    sign_in_window_s: float = SIGN_IN_WINDOW_S
    # What time it is for the sign-in limit (seconds, only differences count). Tests pass
    # their own clock.
    sign_in_clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    @property
    def enabled(self) -> bool:
        return self.admin_token is not None or self.users_file is not None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StudioSettings:
        env = os.environ if environ is None else environ
        token = env.get("ENGINE_ADMIN_TOKEN", "").strip() or None
        users = env.get("ENGINE_STUDIO_USERS", "").strip()
        secret = env.get("ENGINE_STUDIO_SECRET", "")
        secure = env.get("ENGINE_STUDIO_SECURE_COOKIE", "auto").strip().lower() or "auto"
        if secure not in ("auto", "always", "never"):
            raise ValueError("ENGINE_STUDIO_SECURE_COOKIE must be auto, always or never")
        if secret and len(secret) < 32:
            raise ValueError("ENGINE_STUDIO_SECRET must be at least 32 characters")
        return cls(
            admin_token=token,
            users_file=Path(users) if users else None,
            secret=secret.encode() if secret else secrets.token_bytes(32),
            secure_cookie=secure,
        )
