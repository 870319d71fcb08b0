"""The SQL of the work queue on PostgreSQL: each function is one step inside a write's transaction (under the state
lock: postgres/engine.py, ``locked``) or a read; the caller (services/memory/postgres/work.py, or the state store)
composes them. Rows become records with services/memory/work_rows.py, as on SQLite."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import asyncpg

from common.errors import NotFound
from services.memory import lease_rules
from services.memory.lease_records import LeaseRec
from services.memory.postgres import leases_sql
from services.memory.postgres.agents_sql import FOUND_AND_CAME_BACK, RENEW, TOUCH_CTES, TRAIL_COLUMNS
from services.memory.work_records import TaskRec
from services.memory.work_rows import (
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


def _count(status: str) -> int:
    """The row count of a command's status ("UPDATE 3")."""
    return int(status.rsplit(" ", 1)[-1])


# a task's row with its attempts and its live task leases as JSON arrays: one round trip
TASK_FIELDS = (
    COLUMNS + ", "
    "(SELECT COALESCE(json_agg(json_build_array(attempt, agent_id, placed_at, started_at, ended_at, outcome, error) "
    "ORDER BY attempt), '[]') FROM work_attempts a WHERE a.task_id = w.task_id), "
    "(SELECT COALESCE(json_agg(json_build_array(token, resource, agent_id, exclusive, reason, granted_at, renewed_at, "
    "expires_at, ended_at, ended, task_id) ORDER BY token), '[]') FROM leases l WHERE l.task_id = w.task_id "
    "AND l.ended_at IS NULL)"
)
TASK_SQL = "SELECT " + TASK_FIELDS + " FROM work w WHERE "


def _loaded(row: Sequence[Any], with_leases: bool = True) -> TaskRec:
    """A row of TASK_SQL as a task."""
    values = tuple(row)
    task = task_of(values[:-2], attempts_of(json.loads(values[-2])))
    leases = tuple(LeaseRec(*x) for x in json.loads(row[-1])) if with_leases else ()
    return replace(task, leases=leases)


# the results of a task's (w) dependencies as a JSON array of [dependency, result]
DEPS_SQL = (
    "(SELECT COALESCE(json_agg(json_build_array(dw.task_id, COALESCE(dw.result, 'null')) ORDER BY dw.task_id), '[]') "
    "FROM work_deps d JOIN work dw ON dw.task_id = d.depends_on WHERE d.task_id = w.task_id)"
)


# TASK_SQL with the results of the task's dependencies as one more column
WORK_SQL = "SELECT " + TASK_FIELDS + ", " + DEPS_SQL + " FROM work w WHERE "


async def load_work(conn: asyncpg.Connection, task_ids: Sequence[str]) -> list[tuple[TaskRec, list[list[str]]]]:
    """The tasks (in the order given), each with the results of its dependencies: one round trip."""
    rows = await conn.fetch(WORK_SQL + "w.task_id = ANY($1::text[])", list(task_ids))
    found = {r[0]: (_loaded(tuple(r)[:-1]), json.loads(r[-1])) for r in rows}
    return [found[t] for t in task_ids]


async def load_task(conn: asyncpg.Connection, task_id: str) -> TaskRec:
    row = await conn.fetchrow(TASK_SQL + "w.task_id = $1", task_id)
    if row is None:
        raise NotFound(f"no task {task_id!r} in the work queue")
    return _loaded(row)


async def states_of(conn: asyncpg.Connection, task_ids: Sequence[str]) -> dict[str, str]:
    if not task_ids:
        return {}
    rows = await conn.fetch("SELECT task_id, state FROM work WHERE task_id = ANY($1::text[])", list(task_ids))
    return {r[0]: r[1] for r in rows}


# ---------------------------------------------------------------------- submit


async def digest_of(conn: asyncpg.Connection, task_id: str) -> str | None:
    return await conn.fetchval("SELECT digest FROM work WHERE task_id = $1", task_id)


async def insert_task(conn: asyncpg.Connection, spec: Spec, dep_states: dict[str, str], now: float) -> None:
    state, reason, ended, pending = first_state(spec, dep_states, now)
    await conn.execute(
        "INSERT INTO work (task_id, spec, digest, task_type, skills, priority, effort, lease_s, max_attempts, state, "
        "pending_deps, reason, submitted_at, updated_at, ended_at, leases) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        *row_of(spec),
        state,
        pending,
        reason,
        now,
        now,
        ended,
        leases_of(spec),
    )
    if spec.depends_on:
        await conn.execute(
            "INSERT INTO work_deps (depends_on, task_id) SELECT d, $2 FROM unnest($1::text[]) AS d",
            list(spec.depends_on),
            spec.task_id,
        )


# ---------------------------------------------------------------------- placement


async def queued_tasks(conn: asyncpg.Connection, limit: int) -> list[TaskRec]:
    """The queued tasks, highest priority first, with only what placement needs."""
    rows = await conn.fetch(
        f"SELECT {QUEUED_COLUMNS} FROM work WHERE state = 'queued' ORDER BY priority DESC, submitted_at, task_id "
        "LIMIT $1",
        limit,
    )
    return [queued_of(r) for r in rows]


async def waits_for_leases(conn: asyncpg.Connection) -> bool:
    """Whether some queued task needs leases (the end of a lease may let it be placed)."""
    return await conn.fetchval("SELECT true FROM work WHERE state = 'queued' AND leases != '' LIMIT 1") is not None


async def lease_blocked(conn: asyncpg.Connection, tasks: Sequence[TaskRec], now: float) -> dict[str, str]:
    """Of these queued tasks, those whose leases are not free now, and why."""
    needing = [t for t in tasks if t.spec.leases]
    if not needing:
        return {}
    live = await leases_sql.live(conn, now)
    blocked = {}
    for t in needing:
        found = lease_rules.task_conflicts(t.spec.leases, live)
        if found:
            blocked[t.spec.task_id] = lease_rules.waiting_for(found)
    return blocked


async def free_capacity(conn: asyncpg.Connection) -> float:
    """The capacity left on every online agent together (0: a placement round has nothing to place on)."""
    return float(
        await conn.fetchval(
            "SELECT COALESCE(SUM(GREATEST(0, a.capacity - COALESCE((SELECT SUM(t.effort) FROM tasks t "
            "WHERE t.agent_id = a.agent_id AND t.status = 'open'), 0))), 0) FROM agents a "
            "WHERE NOT a.offline AND a.silent_since IS NULL"
        )
    )


async def _agent_rooms(conn: asyncpg.Connection, agent_ids: Sequence[str]) -> dict[str, tuple[float, bool] | None]:
    """(free capacity, online) of each agent, None for one not registered: one statement."""
    rows = await conn.fetch(
        "SELECT a.agent_id, a.capacity - COALESCE((SELECT SUM(t.effort) FROM tasks t WHERE t.agent_id = a.agent_id "
        "AND t.status = 'open'), 0), NOT a.offline AND a.silent_since IS NULL FROM agents a "
        "WHERE a.agent_id = ANY($1::text[])",
        list(agent_ids),
    )
    rooms: dict[str, tuple[float, bool] | None] = dict.fromkeys(agent_ids)
    rooms.update({agent: (free, bool(online)) for agent, free, online in rows})
    return rooms


async def place(
    conn: asyncpg.Connection, placements: Iterable[tuple[str, str, float]], now: float
) -> tuple[list[list[Any]], list[list[str]], float | None]:
    """Apply each placement whose task is still queued and whose agent is online with room (see the SQLite
    engine's ``place``), in order. Returns (placed, refused, earliest new lease). The tasks and the agents' room are
    read in one statement each, the placements written in one (the leases a task asks for are granted one by one)."""
    items = list(placements)
    tasks = {
        r[0]: tuple(r[1:])
        for r in await conn.fetch(
            "SELECT task_id, state, effort, lease_s, attempt, task_type, leases FROM work "
            "WHERE task_id = ANY($1::text[])",
            [task_id for task_id, _, _ in items],
        )
    }
    room = await _agent_rooms(conn, sorted({agent_id for _, agent_id, _ in items}))
    placed: list[list[Any]] = []
    refused: list[list[str]] = []
    rows: list[tuple[str, str, int, float, str, float]] = []  # what the write applies
    earliest: float | None = None
    for task_id, agent_id, cost in items:
        state, effort, lease_s, attempt, task_type, leases = tasks.get(task_id, (None, 0.0, 0.0, 0, "", ""))
        why = refusal_to_place(state, effort, agent_id, room[agent_id])
        if why:
            refused.append([task_id, why])
            continue
        free = room[agent_id]
        assert free is not None
        asked = wanted(leases)
        found = lease_rules.task_conflicts(asked, await leases_sql.live(conn, now)) if asked else []
        if found:  # taken since the view was read (by another task of this round, say): it waits for them
            why = lease_rules.waiting_for(found)
            await note_unplaced(conn, [(task_id, why)], now)
            refused.append([task_id, why])
            continue
        room[agent_id] = (free[0] - effort, True)
        tasks[task_id] = ("placed", effort, lease_s, attempt + 1, task_type, leases)  # placed once in a batch
        expires = now + lease_s
        for resource, exclusive in asked:
            await leases_sql.grant(conn, agent_id, resource, exclusive, f"task {task_id}", now, expires, task_id)
        earliest = expires if earliest is None else min(earliest, expires)
        rows.append((task_id, agent_id, attempt + 1, expires, task_type, effort))
        placed.append([task_id, agent_id, cost])
    if rows:
        await conn.execute(
            "WITH p AS (SELECT * FROM unnest($1::text[], $2::text[], $3::int4[], $4::float8[], $5::text[], "
            "$6::float8[]) AS p(task_id, agent_id, attempt, expires, task_type, effort)), "
            "w AS (UPDATE work SET state = 'placed', agent_id = p.agent_id, attempt = p.attempt, reason = '', "
            "progress = '', lease_expires_at = p.expires, updated_at = $7 FROM p WHERE work.task_id = p.task_id), "
            "a AS (INSERT INTO work_attempts (task_id, attempt, agent_id, placed_at, outcome) "
            "SELECT task_id, attempt, agent_id, $7, 'placed' FROM p) "
            "INSERT INTO tasks (task_id, agent_id, task_type, effort, status, assigned_at) "
            "SELECT task_id, agent_id, task_type, effort, 'open', $7 FROM p "
            "ON CONFLICT (task_id) DO UPDATE SET agent_id = excluded.agent_id, "
            "task_type = excluded.task_type, effort = excluded.effort, status = 'open', "
            "assigned_at = excluded.assigned_at, closed_at = NULL, success = NULL, quality = NULL, duration_s = NULL",
            *(list(column) for column in zip(*rows, strict=True)),
            now,
        )
    return placed, refused, earliest


async def note_unplaced(conn: asyncpg.Connection, unplaced: Iterable[tuple[str, str]], now: float) -> None:
    items = list(unplaced)
    if items:
        await conn.execute(
            "UPDATE work w SET reason = u.why, updated_at = $3 FROM unnest($1::text[], $2::text[]) AS u(task_id, why) "
            "WHERE w.task_id = u.task_id AND w.state = 'queued' AND w.reason != u.why",
            [t for t, _ in items],
            [why for _, why in items],
            now,
        )


# ---------------------------------------------------------------------- agents


async def touch_agent(conn: asyncpg.Connection, agent_id: str, now: float) -> bool:
    """The agent showed life: it is seen now, no longer silent, and every lease it holds is renewed (its task
    leases and the leases granted for those tasks), in one statement. True when it was silent (placement may now
    use it again)."""
    row = await conn.fetchrow(
        "WITH old AS (SELECT silent_since FROM agents WHERE agent_id = $1 FOR UPDATE), "
        "a AS (UPDATE agents SET last_seen = $2, silent_since = NULL WHERE agent_id = $1), "
        f"{RENEW} SELECT silent_since IS NOT NULL FROM old",
        agent_id,
        now,
    )
    if row is None:
        raise NotFound(f"no agent {agent_id!r}: register it first (agent_register)")
    return bool(row[0])


async def renew_leases(conn: asyncpg.Connection, agent_id: str, now: float) -> None:
    """Every task lease the agent holds, and the leases granted for those tasks, last from now (one statement)."""
    await conn.execute(f"WITH {RENEW} SELECT 1", agent_id, now)


async def release_agent(conn: asyncpg.Connection, agent_id: str, now: float) -> list[str]:
    """The agent was removed: each task it held ends that attempt (``released``) and goes back to the queue (or
    ``dead`` after its last attempt). Returns the tasks."""
    rows = await conn.fetch(
        "SELECT task_id, attempt FROM work WHERE agent_id = $1 AND state IN ('placed', 'running') ORDER BY task_id",
        agent_id,
    )
    for task_id, attempt in rows:
        await close_ledger(conn, task_id, "released", now)
        await fail_attempt(conn, task_id, attempt, "released", f"agent {agent_id} was removed", now)
    return [r[0] for r in rows]


async def take(conn: asyncpg.Connection, agent_id: str, limit: int, now: float) -> list[str]:
    """The agent's placed tasks (highest priority first, at most ``limit``) start running."""
    rows = await conn.fetch(
        "WITH t AS (SELECT task_id FROM work WHERE agent_id = $1 AND state = 'placed' "
        "ORDER BY priority DESC, submitted_at, task_id LIMIT $2), "
        "w AS (UPDATE work SET state = 'running', updated_at = $3 FROM t WHERE work.task_id = t.task_id "
        "RETURNING work.task_id, work.attempt, work.priority, work.submitted_at), "
        "a AS (UPDATE work_attempts SET started_at = $3, outcome = 'running' FROM w "
        "WHERE work_attempts.task_id = w.task_id AND work_attempts.attempt = w.attempt) "
        "SELECT task_id FROM w ORDER BY priority DESC, submitted_at, task_id",
        agent_id,
        limit,
        now,
    )
    return [r[0] for r in rows]


async def after_take(
    conn: asyncpg.Connection, agent_id: str, taken: Sequence[str], limit: int
) -> tuple[list[list[str]], list[TaskRec], float | None]:
    """The rest of a pass of ``next`` in one statement: the notices of its tasks cancelled since (cleared), the tasks
    it runs besides ``taken`` (id, type, attempt and lease only) and the shortest lease_s of what it holds (None:
    nothing)."""
    notices, held, shortest = await conn.fetchrow(
        "WITH n AS (UPDATE work SET notify_agent = NULL WHERE notify_agent = $1 RETURNING task_id, reason) "
        "SELECT (SELECT COALESCE(json_agg(json_build_array(task_id, reason) ORDER BY task_id), '[]') FROM n), "
        f"(SELECT COALESCE(json_agg(json_build_array({HELD_COLUMNS}) ORDER BY task_id), '[]') FROM (SELECT "
        f"{HELD_COLUMNS} FROM work WHERE agent_id = $1 AND state = 'running' ORDER BY task_id LIMIT $2) AS h), "
        "(SELECT min(lease_s) FROM work WHERE agent_id = $1 AND state IN ('placed', 'running'))",
        agent_id,
        limit + len(taken),
    )
    return json.loads(notices), held_of(json.loads(held), agent_id, taken, limit), shortest


async def notified_agents(conn: asyncpg.Connection, task_ids: Sequence[str]) -> list[str]:
    rows = await conn.fetch(
        "SELECT DISTINCT notify_agent FROM work WHERE notify_agent IS NOT NULL AND task_id = ANY($1::text[])",
        list(task_ids),
    )
    return [r[0] for r in rows]


# ---------------------------------------------------------------------- reports


async def report_row(conn: asyncpg.Connection, task_id: str, agent_id: str, now: float) -> asyncpg.Record | None:
    """The reporter's touch (``agents_sql.TOUCH_CTES``) and what a report needs of its task, in one statement:
    (state, holder, attempt, spec, whether the reporter is registered, whether it came back, its trail for the
    task's type as a JSON array of TRAIL_COLUMNS or None); None if the task is not in the queue (the caller rolls
    the touch back then: that report is not the queue's)."""
    return await conn.fetchrow(
        f"WITH {TOUCH_CTES} SELECT q.state, q.agent_id, q.attempt, q.spec, {FOUND_AND_CAME_BACK}, "
        f"(SELECT json_build_array({TRAIL_COLUMNS}) FROM trails t WHERE t.agent_id = $1 AND t.task_type = q.task_type) "
        "FROM work q WHERE q.task_id = $3",
        agent_id,
        now,
        task_id,
    )


async def first_answer(conn: asyncpg.Connection, task_id: str, agent_id: str, kind: str) -> str | None:
    return await conn.fetchval(
        "SELECT report FROM work_attempts WHERE task_id = $1 AND agent_id = $2 AND report_kind = $3 "
        "ORDER BY attempt DESC LIMIT 1",
        task_id,
        agent_id,
        kind,
    )


async def keep_answer(conn: asyncpg.Connection, task_id: str, attempt: int, kind: str, answer: str) -> None:
    """The answer of the report that ended ``attempt``, for a repeat of that report."""
    await conn.execute(
        "UPDATE work_attempts SET report = $1, report_kind = $2 WHERE task_id = $3 AND attempt = $4",
        answer,
        kind,
        task_id,
        attempt,
    )


async def why_not_yours(
    conn: asyncpg.Connection, task_id: str, agent_id: str, state: str, holder: str | None, now: float
) -> str:
    """Why ``agent_id`` may not report on ``task_id`` now (nothing is changed by such a report)."""
    reason = await conn.fetchval("SELECT reason FROM work WHERE task_id = $1", task_id)
    mine = await conn.fetchrow(
        "SELECT attempt, outcome, error FROM work_attempts WHERE task_id = $1 AND agent_id = $2 "
        "ORDER BY attempt DESC LIMIT 1",
        task_id,
        agent_id,
    )
    return not_yours(task_id, agent_id, state, holder, reason, mine)


async def progress(conn: asyncpg.Connection, task_id: str, agent_id: str, note: str, now: float) -> TaskRec:
    """The agent's note on the task it holds; the task after it (one statement)."""
    row = await conn.fetchrow(
        f"UPDATE work w SET progress = $1, updated_at = $2 WHERE task_id = $3 AND agent_id = $4 "
        f"RETURNING {TASK_FIELDS}",
        note,
        now,
        task_id,
        agent_id,
    )
    if row is None:
        raise NotFound(f"no task {task_id!r} held by {agent_id!r} in the work queue")
    return _loaded(row)


# the end of a hold ($1 the task, $2 now, $3 the ledger status, $4 success, $5 quality, $6 duration) as CTEs
LEDGER = (
    "l AS (UPDATE leases SET ended_at = $2, ended = 'released' WHERE task_id = $1 AND ended_at IS NULL RETURNING 1), "
    "c AS (UPDATE lease_counter SET revocations = revocations + 1 WHERE EXISTS (SELECT 1 FROM l)), "
    "t AS (UPDATE tasks SET status = $3, closed_at = $2, success = $4, quality = $5, duration_s = $6 "
    "WHERE task_id = $1 AND status = 'open')"
)


def _ledger_args(task_id: str, status: str, now: float, quality: float | None, duration: float) -> tuple[Any, ...]:
    return task_id, now, status, {"succeeded": True, "failed": False}.get(status), quality, duration


async def close_ledger(
    conn: asyncpg.Connection, task_id: str, status: str, now: float, quality: float | None = None, duration: float = 0
) -> None:
    """The attempt's hold ends: the task's effort leaves its agent's load and the leases granted for it end
    ``released`` (counted with the revocations, so lease waiters hear of it): one statement."""
    await conn.execute(f"WITH {LEDGER} SELECT 1", *_ledger_args(task_id, status, now, quality, duration))


async def finish(
    conn: asyncpg.Connection, task_id: str, attempt: int, result_json: str, now: float, quality: float, duration: float
) -> list[str]:
    """The task is done with ``result_json``, its hold ends (``close_ledger``) and its dependents count one
    dependency less, in one statement; returns the dependents that became ready (queued)."""
    rows = await conn.fetch(
        f"WITH {LEDGER}, "
        "w AS (UPDATE work SET state = 'done', result = $7, reason = '', lease_expires_at = NULL, ended_at = $2, "
        "updated_at = $2 WHERE task_id = $1), "
        "a AS (UPDATE work_attempts SET ended_at = $2, outcome = 'succeeded' WHERE task_id = $1 AND attempt = $8) "
        "UPDATE work SET pending_deps = pending_deps - 1, updated_at = $2, "
        "state = CASE WHEN pending_deps <= 1 THEN 'queued' ELSE state END "
        "WHERE state = 'blocked' AND task_id IN (SELECT task_id FROM work_deps WHERE depends_on = $1) "
        "RETURNING task_id, state",
        *_ledger_args(task_id, "succeeded", now, quality, duration),
        result_json,
        attempt,
    )
    return sorted(r[0] for r in rows if r[1] == "queued")


async def fail_attempt(
    conn: asyncpg.Connection, task_id: str, attempt: int, outcome: str, error: str, now: float
) -> list[str]:
    """The attempt ended without success: the task goes back to the queue, avoiding the agent, or ends ``dead``
    after its last attempt (its dependents cancelled: returned)."""
    agent, excluded, max_attempts = await conn.fetchrow(
        "SELECT agent_id, excluded, max_attempts FROM work WHERE task_id = $1", task_id
    )
    await conn.execute(
        "UPDATE work_attempts SET ended_at = $1, outcome = $2, error = $3 WHERE task_id = $4 AND attempt = $5",
        now,
        outcome,
        error,
        task_id,
        attempt,
    )
    dead, reason, avoid = after_failure(agent, excluded, attempt, max_attempts, outcome, error)
    if dead:
        await conn.execute(
            "UPDATE work SET state = 'dead', reason = $1, lease_expires_at = NULL, excluded = $2, ended_at = $3, "
            "updated_at = $3 WHERE task_id = $4",
            reason,
            avoid,
            now,
            task_id,
        )
        return await cancel_dependents(conn, [task_id], "is dead", "", now)
    await conn.execute(
        "UPDATE work SET state = 'queued', agent_id = NULL, reason = $1, progress = '', lease_expires_at = NULL, "
        "excluded = $2, updated_at = $3 WHERE task_id = $4",
        reason,
        avoid,
        now,
        task_id,
    )
    return []


async def cancel_one(conn: asyncpg.Connection, task_id: str, why: str, now: float) -> None:
    state, agent, attempt = await conn.fetchrow("SELECT state, agent_id, attempt FROM work WHERE task_id = $1", task_id)
    held = state in HELD
    if held:
        await conn.execute(
            "UPDATE work_attempts SET ended_at = $1, outcome = 'cancelled', error = $2 WHERE task_id = $3 "
            "AND attempt = $4",
            now,
            why,
            task_id,
            attempt,
        )
        await close_ledger(conn, task_id, "released", now)
    await conn.execute(
        "UPDATE work SET state = 'cancelled', reason = $1, lease_expires_at = NULL, ended_at = $2, updated_at = $2, "
        "notify_agent = $3 WHERE task_id = $4",
        why,
        now,
        agent if held else None,
        task_id,
    )


async def cancel_dependents(
    conn: asyncpg.Connection, roots: Sequence[str], verb: str, why: str, now: float
) -> list[str]:
    """Every task that depends, directly or not, on one of ``roots`` and has not ended is cancelled, with the reason
    "dependency X <verb>: <why>"."""
    cancelled: list[str] = []
    frontier = [(root, root) for root in roots]
    while frontier:
        nxt: list[tuple[str, str]] = []
        for task_id, root in frontier:
            rows = await conn.fetch(
                "SELECT w.task_id, w.state FROM work_deps d JOIN work w ON w.task_id = d.task_id "
                "WHERE d.depends_on = $1 ORDER BY w.task_id",
                task_id,
            )
            for dependent, state in rows:
                if state in OPEN:
                    await cancel_one(conn, dependent, f"dependency {root} {verb}" + (f": {why}" if why else ""), now)
                    cancelled.append(dependent)
                    nxt.append((dependent, root))
        frontier = nxt
    return cancelled


async def requeue_dead(conn: asyncpg.Connection, task_ids: Sequence[str], why: str, now: float) -> list[str]:
    """Each dead task gets one more attempt and is queued again; the tasks cancelled because it died are blocked
    again unless another of their dependencies has ended without success (see the SQLite engine's). Returns those."""
    for task_id in task_ids:
        spec_json, attempt = await conn.fetchrow("SELECT spec, attempt FROM work WHERE task_id = $1", task_id)
        respec, allowed = requeued_spec(spec_json, attempt)
        await conn.execute(
            "UPDATE work SET state = 'queued', spec = $1, max_attempts = $2, reason = $3, ended_at = NULL, "
            "updated_at = $4 WHERE task_id = $5 AND state = 'dead'",
            respec,
            allowed,
            why,
            now,
            task_id,
        )
    rows = await conn.fetch(
        "SELECT task_id FROM work WHERE state = 'cancelled' AND reason = ANY($1::text[]) ORDER BY task_id",
        [f"dependency {t} is dead" for t in task_ids],
    )
    candidates = [r[0] for r in rows]
    restored: list[str] = []
    changed = True
    while changed:  # a dependent comes back once every dependency of it is open or done again
        changed = False
        for task_id in [c for c in candidates if c not in restored]:
            ended = await conn.fetchval(
                "SELECT count(*) FROM work_deps d JOIN work w ON w.task_id = d.depends_on "
                "WHERE d.task_id = $1 AND w.state IN ('dead', 'cancelled')",
                task_id,
            )
            if not ended:
                await conn.execute(
                    "UPDATE work SET state = 'blocked', reason = '', ended_at = NULL, updated_at = $1 "
                    "WHERE task_id = $2",
                    now,
                    task_id,
                )
                restored.append(task_id)
                changed = True
    return restored


# ---------------------------------------------------------------------- background


async def expire(conn: asyncpg.Connection, now: float) -> list[str]:
    """Every held task whose lease ran out: the attempt ends ``expired``, the agent is marked silent. Returns the
    agents, once per expired attempt."""
    rows = await conn.fetch(
        "SELECT w.task_id, w.agent_id, w.attempt, a.last_seen FROM work w "
        "LEFT JOIN agents a ON a.agent_id = w.agent_id WHERE w.state IN ('placed', 'running') "
        "AND w.lease_expires_at <= $1 ORDER BY w.lease_expires_at",
        now,
    )
    for task_id, agent, attempt, last_seen in rows:
        silent = now - last_seen if last_seen is not None else 0.0
        await conn.execute(
            "UPDATE agents SET silent_since = COALESCE(silent_since, $1) WHERE agent_id = $2", now, agent
        )
        await leases_sql.revoke_holder(conn, agent, now)  # an agent marked offline loses its leases
        await close_ledger(conn, task_id, "released", now)
        error = f"lease expired: agent {agent} silent for {silent:.0f} s"
        await fail_attempt(conn, task_id, attempt, "expired", error, now)
    return [r[1] for r in rows]


async def next_expiry(conn: asyncpg.Connection) -> float | None:
    return await conn.fetchval("SELECT min(lease_expires_at) FROM work WHERE lease_expires_at IS NOT NULL")


async def purge(conn: asyncpg.Connection, cutoff: float) -> int:
    """Ended tasks older than ``cutoff`` go, with their attempts and dependencies; returns how many tasks."""
    return await conn.fetchval(
        "WITH gone AS (DELETE FROM work WHERE ended_at IS NOT NULL AND ended_at < $1 RETURNING task_id), "
        "a AS (DELETE FROM work_attempts WHERE task_id IN (SELECT task_id FROM gone)), "
        "d AS (DELETE FROM work_deps WHERE task_id IN (SELECT task_id FROM gone)) "
        "SELECT count(*) FROM gone",
        cutoff,
    )


# ---------------------------------------------------------------------- listing


async def list_tasks(
    conn: asyncpg.Connection,
    states: Sequence[str],
    agent_id: str,
    task_ids: Sequence[str],
    task_type: str,
    limit: int,
    cursor: str,
    full: bool,
) -> tuple[list[TaskRec], dict[str, int], str]:
    after = uncursor(cursor) if cursor else None
    rows = await conn.fetch(
        TASK_SQL + "($1::text[] IS NULL OR state = ANY($1::text[])) "
        "AND ($2 = '' OR agent_id = $2) AND ($3::text[] IS NULL OR task_id = ANY($3::text[])) "
        "AND ($4 = '' OR task_type = $4) "
        'AND ($5::float8 IS NULL OR (submitted_at, task_id) > ($5::float8, $6::text COLLATE "C")) '
        "ORDER BY submitted_at, task_id LIMIT $7",
        list(states) or None,
        agent_id,
        list(task_ids) or None,
        task_type,
        after[0] if after else None,
        after[1] if after else "",
        limit + 1,
    )
    more = len(rows) > limit
    tasks = [_loaded(r, r[2] in HELD) for r in rows[:limit]]
    if not full:
        tasks = [brief(t) for t in tasks]
    counts = counts_of(await conn.fetch("SELECT state, count(*) FROM work GROUP BY state"))
    last = rows[limit - 1] if more else None
    return tasks, counts, cursor_of([last[8], last[0]]) if last else ""


__all__ = ["brief", "topological"]
