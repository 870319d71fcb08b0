"""50 concurrent agents through MCP over Streamable HTTP (issue 7), then the memory of the whole stack.

Each agent loops, for ``--seconds`` (60; quick 10): agent_register -> task_assign (2 tasks) -> task_report ->
consensus_vote on its round's proposal -> memory_store, as raw JSON-RPC on its own keep-alive connection, in
protocol 2026-07-28 (``--legacy``: without the envelope); every answer is checked. ``--think-ms`` adds a pause
between loops (default 0: a closed loop at saturation). After the run: the PSS of every process of the stack.
The loop and why the load is raw HTTP: docs/notes/bench.md.

Goals: 0 errors, p99 per tool <= 100 ms; stack PSS <= 200 MB in total.

    .venv/bin/python -m bench.bench_swarm_load [--quick] [--seconds S] [--topologies supervisor/1,up] [--legacy]
    .venv/bin/python -m bench.bench_swarm_load --topologies processes/1,memory-replicas/2   # issue 18
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import statistics
import sys
import time
from collections import defaultdict
from typing import Any

import psutil

from bench.harness import postgres
from bench.harness.loadmeter import LoadMeter
from bench.harness.machine import machine, self_cpu_seconds
from bench.harness.mcpwire import MCP_HEADERS as HEADERS
from bench.harness.mcpwire import MCP_PROTOCOL as PROTOCOL
from bench.harness.mcpwire import encode, request_headers, tool_call, tool_result
from bench.harness.process import exit_on_sigterm
from bench.harness.rawhttp import RawHttpConnection
from bench.harness.results import command_line, md_table, section, write_results
from bench.harness.seed import SKILLS, agent_bodies, post_many
from bench.harness.stats import LatencySummary, fmt
from bench.harness.topology import QUIET, Shape, running, temp_dir

TAG = "[bench_swarm_load]"
TOOLS = ["agent_register", "task_assign", "task_report", "consensus_propose", "consensus_vote", "memory_store"]
MAX_LOOPS = 100_000  # per agent: a bound besides time


def log(msg: str) -> None:
    print(f"{TAG} {msg}", flush=True)


class Load:
    def __init__(self, url: str, agents: int, seconds: float, think_s: float, *, modern: bool = True) -> None:
        self.url = url
        self.modern = modern  # protocol 2026-07-28 (SDK 2.x clients), else the legacy form (no envelope)
        self.agents = [f"agent-{i}" for i in range(agents)]
        self.seconds = seconds
        self.think_s = think_s
        self.lat: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.examples: dict[str, list[str]] = defaultdict(list)
        self.loops = 0
        self.rounds: dict[int, asyncio.Future[str]] = {}
        self.run_id = random.randrange(10**9)

    async def call(self, client: Any, tool: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
        t0 = time.perf_counter()
        try:
            body = tool_call(tool, arguments, modern=self.modern)
            status, payload = await client.post(encode(body), {**HEADERS, **request_headers(body)})
            if status != 200:
                ok, err, data = False, f"HTTP {status}: {payload[:200].decode(errors='replace')}", None
            else:
                data = json.loads(payload)
                ok, err = tool_result(data)
        except Exception as exc:  # timeouts, connection errors: errors of this tool
            ok, err, data = False, f"{type(exc).__name__}: {exc}", None
        self.lat[tool].append(time.perf_counter() - t0)
        if not ok:
            self.errors[tool] += 1
            if len(self.examples[tool]) < 3:
                self.examples[tool].append(err)
            return None
        return data["result"] if data else None

    async def proposal(self, client: Any, round_no: int) -> str | None:
        fut = self.rounds.get(round_no)
        if fut is None:  # this agent is the first in this round: it opens the proposal
            fut = asyncio.get_running_loop().create_future()
            self.rounds[round_no] = fut
            pid = f"load-{self.run_id}-{round_no}"
            res = await self.call(
                client,
                "consensus_propose",
                {
                    "proposal_id": pid,
                    "question": f"round {round_no}: which plan?",
                    "options": ["alpha", "beta", "gamma"],
                    "method": "plurality",
                    "quorum": len(self.agents),
                    "eligible": self.agents,
                    "deadline_s": 600,
                },
            )
            fut.set_result(pid if res is not None else "")
        pid = await fut
        return pid or None

    async def agent(self, client: Any, index: int, stop_at: float) -> None:
        me = self.agents[index]
        rng = random.Random(index)
        skills = {s: round(rng.uniform(0.3, 1.0), 2) for s in rng.sample(SKILLS, 4)}
        for i in range(MAX_LOOPS):
            if time.monotonic() >= stop_at:
                return
            await self.call(client, "agent_register", {"agent_id": me, "skills": skills, "capacity": 4})
            tasks = [
                {"id": f"{self.run_id}-{me}-{i}-{j}", "type": rng.choice(["code", "data", "write"]), "skills": {}}
                for j in range(2)
            ]
            plan = await self.call(client, "task_assign", {"tasks": tasks, "level": "fast"})
            for a in (plan or {}).get("structuredContent", {}).get("assignments", []):
                args = {"task_id": a["task_id"], "agent_id": a["agent_id"], "success": rng.random() < 0.8}
                await self.call(client, "task_report", {**args, "quality": round(rng.random(), 2)})
            pid = await self.proposal(client, i)
            if pid:
                await self.call(
                    client, "consensus_vote", {"proposal_id": pid, "voter": me, "choice": rng.choice(["alpha", "beta"])}
                )
            await self.call(
                client,
                "memory_store",
                {"namespace": "agents", "key": me, "value": {"round": i, "skills": skills}, "tags": ["state"]},
            )
            self.loops += 1
            if self.think_s:
                await asyncio.sleep(self.think_s)

    async def run(self) -> float:
        # everyone exists before round 0
        await post_many(self.url, agent_bodies(len(self.agents), 4.0, modern=self.modern))
        # one keep-alive connection per agent (each agent is one sequential client); raw HTTP/1.1 on asyncio
        # streams, ~3x less CPU per call than httpx2 on the cores the stack runs on
        clients = [RawHttpConnection(self.url) for _ in self.agents]
        try:
            t0 = time.monotonic()
            stop_at = t0 + self.seconds
            tasks = [asyncio.create_task(self.agent(clients[i], i, stop_at)) for i in range(len(self.agents))]
            done = asyncio.gather(*tasks)
            next_report = t0 + 10
            while not done.done():
                await asyncio.wait([done], timeout=max(0.1, next_report - time.monotonic()))
                if time.monotonic() >= next_report and not done.done():
                    calls = sum(len(v) for v in self.lat.values())
                    log(
                        f"  {time.monotonic() - t0:.0f}/{self.seconds:g} s: {self.loops} loops, {calls} calls "
                        f"({calls / (time.monotonic() - t0):.0f}/s), errors {sum(self.errors.values())}"
                    )
                    next_report += 10
                if time.monotonic() > stop_at + 60:  # bounded: a hung server never hangs the benchmark
                    for t in tasks:
                        t.cancel()
                    break
            await asyncio.gather(*tasks, return_exceptions=True)
            return time.monotonic() - t0
        finally:
            for client in clients:
                await client.close()


def describe(pid: int) -> str:
    try:
        proc = psutil.Process(pid)
        argv, name = proc.cmdline(), proc.name()
    except psutil.Error:
        return "?"
    if name.startswith("swarm-"):  # a child forked by `swarm up --processes` names itself
        return name
    for i, a in enumerate(argv):
        if a == "app.procwatch":  # what `swarm up --processes` becomes once its children run
            return "swarm up --processes (watcher)"
        if a == "app.cli" or a.endswith("/swarm"):  # python -m app.cli, or the swarm script
            return " ".join(["swarm", *argv[i + 1 :]])
        if a == "bench.noop_gateway":
            return " ".join(argv[i:])
    return " ".join(argv[-2:])


def pss(pids: list[int]) -> list[tuple[int, str, float, float]]:
    """(pid, what, PSS MB, RSS MB) of every live process in ``pids``."""
    out = []
    for pid in pids:
        try:
            info = psutil.Process(pid).memory_full_info()
        except psutil.Error:
            continue
        out.append((pid, describe(pid), info.pss / 2**20, info.rss / 2**20))
    return out


def tool_stats(load: Load, elapsed: float) -> dict[str, Any]:
    tools: dict[str, Any] = {}
    for tool in TOOLS:
        s = LatencySummary.of(load.lat.get(tool, []))
        tools[tool] = {
            "calls": s.n,
            "errors": load.errors.get(tool, 0),
            "p50_ms": s.p50_ms,
            "p95_ms": s.p95_ms,
            "p99_ms": s.p99_ms,
            "max_ms": s.max_ms,
            "rate": s.n / elapsed,
            "error_examples": load.examples.get(tool, []),
        }
    return tools


def form_text(modern: bool) -> str:
    return f"protocol {PROTOCOL}" if modern else "legacy (no protocol envelope)"


def run_topology(
    name: str, agents: int, seconds: float, think_s: float, modern: bool = True, fast_path: bool | None = None
) -> dict[str, Any]:
    """One run on a fresh stack; ``fast_path``: SWARM_FAST_PATH set to it (None: the default)."""
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    shape = Shape.named(name)
    with contextlib.ExitStack() as scope:
        data = scope.enter_context(temp_dir("swarm-bench-load-"))
        env = dict(QUIET) if fast_path is None else {**QUIET, "SWARM_FAST_PATH": "1" if fast_path else "0"}
        if shape.memory_replicas > 1:  # replicas of memory share one database: a throw-away PostgreSQL, durable
            env["SWARM_DATABASE_URL"] = scope.enter_context(postgres.cluster(postgres.DURABLE_SETTINGS)).database()
        stack = scope.enter_context(running(shape, data / "data", env))
        log(f"{name}: stack up at {stack.url}, {len(stack.pids())} processes")
        idle = pss(stack.pids())
        base_s = min(10.0, max(3.0, seconds / 6))
        log(f"{name}: baseline, 1 agent alone for {base_s:g} s ...")
        single = Load(stack.url, 1, base_s, think_s, modern=modern)
        base_elapsed = runner(single.run())
        log(f"{name}: {agents} agents for {seconds:g} s ...")
        load = Load(stack.url, agents, seconds, think_s, modern=modern)
        cpu0 = self_cpu_seconds()
        meter = LoadMeter()
        elapsed = runner(load.run())
        note = meter.stop()
        client_cores = (self_cpu_seconds() - cpu0) / elapsed
        memory = pss(stack.pids())
    tools = tool_stats(load, elapsed)
    baseline = tool_stats(single, base_elapsed)
    total = sum(len(v) for v in load.lat.values())
    return {
        "topology": name,
        "agents": agents,
        "seconds": elapsed,
        "think_ms": think_s * 1e3,
        "form": "modern" if modern else "legacy",
        "protocol": PROTOCOL if modern else "legacy",
        "loops": load.loops,
        "calls": total,
        "calls_per_s": total / elapsed,
        "errors": sum(load.errors.values()),
        "tools": tools,
        "baseline": {"agents": 1, "seconds": base_elapsed, "errors": sum(single.errors.values()), "tools": baseline},
        "client_cores": client_cores,
        "pss": [{"pid": p, "process": w, "pss_mb": m, "rss_mb": r} for p, w, m, r in memory],
        "pss_total_mb": sum(m for _, _, m, _ in memory),
        "pss_idle_total_mb": sum(m for _, _, m, _ in idle),
        "load_note": note,
        "other_cores": meter.other_cores,
        "fast_path": fast_path,
    }


def render(results: list[dict[str, Any]], cmd: str, modern: bool = True) -> str:
    goals = []
    parts = []
    for res in results:
        name = res["topology"]
        worst = max(res["tools"].items(), key=lambda kv: kv[1]["p99_ms"] if kv[1]["calls"] else -1)
        goals += [
            [
                f"0 errors ({name})",
                f"{res['errors']} errors in {res['calls']:,} calls",
                "met" if not res["errors"] else "MISSED",
            ],
            [
                f"p99 per tool <= 100 ms ({name})",
                f"worst: {worst[0]} p99 {fmt(worst[1]['p99_ms'])} ms",
                "met" if worst[1]["p99_ms"] <= 100 else "MISSED",
            ],
            [
                f"stack PSS <= 200 MB in total ({name}, after the run)",
                f"{res['pss_total_mb']:.1f} MB ({len(res['pss'])} processes)",
                "met" if res["pss_total_mb"] <= 200 else "MISSED",
            ],
        ]
        base = res["baseline"]["tools"]
        rows = [
            [
                t,
                v["calls"],
                f"{v['rate']:.0f}",
                v["errors"],
                fmt(v["p50_ms"]),
                fmt(v["p95_ms"]),
                fmt(v["p99_ms"]),
                fmt(v["max_ms"]),
                f"{fmt(base[t]['p50_ms'])} / {fmt(base[t]['p99_ms'])}",
            ]
            for t, v in res["tools"].items()
        ]
        parts.append(
            f"**{name}**: {res['agents']} agents, {res['seconds']:.1f} s, think time {res['think_ms']:g} ms, "
            f"{form_text(res.get('form', 'legacy') == 'modern')}, "
            f"{res['loops']:,} loops, {res['calls']:,} calls ({res['calls_per_s']:.0f}/s), load generator "
            f"{res['client_cores']:.2f} cores; {res['load_note']}\n\n"
            + md_table(
                ["tool", "calls", "calls/s", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms", "1 agent: p50 / p99 ms"],
                rows,
            )
        )
        errs = [f"{t}: {'; '.join(v['error_examples'])}" for t, v in res["tools"].items() if v["error_examples"]]
        if errs:
            parts.append("errors seen: " + " | ".join(errs))
        mem_rows = [[p["pid"], f"`{p['process']}`", f"{p['pss_mb']:.1f}", f"{p['rss_mb']:.1f}"] for p in res["pss"]]
        mem_rows.append(["", "idle, before the load", f"{res['pss_idle_total_mb']:.1f}", ""])
        mem_rows.append(
            ["", "**total**", f"**{res['pss_total_mb']:.1f}**", f"{sum(p['rss_mb'] for p in res['pss']):.1f}"]
        )
        parts.append(md_table(["pid", "process", "PSS MB", "RSS MB"], mem_rows))
    body = md_table(["goal", "measured", "verdict"], goals) + "\n\n" + "\n\n".join(parts)
    notes = [
        "each agent: agent_register -> task_assign (2 tasks, level fast) -> task_report (each assigned task) -> "
        "consensus_vote on its round's proposal (consensus_propose by the first agent in the round; plurality, "
        "quorum = all 50) -> memory_store; raw JSON-RPC, each agent on its own keep-alive HTTP/1.1 "
        "connection (asyncio streams on uvloop; ~3x less client CPU per call than httpx2)",
        (
            f"every request in protocol {PROTOCOL}, as the SDK 2.x client sends it (per-request `_meta` envelope "
            "with protocolVersion, clientCapabilities, clientInfo + MCP-Protocol-Version, Mcp-Method, Mcp-Name "
            "headers; the SDK's single-exchange path); `--legacy` sends them without the envelope"
            if modern
            else f"every request in the legacy form (`--legacy`): no protocol envelope, as 2025-era clients send it "
            f"(the SDK's stateless 2025 path); SDK 2.x clients send protocol {PROTOCOL} (the default of this "
            "benchmark)"
        ),
        "topologies: `supervisor/N` = the real `swarm up --processes` with SWARM_HTTP_WORKERS=N; `up` = `swarm up`; "
        "`processes/1` = each service a process of its own (`swarm serve NAME`, memory on SQLite), one gateway; "
        "`memory-replicas/N` = the same with N memory replicas on one PostgreSQL database (a throw-away local "
        "cluster, durable defaults; its server processes are not in the PSS table), every caller reaching all "
        "of them (one target, N addresses, round_robin)",
        "latency is measured in the load generator, which shares the 2 cores with the stack: a closed loop without "
        "think time runs the machine at saturation, so latency there is mostly queueing (Little's law)",
        "PSS from /proc/PID/smaps_rollup (psutil memory_full_info) right after the run, before the stack stops; "
        "baseline: the same stack idle, before any load",
        "latency baseline: the same loop by 1 agent alone on the same stack just before (unloaded latency)",
    ]
    return section("50 concurrent agents through MCP, then the memory of the stack", cmd, body, notes)


def compare_fast_path(
    name: str, agents: int, seconds: float, think_s: float, modern: bool, repeats: int
) -> list[dict[str, Any]]:
    """``repeats`` pairs of runs, SWARM_FAST_PATH=1 then =0, each on a fresh stack."""
    runs = []
    for i in range(repeats):
        for fast in (True, False):
            log(f"{name}: repeat {i + 1}/{repeats}, SWARM_FAST_PATH={int(fast)}")
            runs.append(run_topology(name, agents, seconds, think_s, modern, fast_path=fast))
    return runs


def render_comparison(name: str, runs: list[dict[str, Any]], cmd: str) -> tuple[str, dict[str, Any]]:
    """Per tool: calls/s and p99, medians over the runs of each mode, and fast / SDK."""
    med: dict[str, dict[str, Any]] = {}
    for mode, fast in (("fast", True), ("sdk", False)):
        mine = [r for r in runs if r["fast_path"] is fast]
        med[mode] = {
            "calls_per_s": statistics.median(r["calls_per_s"] for r in mine),
            "calls_per_s_runs": [r["calls_per_s"] for r in mine],
            "errors": sum(r["errors"] for r in mine),
            "other_cores": [r["other_cores"] for r in mine],
            "tools": {
                t: {
                    "rate": statistics.median(r["tools"][t]["rate"] for r in mine),
                    "p99_ms": statistics.median(r["tools"][t]["p99_ms"] for r in mine),
                    "p50_ms": statistics.median(r["tools"][t]["p50_ms"] for r in mine),
                    "rate_runs": [r["tools"][t]["rate"] for r in mine],
                    "p99_runs": [r["tools"][t]["p99_ms"] for r in mine],
                }
                for t in TOOLS
                if all(r["tools"][t]["calls"] for r in mine)
            },
        }
    rows = []
    for t in med["fast"]["tools"]:
        f, s = med["fast"]["tools"][t], med["sdk"]["tools"].get(t)
        if s is None:
            continue
        rows.append(
            [
                t,
                f"{f['rate']:.0f} ({', '.join(f'{v:.0f}' for v in f['rate_runs'])})",
                f"{s['rate']:.0f} ({', '.join(f'{v:.0f}' for v in s['rate_runs'])})",
                f"{f['rate'] / s['rate']:.2f}x",
                f"{fmt(f['p99_ms'])} ({', '.join(fmt(v) for v in f['p99_runs'])})",
                f"{fmt(s['p99_ms'])} ({', '.join(fmt(v) for v in s['p99_runs'])})",
                f"{f['p99_ms'] / s['p99_ms']:.2f}x",
            ]
        )
    f, s = med["fast"], med["sdk"]
    rows.append(
        [
            "**all tools**",
            f"{f['calls_per_s']:.0f} ({', '.join(f'{v:.0f}' for v in f['calls_per_s_runs'])})",
            f"{s['calls_per_s']:.0f} ({', '.join(f'{v:.0f}' for v in s['calls_per_s_runs'])})",
            f"{f['calls_per_s'] / s['calls_per_s']:.2f}x",
            "",
            "",
            "",
        ]
    )
    body = md_table(
        ["tool", "fast calls/s", "SDK calls/s", "fast / SDK", "fast p99 ms", "SDK p99 ms", "p99 fast / SDK"], rows
    )
    body += f"\n\nerrors: fast path {f['errors']}, SDK path {s['errors']}\n"
    others = [f"{v:.2f}" for r in runs for v in [r["other_cores"]]]
    notes = [
        f"`{name}`, {runs[0]['agents']} agents, {runs[0]['seconds']:.0f} s per run, think time {runs[0]['think_ms']:g} "
        f"ms, {form_text(runs[0].get('form') == 'modern')}; the loop of `python -m bench.bench_swarm_load`",
        f"{len(runs) // 2} pairs of runs, each on a fresh stack: SWARM_FAST_PATH=1 then SWARM_FAST_PATH=0; medians "
        "per mode, run-by-run values in parentheses",
        f"other load on the machine (cores busy outside the benchmark, per run in order): {', '.join(others)}",
    ]
    data = {"topology": name, "medians": med, "runs": runs, "command": cmd}
    return section("50 agents: the fast path against the SDK path (SWARM_FAST_PATH)", cmd, body, notes), data


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="10 s per topology")
    p.add_argument("--seconds", type=float, default=0.0, help="load duration per topology (default 60, quick 10)")
    p.add_argument("--agents", type=int, default=50)
    p.add_argument("--think-ms", type=float, default=0.0, help="pause between an agent's loops")
    p.add_argument("--topologies", default="supervisor/1,up")
    p.add_argument(
        "--legacy",
        action="store_true",
        help=f"send requests without the protocol envelope (2025-era clients) instead of protocol {PROTOCOL}",
    )
    p.add_argument(
        "--compare-fast-path",
        type=int,
        default=0,
        metavar="N",
        help="N pairs of runs of the first topology, SWARM_FAST_PATH=1 then 0 (bench/results/swarm_load_fastpath.*)",
    )
    p.add_argument(
        "--out",
        default="swarm_load",
        help="results under bench/results/OUT.{md,json} (default swarm_load, what the report reads)",
    )
    args = p.parse_args(argv)
    if not re.fullmatch(r"[a-z0-9_]{1,64}", args.out):
        raise SystemExit(f"--out {args.out!r}: give a plain file stem (a-z, 0-9, _), e.g. swarm_load_pg")
    exit_on_sigterm()
    seconds = min(args.seconds or (10.0 if args.quick else 60.0), 600.0)
    modern = not args.legacy
    t0 = time.monotonic()
    results = []
    names = [n.strip() for n in args.topologies.split(",") if n.strip()]
    if args.compare_fast_path:
        runs = compare_fast_path(names[0], args.agents, seconds, args.think_ms / 1e3, modern, args.compare_fast_path)
        cmd = command_line("bench.bench_swarm_load")
        md, data = render_comparison(names[0], runs, cmd)
        print(md, flush=True)
        data.update(machine=machine(), quick=args.quick)
        path = write_results("swarm_load_fastpath", "# 50 agents: fast path vs SDK path\n\n" + md, data, args.quick)
        log(f"done in {time.monotonic() - t0:.0f} s: written to {path}")
        return 0
    for i, name in enumerate(names, 1):
        log(f"topology {i}/{len(names)}: {name}, {args.agents} agents for {seconds:g} s, {form_text(modern)}")
        res = run_topology(name, args.agents, seconds, args.think_ms / 1e3, modern)
        worst = max(v["p99_ms"] for v in res["tools"].values() if v["calls"])
        log(
            f"{name}: {res['calls']:,} calls ({res['calls_per_s']:.0f}/s), errors {res['errors']}, worst p99 "
            f"{worst:.1f} ms, stack PSS {res['pss_total_mb']:.1f} MB"
        )
        results.append(res)
    cmd = command_line("bench.bench_swarm_load")
    md = render(results, cmd, modern)
    print(md, flush=True)
    data = {
        "runs": results,
        "command": cmd,
        "machine": machine(),
        "quick": args.quick,
        "form": "modern" if modern else "legacy",
        "protocol": PROTOCOL if modern else "legacy",
    }
    path = write_results(args.out, md, data, args.quick)
    log(f"done in {time.monotonic() - t0:.0f} s: written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
