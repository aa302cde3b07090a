"""A flow's scenarios (``FLOW.test.yaml`` beside it), listed and run as ``engine test`` runs
them: ``run_file``, told in the same words (``failure_lines``, ``summary_line``).

A run reads the flow file as saved on disk; it changes nothing. Runs go to a thread, a few
at a time, each bounded in time (``work.Bounded``): the event loop keeps serving calls.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ..authoring.scenario_format import parse_scenarios
from ..authoring.scenarios import (
    FileOutcome,
    collect_scenario_files,
    failure_lines,
    run_file,
    summary_line,
)
from ..flow.diagnostics import format_text
from ..flow.lint import read_file
from ..flow.source import SourceError
from .work import Bounded, Busy

__all__ = ["Listed", "Results", "ScenarioResult", "Scenarios"]


@dataclass(frozen=True)
class Listed:
    """The scenarios of one file, as written (not run)."""

    file: str
    names: tuple[tuple[str, int], ...]  # each scenario's name and line
    problems: str = ""  # the file's mistakes, as `engine test` prints them


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    line: int
    passed: bool
    not_run: bool
    told: tuple[str, ...]  # each failure in `engine test`'s words


@dataclass(frozen=True)
class Results:
    file: str
    summary: str
    problems: str  # the file's mistakes, as `engine test` prints them
    scenarios: tuple[ScenarioResult, ...] = field(default=())


def scenario_file(flow_file: str) -> Path | None:
    """The scenario file beside a flow file (``a.yaml`` → ``a.test.yaml``), if there is one."""
    found, _ = collect_scenario_files([flow_file])
    return found[0] if found else None


class Scenarios:
    def __init__(self, listing: Bounded, runs: Bounded) -> None:
        self.listing = listing
        self.runs = runs
        self._kept: dict[tuple[str, str], Listed] = {}

    async def listed(self, flow_file: str) -> Listed | None:
        """The scenarios beside ``flow_file`` (its path as the registry names it), or None."""
        path = scenario_file(flow_file)
        if path is None:
            return None
        try:
            text = read_file(path)
        except SourceError as exc:
            return Listed(str(path), (), format_text([exc.diagnostic], {}))
        except OSError:
            return None
        key = (str(path), hashlib.sha256(text.encode()).hexdigest())
        if key not in self._kept:
            try:
                listed = await self.listing.run(_listed, str(path), text)
            except Busy:
                return Listed(str(path), (), "(not read in time: the server is busy)")
            if len(self._kept) > 256:
                self._kept.clear()
            self._kept[key] = listed
        return self._kept[key]

    async def run(self, flow_file: str) -> Results | None:
        """Every scenario beside ``flow_file`` run now, or None: it has none. ``Busy`` when
        the run does not end in time."""
        path = scenario_file(flow_file)
        if path is None:
            return None
        outcome = await self.runs.run(run_file, path)
        return _results(outcome)


def _listed(file: str, text: str) -> Listed:
    parsed = parse_scenarios(file, text)
    names = tuple((s.name, s.where.line) for s in parsed.scenarios)
    problems = format_text(parsed.diagnostics, {file: text}) if parsed.diagnostics else ""
    return Listed(file, names, problems)


def _results(outcome: FileOutcome) -> Results:
    problems = ""
    if outcome.diagnostics:
        problems = format_text(outcome.diagnostics, {outcome.file: outcome.text})
    scenarios = tuple(
        ScenarioResult(
            o.name,
            o.line,
            o.passed,
            o.not_run,
            tuple("\n".join(failure_lines(o.file, f)) for f in o.failures),
        )
        for o in outcome.outcomes
    )
    return Results(outcome.file, summary_line([outcome]), problems, scenarios)
