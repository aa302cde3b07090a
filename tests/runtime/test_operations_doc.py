"""docs/operations.md stays complete and true: every setting the engine reads, every route it
serves and every JSON log field it writes is there, found from the source and the running
code (not from a list kept in this test); the stop timeouts it shows outlast the drain; the
README's quick start makes a virtual environment and tests as CI does. (Metrics: their
table is in docs/runtime.md, held by test_metrics_doc.py.)
"""

from __future__ import annotations

import ast
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import yaml

from engine.logs import setup_logging
from engine.openai import OpenAIConfig
from engine.server import Engine, EngineSettings, create_app

REPO = Path(__file__).resolve().parents[2]
ENGINE = REPO / "engine"
DOC_PATH = REPO / "docs" / "operations.md"
DOC = DOC_PATH.read_text(encoding="utf-8")
VARIABLE = re.compile(r"(?:ENGINE|OPENAI)_[A-Z][A-Z0-9_]*")


def source_files() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(ENGINE.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def section(title: str) -> str:
    """The text of the ``## title`` section of docs/operations.md."""
    match = re.search(rf"(?ms)^## {re.escape(title)}\n(.*?)(?=^## |\Z)", DOC)
    assert match, f"docs/operations.md has no section {title!r}"
    return match[1]


# -- settings -----------------------------------------------------------------------------


def variables_read_by_the_engine() -> dict[str, str]:
    """Every string in engine/ that is a whole ENGINE_*/OPENAI_* name (what `env.get`,
    `_required` and `_count` are given), with where it was first seen."""
    found: dict[str, str] = {}
    for path, tree in source_files():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and VARIABLE.fullmatch(node.value)
            ):
                found.setdefault(node.value, f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_every_variable_the_engine_reads_is_documented():
    read = variables_read_by_the_engine()
    # The scan itself works: the two settings nothing runs without are among what it finds.
    assert {"OPENAI_API_KEY", "OPENAI_WEBHOOK_SECRET", "ENGINE_DRAIN_TIMEOUT"} <= set(read)
    settings = section("Settings")
    missing = {name: where for name, where in read.items() if f"| `{name}` |" not in settings}
    assert not missing, f"read but not in the settings table of docs/operations.md: {missing}"


def test_every_variable_documented_is_one_the_engine_reads():
    read = set(variables_read_by_the_engine())
    documented = set(VARIABLE.findall(DOC))
    assert documented - read == set(), "documented, but the engine reads no such variable"


# -- routes -------------------------------------------------------------------------------


def test_every_route_of_the_app_is_documented_with_its_method(tmp_path):
    config = OpenAIConfig(
        api_key="sk-test-docs", webhook_secret="whsec_ZG9jcw==", base_url="http://127.0.0.1:9/v1"
    )
    app = create_app(Engine(EngineSettings(flows_dir=str(tmp_path), openai=config)))
    routes = section("Routes")
    served = []
    for route in app.routes:
        for method in sorted(set(route.methods) - {"HEAD"}):
            served.append(f"{method} {route.path}")
    assert len(served) >= 5, served
    missing = [r for r in served if f"| `{r}` |" not in routes]
    assert not missing, f"served but not in the routes table of docs/operations.md: {missing}"


# -- logs ---------------------------------------------------------------------------------


def test_every_json_log_field_is_documented(capsys):
    root = logging.getLogger()
    saved_root = (root.handlers[:], root.level)
    quiet = ("httpx", "httpcore", "websockets", "uvicorn.access")
    saved_levels = {name: logging.getLogger(name).level for name in quiet}
    try:
        setup_logging("json")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("engine.server").exception(
                "the call failed", extra={"call_id": "rtc_docs"}
            )
    finally:
        root.handlers[:], level = saved_root
        root.setLevel(level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    record = json.loads(lines[0])
    assert {"call_id", "exception"} <= set(record), record
    logs = section("Logs")
    documented = set(re.findall(r"(?m)^\| `([a-z_]+)` \|", logs))
    assert set(record) - documented == set(), f"logged but not documented: {record}"


# -- shutting down, Docker ----------------------------------------------------------------


def seconds(text: str | int) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m)?", str(text).strip())
    assert match, text
    return float(match[1]) * (60 if match[2] == "m" else 1)


def yaml_blocks() -> list[object]:
    return [yaml.safe_load(block) for block in re.findall(r"(?ms)^```yaml\n(.*?)^```", DOC)]


def test_every_stop_timeout_shown_outlasts_the_drain():
    drain = EngineSettings.__dataclass_fields__["drain_timeout_s"].default
    shown = [seconds(n) for n in re.findall(r"--stop-timeout (\d+)", DOC)]
    shown += [seconds(n) for n in re.findall(r"stop_grace_period: (\d+[sm]?)", DOC)]
    shown += [seconds(n) for n in re.findall(r"terminationGracePeriodSeconds: (\d+)", DOC)]
    shown += [seconds(n) for n in re.findall(r"TimeoutStopSec=(\d+)", DOC)]
    assert len(shown) >= 4, shown
    assert all(s > drain for s in shown), (shown, drain)
    # The commands that run the image do set it: docker stop's 10 s would cut the drain.
    runs = [line for line in DOC.splitlines() if line.startswith("docker run -d")]
    assert runs and all("--stop-timeout" in line for line in runs), runs


def test_the_compose_example_is_valid_yaml_serving_the_images_flows_folder():
    composes = [b for b in yaml_blocks() if isinstance(b, dict) and "services" in b]
    assert len(composes) == 1, composes
    service = composes[0]["services"]["engine"]
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    cmd = json.loads(re.search(r"(?m)^CMD (\[.*\])$", dockerfile)[1])
    flows_dir = cmd[2]
    assert any(v.split(":")[1] == flows_dir for v in service["volumes"]), service["volumes"]
    drain = EngineSettings.__dataclass_fields__["drain_timeout_s"].default
    assert seconds(service["stop_grace_period"]) > drain


# -- README, links ------------------------------------------------------------------------


def test_readme_quick_start_makes_a_venv_and_tests_as_ci_does():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quick = re.search(r"(?ms)^## Quick start\n.*?^```sh\n(.*?)^```", readme)
    assert quick, "README has no quick start block"
    lines = [line.split("#")[0].strip() for line in quick[1].splitlines() if line.strip()]
    assert len(lines) == 2, lines  # two commands: the demo, the tests
    assert lines[0].startswith("python3 -m venv .venv && . .venv/bin/activate && "), lines[0]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    test_command = next(line for line in ci.splitlines() if "python -m pytest" in line)
    assert lines[1] == test_command.strip()


def test_operations_page_is_linked_from_the_readme_and_runtime_doc():
    for page in ("README.md", "docs/runtime.md"):
        text = (REPO / page).read_text(encoding="utf-8")
        assert "operations.md" in text, page
