"""`engine lint` on a large folder: the files checked in one worker process per CPU.

Reading and checking a file does not depend on the other files; only the checks across
files (a number claimed twice, a hand-off to a missing flow) do, and they run afterwards in
the command's own process on each file's ``Claims``. A worker sends back each file's text,
problems, ignore comments and claims, never its flow or parsed document: those are most of a
result's size, and unpickling them would cost the command what the workers saved.

A small run stays in one process: starting workers costs more than it saves there.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .lint import FileResult, _lint_each

__all__ = ["PARALLEL_FROM", "lint_in_workers", "parallel_jobs"]

# Above this many files `engine lint` checks them in worker processes, each given at least
# a hundred files (a worker costs a fork and a pipe; 1,000 flows take about a second).
PARALLEL_FROM = 200
_FILES_PER_WORKER = 100
# Each worker is handed its files in a few parts, so that one with slower files (larger, or
# with more templates) does not leave the others waiting at the end.
_PARTS_PER_WORKER = 4


def parallel_jobs(count: int) -> int:
    """How many processes `engine lint` checks ``count`` files in."""
    if count <= PARALLEL_FROM:
        return 1
    return max(1, min(_cpus(), count // _FILES_PER_WORKER))


def _cpus() -> int:
    """The CPUs this process may run on (fewer than the machine's in a limited container)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def lint_in_workers(files: list[Path], env: Mapping[str, str], jobs: int) -> list[FileResult]:
    """Each file checked on its own, in ``jobs`` worker processes; the results in file order,
    without their ``flow`` and ``doc``."""
    size = max(1, -(-len(files) // (jobs * _PARTS_PER_WORKER)))
    parts = [[str(path) for path in files[at : at + size]] for at in range(0, len(files), size)]
    # A forked worker starts with everything lint imports already imported (a third of a
    # short run's time); the command has no threads that forking could cut in half.
    # Elsewhere (no fork) each worker imports lint again.
    # A worker that dies (it should not) fails the run with BrokenProcessPool rather than
    # leaving it waiting for that worker's files.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    tasks = [(part, dict(env)) for part in parts]
    with ProcessPoolExecutor(min(jobs, len(parts)), mp_context=context) as pool:
        checked = list(pool.map(_lint_part, tasks))
    return [result for part in checked for result in part]


def _lint_part(task: tuple[list[str], dict[str, str]]) -> list[FileResult]:
    names, env = task
    results = _lint_each([Path(name) for name in names], env)
    for result in results:
        result.flow = None
        result.doc = None
    return results


def in_workers(jobs: int) -> Callable[[list[Path], Mapping[str, str]], list[FileResult]] | None:
    """What ``lint_files(each=…)`` takes to check files in ``jobs`` worker processes; None
    (check them in this process) for one job."""
    if jobs <= 1:
        return None
    return lambda files, env: (
        lint_in_workers(files, env, jobs) if len(files) > 1 else _lint_each(files, env)
    )
