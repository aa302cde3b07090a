"""Access to the studio: who may open it, sign-in, the session cookie, CSRF, roles, the users
file and ``engine studio-user``, the sign-in limit. All through real HTTP on loopback."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re
import stat
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from studio_kit import ADMIN_TOKEN, assert_no_secrets, csrf_of, signed_in

from engine.openai import ConfigError
from engine.runner import running_engine
from engine.server import Engine, EngineSettings
from engine.simulator import Simulator
from engine.studio import studio_app
from engine.studio.access import Access
from engine.studio.app import changes
from engine.studio.auth import COOKIE, open_session
from engine.studio.passwords import hash_password
from engine.studio.ratelimit import SignInLimiter
from engine.studio.settings import StudioSettings
from engine.studio.users import UsersFileError

from helpers import engine_cli, run, serving

PASSWORDS = {"maria": "maria-password-1", "desk": "desk-password-22"}


def users_file(folder: Path, roles: dict[str, str] | None = None) -> Path:
    """A users file: maria an editor, desk a viewer (unless ``roles`` says otherwise)."""
    roles = roles or {"maria": "editor", "desk": "viewer"}
    path = folder / "studio-users"
    lines = ["# who may open the studio", ""]
    lines += [f"{name}:{role}:{hash_password(PASSWORDS[name])}" for name, role in roles.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def set_cookie(response: httpx.Response) -> str:
    (header,) = response.headers.get_list("set-cookie")
    return header


@asynccontextmanager
async def with_probe(engine: Any, settings: StudioSettings) -> AsyncIterator[tuple[str, list]]:
    """The studio (its own app, over ``engine``) with one more route that changes something,
    guarded by ``changes`` as every page's changes are: ``POST /studio/probe``. Yields the
    studio's URL and the list of changes made."""
    made: list[str] = []

    async def probe(request: Request) -> Response:
        made.append(request.state.session.user.name)
        return PlainTextResponse("changed")

    studio = studio_app(engine, settings)
    studio.router.routes.insert(0, Route("/probe", changes(probe), methods=["POST"]))
    async with serving(Starlette(routes=[Mount("/studio", app=studio)])) as url:
        yield url + "/studio", made


# -- off, on, sign-in ----------------------------------------------------------------------


def test_the_studio_is_off_unless_a_token_or_users_file_is_set(tmp_path: Path) -> None:
    env = {"OPENAI_API_KEY": "sk-x", "OPENAI_WEBHOOK_SECRET": "whsec_c2VjcmV0c2VjcmV0"}
    assert EngineSettings.from_env(str(tmp_path), env).studio is None

    async def main() -> None:
        async with Simulator() as sim:
            engine = Engine(EngineSettings(flows_dir=str(tmp_path), openai=sim.config()))
            async with running_engine(engine) as url, httpx.AsyncClient() as client:
                for path in ("/studio", "/studio/sign-in", "/studio/flows"):
                    assert (await client.get(url + path)).status_code == 404
                answer = await client.post(url + "/studio/sign-in", data={"token": "x"})
                assert answer.status_code == 404

    run(main(), timeout=30)


def test_pages_send_who_is_not_signed_in_to_sign_in(studio_server: Any) -> None:
    async def main() -> None:
        async with studio_server() as s, s.client() as client:
            answer = await client.get(s.base + "/flows?flow=acme")
            assert answer.status_code == 303
            assert answer.headers["location"] == "/studio/sign-in?next=%2Fflows%3Fflow%3Dacme"
            home = await client.get(s.base + "/")
            assert home.headers["location"] == "/studio/sign-in"
            htmx = await client.get(s.base + "/flows", headers={"HX-Request": "true"})
            assert htmx.status_code == 401
            assert htmx.headers["hx-redirect"].startswith("/studio/sign-in")
            page = await client.get(s.base + "/sign-in?next=%2Fcalls")
            assert page.status_code == 200
            assert 'name="next" value="/calls"' in page.text
            assert 'name="token"' in page.text and 'name="password"' not in page.text
            s.assert_no_secrets(page.text)

    run(main(), timeout=30)


def test_a_wrong_token_does_not_sign_in(studio_server: Any) -> None:
    async def main() -> None:
        async with studio_server() as s, s.client() as client:
            answer = await client.post(s.base + "/sign-in", data={"token": "not-the-token"})
            assert answer.status_code == 401
            assert "set-cookie" not in answer.headers
            assert 'data-testid="sign-in-error"' in answer.text
            s.assert_no_secrets(answer.text)
            assert (await client.get(s.base + "/flows")).status_code == 303

    run(main(), timeout=30)


def test_the_token_signs_in_with_a_cookie_scripts_and_other_sites_do_not_get(
    studio_server: Any,
) -> None:
    async def main() -> None:
        async with studio_server() as s, s.client() as client:
            answer = await client.post(
                s.base + "/sign-in", data={"token": f" {s.token} ", "next": "/calls"}
            )
            assert answer.status_code == 303
            assert answer.headers["location"] == "/studio/calls"
            cookie = set_cookie(answer).lower()
            assert cookie.startswith(COOKIE + "=")
            assert "httponly" in cookie and "samesite=lax" in cookie
            assert "path=/studio" in cookie and "max-age=43200" in cookie
            assert "secure" not in cookie  # plain HTTP: a Secure cookie would never come back
            page = await client.get(s.base + "/sign-in")
            assert 'data-testid="signed-in-as">admin (editor)' in page.text
            s.assert_no_secrets(page.text)
            # Behind a TLS proxy (uvicorn trusts X-Forwarded-Proto from loopback): Secure.
            https = await client.post(
                s.base + "/sign-in",
                data={"token": s.token},
                headers={"X-Forwarded-Proto": "https"},
            )
            assert "secure" in set_cookie(https).lower()

    run(main(), timeout=30)


def test_secure_cookie_always(studio_server: Any) -> None:
    async def main() -> None:
        async with studio_server(secure_cookie="always") as s, s.client() as client:
            answer = await client.post(s.base + "/sign-in", data={"token": s.token})
            assert answer.status_code == 303
            assert "; secure" in set_cookie(answer).lower()

    run(main(), timeout=30)


@pytest.mark.parametrize(
    "wanted",
    ["//evil.example", "https://evil.example", "/\\evil.example", "/\t/evil.example", "evil"],
)
def test_next_never_leads_to_another_site(studio_server: Any, wanted: str) -> None:
    async def main() -> None:
        async with studio_server() as s, s.client() as client:
            answer = await client.post(s.base + "/sign-in", data={"token": s.token, "next": wanted})
            assert answer.headers["location"] == "/studio/flows"

    run(main(), timeout=30)


def test_every_page_has_the_security_headers(studio_server: Any) -> None:
    async def main() -> None:
        async with studio_server() as s, s.client() as client:
            await signed_in(client, s.base, s.token)
            for path in ("/sign-in", "/no-such-page"):
                headers = (await client.get(s.base + path)).headers
                assert headers["x-frame-options"] == "DENY"
                assert headers["x-content-type-options"] == "nosniff"
                assert headers["referrer-policy"] == "same-origin"
                assert headers["cache-control"] == "no-store"
                policy = headers["content-security-policy"]
                assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
                assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]

    run(main(), timeout=30)


# -- the session cookie --------------------------------------------------------------------


def test_forged_altered_and_expired_cookies_are_refused(studio_server: Any) -> None:
    async def main() -> None:
        async with studio_server() as s, s.client() as client:
            settings = s.engine.settings.studio
            signed = await Access(settings).sign_in("", "", s.token)
            assert signed is not None
            good = open_session(settings, signed.user, via=signed.via, proof=signed.proof)
            payload, signature = good.split(".")
            body = json.loads(_unb64(payload))
            body["u"] = "someone-else"
            altered = _b64(json.dumps(body).encode()) + "." + signature
            other = dataclasses.replace(settings, secret=b"x" * 32)
            forged = open_session(other, signed.user, via=signed.via, proof=signed.proof)
            expired = open_session(settings, signed.user, 0.0, via=signed.via, proof=signed.proof)
            no_proof = open_session(settings, signed.user)  # a session without its credential
            for cookie in ("", "garbage", "a.b.c", altered, forged, expired, no_proof):
                client.cookies.set(COOKIE, cookie, path="/studio")
                answer = await client.get(s.base + "/flows")
                assert answer.status_code == 303, cookie
                assert answer.headers["location"].startswith("/studio/sign-in")
            client.cookies.set(COOKIE, good, path="/studio")
            page = await client.get(s.base + "/sign-in")
            assert 'data-testid="signed-in-as">admin' in page.text

    run(main(), timeout=30)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_a_new_admin_token_ends_the_old_tokens_sessions(studio_server: Any) -> None:
    async def main() -> None:
        async with studio_server() as s, s.client() as client:
            await signed_in(client, s.base, s.token)
            settings = s.engine.settings.studio
            renewed = dataclasses.replace(settings, admin_token="a-new-token-0123456789abcdef")
            async with with_probe(s.engine, settings) as (same, _):
                page = await client.get(same + "/sign-in")  # same secret, same token: good
                assert 'data-testid="signed-in-as">admin' in page.text
            async with with_probe(s.engine, renewed) as (base, _):
                answer = await client.get(base + "/flows")
                assert answer.status_code == 303
                assert answer.headers["location"].startswith("/studio/sign-in")

    run(main(), timeout=30)


# -- changes: CSRF, Origin, roles ----------------------------------------------------------


def test_a_change_needs_the_sessions_csrf_token_and_this_sites_origin(
    studio_server: Any,
) -> None:
    async def main() -> None:
        async with (
            studio_server() as s,
            s.client() as client,
            with_probe(s.engine, s.engine.settings.studio) as (base, made),
        ):
            csrf = await signed_in(client, base, s.token)
            refused = [
                await client.post(base + "/probe", data={}),
                await client.post(base + "/probe", data={"csrf": "not-it"}),
                await client.post(base + "/probe", headers={"X-CSRF-Token": csrf[:-1]}),
                await client.post(
                    base + "/probe",
                    data={"csrf": csrf},
                    headers={"Origin": "https://evil.example"},
                ),
                await client.post(base + "/probe", data={"csrf": csrf}, headers={"Origin": "null"}),
            ]
            for answer in refused:
                assert answer.status_code == 403
                assert 'data-testid="refused"' in answer.text
                s.assert_no_secrets(answer.text)
            assert made == []  # nothing changed
            origin = base.removesuffix("/studio")
            ok = [
                await client.post(base + "/probe", data={"csrf": csrf}),
                await client.post(base + "/probe", headers={"X-CSRF-Token": csrf}),
                await client.post(base + "/probe", data={"csrf": csrf}, headers={"Origin": origin}),
            ]
            assert [a.status_code for a in ok] == [200, 200, 200]
            assert made == ["admin"] * 3
            # Not signed in: sent to sign in, nothing changed.
            async with s.client() as stranger:
                answer = await stranger.post(base + "/probe", data={"csrf": csrf})
                assert answer.status_code == 303
                assert answer.headers["location"].startswith("/studio/sign-in")
            assert made == ["admin"] * 3

    run(main(), timeout=30)


def test_sign_out_needs_the_csrf_token(studio_server: Any) -> None:
    async def main() -> None:
        async with studio_server() as s, s.client() as client:
            csrf = await signed_in(client, s.base, s.token)
            answer = await client.post(s.base + "/sign-out", data={})
            assert answer.status_code == 403
            still = await client.get(s.base + "/sign-in")
            assert 'data-testid="signed-in-as"' in still.text
            answer = await client.post(s.base + "/sign-out", data={"csrf": csrf})
            assert answer.status_code == 303
            assert answer.headers["location"] == "/studio/sign-in"
            assert (await client.get(s.base + "/flows")).status_code == 303

    run(main(), timeout=30)


def test_a_sign_in_from_another_site_is_refused(studio_server: Any) -> None:
    async def main() -> None:
        async with studio_server() as s, s.client() as client:
            answer = await client.post(
                s.base + "/sign-in",
                data={"token": s.token},
                headers={"Origin": "https://evil.example"},
            )
            assert answer.status_code == 403
            assert "set-cookie" not in answer.headers

    run(main(), timeout=30)


def test_a_viewer_reads_but_cannot_change_an_editor_can(studio_server: Any, tmp_path: Path) -> None:
    async def main() -> None:
        path = users_file(tmp_path)
        async with (
            studio_server(users_file=path) as s,
            with_probe(s.engine, s.engine.settings.studio) as (base, made),
        ):
            async with s.client() as viewer:
                csrf = await signed_in(viewer, base, name="desk", password=PASSWORDS["desk"])
                page = await viewer.get(base + "/sign-in")
                assert 'data-testid="signed-in-as">desk (viewer)' in page.text
                answer = await viewer.post(base + "/probe", data={"csrf": csrf})
                assert answer.status_code == 403
                assert "cannot change" in answer.text or "not change" in answer.text
                assert made == []
            async with s.client() as editor:
                name, password = "maria", PASSWORDS["maria"]
                csrf = await signed_in(editor, base, name=name, password=password)
                answer = await editor.post(base + "/probe", data={"csrf": csrf})
                assert answer.status_code == 200
                assert made == ["maria"]

    run(main(), timeout=30)


# -- the users file ------------------------------------------------------------------------


def test_users_sign_in_with_name_and_password(studio_server: Any, tmp_path: Path) -> None:
    async def main() -> None:
        path = users_file(tmp_path)
        async with studio_server(users_file=path) as s, s.client() as client:
            page = await client.get(s.base + "/sign-in")
            assert 'name="name"' in page.text and 'name="password"' in page.text
            wrong = await client.post(
                s.base + "/sign-in", data={"name": "maria", "password": "not-hers-at-all"}
            )
            unknown = await client.post(
                s.base + "/sign-in", data={"name": "nobody", "password": "not-hers-at-all"}
            )
            # The same answer for a wrong password and an unknown name.
            assert wrong.status_code == unknown.status_code == 401
            assert wrong.text.replace("maria", "X") == unknown.text.replace("nobody", "X")
            assert "set-cookie" not in wrong.headers
            answer = await client.post(
                s.base + "/sign-in", data={"name": "maria", "password": PASSWORDS["maria"]}
            )
            assert answer.status_code == 303
            page = await client.get(s.base + "/sign-in")
            assert 'data-testid="signed-in-as">maria (editor)' in page.text
            # The token works beside the users file.
            async with s.client() as admin:
                await signed_in(admin, s.base, s.token)

    run(main(), timeout=30)


def test_a_user_taken_out_of_the_file_is_signed_out_at_the_next_request(
    studio_server: Any, tmp_path: Path
) -> None:
    async def main() -> None:
        path = users_file(tmp_path)
        async with (
            studio_server(users_file=path, admin_token=None) as s,
            s.client() as maria,
            s.client() as desk,
        ):
            await signed_in(maria, s.base, name="maria", password=PASSWORDS["maria"])
            await signed_in(desk, s.base, name="desk", password=PASSWORDS["desk"])
            # desk becomes an editor, maria stays: desk's viewer session ends.
            text = path.read_text().replace(":viewer:", ":editor:")
            path.write_text(text + "# changed\n")
            assert 'signed-in-as">maria' in (await maria.get(s.base + "/sign-in")).text
            assert (await desk.get(s.base + "/flows")).status_code == 303
            # maria is taken out.
            kept = [line for line in text.splitlines() if not line.startswith("maria:")]
            path.write_text("\n".join(kept) + "\n")
            answer = await maria.get(s.base + "/flows")
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/studio/sign-in")
            again = await maria.post(
                s.base + "/sign-in", data={"name": "maria", "password": PASSWORDS["maria"]}
            )
            assert again.status_code == 401
            # desk signs in again, as the editor they now are.
            await signed_in(desk, s.base, name="desk", password=PASSWORDS["desk"])
            page = await desk.get(s.base + "/sign-in")
            assert 'signed-in-as">desk (editor)' in page.text

    run(main(), timeout=30)


BAD_LINES = {
    "maria:editor": "expected NAME:ROLE:HASH",
    "maria:owner:HASH": "role 'owner': expected viewer or editor",
    "maria:HASH:editor": "the role: expected viewer or editor",
    "bad name:viewer:HASH": "the name must be",
    "maria:viewer:sha1$abcdef0123456789": "not scrypt$N$R$P$SALT$HASH",
    "maria:viewer:scrypt$16384$8$1$c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5": "too short",
    "maria:viewer:scrypt$1048576$8$1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5": "out of range",
}


@pytest.mark.parametrize("line", list(BAD_LINES))
def test_a_users_file_with_a_mistake_stops_the_start_naming_file_and_line(
    tmp_path: Path, line: str
) -> None:
    good = f"desk:viewer:{hash_password('desk-password-22', n=2**10)}"
    path = tmp_path / "users"
    line = line.replace("HASH", hash_password("x", n=2**10))
    path.write_text(f"# users\n{good}\n{line}\n", encoding="utf-8")
    env = {"OPENAI_API_KEY": "sk-x", "OPENAI_WEBHOOK_SECRET": "whsec_c2VjcmV0c2VjcmV0"}
    env["ENGINE_STUDIO_USERS"] = str(path)
    with pytest.raises(ConfigError) as caught:
        EngineSettings.from_env(str(tmp_path), env)
    message = str(caught.value)
    assert message.startswith(f"ENGINE_STUDIO_USERS: {path}:3: ")
    salts_and_keys = [part for part in re.split(r"[$:\n]", path.read_text()) if len(part) > 12]
    assert salts_and_keys
    assert not any(part in message for part in salts_and_keys)
    with pytest.raises(UsersFileError):
        studio_app(_view(tmp_path), StudioSettings(users_file=path))


def test_users_file_messages_say_what_is_wrong(tmp_path: Path) -> None:
    path = tmp_path / "users"
    for line, expected in BAD_LINES.items():
        path.write_text(line.replace("HASH", hash_password("x", n=2**10)) + "\n")
        with pytest.raises(UsersFileError) as caught:
            Access(StudioSettings(users_file=path))
        assert f"{path}:1: " in str(caught.value)
        assert expected in str(caught.value), (line, str(caught.value))
    path.write_text("maria:viewer:" + hash_password("x", n=2**10) + "\n" * 2)
    path.write_text(path.read_text() + path.read_text())
    with pytest.raises(UsersFileError, match=r":3: 'maria' is already on an earlier line"):
        Access(StudioSettings(users_file=path))
    with pytest.raises(UsersFileError, match=r"cannot read it"):
        Access(StudioSettings(users_file=tmp_path / "missing"))


def test_engine_serve_stops_on_a_bad_users_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "users"
    secret_part = "c2VjcmV0c2VjcmV0c2VjcmV0"
    path.write_text(f"maria:boss:scrypt$16384$8$1$c2FsdHNhbHRzYWx0${secret_part}\n")
    (tmp_path / "flows").mkdir()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", "whsec_c2VjcmV0c2VjcmV0")
    monkeypatch.setenv("ENGINE_STUDIO_USERS", str(path))
    for command in ("serve", "studio"):
        code, _, err = engine_cli(command, str(tmp_path / "flows"))
        assert code == 2, command
        assert f"engine {command}: ENGINE_STUDIO_USERS: {path}:1: role 'boss'" in err
        assert secret_part not in err


def _view(folder: Path) -> Any:
    """The little of an engine that building the studio's app reads."""
    return SimpleNamespace(settings=SimpleNamespace(flows_dir=str(folder)))


# -- engine studio-user --------------------------------------------------------------------


def _studio_user(monkeypatch: pytest.MonkeyPatch, typed: str, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(typed))
    return engine_cli("studio-user", *argv)


def test_studio_user_writes_a_hash_that_signs_in(
    studio_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "users"
    code, out, err = _studio_user(
        monkeypatch, "first-password\n", str(path), "maria", "--role", "editor"
    )
    assert (code, err) == (0, "")
    assert "maria (editor) added to" in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    code, out, _ = _studio_user(monkeypatch, "desk-password-22\n", str(path), "desk")
    assert code == 0 and "desk (viewer) added" in out
    text = path.read_text()
    assert "first-password" not in text and text.count("scrypt$") == 2

    async def main() -> None:
        async with studio_server(users_file=path, admin_token=None) as s, s.client() as client:
            page = await client.get(s.base + "/sign-in")
            assert 'name="token"' not in page.text
            await signed_in(client, s.base, name="maria", password="first-password")
            # A new password (the role kept): the old session ends, the new password works.
            code, out, _ = _studio_user(monkeypatch, "second-password\n", str(path), "maria")
            assert code == 0 and "maria (editor) changed in" in out
            assert (await client.get(s.base + "/flows")).status_code == 303
            answer = await client.post(
                s.base + "/sign-in", data={"name": "maria", "password": "first-password"}
            )
            assert answer.status_code == 401
            await signed_in(client, s.base, name="maria", password="second-password")
            page = await client.get(s.base + "/sign-in")
            assert 'signed-in-as">maria (editor)' in page.text
            code, out, _ = _studio_user(monkeypatch, "", str(path), "maria", "--remove")
            assert code == 0 and "taken out" in out
            assert (await client.get(s.base + "/flows")).status_code == 303

    run(main(), timeout=30)
    assert path.read_text().startswith("desk:viewer:scrypt$")


def test_studio_user_is_a_command() -> None:
    code, out, _ = engine_cli("studio-user", "--help")
    assert code == 0 and "--role {viewer,editor}" in out and "--remove" in out
    assert "studio-user" in engine_cli("--help")[1]


def test_studio_user_refuses_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "users"
    assert _studio_user(monkeypatch, "short\n", str(path), "maria")[0] == 2
    assert not path.exists()
    assert _studio_user(monkeypatch, "long-enough-pw\n", str(path), "bad name")[0] == 2
    assert _studio_user(monkeypatch, "long-enough-pw\n", str(path), "m", "--role", "boss")[0] == 2
    path.write_text("maria:owner:x\n")
    code, _, err = _studio_user(monkeypatch, "long-enough-pw\n", str(path), "desk")
    assert code == 2 and f"{path}:1:" in err and "nothing written" in err
    assert path.read_text() == "maria:owner:x\n"


# -- the sign-in limit ---------------------------------------------------------------------


def test_failed_sign_ins_are_limited_then_heard_again_after_the_window(
    studio_server: Any, tmp_path: Path
) -> None:
    now = [1000.0]
    path = users_file(tmp_path)

    async def main() -> None:
        async with (
            studio_server(users_file=path, sign_in_clock=lambda: now[0]) as s,
            s.client() as client,
        ):

            async def sign_in(form: dict[str, str], address: str = "10.0.0.1") -> Any:
                # uvicorn takes the client's address from X-Forwarded-For sent by loopback
                headers = {"X-Forwarded-For": address}
                return await client.post(s.base + "/sign-in", data=form, headers=headers)

            good = {"name": "maria", "password": PASSWORDS["maria"]}
            wrong = {"name": "maria", "password": "a-wrong-guess"}
            # Successes do not count.
            for _ in range(4):
                assert (await sign_in(wrong)).status_code == 401
            assert (await sign_in(good)).status_code == 303
            assert (await sign_in(wrong)).status_code == 401  # the fifth failure
            limited = await sign_in(good)
            assert limited.status_code == 429
            assert limited.headers["retry-after"] == "300"
            assert "Too many failed sign-ins. Try again in 5 minutes." in limited.text
            assert "set-cookie" not in limited.headers
            s.assert_no_secrets(limited.text)
            # The same name from another address: limited too (per name) ...
            assert (await sign_in(good, "10.0.0.2")).status_code == 429
            # ... and the first address for another name or the token (per address).
            assert (await sign_in({"token": ADMIN_TOKEN})).status_code == 429
            assert (await sign_in({"token": ADMIN_TOKEN}, "10.0.0.3")).status_code == 303
            now[0] += 60
            assert (await sign_in(good)).headers["retry-after"] == "240"
            now[0] += 241  # the oldest failure is older than the window now
            assert (await sign_in(good)).status_code == 303

    run(main(), timeout=30)


def test_the_limit_keeps_a_bounded_number_of_names() -> None:
    now = [0.0]
    limiter = SignInLimiter(5, 300.0, max_keys=100, clock=lambda: now[0])
    for i in range(10_000):
        limiter.failed(["addr:10.0.0.9", f"name:guess{i}"])
    assert len(limiter) == 100
    assert limiter.retry_after(["addr:10.0.0.9"]) == 300  # the address is still remembered
    assert limiter.retry_after(["name:guess0"]) is None  # the oldest names were forgotten
    at = limiter.failed(["addr:10.0.0.8"])
    limiter.succeeded(["addr:10.0.0.8"], at)
    for _ in range(4):
        limiter.failed(["addr:10.0.0.8"])
    assert limiter.retry_after(["addr:10.0.0.8"]) is None


def test_the_secret_check_finds_a_secret() -> None:
    environ = {"ACME_TOKEN": "acme-token-value", "HOME": "/home/x", "SHORT_KEY": "abc"}
    assert_no_secrets("<p>/home/x abc</p>", environ)
    with pytest.raises(AssertionError):
        assert_no_secrets("<p>acme-token-value</p>", environ)
    with pytest.raises(AssertionError):  # as HTML shows it
        assert_no_secrets("<p>xxxxxxxx&amp;&lt;</p>", {}, also=["xxxxxxxx&<"])
    assert csrf_of('<meta name="csrf" content="a&amp;b">') == "a&b"
