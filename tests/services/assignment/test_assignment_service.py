"""The assignment service over real gRPC, against a real memory service (SQLite in a temp dir, or PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.channels import CHANNEL_OPTIONS
from common.config import Config
from common.server import start_service
from services.assignment.service import build as build_assignment
from services.memory.service import build as build_memory
from swarm.assignment.v1 import assignment_pb2 as pb
from swarm.assignment.v1 import assignment_pb2_grpc
from tests.conftest import FakeClock, engine_env

pytestmark = pytest.mark.engines

HALF_LIFE = 600.0
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def stub(
    tmp_path: Path, clock: FakeClock, database_url: str | None
) -> AsyncIterator[assignment_pb2_grpc.AssignmentServiceStub]:
    env = {"SWARM_DATA_DIR": str(tmp_path), "SWARM_PHEROMONE_HALF_LIFE_S": str(HALF_LIFE), **engine_env(database_url)}
    config = Config.from_env(env)
    memory = await start_service(build_memory(config, data_dir=tmp_path, clock=clock), "127.0.0.1:0")
    assignment = await start_service(build_assignment(config, memory_addr=memory.address), "127.0.0.1:0")
    channel = aio.insecure_channel(assignment.address, options=CHANNEL_OPTIONS)
    stub = assignment_pb2_grpc.AssignmentServiceStub(channel)
    stub.address = assignment.address  # type: ignore[attr-defined]
    stub.database_url = database_url  # type: ignore[attr-defined]
    yield stub
    await channel.close()
    await assignment.stop(1)
    await memory.stop(1)


def task(tid: str, ttype: str = "code", effort: float = 1, priority: float = 0, **skills: float) -> pb.Task:
    return pb.Task(
        task_id=tid,
        task_type=ttype,
        effort=effort,
        priority=priority,
        required_skills=[pb.SkillRequirement(skill=s, min_level=v) for s, v in skills.items()],
    )


async def register(stub, agent_id: str, capacity: float = 1, **skills: float) -> None:
    await stub.RegisterAgent(pb.RegisterAgentRequest(agent_id=agent_id, skills=skills, capacity=capacity))


async def test_assigns_within_skills_and_capacity_and_records_load(stub) -> None:
    await register(stub, "senior", capacity=2, python=0.9, sql=0.8)
    await register(stub, "junior", capacity=3, python=0.4)
    tasks = [task("t1", python=0.8), task("t2", python=0.3), task("t3", sql=0.5), task("t4", python=0.3, effort=2)]
    resp = await stub.Assign(pb.AssignRequest(tasks=tasks, seed=7))
    got = {a.task_id: a.agent_id for a in resp.assignments}
    assert got["t1"] == "senior" and got["t3"] == "senior"  # only senior qualifies
    assert got["t2"] == "junior" and got["t4"] == "junior"
    assert resp.recorded and resp.gap >= 0 and resp.lower_bound <= resp.objective + 1e-6
    agents = {a.agent_id: a for a in (await stub.ListAgents(pb.ListAgentsRequest())).agents}
    assert agents["senior"].load == 2 and agents["junior"].load == 3
    assert agents["senior"].status == "busy"
    # everybody is full now: a new task is left unassigned, with the reason
    resp = await stub.Assign(pb.AssignRequest(tasks=[task("t5", python=0.1)]))
    assert not resp.assignments
    assert resp.unassigned[0].reason.startswith("capacity exhausted")
    # a report frees the capacity
    await stub.Report(pb.ReportRequest(task_id="t2", agent_id="junior", success=True, quality=1))
    resp = await stub.Assign(pb.AssignRequest(tasks=[task("t5", python=0.1)]))
    assert [(a.task_id, a.agent_id) for a in resp.assignments] == [("t5", "junior")]


async def test_unassigned_reasons_name_what_is_missing(stub) -> None:
    resp = await stub.Assign(pb.AssignRequest(tasks=[task("t1")]))
    assert resp.unassigned[0].reason == "no agent is registered and online"
    await register(stub, "a", python=0.5)
    await register(stub, "b", sql=0.9)
    resp = await stub.Assign(
        pb.AssignRequest(tasks=[task("rust", rust=0.1), task("deep", python=0.9), task("both", python=0.1, sql=0.1)])
    )
    reasons = {u.task_id: u.reason for u in resp.unassigned}
    assert reasons["rust"] == "no agent has skill 'rust' at level 0.1 or above"
    assert reasons["deep"] == "no agent has skill 'python' at level 0.9 or above"
    assert reasons["both"].startswith("no single agent has all the required skills")
    assert not resp.assignments and not resp.recorded


async def test_priority_decides_what_is_kept_when_capacity_is_short(stub) -> None:
    await register(stub, "only", capacity=1)
    resp = await stub.Assign(
        pb.AssignRequest(tasks=[task("low", priority=0), task("high", priority=5), task("mid", priority=1)])
    )
    assert [a.task_id for a in resp.assignments] == ["high"]


async def test_learning_moves_work_to_the_agent_that_succeeds_and_fades_back(stub, clock: FakeClock) -> None:
    await register(stub, "alice", capacity=10, review=0.7)
    await register(stub, "bob", capacity=10, review=0.7)
    for i in range(3):
        await stub.Report(
            pb.ReportRequest(task_id=f"a{i}", agent_id="alice", success=True, quality=0.9, task_type="review")
        )
        await stub.Report(pb.ReportRequest(task_id=f"b{i}", agent_id="bob", success=False, task_type="review"))
    resp = await stub.Assign(pb.AssignRequest(tasks=[task(f"r{i}", "review") for i in range(4)], dry_run=True))
    assert {a.agent_id for a in resp.assignments} == {"alice"}
    # other task types are not affected
    resp = await stub.Assign(pb.AssignRequest(tasks=[task("x", "deploy")], dry_run=True))
    assert resp.assignments[0].cost == pytest.approx(100.0)
    trails = {
        t.agent_id: t for t in (await stub.ReadPheromones(pb.ReadPheromonesRequest(task_types=["review"]))).trails
    }
    strong, weak = trails["alice"].strength, trails["bob"].strength
    assert strong > 1 > weak
    clock.advance(HALF_LIFE)
    trails = {
        t.agent_id: t for t in (await stub.ReadPheromones(pb.ReadPheromonesRequest(task_types=["review"]))).trails
    }
    assert trails["alice"].strength == pytest.approx(1 + (strong - 1) / 2)
    assert trails["bob"].strength == pytest.approx(1 + (weak - 1) / 2)
    clock.advance(HALF_LIFE * 30)
    resp = await stub.Assign(pb.AssignRequest(tasks=[task(f"r{i}", "review") for i in range(4)], dry_run=True))
    assert [a.cost for a in resp.assignments] == pytest.approx([100.0] * 4)  # both neutral again: equal costs


async def test_same_seed_same_answer_and_identical_requests_hit_the_cache(stub) -> None:
    for i in range(6):
        await register(stub, f"ag{i}", capacity=2, python=0.3 + 0.1 * i)
    tasks = [task(f"t{j}", effort=1 + j % 2, python=0.2) for j in range(9)]
    first = await stub.Assign(pb.AssignRequest(tasks=tasks, strategy="aco", seed=3, dry_run=True))
    again = await stub.Assign(pb.AssignRequest(tasks=tasks, strategy="aco", seed=3, dry_run=True))
    assert not first.cache_hit and again.cache_hit
    assert [(a.task_id, a.agent_id) for a in again.assignments] == [(a.task_id, a.agent_id) for a in first.assignments]
    await stub.Report(pb.ReportRequest(task_id="z", agent_id="ag0", success=True, quality=1, task_type="code"))
    after = await stub.Assign(pb.AssignRequest(tasks=tasks, strategy="aco", seed=3, dry_run=True))
    assert not after.cache_hit  # a trail changed: the state is not the same


@pytest.mark.parametrize(
    ("call", "code", "text"),
    [
        (lambda s: s.Assign(pb.AssignRequest(tasks=[])), grpc.StatusCode.INVALID_ARGUMENT, "no tasks"),
        (lambda s: s.Assign(pb.AssignRequest(tasks=[task("a"), task("a")])), grpc.StatusCode.INVALID_ARGUMENT, "twice"),
        (
            lambda s: s.Assign(pb.AssignRequest(tasks=[task("a", effort=-1)])),
            grpc.StatusCode.INVALID_ARGUMENT,
            "effort=-1",
        ),
        (
            lambda s: s.Assign(pb.AssignRequest(tasks=[task("a", py=1.5)])),
            grpc.StatusCode.INVALID_ARGUMENT,
            "min_level",
        ),
        (
            lambda s: s.Assign(pb.AssignRequest(tasks=[task("a")], strategy="magic")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "strategy",
        ),
        (
            lambda s: s.RegisterAgent(pb.RegisterAgentRequest(agent_id="x", capacity=-1)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "capacity=-1",
        ),
        (
            lambda s: s.Report(pb.ReportRequest(task_id="t", agent_id="ghost", success=True, task_type="code")),
            grpc.StatusCode.NOT_FOUND,
            "no agent 'ghost'",
        ),
        (
            lambda s: s.Solve(
                pb.SolveRequest(agents=1, tasks=2, cost=[1, float("nan")], resource=[1, 1], capacity=[2])
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "NaN",
        ),
        (
            lambda s: s.Solve(pb.SolveRequest(agents=2, tasks=2, cost=[1], resource=[1], capacity=[1])),
            grpc.StatusCode.INVALID_ARGUMENT,
            "expected 4",
        ),
    ],
)
async def test_bad_input_is_refused_and_stores_nothing(stub, tmp_path: Path, call, code, text) -> None:
    with pytest.raises(aio.AioRpcError) as info:
        await call(stub)
    assert info.value.code() == code
    assert text in info.value.details()
    assert await row_counts(tmp_path, stub.database_url) == [0, 0, 0]


async def row_counts(tmp_path: Path, database_url: str | None) -> list[int]:
    """The rows of agents, tasks and trails in the memory database, whatever the engine."""
    queries = [f"SELECT count(*) FROM {table}" for table in ("agents", "tasks", "trails")]
    if database_url:
        pg = await asyncpg.connect(database_url)
        try:
            return [await pg.fetchval(q) for q in queries]
        finally:
            await pg.close()
    conn = sqlite3.connect(tmp_path / "memory.db")
    try:
        return [conn.execute(q).fetchone()[0] for q in queries]
    finally:
        conn.close()


async def test_open_task_cannot_be_assigned_twice(stub) -> None:
    await register(stub, "a", capacity=5)
    await stub.Assign(pb.AssignRequest(tasks=[task("t1")]))
    with pytest.raises(aio.AioRpcError) as info:
        await stub.Assign(pb.AssignRequest(tasks=[task("t1")]))
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "still open" in info.value.details()


async def test_concurrent_assigns_never_exceed_capacity(stub) -> None:
    for i in range(4):
        await register(stub, f"a{i}", capacity=3)
    batches = [[task(f"b{b}t{j}") for j in range(4)] for b in range(6)]  # 24 tasks for 12 slots
    results = await asyncio.gather(*(stub.Assign(pb.AssignRequest(tasks=t)) for t in batches))
    assigned = [a for r in results for a in r.assignments]
    assert len(assigned) == 12
    agents = (await stub.ListAgents(pb.ListAgentsRequest())).agents
    assert all(a.load == 3 for a in agents)


async def test_solve_reaches_the_published_optimum_and_health_answers_during_a_long_solve(stub, tmp_path) -> None:
    from services.assignment.orlib import load_orlib

    inst = load_orlib(ROOT / "data/gap/gap1.txt")[0]
    m, n = inst.cost.shape
    req = pb.SolveRequest(
        agents=m,
        tasks=n,
        cost=inst.cost.ravel().tolist(),
        resource=inst.resource.ravel().tolist(),
        capacity=inst.capacity.tolist(),
        maximize=True,
        strategy="exact",
        time_limit_ms=5000,
    )
    resp = await stub.Solve(req)
    assert resp.objective == 336 and resp.gap == pytest.approx(0, abs=1e-9)
    assert all(0 <= a < m for a in resp.assignment)


def test_cli_solve_prints_json_with_the_optimum() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "solve",
            str(ROOT / "data/gap/gap2.txt"),
            "--problem",
            "3",
            "--maximize",
            "--json",
            "--time-limit-ms",  # the default 1 s is about what proving this optimum takes on a calm machine
            "20000",  # a solve ends as soon as it is proven, so this only matters under load
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    answer = json.loads(out.stdout)
    assert answer["objective"] == 420 and answer["optimal"] and len(answer["assignment"]) == 20
    bad = subprocess.run(
        [sys.executable, "-m", "app.cli", "solve", str(ROOT / "data/gap/gap2.txt"), "--problem", "9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "the file has problems 1-5" in bad.stderr


async def test_health_check_answers_while_an_accurate_solve_runs(stub) -> None:
    for i in range(30):
        await register(stub, f"a{i}", capacity=8, python=0.2 + (i % 7) / 10)
    tasks = [task(f"t{j}", effort=1 + j % 3, python=0.1 + (j % 5) / 10) for j in range(150)]
    solve = asyncio.ensure_future(
        stub.Assign(pb.AssignRequest(tasks=tasks, strategy="aco", level="accurate", seed=1, dry_run=True))
    )
    async with aio.insecure_channel(stub.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        answered = 0
        while not solve.done() and answered < 20:
            resp = await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
            answered += 1
    assert answered >= 2  # several health checks came back while the solve was still running
    assert (await solve).assignments


async def test_a_retried_assign_answers_what_was_recorded_first(stub) -> None:
    """The gateway retries an Assign whose answer was lost with the same request id: memory applied the first
    record, so the answer is that record (not a fresh plan), and nothing is recorded twice."""
    await register(stub, "a", capacity=5)
    await register(stub, "b", capacity=5)
    first = await stub.Assign(pb.AssignRequest(tasks=[task("t1"), task("t2")], request_id="assign-1", seed=1))
    agents = {a.agent_id: a for a in (await stub.ListAgents(pb.ListAgentsRequest())).agents}
    loads = {k: v.load for k, v in agents.items()}
    again = await stub.Assign(pb.AssignRequest(tasks=[task("t1"), task("t2")], request_id="assign-1", seed=1))
    assert [(x.task_id, x.agent_id) for x in again.assignments] == [(x.task_id, x.agent_id) for x in first.assignments]
    agents = {a.agent_id: a for a in (await stub.ListAgents(pb.ListAgentsRequest())).agents}
    assert {k: v.load for k, v in agents.items()} == loads  # applied once


async def test_assign_works_against_a_memory_service_without_the_view(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, database_url: str | None
) -> None:
    """A rolling upgrade that reaches assignment before memory: ReadAssignmentView is UNIMPLEMENTED there,
    so assignment reads the agents and the trails apart, as before the view existed."""
    register_service = grpc.method_handlers_generic_handler

    def without_the_view(service: str, handlers: dict) -> grpc.GenericRpcHandler:  # type: ignore[type-arg]
        if service == "swarm.memory.v1.SwarmStateService":
            del handlers["ReadAssignmentView"]  # the same dict is registered next: an older memory service
        return register_service(service, handlers)

    monkeypatch.setattr(grpc, "method_handlers_generic_handler", without_the_view)
    config = Config.from_env({"SWARM_DATA_DIR": str(tmp_path), **engine_env(database_url)})
    memory = await start_service(build_memory(config, data_dir=tmp_path, clock=clock), "127.0.0.1:0")
    assignment = await start_service(build_assignment(config, memory_addr=memory.address), "127.0.0.1:0")
    channel = aio.insecure_channel(assignment.address, options=CHANNEL_OPTIONS)
    try:
        stub = assignment_pb2_grpc.AssignmentServiceStub(channel)
        await register(stub, "coder", 2, python=0.9)
        for n in range(2):  # the first finds the view missing, the second goes straight to the two reads
            resp = await stub.Assign(pb.AssignRequest(tasks=[task(f"t{n}", python=0.5)], seed=1))
            assert [(a.task_id, a.agent_id) for a in resp.assignments] == [(f"t{n}", "coder")] and resp.recorded
    finally:
        await channel.close()
        await assignment.stop(1)
        await memory.stop(1)
