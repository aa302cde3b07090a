"""Fixtures every test folder may use."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from engine.logs import setup_logging


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
