"""Statements on agents that several PostgreSQL stores run inside their own transactions."""

from __future__ import annotations

import asyncpg

from services.memory.state import unregistered


async def touch_agent(conn: asyncpg.Connection, agent_id: str, now: float) -> bool:
    """The agent showed life: it is seen now and no longer silent (one statement). True when it was silent
    (placement may use it again). The renewal of what it holds (task leases, leases) belongs here too once the
    queue and the leases are on PostgreSQL, as the SQLite engine's ``work_sql.touch_agent`` does."""
    was_silent = await conn.fetchval(
        "WITH old AS (SELECT silent_since FROM agents WHERE agent_id = $1) "
        "UPDATE agents SET last_seen = $2, silent_since = NULL WHERE agent_id = $1 "
        "RETURNING (SELECT silent_since FROM old) IS NOT NULL",
        agent_id,
        now,
    )
    if was_silent is None:
        raise unregistered(agent_id)
    return bool(was_silent)
