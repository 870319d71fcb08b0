"""Rolling windows over what every process reported.

Per (process, kind, name): exact counts per second for the last hour (so a window's count, error
count and rate are exact), all-time totals, and the latencies themselves (up to SAMPLE_LIMIT per
method, newest kept) from which percentiles are computed with numpy's default (linear) method.
When a method had more calls in the window than samples kept, its stats say ``sampled``.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

HORIZON_S = 3600.0
SAMPLE_LIMIT = 200_000
MAX_WINDOW_S = HORIZON_S


class SampleRing:
    """The newest ``limit`` (time, latency ms) pairs in two float64 arrays (16 bytes a sample, where a deque of
    tuples takes ~110), grown by doubling, oldest overwritten once full."""

    def __init__(self, limit: int = SAMPLE_LIMIT, initial: int = 256) -> None:
        self.limit = limit
        self._at = np.empty(min(initial, limit))
        self._ms = np.empty(min(initial, limit))
        self._head = 0  # index of the oldest sample
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, at: float, ms: float) -> None:
        capacity = self._at.size
        if self._size == capacity and capacity < self.limit:
            grown = min(capacity * 2, self.limit)
            self._at = np.resize(self._ordered(self._at), grown)
            self._ms = np.resize(self._ordered(self._ms), grown)
            self._head, capacity = 0, grown
        if self._size == capacity:  # full at the limit: the newest replaces the oldest
            slot = self._head
            self._head = (self._head + 1) % capacity
        else:
            slot = (self._head + self._size) % capacity
            self._size += 1
        self._at[slot] = at
        self._ms[slot] = ms

    def prune(self, oldest: float) -> None:
        """Drop samples from the oldest end while they are older than ``oldest``."""
        if not self._size or self._at[self._head] >= oldest:
            return
        at = self._ordered(self._at)
        drop = int(np.argmax(at >= oldest)) if at.size and at[-1] >= oldest else at.size
        if drop:
            self._head = (self._head + drop) % self._at.size
            self._size -= drop

    def latencies_since(self, start: float) -> np.ndarray:
        """The latencies of the samples taken at ``start`` or later, oldest first."""
        return self._ordered(self._ms)[self._ordered(self._at) >= start]

    def _ordered(self, values: np.ndarray) -> np.ndarray:
        end = self._head + self._size
        if end <= values.size:
            return values[self._head : end]
        return np.concatenate((values[self._head :], values[: end - values.size]))


@dataclass
class Series:
    total: int = 0
    total_errors: int = 0
    seconds: dict[int, list[int]] = field(default_factory=dict)  # second -> [count, errors]
    error_codes: dict[int, Counter[str]] = field(default_factory=dict)  # second -> codes other than OK
    samples: SampleRing = field(default_factory=SampleRing)

    def add(self, at: float, latency_ms: float, code: str) -> None:
        second = int(at)
        bucket = self.seconds.setdefault(second, [0, 0])
        bucket[0] += 1
        self.total += 1
        if code != "OK":
            bucket[1] += 1
            self.total_errors += 1
            self.error_codes.setdefault(second, Counter())[code] += 1
        self.samples.append(at, latency_ms)

    def prune(self, oldest: float) -> None:
        cut = int(oldest)
        for second in [s for s in self.seconds if s < cut]:
            del self.seconds[second]
            self.error_codes.pop(second, None)
        self.samples.prune(oldest)


@dataclass(frozen=True)
class MethodSummary:
    process: str
    kind: str
    name: str
    count: int
    errors: int
    rate_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    total: int
    total_errors: int
    codes: dict[str, int]
    sampled: bool


@dataclass(frozen=True)
class ProcessInfo:
    process: str
    pid: int
    cpu_percent: float
    rss_bytes: int
    pss_bytes: int
    connections: int
    uptime_s: float
    at: float


@dataclass(frozen=True)
class SummaryResult:
    window_s: float
    generated_at: float
    methods: list[MethodSummary]
    processes: list[ProcessInfo]
    dropped_batches: dict[str, int]
    dropped_records: dict[str, int]


class Aggregator:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._series: dict[tuple[str, str, str], Series] = {}
        self._processes: dict[tuple[str, int], ProcessInfo] = {}
        self._dropped_batches: dict[str, int] = {}
        self._dropped_records: dict[str, int] = {}
        self.batches = 0
        self.records = 0

    def ingest(
        self,
        process: str,
        calls: list[tuple[str, str, str, float, float]],
        sample: ProcessInfo | None,
        dropped_batches: int,
        dropped_records: int,
    ) -> None:
        """Add one batch: calls are (kind, name, code, latency_ms, at)."""
        for kind, name, code, latency_ms, at in calls:
            if not (math.isfinite(latency_ms) and math.isfinite(at)):
                continue
            key = (process, kind, name)
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = Series()
            series.add(at, latency_ms, code)
        if sample is not None:
            self._processes[(sample.process, sample.pid)] = sample
        self._dropped_batches[process] = max(self._dropped_batches.get(process, 0), dropped_batches)
        self._dropped_records[process] = max(self._dropped_records.get(process, 0), dropped_records)
        self.batches += 1
        self.records += len(calls)
        oldest = self.clock() - HORIZON_S
        for series in self._series.values():
            series.prune(oldest)
        for key in [k for k, p in self._processes.items() if p.at < oldest]:
            del self._processes[key]

    def summary(
        self, window_s: float = 60.0, kind: str = "", name_contains: str = "", process: str = ""
    ) -> SummaryResult:
        window = min(max(window_s or 60.0, 1.0), MAX_WINDOW_S)
        now = self.clock()
        start = now - window
        methods = []
        for (proc, k, name), series in sorted(self._series.items()):
            if (kind and k != kind) or (name_contains and name_contains not in name) or (process and proc != process):
                continue
            first_second = int(start) + 1  # whole seconds inside the window
            count = errors = 0
            codes: Counter[str] = Counter()
            for second, (c, e) in series.seconds.items():
                if second >= first_second:
                    count += c
                    errors += e
                    codes.update(series.error_codes.get(second, {}))
            if count > errors:
                codes["OK"] = count - errors
            lat = series.samples.latencies_since(first_second)
            if count == 0 and series.total == 0:
                continue
            if lat.size:
                p50, p95, p99 = (float(x) for x in np.percentile(lat, [50, 95, 99]))
                mean, top = float(lat.mean()), float(lat.max())
            else:
                p50 = p95 = p99 = mean = top = 0.0
            methods.append(
                MethodSummary(
                    proc,
                    k,
                    name,
                    count,
                    errors,
                    count / window,
                    p50,
                    p95,
                    p99,
                    mean,
                    top,
                    series.total,
                    series.total_errors,
                    dict(codes),
                    lat.size < count,
                )
            )
        processes = sorted(
            (p for p in self._processes.values() if not process or p.process == process), key=lambda p: p.process
        )
        return SummaryResult(window, now, methods, processes, dict(self._dropped_batches), dict(self._dropped_records))
