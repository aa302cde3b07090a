"""Fixtures every test folder may use. Plain helper functions are in tests/helpers.py, the
runtime harness in tests/harness.py."""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.logs import setup_logging

from harness import Harness, harness
from helpers import serving

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost", None})


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests reach nothing off loopback: a name lookup of any other host fails (as an
    unknown name would), and the test fails at its end naming the hosts it tried."""
    tried: list[str] = []
    real = socket.getaddrinfo

    def loopback_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in _LOOPBACK:
            tried.append(str(name))
            raise socket.gaierror(socket.EAI_NONAME, f"{name}: off loopback in tests")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_getaddrinfo)
    yield
    assert not tried, f"the test looked up hosts off loopback: {sorted(set(tried))}"


def _engine_logging(fmt: str) -> Iterator[io.StringIO]:
    """The engine's own log set-up (as `engine serve` has it), written to a buffer; the root
    logger is put back as it was afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    setup_logging(fmt, level=logging.INFO)
    buffer = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


@pytest.fixture
def text_log() -> Iterator[io.StringIO]:
    """What the engine logs in its text format."""
    yield from _engine_logging("text")


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What the engine logs in its JSON format."""
    yield from _engine_logging("json")


@pytest.fixture
def rt(tmp_path: Path) -> Callable[..., contextlib.AbstractAsyncContextManager[Harness]]:
    """``async with rt(flows={...}) as h:`` — the simulator and the engine on loopback, on
    this test's temporary flows folder (tests/harness.py)."""
    return functools.partial(harness, tmp_path)


@pytest.fixture
def serve() -> Callable[[Any], contextlib.AbstractAsyncContextManager[str]]:
    """``async with serve(app) as base_url:`` — an outside HTTP service on loopback."""
    return serving
