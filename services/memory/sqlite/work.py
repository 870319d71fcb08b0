"""The work queue in SQLite (the rules and records are services/memory/work_*.py, the long poll, waking and answers
services/memory/work_store.py, the SQL sqlite/work_sql.py).

Every change is one transaction of the engine's writer, so a task is placed once and completed at most once whatever
runs concurrently; waiters (``next`` long polls, placement watchers) are woken after the commit."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from common.errors import FailedPrecondition, InvalidArgument
from services.memory.sqlite import work_sql as sql
from services.memory.sqlite.engine import SqliteEngine
from services.memory.sqlite.state import SqliteStateStore
from services.memory.work_records import Report, TaskRec
from services.memory.work_rules import HELD, MAX_NEXT, OPEN, Spec
from services.memory.work_store import (
    DEFAULT_RETENTION_S,
    ListQuery,
    WorkStoreBase,
    check_known,
    split_blocked,
    view_limit,
)


class SqliteWorkStore(WorkStoreBase):
    """Implements services.memory.storage.WorkStore; ``run()`` is its background work (lease expiry at the
    moment a lease runs out); ended tasks are purged ``retention_s`` after they ended."""

    def __init__(
        self,
        engine: SqliteEngine,
        state: SqliteStateStore,
        *,
        max_value_bytes: int = 1024 * 1024,
        retention_s: float = DEFAULT_RETENTION_S,
    ) -> None:
        super().__init__(engine.clock, state, max_value_bytes=max_value_bytes, retention_s=retention_s)
        self.engine = engine
        engine.add_purge(lambda conn, now: sql.purge(conn, now - self.retention_s))  # with the engine's TTL purge

    async def _waits_for_leases(self) -> bool:
        return await self.engine.read_point(sql.waits_for_leases)

    async def _submit(self, clean: list[Spec], request_id: str) -> dict[str, Any]:
        def apply(conn: sqlite3.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            created: dict[str, bool] = {}
            for spec in sql.topological(clean):  # a task after the tasks of the batch it depends on
                row = conn.execute("SELECT digest FROM work WHERE task_id = ?", (spec.task_id,)).fetchone()
                if row is not None:
                    if row[0] != spec.digest():
                        raise InvalidArgument(
                            f"task {spec.task_id!r} already exists with other content: submit the same content "
                            "again, or use a new id for a new task"
                        )
                    created[spec.task_id] = False
                    continue
                states = sql.dependency_states(conn, spec.depends_on)
                unknown = [d for d in spec.depends_on if d not in states]
                if unknown:
                    raise InvalidArgument(
                        f"task {spec.task_id!r} depends on unknown task {unknown[0]!r}: submit it first or in the "
                        "same call"
                    )
                sql.insert_task(conn, spec, states, now)
                created[spec.task_id] = True
            tasks = [sql.load_task(conn, s.task_id) for s in clean]
            return {"tasks": [t.to_dict() for t in tasks], "created": [created[s.task_id] for s in clean]}

        return await self.engine.write(apply, method="SubmitTasks", request_id=request_id, encode=lambda r: r)

    async def _queued(self, limit: int) -> tuple[list[TaskRec], list[tuple[str, str]]]:
        def read(conn: sqlite3.Connection) -> tuple[list[TaskRec], list[tuple[str, str]]]:
            free = sql.free_capacity(conn)
            if free <= 1e-9:  # every agent full (the usual state of a busy swarm): nothing can be placed
                return [], []
            tasks = sql.queued_tasks(conn, view_limit(limit, free))
            return split_blocked(tasks, sql.lease_blocked(conn, tasks, self.engine.clock()))

        return await self.engine.read(read)

    async def _place(
        self, placements: Sequence[tuple[str, str, float]], unplaced: Sequence[tuple[str, str]], request_id: str
    ) -> dict[str, Any]:
        def apply(conn: sqlite3.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            placed, refused, earliest = sql.place(conn, placements, now)
            sql.note_unplaced(conn, unplaced, now)
            return {"placed": placed, "refused": refused, "earliest": earliest}

        return await self.engine.write(apply, method="PlaceTasks", request_id=request_id, encode=lambda r: r)

    async def _take(self, agent_id: str, limit: int) -> dict[str, Any]:
        def apply(conn: sqlite3.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            came_back = sql.touch_agent(conn, agent_id, now)
            taken = sql.take(conn, agent_id, limit, now)
            return {
                "came_back": came_back,
                "work": [
                    {"task": sql.load_task(conn, t).to_dict(), "deps": sql.dependency_results(conn, t)} for t in taken
                ],
                "cancelled": sql.take_notices(conn, agent_id),
                "held": [  # brief: its description, payload and results come with task_list ids=[...]
                    {"task": t.to_dict(), "deps": []} for t in sql.held_brief(conn, agent_id, taken, MAX_NEXT)
                ],
                "shortest_lease_s": None if taken else sql.shortest_lease(conn, agent_id),
            }

        return await self.engine.write(apply, method="NextTasks", encode=lambda r: r)

    async def _report(self, r: Report) -> dict[str, Any]:
        def apply(conn: sqlite3.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            row = conn.execute(
                "SELECT state, agent_id, attempt, task_type FROM work WHERE task_id = ?", (r.task_id,)
            ).fetchone()
            if row is None:
                return {"legacy": True}  # nothing written: the task_assign path writes on its own
            result_json = self._checked(r)
            state, holder, attempt, task_type = row
            came_back = sql.touch_agent(conn, r.agent_id, now)  # NotFound for an agent not registered
            holds = state in HELD and holder == r.agent_id
            if not holds or state == "placed":
                # placed on it again but not taken: a report it already made is that report again (it cannot be
                # about an attempt it was never given), answered as the first time, not a second failure
                first = sql.first_answer(conn, r.task_id, r.agent_id, r.kind)
                if first is not None:
                    return {**json.loads(first), "repeated": True, "came_back": came_back}
            if not holds:
                raise FailedPrecondition(sql.why_not_yours(conn, r.task_id, r.agent_id, state, holder, attempt, now))
            if r.kind == "progress":
                sql.progress(conn, r.task_id, r.agent_id, r.progress, now)
                task = sql.load_task(conn, r.task_id).to_dict()
                return {"task": task, "trail": None, "ready": [], "cancelled": [], "came_back": came_back}
            success = r.kind == "success"
            trail = self.state.move_trail(conn, r.agent_id, task_type, self._outcome(r), now)
            sql.close_ledger(conn, r.task_id, "succeeded" if success else "failed", now, r.quality, r.duration_s)
            if success:
                ready = sql.finish(conn, r.task_id, attempt, result_json, now)
                cancelled: list[str] = []
            else:
                ready, cancelled = [], sql.fail_attempt(conn, r.task_id, attempt, "failed", r.error or "failed", now)
            answer = {
                "task": sql.brief(sql.load_task(conn, r.task_id)).to_dict(),
                "trail": trail.to_dict(),
                "ready": ready,
                "cancelled": cancelled,
            }
            sql.keep_answer(conn, r.task_id, attempt, r.kind, json.dumps(answer))
            return answer

        return await self.engine.write(apply, method="ReportTask", encode=lambda x: x)

    async def _cancel(self, ids: list[str], why: str, request_id: str) -> dict[str, Any]:
        def apply(conn: sqlite3.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            states = dict(
                conn.execute(f"SELECT task_id, state FROM work WHERE task_id IN ({','.join('?' * len(ids))})", ids)
            )
            check_known(ids, states, "cancelled")
            cancelled, unchanged = [], []
            for task_id in ids:
                if states[task_id] in OPEN:
                    sql.cancel_one(conn, task_id, why, now)
                    cancelled.append(task_id)
                else:
                    unchanged.append(sql.load_task(conn, task_id).to_dict())
            dependents = sql.cancel_dependents(conn, cancelled, "was cancelled", why, now)
            return {"cancelled": cancelled, "dependents": dependents, "unchanged": unchanged}

        return await self.engine.write(apply, method="CancelTasks", request_id=request_id, encode=lambda r: r)

    async def _notified(self, task_ids: Sequence[str]) -> list[str]:
        return await self.engine.read(lambda conn: sql.notified_agents(conn, task_ids))

    async def _requeue(self, ids: list[str], why: str, request_id: str) -> dict[str, Any]:
        def apply(conn: sqlite3.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            marks = ",".join("?" * len(ids))
            states = dict(conn.execute(f"SELECT task_id, state FROM work WHERE task_id IN ({marks})", ids))
            check_known(ids, states, "requeued")
            requeued = [i for i in ids if states[i] == "dead"]
            unchanged = [sql.load_task(conn, i).to_dict() for i in ids if states[i] != "dead"]
            restored = sql.requeue_dead(conn, requeued, why, now)
            return {"requeued": requeued, "restored": restored, "unchanged": unchanged}

        return await self.engine.write(apply, method="RequeueTasks", request_id=request_id, encode=lambda r: r)

    async def _list(self, query: ListQuery) -> tuple[list[TaskRec], dict[str, int], str]:
        return await self.engine.read(lambda conn: sql.list_tasks(conn, *query))

    async def _expire(self) -> list[str]:
        return await self.engine.write(lambda conn: sql.expire(conn, self.engine.clock()), method="ExpireLeases")

    async def _purge(self, cutoff: float) -> int:
        return await self.engine.write(lambda conn: sql.purge(conn, cutoff), method="PurgeTasks")

    async def next_expiry(self) -> float | None:
        return await self.engine.read(sql.next_expiry)
