"""The attack tests run against the runtime harness: the simulator and the engine on loopback,
and outside services on loopback (``rt`` and ``serve`` from tests/runtime/conftest.py)."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

_HARNESS = Path(__file__).resolve().parents[1] / "runtime" / "conftest.py"
_spec = importlib.util.spec_from_file_location("tests_runtime_harness", _HARNESS)
assert _spec is not None and _spec.loader is not None
harness = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = harness
_spec.loader.exec_module(harness)

rt = harness.rt
serve = harness.serve


def _tool_outputs(call: Any) -> list[dict[str, Any]]:
    return [
        json.loads(e["item"]["output"])
        for e in call.client_events_of("conversation.item.create")
        if e["item"]["type"] == "function_call_output"
    ]


@pytest.fixture
def tool_outputs() -> Callable[[Any], list[dict[str, Any]]]:
    """``tool_outputs(call)``: what the model was told, one function_call_output after
    another."""
    return _tool_outputs
