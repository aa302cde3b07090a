"""Fixtures of the studio tests (helpers in studio_kit.py: ``from studio_kit import signed_in,
assert_no_secrets, ...``).

- ``studio_flows``: a temporary copy of the repository's ``flows/`` folder.
- ``studio_server``: ``async with studio_server(**options) as s:`` — the engine and its studio
  on loopback over ``studio_flows`` (``studio_kit.StudioServer``: ``s.base``, ``s.url``,
  ``s.engine``, ``s.sim``, ``s.flows``, ``s.token``, ``s.client()``).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from studio_kit import REPO_FLOWS, StudioServer, assert_no_secrets, signed_in, studio_server_at

__all__ = ["assert_no_secrets", "signed_in"]  # also here, for those who look for them here


@pytest.fixture
def studio_flows(tmp_path: Path) -> Path:
    """A copy of the repository's flows folder (flows and their scenarios), this test's own."""
    folder = tmp_path / "flows"
    shutil.copytree(REPO_FLOWS, folder)
    return folder


@pytest.fixture
def studio_server(
    tmp_path: Path, studio_flows: Path
) -> Callable[..., contextlib.AbstractAsyncContextManager[StudioServer]]:
    """``async with studio_server(**options) as s:`` — the engine and its studio on loopback
    over ``studio_flows`` (see the module's docstring for ``s`` and the options)."""

    def start(**options: Any) -> contextlib.AbstractAsyncContextManager[StudioServer]:
        return studio_server_at(tmp_path, studio_flows, **options)

    return start
