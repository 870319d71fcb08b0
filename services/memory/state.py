"""Swarm state kept for the stateless services: agents, open tasks (their load), pheromone trails.

Trails use lazy decay: a row holds the strength at the moment it was last touched; the strength at
time t is computed on read, ``1 + (s - 1) * 0.5 ** ((t - updated_at) / half_life)``, so a trail fades
back to neutral (1.0) without any periodic bulk update. A success adds ``deposit * quality``; a
failure keeps ``1 - evaporation`` of the strength. Strengths stay within [TRAIL_MIN, TRAIL_MAX]
(Max-Min Ant System bounds), so no agent is ever locked in or locked out for good.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from common.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound
from common.validation import check_id, check_level, check_name, check_positive
from services.memory.store import MemoryStore

TRAIL_NEUTRAL = 1.0
TRAIL_MIN = 0.1
TRAIL_MAX = 5.0
MAX_SKILLS = 64
MAX_METADATA_BYTES = 64 * 1024
STATUSES = ("idle", "busy", "offline")


def decayed(strength: float, updated_at: float, now: float, half_life: float) -> float:
    age = now - updated_at
    if age <= 0:
        return strength
    return TRAIL_NEUTRAL + (strength - TRAIL_NEUTRAL) * 0.5 ** (age / half_life)


@dataclass(frozen=True)
class AgentSpec:
    agent_id: str
    skills: Mapping[str, float]
    capacity: float
    metadata_json: str = "{}"
    offline: bool = False
    weight: float = 1.0


@dataclass(frozen=True)
class Agent:
    agent_id: str
    skills: dict[str, float]
    capacity: float
    metadata_json: str
    status: str
    load: float
    open_tasks: int
    registered_at: float
    last_seen: float
    weight: float

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Agent:
        return cls(**d)


@dataclass(frozen=True)
class Assignment:
    task_id: str
    agent_id: str
    task_type: str
    effort: float


@dataclass(frozen=True)
class Outcome:
    task_id: str
    agent_id: str
    success: bool
    quality: float
    duration_s: float = 0.0
    task_type: str = ""
    deposit: float = 1.0
    evaporation: float = 0.5


@dataclass(frozen=True)
class Trail:
    agent_id: str
    task_type: str
    strength: float
    updated_at: float
    successes: int
    failures: int
    raw_strength: float

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trail:
        return cls(**d)


@dataclass(frozen=True)
class ReportResult:
    trail: Trail
    task_was_open: bool

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReportResult:
        return cls(Trail.from_dict(d["trail"]), d["task_was_open"])


# an agent with its load: the effort and number of its open tasks
VIEW_INLINE_ROWS = 500  # agents + trails in a view read on the loop (~1 ms at most); more on a reader thread
AGENT_SQL = (
    "SELECT a.agent_id, a.skills, a.capacity, a.metadata, a.offline, a.registered_at, a.last_seen, a.weight, "
    "COALESCE(SUM(t.effort), 0), COUNT(t.task_id) FROM agents a "
    "LEFT JOIN tasks t ON t.agent_id = a.agent_id AND t.status = 'open' "
)


@dataclass
class SwarmState:
    """Agent, task and trail operations on top of the memory engine's writer and readers."""

    store: MemoryStore
    half_life_s: float = 3600.0
    # whether the last assignment view had at most VIEW_INLINE_ROWS rows (then the next is read inline); the
    # first view after a start goes to a reader thread, whatever the swarm's size
    _small_swarm: bool = field(default=False, init=False, repr=False)
    # the agents of the last assignment view, by their row: an agent whose row is unchanged is not built again
    # (between two views under load most rows are unchanged; building one costs ~2 us, looking it up ~0.2)
    _view_agents: dict[tuple[Any, ...], Agent] = field(default_factory=dict, init=False, repr=False)

    # ------------------------------------------------------------------ agents

    @staticmethod
    def _agent(row: Sequence[Any]) -> Agent:
        agent_id, skills, capacity, metadata, offline, registered, seen, weight, load, n_open = row
        status = "offline" if offline else ("busy" if n_open else "idle")
        return Agent(agent_id, json.loads(skills), capacity, metadata, status, load, n_open, registered, seen, weight)

    def _get_agent(self, conn: sqlite3.Connection, agent_id: str) -> Agent | None:
        row = conn.execute(AGENT_SQL + "WHERE a.agent_id = ? GROUP BY a.agent_id", (agent_id,)).fetchone()
        return self._agent(row) if row else None

    def validate_agent(self, spec: AgentSpec) -> AgentSpec:
        check_id("agent_id", spec.agent_id)
        if len(spec.skills) > MAX_SKILLS:
            raise InvalidArgument(f"{len(spec.skills)} skills given: at most {MAX_SKILLS}")
        skills = {check_name("skill", k): check_level(f"skill {k!r} level", v) for k, v in spec.skills.items()}
        capacity = check_positive("capacity", spec.capacity)
        meta = spec.metadata_json or "{}"
        if len(meta.encode()) > MAX_METADATA_BYTES:
            raise InvalidArgument(f"metadata is over {MAX_METADATA_BYTES} bytes: keep it small")
        try:
            parsed = json.loads(meta)
        except (ValueError, RecursionError):
            raise InvalidArgument("metadata is not valid JSON: give a JSON object") from None
        if not isinstance(parsed, dict):
            raise InvalidArgument('metadata must be a JSON object (e.g. {"model": "..."})')
        weight = spec.weight or 1.0
        if not math.isfinite(weight) or weight < 0 or weight > 1e6:
            raise InvalidArgument(f"weight={spec.weight}: give a positive number (default 1)")
        return AgentSpec(
            spec.agent_id, skills, capacity, json.dumps(parsed, separators=(",", ":")), spec.offline, weight
        )

    async def put_agent(self, spec: AgentSpec, request_id: str = "") -> Agent:
        clean = self.validate_agent(spec)

        def apply(conn: sqlite3.Connection) -> Agent:
            now = self.store.clock()
            conn.execute(
                "INSERT INTO agents (agent_id, skills, capacity, metadata, offline, weight, registered_at, last_seen) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (agent_id) DO UPDATE SET skills = excluded.skills, "
                "capacity = excluded.capacity, metadata = excluded.metadata, offline = excluded.offline, "
                "weight = excluded.weight, last_seen = excluded.last_seen",
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
            agent = self._get_agent(conn, clean.agent_id)
            assert agent is not None
            return agent

        return await self.store.write(apply, method="PutAgent", request_id=request_id, decode=Agent.from_dict)

    async def heartbeat(self, agent_id: str, offline: bool = False) -> Agent:
        check_id("agent_id", agent_id)

        def apply(conn: sqlite3.Connection) -> Agent:
            cur = conn.execute(
                "UPDATE agents SET last_seen = ?, offline = ? WHERE agent_id = ?",
                (self.store.clock(), int(offline), agent_id),
            )
            if cur.rowcount == 0:
                raise NotFound(f"no agent {agent_id!r}: register it first")
            agent = self._get_agent(conn, agent_id)
            assert agent is not None
            return agent

        return await self.store.write(apply, method="Heartbeat")

    async def list_agents(
        self, agent_ids: Sequence[str] = (), skill: str = "", min_level: float = 0.0, status: str = ""
    ) -> list[Agent]:
        return await self.store.read(self._agents_query(agent_ids, skill, min_level, status))

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
        for a in agent_ids:
            check_id("agent_id", a)
        if skill:
            check_name("skill", skill)
        check_level("min_level", min_level)
        if status and status not in STATUSES:
            raise InvalidArgument(f"status {status!r} is not one of {', '.join(STATUSES)}")

        def read(conn: sqlite3.Connection) -> list[Agent]:
            sql, params = AGENT_SQL, []
            if agent_ids:
                sql += f"WHERE a.agent_id IN ({','.join('?' * len(agent_ids))}) "
                params += list(agent_ids)
            rows = conn.execute(sql + "GROUP BY a.agent_id ORDER BY a.agent_id", params).fetchall()
            if reuse:
                known = self._view_agents
                agents = [known.get(row) or self._agent(row) for row in rows]
                self._view_agents = dict(zip(rows, agents, strict=True))  # only today's agents stay
            else:
                agents = [self._agent(r) for r in rows]
            if skill:
                agents = [a for a in agents if a.skills.get(skill, -1.0) >= min_level]
            if status:
                agents = [a for a in agents if a.status == status]
            return agents

        return read

    async def remove_agent(self, agent_id: str, request_id: str = "") -> tuple[bool, int]:
        check_id("agent_id", agent_id)

        def apply(conn: sqlite3.Connection) -> dict[str, Any]:
            removed = conn.execute("DELETE FROM agents WHERE agent_id = ?", (agent_id,)).rowcount > 0
            released = conn.execute(
                "UPDATE tasks SET status = 'released', closed_at = ? WHERE agent_id = ? AND status = 'open'",
                (self.store.clock(), agent_id),
            ).rowcount
            conn.execute("DELETE FROM trails WHERE agent_id = ?", (agent_id,))
            return {"removed": removed, "released": released}

        result = await self.store.write(apply, method="RemoveAgent", request_id=request_id, encode=dict)
        return bool(result["removed"]), int(result["released"])

    # ------------------------------------------------------------------ tasks

    async def record_assignments(self, assignments: Sequence[Assignment], request_id: str = "") -> list[Assignment]:
        """Record a batch atomically; answers what was recorded (for a repeated request id, the first batch)."""
        if not assignments:
            raise InvalidArgument("no assignments to record")
        seen: set[str] = set()
        for a in assignments:
            check_id("task_id", a.task_id)
            check_id("agent_id", a.agent_id)
            check_name("task type", a.task_type)
            check_positive("effort", a.effort)
            if a.task_id in seen:
                raise InvalidArgument(f"task {a.task_id!r} appears twice in one batch")
            seen.add(a.task_id)

        def apply(conn: sqlite3.Connection) -> dict[str, int]:
            now = self.store.clock()
            extra: dict[str, float] = {}
            for a in assignments:
                extra[a.agent_id] = extra.get(a.agent_id, 0.0) + a.effort
                row = conn.execute(
                    "SELECT agent_id FROM tasks WHERE task_id = ? AND status = 'open'", (a.task_id,)
                ).fetchone()
                if row is not None:
                    raise FailedPrecondition(
                        f"task {a.task_id!r} is still open with agent {row[0]!r}: report its outcome before "
                        "assigning it again"
                    )
            for agent_id, effort in extra.items():
                agent = self._get_agent(conn, agent_id)
                if agent is None:
                    raise FailedPrecondition(f"agent {agent_id!r} is no longer registered")
                if agent.status == "offline":
                    raise FailedPrecondition(f"agent {agent_id!r} went offline")
                if agent.load + effort > agent.capacity + 1e-9:
                    raise Aborted(
                        f"agent {agent_id!r} has {agent.capacity - agent.load:g} capacity left, not {effort:g}: "
                        "its load changed since the assignment was computed"
                    )
            conn.executemany(
                "INSERT INTO tasks (task_id, agent_id, task_type, effort, status, assigned_at) "
                "VALUES (?, ?, ?, ?, 'open', ?) ON CONFLICT (task_id) DO UPDATE SET agent_id = excluded.agent_id, "
                "task_type = excluded.task_type, effort = excluded.effort, status = 'open', "
                "assigned_at = excluded.assigned_at, closed_at = NULL, success = NULL, quality = NULL, "
                "duration_s = NULL",
                [(a.task_id, a.agent_id, a.task_type, a.effort, now) for a in assignments],
            )
            return {"recorded": [asdict(a) for a in assignments]}

        result = await self.store.write(apply, method="RecordAssignments", request_id=request_id, encode=dict)
        return [Assignment(**a) for a in result["recorded"]]

    # ------------------------------------------------------------------ trails

    def _trail(self, row: Sequence[Any], now: float) -> Trail:
        agent_id, task_type, strength, updated, successes, failures = row
        return Trail(
            agent_id,
            task_type,
            decayed(strength, updated, now, self.half_life_s),
            updated,
            successes,
            failures,
            strength,
        )

    async def report(self, outcome: Outcome, request_id: str = "") -> ReportResult:
        check_id("task_id", outcome.task_id)
        check_id("agent_id", outcome.agent_id)
        check_level("quality", outcome.quality)
        if not math.isfinite(outcome.duration_s) or outcome.duration_s < 0:
            raise InvalidArgument(f"duration_s={outcome.duration_s}: give 0 or a positive number of seconds")
        if outcome.task_type:
            check_name("task type", outcome.task_type)
        check_positive("deposit", outcome.deposit, TRAIL_MAX)
        check_level("evaporation", outcome.evaporation)

        def apply(conn: sqlite3.Connection) -> ReportResult:
            now = self.store.clock()
            task = conn.execute(
                "SELECT agent_id, task_type, status FROM tasks WHERE task_id = ?", (outcome.task_id,)
            ).fetchone()
            task_type = outcome.task_type
            was_open = False
            if task is not None:
                if task[0] != outcome.agent_id:
                    raise FailedPrecondition(
                        f"task {outcome.task_id!r} was assigned to {task[0]!r}, not {outcome.agent_id!r}"
                    )
                if outcome.task_type and outcome.task_type != task[1]:
                    raise InvalidArgument(f"task {outcome.task_id!r} has type {task[1]!r}, not {outcome.task_type!r}")
                task_type, was_open = task[1], task[2] == "open"
                if task[2] not in ("open",):
                    raise FailedPrecondition(
                        f"task {outcome.task_id!r} is already closed ({task[2]}): an outcome is reported once"
                    )
            elif not task_type:
                raise NotFound(f"no task {outcome.task_id!r} was assigned here: give its task_type to report it anyway")
            if conn.execute("SELECT 1 FROM agents WHERE agent_id = ?", (outcome.agent_id,)).fetchone() is None:
                raise NotFound(f"no agent {outcome.agent_id!r}: register it first")
            row = conn.execute(
                "SELECT agent_id, task_type, strength, updated_at, successes, failures FROM trails "
                "WHERE agent_id = ? AND task_type = ?",
                (outcome.agent_id, task_type),
            ).fetchone()
            current = self._trail(row, now).strength if row else TRAIL_NEUTRAL
            successes, failures = (row[4], row[5]) if row else (0, 0)
            if outcome.success:
                strength = min(TRAIL_MAX, current + outcome.deposit * outcome.quality)
                successes += 1
            else:
                strength = max(TRAIL_MIN, current * (1.0 - outcome.evaporation))
                failures += 1
            conn.execute(
                "INSERT INTO trails (agent_id, task_type, strength, updated_at, successes, failures) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (agent_id, task_type) DO UPDATE SET "
                "strength = excluded.strength, updated_at = excluded.updated_at, successes = excluded.successes, "
                "failures = excluded.failures",
                (outcome.agent_id, task_type, strength, now, successes, failures),
            )
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
            trail = Trail(outcome.agent_id, task_type, strength, now, successes, failures, strength)
            return ReportResult(trail, was_open)

        return await self.store.write(
            apply,
            method="ReportOutcome",
            request_id=request_id,
            decode=ReportResult.from_dict,
            encode=asdict,
        )

    async def read_trails(
        self, agent_ids: Sequence[str] = (), task_types: Sequence[str] = (), limit: int = 0
    ) -> list[Trail]:
        return await self.store.read(self._trails_query(agent_ids, task_types, limit))

    def _trails_query(
        self, agent_ids: Sequence[str] = (), task_types: Sequence[str] = (), limit: int = 0
    ) -> Callable[[sqlite3.Connection], list[Trail]]:
        """The arguments checked, and the read of the strongest matching trails (decay applied)."""
        for a in agent_ids:
            check_id("agent_id", a)
        for t in task_types:
            check_name("task type", t)
        if limit < 0 or limit > 10_000:
            raise InvalidArgument(f"limit={limit}: give 1-10000 (0 means 100)")
        n = limit or 100

        def read(conn: sqlite3.Connection) -> list[Trail]:
            now = self.store.clock()
            sql = "SELECT agent_id, task_type, strength, updated_at, successes, failures FROM trails WHERE 1=1"
            params: list[Any] = []
            if agent_ids:
                sql += f" AND agent_id IN ({','.join('?' * len(agent_ids))})"
                params += list(agent_ids)
            if task_types:
                sql += f" AND task_type IN ({','.join('?' * len(task_types))})"
                params += list(task_types)
            trails = [self._trail(r, now) for r in conn.execute(sql, params)]
            trails.sort(key=lambda t: (-t.strength, t.agent_id, t.task_type))
            return trails[:n]

        return read

    async def assignment_view(
        self, task_types: Sequence[str] = (), trail_limit: int = 0
    ) -> tuple[list[Agent], list[Trail]]:
        """Every agent and the trails of ``task_types``: what an assignment plans on, in one read job."""
        agents, trails = self._agents_query(reuse=True), self._trails_query((), task_types, trail_limit)

        def read(conn: sqlite3.Connection) -> tuple[list[Agent], list[Trail]]:
            return agents(conn), trails(conn)

        # a small swarm's view (~0.25 ms of SQLite and Python at 50 agents) is read on the event loop: the hop
        # to a reader thread and back costs ~0.17 ms more CPU and two GIL hand-overs under load
        view = await (self.store.read_point(read) if self._small_swarm else self.store.read(read))
        self._small_swarm = len(view[0]) + len(view[1]) <= VIEW_INLINE_ROWS
        return view
