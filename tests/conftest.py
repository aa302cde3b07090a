"""Fixtures every test folder may use. Plain helper functions are in tests/helpers.py, the
runtime harness in tests/harness.py."""

from __future__ import annotations

import contextlib
import functools
import io
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.logs import setup_logging

from harness import Harness, harness
from helpers import serving


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
