"""Proposals and votes kept for the consensus service: storage only, no tallying.

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
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from common.consensus_status import CLOSED_STATUSES, STATUSES
from common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from common.validation import check_id
from services.memory.store import MemoryStore

MAX_BALLOT_BYTES = 64 * 1024
MAX_RESULT_BYTES = 4 * 1024 * 1024
MAX_LIST = 1000

_COLUMNS = "proposal_id, spec, status, created_at, deadline, closed_at, result, revision, vote_count"


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


def _proposal(row: Sequence[Any], votes: tuple[StoredVote, ...] = ()) -> StoredProposal:
    pid, spec, status, created, deadline, closed, result, revision, count = row
    return StoredProposal(pid, spec, status, created, deadline, closed or 0.0, result, revision, count, votes)


def _check_json(kind: str, text: str, limit: int) -> None:
    if len(text.encode()) > limit:
        raise InvalidArgument(f"{kind} is over {limit} bytes")
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidArgument(f"{kind} is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise InvalidArgument(f"{kind} must be a JSON object")


@dataclass
class ProposalStore:
    """Proposal and vote operations on top of the memory engine's writer and readers."""

    store: MemoryStore

    # ------------------------------------------------------------------ helpers (run on engine threads)

    @staticmethod
    def _load(conn: sqlite3.Connection, proposal_id: str, *, votes: bool) -> StoredProposal:
        row = conn.execute(f"SELECT {_COLUMNS} FROM proposals WHERE proposal_id = ?", (proposal_id,)).fetchone()
        if row is None:
            raise NotFound(f"no proposal {proposal_id!r}: check the id (consensus_propose returns it)")
        if not votes:
            return _proposal(row)
        cast = tuple(
            StoredVote(*r)
            for r in conn.execute(
                "SELECT voter, ballot, cast_at, revision FROM votes WHERE proposal_id = ? ORDER BY seq",
                (proposal_id,),
            )
        )
        return _proposal(row, cast)

    # ------------------------------------------------------------------ operations

    async def create(self, proposal_id: str, spec_json: str, deadline: float, request_id: str = "") -> StoredProposal:
        check_id("proposal_id", proposal_id)
        _check_json("spec_json", spec_json, self.store.max_value_bytes)
        if not math.isfinite(deadline) or deadline <= 0:
            raise InvalidArgument(f"deadline={deadline}: give unix seconds in the future")

        def apply(conn: sqlite3.Connection) -> StoredProposal:
            now = self.store.clock()
            if deadline <= now:
                raise InvalidArgument(f"deadline {deadline:.3f} is already past (now {now:.3f})")
            if conn.execute("SELECT 1 FROM proposals WHERE proposal_id = ?", (proposal_id,)).fetchone():
                raise AlreadyExists(f"proposal {proposal_id!r} already exists: choose another id")
            conn.execute(
                "INSERT INTO proposals (proposal_id, spec, status, created_at, deadline, result, revision, vote_count) "
                "VALUES (?, ?, 'open', ?, ?, '', 0, 0)",
                (proposal_id, spec_json, now, deadline),
            )
            return self._load(conn, proposal_id, votes=False)

        return await self.store.write(
            apply, method="CreateProposal", request_id=request_id, decode=StoredProposal.from_dict
        )

    async def get(self, proposal_id: str) -> StoredProposal:
        check_id("proposal_id", proposal_id)
        return await self.store.read(lambda conn: self._load(conn, proposal_id, votes=True))

    async def list(self, status: str = "", after: str = "", limit: int = 0) -> tuple[list[StoredProposal], str]:
        if status and status not in STATUSES:
            raise InvalidArgument(f"status {status!r} is not one of {', '.join(STATUSES)}")
        if limit < 0 or limit > MAX_LIST:
            raise InvalidArgument(f"limit={limit}: give 1-{MAX_LIST} (0 means 100)")
        n = limit or 100

        def read(conn: sqlite3.Connection) -> tuple[list[StoredProposal], str]:
            sql, params = f"SELECT {_COLUMNS} FROM proposals WHERE proposal_id > ?", [after]
            if status:
                sql += " AND status = ?"
                params.append(status)
            rows = conn.execute(sql + " ORDER BY proposal_id LIMIT ?", [*params, n + 1]).fetchall()
            found = [_proposal(r) for r in rows[:n]]
            return found, (found[-1].proposal_id if len(rows) > n else "")

        return await self.store.read(read)

    async def put_vote(self, proposal_id: str, voter: str, ballot_json: str, request_id: str = "") -> PutVoteResult:
        check_id("proposal_id", proposal_id)
        check_id("voter", voter)
        _check_json("ballot_json", ballot_json, MAX_BALLOT_BYTES)

        def apply(conn: sqlite3.Connection) -> PutVoteResult:
            now = self.store.clock()
            row = conn.execute(
                "SELECT status, deadline, revision FROM proposals WHERE proposal_id = ?", (proposal_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"no proposal {proposal_id!r}: check the id (consensus_propose returns it)")
            status, deadline, revision = row
            if status != "open":
                raise FailedPrecondition(f"proposal {proposal_id!r} is closed ({status}): votes are no longer taken")
            if now >= deadline:
                raise FailedPrecondition(f"proposal {proposal_id!r} reached its deadline: votes are no longer taken")
            seq = revision + 1
            prior = conn.execute(
                "SELECT revision FROM votes WHERE proposal_id = ? AND voter = ?", (proposal_id, voter)
            ).fetchone()
            times = (prior[0] if prior else 0) + 1
            conn.execute(
                "INSERT INTO votes (proposal_id, voter, ballot, cast_at, revision, seq) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (proposal_id, voter) DO UPDATE SET ballot = excluded.ballot, cast_at = excluded.cast_at, "
                "revision = excluded.revision, seq = excluded.seq",
                (proposal_id, voter, ballot_json, now, times, seq),
            )
            conn.execute(
                "UPDATE proposals SET revision = ?, vote_count = vote_count + ? WHERE proposal_id = ?",
                (seq, 0 if prior else 1, proposal_id),
            )
            vote = StoredVote(voter, ballot_json, now, times)
            return PutVoteResult(vote, prior is not None, False, self._load(conn, proposal_id, votes=True))

        def encode(result: PutVoteResult) -> dict[str, Any]:
            return {"vote": asdict(result.vote), "replaced": result.replaced}  # the snapshot is not kept

        def decode(payload: dict[str, Any]) -> PutVoteResult:
            return PutVoteResult(StoredVote(**payload["vote"]), payload["replaced"], True, None)

        return await self.store.write(apply, method="PutVote", request_id=request_id, encode=encode, decode=decode)

    async def close(self, proposal_id: str, status: str, result_json: str, if_revision: int) -> CloseResult:
        check_id("proposal_id", proposal_id)
        if status not in CLOSED_STATUSES:
            raise InvalidArgument(f"status {status!r}: a proposal closes as one of {', '.join(CLOSED_STATUSES)}")
        _check_json("result_json", result_json, MAX_RESULT_BYTES)
        if if_revision < 0:
            raise InvalidArgument(f"if_revision={if_revision}: give the revision the result was computed from")

        def apply(conn: sqlite3.Connection) -> CloseResult:
            cur = conn.execute(
                "UPDATE proposals SET status = ?, result = ?, closed_at = ? "
                "WHERE proposal_id = ? AND status = 'open' AND revision = ?",
                (status, result_json, self.store.clock(), proposal_id, if_revision),
            )
            return CloseResult(cur.rowcount == 1, self._load(conn, proposal_id, votes=True))

        return await self.store.write(apply, method="CloseProposal")
