"""What the engine says about its flows: the `/flows` route and the log lines of a reload.

A refused file that is then deleted leaves `/flows`; a refused file with no earlier version
is not said to keep one; a loaded flow's warnings are logged; each problem's place and rule
are fields of the log record (JSON logs show them as fields).
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timedelta

import pytest

LINE = """\
name: Line
numbers: ["+18005550001"]
instructions: You answer the line.
"""

THIEF = """\
name: Thief
numbers: ["+18005550001"]
instructions: You answer someone else's number.
"""

UNUSED_TOOL = """\
name: Desk
numbers: ["+18005550002"]
instructions: You answer the desk.
states:
  triage:
    instructions: Find out what the caller needs.
    tools: [goodbye]
tools:
  to_billing:
    description: Transfer the caller to billing.
    transfer: "tel:+15551230000"
  goodbye:
    description: End the call.
    hangup: true
"""

BROKEN = """\
name: Broken
numbers: ["+18005550003"]
instructions: You answer.
start: nowhere
"""

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def records(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in r.getMessage()]


def test_flows_gives_loaded_at_in_iso_utc_and_each_problems_hint(rt):
    async def main():
        async with rt(flows={"line.yaml": LINE, "broken.yaml": BROKEN}) as h:
            status = await h.flow_status()
            loaded_at = status["line.yaml"]["loaded_at"]
            assert ISO_UTC.match(loaded_at), loaded_at
            assert datetime.fromisoformat(loaded_at).utcoffset() == timedelta(0)
            [problem] = status["broken.yaml"]["problems"]
            assert problem["rule"] == "unknown-state"
            assert problem["hint"], problem  # the same hint `engine lint` gives
            assert status["broken.yaml"]["loaded_at"] is None

    asyncio.run(main())


def test_a_file_refused_for_a_taken_number_then_deleted_leaves_flows(rt):
    async def main():
        async with rt(flows={"line.yaml": LINE}) as h:
            thief = h.write_flow("zz-thief.yaml", THIEF)
            status = await h.wait_flow_status(
                lambda s: "zz-thief.yaml" in s, "the refused file to show"
            )
            rules = [p["rule"] for p in status["zz-thief.yaml"]["problems"]]
            assert rules == ["duplicate-number"]
            thief.unlink()
            await h.wait_flow_status(lambda s: "zz-thief.yaml" not in s, "the deleted file to go")
            placed = await h.place(to="+18005550001")
            assert placed.status == 200
            assert placed.call.accept_body["instructions"].startswith("You answer the line.")

    asyncio.run(main())


def test_a_refused_file_says_whether_an_earlier_version_answers(rt, caplog):
    caplog.set_level(logging.INFO, logger="engine")

    async def main():
        async with rt(flows={"line.yaml": LINE, "broken.yaml": BROKEN}) as h:
            # At start-up nothing of broken.yaml ever answered.
            [first] = records(caplog, "broken.yaml")
            assert first.levelno == logging.ERROR
            assert "flow not loaded (no earlier version is answering)" in first.getMessage()
            assert "last good version" not in caplog.text

            # A live flow broken by an edit: its last good version keeps answering.
            h.write_flow("line.yaml", LINE + "start: nowhere\n")
            await h.wait_for(
                lambda: records(caplog, "last good version keeps answering"), 5, "the log line"
            )
            [kept] = records(caplog, "last good version keeps answering")
            assert kept.levelno == logging.ERROR and "line.yaml" in kept.getMessage()

            # A new file with a mistake has no earlier version either.
            h.write_flow("new.yaml", BROKEN.replace("+18005550003", "+18005550004"))
            await h.wait_for(lambda: records(caplog, "new.yaml"), 5, "the log line")
            [new] = records(caplog, "new.yaml")
            assert "(no earlier version is answering)" in new.getMessage()

    asyncio.run(main())


def test_problems_are_logged_with_file_rule_and_line_as_fields(rt, caplog):
    caplog.set_level(logging.INFO, logger="engine")

    async def main():
        async with rt(flows={"desk.yaml": UNUSED_TOOL, "broken.yaml": BROKEN}) as h:
            assert (await h.flow_status())["desk.yaml"]["version"]  # loaded despite its warning

    asyncio.run(main())
    [warning] = records(caplog, "flow loaded with a warning")
    assert warning.levelno == logging.WARNING
    assert warning.rule == "unused-tool"  # type: ignore[attr-defined]
    assert warning.file.endswith("desk.yaml")  # type: ignore[attr-defined]
    assert (warning.line, warning.col) == (9, 3)  # type: ignore[attr-defined]
    assert "(hint: " in warning.getMessage()
    [error] = records(caplog, "flow not loaded")
    assert error.rule == "unknown-state"  # type: ignore[attr-defined]
    assert error.file.endswith("broken.yaml")  # type: ignore[attr-defined]
    assert error.line == 4  # type: ignore[attr-defined]
    [loaded] = [r for r in records(caplog, "flow loaded: ") if r.file.endswith("desk.yaml")]
    assert loaded.levelno == logging.INFO


def test_an_empty_flows_folder_is_warned_about_at_start_up(rt, caplog):
    caplog.set_level(logging.INFO, logger="engine")

    async def main():
        async with rt():
            pass

    asyncio.run(main())
    [warning] = records(caplog, "no flow loaded from")
    assert warning.levelno == logging.WARNING
    assert "every call is rejected" in warning.getMessage()
