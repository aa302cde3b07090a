"""`engine calls`, `engine calls show ID` and `engine db upgrade` over a real records
database: what a flow author reads, the filters, and a clear line for every mistake."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from records_kit import T0, make_record

from engine.cli import main as engine
from engine.records import CallOutcome
from engine.records.database import open_database
from engine.records.migrate import head_revision, upgrade
from engine.records.store import CallStore

REPO = Path(__file__).resolve().parents[2]


def keep(url, records):
    async def main():
        database = open_database(url)
        await upgrade(database)
        await CallStore(database).upsert(records, "replica-1")
        await database.dispose()

    asyncio.run(main())


@pytest.fixture
def kept(sqlite_url, monkeypatch):
    keep(
        sqlite_url,
        [
            make_record("rtc_acme", at=T0),
            make_record(
                "rtc_orders",
                at=T0 + timedelta(minutes=5),
                flow="orders",
                outcome=CallOutcome.HANDLED,
                ended_how="hangup_tool",
                headers={"X-Name": "\x1b[2Jevil\nfake line"},
                transcript=None,
            ),
        ],
    )
    monkeypatch.setenv("ENGINE_DATABASE_URL", f"sqlite:///{sqlite_url.database}")
    return sqlite_url


def test_engine_calls_lists_the_calls_newest_first(kept, capsys):
    assert engine(["calls"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "RECEIVED", "(UTC)", "CALL", "FLOW", "FROM", "TO", "OUTCOME", "ENDED", "LENGTH"
    ]  # fmt: skip
    assert lines[1].split() == [
        "2026-11-24", "15:05:00", "rtc_orders", "orders", "+14155550100", "+18005551212",
        "handled", "hangup_tool", "10.0", "s",
    ]  # fmt: skip
    assert lines[2].split()[2:4] == ["rtc_acme", "acme-support"]
    assert len(lines) == 3


def test_engine_calls_filters(kept, capsys):
    def listed(*options):
        assert engine(["calls", *options]) == 0
        return [line.split()[2] for line in capsys.readouterr().out.splitlines()[1:]]

    assert listed("--outcome", "handled") == ["rtc_orders"]
    assert listed("--flow", "acme-support.yaml") == ["rtc_acme"]
    assert listed("--number", "+18005551212") == ["rtc_orders", "rtc_acme"]
    assert listed("--since", "2026-11-24T15:01", "--until", "2026-11-24T16:00") == ["rtc_orders"]
    assert listed("--day", "2026-11-24") == ["rtc_orders", "rtc_acme"]
    assert engine(["calls", "--day", "2026-11-25"]) == 0
    assert capsys.readouterr().out == "no calls match\n"
    assert engine(["calls", "--number", "+19999999999"]) == 0
    assert capsys.readouterr().out == "no calls match\n"


def test_engine_calls_as_json(kept, capsys):
    assert engine(["calls", "--format", "json", "--limit", "1"]) == 0
    page = json.loads(capsys.readouterr().out)
    assert [c["call_id"] for c in page["calls"]] == ["rtc_orders"] and page["next"]
    assert engine(["calls", "--format", "json", "--before", page["next"]]) == 0
    assert [c["call_id"] for c in json.loads(capsys.readouterr().out)["calls"]] == ["rtc_acme"]
    assert engine(["calls", "show", "rtc_acme", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["tools"][0]["name"] == "lookup_order"


def test_engine_calls_show_tells_the_call_in_order(kept, capsys):
    assert engine(["calls", "show", "rtc_acme"]) == 0
    out = capsys.readouterr().out
    expected = [
        "call rtc_acme: transferred (transferred)",
        "  flow      acme-support (flows/acme-support.yaml, version 3f2a9c01d4e7)",
        "  caller    +14155550100 → +18005551212",
        "  received  2026-11-24 15:00:00.000 UTC",
        "  decision  accepted",
        "  ended     +10.000 s, transferred",
        "timeline",
        "    +0.000 s  decision  accepted with flow acme-support",
        "    +2.000 s  heard     Where is my order?",
        "tools",
        "    +4.000 s  lookup_order  ok  HTTP 200  123 ms",
        '              arguments {"order": "A-17"}',
        "transfers",
        "    +9.000 s  sip:+15551230000@sip.acme.example: took",
        "transcript",
        "    +2.000 s  caller: Where is my order?",
    ]
    lines = out.splitlines()
    at = 0
    for wanted in expected:  # each in this order
        assert wanted in lines[at:], f"{wanted!r} not after line {at}:\n{out}"
        at = lines.index(wanted, at) + 1


def test_what_a_caller_sent_cannot_drive_the_terminal(kept, capsys):
    assert engine(["calls", "show", "rtc_orders"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\nfake line" not in out
    assert "  header    X-Name: \\x1b[2Jevil\\nfake line" in out.splitlines()
    assert "transcript: turned off by the flow" in out


def test_mistakes_get_one_line_and_an_exit_status(kept, capsys):
    assert engine(["calls", "show", "rtc_nope"]) == 1
    assert capsys.readouterr().err == "engine calls show: no record of call 'rtc_nope'\n"
    assert engine(["calls", "--since", "yesterday"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("engine calls: --since 'yesterday' is not a time")
    assert engine(["calls", "--limit", "0"]) == 2
    assert "--limit must be a whole number from 1 to 500" in capsys.readouterr().err


def test_no_records_yet_says_where_they_would_be(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("ENGINE_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert engine(["calls"]) == 0
    err = capsys.readouterr().err
    assert f"no call records yet: {tmp_path / 'engine-records.db'} does not exist" in err
    assert not (tmp_path / "engine-records.db").exists()  # reading creates nothing


def test_an_unreachable_database_is_named_without_its_password(monkeypatch, capsys):
    monkeypatch.setenv("ENGINE_DATABASE_URL", "postgresql://engine:s3cret-pw@127.0.0.1:9/calls")
    assert engine(["calls"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "engine calls: the records database postgresql+asyncpg://engine:***@127.0.0.1:9/calls "
        "did not answer"
    )
    assert "s3cret-pw" not in err
    monkeypatch.setenv("ENGINE_DATABASE_URL", "mysql://engine:s3cret-pw@db/calls")
    assert engine(["calls"]) == 2
    err = capsys.readouterr().err
    assert "ENGINE_DATABASE_URL must be a postgresql://" in err and "s3cret-pw" not in err


def test_engine_db_upgrade_as_a_command(db_url, tmp_path):
    # The real command, as a deploy step runs it, on SQLite and PostgreSQL.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ENGINE_"))}
    env["ENGINE_DATABASE_URL"] = db_url.render_as_string(hide_password=False)
    command = [sys.executable, "-m", "engine", "db", "upgrade"]
    first = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.endswith(f": schema upgraded from empty to {head_revision()}\n")
    again = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.endswith(f": schema already at {head_revision()}\n")
