"""Agents, open tasks and pheromone trails as the memory service keeps them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound
from services.memory.sqlite.state import SqliteStateStore
from services.memory.state import TRAIL_MAX, TRAIL_MIN, AgentSpec, Assignment, Outcome, decayed
from services.memory.storage import StateStore
from tests.conftest import FakeClock
from tests.services.memory.conftest import open_storage

HALF_LIFE = 100.0


pytestmark = pytest.mark.engines


@pytest.fixture
async def state(tmp_path: Path, clock: FakeClock, database_url: str | None) -> AsyncIterator[StateStore]:
    storage = open_storage(database_url, tmp_path / "d", clock=clock, half_life_s=HALF_LIFE)
    yield storage.state
    await storage.close()


async def test_register_update_list_remove(state: StateStore) -> None:
    a = await state.put_agent(AgentSpec("coder-1", {"python": 0.9, "sql": 0.4}, 2, '{"model": "m1"}'))
    assert a.status == "idle" and a.load == 0 and a.skills == {"python": 0.9, "sql": 0.4}
    await state.put_agent(AgentSpec("coder-2", {"python": 0.5}, 1))
    await state.put_agent(AgentSpec("coder-1", {"python": 0.95}, 3))  # update keeps registration time
    assert [x.agent_id for x in await state.list_agents(skill="python", min_level=0.9)] == ["coder-1"]
    assert (await state.list_agents(["coder-1"]))[0].capacity == 3
    await state.record_assignments([Assignment("t1", "coder-2", "review", 1)])
    assert [x.agent_id for x in await state.list_agents(status="busy")] == ["coder-2"]
    assert await state.remove_agent("coder-2") == (True, 1)
    assert await state.remove_agent("coder-2") == (False, 0)
    assert [x.agent_id for x in await state.list_agents()] == ["coder-1"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (AgentSpec("", {}, 1), "agent_id '' is invalid"),
        (AgentSpec("a b", {}, 1), "agent_id 'a b' is invalid"),
        (AgentSpec("a", {"py": 1.5}, 1), "level=1.5"),
        (AgentSpec("a", {"py": float("nan")}, 1), "level=nan"),
        (AgentSpec("a", {"bad skill": 0.5}, 1), "skill 'bad skill'"),
        (AgentSpec("a", {}, -1), "capacity=-1"),
        (AgentSpec("a", {}, 0), "capacity=0"),
        (AgentSpec("a", {}, 1, "[1]"), "metadata must be a JSON object"),
        (AgentSpec("a", {}, 1, "{bad"), "metadata is not valid JSON"),
    ],
)
async def test_bad_agents_are_refused(state: StateStore, spec: AgentSpec, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        await state.put_agent(spec)
    assert await state.list_agents() == []


async def test_capacity_is_checked_when_recording(state: StateStore) -> None:
    await state.put_agent(AgentSpec("a", {}, 2))
    await state.record_assignments([Assignment("t1", "a", "x", 1.5)])
    with pytest.raises(Aborted, match=r"0\.5 capacity left, not 1"):
        await state.record_assignments([Assignment("t2", "a", "x", 1)])
    with pytest.raises(FailedPrecondition, match="still open"):
        await state.record_assignments([Assignment("t1", "a", "x", 0.1)])
    with pytest.raises(FailedPrecondition, match="no longer registered"):
        await state.record_assignments([Assignment("t3", "ghost", "x", 0.1)])
    assert (await state.list_agents())[0].load == 1.5


async def test_trail_deposit_evaporate_decay_and_bounds(state: StateStore, clock: FakeClock) -> None:
    await state.put_agent(AgentSpec("good", {}, 5))
    await state.put_agent(AgentSpec("bad", {}, 5))
    await state.record_assignments([Assignment("t1", "good", "review", 1), Assignment("t2", "bad", "review", 1)])
    r = await state.report(Outcome("t1", "good", True, 0.8))
    assert r.task_was_open and r.trail.strength == pytest.approx(1.8)
    r = await state.report(Outcome("t2", "bad", False, 0.0))
    assert r.trail.strength == pytest.approx(0.5)
    assert (await state.list_agents(["good"]))[0].load == 0  # the report released the load
    clock.advance(HALF_LIFE)
    trails = {t.agent_id: t for t in await state.read_trails(task_types=["review"])}
    assert trails["good"].strength == pytest.approx(1.4) and trails["bad"].strength == pytest.approx(0.75)
    assert trails["good"].raw_strength == pytest.approx(1.8)
    clock.advance(HALF_LIFE * 20)
    assert all(abs(t.strength - 1.0) < 1e-5 for t in await state.read_trails())
    for i in range(20):
        await state.report(Outcome(f"s{i}", "good", True, 1.0, task_type="review"))
        await state.report(Outcome(f"f{i}", "bad", False, 0.0, task_type="review"))
    trails = {t.agent_id: t for t in await state.read_trails()}
    assert trails["good"].strength == TRAIL_MAX and trails["bad"].strength == TRAIL_MIN
    assert trails["good"].successes == 21 and trails["bad"].failures == 21


def test_decay_formula() -> None:
    assert decayed(3.0, 0.0, 0.0, 10.0) == 3.0
    assert decayed(3.0, 0.0, 10.0, 10.0) == pytest.approx(2.0)
    assert decayed(0.2, 0.0, 20.0, 10.0) == pytest.approx(0.8)
    assert decayed(3.0, 5.0, 0.0, 10.0) == 3.0  # a clock step back never strengthens a trail


async def test_reports_are_checked_and_applied_once(state: StateStore) -> None:
    await state.put_agent(AgentSpec("a", {}, 1))
    await state.put_agent(AgentSpec("b", {}, 1))
    await state.record_assignments([Assignment("t1", "a", "x", 1)])
    with pytest.raises(FailedPrecondition, match="was assigned to 'a', not 'b'"):
        await state.report(Outcome("t1", "b", True, 1.0))
    with pytest.raises(NotFound, match="give its task_type"):
        await state.report(Outcome("unknown", "a", True, 1.0))
    with pytest.raises(InvalidArgument, match="quality=2"):
        await state.report(Outcome("t1", "a", True, 2))
    first = await state.report(Outcome("t1", "a", True, 0.5), request_id="rep-1")
    again = await state.report(Outcome("t1", "a", True, 0.5), request_id="rep-1")
    assert again == first
    assert (await state.read_trails())[0].strength == pytest.approx(1.5)
    with pytest.raises(FailedPrecondition, match="already closed"):
        await state.report(Outcome("t1", "a", True, 0.5), request_id="rep-2")


async def test_assignment_view_is_the_agents_and_trails_in_one_read(state: StateStore, clock: FakeClock) -> None:
    for name in ("a1", "a2", "a3"):
        await state.put_agent(AgentSpec(name, {"py": 0.5}, 2))
    await state.record_assignments([Assignment("t1", "a1", "review", 1), Assignment("t2", "a2", "code", 1)])
    await state.report(Outcome("t1", "a1", True, 1.0))
    await state.report(Outcome("t2", "a2", False, 0.0))
    await state.record_assignments([Assignment("t3", "a3", "code", 2)])
    clock.advance(HALF_LIFE / 2)
    agents, trails = await state.assignment_view(["code"], 10)
    assert agents == await state.list_agents()  # loads included: a3 carries t3
    assert [a.load for a in agents] == [0, 0, 2]
    assert trails == await state.read_trails(task_types=["code"], limit=10)
    assert [(t.agent_id, t.task_type) for t in trails] == [("a2", "code")]
    _, every = await state.assignment_view()
    assert {t.task_type for t in every} == {"review", "code"}
    with pytest.raises(InvalidArgument, match="limit=20000"):
        await state.assignment_view(["code"], 20_000)
    with pytest.raises(InvalidArgument, match="task type"):
        await state.assignment_view(["bad type!"])


async def test_the_view_follows_every_change_of_an_agent(state: StateStore) -> None:
    """Consecutive views reuse the agents whose rows did not change; every change still shows."""
    for name in ("a1", "a2", "a3"):
        await state.put_agent(AgentSpec(name, {"py": 0.5}, 2))
    before, _ = await state.assignment_view()
    await state.put_agent(AgentSpec("a1", {"py": 0.9, "go": 0.1}, 3, '{"team": "x"}'))  # skills, capacity, metadata
    await state.record_assignments([Assignment("t1", "a2", "code", 1.5)])  # a2's load and status
    await state.remove_agent("a3")
    await state.put_agent(AgentSpec("a4", {}, 1))
    after, _ = await state.assignment_view()
    assert [a.agent_id for a in before] == ["a1", "a2", "a3"] and before[0].capacity == 2
    assert after == await state.list_agents()
    a1, a2, a4 = after
    assert (a1.skills, a1.capacity, json.loads(a1.metadata_json)) == ({"py": 0.9, "go": 0.1}, 3, {"team": "x"})
    assert (a2.load, a2.status, a2.open_tasks) == (1.5, "busy", 1) and a4.agent_id == "a4"
    await state.report(Outcome("t1", "a2", True, 1.0))
    again, _ = await state.assignment_view()
    assert again == await state.list_agents() and again[1].load == 0 and again[1].status == "idle"
    assert again[0] is after[0]  # unchanged: the same object, not built again


async def test_only_a_small_swarms_view_is_read_on_the_event_loop(
    state: SqliteStateStore, monkeypatch: pytest.MonkeyPatch, memory_engine: str
) -> None:
    if memory_engine != "sqlite":
        pytest.skip("reads on the event loop are the SQLite engine's (PostgreSQL reads are network round trips)")
    import services.memory.sqlite.state as state_module

    for name in ("a1", "a2", "a3"):
        await state.put_agent(AgentSpec(name, {}, 1))
    where: list[str] = []
    for method in ("read", "read_point"):  # record which path each view takes, then read as before
        real = getattr(state.engine, method)

        async def spy(fn, _real=real, _name=method):  # type: ignore[no-untyped-def]
            where.append(_name)
            return await _real(fn)

        monkeypatch.setattr(state.engine, method, spy)
    first = await state.assignment_view()  # the first view after a start: a reader thread, whatever the size
    second = await state.assignment_view()  # 3 rows: small, on the loop
    monkeypatch.setattr(state_module, "VIEW_INLINE_ROWS", 2)
    third = await state.assignment_view()  # still inline (decided by the last view) ...
    fourth = await state.assignment_view()  # ... which had 3 rows, over 2: a reader thread again
    assert where == ["read", "read_point", "read_point", "read"]
    assert first == second == third == fourth and [a.agent_id for a in first[0]] == ["a1", "a2", "a3"]
