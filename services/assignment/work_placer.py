"""Automatic placement of the work queue: whenever ready tasks and free capacity may meet, one solve over
every ready task with the same costs, solver and pheromone trails as ``task_assign``, committed to memory.

Memory tells this replica when placement may have work (WatchPlacement: tasks became ready, an attempt
ended, a lease ran out, an agent came back or registered). Events that arrive while a round runs are
answered together by the next round, so under load there is one solve per round, not one per event.
Memory applies a placement only if its task is still queued and the agent still has room, so replicas
placing side by side never place a task twice; a round whose placements were partly refused runs again."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc

from common.channels import call_upstream
from common.errors import SwarmError
from services.assignment import planner
from services.assignment.planner import AgentView, TaskSpec
from swarm.memory.v1 import work_pb2 as wpb
from swarm.memory.v1 import work_pb2_grpc

log = logging.getLogger("swarm.assignment.placement")

DEFAULT_STRATEGY = "auto"
DEFAULT_LEVEL = "fast"  # a round runs after every burst of events: keep it short
RECONNECT_S = (0.05, 1.0)  # backoff after the event stream broke: first, most

OffLoop = Callable[..., Awaitable[Any]]


@dataclass
class Round:
    """What one placement round did."""

    ready: int = 0
    placed: list[tuple[str, str]] = field(default_factory=list)  # (task id, agent id)
    objective: float = 0.0
    lower_bound: float = 0.0
    gap: float = 0.0
    optimal: bool = True
    algorithm: str = "none"
    elapsed_ms: float = 0.0
    refused: int = 0


def plan_inputs(view: wpb.ReadPlacementViewResponse) -> tuple[list[TaskSpec], list[AgentView], dict, dict]:
    tasks = [
        TaskSpec(
            t.spec.task_id,
            t.spec.task_type,
            tuple(sorted(t.spec.skills.items())),
            t.spec.effort,
            t.spec.priority,
        )
        for t in view.queued
    ]
    agents = [AgentView(a.agent_id, dict(a.skills), a.capacity, a.load, a.status == "offline") for a in view.agents]
    strengths = {(t.agent_id, t.task_type): t.strength for t in view.trails}
    avoid = {t.spec.task_id: frozenset(t.excluded_agents) for t in view.queued if t.excluded_agents}
    return tasks, agents, strengths, avoid


class WorkPlacer:
    """Runs placement rounds for one assignment replica; ``request()`` asks for a round and answers it."""

    def __init__(self, work: work_pb2_grpc.WorkQueueServiceStub, off_loop: OffLoop, call_timeout_s: float) -> None:
        self.work = work
        self.off_loop = off_loop
        self.call_timeout_s = call_timeout_s
        self._waiting: list[tuple[asyncio.Future[Round], str, str]] = []
        # per pending request: the placements of every round that finished since it was made (a round already
        # running when it came may be the one that placed its tasks)
        self._seen: dict[asyncio.Future[Round], list[tuple[str, str]]] = {}
        self._runner: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.rounds = 0
        self.events = 0

    def start(self) -> None:
        self._watcher = asyncio.create_task(self._watch(), name="work-placement-watch")

    async def close(self) -> None:
        for task in (self._watcher, self._runner):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def request(self, strategy: str = DEFAULT_STRATEGY, level: str = DEFAULT_LEVEL) -> asyncio.Future[Round]:
        """A round that starts after this call (it sees everything committed before it); its answer lists what
        every round of this replica placed since the call."""
        future: asyncio.Future[Round] = asyncio.get_running_loop().create_future()
        self._waiting.append((future, strategy, level))
        self._seen[future] = []
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="work-placement")
        return future

    async def _watch(self) -> None:
        """Follow memory's placement events for as long as the service runs, reconnecting after a break."""
        delay = RECONNECT_S[0]
        while True:
            try:
                stream = self.work.WatchPlacement(wpb.WatchPlacementRequest(), wait_for_ready=True)
                async for _event in stream:
                    delay = RECONNECT_S[0]
                    self.events += 1
                    self.request()  # the first event of a stream (memory started or we reconnected) too
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as exc:
                log.debug("placement events: %s; reconnecting", exc.code().name)
            except Exception:
                log.exception("placement events failed; reconnecting")
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_S[1])

    async def _run(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            strategy, level = next(
                ((s, lv) for _, s, lv in batch if (s, lv) != (DEFAULT_STRATEGY, DEFAULT_LEVEL)),
                (
                    DEFAULT_STRATEGY,
                    DEFAULT_LEVEL,
                ),
            )
            try:
                result = await self.round(strategy, level)
            except Exception as exc:
                if not isinstance(exc, SwarmError):
                    log.exception("placement round failed")
                for future, _, _ in batch:
                    self._seen.pop(future, None)
                    if not future.done():
                        future.set_exception(exc)
                continue
            for seen in self._seen.values():
                seen.extend(result.placed)
            for future, _, _ in batch:
                placed = self._seen.pop(future, result.placed)
                if not future.done():
                    future.set_result(dataclasses.replace(result, placed=list(dict.fromkeys(placed))))
            if result.refused and not self._waiting:
                self.request()  # the state moved under this round (another replica placed): look again

    async def _memory(self, rpc: Any, request: Any) -> Any:
        return await call_upstream("memory", rpc, request, timeout=self.call_timeout_s)

    async def round(self, strategy: str = DEFAULT_STRATEGY, level: str = DEFAULT_LEVEL) -> Round:
        """Read the queued tasks and the agents, plan, commit; what was placed."""
        self.rounds += 1
        view = await self._memory(self.work.ReadPlacementView, wpb.ReadPlacementViewRequest())
        if not view.queued:
            return Round()
        tasks, agents, strengths, avoid = plan_inputs(view)
        if planner.solves_at_once(tasks, agents, strategy):  # exact in ~1 ms: not worth the hop to a solver thread
            plan = planner.plan(tasks, agents, strengths, strategy=strategy, level=level, avoid=avoid)
        else:
            plan = await self.off_loop(
                planner.plan, tasks, agents, strengths, strategy=strategy, level=level, avoid=avoid
            )
        if not plan.assignments and not plan.unassigned:
            return Round(ready=len(tasks))
        resp = await self._memory(
            self.work.PlaceTasks,
            wpb.PlaceTasksRequest(
                placements=[wpb.Placement(task_id=t, agent_id=a, cost=c) for t, a, c in plan.assignments],
                unplaced=[wpb.Unplaced(task_id=t, reason=r) for t, r in plan.unassigned],
            ),
        )
        return Round(
            ready=len(tasks),
            placed=[(p.task_id, p.agent_id) for p in resp.placed],
            objective=plan.objective,
            lower_bound=plan.lower_bound,
            gap=plan.gap,
            optimal=plan.optimal,
            algorithm=plan.algorithm,
            elapsed_ms=plan.elapsed_ms,
            refused=len(resp.refused),
        )
