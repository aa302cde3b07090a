"""`engine demo` as a user runs it: one scripted call through the simulator, its timeline.

The demo runs as ``python -m engine demo`` from the repository (its default folder is
``flows/``); what it must show is read from ``flows/acme-support.yaml``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
ACME = yaml.safe_load((REPO / "flows" / "acme-support.yaml").read_text(encoding="utf-8"))


def test_engine_demo_prints_the_call_from_greeting_to_transfer(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ENGINE_"))}
    kept = tmp_path / "records.db"  # not the repository's ./engine-records.db
    env["ENGINE_DATABASE_URL"] = f"sqlite:///{kept}"
    result = subprocess.run(
        [sys.executable, "-m", "engine", "demo"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    timeline, _, transcript = result.stdout.partition("\ntranscript:\n")
    assert transcript, result.stdout
    transcript, _, record = transcript.partition(f"\ncall record, kept in {kept}:\n")
    assert record, result.stdout  # the demo ends with its call's record, read back
    assert kept.is_file()
    # What the agent says is the line itself, never the request to the model around it.
    assert "Say exactly" not in result.stdout

    billing = ACME["tools"]["to_billing"]
    desk = ACME["vars"]["billing_desk"]
    expected = [
        f'agent greets: "{ACME["greeting"]}"',
        "model calls to_billing",
        f'agent says the transfer line: "{billing["say"]}"',
        f"REFER to sip:{desk}@sip.acme.example",
        "call ended: transferred",
    ]
    lines = timeline.splitlines()
    at = 0
    for wanted in expected:  # each in this order, other lines between them
        found = [i for i, line in enumerate(lines) if i >= at and wanted in line]
        assert found, f"{wanted!r} not in the timeline after line {at}:\n{timeline}"
        at = found[0] + 1
    spoken = [line.strip() for line in transcript.splitlines()]
    assert f"agent: {ACME['greeting']}" in spoken
    assert f"agent: {billing['say']}" in spoken
