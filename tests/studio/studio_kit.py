"""Helpers of the studio tests: a real engine on loopback with the studio on (fixtures in
conftest.py).

- ``studio_flows``: a temporary copy of the repository's ``flows/`` folder.
- ``studio_server``: ``async with studio_server(**options) as s:`` — an ``Engine`` served by
  uvicorn on a loopback port (``engine.runner.running_engine``), the built-in ``Simulator``
  as OpenAI (also ``engine.simulator``, for test calls), records in a SQLite file of the
  test's own, and the studio on with an admin token. ``s.base`` is the studio's URL
  (``http://127.0.0.1:PORT/studio``), ``s.url`` the engine's, ``s.token`` the admin token,
  ``s.flows`` the flows folder, ``s.engine`` the engine, ``s.sim`` the simulator.
  Options: any ``StudioSettings`` field (``users_file``, ``secure_cookie``, ...), ``environ``
  (the engine's environment), and any other ``EngineSettings`` field.
- ``signed_in(client, base, token)``: sign in with the admin token (or ``name=``/``password=``
  from a users file); returns the session's CSRF token (from ``<meta name="csrf">``).
- ``assert_no_secrets(body, environ)``: no secret-looking value of the engine's environment
  (names with TOKEN, SECRET, KEY, PASSWORD, ...) appears in a page; ``s.assert_no_secrets(body)``
  checks the server's environment and its admin token.

Tests here are plain functions running a coroutine with ``helpers.run`` (no pytest-asyncio)::

    def test_x(studio_server):
        async def main():
            async with studio_server() as s, s.client() as client:
                csrf = await signed_in(client, s.base, s.token)
                page = await client.get(s.base + "/flows")
                s.assert_no_secrets(page.text)
        run(main(), timeout=30)
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from engine.records.settings import RecordsSettings, database_url
from engine.runner import running_engine
from engine.server import Engine, EngineSettings
from engine.simulator import Simulator
from engine.studio.settings import StudioSettings

__all__ = [
    "ADMIN_TOKEN",
    "SECRET_NAMES",
    "STUDIO_ENVIRON",
    "StudioServer",
    "assert_no_secrets",
    "csrf_of",
    "signed_in",
    "studio_server_at",
]

REPO_FLOWS = Path(__file__).resolve().parents[2] / "flows"
ADMIN_TOKEN = "studio-admin-token-0123456789abcdef"
# What the example flows need (acme-support's tools send ACME_TOKEN), plus secrets that no
# page may ever show.
STUDIO_ENVIRON = {
    "ACME_TOKEN": "acme-token-do-not-show-5f1e",
    "OPENAI_API_KEY": "sk-test-do-not-show-9c2b7a",
    "ENGINE_STUDIO_SECRET": "studio-secret-do-not-show-0123456789abcdef",
    "PAYMENT_PASSWORD": "hunter2-do-not-show",
}
# Tuesday 3 March 2026, 10:00 in New York: every example flow is open.
OPEN_HOURS = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)

SECRET_NAMES = re.compile(
    r"TOKEN|SECRET|KEY|PASSWORD|PASSWD|PASS\b|CREDENTIAL|AUTH|PRIVATE|DATABASE_URL|DSN",
    re.IGNORECASE,
)
# Shorter values cannot be told apart from ordinary words on a page.
MIN_SECRET_LENGTH = 6


def assert_no_secrets(
    body: str, environ: Mapping[str, str], also: Iterable[str | None] = ()
) -> None:
    """Fail if any value of ``environ`` whose name looks secret (or any of ``also``, e.g. the
    admin token) appears in ``body``, as is or HTML-escaped or URL-encoded."""
    values = [v for name, v in environ.items() if SECRET_NAMES.search(name)]
    values += [v for v in also if v]
    for value in values:
        value = value.strip()
        if len(value) < MIN_SECRET_LENGTH:
            continue
        for form in {value, html.escape(value), quote(value, safe="")}:
            assert form not in body, f"a secret ({len(value)} characters) appears in the page"


def csrf_of(page: str) -> str:
    """The CSRF token a studio page carries in ``<meta name="csrf" content="...">``."""
    found = re.search(r'<meta name="csrf" content="([^"]*)"', page)
    assert found is not None, "the page has no <meta name=csrf>"
    return html.unescape(found.group(1))


async def signed_in(
    client: httpx.AsyncClient,
    base: str,
    token: str | None = None,
    *,
    name: str | None = None,
    password: str | None = None,
) -> str:
    """Sign ``client`` in to the studio at ``base`` (the admin token, or a user's name and
    password); returns the session's CSRF token, for the forms' ``csrf`` field or the
    ``X-CSRF-Token`` header."""
    form = {"next": ""}
    if token is not None:
        form["token"] = token
    if name is not None:
        form |= {"name": name, "password": password or ""}
    answer = await client.post(base + "/sign-in", data=form, follow_redirects=False)
    assert answer.status_code == 303, (answer.status_code, answer.text[:300])
    page = await client.get(base + "/sign-in")
    assert page.status_code == 200, page.status_code
    csrf = csrf_of(page.text)
    assert csrf, "signed in, but the page shows no session"
    return csrf


@dataclass
class StudioServer:
    url: str  # the engine: http://127.0.0.1:PORT
    base: str  # the studio: http://127.0.0.1:PORT/studio
    engine: Engine
    sim: Simulator
    flows: Path
    token: str | None

    def assert_no_secrets(self, body: str) -> None:
        """No secret of this engine's environment, nor the admin token, is in ``body``."""
        assert_no_secrets(body, self.engine.environ, also=[self.token])

    def client(self, **options: Any) -> httpx.AsyncClient:
        """An HTTP client for the studio (cookies kept; redirects not followed)."""
        options.setdefault("timeout", 10.0)
        return httpx.AsyncClient(trust_env=False, **options)


_STUDIO_FIELDS = {f.name for f in dataclasses.fields(StudioSettings)}


@contextlib.asynccontextmanager
async def studio_server_at(
    tmp_path: Path,
    flows: Path,
    *,
    environ: Mapping[str, str] | None = None,
    **options: Any,
) -> AsyncIterator[StudioServer]:
    studio_options = {k: options.pop(k) for k in list(options) if k in _STUDIO_FIELDS}
    studio_options.setdefault("admin_token", ADMIN_TOKEN)
    studio = StudioSettings(**studio_options)
    options.setdefault("reload_interval_s", 0.1)
    options.setdefault("clock", lambda: OPEN_HOURS)
    options.setdefault("drain_timeout_s", 2.0)
    records = RecordsSettings(
        url=database_url(f"sqlite:///{tmp_path / 'studio-records.db'}"),
        replica="studio-test",
        flush_interval_s=0.05,
    )
    async with Simulator() as sim:
        settings = EngineSettings(
            flows_dir=str(flows),
            openai=sim.config(),
            records=records,
            studio=studio,
            **options,
        )
        engine = Engine(settings, environ=dict(STUDIO_ENVIRON if environ is None else environ))
        engine.simulator = sim
        async with running_engine(engine) as url:
            try:
                yield StudioServer(url, url + "/studio", engine, sim, flows, studio.admin_token)
            finally:
                for call in list(sim.calls.values()):
                    if not call.ended:
                        await call.hang_up()
