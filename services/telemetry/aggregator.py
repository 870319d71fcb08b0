"""Rolling windows over what every process reported.

Per (process, kind, name): exact counts per second for the last hour (so a window's count, error
count and rate are exact), all-time totals, and the latencies themselves (up to SAMPLE_LIMIT per
method, newest kept) from which percentiles are computed with numpy's default (linear) method.
When a method had more calls in the window than samples kept, its stats say ``sampled``.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

HORIZON_S = 3600.0
SAMPLE_LIMIT = 200_000
# Series kept at most: ~6 processes x ~100 RPCs and tools is what a real stack has. Past it, a new
# (process, kind, name) counts under one overflow series per kind, so reporters cannot grow memory or /metrics.
MAX_SERIES = 2000
OVERFLOW = "(other)"
MAX_PROCESSES = 256  # process samples kept (per process and pid); a new one past it is not kept
MAX_WINDOW_S = HORIZON_S
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


class SampleRing:
    """The newest ``limit`` (time, latency ms) pairs, in fixed blocks of ``block`` samples: times as whole
    seconds (int32, counted from the ring's first sample), latencies as float32 (8 bytes a sample, where a
    deque of tuples takes ~110; float32 keeps 7 significant digits of a latency). Whole seconds are all the
    windows need: a summary starts at a whole second and the per-second counts are by ``int(at)`` too; they
    saved a third of the sample memory (float64 times: 12 bytes; ~1 MB of the telemetry process's PSS after
    the 60 s load of bench.bench_swarm_load). Blocks are allocated as samples arrive and freed whole as they
    age out, so no series holds more than one partly used block beyond its samples, and nothing is ever
    copied to grow."""

    def __init__(self, limit: int = SAMPLE_LIMIT, block: int = 1024) -> None:
        self.limit = limit
        self.block = max(1, min(block, limit))
        self._blocks: deque[tuple[np.ndarray, np.ndarray]] = deque()
        self._base: int | None = None  # the second times are counted from
        self._head = 0  # index of the oldest sample in the first block
        self._fill = 0  # samples in the last block
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, at: float, ms: float) -> None:
        second = math.floor(at)
        if self._base is None:
            self._base = second
        if not self._blocks or self._fill == self.block:
            self._blocks.append((np.empty(self.block, dtype=np.int32), np.empty(self.block, dtype=np.float32)))
            self._fill = 0
        times, lats = self._blocks[-1]
        # a clock ~68 years off the first sample's is pinned to the int32 range
        times[self._fill] = min(max(second - self._base, _INT32_MIN), _INT32_MAX)
        lats[self._fill] = ms
        self._fill += 1
        self._size += 1
        if self._size > self.limit:  # the newest replaces the oldest
            self._drop(1)

    def _drop(self, n: int) -> None:
        """Forget the ``n`` oldest samples."""
        self._size -= n
        self._head += n
        while self._blocks and self._head >= self._end(0):
            self._head -= self._end(0)
            self._blocks.popleft()
            if not self._blocks:
                self._head = self._fill = self._size = 0

    def _end(self, i: int) -> int:
        return self._fill if i == len(self._blocks) - 1 else self.block

    def _offset(self, at: float) -> float:
        """``at`` on the scale of the stored times (a sample's second ``s`` is at or after ``at`` when
        ``s - base >= at - base``, exact in float64 for any real clock)."""
        return at - (self._base or 0)

    def prune(self, oldest: float) -> None:
        """Drop samples from the oldest end while their second is before ``oldest``."""
        cut = self._offset(oldest)
        while self._size and self._blocks[0][0][self._head] < cut:
            times = self._blocks[0][0][self._head : self._end(0)]
            newer = times >= cut
            self._drop(int(np.argmax(newer)) if newer.any() else times.size)

    def latencies_since(self, start: float) -> np.ndarray:
        """The latencies of the samples whose second is ``start`` or later, oldest first (float64)."""
        cut = self._offset(start)
        parts = []
        for i, (times, lats) in enumerate(self._blocks):
            lo = self._head if i == 0 else 0
            t, v = times[lo : self._end(i)], lats[lo : self._end(i)]
            parts.append(v[t >= cut])
        return np.concatenate(parts).astype(np.float64) if parts else np.empty(0)


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
        """Add one batch: calls are (kind, name, code, latency_ms, at). A sample timed outside the horizon on
        either side of this clock (a reporter's clock far off) is dropped: no window could show it."""
        now = self.clock()
        for kind, name, code, latency_ms, at in calls:
            if not (math.isfinite(latency_ms) and now - HORIZON_S <= at <= now + HORIZON_S):
                continue
            key = (process, kind, name)
            series = self._series.get(key)
            if series is None:
                if len(self._series) >= MAX_SERIES:
                    key = (OVERFLOW, kind, OVERFLOW)
                    series = self._series.get(key)
                if series is None:
                    series = self._series[key] = Series()
            series.add(at, latency_ms, code)
        if sample is not None and (
            (sample.process, sample.pid) in self._processes or len(self._processes) < MAX_PROCESSES
        ):
            self._processes[(sample.process, sample.pid)] = sample
        self._dropped_batches[process] = max(self._dropped_batches.get(process, 0), dropped_batches)
        self._dropped_records[process] = max(self._dropped_records.get(process, 0), dropped_records)
        self.batches += 1
        self.records += len(calls)
        oldest = now - HORIZON_S
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
