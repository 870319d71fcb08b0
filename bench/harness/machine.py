"""The machine the figures are measured on: its facts, and the CPU seconds its processes spent.

Every benchmark only ever targets LOCALHOST, and every loop is bounded in count and in time.
"""

from __future__ import annotations

import contextlib
import os
import platform
import resource
from pathlib import Path

import psutil

LOCALHOST = "127.0.0.1"


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    mem_kib = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": str(os.cpu_count())
        + (
            f" (this process pinned to {len(os.sched_getaffinity(0))})"
            if len(os.sched_getaffinity(0)) < (os.cpu_count() or 0)
            else ""
        ),
        "memory": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "cpu": cpu or "unknown",
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def machine_line() -> str:
    m = machine()
    return f"nproc {m['nproc']}, memory {m['memory']}, {m['cpu']}, Python {m['python']}, Linux {m['kernel']}"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its threads."""
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def children_cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def self_cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
