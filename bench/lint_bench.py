"""How fast `engine lint` checks a large folder of flows.

Generates 1,000 varied, realistic flow files (states, tools that speak, call HTTP services,
move between states, transfer and hang up; Jinja2 templates; a unique number each) into a
temporary folder, then times linting them several times and prints min / median wall-clock
time with the CPU time beside it:

- in process (``lint_files``, warm: the first run filled the template caches), in one process
  and, when `engine lint` would use them, in worker processes;
- the whole run of ``engine lint DIR``: process start to exit, imports included. This is the
  figure the target is about: under 2 s for 1,000 files on a 2-core machine (issue #13).

    python bench/lint_bench.py [--files 1000] [--repeat 5] [--profile]

A second case, "missing hand-offs", gives every flow a `callers` rule that hands the call to
a flow file that is not in the folder (each a different, near-miss name): each one asks for a
did-you-mean among the 1,000 file names, which once made the run quadratic.

``--profile`` prints the top of a cProfile of one in-process run.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import engine
from engine.flow.lint import collect_files, lint_files
from engine.flow.workers import in_workers, parallel_jobs

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


TARGET_SECONDS = 2.0  # issue #13: `engine lint DIR` over 1,000 flows, the whole run


class Timing:
    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def __str__(self) -> str:
        return (
            f"min {min(self.wall):5.2f} s  median {statistics.median(self.wall):5.2f} s  "
            f"(cpu {min(self.cpu):5.2f} s)"
        )


def timed(action: Callable[[], object], repeat: int, cpu: Callable[[], float]) -> Timing:
    """Wall-clock times of ``repeat`` runs, with the CPU time ``cpu`` counts for each: on a
    machine shared with other work the wall clock says as much about the neighbours."""
    timing = Timing()
    for _ in range(repeat):
        start, used = time.perf_counter(), cpu()
        action()
        timing.wall.append(time.perf_counter() - start)
        timing.cpu.append(cpu() - used)
    return timing


def cpu_time() -> float:
    """CPU time of this process and of its finished children (their own workers included)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + usage.ru_utime + usage.ru_stime


def engine_command() -> tuple[list[str], dict[str, str]]:
    """`engine` as installed beside this Python (not a version manager's shim, which adds its
    own start-up), importing the same `engine` package as this script."""
    script = Path(sys.executable).with_name("engine")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "engine"]
    root = str(Path(engine.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    return command, {**os.environ, "BENCH_TOKEN": "x", "PYTHONPATH": path}


def lint_folder(folder: Path, jobs: int) -> None:
    lint_files(collect_files([folder])[0], each=in_workers(jobs))


def run_lint(command: list[str], env: dict[str, str], folder: Path) -> None:
    done = subprocess.run(
        [*command, "lint", str(folder)], env=env, capture_output=True, check=False
    )
    if done.returncode not in (0, 1):
        raise SystemExit(done.stderr.decode())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    os.environ["BENCH_TOKEN"] = "x"
    command, env = engine_command()
    jobs = parallel_jobs(args.files)
    folders: dict[str, Path] = {}
    try:
        for case, missing in (("flows", False), ("missing hand-offs", True)):
            folders[case] = Path(tempfile.mkdtemp(prefix="lint-bench-"))
            generate(folders[case], args.files, missing_handoff=missing)
        files = collect_files([folders["flows"]])[0]
        size = sum(f.stat().st_size for f in files)
        print(f"{len(files)} flows ({size:,} bytes) per case, {os.cpu_count()} CPUs")
        print(f"command: {' '.join(command)} lint DIR ({jobs} worker processes)")
        print(f"target: the whole run of `engine lint DIR` under {TARGET_SECONDS:.0f} s")
        for case, folder in folders.items():
            found = lint_files(collect_files([folder])[0]).diagnostics
            print(f"\n{case}: {len(found)} diagnostics", end="")
            print(", e.g." if found else "")
            for d in found[:2]:
                print(f"  {d.file}:{d.line}:{d.col}: {d.message} [{d.rule}] (hint: {d.hint})")

            one = timed(partial(lint_folder, folder, 1), args.repeat, cpu_time)
            print(f"  in process, one process (warm)  {one}")
            if jobs > 1:
                workers = timed(partial(lint_folder, folder, jobs), args.repeat, cpu_time)
                print(f"  in process, {jobs} workers (warm)     {workers}")
            whole = timed(partial(run_lint, command, env, folder), args.repeat, cpu_time)
            verdict = "under" if statistics.median(whole.wall) < TARGET_SECONDS else "OVER"
            print(f"  whole run: engine lint DIR      {whole}  median {verdict} the target")
        version = partial(subprocess.run, [*command, "--version"], env=env, capture_output=True)
        startup = timed(version, args.repeat, cpu_time)
        print(f"\n(command start-up alone, engine --version: {startup})")

        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            lint_files(collect_files([folders["flows"]])[0])
            profiler.disable()
            stats = pstats.Stats(profiler).sort_stats("cumulative")
            stats.print_stats(30)
            stats.sort_stats("tottime").print_stats(20)
    finally:
        for folder in folders.values():
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
