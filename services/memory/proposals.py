"""Proposals and votes kept for the consensus service, whatever engine holds them: their records and input
rules; storage only, no tallying.

A proposal's rules are an opaque JSON document (``spec_json``) the consensus service writes and reads.
Memory enforces what keeps the record consistent under concurrency:

* a vote is written only while the proposal is open and before its deadline; a voter's later vote replaces
  the earlier one; every vote write bumps the proposal's ``revision``;
* a proposal is closed once: ``close`` is a conditional update on ``status = 'open'`` and on the revision the
  caller tallied, so a vote that lands between the tally and the close is never left out of the result.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from common.consensus_status import CLOSED_STATUSES, STATUSES
from common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from common.validation import check_id

MAX_BALLOT_BYTES = 64 * 1024
MAX_RESULT_BYTES = 4 * 1024 * 1024
MAX_LIST = 1000


@dataclass(frozen=True)
class StoredVote:
    voter: str
    ballot_json: str
    cast_at: float
    revision: int


@dataclass(frozen=True)
class StoredProposal:
    proposal_id: str
    spec_json: str
    status: str
    created_at: float
    deadline: float
    closed_at: float
    result_json: str
    revision: int
    vote_count: int
    votes: tuple[StoredVote, ...] = ()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StoredProposal:
        return cls(**{**d, "votes": tuple(StoredVote(**v) for v in d.get("votes", ()))})


@dataclass(frozen=True)
class PutVoteResult:
    vote: StoredVote
    replaced: bool
    repeated: bool = False
    proposal: StoredProposal | None = None  # right after the vote; None for a repeated request id


@dataclass(frozen=True)
class CloseResult:
    closed: bool
    proposal: StoredProposal


def check_json(kind: str, text: str, limit: int) -> None:
    """``text`` is a JSON object of at most ``limit`` bytes."""
    if len(text.encode()) > limit:
        raise InvalidArgument(f"{kind} is over {limit} bytes")
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidArgument(f"{kind} is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise InvalidArgument(f"{kind} must be a JSON object")


def check_create(proposal_id: str, spec_json: str, deadline: float, max_spec_bytes: int) -> None:
    """A new proposal (whether its deadline is still ahead is checked at the write, against the engine's clock)."""
    check_id("proposal_id", proposal_id)
    check_json("spec_json", spec_json, max_spec_bytes)
    if not math.isfinite(deadline) or deadline <= 0:
        raise InvalidArgument(f"deadline={deadline}: give unix seconds in the future")


def check_list(status: str, limit: int) -> int:
    """The arguments of a proposal listing; returns the page size."""
    if status and status not in STATUSES:
        raise InvalidArgument(f"status {status!r} is not one of {', '.join(STATUSES)}")
    if limit < 0 or limit > MAX_LIST:
        raise InvalidArgument(f"limit={limit}: give 1-{MAX_LIST} (0 means 100)")
    return limit or 100


def check_vote(proposal_id: str, voter: str, ballot_json: str) -> None:
    check_id("proposal_id", proposal_id)
    check_id("voter", voter)
    check_json("ballot_json", ballot_json, MAX_BALLOT_BYTES)


def check_close(proposal_id: str, status: str, result_json: str, if_revision: int) -> None:
    check_id("proposal_id", proposal_id)
    if status not in CLOSED_STATUSES:
        raise InvalidArgument(f"status {status!r}: a proposal closes as one of {', '.join(CLOSED_STATUSES)}")
    check_json("result_json", result_json, MAX_RESULT_BYTES)
    if if_revision < 0:
        raise InvalidArgument(f"if_revision={if_revision}: give the revision the result was computed from")


# ---------------------------------------------------------------------- rows and rules shared by the engines


def proposal_of(row: Sequence[Any], votes: tuple[StoredVote, ...] = ()) -> StoredProposal:
    """A proposal from (proposal_id, spec, status, created_at, deadline, closed_at, result, revision, vote_count)."""
    pid, spec, status, created, deadline, closed, result, revision, count = row
    return StoredProposal(pid, spec, status, created, deadline, closed or 0.0, result, revision, count, votes)


def unknown_proposal(proposal_id: str) -> NotFound:
    return NotFound(f"no proposal {proposal_id!r}: check the id (consensus_propose returns it)")


def check_new(proposal_id: str, deadline: float, now: float, exists: bool) -> None:
    """At the write: the deadline is still ahead and the id is free."""
    if deadline <= now:
        raise InvalidArgument(f"deadline {deadline:.3f} is already past (now {now:.3f})")
    if exists:
        raise AlreadyExists(f"proposal {proposal_id!r} already exists: choose another id")


def check_votable(proposal_id: str, status: str, deadline: float, now: float) -> None:
    """At the write: the proposal still takes votes."""
    if status != "open":
        raise FailedPrecondition(f"proposal {proposal_id!r} is closed ({status}): votes are no longer taken")
    if now >= deadline:
        raise FailedPrecondition(f"proposal {proposal_id!r} reached its deadline: votes are no longer taken")


def vote_json(result: PutVoteResult) -> dict[str, Any]:
    """A vote's answer as it is remembered under its request id (the snapshot is not kept)."""
    return {"vote": asdict(result.vote), "replaced": result.replaced}


def vote_from_json(payload: dict[str, Any]) -> PutVoteResult:
    return PutVoteResult(StoredVote(**payload["vote"]), payload["replaced"], True, None)
