"""bench/loadtest/compare.py's arithmetic over rounds: what the issue's ratios are read from.

The runs themselves need the shared instrument and minutes of a quiet machine, so they are
not tests; the medians and the order of the controllers are checked here on made-up reports.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

COMPARE = Path(__file__).resolve().parents[2] / "bench" / "loadtest" / "compare.py"
_spec = importlib.util.spec_from_file_location("bench_compare", COMPARE)
assert _spec is not None and _spec.loader is not None
compare = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare)


def report(p50: float, p95: float) -> dict:
    return {"timings_ms": {"webhook->accept": {"p50": p50, "p95": p95}}}


def test_each_controller_starts_one_round_in_turn() -> None:
    names = ["floor", "before", "after"]
    orders = [compare.in_turn(names, r) for r in range(4)]
    assert orders[0] == ["floor", "before", "after"]
    assert orders[1] == ["before", "after", "floor"]
    assert orders[2] == ["after", "floor", "before"]
    assert orders[3] == orders[0]
    assert {o[0] for o in orders[:3]} == set(names)


def test_ratios_are_paired_within_a_round_then_their_median_and_range() -> None:
    rounds = [
        {("floor", 20, 0): report(10, 50), ("engine", 20, 0): report(14, 70)},
        {("floor", 20, 0): report(20, 90), ("engine", 20, 0): report(18, 60)},
        {("floor", 20, 0): report(12, 40), ("engine", 20, 0): report(12, 80)},
    ]
    # 1.40, 0.90 and 1.00: the median is a round's own ratio, not 14.0 ÷ 12.0.
    assert compare.ratio(rounds, "engine", (20, 0), "webhook->accept") == "1.00× (0.90–1.40)"
    assert compare.figure(rounds, "engine", (20, 0), "webhook->accept") == "14.0 / 70.0"
    assert compare.figure(rounds, "floor", (20, 0), "webhook->accept") == "12.0 / 50.0"


def test_one_round_prints_its_ratio_alone() -> None:
    rounds = [{("floor", 1, 0): report(5, 6), ("engine", 1, 0): report(4, 5)}]
    assert compare.ratio(rounds, "engine", (1, 0), "webhook->accept") == "0.80×"


def test_a_timing_missing_from_any_round_is_not_made_up() -> None:
    empty = {"timings_ms": {}}
    rounds = [
        {("floor", 1, 0): report(5, 6), ("engine", 1, 0): report(4, 5)},
        {("floor", 1, 0): report(5, 6), ("engine", 1, 0): empty},
    ]
    assert compare.ratio(rounds, "engine", (1, 0), "webhook->accept") == "–"
    assert compare.figure(rounds, "engine", (1, 0), "webhook->accept") == "–"
