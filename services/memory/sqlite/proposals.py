"""Proposals and votes in SQLite, on the engine's writer and readers (the rules and records are
services/memory/proposals.py's)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from common.validation import check_id
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
from services.memory.sqlite.engine import SqliteEngine
from services.memory.wakeups import KeyedWakeups

_COLUMNS = "proposal_id, spec, status, created_at, deadline, closed_at, result, revision, vote_count"


@dataclass
class SqliteProposalStore:
    """Proposal and vote operations on top of the memory engine's writer and readers."""

    engine: SqliteEngine
    max_value_bytes: int = 1024 * 1024  # the limit of a proposal's spec_json, as of an entry's value
    changes: KeyedWakeups = field(default_factory=KeyedWakeups)  # proposals that changed, woken after the commit

    # ------------------------------------------------------------------ helpers (run on engine threads)

    @staticmethod
    def _load(conn: sqlite3.Connection, proposal_id: str, *, votes: bool) -> StoredProposal:
        row = conn.execute(f"SELECT {_COLUMNS} FROM proposals WHERE proposal_id = ?", (proposal_id,)).fetchone()
        if row is None:
            raise unknown_proposal(proposal_id)
        if not votes:
            return proposal_of(row)
        cast = tuple(
            StoredVote(*r)
            for r in conn.execute(
                "SELECT voter, ballot, cast_at, revision FROM votes WHERE proposal_id = ? ORDER BY seq",
                (proposal_id,),
            )
        )
        return proposal_of(row, cast)

    # ------------------------------------------------------------------ operations

    async def create(self, proposal_id: str, spec_json: str, deadline: float, request_id: str = "") -> StoredProposal:
        check_create(proposal_id, spec_json, deadline, self.max_value_bytes)

        def apply(conn: sqlite3.Connection) -> StoredProposal:
            now = self.engine.clock()
            exists = conn.execute("SELECT 1 FROM proposals WHERE proposal_id = ?", (proposal_id,)).fetchone()
            check_new(proposal_id, deadline, now, exists is not None)
            conn.execute(
                "INSERT INTO proposals (proposal_id, spec, status, created_at, deadline, result, revision, vote_count) "
                "VALUES (?, ?, 'open', ?, ?, '', 0, 0)",
                (proposal_id, spec_json, now, deadline),
            )
            return self._load(conn, proposal_id, votes=False)

        return await self.engine.write(
            apply, method="CreateProposal", request_id=request_id, decode=StoredProposal.from_dict
        )

    async def get(self, proposal_id: str) -> StoredProposal:
        check_id("proposal_id", proposal_id)
        return await self.engine.read(lambda conn: self._load(conn, proposal_id, votes=True))

    async def list(self, status: str = "", after: str = "", limit: int = 0) -> tuple[list[StoredProposal], str]:
        n = check_list(status, limit)

        def read(conn: sqlite3.Connection) -> tuple[list[StoredProposal], str]:
            sql, params = f"SELECT {_COLUMNS} FROM proposals WHERE proposal_id > ?", [after]
            if status:
                sql += " AND status = ?"
                params.append(status)
            rows = conn.execute(sql + " ORDER BY proposal_id LIMIT ?", [*params, n + 1]).fetchall()
            found = [proposal_of(r) for r in rows[:n]]
            return found, (found[-1].proposal_id if len(rows) > n else "")

        return await self.engine.read(read)

    async def put_vote(self, proposal_id: str, voter: str, ballot_json: str, request_id: str = "") -> PutVoteResult:
        check_vote(proposal_id, voter, ballot_json)

        def apply(conn: sqlite3.Connection) -> PutVoteResult:
            now = self.engine.clock()
            row = conn.execute(
                "SELECT status, deadline, revision FROM proposals WHERE proposal_id = ?", (proposal_id,)
            ).fetchone()
            if row is None:
                raise unknown_proposal(proposal_id)
            status, deadline, revision = row
            check_votable(proposal_id, status, deadline, now)
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

        result = await self.engine.write(
            apply, method="PutVote", request_id=request_id, encode=vote_json, decode=vote_from_json
        )
        if not result.repeated:
            self.changes.wake([proposal_id])
        return result

    async def close(self, proposal_id: str, status: str, result_json: str, if_revision: int) -> CloseResult:
        check_close(proposal_id, status, result_json, if_revision)

        def apply(conn: sqlite3.Connection) -> CloseResult:
            cur = conn.execute(
                "UPDATE proposals SET status = ?, result = ?, closed_at = ? "
                "WHERE proposal_id = ? AND status = 'open' AND revision = ?",
                (status, result_json, self.engine.clock(), proposal_id, if_revision),
            )
            return CloseResult(cur.rowcount == 1, self._load(conn, proposal_id, votes=True))

        result = await self.engine.write(apply, method="CloseProposal")
        if result.closed:
            self.changes.wake([proposal_id])
        return result
