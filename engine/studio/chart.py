"""Calls per flow per day by outcome as a stacked bar chart, laid out here and drawn by the
template as inline SVG (no script: it shows without JavaScript), with a table of the same
numbers beside it for screen readers and for reading exact counts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

from ..records.overview import CallCount
from ..records.record import CallOutcome

__all__ = ["COLOURS", "OUTCOMES", "Bar", "Chart", "Panel", "Row", "lay_out"]

LIVE = "live"  # a call not ended yet has no outcome
OUTCOMES = (*(o.value for o in CallOutcome), LIVE)
COLOURS = {
    "handled": "#1e6b35",
    "transferred": "#1f5fbf",
    "abandoned": "#c07a00",
    "rejected": "#6b7280",
    "failed": "#b3261e",
    LIVE: "#8e6ccf",
}
WIDTH = 760
LEFT = 44  # room for the scale's numbers
PANEL_HEIGHT = 100
PANEL_GAP = 46  # the flow's name above, the days below


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str  # what a pointer or a screen reader shows

    def svg(self) -> str:
        return (
            f'<rect x="{self.x:.1f}" y="{self.y:.1f}" width="{self.width:.1f}" '
            f'height="{self.height:.1f}" fill="{self.colour}"><title>{escape(self.title)}'
            "</title></rect>"
        )


@dataclass
class Panel:
    flow: str
    top: float
    total: int
    bars: list[Bar] = field(default_factory=list)

    @property
    def svg_bars(self) -> Markup:
        """The panel's bars as SVG, made here in one go (hundreds of them: a template loop
        was most of the page's time); every text in them is escaped."""
        return Markup("".join(bar.svg() for bar in self.bars))


@dataclass(frozen=True)
class Row:
    """One line of the chart's table: a flow's calls on one day."""

    flow: str
    day: str
    counts: list[int]  # in OUTCOMES' order
    total: int


@dataclass
class Chart:
    days: list[str]
    flows: list[str]
    counts: dict[tuple[str, str], dict[str, int]]  # (flow, day) → outcome → calls
    panels: list[Panel]
    peak: int  # the most calls of one flow on one day: the top of every panel's scale
    width: int = WIDTH
    left: int = LEFT
    panel_height: int = PANEL_HEIGHT
    day_labels: list[tuple[float, str]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)  # the table: days with calls only

    @property
    def height(self) -> int:
        return int(len(self.panels) * (PANEL_HEIGHT + PANEL_GAP) + 8)

    @property
    def day_labels_svg(self) -> Markup:
        """The days under a panel's bars at ``y`` 0 (each panel moves them down)."""
        return Markup(
            "".join(
                f'<text x="{x:.1f}" y="0" text-anchor="middle" class="scale">{escape(label)}</text>'
                for x, label in self.day_labels
            )
        )


def _flow(count: CallCount) -> str:
    return count.flow_name or "(no flow)"


def lay_out(counts: Sequence[CallCount], days: list[str]) -> Chart:
    """One panel per flow (busiest first), one bar per day, stacked by outcome."""
    table: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    totals: dict[str, int] = defaultdict(int)
    for c in counts:
        outcome = c.outcome or LIVE
        cell = table[(_flow(c), c.day)]
        cell[outcome] = cell.get(outcome, 0) + c.calls
        totals[_flow(c)] += c.calls
    flows = sorted(totals, key=lambda f: (-totals[f], f.casefold()))
    peak = max((sum(cell.values()) for cell in table.values()), default=0)
    chart = Chart(days=days, flows=flows, counts=dict(table), panels=[], peak=peak)
    step = (WIDTH - LEFT) / max(1, len(days))
    width = max(2.0, step * 0.7)
    every = max(1, round(len(days) / 7))  # at most about seven day labels
    chart.day_labels = [
        (LEFT + i * step + step / 2, day[5:]) for i, day in enumerate(days) if i % every == 0
    ]
    for n, flow in enumerate(flows):
        top = n * (PANEL_HEIGHT + PANEL_GAP) + 20
        panel = Panel(flow=flow, top=top, total=totals[flow])
        for i, day in enumerate(days):
            cell = table.get((flow, day), {})
            if cell:
                counts_ = [cell.get(o, 0) for o in OUTCOMES]
                chart.rows.append(Row(flow, day, counts_, sum(counts_)))
            base = float(top + PANEL_HEIGHT)
            for outcome in OUTCOMES:
                calls = cell.get(outcome, 0)
                if not calls:
                    continue
                height = PANEL_HEIGHT * calls / peak
                base -= height
                title = f"{flow}, {day}: {calls} {outcome}"
                x = LEFT + i * step + (step - width) / 2
                panel.bars.append(Bar(x, base, width, height, COLOURS[outcome], title))
        chart.panels.append(panel)
    return chart
