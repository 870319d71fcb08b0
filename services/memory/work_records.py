"""The records of the work queue as the engine answers them: a task with its state and attempts, a report's
outcome, a placement view; engine-neutral (no database types), JSON both ways for applied request ids."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.memory.lease_records import LeaseRec
from services.memory.shallow import shallow_dict
from services.memory.state import Agent, Trail
from services.memory.work_rules import Spec


@dataclass(frozen=True)
class AttemptRec:
    attempt: int
    agent_id: str
    placed_at: float
    started_at: float | None
    ended_at: float | None
    outcome: str  # placed | running | succeeded | failed | expired | cancelled
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return shallow_dict(self)


@dataclass(frozen=True)
class TaskRec:
    spec: Spec
    state: str
    agent_id: str | None
    attempt: int
    reason: str
    progress: str
    result_json: str | None
    submitted_at: float
    updated_at: float
    lease_expires_at: float | None
    ended_at: float | None
    excluded: tuple[str, ...] = ()
    attempts: tuple[AttemptRec, ...] = ()
    leases: tuple[LeaseRec, ...] = ()  # placed / running: the leases granted for it (spec.leases), with tokens

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TaskRec:
        return cls(
            **{
                **d,
                "spec": Spec.from_dict(d["spec"]),
                "excluded": tuple(d["excluded"]),
                "attempts": tuple(AttemptRec(**a) for a in d["attempts"]),
                "leases": tuple(LeaseRec.from_dict(x) for x in d.get("leases", ())),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """What ``asdict`` gives for it (the same JSON, read back by ``from_dict``), without its recursive copy
        (``asdict`` was ~5 % of the work queue's CPU per task)."""
        return {
            **shallow_dict(self),
            "spec": self.spec.to_dict(),
            "excluded": list(self.excluded),
            "attempts": [a.to_dict() for a in self.attempts],
            "leases": [x.to_dict() for x in self.leases],
        }


@dataclass(frozen=True)
class Work:
    """A task an agent takes, with the results of the tasks it depends on."""

    task: TaskRec
    dependencies: tuple[tuple[str, str], ...]  # (task id, result JSON)


@dataclass(frozen=True)
class NextResult:
    work: tuple[Work, ...]
    cancelled: tuple[tuple[str, str], ...]  # (task id, reason): held by this agent, cancelled since
    held: tuple[Work, ...]  # what the agent took earlier and has not reported yet (in case its answer was lost)
    waited_s: float = 0.0


@dataclass(frozen=True)
class Report:
    """One report of an agent on a task of the queue."""

    task_id: str
    agent_id: str
    kind: str  # success | failure | progress
    result_json: str = ""
    error: str = ""
    progress: str = ""
    quality: float = 1.0
    duration_s: float = 0.0
    deposit: float = 1.0
    evaporation: float = 0.2
    task_type: str = ""  # a task_assign outcome of a task this server did not assign


@dataclass(frozen=True)
class ReportOutcome:
    task: TaskRec | None  # None: not a task of the queue (a task_assign outcome)
    trail: Trail | None
    ready: tuple[str, ...] = ()
    cancelled: tuple[str, ...] = ()
    repeated: bool = False
    task_was_open: bool = False

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReportOutcome:
        return cls(
            task=TaskRec.from_dict(d["task"]) if d["task"] else None,
            trail=Trail.from_dict(d["trail"]) if d["trail"] else None,
            ready=tuple(d["ready"]),
            cancelled=tuple(d["cancelled"]),
            repeated=d["repeated"],
            task_was_open=d["task_was_open"],
        )


@dataclass(frozen=True)
class PlacementView:
    queued: list[TaskRec]
    agents: list[Agent]
    trails: list[Trail]
    half_life_s: float
    revision: int
    waiting: list[tuple[str, str]] = field(default_factory=list)  # (task id, why): queued, its leases not free


@dataclass(frozen=True)
class PlaceResult:
    placed: list[tuple[str, str, float]] = field(default_factory=list)  # (task id, agent id, cost)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (task id, why)


@dataclass(frozen=True)
class CancelResult:
    cancelled: list[str]
    dependents: list[str]
    unchanged: list[TaskRec]


@dataclass(frozen=True)
class RequeueResult:
    requeued: list[str]
    restored: list[str]  # dependents cancelled because a requeued task died, blocked again
    unchanged: list[TaskRec]  # not dead
