"""Swarm state kept for the stateless services, whatever engine holds it: agents, open tasks (their load),
pheromone trails; their records, input rules and the trail model.

Trails use lazy decay: a row holds the strength at the moment it was last touched; the strength at
time t is computed on read, ``1 + (s - 1) * 0.5 ** ((t - updated_at) / half_life)``, so a trail fades
back to neutral (1.0) without any periodic bulk update. A success adds ``deposit * quality``; a
failure keeps ``1 - evaporation`` of the strength. Strengths stay within [TRAIL_MIN, TRAIL_MAX]
(Max-Min Ant System bounds), so no agent is ever locked in or locked out for good.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound
from common.validation import check_id, check_level, check_name, check_positive
from services.memory.message_rules import check_topics
from services.memory.shallow import shallow_dict

TRAIL_NEUTRAL = 1.0
TRAIL_MIN = 0.1
TRAIL_MAX = 5.0
MAX_SKILLS = 64
MAX_METADATA_BYTES = 64 * 1024
STATUSES = ("idle", "busy", "offline")


def decayed(strength: float, updated_at: float, now: float, half_life: float) -> float:
    age = now - updated_at
    if age <= 0:
        return strength
    return TRAIL_NEUTRAL + (strength - TRAIL_NEUTRAL) * 0.5 ** (age / half_life)


@dataclass(frozen=True)
class AgentSpec:
    agent_id: str
    skills: Mapping[str, float]
    capacity: float
    metadata_json: str = "{}"
    offline: bool = False
    weight: float = 1.0
    topics: tuple[str, ...] | None = None  # the topics it subscribes to (messages); None: keep the current ones


@dataclass(frozen=True)
class Agent:
    agent_id: str
    skills: dict[str, float]
    capacity: float
    metadata_json: str
    status: str
    load: float
    open_tasks: int
    registered_at: float
    last_seen: float
    weight: float
    topics: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Agent:
        return cls(**{**d, "topics": tuple(d.get("topics", ()))})


@dataclass(frozen=True)
class Assignment:
    task_id: str
    agent_id: str
    task_type: str
    effort: float


@dataclass(frozen=True)
class Outcome:
    task_id: str
    agent_id: str
    success: bool
    quality: float
    duration_s: float = 0.0
    task_type: str = ""
    deposit: float = 1.0
    evaporation: float = 0.5


@dataclass(frozen=True)
class Trail:
    agent_id: str
    task_type: str
    strength: float
    updated_at: float
    successes: int
    failures: int
    raw_strength: float

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trail:
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return shallow_dict(self)


@dataclass(frozen=True)
class ReportResult:
    trail: Trail
    task_was_open: bool

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReportResult:
        return cls(Trail.from_dict(d["trail"]), d["task_was_open"])


def reinforced(strength: float, outcome: Outcome, ceiling: float = TRAIL_MAX) -> float:
    """A trail's strength after ``outcome``: a success deposits, a failure evaporates, within the bounds
    (``ceiling`` other than TRAIL_MAX only for an offline study of the bound: bench/bench_policy_sim.py)."""
    if outcome.success:
        return min(ceiling, strength + outcome.deposit * outcome.quality)
    return max(TRAIL_MIN, strength * (1.0 - outcome.evaporation))


def check_agent(spec: AgentSpec) -> AgentSpec:
    """The agent as stored: skills and capacity checked, metadata a compact JSON object, weight 1 by default."""
    check_id("agent_id", spec.agent_id)
    if len(spec.skills) > MAX_SKILLS:
        raise InvalidArgument(f"{len(spec.skills)} skills given: at most {MAX_SKILLS}")
    skills = {check_name("skill", k): check_level(f"skill {k!r} level", v) for k, v in spec.skills.items()}
    capacity = check_positive("capacity", spec.capacity)
    meta = spec.metadata_json or "{}"
    if len(meta.encode()) > MAX_METADATA_BYTES:
        raise InvalidArgument(f"metadata is over {MAX_METADATA_BYTES} bytes: keep it small")
    try:
        parsed = json.loads(meta)
    except (ValueError, RecursionError):
        raise InvalidArgument("metadata is not valid JSON: give a JSON object") from None
    if not isinstance(parsed, dict):
        raise InvalidArgument('metadata must be a JSON object (e.g. {"model": "..."})')
    weight = spec.weight or 1.0
    if not math.isfinite(weight) or weight < 0 or weight > 1e6:
        raise InvalidArgument(f"weight={spec.weight}: give a positive number (default 1)")
    topics = None if spec.topics is None else check_topics(spec.topics)
    meta_json = json.dumps(parsed, separators=(",", ":"))
    return AgentSpec(spec.agent_id, skills, capacity, meta_json, spec.offline, weight, topics)


def check_agent_filter(agent_ids: Sequence[str], skill: str, min_level: float, status: str) -> None:
    """The arguments of an agent listing."""
    for a in agent_ids:
        check_id("agent_id", a)
    if skill:
        check_name("skill", skill)
    check_level("min_level", min_level)
    if status and status not in STATUSES:
        raise InvalidArgument(f"status {status!r} is not one of {', '.join(STATUSES)}")


def check_assignments(assignments: Sequence[Assignment]) -> None:
    """A batch of assignments to record: at least one, each task once."""
    if not assignments:
        raise InvalidArgument("no assignments to record")
    seen: set[str] = set()
    for a in assignments:
        check_id("task_id", a.task_id)
        check_id("agent_id", a.agent_id)
        check_name("task type", a.task_type)
        check_positive("effort", a.effort)
        if a.task_id in seen:
            raise InvalidArgument(f"task {a.task_id!r} appears twice in one batch")
        seen.add(a.task_id)


def check_outcome(outcome: Outcome) -> None:
    """An outcome to report (whether its task and agent exist is the engine's to tell)."""
    check_id("task_id", outcome.task_id)
    check_id("agent_id", outcome.agent_id)
    check_level("quality", outcome.quality)
    if not math.isfinite(outcome.duration_s) or outcome.duration_s < 0:
        raise InvalidArgument(f"duration_s={outcome.duration_s}: give 0 or a positive number of seconds")
    if outcome.task_type:
        check_name("task type", outcome.task_type)
    check_positive("deposit", outcome.deposit, TRAIL_MAX)
    check_level("evaporation", outcome.evaporation)


def check_trail_filter(agent_ids: Sequence[str], task_types: Sequence[str], limit: int) -> int:
    """The arguments of a trail read; returns how many trails it answers at most."""
    for a in agent_ids:
        check_id("agent_id", a)
    for t in task_types:
        check_name("task type", t)
    if limit < 0 or limit > 10_000:
        raise InvalidArgument(f"limit={limit}: give 1-10000 (0 means 100)")
    return limit or 100


# ---------------------------------------------------------------------- rows and rules shared by the engines


def agent_of(row: Sequence[Any]) -> Agent:
    """An agent from (agent_id, skills JSON, capacity, metadata JSON, offline, registered_at, last_seen, weight,
    load, open tasks): the columns every engine reads an agent with."""
    agent_id, skills, capacity, metadata, offline, registered, seen, weight, load, n_open = row
    status = "offline" if offline else ("busy" if n_open else "idle")
    return Agent(agent_id, json.loads(skills), capacity, metadata, status, load, n_open, registered, seen, weight)


def filter_agents(agents: list[Agent], skill: str, min_level: float, status: str) -> list[Agent]:
    if skill:
        agents = [a for a in agents if a.skills.get(skill, -1.0) >= min_level]
    if status:
        agents = [a for a in agents if a.status == status]
    return agents


def trail_of(row: Sequence[Any], now: float, half_life_s: float) -> Trail:
    """A trail from (agent_id, task_type, strength, updated_at, successes, failures), its decay applied at ``now``."""
    agent_id, task_type, strength, updated, successes, failures = row
    return Trail(
        agent_id, task_type, decayed(strength, updated, now, half_life_s), updated, successes, failures, strength
    )


def strongest(trails: list[Trail], n: int) -> list[Trail]:
    """The ``n`` strongest trails, ties by agent and task type."""
    trails.sort(key=lambda t: (-t.strength, t.agent_id, t.task_type))
    return trails[:n]


def moved_trail(
    row: Sequence[Any] | None, agent_id: str, task_type: str, outcome: Outcome, now: float, half_life_s: float
) -> Trail:
    """The (agent, task type) trail after ``outcome`` (a success deposits, a failure evaporates), from its row (None:
    a new trail, neutral), with its counts."""
    current = trail_of(row, now, half_life_s).strength if row else TRAIL_NEUTRAL
    successes, failures = (row[4], row[5]) if row else (0, 0)
    strength = reinforced(current, outcome)
    if outcome.success:
        successes += 1
    else:
        failures += 1
    return Trail(agent_id, task_type, strength, now, successes, failures, strength)


def check_open_elsewhere(task_id: str, holder: str | None) -> None:
    """A task still open with ``holder`` is not assigned again."""
    if holder is not None:
        raise FailedPrecondition(
            f"task {task_id!r} is still open with agent {holder!r}: report its outcome before assigning it again"
        )


def check_room(agent_id: str, agent: Agent | None, effort: float) -> None:
    """The agent an assignment records ``effort`` on still exists, is online and has room for it."""
    if agent is None:
        raise FailedPrecondition(f"agent {agent_id!r} is no longer registered")
    if agent.status == "offline":
        raise FailedPrecondition(f"agent {agent_id!r} went offline")
    if agent.load + effort > agent.capacity + 1e-9:
        raise Aborted(
            f"agent {agent_id!r} has {agent.capacity - agent.load:g} capacity left, not {effort:g}: "
            "its load changed since the assignment was computed"
        )


def reported_task(outcome: Outcome, task: Sequence[Any] | None) -> tuple[str, bool]:
    """The task type an outcome moves the trail of, and whether its task was open, from the task's (agent_id,
    task_type, status) (None: never assigned here)."""
    if task is None:
        if not outcome.task_type:
            raise NotFound(f"no task {outcome.task_id!r} was assigned here: give its task_type to report it anyway")
        return outcome.task_type, False
    holder, task_type, status = task
    if holder != outcome.agent_id:
        raise FailedPrecondition(f"task {outcome.task_id!r} was assigned to {holder!r}, not {outcome.agent_id!r}")
    if outcome.task_type and outcome.task_type != task_type:
        raise InvalidArgument(f"task {outcome.task_id!r} has type {task_type!r}, not {outcome.task_type!r}")
    if status != "open":
        raise FailedPrecondition(f"task {outcome.task_id!r} is already closed ({status}): an outcome is reported once")
    return task_type, True


def unknown_agent(agent_id: str) -> NotFound:
    return NotFound(f"no agent {agent_id!r}: register it first")


def unregistered(agent_id: str) -> NotFound:
    """An agent that acts (sends, reads, takes) without being registered."""
    return NotFound(f"no agent {agent_id!r}: register it first (agent_register)")
