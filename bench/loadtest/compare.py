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
        [--engine before=/path/to/an/older/checkout --engine after=.] [--at 1,20,100] [--probe]
        [--rounds 3]

``--engine NAME=PATH`` (repeatable) serves the same flow with the engine code of each
checkout, one right after the other within each row, so a before/after comparison shares the
machine's load of that moment (on a shared machine it moves a lot between minutes).

``--rounds N`` runs every row N times, the controllers in turn in a different order each
round, and prints for each row the median over the rounds of p50 and of p95, and the median
of the rounds' ratios with their range. At 20 calls at a time and more, one run of a row
moves a lot between minutes, the floor's as much as the engine's (sixteen runs of one
engine at 20 at a time ranged from 0.41× to 1.49× the floor), so a single round can neither
show nor hide a gap of 10%.

``--probe`` runs each engine under ``probe.py`` and adds what survives a busy machine: the
engine's garbage-collector pauses and its event loop's lag (and, with ``ENGINE_PROBE_STEPS=1``
in the environment, the loop's steps of 5 ms or more, by what they ran).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FLOW_DIR = REPO / "bench" / "loadtest"
# ../shared/loadtest beside the checkout (or beside the folder of worktrees it is in).
_BESIDE = [up / "shared" / "loadtest" for up in REPO.parents]
LOADTEST = Path(
    os.environ.get("LOADTEST_DIR") or next((p for p in _BESIDE if p.is_dir()), _BESIDE[0])
)
VENV_PYTHON = os.environ.get("LOADTEST_PYTHON", "/tmp/loadtest-venv/bin/python")
SECRET = "whsec_aGFybmVzcy10ZXN0LXNlY3JldC0wMTIzNDU2Nzg5"  # the README's throwaway value
FLOOR_PORT = 3470
PROBE = Path(__file__).resolve().parent / "probe.py"


def controllers(engines: dict[str, Path], probe: bool) -> dict[str, tuple[str, str, str]]:
    """name → (webhook URL, launch command, launch directory): the floor, then each engine.
    ``probe``: each engine runs under probe.py, which writes ``{probe_out}`` at exit."""
    floor = f"{VENV_PYTHON} ref_controller.py --port {FLOOR_PORT}"
    out = {"floor": (f"http://127.0.0.1:{FLOOR_PORT}/webhook", floor, str(LOADTEST))}
    serve = f"{PROBE} " if probe else "-m engine serve "
    for n, (name, path) in enumerate(engines.items(), start=1):
        port = FLOOR_PORT + n
        launch = (
            f"env PYTHONPATH={path} ENGINE_PROBE_OUT={{probe_out}} {sys.executable} {serve}"
            f"{FLOW_DIR} --host 127.0.0.1 --port {port} --log-format json"
        )
        out[name] = (f"http://127.0.0.1:{port}/webhooks/openai", launch, str(path))
    return out


def drive(
    target: tuple[str, str, str],
    tag: str,
    calls: int,
    concurrency: int,
    params: list[str],
    out: Path,
) -> dict:
    url, launch, cwd = target
    report = out / f"{tag}.json"
    launch = launch.replace("{probe_out}", str(out / f"{tag}.probe.json"))
    command = [
        VENV_PYTHON,
        "drive.py",
        "--target", url,
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
    probed = out / f"{tag}.probe.json"
    if probed.exists():
        summary["probe"] = json.loads(probed.read_text())
    print(f"  {tag}: {summary['ok']}/{summary['calls']} ok", file=sys.stderr, flush=True)
    return summary


def in_turn(names: list[str], round_: int) -> list[str]:
    """The controllers in round ``round_``'s order: each starts one round in turn, so none
    always runs on the machine's first (or last) minute of a row."""
    shift = round_ % len(names)
    return names[shift:] + names[:shift]


Rounds = list[dict[tuple[str, int, int], dict]]


def figure(rounds: Rounds, name: str, key: tuple[int, int], timing: str) -> str:
    """Median over the rounds of the row's p50 / p95 ("–" when no call got that far)."""
    found = [r[name, *key]["timings_ms"].get(timing) for r in rounds]
    if not all(found):
        return "–"
    p50 = statistics.median(m["p50"] for m in found)
    p95 = statistics.median(m["p95"] for m in found)
    return f"{p50:.1f} / {p95:.1f}"


def ratio(rounds: Rounds, name: str, key: tuple[int, int], timing: str) -> str:
    """p50 ÷ the floor's p50 within each round (the same minutes of the machine); with
    several rounds, their median and range."""
    ratios = []
    for r in rounds:
        e, f = r[name, *key]["timings_ms"].get(timing), r["floor", *key]["timings_ms"].get(timing)
        if not (e and f and f["p50"]):
            return "–"
        ratios.append(e["p50"] / f["p50"])
    if len(ratios) == 1:
        return f"{ratios[0]:.2f}×"
    return f"{statistics.median(ratios):.2f}× ({min(ratios):.2f}–{max(ratios):.2f})"


def cpu_ms(summary: dict) -> float:
    return summary["target"]["cpu_s"] * 1000 / max(1, summary["calls"])


def print_probes(runs: dict[tuple[str, int, int], dict]) -> None:
    print(
        "\n| engine run | CPU ms/call | GC gen0 / gen1 / gen2 (count) | GC total / longest ms "
        "| loop lag p50 / p99 / max ms | lag ≥10 / ≥50 ms | steps ≥5 ms |"
    )
    print("| --- " * 7 + "|")
    for (name, concurrency, delay), summary in runs.items():
        probe = summary.get("probe")
        if probe is None:
            continue
        gc, lag = probe["gc"], probe["lag"]
        counts = " / ".join(str(gc[g]["count"]) for g in "012")
        total = sum(gc[g]["total_ms"] for g in "012")
        longest = max(gc[g]["max_ms"] for g in "012")
        when = f"{name}, {concurrency} at a time" + (f", done +{delay} ms" if delay else "")
        print(
            f"| {when} | {probe['cpu_s'] * 1000 / max(1, summary['calls'] + 3):.1f} | {counts} | "
            f"{total:.0f} / {longest:.0f} | {lag['p50_ms']} / {lag['p99_ms']} / {lag['max_ms']} | "
            f"{lag['over_10ms']} / {lag['over_50ms']} | {probe['steps']['over_5ms']} |"
        )
    for (name, concurrency, _delay), summary in runs.items():
        slowest = summary.get("probe", {}).get("steps", {}).get("slowest_ms")
        if slowest:
            print(f"  {name}, {concurrency} at a time: slowest steps {slowest[:6]}")


def engines_of(values: list[str]) -> dict[str, Path]:
    engines: dict[str, Path] = {}
    for value in values or ["engine=."]:
        name, sep, path = value.partition("=")
        checkout = Path(path).resolve()
        if not sep or not name or name == "floor" or not (checkout / "engine").is_dir():
            raise SystemExit(f"--engine {value!r}: want NAME=PATH of a checkout with engine/")
        engines[name] = checkout
    return engines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--delay-ms", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("/tmp/engine-loadtest"))
    parser.add_argument("--only", choices=("tool", "webhook"))
    parser.add_argument("--engine", action="append", metavar="NAME=PATH")
    parser.add_argument("--at", default="1,20,100,300", help="calls at a time, comma separated")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run every row this many times; print medians over the rounds",
    )
    parser.add_argument(
        "--probe",
        action="store_true",
        help="run each engine under probe.py: GC pauses and event-loop lag (ENGINE_PROBE_STEPS=1 "
        "in the environment adds the loop's slow steps)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not Path(VENV_PYTHON).exists():
        parser.error(f"{VENV_PYTHON} is missing: create the instrument's venv first")
    engines = engines_of(args.engine)
    targets = controllers(engines, args.probe)
    levels = [int(n) for n in args.at.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    plan = []
    if args.only != "webhook":
        plan += [(c, d) for d in (0, args.delay_ms) for c in levels if c <= 100]
    if args.only != "tool":
        plan += [(c, 0) for c in levels if (c, 0) not in plan]
    rounds: Rounds = []
    for round_ in range(args.rounds):
        runs: dict[tuple[str, int, int], dict] = {}
        for concurrency, delay in plan:
            params = [f"response_done_delay_ms={delay}"] if delay else []
            calls = max(args.calls, concurrency)
            for name in in_turn(list(targets), round_):
                words = [name, f"c{concurrency}", *(p.replace("=", "") for p in params)]
                tag = "_".join(words + ([f"r{round_ + 1}"] if args.rounds > 1 else []))
                runs[name, concurrency, delay] = drive(
                    targets[name], tag, calls, concurrency, params, args.out
                )
        rounds.append(runs)
    runs = rounds[-1]  # the keys of a round (every round has the same)

    names = list(engines)
    across = f", median of {args.rounds} rounds (ratio: median, lowest–highest)"
    print(
        f"\nshared load instrument, {args.calls} calls a row (p50 / p95 ms), expect=any"
        + (across if args.rounds > 1 else "")
    )
    print(
        "| figure | at a time | floor | "
        + " | ".join(names)
        + " | "
        + " | ".join(f"{n} ÷ floor" for n in names)
        + " |"
    )
    print("| --- " * (3 + 2 * len(names)) + "|")
    for concurrency, delay in plan:
        rows = [("webhook->accept", "webhook → accept")] if delay == 0 else []
        if args.only != "webhook" and concurrency <= 100:
            label = "tool call → first reaction" + (f" (done +{delay} ms)" if delay else "")
            rows.append(("fc->reaction", label))
        for timing, label in rows:
            key = (concurrency, delay)
            print(
                f"| {label} | {concurrency} | {figure(rounds, 'floor', key, timing)} | "
                + " | ".join(figure(rounds, n, key, timing) for n in names)
                + " | "
                + " | ".join(ratio(rounds, n, key, timing) for n in names)
                + " |"
            )
    print("\nfirst reaction after the function call, by kind (all rounds):")
    for name, concurrency, delay in runs:
        if name != "floor" and concurrency <= 100:
            kinds: Counter[str] = Counter()
            for r in rounds:
                kinds.update(r[name, concurrency, delay]["first_reaction_kinds"])
            print(f"  {name}, {concurrency} at a time, +{delay} ms: {dict(kinds)}")
    print(
        "\n| run | "
        + " | ".join(f"{n} CPU ms/call, peak RSS MiB" for n in ["floor", *names])
        + " |"
    )
    print("| --- " * (2 + len(names)) + "|")
    for concurrency, delay in plan:
        cells = []
        for name in ["floor", *names]:
            summaries = [r[name, concurrency, delay] for r in rounds]
            cpu = statistics.median(cpu_ms(s) for s in summaries)
            rss = max(s["target"]["peak_rss_mib"] for s in summaries)
            cells.append(f"{cpu:.1f}, {rss}")
        when = f"{concurrency} at a time" + (f", done +{delay} ms" if delay else "")
        print(f"| {when} | " + " | ".join(cells) + " |")
    if args.probe:
        for each in rounds:
            print_probes(each)
    lags = [v["harness"]["loop_lag_ms_p99"] for each in rounds for v in each.values()]
    print(f"\nharness loop lag p99, worst run: {max(lags):.1f} ms")
    errors = {
        (*k, n + 1): v["errors"]
        for n, each in enumerate(rounds)
        for k, v in each.items()
        if v["errors"]
    }
    if errors:
        print(f"calls with errors: {errors}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
