"""The work queue on PostgreSQL (the rules and records are services/memory/work_*.py, the long poll, waking and
answers services/memory/work_store.py, the SQL postgres/work_sql.py).

Every change is one write under the state lock (postgres/engine.py, ``locked``): one at a time across every replica,
each seeing what the one before committed, so a task is placed once and handed out once, and completed at most once,
whichever replicas the placer and the agents call. An agent's ``next`` and its progress and success reports change
only what it holds: they hold the lock shared, with the agent's own lock (several agents' at once, each agent's one
at a time); a placement, a failure, a cancel or an expiry waits for them and runs alone. Waiters on this replica are
woken after the commit; waiters on another replica by the database's notification of the commit (postgres/notify.py).
Lease expiry runs on every replica's timer; the transaction of the first to get there expires the attempt, the others
find nothing to do."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import asyncpg

from common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.memory.postgres import work_sql as sql
from services.memory.postgres.engine import PgEngine
from services.memory.postgres.state import PgStateStore
from services.memory.work_records import Report, TaskRec
from services.memory.work_rules import HELD, MAX_NEXT, OPEN, Spec
from services.memory.work_store import (
    DEFAULT_RETENTION_S,
    IDLE_WAKE_S,
    ListQuery,
    WorkStoreBase,
    check_known,
    split_blocked,
    view_limit,
)

OWN_REPORTS = ("progress", "success")  # report kinds that run under the reporter's own lock
CHANGED = "changed"  # the one key of the placement topic: placement may have work


class _NotQueued(Exception):
    """Inside a report's write: the task is not in the queue (roll back, answer the task_assign path)."""


class PgWorkStore(WorkStoreBase):
    """Implements services.memory.storage.WorkStore on PostgreSQL; ``run()`` is its background work."""

    def __init__(
        self,
        engine: PgEngine,
        state: PgStateStore,
        *,
        max_value_bytes: int = 1024 * 1024,
        retention_s: float = DEFAULT_RETENTION_S,
    ) -> None:
        super().__init__(engine.clock, state, max_value_bytes=max_value_bytes, retention_s=retention_s)
        self.engine = engine
        self.pg_state = state
        engine.add_purge(lambda conn, now: sql.purge(conn, now - self.retention_s))  # with the engine's TTL purge
        self.agents = engine.notifier.topic("work.agents")  # task_next long polls, woken here and from elsewhere
        self._placement = engine.notifier.topic("work.placement")  # another replica's change placement may use

    async def _write(self, apply: Any, method: str, request_id: str = "", agent: str = "") -> Any:
        """Under the state lock; with ``agent``, under that agent's lock only (postgres/engine.py, ``write``)."""
        return await self.engine.write(
            apply, method=method, request_id=request_id, encode=lambda r: r, locked=True, agent=agent
        )

    async def _waits_for_leases(self) -> bool:
        return await self.engine.read(sql.waits_for_leases)

    async def _submit(self, clean: list[Spec], request_id: str) -> dict[str, Any]:
        async def apply(conn: asyncpg.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            created: dict[str, bool] = {}
            for spec in sql.topological(clean):  # a task after the tasks of the batch it depends on
                digest = await sql.digest_of(conn, spec.task_id)
                if digest is not None:
                    if digest != spec.digest():
                        raise InvalidArgument(
                            f"task {spec.task_id!r} already exists with other content: submit the same content "
                            "again, or use a new id for a new task"
                        )
                    created[spec.task_id] = False
                    continue
                states = await sql.states_of(conn, spec.depends_on)
                unknown = [d for d in spec.depends_on if d not in states]
                if unknown:
                    raise InvalidArgument(
                        f"task {spec.task_id!r} depends on unknown task {unknown[0]!r}: submit it first or in the "
                        "same call"
                    )
                await sql.insert_task(conn, spec, states, now)
                created[spec.task_id] = True
            await self._published(conn, "submitted")
            tasks = [await sql.load_task(conn, s.task_id) for s in clean]
            return {"tasks": [asdict(t) for t in tasks], "created": [created[s.task_id] for s in clean]}

        return await self._write(apply, "SubmitTasks", request_id)

    async def publish(self, conn: asyncpg.Connection, cause: str, agents: Sequence[str] = ()) -> None:
        """Inside a transaction: at its commit, the other replicas' long polls of ``agents`` wake, and (with a
        ``cause``) their placement watchers; this replica's are woken after the commit (``_changed``)."""
        if agents:
            await self.agents.publish(conn, agents)
        if cause:
            await self._placement.publish(conn, [CHANGED])

    _published = publish

    async def _hear_others(self) -> None:
        """Placement watchers here see a new revision whenever another replica committed a change they care about
        (or notifications may have been missed: the notifier wakes every key after it reconnects), and the expiry
        timer re-reads the next expiry (so a task lease granted by a replica that died still runs out on time)."""
        while True:
            seen = self._placement.version(CHANGED)
            if await self._placement.wait(CHANGED, seen, IDLE_WAKE_S):
                self._lease_wakeup.set()  # a lease granted there may run out first: the timer here looks again
                await self._changed("replica")

    async def run(self) -> None:
        """The expiry timer (every replica's: the first to commit the expiry does it, the others find nothing), and
        hearing of other replicas' changes."""
        hearing = asyncio.get_running_loop().create_task(self._hear_others(), name="memory-work-hear")
        try:
            await super().run()
        finally:
            hearing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await hearing

    async def _queued(self, limit: int) -> tuple[list[TaskRec], list[tuple[str, str]]]:
        async def read(conn: asyncpg.Connection) -> tuple[list[TaskRec], list[tuple[str, str]]]:
            free = await sql.free_capacity(conn)
            if free <= 1e-9:  # every agent full (the usual state of a busy swarm): nothing can be placed
                return [], []
            tasks = await sql.queued_tasks(conn, view_limit(limit, free))
            return split_blocked(tasks, await sql.lease_blocked(conn, tasks, self.engine.clock()))

        return await self.engine.read(read, snapshot=True)

    async def _place(
        self, placements: Sequence[tuple[str, str, float]], unplaced: Sequence[tuple[str, str]], request_id: str
    ) -> dict[str, Any]:
        async def apply(conn: asyncpg.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            placed, refused, earliest = await sql.place(conn, placements, now)
            await sql.note_unplaced(conn, unplaced, now)
            if placed:
                await self._published(conn, "", sorted({p[1] for p in placed}))
            return {"placed": placed, "refused": refused, "earliest": earliest}

        return await self._write(apply, "PlaceTasks", request_id)

    async def _take(self, agent_id: str, limit: int) -> dict[str, Any]:
        async def apply(conn: asyncpg.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            came_back = await sql.touch_agent(conn, agent_id, now)
            taken = await sql.take(conn, agent_id, limit, now)
            work = [{"task": asdict(t), "deps": deps} for t, deps in await sql.load_work(conn, taken)] if taken else []
            if came_back:
                await self._published(conn, "agent")
            cancelled, held, shortest = await sql.after_take(conn, agent_id, taken, MAX_NEXT)
            return {
                "came_back": came_back,
                "work": work,
                "cancelled": cancelled,
                # brief: its description, payload and results come with task_list ids=[...]
                "held": [{"task": asdict(t), "deps": []} for t in held],
                "shortest_lease_s": None if taken else shortest,
            }

        return await self._write(apply, "NextTasks", agent=agent_id)  # its own tasks only

    async def _report(self, r: Report) -> dict[str, Any]:
        async def apply(conn: asyncpg.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            row = await sql.report_row(conn, r.task_id, r.agent_id, now)
            if row is None:
                raise _NotQueued  # the touch is rolled back: the task_assign path writes on its own
            result_json = self._checked(r)
            state, holder, attempt, spec_json, registered, came_back, trail_row = row
            if not registered:
                raise NotFound(f"no agent {r.agent_id!r}: register it first (agent_register)")
            if came_back:
                await self._published(conn, "agent")
            holds = state in HELD and holder == r.agent_id
            if not holds or state == "placed":
                # placed on it again but not taken: a report it already made is that report again
                first = await sql.first_answer(conn, r.task_id, r.agent_id, r.kind)
                if first is not None:
                    return {**json.loads(first), "repeated": True, "came_back": came_back}
            if not holds:
                raise FailedPrecondition(await sql.why_not_yours(conn, r.task_id, r.agent_id, state, holder, now))
            if r.kind == "progress":
                task = asdict(await sql.progress(conn, r.task_id, r.agent_id, r.progress, now))
                return {"task": task, "trail": None, "ready": [], "cancelled": [], "came_back": came_back}
            success = r.kind == "success"
            task_type = Spec.from_json(spec_json).task_type
            before = json.loads(trail_row) if trail_row else None
            trail = await self.pg_state.move_trail(conn, before, r.agent_id, task_type, self._outcome(r), now)
            if success:
                ready = await sql.finish(conn, r.task_id, attempt, result_json, now, r.quality, r.duration_s)
                cancelled: list[str] = []
            else:
                await sql.close_ledger(conn, r.task_id, "failed", now, r.quality, r.duration_s)
                error = r.error or "failed"
                ready, cancelled = [], await sql.fail_attempt(conn, r.task_id, attempt, "failed", error, now)
            answer = {
                "task": asdict(sql.brief(await sql.load_task(conn, r.task_id))),
                "trail": asdict(trail),
                "ready": ready,
                "cancelled": cancelled,
            }
            await sql.keep_answer(conn, r.task_id, attempt, r.kind, json.dumps(answer))
            await self._published(conn, "ended")
            return answer

        # progress and success change only the reporter's task (and ready dependents by an atomic decrement): its
        # own lock; a failure may re-queue the task or cancel its dependents: the whole state's
        try:
            return await self._write(apply, "ReportTask", agent=r.agent_id if r.kind in OWN_REPORTS else "")
        except _NotQueued:
            return {"legacy": True}  # nothing written

    async def _cancel(self, ids: list[str], why: str, request_id: str) -> dict[str, Any]:
        async def apply(conn: asyncpg.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            states = await sql.states_of(conn, ids)
            check_known(ids, states, "cancelled")
            cancelled, unchanged = [], []
            for task_id in ids:
                if states[task_id] in OPEN:
                    await sql.cancel_one(conn, task_id, why, now)
                    cancelled.append(task_id)
                else:
                    unchanged.append(asdict(await sql.load_task(conn, task_id)))
            dependents = await sql.cancel_dependents(conn, cancelled, "was cancelled", why, now)
            if cancelled:
                await self._published(conn, "cancelled", await sql.notified_agents(conn, cancelled))
            return {"cancelled": cancelled, "dependents": dependents, "unchanged": unchanged}

        return await self._write(apply, "CancelTasks", request_id)

    async def _notified(self, task_ids: Sequence[str]) -> list[str]:
        return await self.engine.read(lambda conn: sql.notified_agents(conn, task_ids))

    async def _requeue(self, ids: list[str], why: str, request_id: str) -> dict[str, Any]:
        async def apply(conn: asyncpg.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            states = await sql.states_of(conn, ids)
            check_known(ids, states, "requeued")
            requeued = [i for i in ids if states[i] == "dead"]
            unchanged = [asdict(await sql.load_task(conn, i)) for i in ids if states[i] != "dead"]
            restored = await sql.requeue_dead(conn, requeued, why, now)
            if requeued:
                await self._published(conn, "submitted")
            return {"requeued": requeued, "restored": restored, "unchanged": unchanged}

        return await self._write(apply, "RequeueTasks", request_id)

    async def _list(self, query: ListQuery) -> tuple[list[TaskRec], dict[str, int], str]:
        return await self.engine.read(lambda conn: sql.list_tasks(conn, *query), snapshot=True)

    async def _expire(self) -> list[str]:
        async def apply(conn: asyncpg.Connection) -> list[str]:
            agents = await sql.expire(conn, self.engine.clock())
            if agents:
                await self._published(conn, "expired", sorted(set(agents)))
            return agents

        return await self.engine.write(apply, method="ExpireLeases", locked=True)

    async def _purge(self, cutoff: float) -> int:
        return await self.engine.write(lambda conn: sql.purge(conn, cutoff), method="PurgeTasks", locked=True)

    async def next_expiry(self) -> float | None:
        return await self.engine.read(sql.next_expiry)
