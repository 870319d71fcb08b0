"""From agents, tasks and pheromone trails to a generalized assignment problem, and back.

Cost of agent i doing task j (lower is better)::

    c_ij = 100 * (1.5 - fit_ij) * (1 + load_i / capacity_i) / trail_ij ** ALPHA / (1 + priority_j)

- ``fit_ij``: mean level of the agent in the task's required skills (0.5 when none are required);
- the load term spreads work over agents that already carry open tasks;
- ``trail_ij``: the pheromone strength of (agent, task type), 1 = neutral; what the swarm learned from
  reported outcomes lowers the cost for agents that succeed at that type and raises it for those that fail;
- priority scales the whole row down: the choice of agent for one task is unchanged, but when capacity
  is short the solver keeps the tasks that cost least to keep, i.e. the high-priority ones.

Agent i may take task j only if it is online and meets every required skill's minimum level; a task
uses ``effort`` of the agent's remaining capacity (capacity minus the effort of its open tasks).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from common.errors import InvalidArgument
from common.validation import check_id, check_level, check_name
from services.assignment import solver

LEVEL_BUDGET_MS = {"fast": 10.0, "balanced": 30.0, "accurate": 300.0}  # solver time budget per level
STRATEGIES = solver.STRATEGIES
ALPHA = 1.0
MAX_TASKS = 5000
MAX_REQUIREMENTS = 32
AT_ONCE_MAX_CELLS = 2_000  # agents x tasks up to which an exact plan (LSA or enumeration) takes ~1 ms
AT_ONCE_MAX_TASKS = 64
AVOID_FACTOR = 1.5  # the cost of an agent for a task it already failed: the work queue prefers another agent,
# but not over a much stronger trail (4x sent retries of a type's one good agent to the weak ones: bench_swarm_sim)


@dataclass(frozen=True)
class TaskSpec:
    task_id: str
    task_type: str
    required: tuple[tuple[str, float], ...] = ()
    effort: float = 1.0
    priority: float = 0.0


@dataclass(frozen=True)
class AgentView:
    agent_id: str
    skills: Mapping[str, float]
    capacity: float
    load: float
    offline: bool


@dataclass(frozen=True)
class Plan:
    assignments: list[tuple[str, str, float]]  # (task_id, agent_id, cost)
    unassigned: list[tuple[str, str]]  # (task_id, reason)
    objective: float
    lower_bound: float
    gap: float
    algorithm: str
    elapsed_ms: float
    optimal: bool


def validate_tasks(tasks: Sequence[TaskSpec]) -> list[TaskSpec]:
    """Normalise a batch (effort 0 -> 1); InvalidArgument names the task and what to fix."""
    if not tasks:
        raise InvalidArgument("the batch has no tasks: give at least one task")
    if len(tasks) > MAX_TASKS:
        raise InvalidArgument(f"{len(tasks)} tasks: at most {MAX_TASKS} per batch")
    seen: set[str] = set()
    out = []
    for index, t in enumerate(tasks):
        where = f"task {index}"
        try:
            check_id("task_id", t.task_id)
            where = f"task {t.task_id!r}"
            if t.task_id in seen:
                raise InvalidArgument("appears twice in the batch: task ids must be unique")
            seen.add(t.task_id)
            check_name("task_type", t.task_type or "default")
            if len(t.required) > MAX_REQUIREMENTS:
                raise InvalidArgument(f"{len(t.required)} required skills: at most {MAX_REQUIREMENTS}")
            required = []
            for skill, level in t.required:
                check_name("skill", skill)
                check_level(f"min_level of {skill!r}", level)
                required.append((skill, float(level)))
            effort = 1.0 if t.effort == 0 else t.effort
            if not math.isfinite(effort) or effort <= 0:
                raise InvalidArgument(f"effort={t.effort}: give a positive number (0 means 1)")
            if not math.isfinite(t.priority) or t.priority < 0 or t.priority > 1e6:
                raise InvalidArgument(f"priority={t.priority}: give 0 or a positive number")
        except InvalidArgument as exc:
            raise InvalidArgument(f"{where}: {exc}") from None
        out.append(TaskSpec(t.task_id, t.task_type or "default", tuple(required), float(effort), float(t.priority)))
    return out


def cache_key(
    tasks: Sequence[TaskSpec],
    agents: Sequence[AgentView],
    strengths: Mapping[tuple[str, str], float],
    strategy: str,
    level: str,
    seed: int | None,
) -> str:
    """Identity of a request and of every piece of state it depends on. Trails count at their decayed
    strength rounded to 1e-3: a report changes the key, and so does decay once it moves a trail enough
    to matter, so a faded trail is never answered from the cache."""
    payload = {
        "tasks": [[t.task_id, t.task_type, list(t.required), t.effort, t.priority] for t in tasks],
        "agents": [[a.agent_id, sorted(a.skills.items()), a.capacity, a.load, a.offline] for a in agents],
        "trails": sorted([*k, round(v, 3)] for k, v in strengths.items()),
        "strategy": strategy,
        "level": level,
        "seed": seed,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def solves_at_once(tasks: Sequence[TaskSpec], agents: Sequence[AgentView], strategy: str) -> bool:
    """Whether :func:`plan` is exact and cheap (about a millisecond, whatever the level's budget): a small
    batch for ``auto``/``exact`` where every task has the same effort (one linear_sum_assignment) or
    where the solver enumerates every assignment. The service runs those inline instead of in a
    solver thread."""
    if strategy not in ("auto", "exact"):
        return False
    m, n = len(agents), len(tasks)
    if m == 0:
        return True
    if m * n > AT_ONCE_MAX_CELLS or n > AT_ONCE_MAX_TASKS:
        return False
    if len({t.effort for t in tasks}) <= 1:
        return True
    return solver.enumeration_size_at_most(m, n) <= solver.ENUMERATE_MAX


def why_no_agent(task: TaskSpec, agents: Sequence[AgentView]) -> str:
    online = [a for a in agents if not a.offline]
    if not online:
        return "no agent is registered and online"
    for skill, level in task.required:
        if not any(a.skills.get(skill, -1.0) >= level for a in online):
            return f"no agent has skill {skill!r} at level {level:g} or above"
    if any(a.capacity < task.effort for a in online):
        return f"effort {task.effort:g} exceeds the capacity of every agent with the required skills"
    return "no single agent has all the required skills: " + ", ".join(f"{s} >= {lv:g}" for s, lv in task.required)


def build(
    tasks: Sequence[TaskSpec],
    agents: Sequence[AgentView],
    strengths: Mapping[tuple[str, str], float],
    avoid: Mapping[str, Collection[str]] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """cost, resource, remaining capacity, eligibility (vectorised over agents x tasks x skills). ``avoid``:
    task id -> agents that failed it, whose cost for it is AVOID_FACTOR times higher (still eligible)."""
    m, n = len(agents), len(tasks)
    skills = sorted({s for t in tasks for s, _ in t.required})
    col = {s: k for k, s in enumerate(skills)}
    # -1: the agent lacks the skill (rows built as lists: numpy item assignment is far slower)
    levels = np.array([[a.skills.get(s, -1.0) for s in skills] for a in agents], dtype=float).reshape(m, len(skills))
    need = np.full((n, len(skills)), -np.inf)  # -inf: not required
    for j, t in enumerate(tasks):
        for s, lv in t.required:
            need[j, col[s]] = lv
    required = np.isfinite(need)
    effort = np.array([t.effort for t in tasks], dtype=float)
    total = np.array([a.capacity for a in agents], dtype=float)
    load = np.array([a.load for a in agents], dtype=float)
    online = np.array([not a.offline for a in agents], dtype=bool)
    qualified = (levels[:, None, :] >= need[None, :, :]).all(axis=2) if skills else np.ones((m, n), dtype=bool)
    eligible = qualified & online[:, None] & (effort[None, :] <= total[:, None])
    n_required = required.sum(axis=1)
    fit = np.maximum(levels, 0.0) @ required.T.astype(float) / np.maximum(n_required, 1)[None, :]
    fit[:, n_required == 0] = 0.5
    load_term = 1.0 + np.divide(load, total, out=np.zeros(m), where=total > 0)
    trail = np.ones((m, n))
    if strengths:
        agent_row = {a.agent_id: i for i, a in enumerate(agents)}
        type_cols: dict[str, list[int]] = {}
        for j, t in enumerate(tasks):
            type_cols.setdefault(t.task_type, []).append(j)
        # gathered per task type, then set with one fancy assignment each (not one per pair)
        by_type: dict[str, tuple[list[int], list[float]]] = {t: ([], []) for t in type_cols}
        for (agent_id, task_type), strength in strengths.items():
            i = agent_row.get(agent_id)
            gathered = by_type.get(task_type)
            if i is not None and gathered is not None:
                gathered[0].append(i)
                gathered[1].append(strength)
        for task_type, (rows, values) in by_type.items():
            if rows:
                trail[np.ix_(rows, type_cols[task_type])] = np.array(values, dtype=float)[:, None]
    priority = np.array([t.priority for t in tasks], dtype=float)
    cost = 100.0 * (1.5 - fit) * load_term[:, None] / trail**ALPHA / (1.0 + priority)[None, :]
    if avoid:
        agent_row = {a.agent_id: i for i, a in enumerate(agents)}
        for j, t in enumerate(tasks):
            rows = [agent_row[a] for a in avoid.get(t.task_id, ()) if a in agent_row]
            if rows:
                cost[rows, j] *= AVOID_FACTOR
    resource = np.broadcast_to(effort, (m, n)).copy()
    capacity = np.maximum(0.0, total - load)
    return cost, resource, capacity, eligible


def plan(
    tasks: Sequence[TaskSpec],
    agents: Sequence[AgentView],
    strengths: Mapping[tuple[str, str], float],
    *,
    strategy: str = "auto",
    level: str = "balanced",
    seed: int | None = None,
    avoid: Mapping[str, Collection[str]] | None = None,
    budget_ms: float | None = None,
) -> Plan:
    """``budget_ms``: the solver's time budget instead of the level's."""
    if strategy not in STRATEGIES:
        raise InvalidArgument(f"strategy {strategy!r} is not one of {', '.join(STRATEGIES)}")
    if level not in LEVEL_BUDGET_MS:
        raise InvalidArgument(f"level {level!r} is not one of {', '.join(LEVEL_BUDGET_MS)}")
    cost, resource, capacity, eligible = build(tasks, agents, strengths, avoid)
    if not agents:
        return Plan(
            [],
            [(t.task_id, why_no_agent(t, agents)) for t in tasks],
            0.0,
            0.0,
            0.0,
            "none",
            0.0,
            True,
        )
    sol = solver.solve(
        cost,
        resource,
        capacity,
        strategy=strategy,
        time_limit_ms=LEVEL_BUDGET_MS[level] if budget_ms is None else budget_ms,
        seed=seed,
        eligible=eligible,
    )
    assigned = []
    unassigned = []
    short = 0
    for j, t in enumerate(tasks):
        i = int(sol.assignment[j])
        if i >= 0:
            assigned.append((t.task_id, agents[i].agent_id, round(float(cost[i, j]), 6)))
        elif not eligible[:, j].any():
            unassigned.append((t.task_id, why_no_agent(t, agents)))
        else:
            short += 1
            n_ok = int(eligible[:, j].sum())
            unassigned.append(
                (
                    t.task_id,
                    f"capacity exhausted: the {n_ok} eligible agent(s) have no room left for effort {t.effort:g}",
                )
            )
    # the solver's bound is on the penalised cost; for solutions that leave the same number of tasks
    # unassigned (the solver maximises that number first) it bounds the plain cost minus the penalties
    lower = max(0.0, sol.bound - short * sol.penalty) if short else sol.bound
    return Plan(
        assigned,
        unassigned,
        float(sol.objective),
        float(lower),
        float(max(0.0, sol.gap)),
        sol.algorithm,
        float(sol.elapsed_ms),
        bool(sol.optimal),
    )
