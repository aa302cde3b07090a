"""Who may sign in, and whether a session is still good.

Two ways in: the admin token (``ENGINE_ADMIN_TOKEN``, signs in as ``admin``, an editor) and
the users file (``ENGINE_STUDIO_USERS``, ``users.py``). A session carries a proof of the
credential it was opened with (an HMAC, under the studio's secret, of the token, or of the
user's name, role and password hash): change the token, or take a user out of the file,
change their role or password, and their sessions end at their next request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from .auth import Role, Session, User, token_matches
from .ratelimit import SignInLimiter
from .settings import StudioSettings
from .users import Account, CheckBusy, Users

__all__ = ["ADMIN", "Access", "CheckBusy", "SignedIn"]

ADMIN = User("admin", Role.EDITOR)
VIA_TOKEN, VIA_USERS = "token", "users"


def _same(given: str, proof: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), proof.encode())


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    via: str
    proof: str


class Access:
    def __init__(self, settings: StudioSettings) -> None:
        self.settings = settings
        self.users = Users(settings.users_file) if settings.users_file is not None else None
        self.limiter = SignInLimiter(
            settings.sign_in_failures,
            settings.sign_in_window_s,
            clock=settings.sign_in_clock,
        )

    def _proof(self, *parts: str) -> str:
        digest = hmac.new(self.settings.secret, "\0".join(parts).encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()[:16]).rstrip(b"=").decode()

    def _token_proof(self, token: str) -> str:
        return self._proof(VIA_TOKEN, token)

    def _user_proof(self, account: Account) -> str:
        return self._proof(VIA_USERS, account.user.name, str(account.user.role), account.stored)

    async def sign_in(self, name: str, password: str, token: str) -> SignedIn | None:
        """Who the form's fields sign in, or None. ``CheckBusy`` when too many password
        checks wait."""
        admin = self.settings.admin_token
        if token and admin is not None and token_matches(token, admin):
            return SignedIn(ADMIN, VIA_TOKEN, self._token_proof(admin))
        if name and self.users is not None:
            user = await self.users.check(name, password)
            account = self.users.get(name) if user is not None else None
            if account is not None and account.user == user:
                return SignedIn(account.user, VIA_USERS, self._user_proof(account))
        return None

    def still_good(self, session: Session) -> bool:
        """The credential the session was opened with is still the same."""
        if session.via == VIA_TOKEN:
            admin = self.settings.admin_token
            return (
                admin is not None
                and session.user == ADMIN
                and _same(session.proof, self._token_proof(admin))
            )
        if session.via == VIA_USERS and self.users is not None:
            account = self.users.get(session.user.name)
            return (
                account is not None
                and account.user == session.user
                and _same(session.proof, self._user_proof(account))
            )
        return False
