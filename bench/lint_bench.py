"""How fast `engine lint` checks a large folder of flows.

Generates 1,000 varied, realistic flow files (states, tools that speak, call HTTP services,
move between states, transfer and hang up; Jinja2 templates; a unique number each) into a
temporary folder, then times linting them, in process (``lint_files``) and as a command
(``engine lint DIR``), several times, and prints min / median and files per second.

    python bench/lint_bench.py [--files 1000] [--repeat 5] [--profile]

A second case, "missing hand-offs", gives every flow a `callers` rule that hands the call to
a flow file that is not in the folder (each a different, near-miss name): each one asks for a
did-you-mean among the 1,000 file names, which once made the run quadratic.

The goal is under 2 s for 1,000 files on a 2-core machine. ``--profile`` prints the top of a
cProfile of one in-process run.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from engine.flow.lint import collect_files, lint_files

BUSINESSES = [
    ("Acme", "support"),
    ("Example Dental", "reception"),
    ("Northwind", "orders"),
    ("Contoso Bank", "cards"),
    ("Globex", "billing"),
    ("Initech", "IT help desk"),
    ("Umbrella Clinic", "appointments"),
    ("Stark Motors", "service"),
]
VOICES = ["alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"]
ZONES = ["UTC", "America/New_York", "America/Los_Angeles", "Europe/London", "Europe/Berlin"]
COUNTRY_PREFIXES = ["+1415555", "+1800555", "+4420712", "+4930123", "+3314212"]


def number(index: int, slot: int) -> str:
    prefix = COUNTRY_PREFIXES[index % len(COUNTRY_PREFIXES)]
    return f"{prefix}{index:04d}{slot}"[:13]


def flow_text(index: int, rng: random.Random, *, missing_handoff: bool = False) -> str:
    business, line = rng.choice(BUSINESSES)
    numbers = [number(index, slot) for slot in range(rng.randint(1, 2))]
    n_states = rng.choice([0, 0, 2, 3, 4])
    states = [f"step_{i}" for i in range(n_states)]
    tools: list[str] = []
    body: list[str] = []

    def tool(name: str, lines: list[str]) -> None:
        tools.append(name)
        body.append(f"  {name}:")
        body.extend(f"    {text}" for text in lines)

    for i in range(rng.randint(1, 3)):
        tool(
            f"lookup_{i}",
            [
                f"description: Look up record {i} for the caller by its number.",
                "parameters:",
                "  record_id: {type: string, description: The number the caller reads out}",
                "  urgent: {type: boolean, required: false}",
                "http:",
                f"  method: {rng.choice(['GET', 'POST'])}",
                f'  url: "https://api{index}.example.com/records/{{{{ args.record_id }}}}"',
                '  headers: {Authorization: "Bearer {{ env.BENCH_TOKEN }}"}',
                '  query: {caller: "{{ caller.number }}"}',
                f"  timeout: {rng.choice([2, 3, 5, 10])}",
                f"  save_as: record_{i}",
            ],
        )
    for i, state in enumerate(states[1:], start=1):
        tool(
            f"go_{state}",
            [
                f"description: Move on to {state.replace('_', ' ')} when the caller is ready.",
                f"say: Let's move on to part {i}.",
                f"goto: {state}",
            ],
        )
    tool(
        "to_desk",
        [
            f"description: Transfer the caller to the {line} desk.",
            "say: One moment, I'll connect you.",
            'transfer: "sip:{{ vars.desk }}@sip.example.com"',
        ],
    )
    tool(
        "goodbye",
        [
            "description: End the call when the caller has nothing else.",
            f"say: Thank you for calling {business}. Goodbye!",
            "hangup: true",
        ],
    )

    out = [
        "# yaml-language-server: $schema=../schemas/flow.schema.json",
        f"name: {business} {line} {index}",
        "numbers: [" + ", ".join(f'"{n}"' for n in numbers) + "]",
        f"voice: {rng.choice(VOICES)}",
        f"timezone: {rng.choice(ZONES)}",
        "instructions: |",
        f"  You are {business}'s {line} agent on a phone call. Keep answers short.",
        "  The caller's number is {{ caller.number }}; it is {{ now.strftime('%A') }} today.",
        "greeting: "
        + rng.choice(
            [
                f"Thanks for calling {business}. How can I help?",
                f'{business}, good {{{{ "morning" if now.hour < 12 else "afternoon" }}}}!',
            ]
        ),
        "vars:",
        f'  desk: "{number(index, 9)}"',  # in the flow's own country: transfers stay there
    ]
    if missing_handoff:
        # A near miss of the next flow beside it (flow-0008-night from flow-0007.yaml): the
        # did-you-mean must find flow-0008 among every file name.
        out += ["callers:", '  - numbers: ["+1900*"]', f"    flow: flow-{index + 1:04d}-night"]
    if states:
        out.append(f"start: {states[0]}")
        out.append("states:")
        for i, state in enumerate(states):
            offered = [t for t in tools if not t.startswith("go_")]
            if i + 1 < len(states):
                offered.append(f"go_{states[i + 1]}")
            out.append(f"  {state}:")
            out.append(
                f"    instructions: Handle part {i} of the call for {{{{ caller.number }}}}."
            )
            out.append(f"    tools: [{', '.join(offered)}]")
    out.append("tools:")
    out.extend(body)
    return "\n".join(out) + "\n"


def generate(folder: Path, count: int, seed: int = 7, *, missing_handoff: bool = False) -> None:
    rng = random.Random(seed)
    for index in range(count):
        text = flow_text(index, rng, missing_handoff=missing_handoff)
        (folder / f"flow-{index:04d}.yaml").write_text(text, encoding="utf-8")


# CPU time of this process, beside the wall clock: on a machine shared with other work the
# wall clock says as much about the neighbours as about lint (in process runs only).
CPU_TIMES: list[float] = []


def timed(action: Callable[[], object], repeat: int) -> list[float]:
    times = []
    CPU_TIMES.clear()
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        action()
        times.append(time.perf_counter() - start)
        CPU_TIMES.append(time.process_time() - cpu)
    return times


def report(label: str, times: list[float], files: int) -> None:
    best, median = min(times), statistics.median(times)
    cpu = f"   cpu min {min(CPU_TIMES):6.3f} s" if label.startswith("in process") else ""
    print(
        f"{label:<34} min {best:6.3f} s   median {median:6.3f} s   "
        f"{files / best:7.0f} files/s (best)   {files / median:7.0f} files/s (median){cpu}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="lint-bench-"))
    try:
        generate(folder, args.files)
        env = {**os.environ, "BENCH_TOKEN": "x"}
        os.environ["BENCH_TOKEN"] = "x"
        files, _ = collect_files([folder])
        first = lint_files(files)
        problems = first.diagnostics
        print(f"{len(files)} flows in {folder} ({sum(f.stat().st_size for f in files):,} bytes)")
        print(f"diagnostics on the generated flows: {len(problems)}")
        for d in problems[:5]:
            print(f"  {d.file}:{d.line}:{d.col}: {d.message} [{d.rule}]")

        report("in process: lint_files", timed(lambda: lint_files(files), args.repeat), len(files))
        report(
            "in process: collect + lint_files",
            timed(lambda: lint_files(collect_files([folder])[0]), args.repeat),
            len(files),
        )
        engine = shutil.which("engine")
        command = [engine] if engine else [sys.executable, "-m", "engine"]

        def run_command() -> None:
            done = subprocess.run(
                [*command, "lint", str(folder)], env=env, capture_output=True, check=False
            )
            if done.returncode not in (0, 1):
                raise SystemExit(done.stderr.decode())

        report("command: engine lint DIR", timed(run_command, args.repeat), len(files))
        startup = timed(
            lambda: subprocess.run([*command, "--version"], capture_output=True, check=True),
            args.repeat,
        )
        print(f"{'(command start-up alone)':<34} min {min(startup):6.3f} s")

        handoffs = Path(tempfile.mkdtemp(prefix="lint-bench-handoffs-"))
        try:
            generate(handoffs, args.files, missing_handoff=True)
            handoff_files, _ = collect_files([handoffs])
            found = lint_files(handoff_files).diagnostics
            print(f"missing hand-offs: {len(found)} diagnostics, e.g.")
            for d in found[:2]:
                print(f"  {d.file}:{d.line}:{d.col}: {d.message} [{d.rule}] (hint: {d.hint})")
            report(
                "in process: missing hand-offs",
                timed(lambda: lint_files(handoff_files), args.repeat),
                len(handoff_files),
            )
        finally:
            shutil.rmtree(handoffs, ignore_errors=True)

        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            lint_files(files)
            profiler.disable()
            stats = pstats.Stats(profiler).sort_stats("cumulative")
            stats.print_stats(30)
            stats.sort_stats("tottime").print_stats(20)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
