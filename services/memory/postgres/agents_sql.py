"""Statements on agents that several PostgreSQL stores run inside their own transactions."""

from __future__ import annotations

import asyncpg

from services.memory.state import unregistered

TRAIL_COLUMNS = "agent_id, task_type, strength, updated_at, successes, failures"  # an agent's trail for a task type

# the renewal of an agent's ($1) task leases at $2 and of the leases granted for those tasks: CTEs of one statement
RENEW = (
    "w AS (UPDATE work SET lease_expires_at = $2 + lease_s WHERE agent_id = $1 AND state IN ('placed', 'running') "
    "RETURNING task_id, lease_expires_at), "
    "l AS (UPDATE leases SET renewed_at = $2, expires_at = w.lease_expires_at FROM w WHERE leases.task_id = w.task_id "
    "AND leases.agent_id = $1 AND leases.ended_at IS NULL AND leases.expires_at > $2)"
)


# the agent's touch as the first common table expressions of a larger statement ($1 the agent, $2 now): it is seen,
# no longer silent, and the tasks it holds are renewed with the leases granted for them (as the work queue's
# ``touch_agent``: any call of an agent renews its leases). ``SELECT (SELECT count(*) FROM seen)`` is 0 for an agent
# not registered, ``(SELECT silent_since FROM old) IS NOT NULL`` came_back
TOUCH_CTES = (
    "old AS (SELECT silent_since FROM agents WHERE agent_id = $1), "
    "seen AS (UPDATE agents SET last_seen = $2, silent_since = NULL WHERE agent_id = $1 RETURNING 1), " + RENEW
)
FOUND_AND_CAME_BACK = "(SELECT count(*) FROM seen) > 0, (SELECT silent_since FROM old) IS NOT NULL"


async def touch_agent(conn: asyncpg.Connection, agent_id: str, now: float) -> bool:
    """The agent showed life: it is seen now, no longer silent, and what it holds is renewed (one statement). True
    when it was silent (placement may use it again)."""
    found, came_back = await conn.fetchrow(f"WITH {TOUCH_CTES} SELECT {FOUND_AND_CAME_BACK}", agent_id, now)
    if not found:
        raise unregistered(agent_id)
    return bool(came_back)
