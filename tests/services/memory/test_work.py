"""The work queue as the memory service keeps it: submit, dependencies, placement, leases, reports, cancel."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.memory.sqlite.storage import SqliteStorage
from services.memory.sqlite.work import SqliteWorkStore
from services.memory.state import AgentSpec
from services.memory.work_records import Report
from services.memory.work_rules import Spec
from tests.conftest import FakeClock
from tests.services.memory.conftest import open_storage

pytestmark = pytest.mark.engines


@pytest.fixture
async def storage(tmp_path: Path, clock: FakeClock, database_url: str | None) -> AsyncIterator[SqliteStorage]:
    s = open_storage(database_url, tmp_path / "d", clock=clock, max_value_bytes=4096, task_retention_s=3600)
    yield s
    await s.close()


@pytest.fixture
def work(storage: SqliteStorage) -> SqliteWorkStore:
    return storage.work


async def agents(storage: SqliteStorage, *ids: str, capacity: float = 1.0) -> None:
    for agent_id in ids:
        await storage.state.put_agent(AgentSpec(agent_id, {"py": 0.9}, capacity))


async def states(work: SqliteWorkStore) -> dict[str, str]:
    tasks, _, _ = await work.list(limit=500)
    return {t.spec.task_id: t.state for t in tasks}


def ok(task_id: str, agent: str, result: object = None) -> Report:
    return Report(task_id, agent, "success", result_json=json.dumps(result))


async def test_dependencies_block_until_done_and_results_flow_to_dependents(
    storage: SqliteStorage, work: SqliteWorkStore
) -> None:
    await agents(storage, "a1")
    tasks, created = await work.submit(
        [Spec("b", depends_on=("a",), title="second"), Spec("a", payload_json='{"n": 1}')]
    )
    assert [(t.spec.task_id, t.state) for t in tasks] == [("b", "blocked"), ("a", "queued")] and created == [True] * 2
    placed = await work.place([("a", "a1", 1.0)], [])
    assert placed.placed == [("a", "a1", 1.0)] and placed.refused == []
    taken = await work.next("a1")
    assert [w.task.spec.task_id for w in taken.work] == ["a"] and taken.work[0].task.state == "running"
    assert json.loads(taken.work[0].task.spec.payload_json) == {"n": 1}
    out = await work.report(ok("a", "a1", {"answer": 42}))
    assert out.task is not None and out.task.state == "done" and out.ready == ("b",)
    assert out.trail is not None and out.trail.successes == 1
    assert (await states(work)) == {"a": "done", "b": "queued"}
    await work.place([("b", "a1", 1.0)], [])
    taken = await work.next("a1")
    assert taken.work[0].dependencies == (("a", '{"answer":42}'),)


async def test_a_resubmit_is_a_no_op_and_other_content_is_refused_with_nothing_stored(work: SqliteWorkStore) -> None:
    await work.submit([Spec("t1", title="x")])
    again, created = await work.submit([Spec("t1", title="x")])
    assert created == [False] and again[0].state == "queued"
    with pytest.raises(InvalidArgument, match="'t1' already exists with other content"):
        await work.submit([Spec("t2"), Spec("t1", title="y")])
    assert await states(work) == {"t1": "queued"}


async def test_unknown_dependencies_and_cycles_are_refused_by_name(work: SqliteWorkStore) -> None:
    with pytest.raises(InvalidArgument, match="depends on unknown task 'ghost'"):
        await work.submit([Spec("t1", depends_on=("ghost",))])
    with pytest.raises(InvalidArgument, match=r"cycle: .*x.*y"):
        await work.submit([Spec("x", depends_on=("y",)), Spec("y", depends_on=("x",))])
    with pytest.raises(InvalidArgument, match="at most 5000"):
        await work.submit([Spec(f"t{i}") for i in range(5001)])
    with pytest.raises(InvalidArgument, match="payload is 5000 bytes"):
        await work.submit([Spec("big", payload_json=json.dumps("x" * 4998))])
    assert await states(work) == {}


async def test_placement_is_applied_once_and_within_capacity(storage: SqliteStorage, work: SqliteWorkStore) -> None:
    await agents(storage, "a1")
    await work.submit([Spec("t1"), Spec("t2")])
    first = await work.place([("t1", "a1", 1.0), ("t2", "a1", 1.0)], [("t2", "no room")])
    assert first.placed == [("t1", "a1", 1.0)] and first.refused == [("t2", "agent a1 has 0 capacity left, not 1")]
    again = await work.place([("t1", "a1", 1.0)], [])
    assert again.placed == [] and again.refused == [("t1", "it is placed now")]
    (agent,) = await storage.state.list_agents(["a1"])
    assert agent.load == 1 and agent.status == "busy"
    tasks, _, _ = await work.list(task_ids=["t2"])
    assert tasks[0].reason == "no room"


async def test_a_waiting_agent_is_woken_by_the_placement(storage: SqliteStorage, work: SqliteWorkStore) -> None:
    await agents(storage, "a1")
    await work.submit([Spec("t1")])
    waiting = asyncio.create_task(work.next("a1", wait_s=30))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    started = asyncio.get_running_loop().time()
    await work.place([("t1", "a1", 1.0)], [])
    taken = await asyncio.wait_for(waiting, 5)
    assert [w.task.spec.task_id for w in taken.work] == ["t1"]
    assert asyncio.get_running_loop().time() - started < 1.0


async def test_failures_retry_elsewhere_then_dead_with_every_error(
    storage: SqliteStorage, work: SqliteWorkStore
) -> None:
    await agents(storage, "a1", "a2")
    await work.submit([Spec("t", max_attempts=2), Spec("child", depends_on=("t",))])
    await work.place([("t", "a1", 1.0)], [])
    out = await work.report(Report("t", "a1", "failure", error="boom 1"))
    assert out.task is not None and out.task.state == "queued" and out.task.excluded == ("a1",)
    await work.place([("t", "a2", 1.0)], [])
    out = await work.report(Report("t", "a2", "failure", error="boom 2"))
    assert out.task is not None and out.task.state == "dead" and out.cancelled == ("child",)
    assert [a.error for a in out.task.attempts] == ["boom 1", "boom 2"]
    tasks, counts, _ = await work.list(task_ids=["child"])
    assert tasks[0].state == "cancelled" and "dependency t is dead" in tasks[0].reason
    assert counts["dead"] == 1 and counts["cancelled"] == 1


async def test_a_report_from_an_agent_that_lost_the_task_is_refused_and_changes_nothing(
    storage: SqliteStorage, work: SqliteWorkStore, clock: FakeClock
) -> None:
    await agents(storage, "a1", "a2")
    await work.submit([Spec("t", lease_s=10)])
    await work.place([("t", "a1", 1.0)], [])
    await work.next("a1")
    clock.advance(11)
    assert await work.expire_leases() == 1
    (agent,) = await storage.state.list_agents(["a1"])
    assert agent.status == "offline"
    tasks, _, _ = await work.list(task_ids=["t"])
    assert tasks[0].state == "queued" and "lease expired: agent a1 silent for 11 s" in tasks[0].attempts[0].error
    await work.place([("t", "a2", 1.0)], [])
    with pytest.raises(FailedPrecondition, match="your lease on task 't' ran out"):
        await work.report(ok("t", "a1"))
    with pytest.raises(NotFound, match="register it first"):
        await work.report(ok("t", "nobody"))
    done = await work.report(ok("t", "a2", 7))
    repeated = await work.report(ok("t", "a2", 7))
    assert repeated.repeated and repeated.task == done.task
    (agent,) = await storage.state.list_agents(["a1"])
    assert agent.status == "offline"
    await work.next("a1")  # any call shows life: placement may use it again
    (agent,) = await storage.state.list_agents(["a1"])
    assert agent.status == "idle"


async def test_progress_renews_the_lease_and_is_shown(
    storage: SqliteStorage, work: SqliteWorkStore, clock: FakeClock
) -> None:
    await agents(storage, "a1")
    await work.submit([Spec("t", lease_s=10)])
    await work.place([("t", "a1", 1.0)], [])
    await work.next("a1")
    clock.advance(8)
    out = await work.report(Report("t", "a1", "progress", progress="half way"))
    assert out.task is not None and out.task.state == "running" and out.task.progress == "half way"
    clock.advance(8)
    assert await work.expire_leases() == 0


async def test_cancel_reaches_dependents_and_tells_the_holder(storage: SqliteStorage, work: SqliteWorkStore) -> None:
    await agents(storage, "a1")
    await work.submit([Spec("t"), Spec("c1", depends_on=("t",)), Spec("c2", depends_on=("c1",)), Spec("done")])
    await work.place([("t", "a1", 1.0)], [])
    await work.next("a1")
    with pytest.raises(NotFound, match="'ghost'"):
        await work.cancel(["t", "ghost"], "not needed")
    out = await work.cancel(["t"], "not needed")
    assert out.cancelled == ["t"] and out.dependents == ["c1", "c2"]
    tasks, _, _ = await work.list(task_ids=["c2"])
    assert tasks[0].reason == "dependency t was cancelled: not needed"
    told = await work.next("a1")
    assert told.cancelled == (("t", "not needed"),) and told.work == ()
    with pytest.raises(FailedPrecondition, match="was cancelled"):
        await work.report(ok("t", "a1"))
    (agent,) = await storage.state.list_agents(["a1"])
    assert agent.load == 0


async def test_listing_pages_and_counts_and_ended_tasks_are_purged_after_retention(
    work: SqliteWorkStore, clock: FakeClock
) -> None:
    await work.submit([Spec(f"t{i:02}") for i in range(5)])
    page, counts, cursor = await work.list(limit=2)
    assert [t.spec.task_id for t in page] == ["t00", "t01"] and counts["queued"] == 5
    page, _, cursor = await work.list(limit=2, cursor=cursor)
    assert [t.spec.task_id for t in page] == ["t02", "t03"]
    await work.cancel(["t00"])
    clock.advance(3601)
    assert await work.purge_ended() == 1
    assert "t00" not in await states(work)


async def test_registering_again_renews_leases_and_a_removed_agents_tasks_go_back_to_the_queue(
    storage: SqliteStorage, work: SqliteWorkStore, clock: FakeClock
) -> None:
    await agents(storage, "a1", "a2")
    await work.submit([Spec("t", lease_s=10), Spec("u", lease_s=10)])
    await work.place([("t", "a1", 1.0), ("u", "a2", 1.0)], [])
    clock.advance(8)
    await agents(storage, "a1")  # a sign of life
    clock.advance(8)
    assert await work.expire_leases() == 1  # u only: a2 stayed silent
    assert await storage.state.remove_agent("a1") == (True, 1)
    tasks, _, _ = await work.list(task_ids=["t"])
    assert tasks[0].state == "queued" and tasks[0].attempts[0].error == "agent a1 was removed"


async def test_an_agent_that_lost_an_answer_finds_its_tasks_in_the_next_one(
    storage: SqliteStorage, work: SqliteWorkStore
) -> None:
    await agents(storage, "a1", capacity=2)
    await work.submit([Spec("dep"), Spec("t", depends_on=("dep",), payload_json='{"x": 1}')])
    await work.place([("dep", "a1", 1.0)], [])
    await work.next("a1")
    await work.report(ok("dep", "a1", "d"))
    await work.place([("t", "a1", 1.0)], [])
    taken = await work.next("a1")  # this answer never reached the agent
    assert [w.task.spec.task_id for w in taken.work] == ["t"]
    again = await work.next("a1")
    assert again.work == () and [(w.task.spec.task_id, w.task.attempt) for w in again.held] == [("t", 1)]
    (whole,), _, _ = await work.list(task_ids=["t"], full=True)
    assert json.loads(whole.spec.payload_json) == {"x": 1} and whole.state == "running"


async def test_a_long_poll_that_times_out_answers_what_the_agent_holds_then(
    storage: SqliteStorage, work: SqliteWorkStore
) -> None:
    await agents(storage, "a1", capacity=2)
    await work.submit([Spec("t")])
    await work.place([("t", "a1", 1.0)], [])
    await work.next("a1")
    waiting = asyncio.create_task(work.next("a1", wait_s=0.5))
    await asyncio.sleep(0.1)
    await work.report(ok("t", "a1"))  # reported while its own long poll waits
    answer = await asyncio.wait_for(waiting, 5)
    assert answer.work == () and answer.held == ()


async def test_a_failure_repeated_after_the_task_came_back_to_the_agent_is_not_a_second_failure(
    storage: SqliteStorage, work: SqliteWorkStore
) -> None:
    await agents(storage, "a1")  # the only agent: a failed task comes back to it
    await work.submit([Spec("t", max_attempts=2)])
    await work.place([("t", "a1", 1.0)], [])
    await work.next("a1")
    first = await work.report(Report("t", "a1", "failure", error="boom"))
    await work.place([("t", "a1", 1.0)], [])
    again = await work.report(Report("t", "a1", "failure", error="boom"))  # its answer was lost: sent again
    assert again.repeated and again.task == first.task
    tasks, _, _ = await work.list(task_ids=["t"])
    assert tasks[0].state == "placed" and tasks[0].attempt == 2  # not dead after one failure
    taken = await work.next("a1")
    assert [w.task.attempt for w in taken.work] == [2]
    dead = await work.report(Report("t", "a1", "failure", error="boom 2"))  # a real second failure counts
    assert not dead.repeated and dead.task is not None and dead.task.state == "dead"


async def test_a_long_poll_longer_than_the_callers_lease_keeps_its_tasks(
    tmp_path: Path, database_url: str | None
) -> None:
    storage = open_storage(database_url, tmp_path / "real-clock")  # real time: the lease runs out unless renewed
    try:
        await agents(storage, "a1", capacity=2)
        await storage.work.submit([Spec("short", lease_s=1)])
        await storage.work.place([("short", "a1", 1.0)], [])
        await storage.work.next("a1")
        waiting = asyncio.create_task(storage.work.next("a1", wait_s=2.5))
        expired = 0
        while not waiting.done():
            expired += await storage.work.expire_leases()  # what the background expiry would do, often
            await asyncio.sleep(0.05)
        assert expired == 0 and [w.task.spec.task_id for w in waiting.result().held] == ["short"]
    finally:
        await storage.close()
