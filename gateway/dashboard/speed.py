"""Calls/s and p50/p99 per tool over the last minutes: the telemetry service answers one window at a time, so the
dashboard keeps the answers it read (one sample per SAMPLE_EVERY_S at most, the last HISTORY of them) and draws
them as a series. Samples are taken only while someone watches the health view: the series has gaps otherwise."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

SAMPLE_EVERY_S = 5.0
HISTORY = 120  # 10 minutes at one sample per 5 s
WINDOW_S = 10.0  # each sample: the telemetry service's figures over the last 10 s


class SpeedHistory:
    def __init__(self) -> None:
        self.samples: deque[dict[str, Any]] = deque(maxlen=HISTORY)

    def add(self, now: float, metrics: Mapping[str, Any]) -> None:
        """Keep the tools' figures of a swarm_metrics answer, unless the last sample is too recent."""
        if self.samples and now - self.samples[-1]["at"] < SAMPLE_EVERY_S:
            return
        tools = {
            m["name"]: [m["rate_per_s"], m["p50_ms"], m["p99_ms"]]
            for m in metrics.get("methods", ())
            if m["kind"] == "tool" and m["count"]
        }
        self.samples.append({"at": round(now, 3), "tools": tools})

    def series(self) -> dict[str, Any]:
        """Per tool: [at, calls/s, p50 ms, p99 ms] for each sample that had calls of it."""
        out: dict[str, list[list[float]]] = {}
        for s in self.samples:
            for name, (rate, p50, p99) in s["tools"].items():
                out.setdefault(name, []).append([s["at"], rate, p50, p99])
        return {"window_s": WINDOW_S, "every_s": SAMPLE_EVERY_S, "tools": out}
