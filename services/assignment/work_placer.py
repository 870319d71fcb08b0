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
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from common.channels import call_upstream
from common.errors import SwarmError
from common.follow import follow
from services.assignment import planner
from services.assignment.planner import AgentView, TaskSpec
from swarm.memory.v1 import work_pb2 as wpb
from swarm.memory.v1 import work_pb2_grpc

log = logging.getLogger("swarm.assignment.placement")

DEFAULT_STRATEGY = "auto"
DEFAULT_LEVEL = "fast"  # a round runs after every burst of events: keep it short

OffLoop = Callable[..., Awaitable[Any]]
# a round plans over the highest-priority ready tasks some agent with room could take, at most this many per unit
# of free capacity (and at least MIN_ROUND_TASKS): a long queue with little room costs a small solve, not a big one
ROUND_TASKS_PER_SLOT = 4
MIN_ROUND_TASKS = 32
MAX_GATHER_S = 0.02  # the longest a busy stream of events is gathered between two rounds
ROUND_BUDGET_MS = 3.0  # the solver's budget in a round that follows events (a submit's round uses its level)


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
    tasks: list[TaskSpec] = []
    avoid: dict[str, frozenset[str]] = {}
    for t in view.queued:  # one pass, each message field read once (a read of a protobuf field builds an object)
        spec, excluded = t.spec, t.excluded_agents
        tasks.append(
            TaskSpec(spec.task_id, spec.task_type, tuple(sorted(spec.skills.items())), spec.effort, spec.priority)
        )
        if excluded:
            avoid[spec.task_id] = frozenset(excluded)
    agents = [AgentView(a.agent_id, dict(a.skills), a.capacity, a.load, a.status == "offline") for a in view.agents]
    strengths = {(t.agent_id, t.task_type): t.strength for t in view.trails}
    return tasks, agents, strengths, avoid


def trim(tasks: list[TaskSpec], agents: list[AgentView]) -> tuple[list[TaskSpec], dict[str, str]]:
    """The tasks worth planning now (highest priority first: some online agent with the skills has room for
    them, at most ROUND_TASKS_PER_SLOT per unit of free capacity), and why each of the others waits."""
    room = {a.agent_id: a.capacity - a.load for a in agents if not a.offline and a.capacity - a.load > 1e-9}
    budget = max(MIN_ROUND_TASKS, int(ROUND_TASKS_PER_SLOT * sum(room.values()) + 0.999))
    best: dict[tuple[tuple[str, float], ...], tuple[float, int]] = {}  # requirements -> (most room, skilled)
    chosen: list[TaskSpec] = []
    waiting: dict[str, str] = {}
    for t in tasks:
        known = best.get(t.required)
        if known is None:
            skilled = [a for a in agents if not a.offline and all(a.skills.get(s, -1.0) >= lv for s, lv in t.required)]
            known = best[t.required] = (max((room.get(a.agent_id, 0.0) for a in skilled), default=0.0), len(skilled))
        most_room, skilled_count = known
        if not skilled_count:
            waiting[t.task_id] = planner.why_no_agent(t, agents)
        elif most_room + 1e-9 < t.effort:
            waiting[t.task_id] = (
                f"waiting for room: none of the {skilled_count} agent(s) with the required skills has {t.effort:g} free"
            )
        elif len(chosen) >= budget:
            waiting[t.task_id] = "waiting: higher-priority tasks are placed first"
        else:
            chosen.append(t)
    return chosen, waiting


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
        self._events_only: weakref.WeakSet[asyncio.Future[Round]] = weakref.WeakSet()  # requests of the event stream
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
        await follow(
            lambda: self.work.WatchPlacement(wpb.WatchPlacementRequest(), wait_for_ready=True),
            self._placement_event,
            "placement events",
        )

    def _placement_event(self, _event: wpb.PlacementEvent) -> None:
        self.events += 1
        self._events_only.add(self.request())  # the first event of a stream (a (re)connect) too

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            batch, self._waiting = self._waiting, []
            started = loop.time()
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
            if self._waiting and all(f in self._events_only for f, _, _ in self._waiting):
                # events keep coming (a busy swarm): gather them for as long as the round took, so placement
                # takes at most about half of this replica's time and each round answers more events
                await asyncio.sleep(min(MAX_GATHER_S, loop.time() - started))

    async def _note(self, waiting: dict[str, str], shown: dict[str, str]) -> None:
        """Show why tasks wait, where that changed (nothing is placed)."""
        changed = [wpb.Unplaced(task_id=t, reason=r) for t, r in waiting.items() if shown.get(t) != r]
        if changed:
            await self._memory(self.work.PlaceTasks, wpb.PlaceTasksRequest(unplaced=changed))

    async def _memory(self, rpc: Any, request: Any) -> Any:
        return await call_upstream("memory", rpc, request, timeout=self.call_timeout_s)

    async def round(self, strategy: str = DEFAULT_STRATEGY, level: str = DEFAULT_LEVEL) -> Round:
        """Read the queued tasks and the agents, plan, commit; what was placed."""
        self.rounds += 1
        view = await self._memory(self.work.ReadPlacementView, wpb.ReadPlacementViewRequest())
        lease_waits = {u.task_id: u.reason for u in view.waiting}  # their leases are held: not planned
        if not view.queued:
            if lease_waits:
                await self._note(lease_waits, {})
            return Round()
        queued, agents, strengths, avoid = plan_inputs(view)
        tasks, waiting = trim(queued, agents)
        waiting.update(lease_waits)
        shown = {t.spec.task_id: t.reason for t in view.queued}
        if not tasks:
            await self._note(waiting, shown)
            return Round(ready=len(queued))
        # an agent with less room than the smallest of these tasks can take none of them: it is left out
        smallest = min(t.effort for t in tasks)
        agents = [a for a in agents if not a.offline and a.capacity - a.load + 1e-9 >= smallest]
        budget = ROUND_BUDGET_MS if (strategy, level) == (DEFAULT_STRATEGY, DEFAULT_LEVEL) else None
        if planner.solves_at_once(tasks, agents, strategy):  # exact in ~1 ms: not worth the hop to a solver thread
            plan = planner.plan(tasks, agents, strengths, strategy=strategy, level=level, avoid=avoid, budget_ms=budget)
        else:
            plan = await self.off_loop(
                planner.plan,
                tasks,
                agents,
                strengths,
                strategy=strategy,
                level=level,
                avoid=avoid,
                budget_ms=budget,
            )
        waiting.update(plan.unassigned)
        changed = [wpb.Unplaced(task_id=t, reason=r) for t, r in waiting.items() if shown.get(t) != r]
        if not plan.assignments and not changed:
            return Round(ready=len(queued))
        resp = await self._memory(
            self.work.PlaceTasks,
            wpb.PlaceTasksRequest(
                placements=[wpb.Placement(task_id=t, agent_id=a, cost=c) for t, a, c in plan.assignments],
                unplaced=changed,
            ),
        )
        return Round(
            ready=len(queued),
            placed=[(p.task_id, p.agent_id) for p in resp.placed],
            objective=plan.objective,
            lower_bound=plan.lower_bound,
            gap=plan.gap,
            optimal=plan.optimal,
            algorithm=plan.algorithm,
            elapsed_ms=plan.elapsed_ms,
            refused=len(resp.refused),
        )
