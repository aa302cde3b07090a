"""Do the tests hold what they name? One-line changes to the engine, each expected to fail a
test that targets it.

Each mutation below is a behaviour a test is meant to guard, broken by one textual change to
one file. The script copies the work tree to a temporary folder, checks the targeted tests
pass there unchanged, then applies each mutation in turn, runs its targeted tests, and puts
the file back. A mutation no test fails is *missed*: the behaviour it names can break with
the suite green. The first eight are the ones issue #15 found the suite blind to.

    python bench/mutations.py            # every mutation, its targeted tests
    python bench/mutations.py --full     # each mutation against the whole suite (slow)
    python bench/mutations.py NAME...    # only these mutations

Exit status 0 when every mutation was caught. A mutation whose ``old`` text is no longer in
its file is reported ``stale`` (the code moved: update the mutation, do not drop it).

It is not part of the pytest run: it runs the suite many times over.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEFT_OUT = (
    ".git",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".hypothesis",
    "*.egg-info",
    ".ruff_cache",
)


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str  # the file, from the project's root
    old: str  # the exact text replaced (must occur once)
    new: str
    tests: tuple[str, ...]  # pytest node ids or files that should fail


MUTATIONS = (
    Mutation(
        "incomplete response's tool calls dropped",
        "engine/call/machine.py",
        'cut = event.status == "cancelled"',
        'cut = event.status != "completed"',
        ("tests/runtime/test_call.py::test_a_tool_call_of_a_response_cut_at_its_token_limit_runs",),
    ),
    Mutation(
        "heard-timer cap fixed at its maximum",
        "engine/call/machine.py",
        "cap = min(max(seconds, _HEARD_MIN_S), _HEARD_MAX_S)",
        "cap = _HEARD_MAX_S",
        ("tests/call/test_machine.py", "tests/call/test_machine_platform.py"),
    ),
    Mutation(
        "an accept answered 429 is not retried",
        "engine/openai/rest.py",
        "if not (status >= 500 or status in (408, 409, 429)):",
        "if not (status >= 500 or status in (408, 409)):",
        ("tests/openai/test_openai_rest.py",),
    ),
    Mutation(
        "accept's budget 30 s → 4 s",
        "engine/openai/rest.py",
        '"accept": RetryBudget(30.0),',
        '"accept": RetryBudget(4.0),',
        ("tests/openai/test_openai_rest.py",),
    ),
    Mutation(
        "the HTTP tool runner's default redirect limit 3 → 10",
        "engine/call/tools.py",
        "max_redirects: int = 3,",
        "max_redirects: int = 10,",
        ("tests/call/test_http_tools.py",),
    ),
    Mutation(
        "the response-size cap's boundary flipped",
        "engine/call/tools.py",
        "if len(chunk) > room:",
        "if len(chunk) >= room:",
        ("tests/call/test_http_tools.py",),
    ),
    Mutation(
        "a queued silence line kept when the caller speaks",
        "engine/call/machine.py",
        "self._queue = deque(r for r in self._queue if r.request not in self._silence_lines)",
        "self._queue = deque(self._queue)",
        ("tests/call/test_machine_ivr.py",),
    ),
    Mutation(
        "collect's on_timeout step never runs",
        "engine/call/machine.py",
        "if collect.on_timeout is not None:",
        "if False:",
        ("tests/call/test_machine_ivr.py",),
    ),
    Mutation(
        "the heard-timer cap has no ceiling",
        "engine/call/machine.py",
        "cap = min(max(seconds, _HEARD_MIN_S), _HEARD_MAX_S)",
        "cap = max(seconds, _HEARD_MIN_S)",
        ("tests/call/test_machine.py", "tests/call/test_machine_platform.py"),
    ),
    Mutation(
        "an HTTP tool follows a redirect to another host",
        "engine/call/tools.py",
        "if _origin(url) != origin:",
        "if False:",
        ("tests/call/test_http_tools.py",),
    ),
    Mutation(
        "a REFER that may have gone out is sent again",
        "engine/openai/rest.py",
        'if action == "refer" and exc.maybe_sent:',
        "if False:",
        ("tests/openai/test_openai_rest.py",),
    ),
    Mutation(
        "a hangup answered 404 is an error",
        "engine/openai/rest.py",
        '                    if action == "hangup":\n                        self._event("hangup_gone")',
        '                    if False:\n                        self._event("hangup_gone")',
        ("tests/openai/test_openai_rest.py",),
    ),
    Mutation(
        "keys pressed during a transfer are acted on",
        "engine/call/machine.py",
        "            return []  # a transfer or hangup is under way: keys change nothing now",
        "            pass",
        (
            "tests/runtime/test_ivr.py::test_keys_during_a_transfer_and_after_the_hangup_change_nothing",
        ),
    ),
    Mutation(
        "a tool's answer leaves its filler's timer running",
        "engine/call/machine.py",
        "        return [CancelTimer(FillerTimer(call_id))]",
        "        return []",
        ("tests/runtime/test_ivr.py::test_a_slow_tool_gets_its_filler_and_a_fast_one_does_not",),
    ),
    Mutation(
        "a transfer that did not take refers the same target again",
        "engine/call/machine.py",
        "return replace(self, targets=self.targets[1:], referred=self.targets[0])",
        "return replace(self, referred=self.targets[0])",
        ("tests/call/test_machine_ivr.py", "tests/call/test_machine_platform.py"),
    ),
    Mutation(
        "a called-off departure's line is still said",
        "engine/call/machine.py",
        "self._queue = deque(r for r in self._queue if r.request != departure.line_request)",
        "self._queue = deque(self._queue)",
        ("tests/call/test_machine_tool_start.py", "tests/call/test_machine.py"),
    ),
    Mutation(
        "the simulator ends a call whose refer vanished",
        "engine/simulator/control.py",
        'state.warn(f"refer to {target} vanished: the call stays up")',
        'state.warn(f"refer to {target} vanished: the call stays up"); '
        'asyncio.get_running_loop().call_later(leaves_in, self.end, "transferred")',
        (
            "tests/simulator/test_sim_rest.py::test_refer_ends_the_call_shortly_after_unless_it_vanishes",
            "tests/simulator/test_sim_ivr.py",
        ),
    ),
    Mutation(
        "webhook replies keep their connection in a burst",
        "engine/connections.py",
        "answering >= BURST_DELIVERIES else {}",
        "answering > 10_000 else {}",
        ("tests/runtime/test_webhook.py::test_replies_close_their_connection_in_a_burst_only",),
    ),
)


def copy_project(into: Path) -> None:
    """The work tree as it is (uncommitted changes too), without git and caches."""
    shutil.copytree(ROOT, into, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*LEFT_OUT))


def run_tests(folder: Path, tests: tuple[str, ...], *, full: bool) -> tuple[int, str]:
    """pytest's exit status and the test that failed (or the last line of its output)."""
    targets = [] if full else list(tests)
    env = {**os.environ, "PYTHONPATH": str(folder), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-rf", "-p", "no:randomly"]
    command += ["-p", "no:cacheprovider", *targets]
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    lines = (done.stdout + done.stderr).strip().splitlines() or [""]
    failed = [line.split(" - ")[0] for line in lines if line.startswith("FAILED ")]
    return done.returncode, failed[0] if failed else lines[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="run only mutations whose name contains one")
    parser.add_argument("--full", action="store_true", help="run the whole suite each time")
    options = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not options.names or any(n in m.name for n in options.names)]
    if not chosen:
        parser.error("no mutation matches")
    results: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="mutations-") as temp:
        folder = Path(temp)
        copy_project(folder)
        targets = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        status, tail = run_tests(folder, targets, full=options.full)
        if status != 0:
            print(f"the targeted tests fail before any change: {tail}", file=sys.stderr)
            return 2
        for mutation in chosen:
            path = folder / mutation.path
            original = path.read_text(encoding="utf-8")
            if original.count(mutation.old) != 1:
                results.append((mutation.name, "stale", f"{mutation.old!r} not once in file"))
                continue
            path.write_text(original.replace(mutation.old, mutation.new), encoding="utf-8")
            started = time.monotonic()
            try:
                status, tail = run_tests(folder, mutation.tests, full=options.full)
            finally:
                path.write_text(original, encoding="utf-8")
            took = f"{time.monotonic() - started:.0f}s"
            # 1: tests failed. Anything else (5: no tests ran, 2: collection broke…) is not a
            # test catching the change.
            verdict = "caught" if status == 1 else "MISSED" if status == 0 else f"error {status}"
            results.append((mutation.name, verdict, f"{took} {tail}"))
            print(f"{verdict:8} {mutation.name}", file=sys.stderr, flush=True)
    width = max(len(name) for name, _, _ in results)
    print(f"\n{'mutation':{width}}  result  detail")
    for name, verdict, detail in results:
        print(f"{name:{width}}  {verdict:6}  {detail}")
    return 0 if all(verdict == "caught" for _, verdict, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
