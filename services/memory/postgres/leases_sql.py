"""The SQL of leases on PostgreSQL: each function is one step inside a write's transaction (under the state lock:
postgres/engine.py, ``locked``) or a read; the caller (services/memory/postgres/leases.py, or another store's write,
such as the work queue's expiry) composes them.

A lease is live while ``ended_at IS NULL AND expires_at > now``: expiry is a comparison, not a write. Tokens come
from ``lease_counter.last_token``, one row that only grows (its update also serialises grants against any writer that
did not take the lock); ``revocations`` counts the ends made inside other stores' transactions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import asyncpg

from services.memory.lease_records import LeaseRec
from services.memory.lease_rules import HISTORY_S

COLUMNS = "token, resource, agent_id, exclusive, reason, granted_at, renewed_at, expires_at, ended_at, ended, task_id"
LIVE = "ended_at IS NULL AND expires_at > $1"


def _lease(row: asyncpg.Record) -> LeaseRec:
    return LeaseRec(*row)


async def agent_exists(conn: asyncpg.Connection, agent_id: str) -> bool:
    return await conn.fetchval("SELECT true FROM agents WHERE agent_id = $1", agent_id) is not None


async def live(conn: asyncpg.Connection, now: float, agent_id: str = "") -> list[LeaseRec]:
    """Every live lease (of one agent), by resource then token."""
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM leases WHERE {LIVE} AND ($2 = '' OR agent_id = $2) ORDER BY resource, token",
        now,
        agent_id,
    )
    return [_lease(r) for r in rows]


async def live_of_others(conn: asyncpg.Connection, agent_id: str, now: float, exclusive_only: bool) -> list[LeaseRec]:
    """The live leases of every other agent (only the exclusive ones: all a shared request can conflict with)."""
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM leases WHERE {LIVE} AND agent_id != $2 AND (exclusive OR NOT $3) ORDER BY token",
        now,
        agent_id,
        exclusive_only,
    )
    return [_lease(r) for r in rows]


async def get(conn: asyncpg.Connection, token: int) -> LeaseRec | None:
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM leases WHERE token = $1", token)
    return _lease(row) if row else None


async def latest_on(conn: asyncpg.Connection, agent_id: str, resource: str) -> LeaseRec | None:
    """The agent's most recent lease on exactly ``resource``, live or not."""
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM leases WHERE agent_id = $1 AND resource = $2 ORDER BY token DESC LIMIT 1",
        agent_id,
        resource,
    )
    return _lease(row) if row else None


async def grant(
    conn: asyncpg.Connection,
    agent_id: str,
    resource: str,
    exclusive: bool,
    reason: str,
    now: float,
    expires: float,
    task_id: str = "",
) -> LeaseRec:
    """A new lease with the next token (the caller checked that nothing conflicts): one statement."""
    token = await conn.fetchval(
        "WITH t AS (UPDATE lease_counter SET last_token = last_token + 1 RETURNING last_token) "
        "INSERT INTO leases (token, resource, agent_id, exclusive, reason, granted_at, renewed_at, expires_at, "
        "task_id) SELECT last_token, $1, $2, $3, $4, $5, $5, $6, $7 FROM t RETURNING token",
        resource,
        agent_id,
        exclusive,
        reason,
        now,
        expires,
        task_id,
    )
    return LeaseRec(token, resource, agent_id, exclusive, reason, now, now, expires, task_id=task_id)


async def renew(conn: asyncpg.Connection, held: LeaseRec, reason: str, now: float, expires: float) -> LeaseRec:
    """The same lease (same token), now lasting until ``expires``; a new reason replaces the old one."""
    why = reason or held.reason
    await conn.execute(
        "UPDATE leases SET renewed_at = $1, expires_at = $2, reason = $3 WHERE token = $4",
        now,
        expires,
        why,
        held.token,
    )
    return replace(held, reason=why, renewed_at=now, expires_at=expires)


async def end(conn: asyncpg.Connection, tokens: Sequence[int], how: str, now: float) -> None:
    """The leases end now (``how``: released | replaced)."""
    await conn.execute(
        "UPDATE leases SET ended_at = $1, ended = $2 WHERE token = ANY($3::bigint[]) AND ended_at IS NULL",
        now,
        how,
        list(tokens),
    )


async def _count_revocation(conn: asyncpg.Connection, status: str) -> int:
    n = int(status.rsplit(" ", 1)[-1])
    if n:
        await conn.execute("UPDATE lease_counter SET revocations = revocations + 1")
    return n


async def revoke_holder(conn: asyncpg.Connection, agent_id: str, now: float) -> int:
    """The agent was marked offline (a task lease of it ran out) or removed: every live lease it took by hand ends
    ``revoked`` (those granted for its tasks end with each task). Returns how many ended."""
    status = await conn.execute(
        f"UPDATE leases SET ended_at = $1, ended = 'revoked' WHERE {LIVE} AND agent_id = $2 AND task_id = ''",
        now,
        agent_id,
    )
    return await _count_revocation(conn, status)


async def of_task(conn: asyncpg.Connection, task_id: str) -> list[LeaseRec]:
    """The leases granted for a task's current attempt (they end with it)."""
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM leases WHERE task_id = $1 AND ended_at IS NULL ORDER BY token", task_id
    )
    return [_lease(r) for r in rows]


async def revocations(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT revocations FROM lease_counter")


async def next_expiry(conn: asyncpg.Connection, after: float) -> float | None:
    """The earliest expiry of a live lease later than ``after``."""
    return await conn.fetchval("SELECT min(expires_at) FROM leases WHERE ended_at IS NULL AND expires_at > $1", after)


async def purge(conn: asyncpg.Connection, now: float) -> int:
    """Leases that ended or expired more than HISTORY_S ago are deleted (the engine's periodic purge)."""
    status = await conn.execute(
        "DELETE FROM leases WHERE (ended_at IS NOT NULL AND ended_at < $1) OR (ended_at IS NULL AND expires_at < $1)",
        now - HISTORY_S,
    )
    return int(status.rsplit(" ", 1)[-1])
