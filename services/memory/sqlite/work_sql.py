"""The SQL of the work queue on SQLite: each function is one step inside the writer's (or a reader's)
transaction; the caller (services/memory/work.py) composes them into one job and wakes waiters after it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from common.errors import NotFound
from services.memory import lease_rules
from services.memory.lease_records import LeaseRec
from services.memory.sqlite import leases_sql
from services.memory.work_records import AttemptRec, TaskRec
from services.memory.work_rows import (
    ATTEMPT_COLUMNS,
    COLUMNS,
    HELD_COLUMNS,
    QUEUED_COLUMNS,
    after_failure,
    attempts_of,
    brief,
    counts_of,
    cursor_of,
    first_state,
    held_of,
    leases_of,
    not_yours,
    queued_of,
    refusal_to_place,
    requeued_spec,
    row_of,
    task_of,
    topological,
    uncursor,
    wanted,
)
from services.memory.work_rules import HELD, OPEN, Spec

__all__ = ["brief", "topological"]


def _attempts(conn: sqlite3.Connection, task_id: str) -> tuple[AttemptRec, ...]:
    rows = conn.execute(f"SELECT {ATTEMPT_COLUMNS} FROM work_attempts WHERE task_id = ? ORDER BY attempt", (task_id,))
    return attempts_of(rows.fetchall())


def _granted(conn: sqlite3.Connection, row: Sequence[Any]) -> tuple[LeaseRec, ...]:
    """The leases granted for the task of a COLUMNS row: only a placed or running task has any (every end of an
    attempt ends them), so no other is looked up."""
    return tuple(leases_sql.of_task(conn, row[0])) if row[2] in HELD else ()


def load_task(conn: sqlite3.Connection, task_id: str) -> TaskRec:
    row = conn.execute(f"SELECT {COLUMNS} FROM work WHERE task_id = ?", (task_id,)).fetchone()
    if row is None:
        raise NotFound(f"no task {task_id!r} in the work queue")
    return task_of(row, _attempts(conn, task_id), _granted(conn, row))


# ---------------------------------------------------------------------- submit


def dependency_states(conn: sqlite3.Connection, deps: Sequence[str]) -> dict[str, str]:
    if not deps:
        return {}
    marks = ",".join("?" * len(deps))
    return dict(conn.execute(f"SELECT task_id, state FROM work WHERE task_id IN ({marks})", list(deps)))


def insert_task(conn: sqlite3.Connection, spec: Spec, dep_states: dict[str, str], now: float) -> None:
    state, reason, ended, pending = first_state(spec, dep_states, now)
    conn.execute(
        "INSERT INTO work (task_id, spec, digest, task_type, skills, priority, effort, lease_s, max_attempts, state, "
        "pending_deps, reason, submitted_at, updated_at, ended_at, leases) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*row_of(spec), state, pending, reason, now, now, ended, leases_of(spec)),
    )
    conn.executemany(
        "INSERT INTO work_deps (depends_on, task_id) VALUES (?, ?)", [(d, spec.task_id) for d in spec.depends_on]
    )


# ---------------------------------------------------------------------- placement


def queued_tasks(conn: sqlite3.Connection, limit: int) -> list[TaskRec]:
    """The queued tasks, highest priority first, with only what placement needs (not their description or
    payload, which may be large)."""
    rows = conn.execute(
        f"SELECT {QUEUED_COLUMNS} FROM work WHERE state = 'queued' ORDER BY priority DESC, submitted_at, task_id "
        "LIMIT ?",
        (limit,),
    )
    return [queued_of(r) for r in rows]


def waits_for_leases(conn: sqlite3.Connection) -> bool:
    """Whether some queued task needs leases (the end of a lease may let it be placed)."""
    return conn.execute("SELECT 1 FROM work WHERE state = 'queued' AND leases != '' LIMIT 1").fetchone() is not None


def lease_blocked(conn: sqlite3.Connection, tasks: Sequence[TaskRec], now: float) -> dict[str, str]:
    """Of these queued tasks, those whose leases are not free now, and why (the same words while nothing changes)."""
    needing = [t for t in tasks if t.spec.leases]
    if not needing:
        return {}
    live = leases_sql.live(conn, now)
    blocked = {}
    for t in needing:
        found = lease_rules.task_conflicts(t.spec.leases, live)
        if found:
            blocked[t.spec.task_id] = lease_rules.waiting_for(found)
    return blocked


def free_capacity(conn: sqlite3.Connection) -> float:
    """The capacity left on every online agent together (0: a placement round has nothing to place on)."""
    row = conn.execute(
        "SELECT COALESCE(SUM(MAX(0, a.capacity - COALESCE((SELECT SUM(t.effort) FROM tasks t "
        "WHERE t.agent_id = a.agent_id AND t.status = 'open'), 0))), 0) FROM agents a "
        "WHERE a.offline = 0 AND a.silent_since IS NULL"
    ).fetchone()
    return float(row[0])


def _agent_room(conn: sqlite3.Connection, agent_id: str) -> tuple[float, bool] | None:
    """(free capacity, online) of an agent, or None if it is not registered."""
    row = conn.execute(
        "SELECT a.capacity - COALESCE((SELECT SUM(t.effort) FROM tasks t WHERE t.agent_id = a.agent_id "
        "AND t.status = 'open'), 0), a.offline = 0 AND a.silent_since IS NULL FROM agents a WHERE a.agent_id = ?",
        (agent_id,),
    ).fetchone()
    return (row[0], bool(row[1])) if row else None


def place(
    conn: sqlite3.Connection, placements: Iterable[tuple[str, str, float]], now: float
) -> tuple[list[list[Any]], list[list[str]], float | None]:
    """Apply each placement whose task is still queued and whose agent is online with room: the task is placed
    under a lease and its effort joins the agent's load. Returns (placed, refused, earliest new lease)."""
    placed: list[list[Any]] = []
    refused: list[list[str]] = []
    room: dict[str, tuple[float, bool] | None] = {}
    earliest: float | None = None
    for task_id, agent_id, cost in placements:
        row = conn.execute(
            "SELECT state, effort, lease_s, attempt, task_type, leases FROM work WHERE task_id = ?", (task_id,)
        ).fetchone()
        state, effort, lease_s, attempt, task_type, leases = row or (None, 0.0, 0.0, 0, "", "")
        if agent_id not in room:
            room[agent_id] = _agent_room(conn, agent_id)
        why = refusal_to_place(state, effort, agent_id, room[agent_id])
        if why:
            refused.append([task_id, why])
            continue
        free = room[agent_id]
        assert free is not None
        asked = wanted(leases)
        found = lease_rules.task_conflicts(asked, leases_sql.live(conn, now)) if asked else []
        if found:  # taken since the view was read (by another task of this round, say): it waits for them
            why = lease_rules.waiting_for(found)
            note_unplaced(conn, [(task_id, why)], now)
            refused.append([task_id, why])
            continue
        room[agent_id] = (free[0] - effort, True)
        expires = now + lease_s
        for resource, exclusive in asked:
            leases_sql.grant(conn, agent_id, resource, exclusive, f"task {task_id}", now, expires, task_id)
        earliest = expires if earliest is None else min(earliest, expires)
        conn.execute(
            "UPDATE work SET state = 'placed', agent_id = ?, attempt = ?, reason = '', progress = '', "
            "lease_expires_at = ?, updated_at = ? WHERE task_id = ?",
            (agent_id, attempt + 1, expires, now, task_id),
        )
        conn.execute(
            "INSERT INTO work_attempts (task_id, attempt, agent_id, placed_at, outcome) VALUES (?, ?, ?, ?, 'placed')",
            (task_id, attempt + 1, agent_id, now),
        )
        conn.execute(
            "INSERT INTO tasks (task_id, agent_id, task_type, effort, status, assigned_at) "
            "VALUES (?, ?, ?, ?, 'open', ?) ON CONFLICT (task_id) DO UPDATE SET agent_id = excluded.agent_id, "
            "task_type = excluded.task_type, "
            "effort = excluded.effort, status = 'open', assigned_at = excluded.assigned_at, closed_at = NULL, "
            "success = NULL, quality = NULL, duration_s = NULL",
            (task_id, agent_id, task_type, effort, now),
        )
        placed.append([task_id, agent_id, cost])
    return placed, refused, earliest


def note_unplaced(conn: sqlite3.Connection, unplaced: Iterable[tuple[str, str]], now: float) -> None:
    conn.executemany(
        "UPDATE work SET reason = ?, updated_at = ? WHERE task_id = ? AND state = 'queued' AND reason != ?",
        [(why, now, task_id, why) for task_id, why in unplaced],
    )


# ---------------------------------------------------------------------- agents


def exists(conn: sqlite3.Connection, task_id: str) -> bool:
    return conn.execute("SELECT 1 FROM work WHERE task_id = ?", (task_id,)).fetchone() is not None


def agent_exists(conn: sqlite3.Connection, agent_id: str) -> bool:
    return conn.execute("SELECT 1 FROM agents WHERE agent_id = ?", (agent_id,)).fetchone() is not None


def touch_agent(conn: sqlite3.Connection, agent_id: str, now: float) -> bool:
    """The agent showed life: it is seen now, no longer silent, and every lease it holds is renewed. True
    when it was silent (placement may now use it again)."""
    row = conn.execute("SELECT silent_since FROM agents WHERE agent_id = ?", (agent_id,)).fetchone()
    if row is None:
        raise NotFound(f"no agent {agent_id!r}: register it first (agent_register)")
    conn.execute("UPDATE agents SET last_seen = ?, silent_since = NULL WHERE agent_id = ?", (now, agent_id))
    renew_leases(conn, agent_id, now)
    return row[0] is not None


def renew_leases(conn: sqlite3.Connection, agent_id: str, now: float) -> None:
    conn.execute(
        "UPDATE work SET lease_expires_at = ? + lease_s WHERE agent_id = ? AND state IN ('placed', 'running')",
        (now, agent_id),
    )
    leases_sql.follow_tasks(conn, agent_id, now)


def release_agent(conn: sqlite3.Connection, agent_id: str, now: float) -> list[str]:
    """The agent was removed: each task it held ends that attempt (``released``) and goes back to the queue
    (or ``dead`` after its last attempt). Returns the tasks."""
    rows = conn.execute(
        "SELECT task_id, attempt FROM work WHERE agent_id = ? AND state IN ('placed', 'running') ORDER BY task_id",
        (agent_id,),
    ).fetchall()
    for task_id, attempt in rows:
        close_ledger(conn, task_id, "released", now)
        fail_attempt(conn, task_id, attempt, "released", f"agent {agent_id} was removed", now)
    return [r[0] for r in rows]


def take(conn: sqlite3.Connection, agent_id: str, limit: int, now: float) -> list[str]:
    """The agent's placed tasks (highest priority first, at most ``limit``) start running."""
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT task_id FROM work WHERE agent_id = ? AND state = 'placed' ORDER BY priority DESC, submitted_at, "
            "task_id LIMIT ?",
            (agent_id, limit),
        )
    ]
    for task_id in ids:
        conn.execute("UPDATE work SET state = 'running', updated_at = ? WHERE task_id = ?", (now, task_id))
        conn.execute(
            "UPDATE work_attempts SET started_at = ?, outcome = 'running' WHERE task_id = ? AND attempt = "
            "(SELECT attempt FROM work WHERE task_id = ?)",
            (now, task_id, task_id),
        )
    return ids


def held_brief(conn: sqlite3.Connection, agent_id: str, exclude: Sequence[str], limit: int) -> list[TaskRec]:
    """The tasks the agent runs (taken earlier, not reported): id, type, attempt and lease only."""
    rows = conn.execute(
        f"SELECT {HELD_COLUMNS} FROM work WHERE agent_id = ? AND state = 'running' ORDER BY task_id LIMIT ?",
        (agent_id, limit + len(exclude)),
    ).fetchall()
    return held_of(rows, agent_id, exclude, limit)


def shortest_lease(conn: sqlite3.Connection, agent_id: str) -> float | None:
    """The shortest lease_s of the tasks the agent holds (None: it holds none)."""
    return conn.execute(
        "SELECT MIN(lease_s) FROM work WHERE agent_id = ? AND state IN ('placed', 'running')", (agent_id,)
    ).fetchone()[0]


def held_by(conn: sqlite3.Connection, agent_id: str, exclude: Sequence[str] = ()) -> list[str]:
    rows = conn.execute(
        "SELECT task_id FROM work WHERE agent_id = ? AND state = 'running' ORDER BY task_id", (agent_id,)
    )
    return [r[0] for r in rows if r[0] not in exclude]


def dependency_results(conn: sqlite3.Connection, task_id: str) -> list[list[str]]:
    rows = conn.execute(
        "SELECT w.task_id, w.result FROM work_deps d JOIN work w ON w.task_id = d.depends_on "
        "WHERE d.task_id = ? ORDER BY w.task_id",
        (task_id,),
    )
    return [[dep, result or "null"] for dep, result in rows]


def take_notices(conn: sqlite3.Connection, agent_id: str) -> list[list[str]]:
    rows = conn.execute(
        "SELECT task_id, reason FROM work WHERE notify_agent = ? ORDER BY task_id", (agent_id,)
    ).fetchall()
    if rows:
        conn.execute("UPDATE work SET notify_agent = NULL WHERE notify_agent = ?", (agent_id,))
    return [list(r) for r in rows]


def notified_agents(conn: sqlite3.Connection, task_ids: Sequence[str]) -> list[str]:
    marks = ",".join("?" * len(task_ids))
    rows = conn.execute(
        f"SELECT DISTINCT notify_agent FROM work WHERE notify_agent IS NOT NULL AND task_id IN ({marks})",
        list(task_ids),
    )
    return [r[0] for r in rows]


# ---------------------------------------------------------------------- reports


def first_answer(conn: sqlite3.Connection, task_id: str, agent_id: str, kind: str) -> str | None:
    row = conn.execute(
        "SELECT report FROM work_attempts WHERE task_id = ? AND agent_id = ? AND report_kind = ? "
        "ORDER BY attempt DESC LIMIT 1",
        (task_id, agent_id, kind),
    ).fetchone()
    return row[0] if row else None


def keep_answer(conn: sqlite3.Connection, task_id: str, attempt: int, kind: str, answer: str) -> None:
    """The answer of the report that ended ``attempt``, for a repeat of that report (kept without the task's
    description and payload: ``brief``)."""
    conn.execute(
        "UPDATE work_attempts SET report = ?, report_kind = ? WHERE task_id = ? AND attempt = ?",
        (answer, kind, task_id, attempt),
    )


def why_not_yours(
    conn: sqlite3.Connection, task_id: str, agent_id: str, state: str, holder: str | None, attempt: int, now: float
) -> str:
    """Why ``agent_id`` may not report on ``task_id`` now (nothing is changed by such a report)."""
    reason = conn.execute("SELECT reason FROM work WHERE task_id = ?", (task_id,)).fetchone()[0]
    mine = conn.execute(
        "SELECT attempt, outcome, error FROM work_attempts WHERE task_id = ? AND agent_id = ? ORDER BY attempt DESC "
        "LIMIT 1",
        (task_id, agent_id),
    ).fetchone()
    return not_yours(task_id, agent_id, state, holder, reason, mine)


def progress(conn: sqlite3.Connection, task_id: str, agent_id: str, note: str, now: float) -> None:
    conn.execute(
        "UPDATE work SET progress = ?, updated_at = ? WHERE task_id = ? AND agent_id = ?",
        (note, now, task_id, agent_id),
    )


def close_ledger(
    conn: sqlite3.Connection, task_id: str, status: str, now: float, quality: float | None = None, duration: float = 0
) -> None:
    """The attempt's hold ends: the task's effort leaves its agent's load (the open row of the assignment ledger is
    closed) and the leases granted for it end."""
    leases_sql.end_for_task(conn, task_id, now)
    success = {"succeeded": 1, "failed": 0}.get(status)
    conn.execute(
        "UPDATE tasks SET status = ?, closed_at = ?, success = ?, quality = ?, duration_s = ? "
        "WHERE task_id = ? AND status = 'open'",
        (status, now, success, quality, duration, task_id),
    )


def finish(conn: sqlite3.Connection, task_id: str, attempt: int, result_json: str, now: float) -> list[str]:
    """The task is done with ``result_json``; returns the dependents that became ready (queued)."""
    conn.execute(
        "UPDATE work SET state = 'done', result = ?, reason = '', lease_expires_at = NULL, ended_at = ?, "
        "updated_at = ? WHERE task_id = ?",
        (result_json, now, now, task_id),
    )
    conn.execute(
        "UPDATE work_attempts SET ended_at = ?, outcome = 'succeeded' WHERE task_id = ? AND attempt = ?",
        (now, task_id, attempt),
    )
    rows = conn.execute(  # one statement: each blocked dependent counts one dependency less, queued at the last
        "UPDATE work SET pending_deps = pending_deps - 1, updated_at = ?, "
        "state = CASE WHEN pending_deps <= 1 THEN 'queued' ELSE state END "
        "WHERE state = 'blocked' AND task_id IN (SELECT task_id FROM work_deps WHERE depends_on = ?) "
        "RETURNING task_id, state",
        (now, task_id),
    ).fetchall()
    return sorted(r[0] for r in rows if r[1] == "queued")


def fail_attempt(
    conn: sqlite3.Connection, task_id: str, attempt: int, outcome: str, error: str, now: float
) -> list[str]:
    """The attempt ended without success (``failed`` or ``expired``): the task goes back to the queue, avoiding
    the agent, or ends ``dead`` after its last attempt (its dependents cancelled: returned)."""
    agent, excluded, max_attempts = conn.execute(
        "SELECT agent_id, excluded, max_attempts FROM work WHERE task_id = ?", (task_id,)
    ).fetchone()
    conn.execute(
        "UPDATE work_attempts SET ended_at = ?, outcome = ?, error = ? WHERE task_id = ? AND attempt = ?",
        (now, outcome, error, task_id, attempt),
    )
    dead, reason, avoid = after_failure(agent, excluded, attempt, max_attempts, outcome, error)
    if dead:
        conn.execute(
            "UPDATE work SET state = 'dead', reason = ?, lease_expires_at = NULL, excluded = ?, ended_at = ?, "
            "updated_at = ? WHERE task_id = ?",
            (reason, avoid, now, now, task_id),
        )
        return cancel_dependents(conn, [task_id], "is dead", "", now)
    conn.execute(
        "UPDATE work SET state = 'queued', agent_id = NULL, reason = ?, progress = '', lease_expires_at = NULL, "
        "excluded = ?, updated_at = ? WHERE task_id = ?",
        (reason, avoid, now, task_id),
    )
    return []


def cancel_one(conn: sqlite3.Connection, task_id: str, why: str, now: float) -> None:
    state, agent, attempt = conn.execute(
        "SELECT state, agent_id, attempt FROM work WHERE task_id = ?", (task_id,)
    ).fetchone()
    held = state in HELD
    if held:
        conn.execute(
            "UPDATE work_attempts SET ended_at = ?, outcome = 'cancelled', error = ? WHERE task_id = ? AND attempt = ?",
            (now, why, task_id, attempt),
        )
        close_ledger(conn, task_id, "released", now)
    conn.execute(
        "UPDATE work SET state = 'cancelled', reason = ?, lease_expires_at = NULL, ended_at = ?, updated_at = ?, "
        "notify_agent = ? WHERE task_id = ?",
        (why, now, now, agent if held else None, task_id),
    )


def cancel_dependents(conn: sqlite3.Connection, roots: Sequence[str], verb: str, why: str, now: float) -> list[str]:
    """Every task that depends, directly or not, on one of ``roots`` and has not ended is cancelled, with the
    reason "dependency X <verb>: <why>"."""
    cancelled: list[str] = []
    frontier = [(root, root) for root in roots]
    while frontier:
        nxt: list[tuple[str, str]] = []
        for task_id, root in frontier:
            rows = conn.execute(
                "SELECT w.task_id, w.state FROM work_deps d JOIN work w ON w.task_id = d.task_id "
                "WHERE d.depends_on = ? ORDER BY w.task_id",
                (task_id,),
            ).fetchall()
            for dependent, state in rows:
                if state in OPEN:
                    cancel_one(conn, dependent, f"dependency {root} {verb}" + (f": {why}" if why else ""), now)
                    cancelled.append(dependent)
                    nxt.append((dependent, root))
        frontier = nxt
    return cancelled


def requeue_dead(conn: sqlite3.Connection, task_ids: Sequence[str], why: str, now: float) -> list[str]:
    """Each dead task gets one more attempt (its max_attempts one above the attempts it had) and is queued again,
    still avoiding the agents that failed it; the tasks cancelled because it died (reason "dependency X is dead",
    at any depth) are blocked again unless another of their dependencies has ended without success. Returns those."""
    for task_id in task_ids:
        spec_json, attempt = conn.execute("SELECT spec, attempt FROM work WHERE task_id = ?", (task_id,)).fetchone()
        respec, allowed = requeued_spec(spec_json, attempt)
        conn.execute(
            "UPDATE work SET state = 'queued', spec = ?, max_attempts = ?, reason = ?, ended_at = NULL, "
            "updated_at = ? WHERE task_id = ? AND state = 'dead'",
            (respec, allowed, why, now, task_id),
        )
    marks = ",".join("?" * len(task_ids))
    candidates = [
        r[0]
        for r in conn.execute(
            f"SELECT task_id FROM work WHERE state = 'cancelled' AND reason IN ({marks}) ORDER BY task_id",
            [f"dependency {t} is dead" for t in task_ids],
        )
    ]
    restored: list[str] = []
    changed = True
    while changed:  # a dependent comes back once every dependency of it is open or done again
        changed = False
        for task_id in [c for c in candidates if c not in restored]:
            ended = conn.execute(
                "SELECT COUNT(*) FROM work_deps d JOIN work w ON w.task_id = d.depends_on "
                "WHERE d.task_id = ? AND w.state IN ('dead', 'cancelled')",
                (task_id,),
            ).fetchone()[0]
            if not ended:
                conn.execute(
                    "UPDATE work SET state = 'blocked', reason = '', ended_at = NULL, updated_at = ? WHERE task_id = ?",
                    (now, task_id),
                )
                restored.append(task_id)
                changed = True
    return restored


# ---------------------------------------------------------------------- background


def expire(conn: sqlite3.Connection, now: float) -> list[str]:
    """Every held task whose lease ran out: the attempt ends ``expired``, the agent is marked silent (offline
    until it shows life again). Returns the agents, once per expired attempt."""
    rows = conn.execute(
        "SELECT w.task_id, w.agent_id, w.attempt, a.last_seen FROM work w "
        "LEFT JOIN agents a ON a.agent_id = w.agent_id "
        "WHERE w.state IN ('placed', 'running') AND w.lease_expires_at <= ? ORDER BY w.lease_expires_at",
        (now,),
    ).fetchall()
    for task_id, agent, attempt, last_seen in rows:
        silent = now - last_seen if last_seen is not None else 0.0
        conn.execute("UPDATE agents SET silent_since = COALESCE(silent_since, ?) WHERE agent_id = ?", (now, agent))
        leases_sql.revoke_holder(conn, agent, now)  # an agent marked offline loses its leases
        close_ledger(conn, task_id, "released", now)
        fail_attempt(conn, task_id, attempt, "expired", f"lease expired: agent {agent} silent for {silent:.0f} s", now)
    return [r[1] for r in rows]


def next_expiry(conn: sqlite3.Connection) -> float | None:
    return conn.execute("SELECT MIN(lease_expires_at) FROM work WHERE lease_expires_at IS NOT NULL").fetchone()[0]


def purge(conn: sqlite3.Connection, cutoff: float) -> int:
    conn.execute(
        "DELETE FROM work_attempts WHERE task_id IN (SELECT task_id FROM work WHERE ended_at IS NOT NULL AND "
        "ended_at < ?)",
        (cutoff,),
    )
    conn.execute(
        "DELETE FROM work_deps WHERE task_id IN (SELECT task_id FROM work WHERE ended_at IS NOT NULL AND ended_at < ?)",
        (cutoff,),
    )
    return conn.execute("DELETE FROM work WHERE ended_at IS NOT NULL AND ended_at < ?", (cutoff,)).rowcount


# ---------------------------------------------------------------------- listing


def list_tasks(
    conn: sqlite3.Connection,
    states: Sequence[str],
    agent_id: str,
    task_ids: Sequence[str],
    task_type: str,
    limit: int,
    cursor: str,
    full: bool,
) -> tuple[list[TaskRec], dict[str, int], str]:
    sql, params = f"SELECT {COLUMNS} FROM work WHERE 1=1", []
    if states:
        sql += f" AND state IN ({','.join('?' * len(states))})"
        params += list(states)
    if agent_id:
        sql += " AND agent_id = ?"
        params.append(agent_id)
    if task_ids:
        sql += f" AND task_id IN ({','.join('?' * len(task_ids))})"
        params += list(task_ids)
    if task_type:
        sql += " AND task_type = ?"
        params.append(task_type)
    if cursor:
        sql += " AND (submitted_at, task_id) > (?, ?)"
        params += uncursor(cursor)
    rows = conn.execute(sql + " ORDER BY submitted_at, task_id LIMIT ?", [*params, limit + 1]).fetchall()
    more = len(rows) > limit
    tasks = [task_of(r, _attempts(conn, r[0]), _granted(conn, r)) for r in rows[:limit]]
    if not full:
        tasks = [brief(t) for t in tasks]
    counts = counts_of(conn.execute("SELECT state, COUNT(*) FROM work GROUP BY state").fetchall())
    last = rows[limit - 1] if more else None
    return tasks, counts, cursor_of([last[8], last[0]]) if last else ""
