"""Statements on agents that several PostgreSQL stores run inside their own transactions."""

from __future__ import annotations

import asyncpg

from services.memory.state import unregistered

# the same, as the first common table expressions of a larger statement ($1 the agent, $2 now): ``SELECT (SELECT
# count(*) FROM seen)`` is 0 for an agent not registered, ``(SELECT silent_since FROM old) IS NOT NULL`` came_back
TOUCH_CTES = (
    "old AS (SELECT silent_since FROM agents WHERE agent_id = $1), "
    "seen AS (UPDATE agents SET last_seen = $2, silent_since = NULL WHERE agent_id = $1 RETURNING 1)"
)
FOUND_AND_CAME_BACK = "(SELECT count(*) FROM seen) > 0, (SELECT silent_since FROM old) IS NOT NULL"


async def touch_agent(conn: asyncpg.Connection, agent_id: str, now: float) -> bool:
    """The agent showed life: it is seen now and no longer silent (one statement). True when it was silent
    (placement may use it again). The renewal of what it holds (task leases, leases) belongs here too once the
    queue and the leases are on PostgreSQL, as the SQLite engine's ``work_sql.touch_agent`` does."""
    found, came_back = await conn.fetchrow(f"WITH {TOUCH_CTES} SELECT {FOUND_AND_CAME_BACK}", agent_id, now)
    if not found:
        raise unregistered(agent_id)
    return bool(came_back)
