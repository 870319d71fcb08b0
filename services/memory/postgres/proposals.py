"""Proposals and votes on PostgreSQL (the rules and records are services/memory/proposals.py's)."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from common.validation import check_id
from services.memory.postgres.engine import PgEngine
from services.memory.postgres.notify import Topic
from services.memory.proposals import (
    CloseResult,
    PutVoteResult,
    StoredProposal,
    StoredVote,
    check_close,
    check_create,
    check_list,
    check_new,
    check_votable,
    check_vote,
    proposal_of,
    unknown_proposal,
    vote_from_json,
    vote_json,
)

_COLUMNS = "proposal_id, spec, status, created_at, deadline, closed_at, result, revision, vote_count"


@dataclass
class PgProposalStore:
    """Proposal and vote operations on top of the PostgreSQL engine."""

    engine: PgEngine
    max_value_bytes: int = 1024 * 1024  # the limit of a proposal's spec_json, as of an entry's value
    # proposals that changed on any replica: published in the committing transaction, woken here after it
    changes: Topic = field(init=False)

    def __post_init__(self) -> None:
        self.changes = self.engine.notifier.topic("proposals")

    @staticmethod
    async def _load(conn: asyncpg.Connection, proposal_id: str, *, votes: bool) -> StoredProposal:
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM proposals WHERE proposal_id = $1", proposal_id)
        if row is None:
            raise unknown_proposal(proposal_id)
        if not votes:
            return proposal_of(row)
        cast = await conn.fetch(
            "SELECT voter, ballot, cast_at, revision FROM votes WHERE proposal_id = $1 ORDER BY seq", proposal_id
        )
        return proposal_of(row, tuple(StoredVote(*r) for r in cast))

    async def create(self, proposal_id: str, spec_json: str, deadline: float, request_id: str = "") -> StoredProposal:
        check_create(proposal_id, spec_json, deadline, self.max_value_bytes)

        async def apply(conn: asyncpg.Connection) -> StoredProposal:
            now = self.engine.clock()
            row = await conn.fetchrow(
                "INSERT INTO proposals (proposal_id, spec, status, created_at, deadline, result, revision, "
                "vote_count) VALUES ($1, $2, 'open', $3, $4, '', 0, 0) ON CONFLICT (proposal_id) DO NOTHING "
                f"RETURNING {_COLUMNS}",
                proposal_id,
                spec_json,
                now,
                deadline,
            )
            check_new(proposal_id, deadline, now, row is None)
            return proposal_of(row)

        return await self.engine.write(
            apply, method="CreateProposal", request_id=request_id, decode=StoredProposal.from_dict
        )

    async def get(self, proposal_id: str) -> StoredProposal:
        check_id("proposal_id", proposal_id)
        return await self.engine.read(lambda conn: self._load(conn, proposal_id, votes=True), snapshot=True)

    async def list(self, status: str = "", after: str = "", limit: int = 0) -> tuple[list[StoredProposal], str]:
        n = check_list(status, limit)

        async def read(conn: asyncpg.Connection) -> tuple[list[StoredProposal], str]:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM proposals WHERE proposal_id > $1 AND ($2 = '' OR status = $2) "
                "ORDER BY proposal_id LIMIT $3",
                after,
                status,
                n + 1,
            )
            found = [proposal_of(r) for r in rows[:n]]
            return found, (found[-1].proposal_id if len(rows) > n else "")

        return await self.engine.read(read)

    async def put_vote(self, proposal_id: str, voter: str, ballot_json: str, request_id: str = "") -> PutVoteResult:
        check_vote(proposal_id, voter, ballot_json)

        async def apply(conn: asyncpg.Connection) -> PutVoteResult:
            now = self.engine.clock()
            row = await conn.fetchrow(
                "SELECT status, deadline, revision FROM proposals WHERE proposal_id = $1 FOR UPDATE", proposal_id
            )
            if row is None:
                raise unknown_proposal(proposal_id)
            status, deadline, revision = row
            check_votable(proposal_id, status, deadline, now)
            seq = revision + 1
            prior = await conn.fetchval(
                "SELECT revision FROM votes WHERE proposal_id = $1 AND voter = $2", proposal_id, voter
            )
            times = (prior or 0) + 1
            await conn.execute(
                "INSERT INTO votes (proposal_id, voter, ballot, cast_at, revision, seq) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (proposal_id, voter) DO UPDATE SET "
                "ballot = excluded.ballot, cast_at = excluded.cast_at, revision = excluded.revision, "
                "seq = excluded.seq",
                proposal_id,
                voter,
                ballot_json,
                now,
                times,
                seq,
            )
            await conn.execute(
                "UPDATE proposals SET revision = $1, vote_count = vote_count + $2 WHERE proposal_id = $3",
                seq,
                0 if prior is not None else 1,
                proposal_id,
            )
            vote = StoredVote(voter, ballot_json, now, times)
            await self.changes.publish(conn, [proposal_id])
            return PutVoteResult(vote, prior is not None, False, await self._load(conn, proposal_id, votes=True))

        result = await self.engine.write(
            apply, method="PutVote", request_id=request_id, encode=vote_json, decode=vote_from_json
        )
        if not result.repeated:
            self.changes.wake([proposal_id])
        return result

    async def close(self, proposal_id: str, status: str, result_json: str, if_revision: int) -> CloseResult:
        check_close(proposal_id, status, result_json, if_revision)

        async def apply(conn: asyncpg.Connection) -> CloseResult:
            done = await conn.fetchval(
                "UPDATE proposals SET status = $1, result = $2, closed_at = $3 "
                "WHERE proposal_id = $4 AND status = 'open' AND revision = $5 RETURNING true",
                status,
                result_json,
                self.engine.clock(),
                proposal_id,
                if_revision,
            )
            if done:
                await self.changes.publish(conn, [proposal_id])
            return CloseResult(bool(done), await self._load(conn, proposal_id, votes=True))

        result = await self.engine.write(apply, method="CloseProposal")
        if result.closed:
            self.changes.wake([proposal_id])
        return result
