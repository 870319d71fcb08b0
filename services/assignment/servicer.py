"""gRPC servicer for swarm.assignment.v1: requests in, domain calls, responses out.

Registry calls, reports and pheromone reads are forwarded to the memory service; an assignment runs the
loop in :mod:`services.assignment.assigner` over agents, open tasks and trails read from memory for every
assignment, so replicas can run side by side; the raw solver runs :func:`services.assignment.solver.solve`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any

import grpc
import numpy as np
from grpc import aio

from common.channels import call_upstream
from common.config import Config
from common.errors import FailedPrecondition, InvalidArgument, SwarmError
from services.assignment import planner, solver
from services.assignment.assigner import Assigned, Assigner, SolverPool
from services.assignment.cache import AnswerCache
from services.assignment.ledger import CapacityLedger
from services.assignment.planner import AgentView, TaskSpec
from services.assignment.work_placer import WorkPlacer
from swarm.assignment.v1 import assignment_pb2 as pb
from swarm.assignment.v1 import assignment_pb2_grpc
from swarm.memory.v1 import state_pb2 as spb
from swarm.memory.v1 import state_pb2_grpc, work_pb2_grpc
from swarm.memory.v1 import work_pb2 as wpb

log = logging.getLogger("swarm.assignment")

DEPOSIT = 1.0  # a success with quality q adds q to the trail
EVAPORATION = 0.5  # a failure keeps half of the trail
MAX_SOLVE_CELLS = 4_000_000


class AssignmentServicer(assignment_pb2_grpc.AssignmentServiceServicer):
    def __init__(
        self,
        state: state_pb2_grpc.SwarmStateServiceStub,
        config: Config,
        work: work_pb2_grpc.WorkQueueServiceStub | None = None,
    ) -> None:
        self.state = state
        self.config = config
        self.solvers = SolverPool(config.solver_workers)
        self.assigner = Assigner(self.solvers)
        self.work = work
        self.placer = WorkPlacer(work, self.solvers.run, config.call_timeout_s) if work is not None else None
        self._memory_without_view = False  # set once memory answers ReadAssignmentView with UNIMPLEMENTED

    @property
    def ledger(self) -> CapacityLedger:
        return self.assigner.ledger

    @property
    def cache(self) -> AnswerCache:
        return self.assigner.cache

    @property
    def stats(self) -> Counter[str]:
        """Conflicts (records refused by memory), replans, rereads."""
        return self.assigner.stats

    def start(self) -> None:
        if self.placer is not None:
            self.placer.start()

    async def close(self) -> None:
        if self.placer is not None:
            await self.placer.close()
        self.solvers.close()

    async def _memory(self, rpc: Any, request: Any, context: aio.ServicerContext) -> Any:
        """One call of a memory stub method (``self.state.PutAgent``) within what is left of the request's deadline."""
        return await call_upstream("memory", rpc, request, timeout=self._timeout(context))

    async def _assignment_view(self, types: list[str], context: aio.ServicerContext) -> tuple[Any, Any]:
        """The agents and the trails of ``types`` that a plan is made on: one memory RPC, or two from a memory
        service older than ReadAssignmentView (during a rolling upgrade that reaches assignment first)."""
        if not self._memory_without_view:
            try:
                view = await self._memory(
                    self.state.ReadAssignmentView,
                    spb.ReadAssignmentViewRequest(task_types=types, trail_limit=10_000),
                    context,
                )
                return view.agents, view.trails
            except SwarmError as exc:
                if exc.code != grpc.StatusCode.UNIMPLEMENTED:
                    raise
                log.warning("the memory service has no ReadAssignmentView: reading agents and trails apart")
                self._memory_without_view = True
        agents, trails = await asyncio.gather(
            self._memory(self.state.ListAgents, spb.ListAgentsRequest(), context),
            self._memory(self.state.ReadTrails, spb.ReadTrailsRequest(task_types=types, limit=10_000), context),
        )
        return agents.agents, trails.trails

    # ---------------------------------------------------------------- registry

    async def RegisterAgent(self, request: pb.RegisterAgentRequest, context: aio.ServicerContext) -> spb.Agent:
        return await self._memory(
            self.state.PutAgent,
            spb.PutAgentRequest(
                agent_id=request.agent_id,
                skills=request.skills,
                capacity=request.capacity,
                metadata_json=request.metadata_json,
                offline=request.offline,
                weight=request.weight,
                request_id=request.request_id,
                topics=request.topics if request.HasField("topics") else None,
            ),
            context,
        )

    async def ListAgents(self, request: pb.ListAgentsRequest, context: aio.ServicerContext) -> pb.ListAgentsResponse:
        resp = await self._memory(
            self.state.ListAgents,
            spb.ListAgentsRequest(skill=request.skill, min_level=request.min_level, status=request.status),
            context,
        )
        return pb.ListAgentsResponse(agents=resp.agents)

    async def RemoveAgent(self, request: pb.RemoveAgentRequest, context: aio.ServicerContext) -> pb.RemoveAgentResponse:
        resp = await self._memory(
            self.state.RemoveAgent,
            spb.RemoveAgentRequest(agent_id=request.agent_id, request_id=request.request_id),
            context,
        )
        return pb.RemoveAgentResponse(removed=resp.removed, open_tasks_released=resp.open_tasks_released)

    async def Heartbeat(self, request: pb.HeartbeatRequest, context: aio.ServicerContext) -> spb.Agent:
        return await self._memory(
            self.state.Heartbeat, spb.HeartbeatRequest(agent_id=request.agent_id, offline=request.offline), context
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
        done = await self.assigner.assign(
            tasks,
            _Memory(self, context),
            strategy=strategy,
            level=level,
            seed=request.seed if request.HasField("seed") else None,
            record=not request.dry_run,
            request_id=request.request_id,
        )
        return _answer(done)

    async def Report(self, request: pb.ReportRequest, context: aio.ServicerContext) -> pb.ReportResponse:
        if self.work is None:
            resp = await self._memory(
                self.state.ReportOutcome,
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
        kind = "progress" if request.progress else ("success" if request.success else "failure")
        out = await call_upstream(
            "memory",
            self.work.ReportTask,
            wpb.ReportTaskRequest(
                task_id=request.task_id,
                agent_id=request.agent_id,
                kind=kind,
                result_json=request.result_json,
                error=request.error,
                progress=request.note,
                quality=request.quality,
                duration_s=request.duration_s,
                deposit=DEPOSIT,
                evaporation=EVAPORATION,
                request_id=request.request_id,
                task_type=request.task_type,
            ),
            timeout=self._timeout(context),
        )
        answer = pb.ReportResponse(task_was_open=out.task_was_open)
        if out.HasField("trail"):
            answer.trail.CopyFrom(out.trail)
        if out.HasField("task"):
            answer.work.CopyFrom(out)
        return answer

    async def SubmitTasks(self, request: pb.SubmitTasksRequest, context: aio.ServicerContext) -> pb.SubmitTasksResponse:
        if self.work is None or self.placer is None:
            raise FailedPrecondition("this assignment service was built without a work queue")
        strategy = request.strategy or "auto"
        level = request.level or "fast"
        if strategy not in planner.STRATEGIES:
            raise InvalidArgument(f"strategy {strategy!r} is not one of {', '.join(planner.STRATEGIES)}")
        if level not in planner.LEVEL_BUDGET_MS:
            raise InvalidArgument(f"level {level!r} is not one of {', '.join(planner.LEVEL_BUDGET_MS)}")
        stored = await call_upstream(
            "memory",
            self.work.SubmitTasks,
            wpb.SubmitTasksRequest(tasks=request.tasks, request_id=request.request_id),
            timeout=self._timeout(context),
        )
        answer = pb.SubmitTasksResponse(tasks=stored.tasks, created=stored.created)
        if not any(t.state == "queued" for t in stored.tasks):
            return answer
        try:
            done = await asyncio.wait_for(self.placer.request(strategy, level), self._timeout(context))
        except (SwarmError, TimeoutError) as exc:  # stored all the same: placement runs again on the next event
            log.warning("placement after a submit failed: %s", exc)
            return answer
        where = dict(done.placed)
        if any(t.state == "queued" and t.spec.task_id not in where for t in answer.tasks):
            await self._refresh(answer, context)  # another replica's round may have placed them meanwhile
        else:
            for task in answer.tasks:
                agent = where.get(task.spec.task_id)
                if agent is not None and task.state == "queued":
                    task.state, task.agent_id, task.attempt, task.reason = "placed", agent, task.attempt + 1, ""
        answer.placement.CopyFrom(
            pb.PlacementRound(
                placements=[wpb.Placement(task_id=t, agent_id=a) for t, a in done.placed],
                objective=done.objective,
                lower_bound=done.lower_bound,
                gap=done.gap,
                optimal=done.optimal,
                algorithm=done.algorithm,
                elapsed_ms=done.elapsed_ms,
                ready=done.ready,
            )
        )
        return answer

    async def _refresh(self, answer: pb.SubmitTasksResponse, context: aio.ServicerContext) -> None:
        """The submitted tasks as memory has them now."""
        ids = [t.spec.task_id for t in answer.tasks]
        now: dict[str, wpb.TaskInfo] = {}
        for start in range(0, len(ids), 500):
            page = await call_upstream(
                "memory",
                self.work.ListTasks,
                wpb.ListTasksRequest(task_ids=ids[start : start + 500], limit=500, full=True),
                timeout=self._timeout(context),
            )
            now.update((t.spec.task_id, t) for t in page.tasks)
        for task in answer.tasks:
            if task.spec.task_id in now:
                task.CopyFrom(now[task.spec.task_id])

    def _timeout(self, context: aio.ServicerContext) -> float:
        remaining = context.time_remaining()
        return self.config.call_timeout_s if remaining is None else max(0.01, min(remaining, 60.0))

    async def ReadPheromones(
        self, request: pb.ReadPheromonesRequest, context: aio.ServicerContext
    ) -> pb.ReadPheromonesResponse:
        resp = await self._memory(
            self.state.ReadTrails,
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
            sol = await self.solvers.run(
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


class _Memory:
    """The memory service as the assignment loop sees it (:class:`~services.assignment.assigner.AssignmentMemory`),
    within the deadline of one request."""

    def __init__(self, servicer: AssignmentServicer, context: aio.ServicerContext) -> None:
        self._servicer, self._context = servicer, context

    async def read(self, task_types: list[str]) -> tuple[list[AgentView], dict[tuple[str, str], float]]:
        agents, trails = await self._servicer._assignment_view(task_types, self._context)
        read = [AgentView(a.agent_id, dict(a.skills), a.capacity, a.load, a.status == "offline") for a in agents]
        return read, {(t.agent_id, t.task_type): t.strength for t in trails}

    async def record(self, assignments: list[tuple[TaskSpec, str]], request_id: str) -> list[tuple[str, str]]:
        record = spb.RecordAssignmentsRequest(
            assignments=[
                spb.TaskAssignment(task_id=t.task_id, agent_id=aid, task_type=t.task_type, effort=t.effort)
                for t, aid in assignments
            ],
            request_id=request_id,
        )
        stored = await self._servicer._memory(self._servicer.state.RecordAssignments, record, self._context)
        return [(a.task_id, a.agent_id) for a in stored.assignments]


def _answer(done: Assigned) -> pb.AssignResponse:
    plan = done.plan
    return pb.AssignResponse(
        assignments=[pb.TaskAssignmentResult(task_id=t, agent_id=a, cost=c) for t, a, c in plan.assignments],
        unassigned=[pb.Unassigned(task_id=t, reason=r) for t, r in plan.unassigned],
        objective=plan.objective,
        lower_bound=plan.lower_bound,
        gap=plan.gap,
        algorithm=plan.algorithm,
        elapsed_ms=plan.elapsed_ms,
        cache_hit=done.cache_hit,
        optimal=plan.optimal,
        recorded=done.recorded,
    )
