"""A large folder is linted in worker processes (``engine.flow.workers``): what lint says must
be exactly what one process says, across files too (numbers claimed twice, missing
hand-offs and their did-you-mean)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from engine.flow.diagnostics import format_json, format_text
from engine.flow.lint import collect_files, lint_files
from engine.flow.workers import PARALLEL_FROM, in_workers, parallel_jobs

ENV = {"ACME_TOKEN": "token-value"}


def flow(index: int) -> str:
    """A flow with something for every kind of check: templates, a transfer, and now and then
    a number another flow has, a hand-off to a missing flow, an ignore comment, a mistake."""
    number = f"+1800555{index % 40:04d}"  # files 40 and on claim the numbers of files 0-39
    text = (
        f"name: Flow {index}\n"
        f'numbers: ["{number}"]\n'
        "instructions: |\n"
        f"  You are agent {index}. The caller is {{{{ caller.number }}}}.\n"
        f'greeting: "Hello from {index}, {{{{ caller.nubmer }}}}"\n'
        "tools:\n"
        "  lookup:\n"
        "    description: Look the caller up.\n"
        "    parameters: {id: {type: string}}\n"
        "    http:\n"
        f'      url: "https://api{index}.example.com/r/{{{{ args.id }}}}"\n'
        '      headers: {Authorization: "Bearer {{ env.ACME_TOKEN }}"}\n'
        "  to_desk:\n"
        "    description: Transfer the caller.\n"
        f'    transfer: "sip:desk{index}@pbx.example.com"\n'
    )
    if index % 7 == 3:
        text += f'callers:\n  - numbers: ["+1900*"]\n    flow: flow-{index + 1:03d}-night\n'
    if index % 11 == 5:
        text = "# engine: ignore[template-name]\n" + text
    if index % 13 == 6:
        text = text.replace("description: Transfer", "descripton: Transfer")
    return text


def write_folder(folder: Path, count: int) -> list[Path]:
    for index in range(count):
        (folder / f"flow-{index:03d}.yaml").write_text(flow(index), encoding="utf-8")
    (folder / "broken.yaml").write_text("name: [unclosed\nnumbers: x\n", encoding="utf-8")
    (folder / "secrets.yaml").write_text("password: hunter2\n", encoding="utf-8")
    return collect_files([folder])[0]


def test_workers_find_what_one_process_finds(tmp_path: Path) -> None:
    files = write_folder(tmp_path, 50)
    one = lint_files(files, ENV)
    many = lint_files(files, ENV, each=in_workers(2))
    assert [f.file for f in many.files] == [f.file for f in one.files]
    assert many.diagnostics == one.diagnostics
    assert {d.rule for d in one.diagnostics} >= {
        "duplicate-number",
        "handoff-flow",
        "template-name",
        "schema",
        "yaml-syntax",
        "not-a-flow",
    }
    assert many.sources == one.sources  # the same files quoted, never secrets.yaml
    assert str(tmp_path / "secrets.yaml") not in many.sources
    assert [f.ok for f in many.files] == [f.ok for f in one.files]
    assert format_text(many.diagnostics, many.sources) == format_text(one.diagnostics, one.sources)
    # Workers send back no flow or document: only what the checks across files need.
    assert all(f.flow is None and f.doc is None for f in many.files)
    assert all(
        (f.claims is None) == (g.flow is None) for f, g in zip(many.files, one.files, strict=True)
    )


def test_a_missing_hand_off_still_gets_its_did_you_mean(tmp_path: Path) -> None:
    files = write_folder(tmp_path, 50)
    many = lint_files(files, ENV, each=in_workers(2))
    handoffs = [d for d in many.diagnostics if d.rule == "handoff-flow"]
    # Flows 3, 10, 17… hand calls off; those with a schema error (6, 19, 32, 45) do not load.
    assert len(handoffs) == len([i for i in range(50) if i % 7 == 3 and i % 13 != 6])
    first = handoffs[0]
    assert first.file == str(tmp_path / "flow-003.yaml")
    assert 'hands the call to the flow "flow-004-night"' in first.message
    assert first.hint == 'did you mean "flow-004"?'


def test_only_large_runs_use_workers() -> None:
    assert parallel_jobs(1) == parallel_jobs(PARALLEL_FROM) == 1
    assert parallel_jobs(1_000) >= 1


def test_engine_lint_on_a_large_folder_prints_what_one_process_finds(tmp_path: Path) -> None:
    files = write_folder(tmp_path, PARALLEL_FROM + 40)
    one = lint_files(files, ENV)
    done = subprocess.run(
        [sys.executable, "-m", "engine", "lint", "--format", "json", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **ENV},
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert json.loads(done.stdout) == json.loads(format_json(one.diagnostics))
