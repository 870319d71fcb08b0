"""SIGKILL the memory service and the assignment service (each its own process, restarted on the same port and
data directory) while a swarm of simulated workers runs a task graph through the gateway over MCP: nothing
is lost (every task ends done), nothing is doubled (one attempt per task, one success, one result, one
pheromone deposit), no task ran before its dependencies, and the swarm finishes after the restarts.

Each worker is what an agent following the contract does: task_next(wait) -> task_report(success) in a loop,
a failed call tried again (the same report again is answered as the first one), and a task that task_next
lists in still_yours but whose answer it never saw (the call was cut by a kill and retried) done all the
same (task_list shows it whole, and the results of its dependencies)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp import Client

from tests.faults.procs import integrity, payload, tool_text, topology, until

TASKS = 240  # half submitted at the start, half while the assignment service is down
WORKERS = 8
CAPACITY = 2
LEASE_S = 120  # no lease runs out during the test: every second attempt would be a doubling
KILLS = ("memory", "assignment", "memory", "assignment")
MAX_LOOPS = 1500  # per worker
CALL_TIMEOUT_S = 10.0
RUN_TIMEOUT_S = 90.0
TYPE = "job"
LOSES_AN_ANSWER = "worker0"  # drops its first answer with tasks, as a cut connection would: it resumes them


@dataclass
class Swarm:
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    given: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # task -> agents task_next gave it
    recovered: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # from still_yours
    acks: dict[str, list[tuple[str, bool]]] = field(default_factory=lambda: defaultdict(list))  # (agent, repeated)
    failed_calls: list[str] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # tasks in the one answer LOSES_AN_ANSWER drops on purpose


def graph() -> list[dict[str, Any]]:
    """A random DAG: each task depends on up to two earlier ones."""
    rng = random.Random(16)
    tasks = []
    for i in range(TASKS):
        deps = sorted(rng.sample(range(i), min(i, rng.choice([0, 1, 2])))) if i else []
        tasks.append({"id": f"w{i:03d}", "type": TYPE, "depends_on": [f"w{d:03d}" for d in deps], "lease_s": LEASE_S})
    return tasks


def clear_failure(text: str) -> bool:
    return "service" in text and ("unavailable" in text or "deadline" in text) and "retry" in text


async def call(client: Client, tool: str, args: dict[str, Any], swarm: Swarm) -> Any | None:
    """The tool's answer, or None after a failure that says a service is down (noted; the caller tries again)."""
    try:
        result = await asyncio.wait_for(client.call_tool(tool, args), CALL_TIMEOUT_S + 70)
    except Exception as exc:  # the MCP call itself broke (the gateway is never killed): no client should see that
        swarm.bad.append(f"{tool} {str(args)[:200]}: {exc!r}")
        result = None
    if result is not None and not result.is_error:
        return payload(result)
    if result is not None:
        text = tool_text(result)
        swarm.failed_calls.append(f"{tool}: {text}")
        if not clear_failure(text):
            swarm.bad.append(f"{tool} {str(args)[:200]}: {text}")
    await asyncio.sleep(0.05)  # a client's pause before it tries again
    return None


async def submit(client: Client, tasks: list[dict[str, Any]], swarm: Swarm) -> dict[str, Any]:
    """What a coordinator does: submit, and after a failure submit the same again (stored once either way)."""
    for _ in range(20):
        answer = await call(client, "task_submit", {"tasks": tasks}, swarm)
        if answer is not None:
            return answer
    raise AssertionError(f"task_submit failed 20 times: {swarm.failed_calls[-3:]}")


async def resume(client: Client, agent: str, task_id: str, swarm: Swarm) -> dict[str, Any] | None:
    """What task_next says to do with a still_yours task (brief: id, attempt, lease) whose answer was lost:
    task_list ids=[...] shows it whole, and its dependencies' results are theirs (each is done). None: try later."""
    listed = await call(client, "task_list", {"ids": [task_id]}, swarm)
    if listed is None or not listed["tasks"]:
        return None
    whole = listed["tasks"][0]
    if whole["state"] != "running" or whole.get("agent_id") != agent:
        swarm.bad.append(f"{task_id} was in still_yours of {agent}, but task_list shows {whole}")
        return None
    deps = whole.get("depends_on", [])
    if not deps:
        return {}
    got = await call(client, "task_list", {"ids": deps}, swarm)
    if got is None:
        return None
    return {t["id"]: t.get("result") for t in got["tasks"]}


async def worker(client: Client, agent: str, swarm: Swarm) -> None:
    mine: dict[str, dict[str, Any]] = {}  # tasks it holds -> the results of their dependencies
    for _ in range(MAX_LOOPS):
        if swarm.stop.is_set() and not mine:
            return
        got = None
        if not swarm.stop.is_set():
            got = await call(client, "task_next", {"agent_id": agent, "wait_s": 1, "limit": CAPACITY}, swarm)
        if got is not None and got["tasks"] and agent == LOSES_AN_ANSWER and not swarm.lost:
            swarm.lost = [t["id"] for t in got["tasks"]]
            got = {**got, "tasks": []}
        if got is not None:
            if got["cancelled"]:
                swarm.bad.append(f"{agent} was told {got['cancelled']} were cancelled")
            for t in got["tasks"]:
                swarm.given[t["id"]].append(agent)
                mine[t["id"]] = t["dependencies"]
            for t in got["still_yours"]:  # taken by a call whose answer it never saw (cut by a kill, retried)
                if t["id"] not in mine:
                    deps = await resume(client, agent, t["id"], swarm)
                    if deps is not None:  # else: listed again by the next task_next, resumed then
                        swarm.recovered[t["id"]].append(agent)
                        mine[t["id"]] = deps
        for task_id, deps in list(mine.items()):
            wrong = {d: r for d, r in deps.items() if not (isinstance(r, dict) and r.get("task") == d)}
            if wrong:
                swarm.bad.append(f"{task_id} ran on {agent} with dependency results {wrong}")
            result = {"task": task_id, "by": agent, "inputs": sorted(deps)}
            args = {"task_id": task_id, "agent_id": agent, "success": True, "result": result, "duration_s": 0.01}
            out = await call(client, "task_report", args, swarm)
            if out is None:
                continue  # kept: reported again in the next turn
            swarm.acks[task_id].append((agent, out["repeated"]))
            if out["state"] != "done":
                swarm.bad.append(f"{task_id}: the report of {agent} answered {out}")
            del mine[task_id]
    swarm.bad.append(f"{agent} ran out of loops")


async def test_sigkill_of_memory_and_assignment_during_a_swarm_loses_and_doubles_nothing(tmp_path: Path) -> None:
    started = time.monotonic()
    tasks = graph()
    swarm = Swarm()
    downtime: list[tuple[str, float]] = []
    async with topology(
        tmp_path, ("memory", "assignment"), SWARM_CALL_TIMEOUT_S=str(CALL_TIMEOUT_S), SWARM_SHUTDOWN_GRACE_S="2"
    ) as topo:
        async with Client(topo.url) as client:
            for w in range(WORKERS):
                payload(
                    await client.call_tool(
                        "agent_register", {"agent_id": f"worker{w}", "skills": {"any": 1.0}, "capacity": CAPACITY}
                    )
                )
            first = await submit(client, tasks[: TASKS // 2], swarm)
            assert all(t["created"] for t in first["tasks"])
            workers = [asyncio.create_task(worker(client, f"worker{w}", swarm)) for w in range(WORKERS)]

            async def reached(n: int) -> bool:
                for task in workers:
                    if task.done():
                        task.result()  # a crashed worker fails the test at once
                        raise AssertionError("a worker stopped before the swarm finished")
                return len(swarm.acks) >= n

            try:
                for k, name in enumerate(KILLS):
                    target = (k + 1) * TASKS // 8
                    await until(lambda n=target: reached(n), RUN_TIMEOUT_S, f"{target} tasks done before a kill")
                    service = topo.service(name)
                    killed = time.monotonic()
                    assert await service.kill() == -9, f"{name} did not die on SIGKILL"
                    second = None
                    if k == 1:  # the coordinator submits the rest while assignment is down (the gateway retries)
                        second = asyncio.create_task(submit(client, tasks[TASKS // 2 :], swarm))
                    await service.start()  # same port, same data directory
                    downtime.append((name, time.monotonic() - killed))
                    if second is not None:
                        answer = await asyncio.wait_for(second, 20 * (CALL_TIMEOUT_S + 10))
                        assert [t["id"] for t in answer["tasks"]] == [t["id"] for t in tasks[TASKS // 2 :]]

                async def finished() -> bool:
                    """Every task done, and every worker told so (a report whose answer a kill cut off is sent
                    again until it is answered)."""
                    if not await reached(TASKS):
                        return False
                    listed = await call(client, "task_list", {"status": ["done"], "limit": 1}, swarm)
                    return listed is not None and listed["counts"]["done"] == TASKS

                await until(finished, RUN_TIMEOUT_S, f"all {TASKS} tasks done after the kills", step=0.1)
            finally:
                swarm.stop.set()
                done, pending = await asyncio.wait(workers, timeout=CALL_TIMEOUT_S + 20)
                for task in pending:
                    task.cancel()
            assert not pending, "workers did not finish their last call in time"
            for task in done:
                task.result()

            listed = payload(await client.call_tool("task_list", {"ids": [t["id"] for t in tasks], "limit": 500}))
            trails = payload(await client.call_tool("pheromone_read", {"task_type": TYPE, "limit": 1000}))
        assert integrity(topo.data_dir / "memory.db") == "ok"
        assert [topo.service(n).starts for n in ("memory", "assignment")] == [3, 3]

    assert not swarm.bad, "\n".join(swarm.bad[:10])
    by_id = {t["id"]: t for t in listed["tasks"]}
    assert listed["counts"]["done"] == TASKS and len(by_id) == TASKS, listed["counts"]
    # nothing lost, nothing doubled: one attempt each, done by the agent that was given it, its result stored once
    more = {i: t["attempts"] for i, t in by_id.items() if len(t["attempts"]) != 1}
    assert not more, f"tasks with more than one attempt: {dict(list(more.items())[:3])}"
    for task_id, t in by_id.items():
        (attempt,) = t["attempts"]
        assert t["state"] == "done" and attempt["outcome"] == "succeeded", t
        doer = attempt["agent_id"]
        assert t["result"] == {"task": task_id, "by": doer, "inputs": t.get("depends_on", [])}, t
        given = swarm.given.get(task_id, []) + swarm.recovered.get(task_id, [])
        assert given == [doer], f"{task_id} was given to {given}, done by {doer}"
        acks = swarm.acks.get(task_id, [])
        assert acks and {a for a, _ in acks} == {doer}, (task_id, acks)
        assert sum(not repeated for _, repeated in acks) <= 1, (task_id, acks)
        for d in t.get("depends_on", []):
            assert attempt["started_at"] >= by_id[d]["ended_at"], f"{task_id} started before {d} was done"
    assert sum(tr["successes"] for tr in trails["trails"]) == TASKS  # one pheromone deposit per task
    assert swarm.lost and all(swarm.recovered.get(t) == [LOSES_AN_ANSWER] for t in swarm.lost), swarm.recovered
    assert sum(tr["failures"] for tr in trails["trails"]) == 0
    print(
        f"\nsigkill swarm: {TASKS} tasks by {WORKERS} workers through {len(KILLS)} kills "
        f"({', '.join(f'{n} down {s:.1f} s' for n, s in downtime)}); {len(swarm.failed_calls)} calls failed "
        f"clearly and were tried again; {sum(len(a) for a in swarm.acks.values()) - TASKS} reports answered again; "
        f"{len(swarm.recovered)} tasks resumed from still_yours; {time.monotonic() - started:.1f} s"
    )
