"""gRPC servicer for swarm.assignment.v1: registry calls forwarded to memory, assignment computed here.

The service keeps no state of its own but a short-lived answer cache and the capacity its own
in-flight assignments are about to record (the ledger below): agents, open tasks and trails are read
from the memory service for every assignment, so replicas can run side by side (a capacity conflict
between two replicas is caught by memory and the assignment recomputed from a fresh read).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import logging
import time
from collections import Counter, OrderedDict
from typing import Any

import grpc
import numpy as np
from grpc import aio

from common.channels import call_upstream
from common.config import Config
from common.errors import InvalidArgument, SwarmError, Unavailable
from services.assignment import planner, solver
from services.assignment.planner import AgentView, Plan, TaskSpec
from swarm.assignment.v1 import assignment_pb2 as pb
from swarm.assignment.v1 import assignment_pb2_grpc
from swarm.memory.v1 import state_pb2 as spb
from swarm.memory.v1 import state_pb2_grpc

log = logging.getLogger("swarm.assignment")

CACHE_TTL_S = 300.0
CACHE_SIZE = 256
DEPOSIT = 1.0  # a success with quality q adds q to the trail
EVAPORATION = 0.5  # a failure keeps half of the trail
RECORD_ATTEMPTS = 5  # recompute (from a fresh read) when another replica took the capacity meanwhile
REPLANS = 5  # re-plans of one read when this replica's other assignments took the room meanwhile
REREADS = 2  # fresh reads when a plan falls short of capacity only perhaps because of a recent record
MAX_SOLVE_CELLS = 4_000_000
_NOT_RECORDED = ("ABORTED", "FAILED_PRECONDITION", "INVALID_ARGUMENT", "NOT_FOUND")


@dataclasses.dataclass
class _Hold:
    use: dict[str, float]  # agent id -> effort of the tasks this plan gives it
    settled: int | None = None  # sequence number at which its record call ended


class CapacityLedger:
    """Capacity this replica has planned but memory may not show yet, so that concurrent assignments of
    one replica plan against what is really left instead of all choosing the same agents (and then
    conflicting at memory, one after another).

    A plan holds its agents' effort from the moment it is chosen until its record call ends. A read of
    the agents' load taken *after* a record call ended shows that record; one taken before may or may not
    (``unsure``). Every settlement moves a sequence number; a read remembers the number at its start, so
    a hold counts for a read while it is pending or was settled after that read began; it is forgotten
    once every read in flight began after it was settled. All methods run on the event loop (no awaits
    inside), so checking a plan against the ledger and holding its capacity is atomic.
    """

    def __init__(self) -> None:
        self._seq = 0
        self._reads: Counter[int] = Counter()
        self._holds: dict[int, _Hold] = {}
        self._next = 0

    def begin_read(self) -> int:
        self._reads[self._seq] += 1
        return self._seq

    def end_read(self, since: int) -> None:
        self._reads[since] -= 1
        if self._reads[since] <= 0:
            del self._reads[since]
        self._forget()

    def held(self, since: int, *, unsure: bool = True) -> tuple[dict[str, float], bool]:
        """Effort held per agent that a read begun at ``since`` may not show; and whether any of it was
        settled during the read (the read may show it already). ``unsure=False`` leaves that part out."""
        out: dict[str, float] = {}
        any_unsure = False
        for h in self._holds.values():
            if h.settled is not None:
                if h.settled <= since:
                    continue
                any_unsure = True
                if not unsure:
                    continue
            for agent_id, effort in h.use.items():
                out[agent_id] = out.get(agent_id, 0.0) + effort
        return out, any_unsure

    def hold(self, use: dict[str, float]) -> int:
        self._next += 1
        self._holds[self._next] = _Hold(use)
        return self._next

    def release(self, token: int) -> None:
        """Nothing was recorded."""
        self._holds.pop(token, None)

    def settle(self, token: int) -> None:
        """The record call ended: recorded, or perhaps recorded (a lost answer); reads from now on show it."""
        hold = self._holds.get(token)
        if hold is not None and hold.settled is None:
            self._seq += 1
            hold.settled = self._seq
        self._forget()

    def _forget(self) -> None:
        oldest = min(self._reads) if self._reads else self._seq
        for token in [t for t, h in self._holds.items() if h.settled is not None and h.settled <= oldest]:
            del self._holds[token]

    def __len__(self) -> int:
        return len(self._holds)


def _use(plan: Plan, tasks: list[TaskSpec]) -> dict[str, float]:
    effort = {t.task_id: t.effort for t in tasks}
    use: dict[str, float] = {}
    for tid, aid, _ in plan.assignments:
        use[aid] = use.get(aid, 0.0) + effort[tid]
    return use


def _capacity_short(plan: Plan) -> bool:
    return any(reason.startswith("capacity exhausted") for _, reason in plan.unassigned)


class AnswerCache:
    """Plans by the identity of the request and of the state it read; entries live 5 minutes."""

    def __init__(self, ttl: float = CACHE_TTL_S, size: int = CACHE_SIZE) -> None:
        self.ttl, self.size = ttl, size
        self._items: OrderedDict[str, tuple[float, Plan]] = OrderedDict()

    def get(self, key: str) -> Plan | None:
        item = self._items.get(key)
        if item is None or time.monotonic() - item[0] > self.ttl:
            self._items.pop(key, None)
            return None
        return item[1]

    def put(self, key: str, plan: Plan) -> None:
        self._items[key] = (time.monotonic(), plan)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


class AssignmentServicer(assignment_pb2_grpc.AssignmentServiceServicer):
    def __init__(self, state: state_pb2_grpc.SwarmStateServiceStub, config: Config) -> None:
        self.state = state
        self.config = config
        self.cache = AnswerCache()
        # solves run off the event loop, a bounded number at a time, so health checks and registry
        # calls keep answering while an accurate solve runs
        self._pool = concurrent.futures.ThreadPoolExecutor(config.solver_workers, thread_name_prefix="solver")
        self._slots = asyncio.Semaphore(config.solver_workers)
        # Assignments run concurrently; each plans against memory's loads plus what this replica's other
        # in-flight assignments hold, so they do not collide with each other. Memory still refuses a record
        # that no longer fits (ABORTED: another replica, or an agent's capacity changed): that one is
        # recomputed from a fresh read.
        self.ledger = CapacityLedger()
        self.stats: Counter[str] = Counter()  # conflicts (refused by memory), replans, rereads
        self._memory_without_view = False  # set once memory answers ReadAssignmentView with UNIMPLEMENTED

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    async def _memory(self, method: str, request: Any, context: aio.ServicerContext) -> Any:
        remaining = context.time_remaining()
        timeout = self.config.call_timeout_s if remaining is None else max(0.01, min(remaining, 60.0))
        return await call_upstream("memory", getattr(self.state, method), request, timeout=timeout)

    async def _assignment_view(self, types: list[str], context: aio.ServicerContext) -> tuple[Any, Any]:
        """The agents and the trails of ``types`` that a plan is made on: one memory RPC, or two from a memory
        service older than ReadAssignmentView (during a rolling upgrade that reaches assignment first)."""
        if not self._memory_without_view:
            try:
                view = await self._memory(
                    "ReadAssignmentView", spb.ReadAssignmentViewRequest(task_types=types, trail_limit=10_000), context
                )
                return view.agents, view.trails
            except SwarmError as exc:
                if exc.code != grpc.StatusCode.UNIMPLEMENTED:
                    raise
                log.warning("the memory service has no ReadAssignmentView: reading agents and trails apart")
                self._memory_without_view = True
        agents, trails = await asyncio.gather(
            self._memory("ListAgents", spb.ListAgentsRequest(), context),
            self._memory("ReadTrails", spb.ReadTrailsRequest(task_types=types, limit=10_000), context),
        )
        return agents.agents, trails.trails

    async def _off_loop(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        async with self._slots:
            return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    # ---------------------------------------------------------------- registry

    async def RegisterAgent(self, request: pb.RegisterAgentRequest, context: aio.ServicerContext) -> spb.Agent:
        return await self._memory(
            "PutAgent",
            spb.PutAgentRequest(
                agent_id=request.agent_id,
                skills=request.skills,
                capacity=request.capacity,
                metadata_json=request.metadata_json,
                offline=request.offline,
                weight=request.weight,
                request_id=request.request_id,
            ),
            context,
        )

    async def ListAgents(self, request: pb.ListAgentsRequest, context: aio.ServicerContext) -> pb.ListAgentsResponse:
        resp = await self._memory(
            "ListAgents",
            spb.ListAgentsRequest(skill=request.skill, min_level=request.min_level, status=request.status),
            context,
        )
        return pb.ListAgentsResponse(agents=resp.agents)

    async def RemoveAgent(self, request: pb.RemoveAgentRequest, context: aio.ServicerContext) -> pb.RemoveAgentResponse:
        resp = await self._memory(
            "RemoveAgent", spb.RemoveAgentRequest(agent_id=request.agent_id, request_id=request.request_id), context
        )
        return pb.RemoveAgentResponse(removed=resp.removed, open_tasks_released=resp.open_tasks_released)

    async def Heartbeat(self, request: pb.HeartbeatRequest, context: aio.ServicerContext) -> spb.Agent:
        return await self._memory(
            "Heartbeat", spb.HeartbeatRequest(agent_id=request.agent_id, offline=request.offline), context
        )

    # ---------------------------------------------------------------- assignment

    async def Assign(self, request: pb.AssignRequest, context: aio.ServicerContext) -> pb.AssignResponse:
        tasks = planner.validate_tasks(
            [
                TaskSpec(
                    t.task_id,
                    t.task_type,
                    tuple((r.skill, r.min_level) for r in t.required_skills),
                    t.effort,
                    t.priority,
                )
                for t in request.tasks
            ]
        )
        strategy = request.strategy or "auto"
        level = request.level or "balanced"
        if strategy not in planner.STRATEGIES:
            raise InvalidArgument(f"strategy {strategy!r} is not one of {', '.join(planner.STRATEGIES)}")
        if level not in planner.LEVEL_BUDGET_MS:
            raise InvalidArgument(f"level {level!r} is not one of {', '.join(planner.LEVEL_BUDGET_MS)}")
        seed = request.seed if request.HasField("seed") else None
        types = sorted({t.task_type for t in tasks})
        by_id = {t.task_id: t for t in tasks}
        last_conflict: SwarmError | None = None
        conflicts = rereads = 0
        while conflicts <= RECORD_ATTEMPTS:
            since = self.ledger.begin_read()
            try:
                agents, trails = await self._assignment_view(types, context)
                read = [
                    AgentView(a.agent_id, dict(a.skills), a.capacity, a.load, a.status == "offline") for a in agents
                ]
                strengths = {(t.agent_id, t.task_type): t.strength for t in trails}
                planned = await self._plan_and_hold(
                    tasks, read, strengths, strategy, level, seed, since, not request.dry_run, rereads < REREADS
                )
            finally:
                self.ledger.end_read(since)
            if planned is None:
                rereads += 1
                self.stats["rereads"] += 1
                continue
            plan, hit, token = planned
            if token is None:  # a dry run, or nothing to record
                return self._answer(plan, hit, recorded=False)
            record = spb.RecordAssignmentsRequest(
                assignments=[
                    spb.TaskAssignment(
                        task_id=tid, agent_id=aid, task_type=by_id[tid].task_type, effort=by_id[tid].effort
                    )
                    for tid, aid, _ in plan.assignments
                ],
                request_id=request.request_id,
            )
            try:
                stored = await self._memory("RecordAssignments", record, context)
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
            recorded = [(a.task_id, a.agent_id) for a in stored.assignments]
            if recorded != [(t, a) for t, a, _ in plan.assignments]:
                # a retried request whose first attempt was recorded (its answer was lost): the truth is
                # what memory holds, so answer that, not the fresh plan
                return self._replayed(plan, tasks, recorded)
            return self._answer(plan, hit, recorded=True)
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
            # exact and deterministic in about a millisecond: computed right here, on the loop (a hop to a
            # solver thread costs more, and that thread then competes with the loop for the GIL), and not
            # cached (hashing the state for the cache key costs more than the plan)
            return planner.plan(tasks, agents, strengths, strategy=strategy, level=level, seed=seed), False
        key = planner.cache_key(tasks, agents, strengths, strategy, level, seed)
        plan = self.cache.get(key)
        if plan is not None:
            return plan, True
        plan = await self._off_loop(planner.plan, tasks, agents, strengths, strategy=strategy, level=level, seed=seed)
        self.cache.put(key, plan)
        return plan, False

    @staticmethod
    def _replayed(plan: Plan, tasks: list[TaskSpec], recorded: list[tuple[str, str]]) -> pb.AssignResponse:
        costs = {(t, a): c for t, a, c in plan.assignments}
        done = {t for t, _ in recorded}
        return pb.AssignResponse(
            assignments=[
                pb.TaskAssignmentResult(task_id=t, agent_id=a, cost=costs.get((t, a), 0.0)) for t, a in recorded
            ],
            unassigned=[
                pb.Unassigned(task_id=t.task_id, reason="not assigned by the first attempt of this request id")
                for t in tasks
                if t.task_id not in done
            ],
            objective=sum(costs.get(pair, 0.0) for pair in recorded),
            lower_bound=0.0,
            gap=0.0,
            algorithm="replayed: the answer recorded for this request id",
            recorded=True,
        )

    @staticmethod
    def _answer(plan: Plan, hit: bool, recorded: bool) -> pb.AssignResponse:
        return pb.AssignResponse(
            assignments=[pb.TaskAssignmentResult(task_id=t, agent_id=a, cost=c) for t, a, c in plan.assignments],
            unassigned=[pb.Unassigned(task_id=t, reason=r) for t, r in plan.unassigned],
            objective=plan.objective,
            lower_bound=plan.lower_bound,
            gap=plan.gap,
            algorithm=plan.algorithm,
            elapsed_ms=plan.elapsed_ms,
            cache_hit=hit,
            optimal=plan.optimal,
            recorded=recorded,
        )

    async def Report(self, request: pb.ReportRequest, context: aio.ServicerContext) -> pb.ReportResponse:
        resp = await self._memory(
            "ReportOutcome",
            spb.ReportOutcomeRequest(
                task_id=request.task_id,
                agent_id=request.agent_id,
                success=request.success,
                quality=request.quality,
                duration_s=request.duration_s,
                task_type=request.task_type,
                deposit=DEPOSIT,
                evaporation=EVAPORATION,
                request_id=request.request_id,
            ),
            context,
        )
        return pb.ReportResponse(trail=resp.trail, task_was_open=resp.task_was_open)

    async def ReadPheromones(
        self, request: pb.ReadPheromonesRequest, context: aio.ServicerContext
    ) -> pb.ReadPheromonesResponse:
        resp = await self._memory(
            "ReadTrails",
            spb.ReadTrailsRequest(agent_ids=request.agent_ids, task_types=request.task_types, limit=request.limit),
            context,
        )
        return pb.ReadPheromonesResponse(trails=resp.trails, half_life_s=resp.half_life_s)

    # ---------------------------------------------------------------- raw solver

    async def Solve(self, request: pb.SolveRequest, context: aio.ServicerContext) -> pb.SolveResponse:
        m, n = request.agents, request.tasks
        if m <= 0 or n <= 0:
            raise InvalidArgument(f"agents={m}, tasks={n}: give at least one agent and one task")
        if m * n > MAX_SOLVE_CELLS:
            raise InvalidArgument(f"{m} x {n} is over {MAX_SOLVE_CELLS} cells: split the instance")
        for name, values, size in (
            ("cost", request.cost, m * n),
            ("resource", request.resource, m * n),
            ("capacity", request.capacity, m),
        ):
            if len(values) != size:
                raise InvalidArgument(f"{name} has {len(values)} values: expected {size} ({m} agents x {n} tasks)")
        limit = request.time_limit_ms or 1000
        if limit < 0 or limit > 600_000:
            raise InvalidArgument(f"time_limit_ms={limit}: give 1-600000")
        try:
            sol = await self._off_loop(
                solver.solve,
                np.array(request.cost, dtype=float).reshape(m, n),
                np.array(request.resource, dtype=float).reshape(m, n),
                np.array(request.capacity, dtype=float),
                maximize=request.maximize,
                strategy=request.strategy or "auto",
                time_limit_ms=float(limit),
                seed=request.seed if request.HasField("seed") else None,
            )
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        return pb.SolveResponse(
            assignment=[int(x) for x in sol.assignment],
            objective=sol.objective,
            bound=sol.bound,
            gap=sol.gap,
            algorithm=sol.algorithm,
            elapsed_ms=sol.elapsed_ms,
            optimal=sol.optimal,
            unassigned_reason=[sol.unassigned_reason.get(j, "") for j in range(n)],
        )
