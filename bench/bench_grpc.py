"""gRPC: memory Get against a trivial unary RPC (grpc.health.v1 Health/Check) on the same server, same run.

The server is the real deployment command, ``swarm serve memory``, in its own process; the load is h2load with
pre-encoded gRPC bodies on 1 connection x 32 streams, Health and Get alternating, each body's grpc-status
checked first (h2load does not read trailers); without h2load, a grpcio client process (lower bounds). Details:
docs/notes/bench.md.

Goal: Get throughput >= 0.8x Health/Check throughput.

    .venv/bin/python -m bench.bench_grpc [--quick] [--client h2load|grpcio]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.harness.h2load import H2loadResult, ensure_h2load, grpc_frame, run_h2load
from bench.harness.loadmeter import LoadMeter
from bench.harness.machine import cpu_seconds
from bench.harness.process import Proc, exit_on_sigterm
from bench.harness.results import command_line, md_table, publish, section
from bench.harness.stats import LatencySummary, fmt, median, runs_text
from bench.harness.topology import PYTHON, QUIET, service_alone, temp_dir
from swarm.memory.v1 import memory_pb2 as pb
from swarm.memory.v1 import memory_pb2_grpc

NS = "bench"
KEY = "k00001"
HEALTH_PATH = "/grpc.health.v1.Health/Check"
GET_PATH = "/swarm.memory.v1.MemoryService/Get"
GRPC_HEADERS = ["content-type: application/grpc", "te: trailers"]


def bodies() -> dict[str, tuple[str, bytes]]:
    return {
        "Health/Check": (HEALTH_PATH, grpc_frame(health_pb2.HealthCheckRequest(service="").SerializeToString())),
        "memory Get": (GET_PATH, grpc_frame(pb.GetRequest(namespace=NS, key=KEY).SerializeToString())),
    }


def start_server(data_dir: Path, cpus: str = "") -> Proc:
    return service_alone("memory", data_dir, QUIET, argv_prefix=["taskset", "-c", cpus] if cpus else [])


def prepare(address: str, entries: int) -> None:
    """Populate, then check both methods answer OK through grpcio (h2load cannot see grpc-status)."""
    rng = random.Random(1)
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        memory = memory_pb2_grpc.MemoryServiceStub(channel)
        status = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status
        if status != health_pb2.HealthCheckResponse.SERVING:
            raise SystemExit(f"memory service is not SERVING ({status})")
        for start in range(0, entries, 500):
            items = [
                pb.PutRequest(
                    namespace=NS,
                    key=f"k{i:05d}",
                    value_json=json.dumps({"text": f"entry {i}", "score": rng.random()}),
                    tags=["bench"],
                )
                for i in range(start, min(entries, start + 500))
            ]
            memory.BatchPut(pb.BatchPutRequest(items=items), timeout=30)
        _, call = memory.Get.with_call(pb.GetRequest(namespace=NS, key=KEY), timeout=5)
        if call.code() != grpc.StatusCode.OK:
            raise SystemExit(f"Get {NS}/{KEY}: {call.code()}")
        _, call = health.Check.with_call(health_pb2.HealthCheckRequest(service=""), timeout=5)
        if call.code() != grpc.StatusCode.OK:
            raise SystemExit(f"Health/Check: {call.code()}")


def nghttp_status(address: str, path: str, body: bytes) -> str:
    """grpc-status of one call made with exactly the body h2load sends (nghttp prints trailers)."""
    nghttp = shutil.which("nghttp")
    if not nghttp:
        return "unchecked (no nghttp)"
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(body)
        f.flush()
        argv = [
            nghttp,
            "-v",
            "-n",
            "-d",
            f.name,
            *(x for h in GRPC_HEADERS for x in ("-H", h)),
            f"http://{address}{path}",
        ]
        proc = subprocess.run(argv, capture_output=True, timeout=20)
    out = proc.stdout.decode(errors="replace")
    m = re.search(r"grpc-status: (\d+)", out)
    return m.group(1) if m else "missing"


# --------------------------------------------------------------------------- grpcio fallback client


@dataclass
class ClientResult:
    rps: float
    latency: LatencySummary
    errors: int
    client_busy: float
    server_busy: float

    @property
    def server_cpu_ms_per_call(self) -> float:
        return self.server_busy / self.rps * 1e3 if self.rps > 0 else float("nan")


async def client_main(address: str, method: str, inflight: int, duration: float, warmup: float) -> dict[str, float]:
    lat: list[float] = []
    errors = 0
    async with grpc.aio.insecure_channel(address) as channel:
        if method == "health":
            stub = health_pb2_grpc.HealthStub(channel)
            req = health_pb2.HealthCheckRequest(service="")

            def rpc() -> object:
                return stub.Check(req, timeout=5)

        else:
            mstub = memory_pb2_grpc.MemoryServiceStub(channel)
            greq = pb.GetRequest(namespace=NS, key=KEY)

            def rpc() -> object:
                return mstub.Get(greq, timeout=5)

        t_measure = time.perf_counter() + warmup
        end = t_measure + duration
        cap = int(200_000 * (duration + warmup))

        async def worker() -> None:
            nonlocal errors
            n = 0
            while n < cap:
                start = time.perf_counter()
                if start >= end:
                    return
                n += 1
                try:
                    await rpc()
                except grpc.aio.AioRpcError:
                    errors += 1
                    continue
                if start >= t_measure:
                    lat.append(time.perf_counter() - start)

        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(inflight))), timeout=duration + warmup + 30)
    s = LatencySummary.of(lat)
    return {"rps": len(lat) / duration, "errors": errors, "p50": s.p50_ms, "p99": s.p99_ms, "mean": s.mean_ms}


def run_grpcio_client(
    address: str, method: str, inflight: int, duration: float, warmup: float, server: Proc
) -> ClientResult:
    argv = [PYTHON, "-m", "bench.bench_grpc", "--as-client", address, "--method", method]
    argv += ["--inflight", str(inflight), "--duration", str(duration), "--warmup", str(warmup)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    time.sleep(warmup + 0.5)  # interpreter start-up + warm-up
    t1, s1, c1 = time.perf_counter(), cpu_seconds(server.pid), cpu_seconds(proc.pid)
    time.sleep(max(0.1, duration - 0.7))
    t2, s2, c2 = time.perf_counter(), cpu_seconds(server.pid), cpu_seconds(proc.pid)
    out, _ = proc.communicate(timeout=duration + warmup + 60)
    data = json.loads(out.strip().splitlines()[-1])
    nan = float("nan")
    lat = LatencySummary(0, data["mean"], data["p50"], nan, data["p99"], nan)
    return ClientResult(data["rps"], lat, int(data["errors"]), (c2 - c1) / (t2 - t1), (s2 - s1) / (t2 - t1))


# --------------------------------------------------------------------------- main


def main_bench(args: argparse.Namespace) -> int:
    quick = args.quick
    runs = args.runs or (2 if quick else 5)
    duration = args.duration or (2.0 if quick else 8.0)
    warmup = 1.0
    lat_runs = 1 if quick else 3
    lat_duration = 2.0 if quick else 3.0
    streams = args.streams
    h2load = ensure_h2load() if args.client == "h2load" else None
    tool = "h2load" if h2load else "grpcio"
    if args.client == "h2load" and not h2load:
        print("h2load unavailable: falling back to a grpcio aio client process", flush=True)
    targets = bodies()
    results: dict[str, list[H2loadResult | ClientResult]] = {name: [] for name in targets}
    single: dict[str, list[H2loadResult]] = {name: [] for name in targets}
    checks: dict[str, str] = {}
    meter = LoadMeter()
    with temp_dir("swarm-bench-grpc-") as data, start_server(data / "data", args.server_cpus) as server:
        print(f"memory service pid {server.pid} at {server.address}", flush=True)
        prepare(server.address, args.entries)
        for name, (path, body) in targets.items():
            checks[name] = nghttp_status(server.address, path, body) if h2load else "grpcio OK"
            if checks[name] not in ("0", "grpcio OK", "unchecked (no nghttp)"):
                raise SystemExit(f"{name}: grpc-status {checks[name]} for the body h2load would send")
        for r in range(runs):
            order = list(targets) if r % 2 == 0 else list(reversed(targets))
            for name in order:
                path, body = targets[name]
                if h2load:
                    res: H2loadResult | ClientResult = run_h2load(
                        h2load,
                        f"http://{server.address}{path}",
                        body=body,
                        headers=GRPC_HEADERS,
                        connections=1,
                        streams=streams,
                        duration=duration,
                        warmup=warmup,
                        server_pid=server.pid,
                    )
                    if not res.ok:
                        raise SystemExit(f"h2load {name}: failures\n{res.output[-1500:]}")
                else:
                    method = "health" if path == HEALTH_PATH else "get"
                    res = run_grpcio_client(server.address, method, streams, duration, warmup, server)
                results[name].append(res)
                print(
                    f"run {r + 1}/{runs} {name}: {res.rps:.0f} calls/s, p50 {res.latency.p50_ms:.2f} p99 "
                    f"{res.latency.p99_ms:.2f} ms, server {res.server_busy:.2f} cores "
                    f"({res.server_cpu_ms_per_call:.3f} ms CPU/call), client {res.client_busy:.2f} cores",
                    flush=True,
                )
        if h2load:
            for _ in range(lat_runs):
                for name, (path, body) in targets.items():
                    res1 = run_h2load(
                        h2load,
                        f"http://{server.address}{path}",
                        body=body,
                        headers=GRPC_HEADERS,
                        connections=1,
                        streams=1,
                        duration=lat_duration,
                        warmup=1,
                        server_pid=server.pid,
                    )
                    single[name].append(res1)
                    print(f"one in flight {name}: p50 {res1.latency.p50_ms:.3f} ms", flush=True)
        load_note = meter.stop()
        exemplar = results["memory Get"][0]
        example_cmd = exemplar.command if isinstance(exemplar, H2loadResult) else "grpcio aio client process"

    health, get = results["Health/Check"], results["memory Get"]
    ratios = [g.rps / h.rps for g, h in zip(get, health, strict=True)]
    ratio = median(ratios)
    rows = []
    for name, rs in results.items():
        rows.append(
            [
                name,
                runs_text([x.rps for x in rs]),
                fmt(median([x.latency.mean_ms for x in rs])),
                fmt(median([x.latency.p50_ms for x in rs])),
                fmt(median([x.latency.p99_ms for x in rs])),
                fmt(median([x.server_busy for x in rs])),
                fmt(median([x.server_cpu_ms_per_call for x in rs]), 3),
                fmt(median([x.client_busy for x in rs])),
                checks[name],
            ]
        )
    table = md_table(
        [
            f"{tool}, 1 connection, {streams} in flight",
            "calls/s",
            "mean ms",
            "p50 ms",
            "p99 ms",
            "server cores",
            "server CPU ms/call",
            "client cores",
            "grpc-status",
        ],
        rows,
    )
    summary = md_table(
        ["goal", "measured", "verdict"],
        [
            [
                "Get >= 0.8x Health/Check calls/s",
                f"{fmt(ratio)}x (per run: {' / '.join(fmt(x) for x in ratios)})",
                "met" if ratio >= 0.8 else "MISSED",
            ]
        ],
    )
    parts = [summary, table]
    if any(single.values()):
        parts.append(
            md_table(
                ["h2load, 1 connection, 1 in flight", "calls/s", "p50 ms", "p99 ms"],
                [
                    [
                        name,
                        fmt(median([x.rps for x in rs]), 0),
                        fmt(median([x.latency.p50_ms for x in rs]), 3),
                        fmt(median([x.latency.p99_ms for x in rs]), 3),
                    ]
                    for name, rs in single.items()
                ],
            )
        )
    notes = [
        "server: `swarm serve memory` (on a free 127.0.0.1 port) in its own process; "
        f"{args.entries:,} entries pre-populated; Get reads one existing key ({NS}/{KEY})",
        f"load: {tool} in a separate process; {runs} alternating runs of {duration:g} s (+{warmup:g} s warm-up) "
        "per method; figures are medians, ratio is the median of per-run ratios",
        f"h2load command (Get): `{example_cmd}`",
        "server cores: CPU the server process used during the measured phase; client cores: the load generator's",
        load_note,
    ]
    if args.server_cpus:
        notes.append(f"experiment: server pinned with `taskset -c {args.server_cpus}`")
    publish(
        "grpc" + (f"_server_cpus{args.server_cpus}" if args.server_cpus else ""),
        section(
            "gRPC: memory Get vs Health/Check (same server, same run)",
            command_line("bench.bench_grpc"),
            "\n\n".join(parts),
            notes,
        ),
        quick=quick,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a few seconds (smoke)")
    p.add_argument("--client", choices=("h2load", "grpcio"), default="h2load")
    p.add_argument("--runs", type=int, default=0)
    p.add_argument("--duration", type=float, default=0.0, help="seconds per run")
    p.add_argument("--streams", type=int, default=32, help="calls in flight on the one connection")
    p.add_argument("--entries", type=int, default=10_000)
    p.add_argument("--server-cpus", default="", help="run the server under taskset -c LIST (an experiment)")
    # internal: the grpcio fallback client process
    p.add_argument("--as-client", metavar="ADDRESS", help=argparse.SUPPRESS)
    p.add_argument("--method", choices=("health", "get"), default="get", help=argparse.SUPPRESS)
    p.add_argument("--inflight", type=int, default=32, help=argparse.SUPPRESS)
    p.add_argument("--warmup", type=float, default=1.0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.as_client:
        if not args.as_client.startswith("127.0.0.1:"):
            raise SystemExit("the benchmark client only targets 127.0.0.1")
        import uvloop

        out = uvloop.run(client_main(args.as_client, args.method, args.inflight, args.duration, args.warmup))
        print(json.dumps(out), flush=True)
        return 0
    exit_on_sigterm()
    return main_bench(args)


if __name__ == "__main__":
    sys.exit(main())
