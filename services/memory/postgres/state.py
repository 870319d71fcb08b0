"""Agents, open tasks and pheromone trails on PostgreSQL (the rules and records are services/memory/state.py's).

Every write here runs under the state lock (postgres/engine.py, ``locked``), as the work queue's and the leases' do:
registering an agent renews its task leases, removing it puts its tasks back in the queue and revokes its leases, and
the assignment ledger (the agents' load) is what placement checks room against. A write of one agent's own rows
(register, heartbeat, the outcome of its task_assign task) holds it shared, with the agent's own lock."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import asyncpg

from common.validation import check_id
from services.memory.postgres import leases_sql, work_sql
from services.memory.postgres.agents_sql import TRAIL_COLUMNS
from services.memory.postgres.engine import PgEngine
from services.memory.postgres.schema import NAMED_LOCK, NAMED_LOCKS, TASK_LOCKS
from services.memory.state import (
    Agent,
    AgentSpec,
    Assignment,
    Outcome,
    ReportResult,
    Trail,
    agent_of,
    check_agent,
    check_agent_filter,
    check_assignments,
    check_open_elsewhere,
    check_outcome,
    check_room,
    check_trail_filter,
    filter_agents,
    moved_trail,
    reported_task,
    strongest,
    trail_of,
    unknown_agent,
)

# an agent with its load: the effort and number of its open tasks
AGENT_SQL = (
    "SELECT a.agent_id, a.skills, a.capacity, a.metadata, a.offline OR a.silent_since IS NOT NULL, a.registered_at, "
    "a.last_seen, a.weight, COALESCE(SUM(t.effort), 0), COUNT(t.task_id) FROM agents a "
    "LEFT JOIN tasks t ON t.agent_id = a.agent_id AND t.status = 'open' "
)

Read = Callable[[asyncpg.Connection], Awaitable[Any]]
Publish = Callable[[asyncpg.Connection, str, Sequence[str]], Awaitable[None]]


@dataclass
class PgStateStore:
    """Agent, task and trail operations on top of the PostgreSQL engine."""

    engine: PgEngine
    half_life_s: float = 3600.0
    # the agents of the last assignment view, by their row: an agent whose row is unchanged is not built again
    _view_agents: dict[tuple[Any, ...], Agent] = field(default_factory=dict, init=False, repr=False)
    # inside a write's transaction: tell the other replicas' work queues at its commit (cause, agents); the storage
    # sets it to its work queue's
    publish: Publish | None = field(default=None, init=False, repr=False)

    async def _published(self, conn: asyncpg.Connection) -> None:
        if self.publish is not None:
            await self.publish(conn, "agent", ())

    # ------------------------------------------------------------------ agents

    @staticmethod
    async def _with_topics(conn: asyncpg.Connection, agents: list[Agent]) -> list[Agent]:
        """The agents with the topics they subscribe to (the assignment view does without)."""
        if not agents:
            return agents
        subscribed: dict[str, list[str]] = {}
        rows = await conn.fetch(
            "SELECT topic, agent_id FROM topics WHERE agent_id = ANY($1::text[]) ORDER BY topic",
            [a.agent_id for a in agents],
        )
        for topic, agent_id in rows:
            subscribed.setdefault(agent_id, []).append(topic)
        return [replace(a, topics=tuple(subscribed[a.agent_id])) if a.agent_id in subscribed else a for a in agents]

    @staticmethod
    async def _get_agent(conn: asyncpg.Connection, agent_id: str) -> Agent | None:
        row = await conn.fetchrow(AGENT_SQL + "WHERE a.agent_id = $1 GROUP BY a.agent_id", agent_id)
        return agent_of(row) if row else None

    async def put_agent(self, spec: AgentSpec, request_id: str = "") -> Agent:
        clean = check_agent(spec)

        async def apply(conn: asyncpg.Connection) -> Agent:
            now = self.engine.clock()
            await conn.execute(
                "INSERT INTO agents (agent_id, skills, capacity, metadata, offline, weight, registered_at, last_seen) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (agent_id) DO UPDATE SET skills = "
                "excluded.skills, capacity = excluded.capacity, metadata = excluded.metadata, offline = "
                "excluded.offline, weight = excluded.weight, last_seen = excluded.last_seen, silent_since = NULL",
                clean.agent_id,
                json.dumps(dict(clean.skills)),
                clean.capacity,
                clean.metadata_json,
                clean.offline,
                clean.weight,
                now,
            )
            await work_sql.renew_leases(conn, clean.agent_id, now)  # any call of an agent renews its leases
            await self._published(conn)
            if clean.topics is not None:
                await conn.execute("DELETE FROM topics WHERE agent_id = $1", clean.agent_id)
                await conn.executemany(
                    "INSERT INTO topics (topic, agent_id) VALUES ($1, $2)", [(t, clean.agent_id) for t in clean.topics]
                )
            agent = await self._get_agent(conn, clean.agent_id)
            assert agent is not None
            return (await self._with_topics(conn, [agent]))[0]

        return await self.engine.write(  # its own rows only
            apply, method="PutAgent", request_id=request_id, decode=Agent.from_dict, locked=True, agent=clean.agent_id
        )

    async def heartbeat(self, agent_id: str, offline: bool = False) -> Agent:
        check_id("agent_id", agent_id)

        async def apply(conn: asyncpg.Connection) -> Agent:
            now = self.engine.clock()
            status = await conn.execute(
                "UPDATE agents SET last_seen = $1, offline = $2, silent_since = NULL WHERE agent_id = $3",
                now,
                offline,
                agent_id,
            )
            if status.endswith(" 0"):
                raise unknown_agent(agent_id)
            await work_sql.renew_leases(conn, agent_id, now)
            await self._published(conn)
            agent = await self._get_agent(conn, agent_id)
            assert agent is not None
            return agent

        return await self.engine.write(apply, method="Heartbeat", locked=True, agent=agent_id)  # its own rows only

    async def list_agents(
        self, agent_ids: Sequence[str] = (), skill: str = "", min_level: float = 0.0, status: str = ""
    ) -> list[Agent]:
        query = self._agents_query(agent_ids, skill, min_level, status)

        async def read(conn: asyncpg.Connection) -> list[Agent]:
            return await self._with_topics(conn, await query(conn))

        return await self.engine.read(read, snapshot=True)

    def _agents_query(
        self,
        agent_ids: Sequence[str] = (),
        skill: str = "",
        min_level: float = 0.0,
        status: str = "",
        *,
        reuse: bool = False,
    ) -> Read:
        """The arguments checked, and the read that lists the matching agents. With ``reuse`` (the assignment
        view), an agent whose row is the same as in the last such read is not built again."""
        check_agent_filter(agent_ids, skill, min_level, status)

        async def read(conn: asyncpg.Connection) -> list[Agent]:
            if agent_ids:
                sql = AGENT_SQL + "WHERE a.agent_id = ANY($1::text[]) GROUP BY a.agent_id ORDER BY a.agent_id"
                rows = [tuple(r) for r in await conn.fetch(sql, list(agent_ids))]
            else:
                rows = [tuple(r) for r in await conn.fetch(AGENT_SQL + "GROUP BY a.agent_id ORDER BY a.agent_id")]
            if reuse:
                known = self._view_agents
                agents = [known.get(row) or agent_of(row) for row in rows]
                self._view_agents = dict(zip(rows, agents, strict=True))  # only today's agents stay
            else:
                agents = [agent_of(r) for r in rows]
            return filter_agents(agents, skill, min_level, status)

        return read

    async def remove_agent(self, agent_id: str, request_id: str = "") -> tuple[bool, int]:
        check_id("agent_id", agent_id)

        async def apply(conn: asyncpg.Connection) -> dict[str, Any]:
            removed = await conn.fetchval("DELETE FROM agents WHERE agent_id = $1 RETURNING true", agent_id)
            released = await conn.fetchval(
                "WITH r AS (UPDATE tasks SET status = 'released', closed_at = $1 WHERE agent_id = $2 AND "
                "status = 'open' RETURNING 1) SELECT count(*) FROM r",
                self.engine.clock(),
                agent_id,
            )
            await work_sql.release_agent(conn, agent_id, self.engine.clock())  # its queue tasks go back to the queue
            await leases_sql.revoke_holder(conn, agent_id, self.engine.clock())  # and the leases it took end
            await conn.execute("DELETE FROM trails WHERE agent_id = $1", agent_id)
            await conn.execute("DELETE FROM topics WHERE agent_id = $1", agent_id)
            await self._published(conn)
            return {"removed": bool(removed), "released": released}

        result = await self.engine.write(apply, method="RemoveAgent", request_id=request_id, encode=dict, locked=True)
        return bool(result["removed"]), int(result["released"])

    # ------------------------------------------------------------------ tasks

    async def record_assignments(self, assignments: Sequence[Assignment], request_id: str = "") -> list[Assignment]:
        """Record a batch atomically; answers what was recorded (for a repeated request id, the first batch).

        Under the locks of its agents (their room: only their own writes, under those locks, and writes of the whole
        state, excluded by the shared state lock, change it) and of its tasks (whose each is: an outcome runs under
        its task's lock too), not the whole state's: records for other agents and the agents' own calls go on."""
        check_assignments(assignments)

        async def apply(conn: asyncpg.Connection) -> dict[str, Any]:
            await conn.execute(NAMED_LOCKS, TASK_LOCKS, [a.task_id for a in assignments])  # after the agents' locks
            now = self.engine.clock()
            extra: dict[str, float] = {}
            for a in assignments:
                extra[a.agent_id] = extra.get(a.agent_id, 0.0) + a.effort
            holders = dict(
                await conn.fetch(
                    "SELECT task_id, agent_id FROM tasks WHERE task_id = ANY($1::text[]) AND status = 'open'",
                    [a.task_id for a in assignments],
                )
            )
            for a in assignments:
                check_open_elsewhere(a.task_id, holders.get(a.task_id))
            for agent_id, effort in extra.items():
                check_room(agent_id, await self._get_agent(conn, agent_id), effort)
            await conn.executemany(
                "INSERT INTO tasks (task_id, agent_id, task_type, effort, status, assigned_at) "
                "VALUES ($1, $2, $3, $4, 'open', $5) ON CONFLICT (task_id) DO UPDATE SET agent_id = excluded.agent_id, "
                "task_type = excluded.task_type, effort = excluded.effort, status = 'open', "
                "assigned_at = excluded.assigned_at, closed_at = NULL, success = NULL, quality = NULL, "
                "duration_s = NULL",
                [(a.task_id, a.agent_id, a.task_type, a.effort, now) for a in assignments],
            )
            return {"recorded": [asdict(a) for a in assignments]}

        result = await self.engine.write(
            apply,
            method="RecordAssignments",
            request_id=request_id,
            encode=dict,
            locked=True,
            agents=[a.agent_id for a in assignments],
        )
        return [Assignment(**a) for a in result["recorded"]]

    # ------------------------------------------------------------------ trails

    async def report(self, outcome: Outcome, request_id: str = "") -> ReportResult:
        check_outcome(outcome)

        async def apply(conn: asyncpg.Connection) -> ReportResult:
            now = self.engine.clock()
            # under the reporter's lock (its trail); the task's row (maybe not there yet) under a lock of its own
            await conn.execute(NAMED_LOCK, TASK_LOCKS, outcome.task_id)
            # the task, whether the reporter is registered and its trail for the task's type, in one statement
            task, registered, trail_row = await conn.fetchrow(
                "SELECT (SELECT json_build_array(agent_id, task_type, status) FROM tasks WHERE task_id = $1), "
                "EXISTS (SELECT 1 FROM agents WHERE agent_id = $2), "
                f"(SELECT json_build_array({TRAIL_COLUMNS}) FROM trails WHERE agent_id = $2 AND task_type = "
                "COALESCE((SELECT task_type FROM tasks WHERE task_id = $1), $3))",
                outcome.task_id,
                outcome.agent_id,
                outcome.task_type,
            )
            task_type, was_open = reported_task(outcome, json.loads(task) if task else None)
            if not registered:
                raise unknown_agent(outcome.agent_id)
            before = json.loads(trail_row) if trail_row else None
            trail = await self.move_trail(conn, before, outcome.agent_id, task_type, outcome, now)
            await conn.execute(
                "INSERT INTO tasks (task_id, agent_id, task_type, effort, status, assigned_at, closed_at, success, "
                "quality, duration_s) VALUES ($1, $2, $3, 0, $4, $5, $5, $6, $7, $8) ON CONFLICT (task_id) DO UPDATE "
                "SET status = excluded.status, closed_at = excluded.closed_at, success = excluded.success, "
                "quality = excluded.quality, duration_s = excluded.duration_s",
                outcome.task_id,
                outcome.agent_id,
                task_type,
                "succeeded" if outcome.success else "failed",
                now,
                outcome.success,
                outcome.quality,
                outcome.duration_s,
            )
            return ReportResult(trail, was_open)

        return await self.engine.write(
            apply,
            method="ReportOutcome",
            request_id=request_id,
            decode=ReportResult.from_dict,
            encode=asdict,
            locked=True,
            agent=outcome.agent_id,
        )

    async def move_trail(
        self,
        conn: asyncpg.Connection,
        row: Sequence[Any] | None,
        agent_id: str,
        task_type: str,
        outcome: Outcome,
        now: float,
    ) -> Trail:
        """Inside a write: the (agent, task type) trail after ``outcome``, with its counts, given its row as read in
        this transaction (TRAIL_COLUMNS; None: no trail yet): one statement."""
        trail = moved_trail(row, agent_id, task_type, outcome, now, self.half_life_s)
        await conn.execute(
            f"INSERT INTO trails ({TRAIL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (agent_id, task_type) "
            "DO UPDATE SET strength = excluded.strength, updated_at = excluded.updated_at, "
            "successes = excluded.successes, failures = excluded.failures",
            agent_id,
            task_type,
            trail.strength,
            now,
            trail.successes,
            trail.failures,
        )
        return trail

    async def read_trails(
        self, agent_ids: Sequence[str] = (), task_types: Sequence[str] = (), limit: int = 0
    ) -> list[Trail]:
        return await self.engine.read(self._trails_query(agent_ids, task_types, limit))

    def _trails_query(self, agent_ids: Sequence[str] = (), task_types: Sequence[str] = (), limit: int = 0) -> Read:
        """The arguments checked, and the read of the strongest matching trails (decay applied)."""
        n = check_trail_filter(agent_ids, task_types, limit)

        async def read(conn: asyncpg.Connection) -> list[Trail]:
            now = self.engine.clock()
            rows = await conn.fetch(
                f"SELECT {TRAIL_COLUMNS} FROM trails WHERE ($1::text[] IS NULL OR agent_id = ANY($1::text[])) "
                "AND ($2::text[] IS NULL OR task_type = ANY($2::text[]))",
                list(agent_ids) or None,
                list(task_types) or None,
            )
            return strongest([trail_of(r, now, self.half_life_s) for r in rows], n)

        return read

    async def assignment_view(
        self, task_types: Sequence[str] = (), trail_limit: int = 0
    ) -> tuple[list[Agent], list[Trail]]:
        """Every agent and the trails of ``task_types``: what an assignment plans on, in one snapshot."""
        agents, trails = self._agents_query(reuse=True), self._trails_query((), task_types, trail_limit)

        async def read(conn: asyncpg.Connection) -> tuple[list[Agent], list[Trail]]:
            return await agents(conn), await trails(conn)

        return await self.engine.read(read, snapshot=True)
