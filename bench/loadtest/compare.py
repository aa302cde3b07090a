"""The engine beside the bare floor, with the shared load instrument (../shared/loadtest/).

Runs ``drive.py`` against ``engine serve`` (this checkout, flow ``bench/loadtest/line.yaml``)
and against the instrument's ``ref_controller.py`` (a controller with no features: this
machine's floor), one right after the other for each row, and prints the rows of issue #14:

- tool call → first reaction (``fc->reaction`` with ``expect=any``), 1 / 20 / 100 calls at a
  time, with ``response.done`` sent at once after the function call's item and held back
  ``--delay-ms`` (the model speaking on after it called the tool);
- webhook → accept, 1 / 20 / 100 / 300 at a time;
- CPU per call (the controller's process tree, user+sys over the run) and peak RSS.

Needs the instrument's venv (``python3 -m venv /tmp/loadtest-venv &&
/tmp/loadtest-venv/bin/pip install -r ../shared/loadtest/requirements.txt``). Loopback only;
every process it starts is stopped by the driver. Not a test: it prints figures.

    python bench/loadtest/compare.py [--calls 200] [--out DIR] [--only tool|webhook]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOADTEST = Path(os.environ.get("LOADTEST_DIR", REPO.parent.parent / "shared" / "loadtest"))
VENV_PYTHON = os.environ.get("LOADTEST_PYTHON", "/tmp/loadtest-venv/bin/python")
SECRET = "whsec_aGFybmVzcy10ZXN0LXNlY3JldC0wMTIzNDU2Nzg5"  # the README's throwaway value
ENGINE_PORT, FLOOR_PORT = 3471, 3472


def controllers() -> dict[str, tuple[str, str, str]]:
    """name → (webhook URL, launch command, launch directory)."""
    engine = (
        f"env PYTHONPATH={REPO} {sys.executable} -m engine serve {REPO / 'bench' / 'loadtest'} "
        f"--host 127.0.0.1 --port {ENGINE_PORT} --log-format json"
    )
    floor = f"{VENV_PYTHON} ref_controller.py --port {FLOOR_PORT}"
    return {
        "floor": (f"http://127.0.0.1:{FLOOR_PORT}/webhook", floor, str(LOADTEST)),
        "engine": (f"http://127.0.0.1:{ENGINE_PORT}/webhooks/openai", engine, str(REPO)),
    }


def drive(name: str, calls: int, concurrency: int, params: list[str], out: Path) -> dict:
    target, launch, cwd = controllers()[name]
    tag = "_".join([name, f"c{concurrency}", *(p.replace("=", "") for p in params)])
    report = out / f"{tag}.json"
    command = [
        VENV_PYTHON,
        "drive.py",
        "--target", target,
        "--secret", SECRET,
        "--script", "scripts/greet_then_transfer.json",
        "--calls", str(calls),
        "--concurrency", str(concurrency),
        "--warmup", "3",
        "--fake-port", "0",
        "--launch", launch,
        "--launch-cwd", cwd,
        "--launch-log", str(out / f"{tag}.log"),
        "--json", str(report),
        "--param", "expect=any",
    ]  # fmt: skip
    for param in params:
        command += ["--param", param]
    done = subprocess.run(command, cwd=LOADTEST, capture_output=True, text=True, timeout=1800)
    if not report.exists():
        raise RuntimeError(f"{tag}: no report\n{done.stdout}\n{done.stderr}")
    summary = json.loads(report.read_text())["summary"]
    print(f"  {tag}: {summary['ok']}/{summary['calls']} ok", file=sys.stderr, flush=True)
    return summary


def figure(summary: dict, timing: str) -> str:
    m = summary["timings_ms"].get(timing)
    return "–" if m is None else f"{m['p50']:.1f} / {m['p95']:.1f}"


def cpu_ms(summary: dict) -> float:
    return summary["target"]["cpu_s"] * 1000 / max(1, summary["calls"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--delay-ms", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("/tmp/engine-loadtest"))
    parser.add_argument("--only", choices=("tool", "webhook"))
    args = parser.parse_args(argv)
    if not Path(VENV_PYTHON).exists():
        parser.error(f"{VENV_PYTHON} is missing: create the instrument's venv first")
    args.out.mkdir(parents=True, exist_ok=True)
    runs: dict[tuple[str, int, int], dict] = {}
    plan = []
    if args.only != "webhook":
        plan += [(c, d) for d in (0, args.delay_ms) for c in (1, 20, 100)]
    if args.only != "tool":
        plan += [(c, 0) for c in (1, 20, 100, 300) if (c, 0) not in plan]
    for concurrency, delay in plan:
        params = [f"response_done_delay_ms={delay}"] if delay else []
        calls = max(args.calls, concurrency)
        for name in ("floor", "engine"):
            runs[name, concurrency, delay] = drive(name, calls, concurrency, params, args.out)

    print(f"\nshared load instrument, {args.calls} calls a row (p50 / p95 ms), expect=any")
    print("| figure | at a time | floor | engine | ratio (p50) | engine's first reaction |")
    print("| --- | --- | --- | --- | --- | --- |")
    for concurrency, delay in plan:
        floor, engine = runs["floor", concurrency, delay], runs["engine", concurrency, delay]
        rows = [("webhook->accept", "webhook → accept")] if delay == 0 else []
        if args.only != "webhook" and concurrency != 300:
            label = "tool call → first reaction" + (f" (done +{delay} ms)" if delay else "")
            rows.append(("fc->reaction", label))
        for timing, label in rows:
            f, e = floor["timings_ms"].get(timing), engine["timings_ms"].get(timing)
            ratio = f"{e['p50'] / f['p50']:.2f}×" if f and e and f["p50"] else "–"
            kinds = engine["first_reaction_kinds"] if timing == "fc->reaction" else ""
            print(
                f"| {label} | {concurrency} | {figure(floor, timing)} | {figure(engine, timing)} "
                f"| {ratio} | {kinds} |"
            )
    print(
        "\n| run | floor CPU ms/call | engine CPU ms/call | floor peak RSS MiB | engine peak RSS MiB |"
    )
    print("| --- | --- | --- | --- | --- |")
    for concurrency, delay in plan:
        floor, engine = runs["floor", concurrency, delay], runs["engine", concurrency, delay]
        print(
            f"| {concurrency} at a time{f', done +{delay} ms' if delay else ''} "
            f"| {cpu_ms(floor):.1f} | {cpu_ms(engine):.1f} "
            f"| {floor['target']['peak_rss_mib']} | {engine['target']['peak_rss_mib']} |"
        )
    errors = {k: v["errors"] for k, v in runs.items() if v["errors"]}
    if errors:
        print(f"\ncalls with errors: {errors}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
