"""The records of leases as the engine answers them: a lease, a conflict, the outcome of an acquire and of a
release; engine-neutral (no database types), JSON both ways for applied request ids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.memory.shallow import shallow_dict


@dataclass(frozen=True)
class LeaseRec:
    token: int  # the fencing token; the lease id is lease-<token>
    resource: str
    agent_id: str
    exclusive: bool
    reason: str
    granted_at: float
    renewed_at: float
    expires_at: float
    ended_at: float | None = None
    ended: str = ""  # released | revoked | replaced; '' while live, or expired once expires_at has passed
    task_id: str = ""  # granted for this task of the work queue: it lasts as long as the task's attempt

    def live(self, now: float) -> bool:
        return not self.ended and self.expires_at > now

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LeaseRec:
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return shallow_dict(self)


@dataclass(frozen=True)
class Conflict:
    resource: str  # what was asked for
    held: LeaseRec  # the other agent's lease that overlaps it

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Conflict:
        return cls(d["resource"], LeaseRec.from_dict(d["held"]))


@dataclass(frozen=True)
class AcquireResult:
    granted: bool
    leases: tuple[LeaseRec, ...] = ()  # granted: one per resource asked for, in order
    renewed: tuple[bool, ...] = ()  # per lease: an existing lease renewed (same token) rather than a new grant
    replaced: tuple[int, ...] = ()  # per lease: the token of the agent's lease in the other mode it ended (0: none)
    conflicts: tuple[Conflict, ...] = ()  # refused: what stands in the way
    refusal: str = ""  # refused: who holds what until when
    waited_s: float = 0.0
    now: float = 0.0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AcquireResult:
        return cls(
            granted=d["granted"],
            leases=tuple(LeaseRec.from_dict(x) for x in d["leases"]),
            renewed=tuple(d["renewed"]),
            replaced=tuple(d["replaced"]),
            conflicts=tuple(Conflict.from_dict(x) for x in d["conflicts"]),
            refusal=d["refusal"],
            waited_s=d["waited_s"],
            now=d["now"],
        )


@dataclass(frozen=True)
class ReleaseResult:
    released: tuple[LeaseRec, ...]
    released_at: float

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReleaseResult:
        return cls(tuple(LeaseRec.from_dict(x) for x in d["released"]), d["released_at"])
