"""Tasks that name the leases they need: placed only when those leases are free, granted to the chosen agent with
fencing tokens, ended with the attempt (success, failure, expiry, cancel, removal of the agent)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common.errors import InvalidArgument
from services.memory.lease_rules import LeaseRequest
from services.memory.sqlite.storage import SqliteStorage
from services.memory.state import AgentSpec
from services.memory.work_records import Report
from services.memory.work_rules import Spec
from tests.conftest import FakeClock
from tests.services.memory.conftest import open_storage

pytestmark = pytest.mark.engines


@pytest.fixture
async def storage(tmp_path: Path, clock: FakeClock, database_url: str | None) -> AsyncIterator[SqliteStorage]:
    s = open_storage(database_url, tmp_path / "d", clock=clock, max_value_bytes=4096, task_retention_s=3600)
    for agent_id in ("a1", "a2", "a3"):
        await s.state.put_agent(AgentSpec(agent_id, {"py": 0.9}, 2.0))
    yield s
    await s.close()


def ok(task_id: str, agent: str) -> Report:
    return Report(task_id, agent, "success", result_json=json.dumps("done"))


async def live(storage: SqliteStorage) -> dict[str, tuple[str, int, str]]:
    """resource -> (holder, token, task) of every live lease."""
    leases, _, _ = await storage.leases.list()
    return {x.resource: (x.agent_id, x.token, x.task_id) for x in leases}


async def view_ids(storage: SqliteStorage) -> tuple[list[str], dict[str, str]]:
    view = await storage.work.placement_view()
    return [t.spec.task_id for t in view.queued], dict(view.waiting)


async def test_a_task_is_placed_with_its_leases_and_an_overlapping_task_waits_until_it_ends(
    storage: SqliteStorage,
) -> None:
    work = storage.work
    await work.submit([Spec("edit-src", leases=(("src/**", True),)), Spec("edit-a", leases=(("src/api/a.py", True),))])
    placed = await work.place([("edit-src", "a1", 1.0)], [])
    assert placed.placed == [("edit-src", "a1", 1.0)]
    first = (await live(storage))["src/**"]
    assert first[0] == "a1" and first[2] == "edit-src"

    queued, waiting = await view_ids(storage)
    assert queued == [] and "src/api/a.py (overlaps src/**) held by task edit-src on agent a1" in waiting["edit-a"]
    refused = await work.place([("edit-a", "a2", 1.0)], [])  # a stale plan: refused, nothing granted
    assert refused.placed == [] and "waiting for leases" in refused.refused[0][1]
    assert set(await live(storage)) == {"src/**"}

    taken = await work.next("a1")
    held = taken.work[0].task.leases
    assert [(x.resource, x.token, x.exclusive) for x in held] == [("src/**", first[1], True)]
    await work.report(ok("edit-src", "a1"))
    assert await live(storage) == {}  # ended with the task
    queued, waiting = await view_ids(storage)
    assert queued == ["edit-a"] and waiting == {}
    await work.place([("edit-a", "a2", 1.0)], [])
    second = (await live(storage))["src/api/a.py"]
    assert second[0] == "a2" and second[1] > first[1]  # a greater fencing token


async def test_two_tasks_of_one_round_that_overlap_are_not_both_placed_even_on_one_agent(
    storage: SqliteStorage,
) -> None:
    work = storage.work
    await work.submit([Spec("t1", leases=(("docs/*.md", True),)), Spec("t2", leases=(("docs/README.md", True),))])
    result = await work.place([("t1", "a1", 1.0), ("t2", "a1", 1.0)], [])
    assert [p[0] for p in result.placed] == ["t1"] and result.refused[0][0] == "t2"
    listed, _, _ = await work.list(task_ids=["t2"])
    assert listed[0].state == "queued" and listed[0].reason.startswith("waiting for leases: docs/README.md")


async def test_shared_leases_go_together_and_an_exclusive_lease_by_hand_holds_them_back(
    storage: SqliteStorage,
) -> None:
    work = storage.work
    await work.submit([Spec("r1", leases=(("data/**", False),)), Spec("r2", leases=(("data/x.csv", False),))])
    assert len((await work.place([("r1", "a1", 1.0), ("r2", "a2", 1.0)], [])).placed) == 2
    await work.submit([Spec("w1", leases=(("data/x.csv", True),))])
    assert (await view_ids(storage))[1]["w1"].startswith("waiting for leases: data/x.csv")
    # an exclusive lease taken by hand is refused while the tasks' shared leases live, naming the task
    refused = await storage.leases.acquire(LeaseRequest("a3", ("data/**",), 60.0))
    assert not refused.granted and {c.held.task_id for c in refused.conflicts} == {"r1", "r2"}


async def test_the_leases_end_with_every_kind_of_end_of_the_attempt(storage: SqliteStorage, clock: FakeClock) -> None:
    work = storage.work
    specs = [Spec(f"t{i}", leases=((f"f{i}", True),), lease_s=30, max_attempts=1) for i in range(4)]
    await work.submit(specs)
    await work.place([("t0", "a1", 1), ("t1", "a1", 1), ("t2", "a2", 1), ("t3", "a3", 1)], [])
    assert set(await live(storage)) == {"f0", "f1", "f2", "f3"}
    await work.next("a1", limit=2)
    await work.report(Report("t0", "a1", "failure", error="broke"))  # a failure (the task is dead)
    await work.cancel(["t1"])  # a cancel
    assert set(await live(storage)) == {"f2", "f3"}
    await storage.state.remove_agent("a2")  # its agent removed
    assert set(await live(storage)) == {"f3"}
    clock.advance(31)  # a lease of the task running out
    await work.expire_leases()
    assert await live(storage) == {}
    states = {t.spec.task_id: t.state for t in (await work.list())[0]}
    assert states == {"t0": "dead", "t1": "cancelled", "t2": "dead", "t3": "dead"}


async def test_a_sign_of_life_renews_the_task_leases_with_the_task(storage: SqliteStorage, clock: FakeClock) -> None:
    work = storage.work
    await work.submit([Spec("long", leases=(("big/**", True),), lease_s=60)])
    await work.place([("long", "a1", 1)], [])
    await work.next("a1")
    for _ in range(3):  # 90 s in all, in steps shorter than the lease, each with a progress report
        clock.advance(30)
        await work.report(Report("long", "a1", "progress", progress="still at it"))
    assert await work.expire_leases() == 0
    leases, _, now = await storage.leases.list()
    assert [(x.resource, x.expires_at) for x in leases] == [("big/**", now + 60)]


async def test_a_removed_agent_loses_the_leases_it_took_by_hand(storage: SqliteStorage) -> None:
    granted = await storage.leases.acquire(LeaseRequest("a1", ("notes/*",), 600.0))
    assert granted.granted
    await storage.state.remove_agent("a1")
    assert await live(storage) == {}


async def test_the_end_of_a_lease_taken_by_hand_wakes_placement_of_a_task_waiting_for_it(
    storage: SqliteStorage,
) -> None:
    assert (await storage.leases.acquire(LeaseRequest("a1", ("src/**",), 600.0))).granted
    await storage.work.submit([Spec("fix", leases=(("src/main.py", True),))])
    assert (await view_ids(storage))[0] == []
    events = storage.work.watch()
    await anext(events)
    await storage.leases.release("a1", resources=["src/**"])
    _, cause = await asyncio.wait_for(anext(events), 5)
    assert cause == "leases" and (await view_ids(storage))[0] == ["fix"]


async def test_bad_leases_are_refused_naming_the_task_and_nothing_is_stored(storage: SqliteStorage) -> None:
    with pytest.raises(InvalidArgument, match="task 'bad': lease"):
        await storage.work.submit([Spec("good"), Spec("bad", leases=(("src/[a", True),))])
    assert (await storage.work.list())[0] == []
    with pytest.raises(InvalidArgument, match="65 leases, at most 64"):
        await storage.work.submit([Spec("many", leases=tuple((f"f{i}", True) for i in range(65)))])


def test_a_task_without_leases_keeps_the_content_it_had_before_leases_existed() -> None:
    assert "leases" not in json.loads(Spec("t").to_json())
    spec = Spec("t", leases=(("a", True),))
    assert Spec.from_json(spec.to_json()) == spec and spec.digest() != Spec("t").digest()
