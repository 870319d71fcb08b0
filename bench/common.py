"""Shared helpers for the benchmarks: machine facts, percentiles, markdown tables and the results file,
server subprocesses with readiness detection and CPU accounting, and h2load (installed on demand).

Every benchmark only ever targets 127.0.0.1, and every loop is bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
PYTHON = sys.executable
LOCALHOST = "127.0.0.1"


# --------------------------------------------------------------------------- machine and command


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


def command_line(module: str, argv: Sequence[str] | None = None) -> str:
    """The exact command that reproduces this run, from the project root."""
    args = list(sys.argv[1:] if argv is None else argv)
    return " ".join([".venv/bin/python", "-m", module, *map(shlex.quote, args)])


# --------------------------------------------------------------------------- statistics


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


# --------------------------------------------------------------------------- markdown and results file


def md_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def section(title: str, command: str, body: str, notes: Sequence[str] = ()) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    parts = [
        f"## {title}",
        "",
        f"- machine: {machine_line()}",
        f"- command: `{command}` (from the project root)",
        f"- measured: {stamp}",
        *(f"- {n}" for n in notes),
        "",
        body.rstrip(),
        "",
    ]
    return "\n".join(parts)


def results_path(quick: bool) -> Path:
    """Full runs go to memory.md; --quick smoke runs to memory_quick.md, so they never overwrite real figures."""
    return RESULTS_DIR / ("memory_quick.md" if quick else "memory.md")


FILE_HEADER = (
    "# Memory, gRPC and MCP benchmarks\n\n"
    "Written by `python -m bench.run_all` (each section by its own `bench/bench_*.py`; a rerun replaces only "
    "its section). Latencies in milliseconds; figures are medians of several runs, run-by-run values in "
    "parentheses.\n"
)


def write_section(key: str, markdown: str, *, quick: bool) -> Path:
    """Put ``markdown`` between this benchmark's markers in the results file, keeping the other sections."""
    path = results_path(quick)
    path.parent.mkdir(parents=True, exist_ok=True)
    start, end = f"<!-- bench:{key} start -->", f"<!-- bench:{key} end -->"
    block = f"{start}\n{markdown.rstrip()}\n{end}"
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = path.read_text() if path.exists() else FILE_HEADER
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _m: block, text)
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text if text.endswith("\n") else text + "\n")
        os.replace(tmp, path)
    with contextlib.suppress(OSError):
        path.with_suffix(".lock").unlink()
    return path


def publish(key: str, markdown: str, *, quick: bool) -> None:
    print(markdown, flush=True)
    path = write_section(key, markdown, quick=quick)
    print(f"(written to {path.relative_to(ROOT)})", flush=True)


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


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


@dataclass
class ServerProcess:
    """A server in its own process; ``ready`` is a regex on its stderr/stdout whose group 1 is its address."""

    argv: list[str]
    ready: str
    env: Mapping[str, str] = field(default_factory=dict)
    start_timeout: float = 30.0
    proc: subprocess.Popen[bytes] | None = None
    address: str = ""
    log_path: Path | None = None

    def start(self) -> ServerProcess:
        fd, name = tempfile.mkstemp(prefix="swarm-bench-server-", suffix=".log")
        self.log_path = Path(name)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.proc = subprocess.Popen(self.argv, stdout=fd, stderr=fd, stdin=subprocess.DEVNULL, env=env, cwd=ROOT)
        os.close(fd)
        deadline = time.monotonic() + self.start_timeout
        pattern = re.compile(self.ready)
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            m = pattern.search(text)
            if m:
                self.address = m.group(1)
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode} before it was ready:\n{text[-3000:]}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server not ready within {self.start_timeout} s: {shlex.join(self.argv)}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path else ""

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.log_path is not None:
            with contextlib.suppress(OSError):
                self.log_path.unlink()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as d:
        yield Path(d)


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so context managers stop the server processes a benchmark started."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


class LoadMeter:
    """CPU that other processes spent on this machine while a benchmark ran (others' tests and builds share
    the 2 cores): system-wide busy time minus this process, its reaped children and its live descendants."""

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


# --------------------------------------------------------------------------- h2load


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
    loop, h2load ``--rps`` (requests per second *per connection*; h2load accepts fractions) for
    ``rps * connections * duration`` requests, the connections opened 1 ms apart (``-r 1 --rate-period 1ms``):
    each connection's request timer starts when it connects, so opened all at once they would fire in
    lockstep and offer bursts of ``connections`` requests instead of a steady rate. No warm-up (h2load
    has none with ``-r``): run it after a closed-loop run."""
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


def grpc_frame(message: bytes) -> bytes:
    """A gRPC length-prefixed message: 0x00 (not compressed) + 4-byte big-endian length + protobuf bytes."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def check_output(ok: bool, what: str) -> None:
    if not ok:
        raise SystemExit(f"benchmark check failed: {what}")


class RawHttpConnection:
    """One keep-alive HTTP/1.1 connection on asyncio streams, for load generators that share the 2 cores
    with the stack they measure: a POST costs ~3x less client CPU than through httpx2. Sequential use only
    (one request in flight); reconnects once if the server closed the idle connection."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "http" or parsed.hostname is None or parsed.port is None:
            raise ValueError(f"need http://host:port/path: {url}")
        self.host, self.port, self.path = parsed.hostname, parsed.port, parsed.path or "/"
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        """(status, body) of one POST."""
        head = f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        request = head.encode() + body
        for attempt in (1, 2):
            fresh = self._writer is None
            if fresh:
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            try:
                return await asyncio.wait_for(self._exchange(request), self.timeout)
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if fresh or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        assert self._reader is not None and self._writer is not None
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if "content-length" not in fields:
            raise ConnectionError(f"HTTP {status} without Content-Length (chunked answers are not handled)")
        payload = await self._reader.readexactly(int(fields["content-length"]))
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, payload

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


# --------------------------------------------------------------------------- MCP JSON-RPC requests

MCP_PROTOCOL = "2026-07-28"
MCP_ACCEPT = "application/json, text/event-stream"
MCP_HEADERS = {"content-type": "application/json", "accept": MCP_ACCEPT}
MCP_ENVELOPE: dict[str, Any] = {  # the per-request _meta an SDK 2.x client sends in protocol 2026-07-28
    "io.modelcontextprotocol/protocolVersion": MCP_PROTOCOL,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "swarm-bench", "version": "1"},
}


def rpc(method: str, params: dict[str, Any] | None = None, ident: int = 1, *, modern: bool = False) -> dict[str, Any]:
    """One JSON-RPC request; ``modern`` adds the 2026-07-28 ``_meta`` envelope to its params (else the server
    answers it as an earlier, stateless protocol)."""
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": ident, "method": method}
    if modern:
        params = {**(params or {}), "_meta": dict(MCP_ENVELOPE)}
    if params is not None:
        body["params"] = params
    return body


def tool_call(name: str, arguments: dict[str, Any], ident: int = 1, *, modern: bool = False) -> dict[str, Any]:
    return rpc("tools/call", {"name": name, "arguments": arguments}, ident, modern=modern)


def is_modern(body: dict[str, Any]) -> bool:
    meta = (body.get("params") or {}).get("_meta") or {}
    return meta.get("io.modelcontextprotocol/protocolVersion") == MCP_PROTOCOL


def request_headers(body: dict[str, Any]) -> dict[str, str]:
    """The HTTP headers that go with ``body``: MCP_HEADERS, plus for a 2026-07-28 request MCP-Protocol-Version,
    Mcp-Method and (tools/call) Mcp-Name, as the SDK 2.x client sends them."""
    headers = dict(MCP_HEADERS)
    if is_modern(body):
        headers["MCP-Protocol-Version"] = MCP_PROTOCOL
        headers["Mcp-Method"] = body["method"]
        if body["method"] == "tools/call":
            headers["Mcp-Name"] = body["params"]["name"]
    return headers


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
