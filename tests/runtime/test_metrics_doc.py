"""docs/runtime.md's metrics tables stay complete and true: every metric the engine registers
is there with its type, labels and HELP text (read from the registry, not from a list kept
here), every bounded label's values are listed, and the engine's source only counts values
that are.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from engine.call.answer import REFUSAL_KINDS
from engine.metrics import (
    CALL_OUTCOMES,
    REJECT_REASONS,
    REST_EVENTS,
    TIMED_ACTIONS,
    TOOL_RESULTS,
    TRANSFER_RESULTS,
    WEBHOOK_OUTCOMES,
    Metrics,
)
from engine.openai.rest import DEFAULT_BUDGETS
from engine.records.record import CallOutcome, CallRecord, ToolCall, TransferTry

REPO = Path(__file__).resolve().parents[2]
ENGINE = REPO / "engine"
DOC = (REPO / "docs" / "runtime.md").read_text(encoding="utf-8")
# Labels whose values are names from the flows folder, not a fixed set.
NAMED = {"flow", "tool"}
# Which fixed set each bounded label takes its values from.
VALUES = {
    ("engine_calls_total", "outcome"): set(CALL_OUTCOMES),
    ("engine_call_rejections_total", "reason"): set(REJECT_REASONS),
    ("engine_tool_calls_total", "result"): set(TOOL_RESULTS),
    ("engine_transfers_total", "result"): set(TRANSFER_RESULTS),
    ("engine_webhooks_total", "outcome"): set(WEBHOOK_OUTCOMES),
    ("engine_openai_rest_total", "action"): set(REST_EVENTS),
    ("engine_openai_rest_total", "event"): {e for events in REST_EVENTS.values() for e in events},
    ("engine_event_to_action_seconds", "action"): set(TIMED_ACTIONS),
}


def section() -> str:
    match = re.search(r"(?ms)^## Metrics\n(.*?)(?=^## |\Z)", DOC)
    assert match, "docs/runtime.md has no Metrics section"
    return match[1]


def rows(cells_per_row: int) -> Iterator[list[str]]:
    for line in section().splitlines():
        if not line.startswith("| "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == cells_per_row and not re.fullmatch(r"-+", cells[0]):
            yield cells


def documented_metrics() -> dict[str, list[str]]:
    """The first table: metric name → [type, labels, HELP, what it tells]."""
    found = {}
    for cells in rows(5):
        if cells[0].startswith("`engine_"):
            found[cells[0].strip("`")] = cells[1:]
    return found


def documented_values() -> dict[tuple[str, str], set[str]]:
    """The second table: (metric, label) → its values (empty cells continue the row above)."""
    found: dict[tuple[str, str], set[str]] = {}
    metric = label = ""
    for cells in rows(4):
        if cells[0] == "metric":
            continue
        metric = cells[0].strip("`") or metric
        label = cells[1].strip("`") or label
        found.setdefault((metric, label), set()).update(re.findall(r"`([a-z_]+)`", cells[2]))
    return found


def busy_metrics() -> Metrics:
    """A registry with a sample in every metric (a metric with labels has none before its
    first), so each one's labels can be read from it."""
    m = Metrics()
    now = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
    m.flow_loaded("flows/acme-support.yaml", ["lookup_order"])
    m.record_call(
        CallRecord(
            "rtc_doc",
            now,
            flow_file="flows/acme-support.yaml",
            outcome=CallOutcome.TRANSFERRED,
            tools=[ToolCall("lookup_order", now, {}, "ok", duration_ms=80.0)],
            transfers=[TransferTry("tel:+18005550100", now, "took")],
        )
    )
    m.record_call(CallRecord("rtc_no", now, outcome=CallOutcome.REJECTED, reject_kind="closed"))
    return m


def registered() -> dict[str, tuple[str, str, set[str]]]:
    """Exposed name → (type, HELP, label names), from a registry's own description."""
    found = {}
    for family in busy_metrics().registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        labels = {k for s in family.samples for k in s.labels} - {"le"}
        found[name] = (family.type, family.documentation, labels)
    return found


def test_every_registered_metric_is_documented_with_its_type_labels_and_help():
    metrics = registered()
    assert len(metrics) >= 12, sorted(metrics)  # the scan works
    table = documented_metrics()
    for name, (kind, help_text, labels) in metrics.items():
        assert name in table, f"{name} is registered but not in docs/runtime.md#metrics"
        doc_kind, doc_labels, doc_help, meaning = table[name]
        assert doc_kind == kind, name
        assert set(re.findall(r"`([a-z_]+)`", doc_labels)) == labels, name
        assert doc_help == help_text, f"{name}: the table's HELP is not the metric's"
        assert len(meaning) > 20, f"{name}: say what an IVR owner reads from it"
    assert set(table) - set(metrics) == set(), "documented, but the engine has no such metric"


def test_every_bounded_label_lists_exactly_its_values():
    bounded = {
        (name, label) for name, (_, _, labels) in registered().items() for label in labels - NAMED
    }
    assert bounded == set(VALUES), "a label with no known set of values: add it to VALUES"
    documented = documented_values()
    assert set(documented) == set(VALUES), "the values table names labels there are not"
    for key, values in VALUES.items():
        assert documented[key] == values, key


def test_the_exposition_carries_only_the_bounded_values_and_named_labels():
    page = busy_metrics().render().decode()
    seen = 0
    for name, block in re.findall(r"(?m)^(engine_[a-z_]+)\{(.*)\} ", page):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        for label, value in re.findall(r'([a-z]+)="([^"]*)"', block):
            if label not in NAMED | {"le"}:
                assert value in VALUES[(base, label)], (name, label, value)
                seen += 1
    assert seen > 20, page  # the scan works


# -- what the source counts --------------------------------------------------------------


@functools.cache
def engine_calls() -> list[ast.Call]:
    """Every call expression in engine/'s source, parsed once."""
    found = []
    for path in sorted(ENGINE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found += [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    return found


def calls_of(method: str) -> Iterator[ast.Call]:
    for node in engine_calls():
        if isinstance(node.func, ast.Attribute) and node.func.attr == method and node.args:
            yield node


def first_strings(method: str) -> set[str]:
    """The first argument of every ``….method("…")`` call in engine/ (an f-string with
    ``{}`` where its values go)."""
    found = set()
    for node in calls_of(method):
        arg = node.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            found.add(arg.value)
        elif isinstance(arg, ast.JoinedStr):
            found.add("".join(p.value if isinstance(p, ast.Constant) else "{}" for p in arg.values))
    return found


def test_the_server_counts_every_webhook_outcome_and_no_other():
    assert first_strings("webhook") == set(WEBHOOK_OUTCOMES)


def test_every_call_control_event_is_a_known_action_and_event():
    emitted = set()
    for pattern in first_strings("_event"):
        emitted |= (
            {pattern.replace("{}", a) for a in DEFAULT_BUDGETS} if "{}" in pattern else {pattern}
        )
    assert {"accept_retry", "refer_uncertain"} <= emitted, emitted  # the scan works
    known = {f"{a}_{e}" for a, events in REST_EVENTS.items() for e in events}
    assert emitted == known


def test_every_timed_action_is_one_the_driver_measures():
    assert first_strings("_measure") == set(TIMED_ACTIONS)


def test_every_refusal_kind_is_a_rejection_reason():
    # Every snake_case constant of answer.py names a kind of refusal.
    tree = ast.parse((ENGINE / "call" / "answer.py").read_text(encoding="utf-8"))
    kinds = {
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        and re.fullmatch(r"[a-z_]+", node.value.value)
    }
    assert kinds == REFUSAL_KINDS
    assert kinds < set(REJECT_REASONS)
