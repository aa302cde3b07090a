"""Access to the studio: who may open it, sign-in, the session cookie, CSRF and roles."""

from __future__ import annotations

from typing import Any

from helpers import run
from studio_kit import assert_no_secrets, signed_in


def test_admin_token_signs_in(studio_server: Any) -> None:
    async def main() -> None:
        async with studio_server() as s, s.client() as client:
            csrf = await signed_in(client, s.base, s.token)
            assert csrf
            page = await client.get(s.base + "/sign-in")
            assert_no_secrets(page.text, s.engine.environ, also=[s.token])

    run(main(), timeout=30)
