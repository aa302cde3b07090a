"""Helpers of the studio's browser tests (fixtures in conftest.py).

- ``find_chromium()``: the Chromium to drive, or None.
- ``started_studio(folder)``: ``engine studio`` as a child process on a free loopback port
  over a copy of the repository's flows, until the block ends (``Studio``).
- ``Shots``: screenshots of the pages, into a folder (or none).
- ``Watch``: what a page asked for and logged; ``check()`` fails on a request to any other
  host than the studio, a console error or an uncaught exception.
- ``sign_in(page, studio)``: the sign-in form, as a person fills it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from helpers import free_port

__all__ = [
    "ADMIN_TOKEN",
    "VIEWER",
    "Shots",
    "Studio",
    "Watch",
    "find_chromium",
    "sign_in",
    "started_studio",
]

REPO = Path(__file__).resolve().parents[3]
ADMIN_TOKEN = "browser-admin-token-0123456789abcdef"
VIEWER = ("desk", "viewer-password-4f2a")  # a viewer in the users file
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


def find_chromium() -> str | None:
    """``ENGINE_CHROMIUM`` if set (and there), else the first Chromium on PATH."""
    given = os.environ.get("ENGINE_CHROMIUM", "").strip()
    if given:
        return given if Path(given).is_file() else shutil.which(given)
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Studio:
    origin: str  # http://127.0.0.1:PORT
    base: str  # http://127.0.0.1:PORT/studio
    flows: Path  # the flows folder it serves (a copy)
    token: str  # the admin token: signs in as admin, an editor
    viewer: tuple[str, str]  # name and password of a viewer
    log: Path  # the child's stdout and stderr

    def url(self, path: str) -> str:
        return self.base + path


def _environ(**ours: str) -> dict[str, str]:
    """This process's environment without the engine's and OpenAI's settings, plus ours."""
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("ENGINE_", "OPENAI_", "ACME_"))
    }
    path = os.environ.get("PYTHONPATH", "")
    environ["PYTHONPATH"] = str(REPO) + (os.pathsep + path if path else "")
    return environ | ours


def _add_user(users: Path, name: str, password: str, role: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "engine", "studio-user", str(users), name, "--role", role],
        input=password + "\n",
        text=True,
        env=_environ(),
        check=True,
        capture_output=True,
        timeout=30,
    )


def _wait_ready(child: subprocess.Popen[bytes], base: str, log: Path) -> None:
    """Poll the sign-in page until it answers; fail with the child's output if it exits."""
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while True:
            if child.poll() is not None:
                raise RuntimeError(
                    f"engine studio exited with {child.returncode}:\n{log.read_text()[-3000:]}"
                )
            with contextlib.suppress(httpx.TransportError):
                if client.get(base + "/sign-in").status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"engine studio did not answer within {START_TIMEOUT_S:.0f} s:\n"
                    f"{log.read_text()[-3000:]}"
                )
            time.sleep(0.05)


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)  # engine studio stops cleanly on SIGTERM
        try:
            child.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@contextlib.contextmanager
def started_studio(folder: Path) -> Iterator[Studio]:
    """``engine studio`` over a copy of the repository's flows, on a free loopback port."""
    flows = folder / "flows"
    shutil.copytree(REPO / "flows", flows)
    users = folder / "studio-users"
    _add_user(users, *VIEWER, role="viewer")
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    log = folder / "engine-studio.log"
    environ = _environ(
        ENGINE_ADMIN_TOKEN=ADMIN_TOKEN,
        ENGINE_STUDIO_USERS=str(users),
        ENGINE_DATABASE_URL=f"sqlite:///{folder / 'records.db'}",
        ACME_TOKEN="ci-placeholder",
    )
    with log.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "engine", "studio", str(flows), "--port", str(port)],
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=folder,
        )
        try:
            _wait_ready(child, origin + "/studio", log)
            yield Studio(origin, origin + "/studio", flows, ADMIN_TOKEN, VIEWER, log)
        finally:
            _stop(child)


@dataclass
class Shots:
    """Screenshots into ``folder``, or none when it is None."""

    folder: Path | None

    @property
    def on(self) -> bool:
        return self.folder is not None

    def __call__(self, page: Any, name: str, **options: Any) -> None:
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(self.folder / f"{name}.png"), **options)


@dataclass
class Watch:
    """Every request a page makes, and what it logs as errors."""

    origin: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _console(self, message: Any) -> None:
        # base.html names an empty icon, so Chromium asks for no /favicon.ico (a 404 here).
        if message.type == "error":
            self.errors.append(f"console: {message.text} ({message.location.get('url', '')})")

    def allow(self, pattern: str) -> None:
        """A console error this test expects (e.g. the 403 a refused change answers)."""
        self.allowed.append(re.compile(pattern))

    def check(self) -> None:
        elsewhere = sorted(
            {u for u in self.requests if _origin(u) != self.origin and not u.startswith("data:")}
        )
        assert not elsewhere, f"the page asked other hosts than the studio: {elsewhere}"
        assert self.requests, "the page asked for nothing (was the request hook on?)"
        errors = [e for e in self.errors if not any(p.search(e) for p in self.allowed)]
        assert not errors, "the page logged errors:\n" + "\n".join(errors)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def sign_in(page: Any, studio: Studio, *, user: tuple[str, str] | None = None) -> None:
    """Open the studio's flows (sent to sign in), fill the form and land on the flows."""
    page.goto(studio.url("/flows"))
    page.wait_for_url(re.compile(r"/studio/sign-in"))
    form = page.get_by_test_id("sign-in")
    if user is None:
        form.locator("input[name=token]").fill(studio.token)
    else:
        form.locator("input[name=name]").fill(user[0])
        form.locator("input[name=password]").fill(user[1])
    form.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/studio/flows$"))
