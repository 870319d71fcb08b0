"""MCP ``memory_get`` over Streamable HTTP, against a no-op tool on the same server in the same run.

The server (``--serve``, its own process) is memory + gateway in one process, as ``swarm up`` runs them, plus
``bench_noop``: a canned entry of memory_get's shape that calls nothing (a tool of the product's kind: the same
path), so the difference is the backend call.
tools/list too; split rows with memory in its own process.

1. Sequential latency, one httpx2 client (raw JSON-RPC, keep-alive); the SDK client too, on fewer calls. Seed
   target: memory_get < 10 ms average.
2. Throughput with 16 concurrent HTTP/1.1 connections: h2load --h1 (skipped without h2load).

Before any timing, one request checks what the server accepts and that memory_get answers the seeded entry.

    .venv/bin/python -m bench.bench_mcp [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness.h2load import H2loadResult, ensure_h2load, h2load_headers, run_h2load
from bench.harness.loadmeter import LoadMeter
from bench.harness.machine import self_cpu_seconds
from bench.harness.mcpwire import MCP_PROTOCOL, encode, request_headers, rpc
from bench.harness.process import Proc, exit_on_sigterm
from bench.harness.results import command_line, md_table, publish, section
from bench.harness.stats import LatencySummary, fmt, median, runs_text
from bench.harness.topology import PYTHON, QUIET, clean_env, service_alone, temp_dir

NS = "bench"
KEY = "k1"
PROTOCOL = MCP_PROTOCOL


TOOL_ARGS: dict[str, tuple[str, str | None, dict[str, Any] | None]] = {
    # label: (JSON-RPC method, tool name, arguments)
    "memory_get": ("tools/call", "memory_get", {"namespace": NS, "key": KEY}),
    "bench_noop (no backend call)": ("tools/call", "bench_noop", {}),
    "tools/list": ("tools/list", None, None),
}
CALLS = list(TOOL_ARGS)


def request(label: str, *, modern: bool) -> tuple[bytes, dict[str, str]]:
    """Body and headers of one JSON-RPC request. ``modern``: protocol 2026-07-28 as the SDK 2.x client sends
    it (per-request ``_meta`` envelope + MCP-Protocol-Version / Mcp-Method / Mcp-Name headers); else a plain
    request without the envelope (the server answers it as an earlier, stateless protocol)."""
    method, name, arguments = TOOL_ARGS[label]
    params = {"name": name, "arguments": arguments} if name is not None else {}
    body = rpc(method, params, modern=modern)
    return encode(body), request_headers(body)


# --------------------------------------------------------------------------- the server process


async def serve(data_dir: str, memory_addr: str = "") -> None:
    """The gateway with the bench_noop tool; the memory service embedded (as ``swarm up``) unless
    ``memory_addr`` points at one in another process (as ``swarm serve memory`` + ``swarm gateway``)."""
    from bench.noop_gateway import like_the_product
    from common.config import Config
    from common.server import SignalStop, start_service
    from gateway.backends import Backends
    from gateway.http import HttpGateway
    from gateway.server import build_mcp
    from services.memory.service import build
    from swarm.memory.v1 import memory_pb2 as pb

    config = Config.from_env({"SWARM_DATA_DIR": data_dir, "SWARM_LOG_LEVEL": "WARNING"})
    memory = None if memory_addr else await start_service(build(config), "127.0.0.1:0", config.version)
    backends = Backends(config, {"memory": memory_addr or memory.address})
    mcp = build_mcp(backends)
    canned = {
        "namespace": NS,
        "key": KEY,
        "value": {"text": "seeded for the benchmark", "n": 1},
        "tags": ["bench"],
        "version": 1,
        "created_at": 1.8e9,
        "updated_at": 1.8e9,
        "expires_at": None,
    }

    @mcp.tool()
    async def bench_noop() -> dict[str, Any]:
        """Benchmark baseline: return a canned entry, call nothing."""
        return canned

    like_the_product(mcp, "bench_noop")
    items = [
        pb.PutRequest(namespace=NS, key=f"k{i}", value_json=json.dumps({"text": "seeded for the benchmark", "n": i}))
        for i in range(1, 1001)
    ]
    await backends["memory"].stub.BatchPut(pb.BatchPutRequest(items=items), timeout=30)
    http = HttpGateway(mcp, "127.0.0.1", 0)
    await http.start()
    print(f"READY {http.url} memory {memory_addr or memory.address}", flush=True)
    try:
        await SignalStop().wait()
    finally:
        await http.stop()
        await backends.close()
        if memory is not None:
            await memory.stop(1)


def start_server(data_dir: Path, memory_addr: str = "") -> Proc:
    """This module's ``--serve`` in its own process, ready when it prints its URL."""
    extra = ["--memory-addr", memory_addr] if memory_addr else []
    argv = [PYTHON, "-m", "bench.bench_mcp", "--serve", str(data_dir), *extra]
    return Proc("bench_mcp --serve", argv, clean_env(), r"READY (http://127\.0\.0\.1:\d+/mcp)")


def start_memory(data_dir: Path) -> Proc:
    return service_alone("memory", data_dir, QUIET)


# --------------------------------------------------------------------------- probing and sequential latency


def check(client: Any, url: str, label: str, modern: bool) -> str:
    """'' when the call succeeds (HTTP 200, JSON, no error, not isError), else what went wrong."""
    body, headers = request(label, modern=modern)
    r = client.post(url, content=body, headers=headers)
    if r.status_code != 200 or not r.headers.get("content-type", "").startswith("application/json"):
        return f"HTTP {r.status_code} {r.headers.get('content-type', '')} {r.text[:200]}"
    data = r.json()
    if "error" in data or (data.get("result") or {}).get("isError"):
        return json.dumps(data)[:300]
    if label == "memory_get":
        result = data["result"]
        entry = result.get("structuredContent") or json.loads(result["content"][0]["text"])
        if entry.get("key") != KEY or entry.get("namespace") != NS:
            return "memory_get answered, but not the seeded entry: " + r.text[:200]
    return ""


def probe(url: str) -> tuple[bool, list[str]]:
    """Which protocol the server accepts; returns (modern?, what was seen)."""
    import httpx2

    seen = []
    accepted = {}
    with httpx2.Client(timeout=10) as client:
        for modern in (True, False):
            errs = {label: check(client, url, label, modern) for label in CALLS}
            accepted[modern] = not any(errs.values())
            what = f"{PROTOCOL} envelope + headers" if modern else "no envelope, no MCP-Protocol-Version"
            bad = "; ".join(f"{k}: {v}" for k, v in errs.items() if v)
            seen.append(f"{what}: {'accepted' if accepted[modern] else 'REFUSED ' + bad}")
    if not any(accepted.values()):
        raise SystemExit("the MCP server refused the benchmark requests:\n" + "\n".join(seen))
    return accepted[True], seen


def sequential(url: str, label: str, modern: bool, count: int, max_s: float) -> LatencySummary:
    import httpx2

    body, headers = request(label, modern=modern)
    lat: list[float] = []
    with httpx2.Client(timeout=10, headers=headers) as client:
        for _ in range(20):  # warm the connection
            client.post(url, content=body)
        end = time.perf_counter() + max_s
        for _ in range(count):
            start = time.perf_counter()
            if start >= end:
                break
            r = client.post(url, content=body)
            lat.append(time.perf_counter() - start)
            if r.status_code != 200:
                raise SystemExit(f"{label}: HTTP {r.status_code}")
    return LatencySummary.of(lat)


async def sdk_client_latency(url: str, count: int, max_s: float) -> tuple[LatencySummary, float]:
    """The official SDK client, sequential memory_get; returns latency and the client's CPU ms per call."""
    from mcp import Client

    lat: list[float] = []
    async with Client(url) as client:
        for _ in range(10):
            await client.call_tool("memory_get", {"namespace": NS, "key": KEY})
        cpu0 = self_cpu_seconds()
        end = time.perf_counter() + max_s
        for _ in range(count):
            start = time.perf_counter()
            if start >= end:
                break
            result = await client.call_tool("memory_get", {"namespace": NS, "key": KEY})
            lat.append(time.perf_counter() - start)
            if result.is_error:
                raise SystemExit(f"SDK client memory_get: {result}")
        cpu = (self_cpu_seconds() - cpu0) / max(1, len(lat)) * 1e3
    return LatencySummary.of(lat), cpu


# --------------------------------------------------------------------------- main


def main_bench(args: argparse.Namespace) -> int:
    quick = args.quick
    rounds = 2 if quick else 5  # sequential: alternating blocks per name
    block = 100 if quick else 600
    block_s = 3.0 if quick else 8.0
    runs = 2 if quick else 3
    duration = 2.0 if quick else 8.0
    sdk_count = 100 if quick else 600
    conns = args.connections
    h2load = ensure_h2load()
    seq: dict[str, list[LatencySummary]] = {n: [] for n in CALLS}
    thr: dict[str, list[H2loadResult]] = {n: [] for n in CALLS}
    meter = LoadMeter()
    with temp_dir("swarm-bench-mcp-") as data, start_server(data / "data") as server:
        url = server.address
        print(f"MCP server pid {server.pid} at {url}", flush=True)
        modern, seen = probe(url)
        for line in seen:
            print("probe:", line, flush=True)
        for r in range(rounds):
            for name in CALLS if r % 2 == 0 else reversed(CALLS):
                s = sequential(url, name, modern, block, block_s)
                seq[name].append(s)
                print(
                    f"sequential round {r + 1}/{rounds} {name}: mean {s.mean_ms:.3f} p50 {s.p50_ms:.3f} "
                    f"p99 {s.p99_ms:.3f} ms (n={s.n})",
                    flush=True,
                )
        sdk, sdk_cpu = asyncio.run(sdk_client_latency(url, sdk_count, block_s * 2))
        print(f"SDK client memory_get: mean {sdk.mean_ms:.3f} ms, client CPU {sdk_cpu:.2f} ms/call", flush=True)
        example_cmd = "(h2load unavailable: skipped)"
        if h2load:
            for r in range(runs):
                for name in CALLS if r % 2 == 0 else reversed(CALLS):
                    body, headers = request(name, modern=modern)
                    res = run_h2load(
                        h2load,
                        url,
                        body=body,
                        headers=h2load_headers(headers),
                        connections=conns,
                        streams=1,
                        duration=duration,
                        warmup=1,
                        h1=True,
                        server_pid=server.pid,
                    )
                    if not res.ok:
                        raise SystemExit(f"h2load {name}: failures\n{res.output[-1500:]}")
                    thr[name].append(res)
                    example_cmd = res.command if name == "memory_get" else example_cmd
                    print(
                        f"throughput run {r + 1}/{runs} {name}: {res.rps:.0f} calls/s, p50 {res.latency.p50_ms:.2f} "
                        f"p99 {res.latency.p99_ms:.2f} ms, server {res.server_busy:.2f} cores "
                        f"({res.server_cpu_ms_per_call:.3f} ms CPU/call)",
                        flush=True,
                    )
        # the tool result must still be right after the load
        probe(url)

    # split deployment: the memory service in its own process (swarm serve memory), the gateway in another
    split_seq: list[LatencySummary] = []
    split_thr: list[H2loadResult] = []
    with (
        temp_dir("swarm-bench-mcp-split-") as data,
        start_memory(data / "data") as memory,
        start_server(data / "gw", memory.address) as gateway,
    ):
        url = gateway.address
        print(f"split: memory pid {memory.pid} at {memory.address}, gateway pid {gateway.pid} at {url}", flush=True)
        probe(url)
        for r in range(max(1, rounds // 2)):
            s = sequential(url, "memory_get", modern, block, block_s)
            split_seq.append(s)
            print(f"split sequential round {r + 1}: mean {s.mean_ms:.3f} p99 {s.p99_ms:.3f} ms", flush=True)
        if h2load:
            body, headers = request("memory_get", modern=modern)
            for r in range(runs):
                res = run_h2load(
                    h2load,
                    url,
                    body=body,
                    headers=h2load_headers(headers),
                    connections=conns,
                    streams=1,
                    duration=duration,
                    warmup=1,
                    h1=True,
                    server_pid=gateway.pid,
                    extra_pids=[memory.pid],
                )
                if not res.ok:
                    raise SystemExit(f"h2load split memory_get: failures\n{res.output[-1500:]}")
                split_thr.append(res)
                print(
                    f"split throughput run {r + 1}/{runs} memory_get: {res.rps:.0f} calls/s, p99 "
                    f"{res.latency.p99_ms:.2f} ms, servers {res.server_busy:.2f} cores",
                    flush=True,
                )
        probe(url)
        load_note = meter.stop()

    get_mean = median([s.mean_ms for s in seq["memory_get"]])
    noop_name = "bench_noop (no backend call)"
    seq_rows = []
    for name, ss in seq.items():
        seq_rows.append(
            [
                name,
                runs_text([s.mean_ms for s in ss], 3),
                fmt(median([s.p50_ms for s in ss]), 3),
                fmt(median([s.p99_ms for s in ss]), 3),
                fmt(median([s.mean_ms for s in ss]) - median([s.mean_ms for s in seq[noop_name]]), 3),
                sum(s.n for s in ss),
            ]
        )
    seq_rows.append(
        [
            f"memory_get via the SDK client (client CPU {fmt(sdk_cpu)} ms/call)",
            fmt(sdk.mean_ms, 3),
            fmt(sdk.p50_ms, 3),
            fmt(sdk.p99_ms, 3),
            "",
            sdk.n,
        ]
    )
    if split_seq:
        seq_rows.append(
            [
                "memory_get, split: memory in its own process",
                runs_text([x.mean_ms for x in split_seq], 3),
                fmt(median([x.p50_ms for x in split_seq]), 3),
                fmt(median([x.p99_ms for x in split_seq]), 3),
                fmt(median([x.mean_ms for x in split_seq]) - median([x.mean_ms for x in seq[noop_name]]), 3),
                sum(x.n for x in split_seq),
            ]
        )
    parts = [
        md_table(
            ["goal", "measured", "verdict"],
            [
                [
                    "memory_get < 10 ms average (sequential, one client)",
                    f"{fmt(get_mean, 3)} ms (p99 {fmt(median([s.p99_ms for s in seq['memory_get']]), 3)} ms)",
                    "met" if get_mean < 10 else "MISSED",
                ]
            ],
        ),
        md_table(
            ["sequential, 1 client (httpx2, keep-alive)", "mean ms", "p50 ms", "p99 ms", "mean vs no-op ms", "calls"],
            seq_rows,
        ),
    ]
    if any(thr.values()):
        noop_rps = median([x.rps for x in thr[noop_name]])
        parts.append(
            md_table(
                [
                    f"h2load --h1, {conns} connections",
                    "calls/s",
                    "vs no-op",
                    "mean ms",
                    "p50 ms",
                    "p99 ms",
                    "server cores",
                    "server CPU ms/call",
                    "h2load cores",
                ],
                [
                    [
                        name,
                        runs_text([x.rps for x in rs]),
                        fmt(median([x.rps for x in rs]) / noop_rps) + "x",
                        fmt(median([x.latency.mean_ms for x in rs])),
                        fmt(median([x.latency.p50_ms for x in rs])),
                        fmt(median([x.latency.p99_ms for x in rs])),
                        fmt(median([x.server_busy for x in rs])),
                        fmt(median([x.server_cpu_ms_per_call for x in rs]), 3),
                        fmt(median([x.client_busy for x in rs])),
                    ]
                    for name, rs in [*thr.items(), ("memory_get, split: memory in its own process", split_thr)]
                    if rs
                ],
            )
        )
    notes = [
        "server: memory service + HTTP gateway in one process on uvloop, as `swarm up` runs them "
        "(`python -m bench.bench_mcp --serve DIR` adds the bench_noop tool), JSON responses, stateless; "
        "split rows: `swarm serve memory` in one process and the same gateway (`--memory-addr`) in another, "
        "server cores summed over both",
        "requests: "
        + (
            f"protocol {PROTOCOL} (per-request _meta envelope, MCP-Protocol-Version, Mcp-Method, Mcp-Name)"
            if modern
            else "no protocol envelope"
        )
        + f"; probe: {' | '.join(seen)}",
        f"sequential: {rounds} alternating rounds of up to {block} calls ({block_s:g} s max) per name; "
        f"throughput: {runs} alternating runs of {duration:g} s (+1 s warm-up) per name",
        f"h2load command (memory_get): `{example_cmd}`",
        load_note,
    ]
    publish(
        "mcp",
        section(
            "MCP over Streamable HTTP: memory_get vs a no-op tool",
            command_line("bench.bench_mcp"),
            "\n\n".join(parts),
            notes,
        ),
        quick=quick,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a few seconds (smoke)")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--serve", metavar="DATA_DIR", help=argparse.SUPPRESS)
    p.add_argument("--memory-addr", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        import uvloop

        uvloop.run(serve(args.serve, args.memory_addr))
        return 0
    exit_on_sigterm()
    return main_bench(args)


if __name__ == "__main__":
    sys.exit(main())
