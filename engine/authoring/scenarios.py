"""`engine test [PATH…]`: run the scenario files that sit beside the flows.

A scenario is one call, played against the production decision (``decide``), ``CallMachine``
and ``HttpToolRunner`` with no network (see ``scenario_play``). This module finds the files,
runs them and prints one line per scenario; the format is in ``docs/scenarios.md``.

Exit codes: 0 every scenario passed; 1 a scenario failed or a scenario file has problems;
2 a usage error (no such path, no scenario files found).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..flow.diagnostics import Diagnostic, Span, format_text
from ..flow.lint import SCENARIO_SUFFIXES, lint_text, read_file
from ..flow.registry import FlowSnapshot, Registry, Snapshot
from ..flow.source import SourceError
from .scenario_expect import check
from .scenario_format import Scenario, ScenarioFile, check_against_flow, parse_scenarios
from .scenario_play import Failure, play

__all__ = [
    "EXIT_OK",
    "EXIT_PROBLEMS",
    "EXIT_USAGE",
    "NOT_RUN",
    "FileOutcome",
    "Outcome",
    "add_arguments",
    "collect_scenario_files",
    "failure_lines",
    "is_scenario_file",
    "main",
    "run",
    "run_file",
    "summary_line",
]

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


@dataclass
class Outcome:
    """One scenario's result."""

    file: str
    line: int
    name: str
    failures: list[Failure] = field(default_factory=list)
    # Not played because the scenario (or its file) has mistakes: a failure, never a pass.
    not_run: bool = False

    @property
    def passed(self) -> bool:
        return not self.failures and not self.not_run


@dataclass
class FileOutcome:
    file: str
    text: str
    diagnostics: list[Diagnostic]
    outcomes: list[Outcome]


def is_scenario_file(path: Path) -> bool:
    return path.name.endswith(SCENARIO_SUFFIXES) and path.is_file()


def collect_scenario_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[str]]:
    """The scenario files named by ``paths``, and the paths that do not exist.

    A folder is searched for ``*.test.yaml`` / ``*.test.yml``; a flow file stands for the
    scenario file beside it (``a.yaml`` → ``a.test.yaml``)."""
    found: list[Path] = []
    missing: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if is_scenario_file(p)))
        elif path.is_file():
            if is_scenario_file(path):
                found.append(path)
            else:
                beside = [path.with_name(path.stem + s) for s in SCENARIO_SUFFIXES]
                found.extend(p for p in beside if p.is_file())
        else:
            missing.append(str(raw))
    seen: set[Path] = set()
    unique = []
    for path in found:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append(path)
    return unique, missing


class _Registries:
    """One registry per flows folder, shared by the scenario files in it."""

    def __init__(self) -> None:
        self._by_folder: dict[Path, Snapshot] = {}

    def snapshot(self, folder: Path) -> Snapshot:
        key = folder.resolve()
        if key not in self._by_folder:
            registry = Registry(folder, env={})
            registry.reload()
            self._by_folder[key] = registry.snapshot
        return self._by_folder[key]


def run_file(path: Path, registries: _Registries | None = None) -> FileOutcome:
    """Check and run one scenario file. Never raises for anything in the files."""
    registries = registries or _Registries()
    name = str(path)
    try:
        text = read_file(path)
    except SourceError as exc:
        return FileOutcome(name, exc.text, [exc.diagnostic], [])
    except OSError as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        problem = Diagnostic.at(name, Span(1, 1, 1, 2), "scenario", f"cannot read: {reason}")
        return FileOutcome(name, "", [problem], [])
    parsed = parse_scenarios(name, text)
    outcomes = [Outcome(name, s.where.line, s.name) for s in parsed.scenarios]
    result = FileOutcome(name, text, parsed.diagnostics, outcomes)
    if not parsed.runnable or parsed.flow_path is None:
        result.outcomes = _not_run(parsed.scenarios, outcomes, everything=True)
        return result
    flow_path = parsed.flow_path
    flow_name = str(flow_path)
    try:
        flow_text = read_file(flow_path)
        linted = lint_text(flow_name, flow_text, parsed.env)
    except (SourceError, OSError):
        linted = None
    errors = [] if linted is None else [d for d in linted.diagnostics if d.is_error]
    if linted is None or linted.flow is None or errors:
        count = len(errors) or 1
        for outcome in outcomes:
            outcome.failures.append(
                Failure(
                    parsed.flow_where,
                    f"{flow_name} to be a flow that lints",
                    f"it has {count} error{'s' if count != 1 else ''}: run `engine lint "
                    f"{flow_name}`",
                )
            )
        return result
    flow = linted.flow
    snapshot = registries.snapshot(flow_path.parent)
    beside = _flows_beside(snapshot, flow_path)
    check_against_flow(
        parsed,
        text,
        flow,
        flow_path.name,
        other_flow=lambda stem: beside[stem].flow if stem in beside else None,
        flow_stems=sorted(beside),
    )
    result.diagnostics = parsed.diagnostics
    if not parsed.runnable:
        result.outcomes = _not_run(parsed.scenarios, outcomes, everything=True)
        return result
    default_dialled = next((n for n in flow.numbers if n != "*"), "")
    for scenario, outcome in zip(parsed.scenarios, outcomes, strict=True):
        if scenario.ok:
            outcome.failures = _run_one(
                scenario, parsed, snapshot, flow.timezone, default_dialled, flow_path
            )
    result.outcomes = _not_run(parsed.scenarios, outcomes, everything=False)
    return result


NOT_RUN = "not run: fix the mistakes shown above"


def _not_run(
    scenarios: Sequence[Scenario], outcomes: list[Outcome], *, everything: bool
) -> list[Outcome]:
    """The outcomes, those not played for mistakes (every one when ``everything``: a mistake
    of the whole file) marked as failed with a failure that says why."""
    for scenario, outcome in zip(scenarios, outcomes, strict=True):
        if everything or not scenario.ok:
            outcome.not_run = True
            outcome.failures = [Failure(scenario.where, "a scenario without mistakes", NOT_RUN)]
    return outcomes


def _flows_beside(snapshot: Snapshot, flow_path: Path) -> dict[str, FlowSnapshot]:
    """The flows loaded from the tested flow's folder, by file name without `.yaml`."""
    folder = flow_path.resolve().parent
    found: dict[str, FlowSnapshot] = {}
    for path, snap in sorted(snapshot.flows.items()):
        if Path(path).resolve().parent == folder:
            found.setdefault(Path(path).stem, snap)
    return found


def _run_one(
    scenario: Scenario,
    parsed: ScenarioFile,
    snapshot: Snapshot,
    timezone: str,
    default_dialled: str,
    flow_path: Path,
) -> list[Failure]:
    env = {**parsed.env, **scenario.env}
    observed, failures = asyncio.run(
        play(
            scenario,
            snapshot=snapshot,
            env=env,
            timezone=timezone,
            default_dialled=default_dialled,
            check=check,
        )
    )
    keys = {e.key for e in scenario.expectations()}
    where = scenario.call.to_where
    if "flow" in keys:
        pass  # the scenario says which flow answers; its expectation checks it
    elif observed.refusal is not None and not keys & {"rejected", "answered"}:
        status, reason = observed.refusal
        failures.insert(
            0,
            Failure(
                where,
                f"the call answered by {flow_path.name}",
                f"it was rejected with {status} ({reason})",
            ),
        )
    elif (
        observed.flow_file is not None
        and "rejected" not in keys
        and Path(observed.flow_file).resolve() != flow_path.resolve()
    ):
        failures.insert(
            0,
            Failure(
                where,
                f"the call answered by {flow_path.name}",
                f"it was answered by {observed.flow_file}",
            ),
        )
    return failures


# -- output --------------------------------------------------------------------------------------


def _text(files: list[FileOutcome]) -> str:
    out: list[str] = []
    for result in files:
        if result.diagnostics:
            out.append(format_text(result.diagnostics, {result.file: result.text}))
        if result.diagnostics and not result.outcomes:
            out.append(f"FAIL {result.file}: no scenario could be read; fix the mistakes above")
        for outcome in result.outcomes:
            mark = "PASS" if outcome.passed else "FAIL"
            if outcome.not_run:
                out.append(f"FAIL {outcome.file}:{outcome.line} {outcome.name} ({NOT_RUN})")
                continue
            out.append(f"{mark} {outcome.file}:{outcome.line} {outcome.name}")
            for failure in outcome.failures:
                out.extend(f"  {line}" for line in failure_lines(outcome.file, failure))
    return "\n".join(out)


def failure_lines(file: str, failure: Failure) -> list[str]:
    """How one failure is told, by ``engine test`` and the studio: where, what the scenario
    expected, what happened (and the lines under it)."""
    return [
        f"{file}:{failure.where.line}:{failure.where.col}",
        f"  expected {failure.expected}",
        f"  happened: {failure.happened}",
        *(f"  {line}" for line in failure.detail),
    ]


def summary_line(files: list[FileOutcome]) -> str:
    outcomes = [o for f in files for o in f.outcomes]
    troubled = sum(1 for f in files if f.diagnostics)
    files_noun = "scenario file" if troubled == 1 else "scenario files"
    if not outcomes and troubled:
        # Never "0 scenarios: 0 passed, 0 failed": that reads as a pass.
        return f"FAILED: no scenario ran; {troubled} {files_noun} with mistakes (shown above)"
    passed = sum(o.passed for o in outcomes)
    failed = len(outcomes) - passed
    not_run = sum(o.not_run for o in outcomes)
    noun = "scenario" if len(outcomes) == 1 else "scenarios"
    line = f"{len(outcomes)} {noun}: {passed} passed, {failed} failed"
    if not_run:
        line += f" ({not_run} not run for mistakes)"
    if troubled:
        line += f"; {troubled} {files_noun} failed with mistakes"
    return line


def _json(files: list[FileOutcome]) -> str:
    items = []
    for result in files:
        for d in result.diagnostics:
            items.append(
                {
                    "file": d.file,
                    "line": d.line,
                    "name": None,
                    "passed": False,
                    "failures": [
                        {
                            "line": d.line,
                            "col": d.col,
                            "expected": None,
                            "happened": d.message,
                            "detail": [],
                        }
                    ],
                    "diagnostic": asdict(d),
                }
            )
        for outcome in result.outcomes:
            items.append(
                {
                    "file": outcome.file,
                    "line": outcome.line,
                    "name": outcome.name,
                    "passed": outcome.passed,
                    "failures": [
                        {
                            "line": f.where.line,
                            "col": f.where.col,
                            "expected": f.expected,
                            "happened": f.happened,
                            "detail": list(f.detail),
                        }
                        for f in outcome.failures
                    ],
                }
            )
    return json.dumps(items, indent=2, ensure_ascii=False)


# -- the command ---------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        default=["flows"],
        metavar="PATH",
        help="scenario files (*.test.yaml), flow files or folders (default: flows)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run(args: argparse.Namespace) -> int:
    paths: Sequence[str] = args.paths or ["flows"]
    files, missing = collect_scenario_files(paths)
    for path in missing:
        print(f"engine test: {path}: no such file or folder", file=sys.stderr)
    if missing:
        return EXIT_USAGE
    if not files:
        print(
            "engine test: no scenario files (*.test.yaml, *.test.yml) found in " + ", ".join(paths),
            file=sys.stderr,
        )
        return EXIT_USAGE
    registries = _Registries()
    results = [run_file(path, registries) for path in files]
    if getattr(args, "format", "text") == "json":
        print(_json(results))
    else:
        text = _text(results)
        if text:
            print(text)
        print(summary_line(results))
    bad = any(f.diagnostics for f in results) or any(
        not o.passed for f in results for o in f.outcomes
    )
    return EXIT_PROBLEMS if bad else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m engine.authoring.scenarios``, until ``engine test`` is wired."""
    parser = argparse.ArgumentParser(prog="engine test")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
