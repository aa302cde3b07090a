"""`engine serve` as a real process: start-up config errors, JSON logs, SIGTERM draining.

The engine runs as ``python -m engine serve`` on a free loopback port, configured through
its environment to talk to a ``Simulator`` running in the test process. Every wait is
bounded, and every process started here is killed in a ``finally``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.simulator import SimCall, Simulator

from helpers import engine_cli, free_port, wait_for

REPO = Path(__file__).resolve().parents[2]
ACME = "+18005551212"
VALID_SECRET = "whsec_c2ltdWxhdG9yLXdlYmhvb2stc2lnbmluZy1rZXktMDE="

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "SIGTERM") or sys.platform == "win32", reason="POSIX signals"
)


def base_env(**overrides: str) -> dict[str, str]:
    """The test process's environment without any OPENAI_* / ENGINE_* setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ENGINE_"))}
    env.update({"ACME_TOKEN": "acme-token", "PYTHONUNBUFFERED": "1"})
    env.update(overrides)
    return env


def serve_command(flows: Path | str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "engine",
        "serve",
        str(flows),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-format",
        "json",
    ]


def copy_flows(tmp_path: Path) -> Path:
    """The example flows, always open: a real ``engine serve`` reads the real clock, and these
    tests place calls to acme-support whatever the hour (the hours have tests of their own)."""
    folder = tmp_path / "flows"
    folder.mkdir()
    for path in (REPO / "flows").glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        always_open = re.sub(r"(?m)^hours:\n(?:[ #].*\n|\n)*", "", text)
        (folder / path.name).write_text(always_open, encoding="utf-8")
    return folder


# -- start-up config errors ---------------------------------------------------------------

API_KEY = "sk-proj-TESTKEYdonotleak0123456789"
BAD_SECRET = "whsec_!!not-base64-TOPSECRET!!"

CONFIG_ERRORS = {
    "missing api key": (
        {"OPENAI_WEBHOOK_SECRET": VALID_SECRET},
        "OPENAI_API_KEY",
    ),
    "malformed webhook secret": (
        {"OPENAI_API_KEY": API_KEY, "OPENAI_WEBHOOK_SECRET": BAD_SECRET},
        "OPENAI_WEBHOOK_SECRET",
    ),
    "bad base url": (
        {
            "OPENAI_API_KEY": API_KEY,
            "OPENAI_WEBHOOK_SECRET": VALID_SECRET,
            "OPENAI_BASE_URL": "ftp://api.example.com/v1",
        },
        "OPENAI_BASE_URL",
    ),
    "bad country code": (
        {
            "OPENAI_API_KEY": API_KEY,
            "OPENAI_WEBHOOK_SECRET": VALID_SECRET,
            "ENGINE_DEFAULT_COUNTRY_CODE": "one",
        },
        "ENGINE_DEFAULT_COUNTRY_CODE",
    ),
}


@pytest.mark.parametrize("case", list(CONFIG_ERRORS))
def test_config_error_exits_2_with_one_line_naming_the_variable(case, tmp_path):
    settings, variable = CONFIG_ERRORS[case]
    result = subprocess.run(
        serve_command(REPO / "flows", free_port()),
        env=base_env(**settings),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    for secret in (API_KEY, BAD_SECRET, VALID_SECRET, BAD_SECRET.removeprefix("whsec_")):
        assert secret not in result.stderr
        assert secret not in result.stdout


@pytest.mark.parametrize("case", ["no such folder", "a file"])
def test_a_flows_folder_that_is_not_one_exits_2_with_one_line(case, tmp_path):
    if case == "a file":
        given = tmp_path / "acme-support.yaml"
        given.write_text((REPO / "flows" / "acme-support.yaml").read_text(encoding="utf-8"))
        said = "a file, not a folder"
    else:
        given = tmp_path / "nosuch"
        said = "no such folder"
    settings = {"OPENAI_API_KEY": API_KEY, "OPENAI_WEBHOOK_SECRET": VALID_SECRET}
    result = subprocess.run(
        serve_command(f"{given}/" if case == "no such folder" else given, free_port()),
        env=base_env(**settings),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"engine serve: {given}") and said in lines[0]
    assert result.stdout == ""


# -- a live process -----------------------------------------------------------------------


@dataclass
class Served:
    sim: Simulator
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path
    http: httpx.AsyncClient

    @property
    def webhook(self) -> str:
        return self.url + "/webhooks/openai"

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_lines(self, start: int = 0) -> list[dict[str, Any]]:
        """JSON log lines (from byte offset ``start``); a non-JSON line fails the test."""
        out = []
        for line in self.log_text()[start:].splitlines():
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pytest.fail(f"not a JSON log line: {line!r}")
        return out

    async def wait_log(self, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> None:
        await wait_for(lambda: any(predicate(e) for e in self.log_lines()), timeout, "a log line")

    async def wait_exit(self, timeout: float) -> int:
        await wait_for(lambda: self.process.poll() is not None, timeout, "the process to exit")
        return int(self.process.returncode)

    async def answered(self) -> SimCall:
        placed = await self.sim.place_call(self.webhook, to=ACME)
        assert placed.status == 200, placed.deliveries
        call = placed.call
        await call.wait_connected(timeout=5)
        await call.wait_for_client_event("response.create", timeout=5)  # the greeting
        await call.wait_idle(timeout=5)
        return call


@contextlib.asynccontextmanager
async def served(tmp_path: Path, **env: str) -> AsyncIterator[Served]:
    flows = copy_flows(tmp_path)
    port = free_port()
    log_path = tmp_path / "engine.log"
    async with Simulator() as sim, httpx.AsyncClient(trust_env=False, timeout=3) as http:
        config = sim.config()
        environ = base_env(
            OPENAI_API_KEY=config.api_key,
            OPENAI_WEBHOOK_SECRET=config.webhook_secret,
            OPENAI_BASE_URL=config.base_url,
            **env,
        )
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                serve_command(flows, port),
                env=environ,
                cwd=tmp_path,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        try:
            served_ = Served(sim, process, f"http://127.0.0.1:{port}", log_path, http)

            async def healthy() -> bool:
                if process.poll() is not None:
                    pytest.fail(f"engine serve exited {process.returncode}: {served_.log_text()}")
                with contextlib.suppress(httpx.TransportError):
                    return (await http.get(served_.url + "/healthz")).status_code == 200
                return False

            await wait_for(healthy, 15, "engine serve to answer /healthz", interval=0.05)
            yield served_
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=5)
            for call in sim.calls.values():
                if not call.ended:
                    call._end("test_over")


def test_full_call_logs_its_call_id_on_every_line_and_no_secret(tmp_path):
    async def main():
        async with served(tmp_path) as s:
            start = len(s.log_text())
            call = await s.answered()
            call.model.call_tool("to_billing", {}, preamble="Sure, billing can help.")
            await call.say("I have a question about my bill.")
            refer = await call.wait_for_request("refer", timeout=5)
            assert refer.body == {"target_uri": "sip:+15551230000@sip.acme.example"}
            assert await call.wait_ended(timeout=5) == "transferred"
            await s.wait_log(lambda e: "call ended" in e.get("message", ""), timeout=5)

            lines = s.log_lines(start)
            assert lines, "nothing was logged about the call"
            missing = [e for e in lines if e.get("call_id") != call.call_id]
            assert not missing, f"log lines of the call without its call_id: {missing}"

            def line_with(text: str) -> dict[str, Any]:
                found = [e for e in lines if text in e["message"]]
                assert found, f"no log line says {text!r}: {[e['message'] for e in lines]}"
                return found[0]

            for text in ("accepted with flow", "transfer: REFER to", "call ended"):
                assert line_with(text)["call_id"] == call.call_id

            s.process.send_signal(signal.SIGTERM)
            assert await s.wait_exit(10) == 0
            text = s.log_text()
            for secret in (s.sim.api_key, s.sim.webhook_secret):
                assert secret not in text
            assert s.sim.webhook_secret.removeprefix("whsec_") not in text

    asyncio.run(main())


def test_sigterm_drains_a_live_call_then_exits_on_its_own(tmp_path):
    async def main():
        # A drain deadline far beyond the test's waits: an exit seen here came from the call
        # ending, not from the deadline.
        async with served(tmp_path, ENGINE_DRAIN_TIMEOUT="600") as s:
            call = await s.answered()
            s.process.send_signal(signal.SIGTERM)

            async def not_ready() -> bool:
                return (await s.http.get(s.url + "/readyz")).status_code == 503

            await wait_for(not_ready, 5, "/readyz to answer 503 after SIGTERM", interval=0.02)
            ready = await s.http.get(s.url + "/readyz")
            assert ready.json()["draining"] is True and ready.json()["live_calls"] == 1
            assert (await s.http.get(s.url + "/healthz")).status_code == 200

            late = await s.sim.place_call(s.webhook, to=ACME)
            assert late.status == 503
            assert late.call.requests == []  # neither accepted nor rejected
            assert s.process.poll() is None  # the live call holds the process up

            call.model.call_tool("to_billing", {}, preamble="Sure.")
            await call.say("Billing, please.")
            refer = await call.wait_for_request("refer", timeout=5)
            assert refer.status == 200
            assert await call.wait_ended(timeout=5) == "transferred"

            assert await s.wait_exit(20) == 0
            messages = [e["message"] for e in s.log_lines()]
            assert "draining: waiting for 1 live call(s)" in messages
            assert not any("drain deadline" in m for m in messages)
            assert call.requests_for("hangup") == []
            return call.call_id

    call_id = asyncio.run(main())
    # The drain wrote the call's whole record before the process exited.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ENGINE_DATABASE_URL", f"sqlite:///{tmp_path / 'engine-records.db'}")
        code, out, err = engine_cli("calls", "show", call_id, "--format", "json")
    assert code == 0, err
    record = json.loads(out)
    assert record["outcome"] == "transferred" and record["ended_at"] is not None
    assert [t["result"] for t in record["transfers"]] == ["took"]


def test_sigterm_with_a_call_that_never_ends_exits_after_the_drain_timeout(tmp_path):
    async def main():
        async with served(tmp_path, ENGINE_DRAIN_TIMEOUT="1") as s:
            call = await s.answered()
            s.process.send_signal(signal.SIGTERM)
            assert await s.wait_exit(8) == 0
            # The deadline cut the call, and the engine hung it up before exiting rather than
            # leaving it up at OpenAI with nobody steering it.
            messages = [e["message"] for e in s.log_lines()]
            waiting = messages.index("draining: waiting for 1 live call(s)")
            assert messages.index("drain deadline: hanging up 1 call(s)") > waiting
            assert [r.status for r in call.requests_for("hangup")] == [200]
            assert await call.wait_ended(timeout=3) == "hangup"

    asyncio.run(main())
