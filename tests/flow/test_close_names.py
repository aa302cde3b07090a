"""`CloseNames`: did-you-mean over a folder of many flows, without comparing every pair."""

from __future__ import annotations

from pathlib import Path

from engine.flow.lint import collect_files, lint_files
from engine.flow.validate import CloseNames, did_you_mean

NAMES = [f"flow-{i:04d}" for i in range(300)] + ["billing", "support", "after-hours"]


def test_a_large_pool_finds_what_a_full_comparison_finds_for_a_typo() -> None:
    pool = CloseNames(NAMES)
    for typo in ("flow-0l07", "flow-007", "biling", "supprot", "after_hours", "Support"):
        assert pool.guess(typo) == did_you_mean(typo, NAMES), typo
        assert pool.guess(typo) is not None


def test_a_word_far_from_every_name_gets_no_guess() -> None:
    assert CloseNames(NAMES).guess("reception-desk") is None


def test_the_asking_name_is_never_the_guess() -> None:
    pool = CloseNames(NAMES)
    assert pool.guess("flow-0007-x", besides="flow-0007") != "flow-0007"
    assert CloseNames(["support"]).guess("suport", besides="support") is None


def test_a_small_pool_is_compared_in_full() -> None:
    # "billing-team" is three edits from "billing" (too far for the index) but close enough.
    assert CloseNames(["billing", "sales"]).guess("billing-team") == "billing"


FLOW = """\
name: Flow {i}
numbers: ["+1800555{i:04d}"]
instructions: Help.
callers:
  - numbers: ["+1900*"]
    flow: {target}
"""


def test_missing_hand_offs_in_a_large_folder(tmp_path: Path) -> None:
    for i in range(120):
        target = f"flow-{(i + 1) % 120:04d}" if i else "flow-0005-night"
        if i == 1:
            target = "reception-desk"
        text = FLOW.format(i=i, target=target)
        (tmp_path / f"flow-{i:04d}.yaml").write_text(text, encoding="utf-8")
    report = lint_files(collect_files([tmp_path])[0], env={})
    found = {Path(d.file).name: d for d in report.diagnostics}
    assert set(found) == {"flow-0000.yaml", "flow-0001.yaml"}
    assert found["flow-0000.yaml"].hint == 'did you mean "flow-0005"?'
    listed = found["flow-0001.yaml"].hint or ""
    assert listed.startswith("the flows beside it are: flow-0000, flow-0002,")
    assert listed.endswith(" and 109 more")
