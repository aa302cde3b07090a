"""Webhooks nested deep and values that try to write log lines (issue #12, item 10).

A signed webhook nested 1,000 deep answered 500 with a traceback; a newline in a call id or
in a flow file's name wrote a line of its own into the text log. Now the first answers 400
and every control character that reaches a log line is escaped, in text and in JSON.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import time
from pathlib import Path

import httpx
import pytest

from engine.runner import running_engine
from engine.server import Engine, EngineSettings
from engine.simulator import Simulator
from engine.simulator.webhooks import incoming_call_event, sign_webhook

FORGED = "\n2026-01-01T00:00:00 error   engine.server: FORGED LINE"
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d ")
FLOW = """\
name: Line
numbers: ["+18005551212"]
instructions: You are a helpful agent.
"""


def _engine(folder: Path, sim: Simulator) -> Engine:
    folder.mkdir(exist_ok=True)
    (folder / "line.yaml").write_text(FLOW, encoding="utf-8")
    return Engine(EngineSettings(flows_dir=str(folder), openai=sim.config()), environ={})


async def _post_signed(url: str, sim: Simulator, body: bytes) -> httpx.Response:
    webhook_id, stamp = "wh_test", int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign_webhook(sim.webhook_secret, webhook_id, stamp, body),
    }
    async with httpx.AsyncClient() as http:
        return await http.post(url + "/webhooks/openai", content=body, headers=headers)


def _text_lines_are_records(text: str) -> None:
    """Every line starts a record (a time stamp) or is an indented traceback line."""
    for line in text.splitlines():
        assert STAMP.match(line) or line.startswith("    "), line


@pytest.mark.parametrize("depth", [900, 1_000, 40_000])
def test_a_deeply_nested_signed_webhook_answers_400(
    tmp_path: Path, text_log: io.StringIO, depth: int
) -> None:
    body = '{"type":"realtime.call.incoming","data":' + '{"a":' * depth + "1" + "}" * depth
    body += "}"

    async def main() -> int:
        async with Simulator() as sim, running_engine(_engine(tmp_path / "f", sim)) as url:
            return (await _post_signed(url, sim, body.encode())).status_code

    assert asyncio.run(main()) == 400
    logged = text_log.getvalue()
    assert "nested too deeply" in logged
    assert "Traceback" not in logged


def test_a_newline_in_a_call_id_cannot_write_a_log_line(
    tmp_path: Path, text_log: io.StringIO
) -> None:
    event = incoming_call_event(
        event_id="evt_1",
        call_id="rtc_x" + FORGED,
        sip_headers=[
            {"name": "From", "value": "<sip:+14155550100@carrier.example>"},
            {"name": "To", "value": "<sip:+18005551212@sip.api.openai.com>"},
        ],
        media_security="srtp",
        created_at=int(time.time()),
    )

    async def main() -> None:
        async with Simulator() as sim, running_engine(_engine(tmp_path / "f", sim)) as url:
            await _post_signed(url, sim, json.dumps(event).encode())

    asyncio.run(main())
    logged = text_log.getvalue()
    assert "rtc_x\\n2026-01-01T00:00:00 error   engine.server: FORGED LINE" in logged
    assert not any(line.startswith("2026-01-01") for line in logged.splitlines())
    _text_lines_are_records(logged)


def test_a_newline_in_a_flow_file_name_cannot_write_a_log_line(
    tmp_path: Path, text_log: io.StringIO
) -> None:
    folder = tmp_path / "flows"
    folder.mkdir()
    # A file that does not lint, so its name is logged with its problems.
    (folder / f"bad{FORGED}\x1b[2J.yaml").write_text("name: [unclosed\n", encoding="utf-8")

    async def main() -> None:
        async with Simulator() as sim, running_engine(_engine(folder, sim)):
            pass

    asyncio.run(main())
    logged = text_log.getvalue()
    assert "flow not loaded" in logged
    assert "bad\\n2026-01-01T00:00:00 error   engine.server: FORGED LINE\\x1b[2J.yaml" in logged
    assert "\x1b" not in logged
    _text_lines_are_records(logged)


def test_json_log_lines_escape_control_characters(json_log: io.StringIO) -> None:
    log = logging.getLogger("engine.test")
    log.warning("value %s", "a\nb\x1bc\x85d\u2028e", extra={"call_id": "rtc\n1"})
    try:
        raise ValueError("bad\nline")
    except ValueError:
        log.exception("failed")
    lines = json_log.getvalue().splitlines()
    assert len(lines) == 2
    for line in lines:
        assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029]", line), line
    first = json.loads(lines[0])
    assert first["message"] == "value a\nb\x1bc\x85d\u2028e"  # the value, kept exactly
    assert first["call_id"] == "rtc\n1"
    assert "bad\nline" in json.loads(lines[1])["exception"]


def test_a_traceback_stays_under_its_record(text_log: io.StringIO) -> None:
    log = logging.getLogger("engine.test")
    try:
        raise ValueError("bad" + FORGED)
    except ValueError:
        log.exception("failed")
    _text_lines_are_records(text_log.getvalue())
    assert "FORGED LINE" in text_log.getvalue()
