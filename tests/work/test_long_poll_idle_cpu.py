"""100 agents waiting in task_next cost the server no CPU beyond their connections: a waiting poll sleeps on an
event the placement sets, it does not wake up to look. Real processes (memory, assignment, gateway); the CPU
time of every server process (psutil) over a 2 s window while all 100 long polls are in flight and idle."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import psutil
from mcp import Client

from tests.faults.procs import payload, topology, until

AGENTS = 100
CLIENTS = 4  # an HTTP/1.1 connection per waiting call: a client's connection pool holds 100 at most
WAIT_S = 6.0
WINDOW_S = 2.0
BOUND_CPU_S = 0.2


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            out[pid] = t.user + t.system
    return out


async def window_cpu(pids: list[int]) -> float:
    """CPU seconds the server processes spend over WINDOW_S (the window is the measurement, not a wait)."""
    before = cpu_seconds(pids)
    await asyncio.sleep(WINDOW_S)
    after = cpu_seconds(pids)
    assert set(after) == set(before), "a server process went away during the window"
    return sum(after[p] - before[p] for p in before)


async def test_100_waiting_agents_cost_the_server_no_cpu(tmp_path: Path) -> None:
    async with contextlib.AsyncExitStack() as stack:
        topo = await stack.enter_async_context(topology(tmp_path, ("memory", "assignment")))
        control = await stack.enter_async_context(Client(topo.url))
        clients = [await stack.enter_async_context(Client(topo.url)) for _ in range(CLIENTS)]
        pids = topo.sync.pids()
        assert len(pids) >= 3, pids
        for i in range(AGENTS):
            payload(await control.call_tool("agent_register", {"agent_id": f"idle{i:03d}", "capacity": 1}))
        idle = await window_cpu(pids)

        asked = time.time()

        async def poll(client: Client, agent: str) -> Any:
            return payload(await client.call_tool("task_next", {"agent_id": agent, "wait_s": WAIT_S}))

        polls = [asyncio.create_task(poll(clients[i % CLIENTS], f"idle{i:03d}")) for i in range(AGENTS)]

        async def all_waiting() -> bool:
            for p in polls:
                if p.done():
                    p.result()
                    raise AssertionError("a task_next with nothing to take answered before its wait ended")
            agents = payload(await control.call_tool("agent_list", {}))["agents"]
            return sum(a["last_seen"] >= asked for a in agents) == AGENTS

        await until(all_waiting, 10, f"{AGENTS} agents waiting in task_next", step=0.05)
        waiting = await window_cpu(pids)
        assert not any(p.done() for p in polls), "some polls ended inside the window: it did not measure waiting"
        answers = await asyncio.wait_for(asyncio.gather(*polls), WAIT_S + 15)

    assert all(a["tasks"] == [] and a["waited_s"] >= WAIT_S - 0.5 for a in answers)
    print(
        f"\nidle long polls: server CPU over {WINDOW_S:g} s: {waiting * 1e3:.0f} ms with {AGENTS} agents waiting in "
        f"task_next, {idle * 1e3:.0f} ms with none ({len(pids)} processes)"
    )
    assert waiting < BOUND_CPU_S, f"{AGENTS} idle long polls cost the server {waiting:.3f} s CPU in {WINDOW_S:g} s"
