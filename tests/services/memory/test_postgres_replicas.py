"""Several memory replicas on one PostgreSQL database, over real gRPC: what one replica acknowledges, every replica
sees; compare-and-set holds across them; they migrate once and purge once; a database restart is a clear error while
it lasts and is survived without a restart of the replicas; a lease is never granted twice, a task never placed or
handed out twice, and waiters on one replica are woken by commits on another."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import grpc
import pytest
from grpc import aio

from bench.harness import postgres
from common.channels import CHANNEL_OPTIONS
from common.config import Config
from common.server import RunningService, start_service
from services.memory.entries import PutItem
from services.memory.globs import overlap
from services.memory.postgres.schema import SCHEMA_VERSION
from services.memory.postgres.storage import PgStorage
from services.memory.service import build as build_memory
from swarm.memory.v1 import (
    leases_pb2,
    leases_pb2_grpc,
    memory_pb2_grpc,
    state_pb2,
    state_pb2_grpc,
    work_pb2,
    work_pb2_grpc,
)
from swarm.memory.v1 import memory_pb2 as pb
from tests.conftest import FakeClock


async def start_replicas(url: str, n: int, tmp_path) -> list[RunningService]:  # type: ignore[no-untyped-def]
    config = Config.from_env({"SWARM_DATA_DIR": str(tmp_path), "SWARM_DATABASE_URL": url})
    return [await start_service(build_memory(config), "127.0.0.1:0") for _ in range(n)]


@pytest.fixture(params=[2, 3], ids=["2-replicas", "3-replicas"])
async def stubs(request: pytest.FixtureRequest, pg_url: str, tmp_path) -> AsyncIterator[list]:  # type: ignore[no-untyped-def]
    replicas = await start_replicas(pg_url, request.param, tmp_path)
    channels = [aio.insecure_channel(r.address, options=CHANNEL_OPTIONS) for r in replicas]
    yield [memory_pb2_grpc.MemoryServiceStub(c) for c in channels]
    for c in channels:
        await c.close()
    for r in replicas:
        await r.stop(grace=1)


async def test_concurrent_cas_increments_from_every_replica_end_at_the_acknowledged_count(stubs: list) -> None:
    await stubs[0].Put(pb.PutRequest(namespace="ns", key="counter", value_json="0"))
    acknowledged = 0
    conflicts = 0

    async def worker(stub: memory_pb2_grpc.MemoryServiceStub, rounds: int) -> None:
        nonlocal acknowledged, conflicts
        for _ in range(rounds):
            while True:
                got = (await stub.Get(pb.GetRequest(namespace="ns", key="counter"))).entry
                put = pb.PutRequest(
                    namespace="ns", key="counter", value_json=str(int(got.value_json) + 1), if_version=got.version
                )
                try:
                    await stub.Put(put)
                except aio.AioRpcError as exc:
                    assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION, exc.details()
                    conflicts += 1
                    continue
                acknowledged += 1
                break

    await asyncio.gather(*(worker(stubs[i % len(stubs)], 10) for i in range(12)))
    for stub in stubs:  # every replica reads what any of them acknowledged
        final = (await stub.Get(pb.GetRequest(namespace="ns", key="counter"))).entry
        assert int(final.value_json) == acknowledged == 120 and final.version == 121
    assert conflicts > 0  # they did contend


async def test_a_request_id_is_applied_once_across_replicas(stubs: list) -> None:
    put = pb.PutRequest(namespace="ns", key="k", value_json='"first"', request_id="once-1")
    answers = await asyncio.gather(*(s.Put(put) for s in stubs for _ in range(3)))
    assert {(a.entry.version, a.created) for a in answers} == {(1, True)}
    again = pb.PutRequest(namespace="ns", key="k", value_json='"second"', request_id="once-1")
    assert (await stubs[-1].Put(again)).entry.version == 1
    got = (await stubs[0].Get(pb.GetRequest(namespace="ns", key="k"))).entry
    assert json.loads(got.value_json) == "first" and got.version == 1


async def test_replicas_starting_at_once_migrate_once(pg_url: str) -> None:
    storages = [PgStorage(pg_url) for _ in range(4)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda s: s.open(), storages))
    conn = await asyncpg.connect(pg_url)
    try:
        assert [r[0] for r in await conn.fetch("SELECT version FROM swarm_schema ORDER BY 1")] == list(
            range(1, SCHEMA_VERSION + 1)
        )
    finally:
        await conn.close()
    for s in storages:
        await s.close()


async def test_expired_entries_are_purged_once_across_replicas(pg_url: str) -> None:
    clock = FakeClock()
    storages = [PgStorage(pg_url, clock=clock) for _ in range(3)]
    for s in storages:
        s.open()
    await storages[0].entries.batch_put([PutItem("ns", f"k{i}", "1", ttl_seconds=5) for i in range(50)])
    clock.advance(6)
    purged = await asyncio.gather(*(s.entries.purge_expired() for s in storages))
    assert sum(purged) == 50 and sorted(purged)[-1] == 50  # one replica did it all, the others found it taken or done
    for s in storages:
        await s.close()


async def test_a_database_crash_is_a_clear_error_then_service_resumes_with_every_acknowledged_write(tmp_path) -> None:  # type: ignore[no-untyped-def]
    try:
        own = postgres.cluster(postgres.DURABLE_SETTINGS)  # a crash of it loses no acknowledged commit
        cluster = own.__enter__()
    except postgres.PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL: {exc}")
    try:
        (replica,) = await start_replicas(cluster.database(), 1, tmp_path)
        channel = aio.insecure_channel(replica.address, options=CHANNEL_OPTIONS)
        stub = memory_pb2_grpc.MemoryServiceStub(channel)
        await stub.Put(pb.PutRequest(namespace="ns", key="before", value_json="1"))
        cluster.stop()  # -m immediate: a crash of the database, not a clean shutdown
        with pytest.raises(aio.AioRpcError) as info:
            await stub.Put(pb.PutRequest(namespace="ns", key="during", value_json="1"), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "memory database" in info.value.details() and "nothing was written" in info.value.details()
        cluster.restart()
        # the pool drops each connection that died with the server (one UNAVAILABLE each, which the gateway
        # retries), then connects anew: no restart of the replica
        for _ in range(10):
            try:
                await stub.Put(pb.PutRequest(namespace="ns", key="after", value_json="1"), timeout=10)
                break
            except aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc.details()
        else:
            pytest.fail("the replica did not resume after the database came back")
        got = await stub.Get(pb.GetRequest(namespace="ns", key="before"))
        assert got.entry.version == 1
        await channel.close()
        await replica.stop(grace=1)
    finally:
        own.__exit__(None, None, None)


# ---------------------------------------------------------------------- the work queue and the leases across replicas


@dataclass
class Side:
    """One replica's stubs."""

    state: state_pb2_grpc.SwarmStateServiceStub
    work: work_pb2_grpc.WorkQueueServiceStub
    leases: leases_pb2_grpc.LeaseServiceStub


@pytest.fixture(params=[2, 3], ids=["2-replicas", "3-replicas"])
async def sides(request: pytest.FixtureRequest, pg_url: str, tmp_path) -> AsyncIterator[list[Side]]:  # type: ignore[no-untyped-def]
    replicas = await start_replicas(pg_url, request.param, tmp_path)
    channels = [aio.insecure_channel(r.address, options=CHANNEL_OPTIONS) for r in replicas]
    yield [
        Side(
            state_pb2_grpc.SwarmStateServiceStub(c),
            work_pb2_grpc.WorkQueueServiceStub(c),
            leases_pb2_grpc.LeaseServiceStub(c),
        )
        for c in channels
    ]
    for c in channels:
        await c.close()
    for r in replicas:
        await r.stop(grace=1)


RESOURCES = ["src/**", "src/api/*.py", "src/api/x.py", "src/db/y.py", "docs/*", "docs/a.md", "**/*.md", "build"]


async def test_a_lease_is_never_granted_twice_across_replicas(sides: list[Side], pg_url: str) -> None:
    agents = [f"a{i}" for i in range(9)]
    for i, agent in enumerate(agents):
        await sides[i % len(sides)].state.PutAgent(state_pb2.PutAgentRequest(agent_id=agent, capacity=1))
    held: dict[str, list[str]] = {}  # the referee: what each agent holds, as acknowledged to it
    overlaps_seen: list[str] = []
    granted_tokens: list[int] = []

    async def worker(i: int, agent: str) -> None:
        rng = random.Random(i)
        for _ in range(12):
            side = sides[rng.randrange(len(sides))]  # any replica, each call
            want = rng.sample(RESOURCES, rng.randint(1, 2))
            got = await side.leases.AcquireLeases(
                leases_pb2.AcquireLeasesRequest(agent_id=agent, resources=want, ttl_s=60, wait_s=rng.choice([0, 0, 2]))
            )
            if not got.granted:
                continue
            for other, resources in held.items():
                if any(overlap(a, b) for a in want for b in resources):
                    overlaps_seen.append(f"{agent} {want} granted while {other} held {resources}")
            held[agent] = want
            granted_tokens.extend(x.token for x in got.leases)
            await asyncio.sleep(rng.uniform(0, 0.01))
            del held[agent]
            side = sides[rng.randrange(len(sides))]
            await side.leases.ReleaseLeases(
                leases_pb2.ReleaseLeasesRequest(agent_id=agent, lease_ids=[x.lease_id for x in got.leases])
            )

    await asyncio.gather(*(worker(i, a) for i, a in enumerate(agents)))
    assert not overlaps_seen
    assert len(granted_tokens) >= 20 and len(set(granted_tokens)) == len(granted_tokens)  # contended, still granted
    # the database's own history: no two exclusive leases of different agents on overlapping resources were live at
    # once, and tokens grow in the order of the grants
    conn = await asyncpg.connect(pg_url)
    try:
        rows = await conn.fetch("SELECT token, resource, agent_id, granted_at, ended_at FROM leases ORDER BY token")
    finally:
        await conn.close()
    assert [r["token"] for r in rows] == sorted(granted_tokens)
    assert all(r["ended_at"] is not None for r in rows)
    by_grant = sorted(rows, key=lambda r: (r["granted_at"], r["token"]))
    assert [r["token"] for r in by_grant] == [r["token"] for r in rows]  # strictly increasing with time
    for x, y in itertools.combinations(rows, 2):
        if x["agent_id"] != y["agent_id"] and overlap(x["resource"], y["resource"]):
            assert x["ended_at"] <= y["granted_at"] or y["ended_at"] <= x["granted_at"], (dict(x), dict(y))


async def test_a_task_is_never_placed_or_handed_out_twice_across_replicas(sides: list[Side]) -> None:
    agents = [f"w{i}" for i in range(6)]
    for i, agent in enumerate(agents):
        await sides[i % len(sides)].state.PutAgent(state_pb2.PutAgentRequest(agent_id=agent, capacity=2))
    n = 60
    await sides[0].work.SubmitTasks(
        work_pb2.SubmitTasksRequest(tasks=[work_pb2.TaskSpec(task_id=f"t{i:02d}", lease_s=60) for i in range(n)])
    )
    handed: list[tuple[str, int, str]] = []
    running: dict[str, str] = {}
    doubles: list[str] = []
    done = asyncio.Event()

    async def placer(side: Side, seed: int) -> None:
        rng = random.Random(seed)
        while not done.is_set():
            view = await side.work.ReadPlacementView(work_pb2.ReadPlacementViewRequest())
            queued = [t.spec.task_id for t in view.queued]
            if queued:  # every placer aims at the same tasks, each on an agent of its own choice
                plan = [work_pb2.Placement(task_id=t, agent_id=rng.choice(agents), cost=1) for t in queued[:8]]
                await side.work.PlaceTasks(work_pb2.PlaceTasksRequest(placements=plan))
            else:
                await asyncio.sleep(0.01)

    async def agent(i: int, name: str) -> None:
        side = sides[i % len(sides)]  # each agent on its own replica
        while not done.is_set():
            got = await side.work.NextTasks(work_pb2.NextTasksRequest(agent_id=name, wait_s=0.5, limit=2))
            for w in got.tasks:
                handed.append((w.task.spec.task_id, w.task.attempt, name))
                if w.task.spec.task_id in running:
                    doubles.append(f"{w.task.spec.task_id} to {name} while {running[w.task.spec.task_id]} ran it")
                running[w.task.spec.task_id] = name
            for w in got.tasks:
                await asyncio.sleep(0.002)
                del running[w.task.spec.task_id]
                await sides[(i + 1) % len(sides)].work.ReportTask(  # reported through another replica
                    work_pb2.ReportTaskRequest(
                        task_id=w.task.spec.task_id, agent_id=name, kind="success", result_json="1"
                    )
                )

    async def until_all_done() -> None:
        while True:
            page = await sides[-1].work.ListTasks(work_pb2.ListTasksRequest(limit=1))
            if page.counts["done"] == n:
                done.set()
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(
        asyncio.gather(
            *(placer(s, k) for k, s in enumerate(sides) for _ in range(2)),
            *(agent(i, a) for i, a in enumerate(agents)),
            until_all_done(),
        ),
        120,
    )
    assert not doubles
    assert sorted(t for t, _, _ in handed) == [f"t{i:02d}" for i in range(n)]  # each handed out exactly once
    assert {attempt for _, attempt, _ in handed} == {1}  # each placed once: no second attempt anywhere
    page = await sides[0].work.ListTasks(work_pb2.ListTasksRequest(limit=500))
    assert page.counts["done"] == n and all(len(t.attempts) == 1 for t in page.tasks)
    agents_now = (await sides[1].state.ListAgents(state_pb2.ListAgentsRequest())).agents
    assert all(a.load == 0 for a in agents_now)  # every placement's effort left its agent once


async def test_an_agents_reports_sent_to_every_replica_at_once_are_applied_once_each(sides: list[Side]) -> None:
    """Reports of progress and success run under the reporter's own lock, not the whole state's (several agents'
    at once): one agent's reports of many tasks, each sent to every replica at the same moment, still end each
    attempt once (one answer applied, the others the first answer again) and its trail counts every success once."""
    n = 24
    await sides[0].state.PutAgent(state_pb2.PutAgentRequest(agent_id="w", capacity=n))
    await sides[0].state.PutAgent(state_pb2.PutAgentRequest(agent_id="v", capacity=n))
    tasks = [work_pb2.TaskSpec(task_id=f"t{i:02d}", task_type="build", lease_s=60) for i in range(2 * n)]
    await sides[0].work.SubmitTasks(work_pb2.SubmitTasksRequest(tasks=tasks))
    plan = [work_pb2.Placement(task_id=t.task_id, agent_id="wv"[i % 2], cost=1) for i, t in enumerate(tasks)]
    await sides[0].work.PlaceTasks(work_pb2.PlaceTasksRequest(placements=plan))
    for agent in "wv":
        got = await sides[-1].work.NextTasks(work_pb2.NextTasksRequest(agent_id=agent, limit=n))
        assert len(got.tasks) == n

    def report(task_id: str, agent: str, kind: str) -> work_pb2.ReportTaskRequest:
        return work_pb2.ReportTaskRequest(task_id=task_id, agent_id=agent, kind=kind, result_json="1", progress="p")

    for kind in ("progress", "success"):
        answers = await asyncio.gather(
            *(side.work.ReportTask(report(p.task_id, p.agent_id, kind)) for p in plan for side in sides)
        )
    applied = [(a.task.spec.task_id, a.task.state) for a in answers if not a.repeated_report and a.task_was_open]
    assert sorted(t for t, _ in applied) == sorted(t.task_id for t in tasks)  # each success applied once
    assert all(state == "done" for _, state in applied)
    trails = (await sides[0].state.ReadTrails(state_pb2.ReadTrailsRequest(task_types=["build"]))).trails
    assert sorted((t.agent_id, t.successes, t.failures) for t in trails) == [("v", n, 0), ("w", n, 0)]
    page = await sides[1].work.ListTasks(work_pb2.ListTasksRequest(limit=500))
    assert page.counts["done"] == 2 * n and all(len(t.attempts) == 1 for t in page.tasks)
    agents_now = (await sides[1].state.ListAgents(state_pb2.ListAgentsRequest())).agents
    assert all(a.load == 0 for a in agents_now)


async def test_an_outcome_of_a_task_is_recorded_once_when_agents_report_it_on_every_replica_at_once(
    sides: list[Side],
) -> None:
    """Outcomes of task_assign tasks run under the reporter's lock and the task's own: two agents reporting the same
    tasks (never assigned here, so the first report decides whose it is) through every replica at once: each task
    is recorded once, for one agent; the other's reports are refused."""
    for agent in ("a", "b"):
        await sides[0].state.PutAgent(state_pb2.PutAgentRequest(agent_id=agent, capacity=1))
    n = 20

    async def report(task_id: str, agent: str, side: Side) -> str:
        try:
            await side.state.ReportOutcome(
                state_pb2.ReportOutcomeRequest(task_id=task_id, agent_id=agent, success=True, task_type="x")
            )
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION, exc.details()
            return ""
        return agent

    answers = await asyncio.gather(
        *(report(f"t{i}", agent, side) for i in range(n) for agent in ("a", "b") for side in sides)
    )
    per_task = [[who for who in answers[k : k + 2 * len(sides)] if who] for k in range(0, len(answers), 2 * len(sides))]
    assert all(len(recorded) == 1 for recorded in per_task), per_task  # once, for one agent, every time
    trails = (await sides[-1].state.ReadTrails(state_pb2.ReadTrailsRequest(task_types=["x"]))).trails
    assert sum(t.successes for t in trails) == n


async def test_assignments_recorded_on_every_replica_at_once_never_overfill_an_agent_or_double_a_task(
    sides: list[Side],
) -> None:
    """task_assign's record runs under the locks of its agents and its tasks, not the whole state's: batches for the
    same agents (in either order) and partly the same tasks, sent through every replica at once, never put more on
    an agent than its capacity, never record a task open for two agents, and lose nothing they acknowledged (rounds
    of fresh agents and tasks: a weaker lock fails a round now and then, so several)."""
    capacity = 4
    rng = random.Random(18)

    async def record(batch: list[tuple[str, str]], side: Side) -> list[tuple[str, str]]:
        request = state_pb2.RecordAssignmentsRequest(
            assignments=[state_pb2.TaskAssignment(task_id=t, agent_id=a, task_type="x", effort=1) for t, a in batch]
        )
        try:
            await side.state.RecordAssignments(request)
        except grpc.aio.AioRpcError as exc:
            # no room (ABORTED: the assigner plans again) or the task is open with another agent
            assert exc.code() in (grpc.StatusCode.ABORTED, grpc.StatusCode.FAILED_PRECONDITION), exc.details()
            return []
        return batch

    for r in range(6):
        agents = [f"r{r}-{name}" for name in "abc"]
        for agent in agents:
            await sides[0].state.PutAgent(state_pb2.PutAgentRequest(agent_id=agent, capacity=capacity))
        batches = [
            list(zip((f"r{r}-t{i:02d}" for i in rng.sample(range(30), 2)), rng.sample(agents, 2), strict=True))
            for _ in range(90)
        ]
        answers = await asyncio.gather(*(record(b, sides[k % len(sides)]) for k, b in enumerate(batches)))
        holders: dict[str, set[str]] = {}
        for task_id, agent in itertools.chain.from_iterable(answers):
            holders.setdefault(task_id, set()).add(agent)
        assert all(len(who) == 1 for who in holders.values()), holders  # one agent per task, ever
        load = {a: sum(1 for who in holders.values() if a in who) for a in agents}
        assert all(n <= capacity for n in load.values()), load
        assert sum(load.values()) > capacity  # the batches did contend (most were accepted, for every agent)
        listed = (await sides[-1].state.ListAgents(state_pb2.ListAgentsRequest(agent_ids=agents))).agents
        assert {a.agent_id: a.load for a in listed} == load  # what was acknowledged is what is recorded


async def test_waiters_on_one_replica_are_woken_by_commits_on_another(sides: list[Side]) -> None:
    a, b = sides[0], sides[-1]
    for agent in ("x", "y"):
        await a.state.PutAgent(state_pb2.PutAgentRequest(agent_id=agent, capacity=1))
    # a task_next long poll on B, the placement committed on A
    await a.work.SubmitTasks(work_pb2.SubmitTasksRequest(tasks=[work_pb2.TaskSpec(task_id="t1")]))
    poll = asyncio.ensure_future(b.work.NextTasks(work_pb2.NextTasksRequest(agent_id="x", wait_s=20)))
    await asyncio.sleep(0.3)
    assert not poll.done()
    await a.work.PlaceTasks(work_pb2.PlaceTasksRequest(placements=[work_pb2.Placement(task_id="t1", agent_id="x")]))
    got = await asyncio.wait_for(poll, 10)
    assert [w.task.spec.task_id for w in got.tasks] == ["t1"] and got.waited_s < 5
    # the placement watch on B (what the assignment service follows), a submit committed on A
    events = b.work.WatchPlacement(work_pb2.WatchPlacementRequest())
    first = await events.read()
    await a.work.SubmitTasks(work_pb2.SubmitTasksRequest(tasks=[work_pb2.TaskSpec(task_id="t2")]))
    later = await asyncio.wait_for(events.read(), 5)
    assert later.revision > first.revision
    events.cancel()
    # a lease waiter on B, the release committed on A
    held = await a.leases.AcquireLeases(leases_pb2.AcquireLeasesRequest(agent_id="x", resources=["src/**"], ttl_s=60))
    waiting = asyncio.ensure_future(
        b.leases.AcquireLeases(
            leases_pb2.AcquireLeasesRequest(agent_id="y", resources=["src/a.py"], ttl_s=60, wait_s=20)
        )
    )
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await a.leases.ReleaseLeases(leases_pb2.ReleaseLeasesRequest(agent_id="x", lease_ids=[held.leases[0].lease_id]))
    won = await asyncio.wait_for(waiting, 10)
    assert won.granted and won.waited_s < 5 and won.leases[0].token > held.leases[0].token
