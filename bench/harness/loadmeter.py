"""The load other processes put on the machine while a benchmark ran (others' tests and builds share the cores)."""

from __future__ import annotations

import contextlib
import os
import time

import psutil

from bench.harness.machine import children_cpu_seconds, self_cpu_seconds


class LoadMeter:
    """System-wide busy CPU time minus this process, its reaped children and its live descendants."""

    def __init__(self) -> None:
        self._t0 = time.monotonic()
        self._sys0 = self._system_busy()
        self._own0 = self._own()
        self._load0 = os.getloadavg()[0]
        self.other_cores = float("nan")

    @staticmethod
    def _system_busy() -> float:
        t = psutil.cpu_times()
        return t.user + t.nice + t.system + t.irq + t.softirq + getattr(t, "steal", 0.0)

    @staticmethod
    def _own() -> float:
        total = self_cpu_seconds() + children_cpu_seconds()
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                t = child.cpu_times()
                total += t.user + t.system
        return total

    def stop(self) -> str:
        """Call while the benchmark's servers still run; returns a note for the results."""
        elapsed = max(time.monotonic() - self._t0, 1e-9)
        others = (self._system_busy() - self._sys0) - (self._own() - self._own0)
        self.other_cores = max(0.0, others / elapsed)
        load1 = os.getloadavg()[0]
        warn = " (DISTURBED: other processes competed for the cores)" if self.other_cores > 0.25 else ""
        return (
            f"other load on the machine during the run: {self.other_cores:.2f} cores "
            f"(1-min load average {self._load0:.2f} -> {load1:.2f}){warn}"
        )
