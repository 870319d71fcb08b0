"""Consensus through MCP: 50 agents vote concurrently; time from the last vote to ``decided``.

The server is what ``swarm up`` runs (every service and the Streamable HTTP gateway in one process), in its own
process on 127.0.0.1 with a temporary data directory. Each trial opens a proposal (majority, 50 eligible voters,
quorum 50, so the decision can only come with the last vote), starts one client waiting on
``consensus_result(wait_s=30)``, then sends the 50 ``consensus_vote`` calls at once (one HTTP connection each).

- **last vote -> decided**: from the moment the last of the 50 votes was sent to the moment the waiting client
  got ``decided`` (goal <= 1 s). It includes the queueing of the 49 other votes.
- **vote round**: first vote sent -> last vote answered. **vote latency**: per-call, p50 / p99.

Every trial checks that the result counts exactly 50 votes with the expected tallies.

    .venv/bin/python -m bench.bench_consensus [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from bench.harness.mcpwire import encode, request_headers, tool_call
from bench.harness.process import exit_on_sigterm
from bench.harness.results import command_line, md_table, section, write_page
from bench.harness.stats import LatencySummary, fmt, percentile
from bench.harness.topology import QUIET, Shape, running, temp_dir

AGENTS = 50
GOAL_S = 1.0


def body(tool: str, arguments: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """One tools/call in protocol 2026-07-28, as the SDK 2.x client sends it."""
    msg = tool_call(tool, arguments, modern=True)
    return encode(msg), request_headers(msg)


async def tool(client: Any, url: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    content, headers = body(name, arguments)
    r = await client.post(url, content=content, headers=headers)
    if r.status_code != 200:
        raise SystemExit(f"{name}: HTTP {r.status_code} {r.text[:300]}")
    data = r.json()
    result = data.get("result") or {}
    if "error" in data or result.get("isError"):
        raise SystemExit(f"{name} failed: {json.dumps(data)[:500]}")
    return result.get("structuredContent") or json.loads(result["content"][0]["text"])


async def trial(client: Any, url: str, agents: list[str], n: int) -> dict[str, float]:
    p = await tool(
        client,
        url,
        "consensus_propose",
        {
            "question": f"bench trial {n}",
            "options": ["go", "wait"],
            "method": "majority",
            "eligible": agents,
            "quorum": len(agents),
            "deadline_s": 60,
        },
    )
    pid = p["proposal_id"]
    done: dict[str, float] = {}

    async def wait() -> dict[str, Any]:
        r = await tool(client, url, "consensus_result", {"proposal_id": pid, "wait_s": 30, "include_votes": False})
        done["at"] = time.perf_counter()
        return r

    waiter = asyncio.create_task(wait())
    await asyncio.sleep(0)  # let the waiter's request go out first
    sent: list[float] = []
    answered: list[float] = []

    async def vote(i: int, agent: str) -> None:
        choice = "go" if i % 3 else "wait"
        sent.append(time.perf_counter())
        start = sent[-1]
        await tool(client, url, "consensus_vote", {"proposal_id": pid, "voter": agent, "choice": choice})
        answered.append(time.perf_counter() - start)

    first = time.perf_counter()
    await asyncio.gather(*(vote(i, a) for i, a in enumerate(agents)))
    last_answer = time.perf_counter()
    final = await asyncio.wait_for(waiter, 40)
    go = sum(1 for i in range(len(agents)) if i % 3)
    if final["status"] != "decided" or final["counted"] != len(agents):
        raise SystemExit(f"trial {n}: expected decided with {len(agents)} votes, got {final}")
    if final["rounds"][0]["scores"] != {"go": go, "wait": len(agents) - go}:
        raise SystemExit(f"trial {n}: wrong tallies {final['rounds']}")
    return {
        "decided_after_last_vote_s": done["at"] - max(sent),
        "round_s": last_answer - first,
        "vote_latencies": answered,  # type: ignore[dict-item]
    }


async def run(url: str, trials: int, warmup: int) -> list[dict[str, Any]]:
    import httpx2

    agents = [f"agent-{i:02d}" for i in range(AGENTS)]
    limits = httpx2.Limits(max_connections=AGENTS + 8, max_keepalive_connections=AGENTS + 8)
    async with httpx2.AsyncClient(timeout=60, limits=limits) as client:
        out = []
        for n in range(warmup + trials):
            r = await trial(client, url, agents, n)
            if n >= warmup:
                out.append(r)
        return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a few trials (smoke)")
    args = p.parse_args(argv)
    exit_on_sigterm()
    trials, warmup = (3, 1) if args.quick else (20, 3)
    with temp_dir("swarm-bench-consensus-") as d, running(Shape("up"), d, QUIET) as stack:
        results = asyncio.run(run(stack.url, trials, warmup))
    decided = sorted(r["decided_after_last_vote_s"] for r in results)
    rounds = sorted(r["round_s"] for r in results)
    votes = LatencySummary.of([x for r in results for x in r["vote_latencies"]])
    ok = decided[-1] <= GOAL_S
    table = md_table(
        ["measure", "median ms", "p95 ms", "max ms", "goal"],
        [
            [
                f"last vote -> decided ({AGENTS} concurrent votes, waiting client)",
                fmt(percentile(decided, 50) * 1e3, 1),
                fmt(percentile(decided, 95) * 1e3, 1),
                fmt(decided[-1] * 1e3, 1),
                f"<= {GOAL_S * 1e3:.0f} ms: {'met' if ok else 'MISSED'}",
            ],
            [
                f"vote round ({AGENTS} votes sent at once -> last answered)",
                fmt(percentile(rounds, 50) * 1e3, 1),
                fmt(percentile(rounds, 95) * 1e3, 1),
                fmt(rounds[-1] * 1e3, 1),
                "",
            ],
            [
                "one consensus_vote call, under the 50 at once",
                fmt(votes.p50_ms, 1),
                fmt(votes.p95_ms, 1),
                fmt(votes.max_ms, 1),
                "",
            ],
        ],
    )
    markdown = section(
        "Consensus: 50 agents voting concurrently through MCP",
        command_line("bench.bench_consensus", argv),
        table,
        notes=[
            f"{len(results)} trials after warm-up; server: `swarm up` (all services + Streamable HTTP gateway, "
            "one process); client: httpx2, one connection per agent, JSON-RPC tools/call",
            "each trial: majority, 50 eligible voters, quorum 50; every result checked: decided, 50 votes, tallies",
        ],
    )
    print(markdown, flush=True)
    path = write_page("consensus", "Consensus benchmark", markdown, quick=args.quick)
    print(f"(written to bench/results/{path.name})", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
