"""The checked-in JSON Schema: in step with the models, documented, and true of the examples."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from engine.cli import main
from engine.flow.lint import is_flow_file
from engine.flow.schema import flow_schema, flow_schema_text
from engine.flow.source import load_source

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "schemas" / "flow.schema.json"
EXAMPLES = sorted(p for p in (ROOT / "flows").glob("*.y*ml") if is_flow_file(p))
MODELINE = "# yaml-language-server: $schema=../schemas/flow.schema.json"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_checked_in_schema_matches_the_models() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == flow_schema_text(), (
        "schemas/flow.schema.json is out of date with engine/flow/model.py; regenerate it with: "
        "engine schema > schemas/flow.schema.json"
    )


def test_schema_text_is_the_schema() -> None:
    assert json.loads(flow_schema_text()) == flow_schema()
    assert flow_schema_text().endswith("}\n")


def test_engine_schema_prints_it() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["schema"]) == 0
    assert out.getvalue() == flow_schema_text()


def test_engine_schema_as_a_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "engine", "schema"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == SCHEMA_FILE.read_text(encoding="utf-8")


def test_schema_is_draft_2020_12(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "Call flow"
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"name", "numbers", "instructions"}


def properties(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (path, property schema) under any ``properties`` in the schema."""
    if isinstance(node, dict):
        for name, sub in (node.get("properties") or {}).items():
            yield f"{where}.{name}", sub
        for key, value in node.items():
            yield from properties(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from properties(item, f"{where}[{i}]")


def test_every_property_has_a_description(schema: dict[str, Any]) -> None:
    found = list(properties(schema))
    assert len(found) > 25  # the walk reaches the nested models
    missing = [path for path, sub in found if not str(sub.get("description", "")).strip()]
    assert missing == [], f"properties without a description (editors show it on hover): {missing}"


def test_every_model_has_a_description(schema: dict[str, Any]) -> None:
    assert schema["description"].strip()
    for name, definition in schema["$defs"].items():
        assert definition.get("description", "").strip(), name


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_flow_starts_with_the_schema_modeline(example: Path) -> None:
    first = example.read_text(encoding="utf-8").splitlines()[0]
    assert first == MODELINE
    # And the modeline points at the checked-in schema.
    target = (example.parent / MODELINE.split("$schema=", 1)[1]).resolve()
    assert target == SCHEMA_FILE.resolve()


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_flow_validates_against_the_schema(
    example: Path, validator: Draft202012Validator
) -> None:
    data = load_source(str(example), example.read_text(encoding="utf-8")).data
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
    assert errors == []


def test_there_are_examples() -> None:
    assert {p.name for p in EXAMPLES} >= {"acme-support.yaml", "catch-all.yaml"}


@pytest.mark.parametrize(
    "text",
    [
        'name: x\nnumbers: ["+18005551212"]\ninstructions: x\ncolour: red\n',  # unknown key
        "name: x\nnumbers: [+18005551212]\ninstructions: x\n",  # a number, not text
        'name: x\nnumbers: ["800-555"]\ninstructions: x\n',  # not E.164
        "name: x\nnumbers: []\ninstructions: x\n",
        'numbers: ["+18005551212"]\ninstructions: x\n',  # no name
        'name: x\nnumbers: ["*"]\ninstructions: x\ntools: {t: {description: d, hangup: "yes"}}\n',
        'name: x\nnumbers: ["*"]\ninstructions: x\n'
        "tools: {t: {description: d, http: {url: u, timeout: 60}}}\n",
        'name: x\nnumbers: ["*"]\ninstructions: x\n'
        "tools: {t: {description: d, http: {url: u, method: FETCH}}}\n",
    ],
)
def test_the_schema_rejects_broken_flows(text: str, validator: Draft202012Validator) -> None:
    assert not validator.is_valid(load_source("f", text).data)
