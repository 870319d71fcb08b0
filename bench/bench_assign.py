"""task_assign benchmarks (issue 3): a 50 agents x 200 tasks batch (goal p50 <= 50 ms, balanced level) and
batches of 10 tasks through MCP over HTTP (goal >= 100 assignments/s).

Runs `swarm up` in its own process on free ports; the load comes from this process: gRPC Assign
(dry run, a new seed per call so no answer comes from the cache) and raw JSON-RPC POSTs to /mcp
(`task_assign`, recorded; every assigned task is then reported so capacity never runs out).

    python -m bench.bench_assign [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

import httpx2 as httpx
from grpc import aio

from bench.harness.mcpwire import MCP_HEADERS as HEADERS
from bench.harness.results import command_line, md_table, section, write_page
from bench.harness.seed import SKILLS
from bench.harness.stats import fmt, percentile
from bench.harness.topology import QUIET, Shape, running, temp_dir
from common.channels import CHANNEL_OPTIONS
from swarm.assignment.v1 import assignment_pb2 as pb
from swarm.assignment.v1 import assignment_pb2_grpc


def make_tasks(n: int, rng: random.Random, prefix: str) -> list[pb.Task]:
    tasks = []
    for j in range(n):
        req = rng.sample(SKILLS, rng.randint(0, 2))
        tasks.append(
            pb.Task(
                task_id=f"{prefix}{j}",
                task_type=rng.choice(["code", "data", "write"]),
                required_skills=[pb.SkillRequirement(skill=s, min_level=round(rng.uniform(0.1, 0.5), 2)) for s in req],
                effort=rng.choice([1, 1, 2, 3]),
                priority=rng.choice([0, 0, 1, 2]),
            )
        )
    return tasks


async def register_agents(stub: assignment_pb2_grpc.AssignmentServiceStub, n: int, capacity: float) -> None:
    rng = random.Random(1)
    for i in range(n):
        skills = {s: round(rng.uniform(0.2, 1.0), 2) for s in rng.sample(SKILLS, 4)}
        await stub.RegisterAgent(pb.RegisterAgentRequest(agent_id=f"agent-{i}", skills=skills, capacity=capacity))


async def big_batches(address: str, runs: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    async with aio.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
        stub = assignment_pb2_grpc.AssignmentServiceStub(channel)
        await register_agents(stub, 50, 12)  # 50 agents, 600 slots for 200 tasks of effort 1-3: tight
        rng = random.Random(7)
        tasks = make_tasks(200, rng, "big")
        for level in ("fast", "balanced"):
            times, gaps, algos = [], [], []
            for run in range(runs):
                t0 = time.perf_counter()
                resp = await stub.Assign(pb.AssignRequest(tasks=tasks, level=level, seed=run, dry_run=True), timeout=30)
                times.append((time.perf_counter() - t0) * 1e3)
                gaps.append(resp.gap * 100)
                algos.append(resp.algorithm)
                assert not resp.cache_hit
            out[level] = times
            out[f"{level}_gap"] = gaps
            out[f"{level}_assigned"] = [len(resp.assignments)]
            out[f"{level}_algo"] = algos  # type: ignore[assignment]
    return out


async def mcp_batches(url: str, seconds: float, concurrency: int) -> tuple[int, float, list[float]]:
    """Assign batches of 10 through MCP (recorded), report each task, for ``seconds``; count assignments."""
    assigned = 0
    latencies: list[float] = []
    stop_at = time.monotonic() + seconds
    counter = iter(range(10**9))

    async def worker(w: int, client: httpx.AsyncClient) -> None:
        nonlocal assigned
        rng = random.Random(w)
        while time.monotonic() < stop_at:
            b = next(counter)
            tasks = [{"id": f"m{b}-{j}", "type": rng.choice(["code", "data"]), "skills": {}} for j in range(10)]
            body = {
                "jsonrpc": "2.0",
                "id": b,
                "method": "tools/call",
                "params": {"name": "task_assign", "arguments": {"tasks": tasks, "level": "fast"}},
            }
            t0 = time.perf_counter()
            r = await client.post(url, json=body, headers=HEADERS)
            latencies.append((time.perf_counter() - t0) * 1e3)
            result = r.json()["result"]
            if result.get("isError"):
                raise RuntimeError(result["content"][0]["text"])
            plan = result["structuredContent"]
            assigned += len(plan["assignments"])
            for a in plan["assignments"]:  # free the capacity again (not timed as assignment work)
                rep = {
                    "jsonrpc": "2.0",
                    "id": 0,
                    "method": "tools/call",
                    "params": {
                        "name": "task_report",
                        "arguments": {"task_id": a["task_id"], "agent_id": a["agent_id"], "success": True},
                    },
                }
                await client.post(url, json=rep, headers=HEADERS)

    async with httpx.AsyncClient(timeout=30) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w, client) for w in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return assigned, elapsed, latencies


async def main_async(quick: bool) -> str:
    runs = 5 if quick else 15
    seconds = 3.0 if quick else 15.0
    with temp_dir("swarm-bench-assign-") as data, running(Shape("up"), data, QUIET) as stack:
        big = await big_batches(stack.addrs["assignment"], runs)
        mcp_runs = []
        for _ in range(1 if quick else 3):
            mcp_runs.append(await mcp_batches(stack.url, seconds, concurrency=4))
    rows = []
    for level in ("fast", "balanced"):
        t = sorted(big[level])
        rows.append(
            [
                f"Assign 50 agents x 200 tasks, level {level} (gRPC, dry run)",
                fmt(statistics.median(t)),
                fmt(percentile(t, 95)),
                f"{statistics.median(big[f'{level}_gap']):.2f} %",
                ", ".join(sorted(set(big[f"{level}_algo"]))),  # type: ignore[arg-type]
                "p50 <= 50 ms" if level == "balanced" else "",
            ]
        )
    rates = [assigned / elapsed for assigned, elapsed, _ in mcp_runs]
    lat = sorted(x for r in mcp_runs for x in r[2])
    rows.append(
        [
            "task_assign, batches of 10, MCP over HTTP, 4 clients (recorded)",
            fmt(percentile(lat, 50)),
            fmt(percentile(lat, 95)),
            "",
            f"{statistics.median(rates):.0f} assignments/s (runs: {', '.join(f'{x:.0f}' for x in rates)})",
            ">= 100 assignments/s",
        ]
    )
    body = md_table(["what", "p50 ms", "p95 ms", "median gap to LP bound", "algorithm / throughput", "goal"], rows)
    return section(
        "task_assign",
        command_line("bench.bench_assign", ["--quick"] if quick else []),
        body,
        [
            f"{runs} runs per level, a new seed each (no cache hits); the MCP rate counts assigned tasks per second "
            "of wall time, with the report of every task inside that time"
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    text = asyncio.run(main_async(args.quick))
    print(text)
    write_page("assignment", "Assignment benchmarks", text, quick=args.quick)


if __name__ == "__main__":
    main()
