"""Messages (issue 17): from a send to the waiting recipient's inbox answer, with 50 agents waiting in
message_inbox(wait_s) over MCP Streamable HTTP against ``swarm up``.

Every agent holds one long poll open (its own keep-alive connection). Two patterns, each timed from just before
the send is posted to the moment the recipient's long poll answers (one clock, this process):
- direct: one message to one random agent at a time (the others stay waiting);
- broadcast: one message to ``*``, every waiting agent wakes (the delay of each).
Each woken agent acknowledges what it got and waits again. Only loopback; every loop bounded.

    .venv/bin/python -m bench.bench_messages [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import random
import time
from typing import Any

from bench.harness.loadmeter import LoadMeter
from bench.harness.mcpwire import call_tool as call
from bench.harness.rawhttp import RawHttpConnection
from bench.harness.results import command_line, md_table, section, write_results
from bench.harness.stats import LatencySummary, fmt
from bench.harness.topology import QUIET, Shape, running, temp_dir

AGENTS = 50
GOAL_P99_MS = 50.0


class Waiter:
    """One agent in a long-poll loop: every message it receives is timed against the send's start."""

    def __init__(
        self, url: str, agent_id: str, sent_at: dict[int, float], delays: list[float], arrived: asyncio.Event
    ) -> None:
        self.arrived = arrived
        self.conn = RawHttpConnection(url, timeout=60)
        self.agent_id = agent_id
        self.sent_at = sent_at
        self.delays = delays
        self.received = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            got = await call(self.conn, "message_inbox", {"agent_id": self.agent_id, "wait_s": 5, "unread_only": True})
            now = time.perf_counter()
            ids = [m["id"] for m in got["messages"]]
            for message_id in ids:
                if message_id in self.sent_at:
                    self.delays.append(now - self.sent_at[message_id])
                    self.arrived.set()
            if ids:
                self.received += len(ids)
                await call(self.conn, "message_ack", {"agent_id": self.agent_id, "message_ids": ids})


async def scenario(url: str, rounds: int, broadcasts: int, seed: int) -> dict[str, Any]:
    setup = RawHttpConnection(url)
    agents = [f"agent-{i:02}" for i in range(AGENTS)]
    for agent in ["sender", *agents]:
        await call(setup, "agent_register", {"agent_id": agent})
    direct: list[float] = []
    fanout: list[float] = []
    sent_at: dict[int, float] = {}
    stop = asyncio.Event()
    arrived = asyncio.Event()
    waiters = [Waiter(url, a, sent_at, direct, arrived) for a in agents]

    async def until(count: Any, n: int, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while len(count) < n and time.perf_counter() < deadline:
            arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), deadline - time.perf_counter())

    tasks = [asyncio.create_task(w.run(stop)) for w in waiters]
    await asyncio.sleep(1.0)  # every agent is inside its long poll
    rng = random.Random(seed)
    sender = RawHttpConnection(url)
    for i in range(rounds):
        target = rng.choice(agents)
        before = len(direct)
        started = time.perf_counter()
        sent = await call(
            sender, "message_send", {"from_agent": "sender", "to": [target], "subject": "s", "body": f"m{i}"}
        )
        sent_at[sent["id"]] = started
        await until(direct, before + 1, 5)  # the next send once this one arrived
        await asyncio.sleep(rng.uniform(0.005, 0.02))  # the recipient is back in its long poll
    for waiter in waiters:
        waiter.delays = fanout
    for _ in range(broadcasts):
        before = len(fanout)
        started = time.perf_counter()
        sent = await call(sender, "message_send", {"from_agent": "sender", "to": ["*"], "subject": "all", "body": "b"})
        sent_at[sent["id"]] = started
        await until(fanout, before + AGENTS, 10)
        await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*tasks)
    for w in waiters:
        await w.conn.close()
    await sender.close()
    await setup.close()
    return {
        "direct": dataclasses.asdict(LatencySummary.of(direct)),
        "broadcast": dataclasses.asdict(LatencySummary.of(fanout)),
        "direct_n": len(direct),
        "broadcast_n": len(fanout),
        "expected_broadcast_n": broadcasts * AGENTS,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a short smoke run")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    rounds, broadcasts = (40, 3) if args.quick else (300, 10)
    with temp_dir("swarm-bench-messages-") as data, running(Shape("up"), data, QUIET) as stack:
        meter = LoadMeter()
        out = asyncio.run(scenario(stack.url, rounds, broadcasts, args.seed))
        load = meter.stop()
    d, b = out["direct"], out["broadcast"]
    rows = [
        ["direct (1 recipient of 50 waiting)", out["direct_n"], fmt(d["p50_ms"]), fmt(d["p99_ms"]), fmt(d["max_ms"])],
        [
            "broadcast `*` (every one of 50 waiting)",
            f"{out['broadcast_n']} of {out['expected_broadcast_n']}",
            fmt(b["p50_ms"]),
            fmt(b["p99_ms"]),
            fmt(b["max_ms"]),
        ],
    ]
    met = d["p99_ms"] <= GOAL_P99_MS
    body = md_table(["pattern", "deliveries", "p50 ms", "p99 ms", "max ms"], rows)
    body += f"\n\ngoal: direct p99 <= {GOAL_P99_MS:g} ms: {'met' if met else 'MISSED'} ({fmt(d['p99_ms'])} ms)\n"
    notes = [
        "swarm up (one process); every agent on its own keep-alive HTTP connection, protocol 2026-07-28",
        "timed from just before the send is posted to the recipient's long poll answering (includes the send)",
        load,
    ]
    markdown = section("Messages: send -> waiting recipient wakes", command_line("bench.bench_messages"), body, notes)
    path = write_results("messages", "# Messages\n\n" + markdown, {**out, "quick": args.quick}, args.quick)
    print(markdown)
    print(f"(written to {path})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
