"""The two log formats `engine serve --log-format text|json` writes, line by line.

Each test sets up logging as `engine serve` does and reads what the handler wrote; the
escaping of control characters has its own tests (tests/security/test_log_escaping.py).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from pathlib import Path

from engine.runner import running_engine
from engine.server import Engine, EngineSettings
from engine.simulator import Simulator

TEXT_LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d) (?P<level>\w+) +(?P<logger>[\w.]+)"
    r"(?: call=(?P<call>\S+))?: (?P<message>.*)$"
)
BROKEN = """\
name: Broken
numbers: ["+18005550003"]
instructions: You answer.
start: nowhere
"""


def test_text_lines_carry_time_level_logger_call_id_and_message(text_log: io.StringIO) -> None:
    log = logging.getLogger("engine.test")
    log.warning("transfer: REFER to %s", "sip:+15551230000@x", extra={"call_id": "rtc_1"})
    log.info("flow loaded: %s", "flows/a.yaml", extra={"file": "flows/a.yaml"})
    log.debug("not shown at INFO")
    first, second = text_log.getvalue().splitlines()
    one = TEXT_LINE.match(first)
    assert one, first
    assert one["level"] == "warning" and one["logger"] == "engine.test"
    assert one["call"] == "rtc_1"
    assert one["message"] == "transfer: REFER to sip:+15551230000@x"
    two = TEXT_LINE.match(second)
    assert two, second
    assert two["call"] is None
    # Fields passed with `extra` are in the message already; the text line does not repeat them.
    assert two["message"] == "flow loaded: flows/a.yaml"


def test_json_lines_are_objects_with_fields(json_log: io.StringIO) -> None:
    log = logging.getLogger("engine.test")
    log.warning("call ended: %s", "transferred", extra={"call_id": "rtc_1"})
    log.error(
        "flow not loaded: f.yaml:4:8: no state [unknown-state]",
        extra={"file": "f.yaml", "line": 4, "col": 8, "rule": "unknown-state"},
    )
    first, second = (json.loads(line) for line in json_log.getvalue().splitlines())
    assert set(first) == {"time", "level", "logger", "message", "call_id"}
    assert isinstance(first["time"], float)
    assert first["level"] == "warning" and first["logger"] == "engine.test"
    assert first["message"] == "call ended: transferred" and first["call_id"] == "rtc_1"
    assert set(second) == {"time", "level", "logger", "message", "file", "line", "col", "rule"}
    assert (second["file"], second["line"], second["col"], second["rule"]) == (
        "f.yaml",
        4,
        8,
        "unknown-state",
    )


def test_a_flow_that_does_not_load_is_logged_in_json_with_its_place_and_rule(
    tmp_path: Path, json_log: io.StringIO
) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "broken.yaml").write_text(BROKEN, encoding="utf-8")

    async def main() -> None:
        async with Simulator() as sim:
            engine = Engine(EngineSettings(flows_dir=str(folder), openai=sim.config()), environ={})
            async with running_engine(engine):
                pass

    asyncio.run(main())
    entries = [json.loads(line) for line in json_log.getvalue().splitlines()]
    [problem] = [e for e in entries if "flow not loaded" in e["message"]]
    assert problem["level"] == "error"
    assert problem["file"] == str(folder / "broken.yaml")
    assert (problem["line"], problem["rule"]) == (4, "unknown-state")
    assert "(no earlier version is answering)" in problem["message"]
