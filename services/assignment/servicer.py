"""gRPC servicer for swarm.assignment.v1: registry calls forwarded to memory, assignment computed here.

The service keeps no state of its own but a short-lived answer cache: agents, open tasks and trails
are read from the memory service for every assignment, so replicas can run side by side (a
capacity conflict between two replicas is caught by memory and the assignment recomputed).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import time
from collections import OrderedDict
from typing import Any

import numpy as np
from grpc import aio

from services.assignment import planner, solver
from services.assignment.planner import AgentView, Plan, TaskSpec
from services.common.channels import call_upstream
from services.common.config import Config
from services.common.errors import InvalidArgument, SwarmError, Unavailable
from swarm.assignment.v1 import assignment_pb2 as pb
from swarm.assignment.v1 import assignment_pb2_grpc
from swarm.memory.v1 import state_pb2 as spb
from swarm.memory.v1 import state_pb2_grpc

CACHE_TTL_S = 300.0
CACHE_SIZE = 256
DEPOSIT = 1.0  # a success with quality q adds q to the trail
EVAPORATION = 0.5  # a failure keeps half of the trail
RECORD_ATTEMPTS = 5  # recompute when another replica took the capacity meanwhile
MAX_SOLVE_CELLS = 4_000_000


class _CapacityConflict(Exception):
    """Memory refused the record: an agent's load changed since the plan was computed."""


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
        # Assignments run concurrently (optimistic): memory refuses a record that no longer fits (ABORTED).
        # A refused one is recomputed under this lock, one at a time per replica, so it makes progress;
        # races with other replicas are still caught by memory and retried.
        self._commit_lock = asyncio.Lock()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    async def _memory(self, method: str, request: Any, context: aio.ServicerContext) -> Any:
        remaining = context.time_remaining()
        timeout = self.config.call_timeout_s if remaining is None else max(0.01, min(remaining, 60.0))
        return await call_upstream("memory", getattr(self.state, method), request, timeout=timeout)

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
        if request.dry_run:
            return await self._assign(request, context, attempts=1)
        try:
            return await self._assign(request, context, attempts=1)
        except _CapacityConflict:
            pass
        async with self._commit_lock:
            try:
                return await self._assign(request, context, attempts=RECORD_ATTEMPTS)
            except _CapacityConflict as exc:
                raise Unavailable(
                    f"the agents' load kept changing during {RECORD_ATTEMPTS} attempts: {exc}; retry"
                ) from None

    async def _assign(
        self, request: pb.AssignRequest, context: aio.ServicerContext, *, attempts: int
    ) -> pb.AssignResponse:
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
        last_conflict: SwarmError | None = None
        for _attempt in range(attempts):
            agents_resp, trails_resp = await asyncio.gather(
                self._memory("ListAgents", spb.ListAgentsRequest(), context),
                self._memory("ReadTrails", spb.ReadTrailsRequest(task_types=types, limit=10_000), context),
            )
            agents = [
                AgentView(a.agent_id, dict(a.skills), a.capacity, a.load, a.status == "offline")
                for a in agents_resp.agents
            ]
            strengths = {(t.agent_id, t.task_type): t.strength for t in trails_resp.trails}
            key = planner.cache_key(tasks, agents, strengths, strategy, level, seed)
            plan = self.cache.get(key)
            hit = plan is not None
            if plan is None:
                plan = await self._off_loop(
                    planner.plan, tasks, agents, strengths, strategy=strategy, level=level, seed=seed
                )
                self.cache.put(key, plan)
            if request.dry_run or not plan.assignments:
                return self._answer(plan, hit, recorded=False)
            by_id = {t.task_id: t for t in tasks}
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
                if exc.code.name != "ABORTED":
                    raise
                last_conflict = exc  # another replica took capacity meanwhile: read again, recompute
                continue
            recorded = [(a.task_id, a.agent_id) for a in stored.assignments]
            if recorded != [(t, a) for t, a, _ in plan.assignments]:
                # a retried request whose first attempt was recorded (its answer was lost): the truth is
                # what memory holds, so answer that, not the fresh plan
                return self._replayed(plan, tasks, recorded)
            return self._answer(plan, hit, recorded=True)
        raise _CapacityConflict(str(last_conflict))

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
