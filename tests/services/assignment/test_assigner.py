"""The assignment loop called directly, over a fake memory: a refused record is planned again from a fresh
read, a dry run holds nothing, a retried request answers what memory recorded, and conflicts through every
attempt end in Unavailable."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from common.errors import Aborted, Unavailable
from services.assignment.assigner import RECORD_ATTEMPTS, Assigned, Assigner, SolverPool
from services.assignment.planner import AgentView, TaskSpec


class FakeMemory:
    """Agents that never change; ``refuse`` records are refused (ABORTED) first; ``replay`` is what memory
    answers it holds for the request id (default: what was sent)."""

    def __init__(self, agents: list[AgentView], refuse: int = 0, replay: list[tuple[str, str]] | None = None) -> None:
        self.agents, self.refuse, self.replay = agents, refuse, replay
        self.reads = 0
        self.records: list[list[tuple[str, str]]] = []

    async def read(self, task_types: list[str]) -> tuple[list[AgentView], dict[tuple[str, str], float]]:
        self.reads += 1
        return list(self.agents), {}

    async def record(self, assignments: list[tuple[TaskSpec, str]], request_id: str) -> list[tuple[str, str]]:
        if self.refuse:
            self.refuse -= 1
            raise Aborted("agent a has no room left")
        pairs = [(t.task_id, aid) for t, aid in assignments]
        self.records.append(pairs)
        return self.replay if self.replay is not None else pairs


@pytest.fixture
async def assigner() -> AsyncIterator[Assigner]:
    solvers = SolverPool(1)
    yield Assigner(solvers)
    solvers.close()


AGENTS = [AgentView("a", {}, 2.0, 0.0, False), AgentView("b", {}, 2.0, 1.0, False)]
TASKS = [TaskSpec("t1", "x"), TaskSpec("t2", "x")]


async def assign(assigner: Assigner, memory: FakeMemory, *, record: bool = True) -> Assigned:
    return await assigner.assign(
        TASKS, memory, strategy="auto", level="fast", seed=None, record=record, request_id="req-1"
    )


async def test_a_refused_record_is_planned_again_from_a_fresh_read(assigner: Assigner) -> None:
    memory = FakeMemory(AGENTS, refuse=1)
    done = await assign(assigner, memory)
    assert done.recorded and not done.plan.unassigned
    assert memory.reads == 2 and len(memory.records) == 1
    assert assigner.stats["conflicts"] == 1
    assert len(assigner.ledger) == 0


async def test_a_dry_run_records_and_holds_nothing(assigner: Assigner) -> None:
    memory = FakeMemory(AGENTS)
    done = await assign(assigner, memory, record=False)
    assert not done.recorded and len(done.plan.assignments) == 2
    assert memory.records == [] and len(assigner.ledger) == 0


async def test_a_retried_request_answers_what_memory_recorded(assigner: Assigner) -> None:
    memory = FakeMemory(AGENTS, replay=[("t2", "b")])
    done = await assign(assigner, memory)
    assert done.recorded and not done.cache_hit
    assert [(t, a) for t, a, _ in done.plan.assignments] == [("t2", "b")]
    assert done.plan.unassigned == [("t1", "not assigned by the first attempt of this request id")]
    assert done.plan.algorithm == "replayed: the answer recorded for this request id"


async def test_conflicts_through_every_attempt_end_unavailable(assigner: Assigner) -> None:
    memory = FakeMemory(AGENTS, refuse=RECORD_ATTEMPTS + 1)
    with pytest.raises(Unavailable, match=f"kept changing during {RECORD_ATTEMPTS + 1} attempts: agent a has no"):
        await assign(assigner, memory)
    assert assigner.stats["conflicts"] == RECORD_ATTEMPTS + 1
    assert len(assigner.ledger) == 0
