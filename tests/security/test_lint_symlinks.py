"""`engine lint` never follows a link out of its folder, never prints what is not a flow
(issue #12, item 9).

A link in the flows folder to /proc/self/environ made `engine lint` print its own
OPENAI_API_KEY into CI logs: it followed the link and quoted the line it could not parse.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.flow.registry import Registry

SECRET = "sk-test-DO-NOT-PRINT-4f2a"
FLOW = """\
name: Line
numbers: ["+18005551212"]
instructions: You are a helpful agent.
"""


def lint(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENAI_API_KEY": SECRET, "DATABASE_PASSWORD": SECRET}
    return subprocess.run(
        [sys.executable, "-m", "engine", "lint", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A flows folder with one good flow, links out of it, and files that are not flows."""
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "line.yaml").write_text(FLOW, encoding="utf-8")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "environ").write_bytes(f"OPENAI_API_KEY={SECRET}\0PATH=/bin\0".encode())
    (outside / "flow.yaml").write_text(FLOW.replace("Line", f"Outside {SECRET}"), "utf-8")
    (flows / "environ.yaml").symlink_to(outside / "environ")
    (flows / "outside-flow.yaml").symlink_to(outside / "flow.yaml")
    (flows / "linked-dir").symlink_to(outside, target_is_directory=True)
    if Path("/proc/self/environ").exists():
        (flows / "proc.yaml").symlink_to("/proc/self/environ")
    # Files in the folder that are not flows: their content must never be printed either.
    (flows / "secrets.yaml").write_text(f"database:\n  password: {SECRET}\nname: {SECRET}\n")
    (flows / "dotenv.yaml").write_text(f"OPENAI_API_KEY={SECRET}\n")
    (flows / "binary.yaml").write_bytes(f"key: {SECRET}\0\x01\x02".encode())
    (flows / "latin1.yaml").write_bytes(f"token: {SECRET}\xe9\n".encode("latin-1"))
    (flows / "inside.yaml").symlink_to("line.yaml")  # a link within the folder is fine
    return flows


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_lint_of_a_folder_never_prints_a_secret(folder: Path, fmt: str) -> None:
    done = lint("--format", fmt, "flows", cwd=folder.parent)
    output = done.stdout + done.stderr
    assert SECRET not in output, output
    assert done.returncode == 1  # the files that are not flows are problems
    for link in ("environ.yaml", "outside-flow.yaml"):
        assert f"{link}: a link to a file outside its folder; not read" in done.stderr
    assert "linked-dir" not in output  # a linked folder is not searched at all
    assert "secrets.yaml" in output and "binary.yaml" in output and "latin1.yaml" in output


def test_a_link_named_on_its_own_is_not_read(folder: Path) -> None:
    for link in ("environ.yaml", "outside-flow.yaml"):
        done = lint(link, cwd=folder)
        assert SECRET not in done.stdout + done.stderr
        assert "a link to a file outside its folder; not read" in done.stderr
        assert done.returncode == 2  # nothing left to check


def test_a_link_inside_the_folder_and_real_flows_still_lint(folder: Path) -> None:
    done = lint("line.yaml", "inside.yaml", cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr
    # The two names are one file: it is checked once, so its number is not claimed twice.
    assert done.stdout == "no problems found in 1 file\n"


def test_the_engine_does_not_load_a_flow_through_a_link_out(folder: Path) -> None:
    registry = Registry(folder)
    report = registry.reload()
    # line.yaml and the link to it inside the folder are one file, loaded once.
    assert [Path(p).name for p in report.loaded] in (["inside.yaml"], ["line.yaml"])
    names = {Path(p).name for p in [*report.loaded, *report.rejected]}
    assert not names & {"environ.yaml", "outside-flow.yaml", "proc.yaml"}
    assert all(SECRET not in snap.flow.name for snap in registry.snapshot.flows.values())


def test_a_yaml_error_in_a_real_flow_still_shows_its_line(tmp_path: Path) -> None:
    # Quoting stops only for files that are not flows: a flow with a mistake is shown.
    (tmp_path / "broken.yaml").write_text(FLOW + "greeting: Hi: there\n", encoding="utf-8")
    done = lint("broken.yaml", cwd=tmp_path)
    assert done.returncode == 1
    assert "4 | greeting: Hi: there" in done.stdout


def test_lint_never_prints_an_environment_value(tmp_path: Path) -> None:
    # Lint renders transfer targets to check them, with the real environment where a
    # variable is set: neither `{{ env }}` nor a named variable may reach its output.
    (tmp_path / "leaky.yaml").write_text(
        FLOW
        + "tools:\n"
        + "  whole:\n    description: Transfer.\n"
        + '    transfer: "sip:{{ env }}@pbx.example.com"\n'
        + "  named:\n    description: Transfer.\n"
        + '    transfer: "{{ env.DATABASE_PASSWORD }}"\n',
        encoding="utf-8",
    )
    for fmt in ("text", "json", "github"):
        done = lint("--format", fmt, "leaky.yaml", cwd=tmp_path)
        output = done.stdout + done.stderr
        assert SECRET not in output, output
        assert "env-whole" in output
        assert "{{ env.DATABASE_PASSWORD }}" in output  # the problem, named, not its value
