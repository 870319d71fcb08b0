"""Agents, open tasks and pheromone trails in SQLite, on the engine's writer and readers (the rules and records
are services/memory/state.py's)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from common.errors import NotFound
from common.validation import check_id
from services.memory.sqlite import leases_sql, work_sql
from services.memory.sqlite.engine import SqliteEngine
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

# a view of at most this many rows (agents + trails) is read on the event loop; more on a reader thread
VIEW_INLINE_ROWS = 500
# an agent with its load: the effort and number of its open tasks
AGENT_SQL = (
    "SELECT a.agent_id, a.skills, a.capacity, a.metadata, a.offline OR a.silent_since IS NOT NULL, a.registered_at, "
    "a.last_seen, a.weight, COALESCE(SUM(t.effort), 0), COUNT(t.task_id) FROM agents a "
    "LEFT JOIN tasks t ON t.agent_id = a.agent_id AND t.status = 'open' "
)


@dataclass
class SqliteStateStore:
    """Agent, task and trail operations on top of the memory engine's writer and readers."""

    engine: SqliteEngine
    half_life_s: float = 3600.0
    # whether the last assignment view had at most VIEW_INLINE_ROWS rows (then the next is read inline); the
    # first view after a start goes to a reader thread, whatever the swarm's size
    _small_swarm: bool = field(default=False, init=False, repr=False)
    # the agents of the last assignment view, by their row: an agent whose row is unchanged is not built again
    # (between two views under load most rows are unchanged, and a lookup is much cheaper than a build)
    _view_agents: dict[tuple[Any, ...], Agent] = field(default_factory=dict, init=False, repr=False)

    # ------------------------------------------------------------------ agents

    @staticmethod
    def _with_topics(conn: sqlite3.Connection, agents: list[Agent]) -> list[Agent]:
        """The agents with the topics they subscribe to (the assignment view does without)."""
        if not agents:
            return agents
        subscribed: dict[str, list[str]] = {}
        for topic, agent_id in conn.execute("SELECT topic, agent_id FROM topics ORDER BY topic"):
            subscribed.setdefault(agent_id, []).append(topic)
        return [replace(a, topics=tuple(subscribed[a.agent_id])) if a.agent_id in subscribed else a for a in agents]

    def _get_agent(self, conn: sqlite3.Connection, agent_id: str) -> Agent | None:
        row = conn.execute(AGENT_SQL + "WHERE a.agent_id = ? GROUP BY a.agent_id", (agent_id,)).fetchone()
        return agent_of(row) if row else None

    async def put_agent(self, spec: AgentSpec, request_id: str = "") -> Agent:
        clean = check_agent(spec)

        def apply(conn: sqlite3.Connection) -> Agent:
            now = self.engine.clock()
            conn.execute(
                "INSERT INTO agents (agent_id, skills, capacity, metadata, offline, weight, registered_at, last_seen) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (agent_id) DO UPDATE SET skills = excluded.skills, "
                "capacity = excluded.capacity, metadata = excluded.metadata, offline = excluded.offline, "
                "weight = excluded.weight, last_seen = excluded.last_seen, silent_since = NULL",
                (
                    clean.agent_id,
                    json.dumps(dict(clean.skills)),
                    clean.capacity,
                    clean.metadata_json,
                    int(clean.offline),
                    clean.weight,
                    now,
                    now,
                ),
            )
            work_sql.renew_leases(conn, clean.agent_id, now)  # any call of an agent renews its leases
            if clean.topics is not None:
                conn.execute("DELETE FROM topics WHERE agent_id = ?", (clean.agent_id,))
                conn.executemany(
                    "INSERT INTO topics (topic, agent_id) VALUES (?, ?)", [(t, clean.agent_id) for t in clean.topics]
                )
            agent = self._get_agent(conn, clean.agent_id)
            assert agent is not None
            return self._with_topics(conn, [agent])[0]

        return await self.engine.write(apply, method="PutAgent", request_id=request_id, decode=Agent.from_dict)

    async def heartbeat(self, agent_id: str, offline: bool = False) -> Agent:
        check_id("agent_id", agent_id)

        def apply(conn: sqlite3.Connection) -> Agent:
            cur = conn.execute(
                "UPDATE agents SET last_seen = ?, offline = ?, silent_since = NULL WHERE agent_id = ?",
                (self.engine.clock(), int(offline), agent_id),
            )
            if cur.rowcount == 0:
                raise NotFound(f"no agent {agent_id!r}: register it first")
            work_sql.renew_leases(conn, agent_id, self.engine.clock())
            agent = self._get_agent(conn, agent_id)
            assert agent is not None
            return agent

        return await self.engine.write(apply, method="Heartbeat")

    async def list_agents(
        self, agent_ids: Sequence[str] = (), skill: str = "", min_level: float = 0.0, status: str = ""
    ) -> list[Agent]:
        query = self._agents_query(agent_ids, skill, min_level, status)
        return await self.engine.read(lambda conn: self._with_topics(conn, query(conn)))

    def _agents_query(
        self,
        agent_ids: Sequence[str] = (),
        skill: str = "",
        min_level: float = 0.0,
        status: str = "",
        *,
        reuse: bool = False,
    ) -> Callable[[sqlite3.Connection], list[Agent]]:
        """The arguments checked, and the read that lists the matching agents. With ``reuse`` (the assignment
        view, which lists every agent), an agent whose row is the same as in the last such read is not built
        again."""
        check_agent_filter(agent_ids, skill, min_level, status)

        def read(conn: sqlite3.Connection) -> list[Agent]:
            sql, params = AGENT_SQL, []
            if agent_ids:
                sql += f"WHERE a.agent_id IN ({','.join('?' * len(agent_ids))}) "
                params += list(agent_ids)
            rows = conn.execute(sql + "GROUP BY a.agent_id ORDER BY a.agent_id", params).fetchall()
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

        def apply(conn: sqlite3.Connection) -> dict[str, Any]:
            removed = conn.execute("DELETE FROM agents WHERE agent_id = ?", (agent_id,)).rowcount > 0
            released = conn.execute(
                "UPDATE tasks SET status = 'released', closed_at = ? WHERE agent_id = ? AND status = 'open'",
                (self.engine.clock(), agent_id),
            ).rowcount
            work_sql.release_agent(conn, agent_id, self.engine.clock())  # its queue tasks go back to the queue
            leases_sql.revoke_holder(conn, agent_id, self.engine.clock())  # and the leases it took end
            conn.execute("DELETE FROM trails WHERE agent_id = ?", (agent_id,))
            conn.execute("DELETE FROM topics WHERE agent_id = ?", (agent_id,))
            return {"removed": removed, "released": released}

        result = await self.engine.write(apply, method="RemoveAgent", request_id=request_id, encode=dict)
        return bool(result["removed"]), int(result["released"])

    # ------------------------------------------------------------------ tasks

    async def record_assignments(self, assignments: Sequence[Assignment], request_id: str = "") -> list[Assignment]:
        """Record a batch atomically; answers what was recorded (for a repeated request id, the first batch)."""
        check_assignments(assignments)

        def apply(conn: sqlite3.Connection) -> dict[str, int]:
            now = self.engine.clock()
            extra: dict[str, float] = {}
            for a in assignments:
                extra[a.agent_id] = extra.get(a.agent_id, 0.0) + a.effort
                row = conn.execute(
                    "SELECT agent_id FROM tasks WHERE task_id = ? AND status = 'open'", (a.task_id,)
                ).fetchone()
                check_open_elsewhere(a.task_id, row[0] if row else None)
            for agent_id, effort in extra.items():
                check_room(agent_id, self._get_agent(conn, agent_id), effort)
            conn.executemany(
                "INSERT INTO tasks (task_id, agent_id, task_type, effort, status, assigned_at) "
                "VALUES (?, ?, ?, ?, 'open', ?) ON CONFLICT (task_id) DO UPDATE SET agent_id = excluded.agent_id, "
                "task_type = excluded.task_type, effort = excluded.effort, status = 'open', "
                "assigned_at = excluded.assigned_at, closed_at = NULL, success = NULL, quality = NULL, "
                "duration_s = NULL",
                [(a.task_id, a.agent_id, a.task_type, a.effort, now) for a in assignments],
            )
            return {"recorded": [asdict(a) for a in assignments]}

        result = await self.engine.write(apply, method="RecordAssignments", request_id=request_id, encode=dict)
        return [Assignment(**a) for a in result["recorded"]]

    # ------------------------------------------------------------------ trails

    async def report(self, outcome: Outcome, request_id: str = "") -> ReportResult:
        check_outcome(outcome)

        def apply(conn: sqlite3.Connection) -> ReportResult:
            now = self.engine.clock()
            task = conn.execute(
                "SELECT agent_id, task_type, status FROM tasks WHERE task_id = ?", (outcome.task_id,)
            ).fetchone()
            task_type, was_open = reported_task(outcome, task)
            if conn.execute("SELECT 1 FROM agents WHERE agent_id = ?", (outcome.agent_id,)).fetchone() is None:
                raise unknown_agent(outcome.agent_id)
            trail = self.move_trail(conn, outcome.agent_id, task_type, outcome, now)
            status = "succeeded" if outcome.success else "failed"
            conn.execute(
                "INSERT INTO tasks (task_id, agent_id, task_type, effort, status, assigned_at, closed_at, success, "
                "quality, duration_s) VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?) ON CONFLICT (task_id) DO UPDATE SET "
                "status = excluded.status, closed_at = excluded.closed_at, success = excluded.success, "
                "quality = excluded.quality, duration_s = excluded.duration_s",
                (
                    outcome.task_id,
                    outcome.agent_id,
                    task_type,
                    status,
                    now,
                    now,
                    int(outcome.success),
                    outcome.quality,
                    outcome.duration_s,
                ),
            )
            return ReportResult(trail, was_open)

        return await self.engine.write(
            apply,
            method="ReportOutcome",
            request_id=request_id,
            decode=ReportResult.from_dict,
            encode=asdict,
        )

    def move_trail(
        self, conn: sqlite3.Connection, agent_id: str, task_type: str, outcome: Outcome, now: float
    ) -> Trail:
        """Inside a write: the (agent, task type) trail after ``outcome`` (a success deposits, a failure
        evaporates), with its counts."""
        row = conn.execute(
            "SELECT agent_id, task_type, strength, updated_at, successes, failures FROM trails "
            "WHERE agent_id = ? AND task_type = ?",
            (agent_id, task_type),
        ).fetchone()
        trail = moved_trail(row, agent_id, task_type, outcome, now, self.half_life_s)
        conn.execute(
            "INSERT INTO trails (agent_id, task_type, strength, updated_at, successes, failures) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (agent_id, task_type) DO UPDATE SET "
            "strength = excluded.strength, updated_at = excluded.updated_at, successes = excluded.successes, "
            "failures = excluded.failures",
            (agent_id, task_type, trail.strength, now, trail.successes, trail.failures),
        )
        return trail

    async def read_trails(
        self, agent_ids: Sequence[str] = (), task_types: Sequence[str] = (), limit: int = 0
    ) -> list[Trail]:
        return await self.engine.read(self._trails_query(agent_ids, task_types, limit))

    def _trails_query(
        self, agent_ids: Sequence[str] = (), task_types: Sequence[str] = (), limit: int = 0
    ) -> Callable[[sqlite3.Connection], list[Trail]]:
        """The arguments checked, and the read of the strongest matching trails (decay applied)."""
        n = check_trail_filter(agent_ids, task_types, limit)

        def read(conn: sqlite3.Connection) -> list[Trail]:
            now = self.engine.clock()
            sql = "SELECT agent_id, task_type, strength, updated_at, successes, failures FROM trails WHERE 1=1"
            params: list[Any] = []
            if agent_ids:
                sql += f" AND agent_id IN ({','.join('?' * len(agent_ids))})"
                params += list(agent_ids)
            if task_types:
                sql += f" AND task_type IN ({','.join('?' * len(task_types))})"
                params += list(task_types)
            return strongest([trail_of(r, now, self.half_life_s) for r in conn.execute(sql, params)], n)

        return read

    async def assignment_view(
        self, task_types: Sequence[str] = (), trail_limit: int = 0
    ) -> tuple[list[Agent], list[Trail]]:
        """Every agent and the trails of ``task_types``: what an assignment plans on, in one read job."""
        agents, trails = self._agents_query(reuse=True), self._trails_query((), task_types, trail_limit)

        def read(conn: sqlite3.Connection) -> tuple[list[Agent], list[Trail]]:
            return agents(conn), trails(conn)

        # a small swarm's view is read on the event loop: for it, the hop to a reader thread and back costs more
        # CPU (and two GIL hand-overs under load) than the read itself
        view = await (self.engine.read_point(read) if self._small_swarm else self.engine.read(read))
        self._small_swarm = len(view[0]) + len(view[1]) <= VIEW_INLINE_ROWS
        return view
