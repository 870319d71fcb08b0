"""MCP over stdio (issue 7): sequential ``memory_get`` with the official SDK client against ``swarm mcp``, and the
SDK client's own ``send_ping`` over the same stdio connection as the baseline.

The server is the real command (``python -m app.cli mcp``: the services embedded on ephemeral loopback
ports, a fresh data directory), spawned by the SDK client (``StdioServerParameters``). Blocks of memory_get and
ping alternate so drift hits both alike; figures are medians over the blocks. Client and server CPU per call
are measured too (the SDK client is in this process; the server is its child), to show where the time goes.

Goal: memory_get >= 800 calls/s and p50 <= 1.5 ms.

    .venv/bin/python -m bench.bench_stdio [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import psutil

from bench.harness import ROOT
from bench.harness.loadmeter import LoadMeter
from bench.harness.machine import cpu_seconds, machine, self_cpu_seconds
from bench.harness.process import exit_on_sigterm
from bench.harness.results import command_line, md_table, section, write_results
from bench.harness.stats import LatencySummary, fmt, median, runs_text
from bench.harness.topology import PYTHON, QUIET, clean_env, temp_dir

TAG = "[bench_stdio]"
NS = "bench"
KEY = "k1"


def log(msg: str) -> None:
    print(f"{TAG} {msg}", flush=True)


async def measure(data_dir: str, mode: str, rounds: int, block: int, block_s: float) -> dict[str, Any]:
    """Sequential blocks over one stdio connection; ``mode`` "legacy" (2025-11-25, initialize handshake: ping
    exists) times memory_get and ping, "auto" (the SDK's default, 2026-07-28 where ping is gone) memory_get."""
    from mcp import Client, StdioServerParameters

    # no service address set: swarm mcp embeds every service, nothing else on the machine is used
    env = clean_env(SWARM_DATA_DIR=data_dir, PYTHONUNBUFFERED="1", **QUIET)
    params = StdioServerParameters(command=PYTHON, args=["-m", "app.cli", "mcp"], env=env, cwd=str(ROOT))
    names = ("memory_get", "ping") if mode == "legacy" else ("memory_get",)
    out: dict[str, Any] = {n: [] for n in names}
    out.update(client_cpu={}, server_cpu={})
    cpu: dict[str, list[tuple[float, float, int]]] = {n: [] for n in names}
    async with Client(params, read_timeout_seconds=30, mode=mode) as client:
        server = [p for p in psutil.Process().children(recursive=True) if "mcp" in p.cmdline()]
        server_pid = server[0].pid if server else 0
        log(f"swarm mcp pid {server_pid or '?'} spawned by the SDK client (mode {mode}: {client.protocol_version})")
        out["protocol"] = str(client.protocol_version)
        stored = await client.call_tool("memory_store", {"namespace": NS, "key": KEY, "value": {"text": "seeded"}})
        if stored.is_error:
            raise SystemExit(f"memory_store: {stored.content}")
        result = await client.call_tool("memory_get", {"namespace": NS, "key": KEY})  # the check
        if result.is_error or (result.structured_content or {}).get("key") != KEY:
            raise SystemExit(f"memory_get did not answer the seeded entry: {result}")

        async def one(name: str) -> None:
            if name == "ping":
                await client.send_ping()
                return
            r = await client.call_tool("memory_get", {"namespace": NS, "key": KEY})
            if r.is_error:
                raise SystemExit(f"memory_get: {r.content}")

        for _ in range(50):  # warm-up
            for name in names:
                await one(name)

        for r in range(rounds):
            for name in names if r % 2 == 0 else tuple(reversed(names)):
                lat: list[float] = []
                c0, s0 = self_cpu_seconds(), cpu_seconds(server_pid) if server_pid else 0.0
                t_start = time.perf_counter()
                end = t_start + block_s
                for _ in range(block):
                    t0 = time.perf_counter()
                    if t0 >= end:
                        break
                    await one(name)
                    lat.append(time.perf_counter() - t0)
                wall = time.perf_counter() - t_start
                c1, s1 = self_cpu_seconds(), cpu_seconds(server_pid) if server_pid else 0.0
                cpu[name].append((c1 - c0, s1 - s0, len(lat)))
                summary = LatencySummary.of(lat)
                out[name].append({"rate": len(lat) / wall, "p50_ms": summary.p50_ms, "p99_ms": summary.p99_ms})
                log(
                    f"{name} ({mode}) round {r + 1}/{rounds}: {len(lat) / wall:,.0f} calls/s, "
                    f"p50 {summary.p50_ms:.3f} ms, p99 {summary.p99_ms:.3f} ms, "
                    f"client CPU {(c1 - c0) / len(lat) * 1e3:.3f} ms/call, "
                    f"server CPU {(s1 - s0) / len(lat) * 1e3:.3f} ms/call"
                )
    for name, samples in cpu.items():
        n = sum(s[2] for s in samples) or 1
        out["client_cpu"][name] = sum(s[0] for s in samples) / n * 1e3
        out["server_cpu"][name] = sum(s[1] for s in samples) / n * 1e3
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a few seconds (smoke)")
    args = p.parse_args(argv)
    exit_on_sigterm()
    rounds = 2 if args.quick else 6
    block = 500 if args.quick else 3000
    block_s = 2.0 if args.quick else 6.0
    t0 = time.monotonic()
    meter = LoadMeter()
    res: dict[str, dict[str, Any]] = {}
    for mode in ("auto", "legacy"):
        with temp_dir("swarm-bench-stdio-") as data:
            res[mode] = asyncio.run(measure(str(data / "data"), mode, rounds, block, block_s))
    load_note = meter.stop()

    def fig(mode: str, name: str) -> dict[str, Any]:
        xs = res[mode][name]
        return {
            "rate": median([x["rate"] for x in xs]),
            "rate_runs": [x["rate"] for x in xs],
            "p50_ms": median([x["p50_ms"] for x in xs]),
            "p99_ms": median([x["p99_ms"] for x in xs]),
            "client_cpu_ms": res[mode]["client_cpu"][name],
            "server_cpu_ms": res[mode]["server_cpu"][name],
            "protocol": res[mode]["protocol"],
        }

    figures: dict[str, Any] = {
        "memory_get": fig("auto", "memory_get"),
        "memory_get_legacy": fig("legacy", "memory_get"),
        "ping": fig("legacy", "ping"),
    }
    ping_rate = figures["ping"]["rate"]
    goal_rows = []
    for key in ("memory_get", "memory_get_legacy"):
        f = figures[key]
        goal_rows.append(
            [
                f"memory_get over stdio >= 800 calls/s, p50 <= 1.5 ms (sequential, SDK client, {f['protocol']})",
                f"{f['rate']:,.0f} calls/s, p50 {f['p50_ms']:.3f} ms",
                "met" if f["rate"] >= 800 and f["p50_ms"] <= 1.5 else "MISSED",
            ]
        )
    goals = md_table(["goal", "measured", "verdict"], goal_rows)
    rows = [
        [
            label,
            figures[key]["protocol"],
            runs_text(figures[key]["rate_runs"]),
            f"{figures[key]['rate'] / ping_rate:.2f}x",
            fmt(figures[key]["p50_ms"], 3),
            fmt(figures[key]["p99_ms"], 3),
            fmt(figures[key]["client_cpu_ms"], 3),
            fmt(figures[key]["server_cpu_ms"], 3),
        ]
        for key, label in (
            ("memory_get", "memory_get (call_tool, the SDK's default connect)"),
            ("memory_get_legacy", "memory_get (call_tool, mode='legacy')"),
            ("ping", "send_ping (baseline, mode='legacy')"),
        )
    ]
    table = md_table(
        [
            "sequential, SDK client over stdio",
            "protocol",
            "calls/s (rounds)",
            "vs ping",
            "p50 ms",
            "p99 ms",
            "client CPU ms/call",
            "server CPU ms/call",
        ],
        rows,
    )
    cmd = command_line("bench.bench_stdio")
    notes = [
        "server: `python -m app.cli mcp` (`swarm mcp`: services embedded on ephemeral loopback ports), spawned "
        "by the SDK client (`mcp.Client(StdioServerParameters(...))`) with a fresh SWARM_DATA_DIR",
        f"{rounds} alternating rounds of up to {block} calls ({block_s:g} s max) per call; medians over rounds; "
        "two connections one after the other: the SDK default (`mode='auto'`, protocol 2026-07-28, which has no "
        "ping) and `mode='legacy'` (2025-11-25 handshake), where memory_get and send_ping alternate on the same "
        "connection (the baseline ratio)",
        "client CPU: this process (the SDK client and its anyio stdio streams); server CPU: the swarm mcp process",
        load_note,
    ]
    md = section("MCP over stdio: sequential memory_get with the SDK client", cmd, goals + "\n\n" + table, notes)
    print(md, flush=True)
    figures.update(command=cmd, machine=machine(), load_note=load_note, quick=args.quick)
    path = write_results("stdio", md, figures, args.quick)
    log(f"done in {time.monotonic() - t0:.0f} s: written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
