"""Statistics of the measurements: nearest-rank percentiles, latency summaries, medians, number formats."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of already sorted values; nan when empty."""
    if not sorted_values:
        return float("nan")
    rank = max(1, int(-(-q * len(sorted_values) // 100)))  # ceil(q/100 * n), at least 1
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class LatencySummary:
    n: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> LatencySummary:
        s = sorted(seconds)
        if not s:
            nan = float("nan")
            return cls(0, nan, nan, nan, nan, nan)
        return cls(
            len(s),
            statistics.fmean(s) * 1e3,
            percentile(s, 50) * 1e3,
            percentile(s, 95) * 1e3,
            percentile(s, 99) * 1e3,
            s[-1] * 1e3,
        )


def median(values: Sequence[float]) -> float:
    vals = [v for v in values if v == v]  # drop nan
    return statistics.median(vals) if vals else float("nan")


def fmt(value: float, digits: int = 2) -> str:
    if value != value:  # nan
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def runs_text(values: Sequence[float], digits: int = 0) -> str:
    """'median (run1 / run2 / run3)'."""
    return f"{fmt(median(values), digits)} ({' / '.join(fmt(v, digits) for v in values)})"
