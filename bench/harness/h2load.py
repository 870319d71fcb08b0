"""h2load, the load generator: found or installed (Debian nghttp2-client), one timed run against a 127.0.0.1
URL with the server's CPU over the measured phase, and the bodies and headers it posts."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.harness.machine import LOCALHOST, children_cpu_seconds, cpu_seconds
from bench.harness.stats import LatencySummary


def ensure_h2load(*, install: bool = True) -> str | None:
    """The h2load binary, installing Debian's nghttp2-client when allowed (root, apt-get, and
    SWARM_BENCH_NO_INSTALL unset); None when it cannot be had (callers fall back)."""
    found = shutil.which("h2load")
    if found or not install or os.environ.get("SWARM_BENCH_NO_INSTALL"):
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None
    print("h2load not found: installing nghttp2-client with apt-get ...", flush=True)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "timeout": 300}
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        if subprocess.run(["apt-get", "install", "-y", "-qq", "nghttp2-client"], env=env, **quiet).returncode:
            subprocess.run(["apt-get", "update", "-qq"], env=env, **quiet)
            subprocess.run(["apt-get", "install", "-y", "-qq", "nghttp2-client"], env=env, **quiet)
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"installing nghttp2-client failed: {exc}", flush=True)
    return shutil.which("h2load")


def grpc_frame(message: bytes) -> bytes:
    """A gRPC length-prefixed message: 0x00 (not compressed) + 4-byte big-endian length + protobuf bytes."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def h2load_headers(headers: Mapping[str, str]) -> list[str]:
    """HTTP headers as h2load ``-H`` values."""
    return [f"{k}: {v}" for k, v in headers.items()]


@dataclass
class H2loadResult:
    rps: float
    succeeded: int
    failed: int
    errored: int
    status_2xx: int
    status_other: int  # 3xx + 4xx + 5xx
    latency: LatencySummary
    client_busy: float  # cores h2load kept busy (whole run)
    server_busy: float  # cores the server kept busy during the measured phase
    duration_s: float
    command: str
    output: str

    @property
    def ok(self) -> bool:
        return self.succeeded > 0 and self.failed == 0 and self.errored == 0 and self.status_other == 0

    @property
    def server_cpu_ms_per_call(self) -> float:
        return self.server_busy / self.rps * 1e3 if self.rps > 0 else float("nan")


def run_h2load(
    h2load: str,
    url: str,
    *,
    body: bytes,
    headers: Sequence[str],
    connections: int,
    streams: int,
    duration: float,
    warmup: float,
    h1: bool = False,
    server_pid: int | None = None,
    extra_pids: Sequence[int] = (),
    rps: float | None = None,
) -> H2loadResult:
    """One timed h2load run against a 127.0.0.1 URL; percentiles from its per-request log. ``rps``: an open
    loop at that rate per connection, the connections opened 1 ms apart, no warm-up (docs/notes/bench.md)."""
    if not url.startswith(f"http://{LOCALHOST}:"):
        raise ValueError(f"benchmarks only target {LOCALHOST}: {url}")
    if rps:
        timing = ["-n", str(max(connections, round(rps * connections * duration))), "-r", "1", "--rate-period", "1ms"]
        warmup = 0
    else:
        timing = ["-D", str(max(1, round(duration))), f"--warm-up-time={max(0, round(warmup))}"]
    with tempfile.TemporaryDirectory(prefix="swarm-h2load-") as d:
        body_path, log_path = Path(d) / "body", Path(d) / "requests.log"
        body_path.write_bytes(body)
        argv = [
            h2load,
            "-c",
            str(connections),
            "-m",
            str(streams),
            "-t",
            "1",
            *timing,
            "-d",
            str(body_path),
            f"--log-file={log_path}",
            *(["--h1"] if h1 else []),
            *([f"--rps={rps:g}"] if rps else []),
        ]
        for h in headers:
            argv += ["-H", h]
        argv.append(url)
        cpu_before = children_cpu_seconds()
        t0 = time.perf_counter()
        out_path = Path(d) / "out.txt"
        with open(out_path, "w") as out_file:
            proc = subprocess.Popen(argv, stdout=out_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            # server CPU over the measured phase only: sample after the warm-up, and when h2load exits
            time.sleep(warmup + 0.1)
            t1 = time.perf_counter()
            pids = [p for p in (server_pid, *extra_pids) if p]
            server_before = sum(cpu_seconds(p) for p in pids)
            try:
                proc.wait(timeout=duration + warmup + 60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
                raise RuntimeError(f"h2load did not finish in time: {shlex.join(argv)}") from None
            t2 = time.perf_counter()
            server_busy = (sum(cpu_seconds(p) for p in pids) - server_before) / max(t2 - t1, 1e-9)
        elapsed = t2 - t0
        client_busy = (children_cpu_seconds() - cpu_before) / max(elapsed, 1e-9)
        out = out_path.read_text(errors="replace")
        if proc.returncode != 0:
            raise RuntimeError(f"h2load failed ({proc.returncode}):\n{out[-2000:]}")
        lat: list[float] = []
        with contextlib.suppress(OSError):
            for line in log_path.read_text().splitlines():
                cols = line.split("\t")
                if len(cols) >= 3 and cols[1].startswith("2"):
                    lat.append(int(cols[2]) / 1e6)
    m = re.search(r"finished in [^,]+, ([\d.]+) req/s", out)
    r = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    s = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    cmd = shlex.join(argv).replace(d, "$TMP")
    return H2loadResult(
        rps=float(m.group(1)) if m else float("nan"),
        succeeded=int(r.group(1)) if r else 0,
        failed=int(r.group(2)) if r else 0,
        errored=int(r.group(3)) if r else 0,
        status_2xx=int(s.group(1)) if s else 0,
        status_other=sum(int(s.group(i)) for i in (2, 3, 4)) if s else 0,
        latency=LatencySummary.of(lat),
        client_busy=client_busy,
        server_busy=server_busy,
        duration_s=elapsed,
        command=cmd,
        output=out,
    )
