"""Telemetry overhead (issue 5): MCP `memory_get` throughput over Streamable HTTP with telemetry on vs off,
in the same run (goal: on is at most 5 % slower).

`swarm up` (one process, every service and the gateway) is started once with SWARM_TELEMETRY=on and once
with =off, alternating, several rounds; each round runs h2load --h1 with 16 connections for a fixed time.

    python -m bench.bench_telemetry [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics

from bench.harness.h2load import ensure_h2load, h2load_headers, run_h2load
from bench.harness.mcpwire import MCP_HEADERS
from bench.harness.results import command_line, md_table, section, write_page
from bench.harness.stats import fmt
from bench.harness.topology import QUIET, Shape, running, temp_dir


def one_round(h2load: str, telemetry: str, duration: float) -> tuple[float, float, float]:
    """(calls/s, p50 ms, p99 ms) of memory_get with telemetry on or off."""
    import httpx2 as httpx

    env = {**QUIET, "SWARM_TELEMETRY": telemetry}
    with temp_dir("swarm-bench-telemetry-") as data, running(Shape("up"), data, env) as stack:
        put = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "memory_store", "arguments": {"namespace": "bench", "key": "k1", "value": "v"}},
        }
        r = httpx.post(stack.url, json=put, headers=MCP_HEADERS, timeout=10)
        assert not r.json()["result"]["isError"], r.text
        get = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "memory_get", "arguments": {"namespace": "bench", "key": "k1"}},
        }
        r = httpx.post(stack.url, json=get, headers=MCP_HEADERS, timeout=10)
        assert not r.json()["result"]["isError"], r.text
        res = run_h2load(
            h2load,
            stack.url,
            body=json.dumps(get).encode(),
            headers=h2load_headers(MCP_HEADERS),
            connections=16,
            streams=1,
            duration=duration,
            warmup=1,
            h1=True,
            server_pid=stack.one_process().pid,
        )
        if not res.ok:
            raise RuntimeError(f"h2load run failed: {res.output[-2000:]}")
        return res.rps, res.latency.p50_ms, res.latency.p99_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    h2load = ensure_h2load()
    if h2load is None:
        raise SystemExit("h2load is not available (apt-get install nghttp2-client)")
    rounds, duration = (2, 4.0) if args.quick else (5, 10.0)
    results: dict[str, list[tuple[float, float, float]]] = {"on": [], "off": []}
    for r in range(rounds):
        for mode in ("on", "off") if r % 2 == 0 else ("off", "on"):
            print(f"[bench_telemetry] round {r + 1}/{rounds}, telemetry {mode}", flush=True)
            results[mode].append(one_round(h2load, mode, duration))
    rows = []
    med = {}
    for mode in ("off", "on"):
        rps = [x[0] for x in results[mode]]
        med[mode] = statistics.median(rps)
        rows.append(
            [
                f"telemetry {mode}",
                f"{med[mode]:,.0f} ({' / '.join(f'{x:,.0f}' for x in rps)})",
                fmt(statistics.median(x[1] for x in results[mode])),
                fmt(statistics.median(x[2] for x in results[mode])),
            ]
        )
    slower = 1 - med["on"] / med["off"]
    verdict = "met" if slower <= 0.05 else "MISSED"
    body = md_table(["memory_get over MCP, h2load --h1 -c 16", "calls/s (runs)", "p50 ms", "p99 ms"], rows)
    body += (
        f"\n\nthroughput with telemetry on / off = {med['on'] / med['off']:.3f} "
        f"(on is {slower:.1%} slower; goal: at most 5 % slower): **{verdict}**\n"
    )
    text = section(
        "Telemetry overhead",
        command_line("bench.bench_telemetry", ["--quick"] if args.quick else []),
        body,
        [f"{rounds} alternating rounds of {duration:g} s each; `swarm up` in its own process per round"],
    )
    print(text)
    write_page("telemetry", "Telemetry benchmark", text, quick=args.quick)


if __name__ == "__main__":
    main()
