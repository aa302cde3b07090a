"""The Dockerfile, without a Docker engine: its instructions are parsed and checked, and its
HEALTHCHECK command is run for real against an `engine serve` process on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
HEALTH_PORT = 8000
VALID_SECRET = "whsec_c2ltdWxhdG9yLXdlYmhvb2stc2lnbmluZy1rZXktMDE="


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    out: list[Instruction] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comments inside a continued instruction are dropped too
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        full = pending + stripped
        pending = ""
        keyword, _, args = full.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return out


INSTRUCTIONS = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def only(keyword: str) -> Instruction:
    found = [i for i in INSTRUCTIONS if i.keyword == keyword]
    assert len(found) == 1, f"expected one {keyword}, found {len(found)}"
    return found[0]


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def healthcheck_parts() -> tuple[dict[str, str], str]:
    """HEALTHCHECK's options (``--interval=10s`` → ``{"interval": "10s"}``) and the shell
    command after ``CMD``."""
    args = only("HEALTHCHECK").args
    options_text, sep, command = args.partition("CMD ")
    assert sep, f"HEALTHCHECK without CMD: {args}"
    options = {}
    for option in options_text.split():
        name, _, value = option.removeprefix("--").partition("=")
        options[name] = value
    return options, command.strip()


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", value)
    assert match, f"unreadable duration {value!r}"
    number, unit = float(match[1]), match[2]
    return number * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]


# -- static checks ------------------------------------------------------------------------


def test_slim_python_base():
    base = only("FROM").args.split()[0]
    match = re.fullmatch(r"python:3\.(\d+)(?:\.\d+)?-slim(?:-\w+)?", base)
    assert match, f"not a slim Python base: {base}"
    required = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = re.fullmatch(r">=\s*3\.(\d+)", required.strip())
    assert minimum, f"unexpected requires-python {required!r}: update this test"
    assert int(match[1]) >= int(minimum[1]), f"{base} is older than requires-python {required}"


def test_runs_as_a_non_root_user_that_the_image_creates():
    users = [i for i in INSTRUCTIONS if i.keyword == "USER"]
    assert users, "no USER: the engine would run as root"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0")
    created = " ".join(i.args for i in INSTRUCTIONS if i.keyword == "RUN")
    assert re.search(rf"(useradd|adduser)\b[^&;]*\b{re.escape(user)}\b", created), created
    cmd_line = only("CMD").line
    assert users[-1].line < cmd_line


def test_cmd_serves_flows_on_all_interfaces_with_json_logs():
    cmd = exec_form(only("CMD").args)
    assert cmd[:3] == ["engine", "serve", "/flows"], cmd
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    port = cmd[cmd.index("--port") + 1]
    assert cmd[cmd.index("--log-format") + 1] == "json"
    assert port in only("EXPOSE").args.split()
    assert only("STOPSIGNAL").args == "SIGTERM"  # what DrainingServer drains on
    # /flows is what the image copies the example flows to (or a volume replaces).
    assert any(i.args.split()[-1] == "/flows" for i in INSTRUCTIONS if i.keyword == "COPY")


def test_healthcheck_targets_healthz_on_the_served_port_within_its_timeout():
    options, command = healthcheck_parts()
    assert "/healthz" in command
    cmd = exec_form(only("CMD").args)
    assert f"127.0.0.1:{cmd[cmd.index('--port') + 1]}/healthz" in command
    # The probe gives up before Docker kills it, so a slow answer reads as unhealthy.
    inner = re.search(r"timeout=(\d+(?:\.\d+)?)", command)
    assert inner and float(inner[1]) < seconds(options["timeout"]), (options, command)


def copy_sources() -> list[tuple[Instruction, list[str]]]:
    out = []
    for instruction in INSTRUCTIONS:
        if instruction.keyword != "COPY":
            continue
        words = shlex.split(instruction.args)
        assert not any(w.startswith("--from") for w in words), "multi-stage COPY: update test"
        sources = [w for w in words[:-1] if not w.startswith("--")]
        out.append((instruction, sources))
    return out


def test_every_copied_path_exists():
    copies = copy_sources()
    assert copies
    for instruction, sources in copies:
        assert sources, instruction
        for source in sources:
            assert (REPO / source).exists(), f"line {instruction.line}: COPY {source} missing"


def test_pip_install_has_what_pyproject_needs_copied_before_it():
    pip = next(i for i in INSTRUCTIONS if i.keyword == "RUN" and "pip install" in i.args)
    copied_before = {s.rstrip("/") for i, srcs in copy_sources() if i.line < pip.line for s in srcs}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    needed = {"pyproject.toml", project["readme"], "engine"}
    assert needed <= copied_before, needed - copied_before


# -- the HEALTHCHECK command, run ---------------------------------------------------------


def port_free(port: int) -> bool:
    """Nothing listens on ``port``. SO_REUSEADDR, as uvicorn sets it: connections of an
    earlier server still in TIME_WAIT do not make the port busy."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def run_healthcheck(command: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    # `python` in the image is the interpreter the engine is installed into.
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return subprocess.run(
        ["sh", "-c", command], env=env, capture_output=True, text=True, timeout=timeout_s + 5
    )


def test_healthcheck_command_passes_against_engine_serve_and_fails_without_it(tmp_path):
    if not port_free(HEALTH_PORT):
        pytest.skip(f"port {HEALTH_PORT} is busy; the HEALTHCHECK hard-codes it")
    options, command = healthcheck_parts()
    timeout_s = seconds(options["timeout"])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ENGINE_"))}
    env.update(
        OPENAI_API_KEY="sk-test-dockerfile-0123456789",
        OPENAI_WEBHOOK_SECRET=VALID_SECRET,
        OPENAI_BASE_URL="http://127.0.0.1:9/v1",  # never contacted: no call is placed
    )
    command_line = [
        sys.executable,
        *("-m", "engine", "serve", str(REPO / "flows")),
        *("--host", "127.0.0.1", "--port", str(HEALTH_PORT), "--log-format", "json"),
    ]
    log = tmp_path / "engine.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command_line, env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, log.read_text()
            with contextlib.suppress(OSError):
                url = f"http://127.0.0.1:{HEALTH_PORT}/healthz"
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        break
            assert time.monotonic() < deadline, "engine serve never became healthy"
            time.sleep(0.05)
        healthy = run_healthcheck(command, timeout_s)
        assert healthy.returncode == 0, healthy
    finally:
        process.kill()
        process.wait(timeout=5)

    deadline = time.monotonic() + 5
    while not port_free(HEALTH_PORT):  # the killed server's listening socket is gone
        assert time.monotonic() < deadline, f"something else listens on {HEALTH_PORT}"
        time.sleep(0.05)
    unhealthy = run_healthcheck(command, timeout_s)
    assert unhealthy.returncode != 0, unhealthy
