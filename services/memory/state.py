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

from common.errors import InvalidArgument
from common.validation import check_id, check_level, check_name, check_positive
from services.memory.message_rules import check_topics

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


@dataclass(frozen=True)
class ReportResult:
    trail: Trail
    task_was_open: bool

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReportResult:
        return cls(Trail.from_dict(d["trail"]), d["task_was_open"])


def reinforced(strength: float, outcome: Outcome) -> float:
    """A trail's strength after ``outcome``: a success deposits, a failure evaporates, within the bounds."""
    if outcome.success:
        return min(TRAIL_MAX, strength + outcome.deposit * outcome.quality)
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
