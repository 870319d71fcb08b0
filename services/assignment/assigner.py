"""Assigning a batch of tasks: read the agents and trails, plan against them plus the capacity this
replica's other in-flight assignments hold (the ledger), hold what the plan uses, record it at memory,
and read again and plan again when memory refuses the record because another replica took the capacity
meanwhile. Plans come from the answer cache when the request and the state it read are the same; solves
run off the event loop, a bounded number at a time.

The memory service is reached through :class:`AssignmentMemory` (the servicer adapts its gRPC stub), so
tests can drive this loop directly.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
from collections import Counter
from typing import Any, Protocol

from common.errors import SwarmError, Unavailable
from services.assignment import planner
from services.assignment.cache import AnswerCache
from services.assignment.ledger import CapacityLedger
from services.assignment.planner import AgentView, Plan, TaskSpec

RECORD_ATTEMPTS = 5  # recompute (from a fresh read) when another replica took the capacity meanwhile
REPLANS = 5  # re-plans of one read when this replica's other assignments took the room meanwhile
REREADS = 2  # fresh reads when a plan falls short of capacity only perhaps because of a recent record
_NOT_RECORDED = ("ABORTED", "FAILED_PRECONDITION", "INVALID_ARGUMENT", "NOT_FOUND")


class AssignmentMemory(Protocol):
    """What the assignment loop needs from the memory service; failures raise :class:`SwarmError` with the
    call's status code (ABORTED: the record no longer fits, nothing was recorded)."""

    async def read(self, task_types: list[str]) -> tuple[list[AgentView], dict[tuple[str, str], float]]:
        """The agents (with their load) and the trail strengths of ``task_types`` by (agent id, task type)."""
        ...

    async def record(self, assignments: list[tuple[TaskSpec, str]], request_id: str) -> list[tuple[str, str]]:
        """Record (task, agent id) pairs; the (task id, agent id) pairs memory holds for ``request_id``."""
        ...


@dataclasses.dataclass(frozen=True)
class Assigned:
    plan: Plan
    cache_hit: bool
    recorded: bool


class SolverPool:
    """Solves off the event loop, a bounded number at a time, so health checks and registry calls keep
    answering while an accurate solve runs."""

    def __init__(self, workers: int) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="solver")
        self._slots = asyncio.Semaphore(workers)

    async def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        async with self._slots:
            return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _use(plan: Plan, tasks: list[TaskSpec]) -> dict[str, float]:
    effort = {t.task_id: t.effort for t in tasks}
    use: dict[str, float] = {}
    for tid, aid, _ in plan.assignments:
        use[aid] = use.get(aid, 0.0) + effort[tid]
    return use


def _capacity_short(plan: Plan) -> bool:
    return any(reason.startswith("capacity exhausted") for _, reason in plan.unassigned)


def _replayed(plan: Plan, tasks: list[TaskSpec], recorded: list[tuple[str, str]]) -> Plan:
    """The answer when memory holds another record for the request id (a retried request whose first
    attempt was recorded): what memory holds, at the fresh plan's costs where it has them."""
    costs = {(t, a): c for t, a, c in plan.assignments}
    done = {t for t, _ in recorded}
    return Plan(
        assignments=[(t, a, costs.get((t, a), 0.0)) for t, a in recorded],
        unassigned=[
            (t.task_id, "not assigned by the first attempt of this request id") for t in tasks if t.task_id not in done
        ],
        objective=sum(costs.get(pair, 0.0) for pair in recorded),
        lower_bound=0.0,
        gap=0.0,
        algorithm="replayed: the answer recorded for this request id",
        elapsed_ms=0.0,
        optimal=False,
    )


class Assigner:
    """The assignment loop of one replica, with its ledger, answer cache and counters (conflicts refused by
    memory, replans, rereads)."""

    def __init__(self, solvers: SolverPool) -> None:
        self.solvers = solvers
        self.cache = AnswerCache()
        # Assignments run concurrently; each plans against memory's loads plus what this replica's other
        # in-flight assignments hold, so they do not collide with each other. Memory still refuses a record
        # that no longer fits (ABORTED: another replica, or an agent's capacity changed): that one is
        # recomputed from a fresh read.
        self.ledger = CapacityLedger()
        self.stats: Counter[str] = Counter()

    async def assign(
        self,
        tasks: list[TaskSpec],
        memory: AssignmentMemory,
        *,
        strategy: str,
        level: str,
        seed: int | None,
        record: bool,
        request_id: str,
    ) -> Assigned:
        """Plan ``tasks`` (validated) and, with ``record``, record the plan; Unavailable when the agents' load
        kept changing through every attempt."""
        types = sorted({t.task_type for t in tasks})
        by_id = {t.task_id: t for t in tasks}
        last_conflict: SwarmError | None = None
        conflicts = rereads = 0
        while conflicts <= RECORD_ATTEMPTS:
            since = self.ledger.begin_read()
            try:
                read, strengths = await memory.read(types)
                planned = await self._plan_and_hold(
                    tasks, read, strengths, strategy, level, seed, since, record, rereads < REREADS
                )
            finally:
                self.ledger.end_read(since)
            if planned is None:
                rereads += 1
                self.stats["rereads"] += 1
                continue
            plan, hit, token = planned
            if token is None:  # a dry run, or nothing to record
                return Assigned(plan, hit, recorded=False)
            try:
                recorded = await memory.record([(by_id[tid], aid) for tid, aid, _ in plan.assignments], request_id)
            except SwarmError as exc:
                if exc.code.name in _NOT_RECORDED:
                    self.ledger.release(token)
                else:
                    self.ledger.settle(token)  # perhaps recorded (the answer was lost): hold it for reads in flight
                if exc.code.name != "ABORTED":
                    raise
                last_conflict = exc  # another replica took capacity meanwhile: read again, recompute
                conflicts += 1
                self.stats["conflicts"] += 1
                continue
            except BaseException:
                self.ledger.settle(token)
                raise
            self.ledger.settle(token)
            if recorded != [(t, a) for t, a, _ in plan.assignments]:
                # a retried request whose first attempt was recorded (its answer was lost): the truth is
                # what memory holds, so answer that, not the fresh plan
                return Assigned(_replayed(plan, tasks, recorded), cache_hit=False, recorded=True)
            return Assigned(plan, hit, recorded=True)
        raise Unavailable(f"the agents' load kept changing during {conflicts} attempts: {last_conflict}; retry")

    async def _plan_and_hold(
        self,
        tasks: list[TaskSpec],
        read: list[AgentView],
        strengths: dict[tuple[str, str], float],
        strategy: str,
        level: str,
        seed: int | None,
        since: int,
        hold: bool,
        reread: bool,
    ) -> tuple[Plan, bool, int | None] | None:
        """Plan against the loads read from memory plus the capacity this replica's other assignments hold,
        and hold what the plan uses (``hold``); returns the plan, whether it came from the cache, and the
        hold's token (None when nothing is held). The check that the plan still fits and the hold happen
        with no await in between; a plan computed off the loop that no longer fits is computed again.

        Holds settled while the read was in flight may be in the read already: they count (so no conflict
        at memory). When the plan then leaves tasks unassigned for want of capacity, that may be wrong, so
        the answer is None (``reread``: read again, those holds are then in the read) or, once the rereads
        are used up, the plan without them (memory refuses the record if they were not in the read)."""
        optimistic = False
        plan: Plan | None = None
        hit = False
        for _replan in range(REPLANS):
            held, unsure = self.ledger.held(since, unsure=not optimistic)
            plan, hit = await self._plan(tasks, self._with_held(read, held), strengths, strategy, level, seed)
            if unsure and not optimistic and _capacity_short(plan):
                if reread:
                    return None
                optimistic = True
                continue
            if not hold or not plan.assignments:
                return plan, hit, None
            use = _use(plan, tasks)
            now, _ = self.ledger.held(since, unsure=not optimistic)
            capacity = {a.agent_id: (a.capacity, a.load) for a in read}
            if all(
                aid in capacity and capacity[aid][1] + now.get(aid, 0.0) + e <= capacity[aid][0] + 1e-9
                for aid, e in use.items()
            ):
                return plan, hit, self.ledger.hold(use)
            self.stats["replans"] += 1
        assert plan is not None
        if not hold or not plan.assignments:
            return plan, hit, None
        # still colliding with this replica's own assignments after REPLANS plans: memory decides
        return plan, hit, self.ledger.hold(_use(plan, tasks))

    @staticmethod
    def _with_held(read: list[AgentView], held: dict[str, float]) -> list[AgentView]:
        if not held:
            return read
        return [dataclasses.replace(a, load=a.load + held[a.agent_id]) if a.agent_id in held else a for a in read]

    async def _plan(
        self,
        tasks: list[TaskSpec],
        agents: list[AgentView],
        strengths: dict[tuple[str, str], float],
        strategy: str,
        level: str,
        seed: int | None,
    ) -> tuple[Plan, bool]:
        if planner.solves_at_once(tasks, agents, strategy):
            # exact and cheap: planned right here, on the loop (a solver thread costs more and competes with
            # the loop for the GIL), and not cached (the cache key costs more than the plan)
            return planner.plan(tasks, agents, strengths, strategy=strategy, level=level, seed=seed), False
        key = planner.cache_key(tasks, agents, strengths, strategy, level, seed)
        plan = self.cache.get(key)
        if plan is not None:
            return plan, True
        plan = await self.solvers.run(planner.plan, tasks, agents, strengths, strategy=strategy, level=level, seed=seed)
        self.cache.put(key, plan)
        return plan, False
