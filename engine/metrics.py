"""Counters and latency histograms, served at /metrics in the Prometheus text format."""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Metrics"]

# Seconds. Fine at the low end: engine time per webhook or action is sub-millisecond.
_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(_BUCKETS) + 1))
    total: float = 0.0
    n: int = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(_BUCKETS, seconds)] += 1
        self.total += seconds
        self.n += 1


@dataclass
class Metrics:
    counters: Counter[str] = field(default_factory=Counter)
    histograms: dict[str, _Histogram] = field(default_factory=dict)
    gauges: dict[str, float] = field(default_factory=dict)

    def count(self, name: str, amount: int = 1) -> None:
        self.counters[name] += amount

    def observe(self, name: str, seconds: float) -> None:
        self.histograms.setdefault(name, _Histogram()).observe(seconds)

    def render(self) -> str:
        lines: list[str] = []
        for key, value in sorted(self.counters.items()):
            name, _, label = key.partition(":")
            labels = f'{{outcome="{label}"}}' if label else ""
            lines.append(f"engine_{name}_total{labels} {value}")
        for name, value in sorted(self.gauges.items()):
            lines.append(f"engine_{name} {value:g}")
        for name, hist in sorted(self.histograms.items()):
            cumulative = 0
            for bound, count in zip((*_BUCKETS, float("inf")), hist.counts, strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                lines.append(f'engine_{name}_seconds_bucket{{le="{le}"}} {cumulative}')
            lines.append(f"engine_{name}_seconds_sum {hist.total:.6f}")
            lines.append(f"engine_{name}_seconds_count {hist.n}")
        return "\n".join(lines) + "\n"
