"""The SQL of leases on SQLite: each function is one step inside the writer's (or a reader's) transaction; the
caller (services/memory/sqlite/leases.py, or another store's job, such as the work queue's expiry) composes them.

A lease is live while ``ended_at IS NULL AND expires_at > now``: expiry is a comparison, not a write, so a lease is
gone at its TTL whether or not any timer ran. Releases, revocations and replacements set ``ended_at``/``ended``.
Tokens come from ``lease_counter.last_token``, which only grows; ``revocations`` counts the revocations made
inside other stores' transactions, so the lease store can tell that some happened."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from services.memory.lease_records import LeaseRec
from services.memory.lease_rules import HISTORY_S

COLUMNS = "token, resource, agent_id, exclusive, reason, granted_at, renewed_at, expires_at, ended_at, ended, task_id"
LIVE = "ended_at IS NULL AND expires_at > ?"


def _lease(row: Sequence[Any]) -> LeaseRec:
    token, resource, agent, exclusive, reason, granted, renewed, expires, ended_at, ended, task = row
    return LeaseRec(token, resource, agent, bool(exclusive), reason, granted, renewed, expires, ended_at, ended, task)


def agent_exists(conn: sqlite3.Connection, agent_id: str) -> bool:
    return conn.execute("SELECT 1 FROM agents WHERE agent_id = ?", (agent_id,)).fetchone() is not None


def live(conn: sqlite3.Connection, now: float, agent_id: str = "") -> list[LeaseRec]:
    """Every live lease (of one agent), by resource then token."""
    sql, params = f"SELECT {COLUMNS} FROM leases WHERE {LIVE}", [now]
    if agent_id:
        sql += " AND agent_id = ?"
        params.append(agent_id)
    return [_lease(r) for r in conn.execute(sql + " ORDER BY resource, token", params)]


def live_of_others(conn: sqlite3.Connection, agent_id: str, now: float, exclusive_only: bool) -> list[LeaseRec]:
    """The live leases of every other agent (only the exclusive ones: all a shared request can conflict with)."""
    sql = f"SELECT {COLUMNS} FROM leases WHERE {LIVE} AND agent_id != ?"
    if exclusive_only:
        sql += " AND exclusive = 1"
    return [_lease(r) for r in conn.execute(sql + " ORDER BY token", (now, agent_id))]


def get(conn: sqlite3.Connection, token: int) -> LeaseRec | None:
    row = conn.execute(f"SELECT {COLUMNS} FROM leases WHERE token = ?", (token,)).fetchone()
    return _lease(row) if row else None


def latest_on(conn: sqlite3.Connection, agent_id: str, resource: str) -> LeaseRec | None:
    """The agent's most recent lease on exactly ``resource``, live or not."""
    row = conn.execute(
        f"SELECT {COLUMNS} FROM leases WHERE agent_id = ? AND resource = ? ORDER BY token DESC LIMIT 1",
        (agent_id, resource),
    ).fetchone()
    return _lease(row) if row else None


def next_token(conn: sqlite3.Connection) -> int:
    return conn.execute("UPDATE lease_counter SET last_token = last_token + 1 RETURNING last_token").fetchone()[0]


def grant(
    conn: sqlite3.Connection,
    agent_id: str,
    resource: str,
    exclusive: bool,
    reason: str,
    now: float,
    expires: float,
    task_id: str = "",
) -> LeaseRec:
    """A new lease with the next token (the caller checked that nothing conflicts)."""
    token = next_token(conn)
    conn.execute(
        "INSERT INTO leases (token, resource, agent_id, exclusive, reason, granted_at, renewed_at, expires_at, "
        "task_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (token, resource, agent_id, int(exclusive), reason, now, now, expires, task_id),
    )
    return LeaseRec(token, resource, agent_id, exclusive, reason, now, now, expires, task_id=task_id)


def renew(conn: sqlite3.Connection, held: LeaseRec, reason: str, now: float, expires: float) -> LeaseRec:
    """The same lease (same token), now lasting until ``expires``; a new reason replaces the old one."""
    why = reason or held.reason
    conn.execute(
        "UPDATE leases SET renewed_at = ?, expires_at = ?, reason = ? WHERE token = ?", (now, expires, why, held.token)
    )
    return replace(held, reason=why, renewed_at=now, expires_at=expires)


def end(conn: sqlite3.Connection, tokens: Sequence[int], how: str, now: float) -> None:
    """The leases end now (``how``: released | replaced)."""
    conn.executemany(
        "UPDATE leases SET ended_at = ?, ended = ? WHERE token = ? AND ended_at IS NULL",
        [(now, how, t) for t in tokens],
    )


def revoke_holder(conn: sqlite3.Connection, agent_id: str, now: float) -> int:
    """The agent was marked offline (a task lease of it ran out) or removed: every live lease it took by hand ends
    ``revoked`` (those granted for its tasks end with each task). Returns how many ended."""
    n = conn.execute(
        f"UPDATE leases SET ended_at = ?, ended = 'revoked' WHERE {LIVE} AND agent_id = ? AND task_id = ''",
        (now, now, agent_id),
    ).rowcount
    if n:
        conn.execute("UPDATE lease_counter SET revocations = revocations + 1")
    return n


def of_task(conn: sqlite3.Connection, task_id: str) -> list[LeaseRec]:
    """The leases granted for a task's current attempt (they end with it)."""
    sql = f"SELECT {COLUMNS} FROM leases WHERE task_id = ? AND ended_at IS NULL ORDER BY token"
    rows = conn.execute(sql, (task_id,))
    return [_lease(r) for r in rows]


def follow_tasks(conn: sqlite3.Connection, agent_id: str, now: float) -> None:
    """The agent's task leases were renewed: the leases granted for those tasks last as long as they do."""
    conn.execute(
        "UPDATE leases SET renewed_at = ?, expires_at = (SELECT w.lease_expires_at FROM work w WHERE w.task_id = "
        f"leases.task_id) WHERE agent_id = ? AND task_id != '' AND {LIVE}",
        (now, agent_id, now),
    )


def end_for_task(conn: sqlite3.Connection, task_id: str, now: float) -> int:
    """The task's attempt ended (reported, failed, expired, cancelled, its agent removed): the leases granted for it
    end ``released``. Counted with the revocations (an end inside another store's transaction), so lease waiters
    hear of it."""
    n = conn.execute(
        "UPDATE leases SET ended_at = ?, ended = 'released' WHERE task_id = ? AND ended_at IS NULL", (now, task_id)
    ).rowcount
    if n:
        conn.execute("UPDATE lease_counter SET revocations = revocations + 1")
    return n


def revocations(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT revocations FROM lease_counter").fetchone()[0]


def next_expiry(conn: sqlite3.Connection, after: float) -> float | None:
    """The earliest expiry of a live lease later than ``after``."""
    return conn.execute(
        "SELECT MIN(expires_at) FROM leases WHERE ended_at IS NULL AND expires_at > ?", (after,)
    ).fetchone()[0]


def purge(conn: sqlite3.Connection, now: float) -> int:
    """Leases that ended or expired more than HISTORY_S ago are deleted (the engine's periodic purge)."""
    cutoff = now - HISTORY_S
    ended = conn.execute("DELETE FROM leases WHERE ended_at IS NOT NULL AND ended_at < ?", (cutoff,)).rowcount
    return ended + conn.execute("DELETE FROM leases WHERE ended_at IS NULL AND expires_at < ?", (cutoff,)).rowcount


def token_high_water(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT last_token FROM lease_counter").fetchone()[0]


def keep_token_high_water(conn: sqlite3.Connection, token: int) -> None:
    """After a restore: the counter never goes below what was granted before it (tokens only grow)."""
    conn.execute("UPDATE lease_counter SET last_token = MAX(last_token, ?)", (token,))
