"""Fixtures of the studio's browser tests: Playwright (sync API) driving the system's
Chromium against ``engine studio`` run as a real child process.

- ``browser`` (module scope): one headless Chromium for a module's tests. Skipped, with the
  reason, when Playwright is not installed or no Chromium is found (``ENGINE_CHROMIUM``, else
  ``chromium``, ``chromium-browser``, ``google-chrome`` on PATH; ``.ci/run`` installs Debian's).
  Playwright's own browser downloads are never used.
- ``studio`` (module scope): ``engine studio`` over a copy of the repository's ``flows/`` on a
  free loopback port, records in a SQLite file, an admin token, and a users file with a
  viewer (``studio_browser.Studio``).
- ``page`` (per test): a fresh browser context (no cookies) at 1280x800; ``new_page(**options)``
  opens more (another person, JavaScript off, ...). At the end of the test each fails if it
  asked any host but the studio for anything (the studio works offline: no CDN) or logged a
  console error or an uncaught exception.
- ``shot``: ``shot(page, "name")`` saves a screenshot to ``$ENGINE_STUDIO_SCREENSHOTS/name.png``
  when that variable is set (``bench/studio_screenshots.py`` sets it), and does nothing
  otherwise (``shot.on`` says which).

Playwright's sync API runs its own event loop, and while it is open ``asyncio.run`` cannot be
called in this thread (every other test's ``helpers.run`` would fail). So the browser is
closed at the end of each module (a folder without ``__init__.py`` is no package to scope it
to: "package" would mean the whole session), and these tests talk to the studio over HTTP
only, never through ``helpers.run``. Launching Chromium takes about half a second.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from studio_browser import Shots, Studio, Watch, find_chromium, started_studio


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed (pip install -e '.[test]')"
    )
    chromium = find_chromium()
    if chromium is None:
        pytest.skip(
            "no Chromium found (set ENGINE_CHROMIUM, or put chromium, chromium-browser or "
            "google-chrome on PATH; .ci/run installs Debian's chromium with apt)"
        )
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def studio(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    # Needs the browser first: a module whose browser is skipped starts no studio.
    with started_studio(tmp_path_factory.mktemp("studio")) as running:
        yield running


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed  # the page's own checks add nothing then
    return report


CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def new_page(
    browser: Any, studio: Studio, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Any]]:
    """``new_page(**context_options)``: a page in a fresh browser context (no cookies), at
    1280x800 unless told otherwise, watched (``Watch``) until the test ends."""
    opened: list[tuple[Any, Watch]] = []

    def open_page(**options: Any) -> Any:
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = browser.new_context(locale="en-US", **options)
        context.set_default_timeout(10_000)
        tab = context.new_page()
        watch = Watch(studio.origin)
        watch.attach(tab)
        tab.watch = watch  # a test allows an expected console message: page.watch.allow(...)
        opened.append((context, watch))
        return tab

    try:
        yield open_page
    finally:
        for context, _ in opened:
            context.close()
    if not request.node.stash.get(CALL_FAILED, False):
        for _, watch in opened:
            watch.check()


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    return new_page()


@pytest.fixture
def shot() -> Shots:
    folder = os.environ.get("ENGINE_STUDIO_SCREENSHOTS", "").strip()
    return Shots(Path(folder) if folder else None)
