"""Two assignment replicas side by side in front of one memory service place every ready task exactly once; on
PostgreSQL, in front of two memory replicas on one database (each assignment replica on its own memory replica,
the agents taking their work from both), so the placements race across memory replicas too.

Both replicas follow memory's placement events, so every submit, every report that frees capacity and every
task that becomes ready starts a round in each of them: they race for the same queued tasks all the time.
Many agents take and report the work over gRPC (NextTasks on memory, Report through either replica) while a
sampler watches that no agent ever holds more than its capacity. At the end every task has exactly one
attempt, taken by exactly one agent, and each placement was committed by exactly one of the replicas.
Real gRPC servers on port 0, real memory services (SQLite in a temp dir; PostgreSQL: a real server)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from grpc import aio

from common.channels import CHANNEL_OPTIONS
from common.config import Config
from common.server import RunningService, ServiceParts, start_service
from services.assignment.servicer import AssignmentServicer
from services.assignment.work_placer import OffLoop, Round, WorkPlacer
from services.memory.service import build as build_memory
from swarm.assignment.v1 import assignment_pb2 as pb
from swarm.assignment.v1 import assignment_pb2_grpc
from swarm.memory.v1 import state_pb2_grpc, work_pb2_grpc
from swarm.memory.v1 import work_pb2 as wpb
from tests.faults.procs import until

AGENTS = 40
BATCHES = 30
PER_BATCH = 10  # 300 tasks for 80 slots: most wait in the queue for capacity to free
TASKS = BATCHES * PER_BATCH
MAX_POLLS = 600  # per worker
RUN_TIMEOUT_S = 60.0

pytestmark = pytest.mark.engines


class CountingPlacer(WorkPlacer):
    """The real placer, keeping what its rounds committed (memory's answer to PlaceTasks)."""

    def __init__(self, work: work_pb2_grpc.WorkQueueServiceStub, off_loop: OffLoop, call_timeout_s: float) -> None:
        super().__init__(work, off_loop, call_timeout_s)
        self.committed: list[tuple[str, str]] = []
        self.refused = 0

    async def round(self, strategy: str = "auto", level: str = "fast") -> Round:
        done = await super().round(strategy, level)
        self.committed += done.placed
        self.refused += done.refused
        return done


@dataclass
class Replica:
    servicer: AssignmentServicer
    placer: CountingPlacer
    service: RunningService
    stub: assignment_pb2_grpc.AssignmentServiceStub


@dataclass
class Swarm:
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    received: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # task -> agents given it
    bad: list[str] = field(default_factory=list)
    samples: int = 0


@pytest.fixture
async def cluster(
    tmp_path: Path, database_url: str | None
) -> AsyncIterator[tuple[list[RunningService], list[Replica]]]:
    env = {"SWARM_DATA_DIR": str(tmp_path), "SWARM_CALL_TIMEOUT_S": "5"}
    if database_url:
        env["SWARM_DATABASE_URL"] = database_url
    config = Config.from_env(env)
    memories = [await start_service(build_memory(config, data_dir=tmp_path), "127.0.0.1:0")]
    if database_url:  # a second memory replica on the same database
        memories.append(await start_service(build_memory(config, data_dir=tmp_path), "127.0.0.1:0"))
    channels: list[aio.Channel] = []
    replicas = []
    for k in range(2):
        to_memory = aio.insecure_channel(memories[k % len(memories)].address, options=CHANNEL_OPTIONS)
        work = work_pb2_grpc.WorkQueueServiceStub(to_memory)
        servicer = AssignmentServicer(state_pb2_grpc.SwarmStateServiceStub(to_memory), config, work)
        placer = CountingPlacer(work, servicer.solvers.run, config.call_timeout_s)
        servicer.placer = placer

        def register(server: aio.Server, servicer: AssignmentServicer = servicer) -> list[str]:
            assignment_pb2_grpc.add_AssignmentServiceServicer_to_server(servicer, server)
            servicer.start()
            return ["swarm.assignment.v1.AssignmentService"]

        service = await start_service(ServiceParts("assignment", register), "127.0.0.1:0")
        to_service = aio.insecure_channel(service.address, options=CHANNEL_OPTIONS)
        channels += [to_memory, to_service]
        replicas.append(Replica(servicer, placer, service, assignment_pb2_grpc.AssignmentServiceStub(to_service)))
    yield memories, replicas
    for r in replicas:
        await r.service.stop(1)
        await r.servicer.close()
    for ch in channels:
        await ch.close()
    for memory in memories:
        await memory.stop(1)


def capacity(i: int) -> float:
    return float(1 + i % 3)


def batch(b: int) -> list[wpb.TaskSpec]:
    """Ten tasks; every third depends on the one before it (ready only once that one is done)."""
    return [
        wpb.TaskSpec(
            task_id=f"b{b:02d}t{j}",
            task_type="code",
            skills={"py": 0.3},
            effort=1,
            payload_json=json.dumps({"b": b, "j": j}),
            depends_on=[f"b{b:02d}t{j - 1}"] if j % 3 == 2 else [],
            lease_s=600,
        )
        for j in range(PER_BATCH)
    ]


async def worker(
    agent: str, work: work_pb2_grpc.WorkQueueServiceStub, replicas: list[Replica], swarm: Swarm, k: int
) -> None:
    """Takes its work from ``work`` (one memory replica), reports through both assignment replicas."""
    for i in range(MAX_POLLS):
        if swarm.stop.is_set():
            return
        got = await work.NextTasks(wpb.NextTasksRequest(agent_id=agent, wait_s=0.5, limit=3), timeout=10)
        for w in got.tasks:
            task_id = w.task.spec.task_id
            swarm.received[task_id].append(agent)
            results = {d.task_id: json.loads(d.result_json) for d in w.dependencies}
            if set(results) != set(w.task.spec.depends_on) or not all(isinstance(r, str) for r in results.values()):
                swarm.bad.append(f"{task_id} given to {agent} with dependency results {results}")
            replica = replicas[(i + k) % 2]  # reports go through both replicas
            out = await replica.stub.Report(
                pb.ReportRequest(
                    task_id=task_id, agent_id=agent, success=True, quality=1, result_json=json.dumps(agent)
                ),
                timeout=10,
            )
            if out.work.task.state != "done" or out.work.repeated_report:
                swarm.bad.append(f"{task_id}: the report of {agent} answered {out.work.task.state}")
    swarm.bad.append(f"{agent} ran out of polls")


async def sampler(work: work_pb2_grpc.WorkQueueServiceStub, swarm: Swarm) -> None:
    """What memory says agents hold, again and again while the swarm runs: never over capacity."""
    for _ in range(5000):
        if swarm.stop.is_set():
            return
        held = await work.ListTasks(wpb.ListTasksRequest(states=["placed", "running"], limit=500), timeout=10)
        load: Counter[str] = Counter()
        for t in held.tasks:
            load[t.agent_id] += t.spec.effort
        over = {a: n for a, n in load.items() if n > capacity(int(a[1:])) + 1e-9}
        if over:
            swarm.bad.append(f"agents over capacity: {over}")
        swarm.samples += 1
        await asyncio.sleep(0.01)


async def test_two_replicas_place_every_ready_task_exactly_once(
    cluster: tuple[list[RunningService], list[Replica]],
) -> None:
    memories, replicas = cluster
    started = time.monotonic()
    channels = [aio.insecure_channel(m.address, options=CHANNEL_OPTIONS) for m in memories]
    works = [work_pb2_grpc.WorkQueueServiceStub(ch) for ch in channels]
    work = works[0]
    swarm = Swarm()
    try:
        for i in range(AGENTS):
            await replicas[i % 2].stub.RegisterAgent(
                pb.RegisterAgentRequest(agent_id=f"a{i}", skills={"py": 0.5 + 0.01 * i}, capacity=capacity(i))
            )
        workers = [
            asyncio.create_task(worker(f"a{i}", works[i % len(works)], replicas, swarm, i)) for i in range(AGENTS)
        ]
        watcher = asyncio.create_task(sampler(work, swarm))
        answers = await asyncio.gather(
            *(
                replicas[b % 2].stub.SubmitTasks(pb.SubmitTasksRequest(tasks=batch(b)), timeout=10)
                for b in range(BATCHES)
            )
        )
        assert all(all(a.created) for a in answers)

        async def all_done() -> bool:
            for task in (*workers, watcher):
                if task.done():
                    task.result()  # a crashed worker fails the test with its exception
            listed = await work.ListTasks(wpb.ListTasksRequest(limit=1), timeout=10)
            return listed.counts["done"] == TASKS

        await until(all_done, RUN_TIMEOUT_S, f"all {TASKS} tasks done", step=0.05)
        swarm.stop.set()
        await asyncio.wait_for(asyncio.gather(*workers, watcher), 15)

        assert not swarm.bad, "\n".join(swarm.bad[:10])
        tasks: dict[str, wpb.TaskInfo] = {}
        for start in range(0, TASKS, 100):
            ids = [f"b{b:02d}t{j}" for b in range(BATCHES) for j in range(PER_BATCH)][start : start + 100]
            page = await work.ListTasks(wpb.ListTasksRequest(task_ids=ids, limit=500, full=True), timeout=10)
            tasks.update((t.spec.task_id, t) for t in page.tasks)
    finally:
        swarm.stop.set()
        for ch in channels:
            await ch.close()

    assert len(tasks) == TASKS
    # every task placed once: one attempt, on the one agent that was given it, which did it
    twice = {
        i: [(a.attempt, a.agent_id, a.outcome) for a in t.attempts] for i, t in tasks.items() if len(t.attempts) != 1
    }
    assert not twice, f"tasks placed more than once: {dict(list(twice.items())[:5])}"
    assert all(t.attempts[0].outcome == "succeeded" and t.state == "done" for t in tasks.values())
    assert {i: [t.attempts[0].agent_id] for i, t in tasks.items()} == dict(swarm.received)
    assert all(json.loads(t.result_json) == t.attempts[0].agent_id for t in tasks.values())
    early = [i for i, t in tasks.items() for d in t.spec.depends_on if t.attempts[0].placed_at < tasks[d].ended_at]
    assert not early, f"placed before their dependency was done: {early[:5]}"
    # each placement committed by exactly one replica, and both replicas placed
    a, b = (set(r.placer.committed) for r in replicas)
    assert len(replicas[0].placer.committed) + len(replicas[1].placer.committed) == TASKS
    assert not a & b and a | b == {(i, t.attempts[0].agent_id) for i, t in tasks.items()}
    assert a and b, f"one replica placed everything ({len(a)} vs {len(b)}): they did not run side by side"
    assert swarm.samples > 0
    print(
        f"\ntwo replicas ({len(memories)} memory): {TASKS} tasks on {AGENTS} agents in "
        f"{time.monotonic() - started:.1f} s; placed "
        f"{len(a)} + {len(b)} in {replicas[0].placer.rounds} + {replicas[1].placer.rounds} rounds, "
        f"{replicas[0].placer.refused} + {replicas[1].placer.refused} placements refused by memory (the other "
        f"replica was first); capacity sampled {swarm.samples} times"
    )
