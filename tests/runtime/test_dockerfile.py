"""The Dockerfile: its instructions are parsed and checked, its dependency step and its
HEALTHCHECK command are run for real (the HEALTHCHECK against an `engine serve` process on
loopback talking to the simulator), and where a Docker daemon runs the image is built."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.simulator import Simulator

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


def base_image() -> str:
    return only("FROM").args.split()[0]


def test_base_is_a_slim_python_pinned_to_one_release():
    base = base_image()
    # A patch release on a named Debian release: `python:3.11-slim` moves under a rebuild.
    match = re.fullmatch(r"python:3\.(\d+)\.\d+-slim-[a-z]+", base)
    assert match, f"not a slim Python base pinned to a release and a distribution: {base}"
    required = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = re.fullmatch(r">=\s*3\.(\d+)", required.strip())
    assert minimum, f"unexpected requires-python {required!r}: update this test"
    assert int(match[1]) >= int(minimum[1]), f"{base} is older than requires-python {required}"
    # The operator's page names the same tag (it says how to update it).
    assert base in (REPO / "docs" / "operations.md").read_text(encoding="utf-8")


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


def test_the_examples_are_not_where_the_engine_serves_from():
    """The examples include a "*" catch-all: baked into /flows, they would answer every real
    call of an image run without its flows volume."""
    served = exec_form(only("CMD").args)[2]
    for instruction, sources in copy_sources():
        destination = shlex.split(instruction.args)[-1].rstrip("/")
        assert destination != served, f"line {instruction.line}: COPY into {served}"
        if "flows" in [s.rstrip("/") for s in sources]:
            assert destination == "/usr/share/engine/examples", instruction
    for instruction in INSTRUCTIONS:
        if instruction.keyword in ("RUN", "WORKDIR", "VOLUME"):
            assert not re.search(rf"{re.escape(served)}\b", instruction.args), instruction


def test_healthcheck_targets_readyz_on_the_served_port_within_its_timeout():
    options, command = healthcheck_parts()
    # Readiness: healthy means calls can be answered now (docs/operations.md#health-checks).
    assert "/readyz" in command
    cmd = exec_form(only("CMD").args)
    assert f"127.0.0.1:{cmd[cmd.index('--port') + 1]}/readyz" in command
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


def pip_installs() -> list[Instruction]:
    return [i for i in INSTRUCTIONS if i.keyword == "RUN" and "pip install" in i.args]


def copied_before(instruction: Instruction) -> set[str]:
    return {s.rstrip("/") for i, srcs in copy_sources() if i.line < instruction.line for s in srcs}


def test_dependencies_install_in_a_layer_of_their_own_before_the_code_is_copied():
    dependencies, code = pip_installs()
    # Only pyproject.toml above the dependency layer: a code change leaves it cached.
    assert copied_before(dependencies) == {"pyproject.toml"}, dependencies
    assert "--no-deps" not in dependencies.args
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert {"pyproject.toml", project["readme"], "engine"} <= copied_before(code)
    # The code layer downloads nothing: no dependency, no build backend.
    assert "--no-deps" in code.args and "--no-build-isolation" in code.args, code


def test_the_dependency_step_lists_exactly_what_pyproject_declares(tmp_path):
    """The step is run as the image runs it: in a folder holding only pyproject.toml."""
    step = pip_installs()[0].args
    write, _, install = step.partition(" && ")
    target = re.search(r">\s*(\S+)", write)
    assert target and f"-r {target[1]}" in install, step
    listing = tmp_path / "requirements.txt"
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    subprocess.run(
        ["sh", "-c", write.replace(target[1], str(listing))],
        cwd=tmp_path,
        env=env,
        check=True,
        timeout=30,
    )
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    expected = pyproject["build-system"]["requires"] + pyproject["project"]["dependencies"]
    assert listing.read_text().split("\n")[:-1] == expected


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


@contextlib.contextmanager
def engine_on_health_port(flows: Path, openai_base_url: str, log: Path) -> Iterator[None]:
    """``engine serve`` on the port the HEALTHCHECK hard-codes, once it answers /healthz."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ENGINE_"))}
    env.update(
        OPENAI_API_KEY="sk-test-dockerfile-0123456789",
        OPENAI_WEBHOOK_SECRET=VALID_SECRET,
        OPENAI_BASE_URL=openai_base_url,
        ACME_TOKEN="acme-token",
    )
    command_line = [
        sys.executable,
        *("-m", "engine", "serve", str(flows)),
        *("--host", "127.0.0.1", "--port", str(HEALTH_PORT), "--log-format", "json"),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command_line, env=env, cwd=log.parent, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 15
        while status(f"http://127.0.0.1:{HEALTH_PORT}/healthz") != 200:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "engine serve never answered /healthz"
            time.sleep(0.05)
        yield
    finally:
        process.kill()
        process.wait(timeout=5)
        deadline = time.monotonic() + 5
        while not port_free(HEALTH_PORT):  # the killed server's listening socket is gone
            assert time.monotonic() < deadline, f"something else listens on {HEALTH_PORT}"
            time.sleep(0.05)


def status(url: str) -> int | None:
    """The HTTP status ``url`` answers with, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def test_healthcheck_passes_when_ready_and_fails_when_not_or_when_nothing_answers(tmp_path):
    if not port_free(HEALTH_PORT):
        pytest.skip(f"port {HEALTH_PORT} is busy; the HEALTHCHECK hard-codes it")
    options, command = healthcheck_parts()
    timeout_s = seconds(options["timeout"])
    url = f"http://127.0.0.1:{HEALTH_PORT}"
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "typo.yaml").write_text("name: [unclosed\n", encoding="utf-8")

    def check(openai_base_url: str) -> None:
        # Ready: flows loaded, OpenAI reachable.
        with engine_on_health_port(REPO / "flows", openai_base_url, tmp_path / "ready.log"):
            assert status(url + "/readyz") == 200
            healthy = run_healthcheck(command, timeout_s)
            assert healthy.returncode == 0, healthy
        # Alive but not ready (no flow loaded): a container that cannot answer a call.
        with engine_on_health_port(broken, openai_base_url, tmp_path / "broken.log"):
            assert status(url + "/healthz") == 200
            assert status(url + "/readyz") == 503
            unready = run_healthcheck(command, timeout_s)
            assert unready.returncode != 0, unready

    async def main() -> None:
        # OpenAI's side answers the readiness probe on this loop; the blocking checks run in
        # a thread so that they never hold it up.
        async with Simulator() as sim:
            await asyncio.to_thread(check, sim.base_url)

    asyncio.run(main())
    gone = run_healthcheck(command, timeout_s)  # nothing listens any more
    assert gone.returncode != 0, gone


# -- the image, built where a Docker daemon runs ------------------------------------------


def docker(*args: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout_s, check=False
    )


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit {result.returncode}"


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    """The image built from this repository, removed afterwards; skips (saying why) where
    there is no Docker daemon or the base image can be neither found nor pulled."""
    if shutil.which("docker") is None:
        pytest.skip("docker is not installed")
    info = docker("info", "--format", "{{.ServerVersion}}", timeout_s=30)
    if info.returncode != 0:
        pytest.skip(f"no Docker daemon: {last_line(info)}")
    base = base_image()
    if docker("image", "inspect", base, timeout_s=30).returncode != 0:
        pulled = docker("pull", base, timeout_s=600)
        if pulled.returncode != 0:
            pytest.skip(f"the base image {base} cannot be pulled here: {last_line(pulled)}")
    tag = f"engine-test:{uuid.uuid4().hex[:12]}"
    built = docker("build", "--tag", tag, str(REPO), timeout_s=1800)
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    try:
        yield tag
    finally:
        docker("image", "rm", "--force", tag, timeout_s=60)


def test_image_runs_as_engine_with_the_examples_outside_flows(image):
    looked = docker(
        "run",
        "--rm",
        image,
        "sh",
        "-c",
        "whoami && test ! -e /flows && ls /usr/share/engine/examples",
        timeout_s=120,
    )
    assert looked.returncode == 0, looked
    user, *examples = looked.stdout.split()
    assert user == "engine"
    assert sorted(examples) == sorted(p.name for p in (REPO / "flows").iterdir())


def test_image_lints_its_examples_and_declares_the_readiness_healthcheck(image):
    linted = docker(
        "run", "--rm", image, "engine", "lint", "/usr/share/engine/examples", timeout_s=120
    )
    assert linted.returncode == 0, linted
    inspected = docker(
        "image", "inspect", "--format", "{{json .Config.Healthcheck}}", image, timeout_s=30
    )
    assert inspected.returncode == 0, inspected
    assert "/readyz" in json.loads(inspected.stdout)["Test"][-1]
