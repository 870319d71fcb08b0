"""The work queue in SQLite: tasks from submit to result (the rules and records are services/memory/work_*.py).

A task is ``blocked`` until every dependency is ``done``, then ``queued``; the assignment service places
queued tasks on agents (``placed``, under a lease); the agent takes them (``running``) and reports: success
makes it ``done`` and its dependents ready, failure re-queues it until ``max_attempts``, then ``dead``; a
lease that runs out (the agent went silent) fails the attempt the same way. Cancelling a task, or a task
ending ``dead``, cancels its dependents. Every change is one transaction of the engine's writer, so a task
is placed once and completed at most once whatever runs concurrently; waiters (``next`` long polls,
placement watchers) are woken after the commit, never by polling."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict
from typing import Any

from common.errors import FailedPrecondition, InvalidArgument, NotFound
from common.validation import check_id, check_level
from services.memory.sqlite import work_sql as sql
from services.memory.sqlite.engine import SqliteEngine
from services.memory.sqlite.state import SqliteStateStore
from services.memory.state import Outcome, Trail
from services.memory.wakeups import KeyedWakeups
from services.memory.work_records import (
    CancelResult,
    NextResult,
    PlacementView,
    PlaceResult,
    Report,
    ReportOutcome,
    RequeueResult,
    TaskRec,
    Work,
)
from services.memory.work_rules import (
    HELD,
    MAX_ERROR_CHARS,
    MAX_NEXT,
    MAX_NOTE_CHARS,
    MAX_WAIT_S,
    OPEN,
    Spec,
    check_batch,
    check_ids,
    check_result,
    check_states,
)

log = logging.getLogger("swarm.memory.work")

DEFAULT_RETENTION_S = 7 * 86400.0
IDLE_WAKE_S = 60.0  # with no lease to wait for, look again this often (a lease granted meanwhile wakes it at once)
VIEW_LIMIT = 2000  # queued tasks a placement view holds at most (highest priority first)
VIEW_PER_FREE_UNIT = 32  # and at most this many per unit of free capacity, at least VIEW_MIN: a long queue with
VIEW_MIN = 256  # little room is a short read (the placer plans over the few of them an agent with room can take)


def _works(items: list[dict[str, Any]]) -> tuple[Work, ...]:
    return tuple(Work(TaskRec.from_dict(w["task"]), tuple(map(tuple, w["deps"]))) for w in items)


class SqliteWorkStore:
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
        self.engine = engine
        self.state = state
        self.max_value_bytes = max_value_bytes
        self.retention_s = retention_s
        engine.add_purge(lambda conn, now: sql.purge(conn, now - self.retention_s))  # with the engine's TTL purge
        self.revision = 0  # counts the changes placement may care about (this process's own count)
        self._placement_changed = asyncio.Condition()
        self._last_cause = "start"
        self.agents = KeyedWakeups()  # each agent's task_next long polls
        self._lease_wakeup = asyncio.Event()
        self._armed: float | None = None  # the lease expiry the background task sleeps until
        self.expired = 0  # attempts ended by a lease running out, for tests and metrics

    # ------------------------------------------------------------------ waking

    async def _changed(self, cause: str, agents: Sequence[str] = ()) -> None:
        """After a commit: placement watchers see a new revision; agents' long polls wake."""
        self.agents.wake(agents)
        if cause:
            async with self._placement_changed:
                self.revision += 1
                self._last_cause = cause
                self._placement_changed.notify_all()

    async def agent_changed(self) -> None:
        await self._changed("agent")

    async def leases_ended(self) -> None:
        """Leases ended (released, expired, revoked): a task waiting for one may be placed now."""
        if await self.engine.read_point(sql.waits_for_leases):
            await self._changed("leases")

    def _new_lease(self, expires: float | None) -> None:
        """A lease that may run out before the one the background task waits for wakes it (renewals only
        move leases later, so they need not)."""
        if expires is not None and (self._armed is None or expires < self._armed):
            self._lease_wakeup.set()

    def _moved_past(self, revision: int) -> bool:
        return self.revision != revision

    async def watch(self) -> AsyncIterator[tuple[int, str]]:
        """(revision, cause) now, then whenever placement may have work; a slow reader sees the latest only."""
        seen = self.revision
        yield seen, "start"
        while True:
            async with self._placement_changed:
                await self._placement_changed.wait_for(functools.partial(self._moved_past, seen))
                seen, cause = self.revision, self._last_cause
            yield seen, cause

    # ------------------------------------------------------------------ submit

    async def submit(self, specs: Sequence[Spec], request_id: str = "") -> tuple[list[TaskRec], list[bool]]:
        clean = check_batch(specs, self.max_value_bytes)

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
            return {"tasks": [asdict(t) for t in tasks], "created": [created[s.task_id] for s in clean]}

        out = await self.engine.write(apply, method="SubmitTasks", request_id=request_id, encode=lambda r: r)
        tasks = [TaskRec.from_dict(t) for t in out["tasks"]]
        if any(out["created"]):
            await self._changed("submitted")
        return tasks, list(out["created"])

    # ------------------------------------------------------------------ placement

    async def placement_view(self, limit: int = 0) -> PlacementView:
        if limit < 0 or limit > 10_000:
            raise InvalidArgument(f"limit={limit}: give 1-10000 (0 means {VIEW_LIMIT})")
        revision = self.revision

        def read(conn: sqlite3.Connection) -> tuple[list[TaskRec], list[tuple[str, str]]]:
            free = sql.free_capacity(conn)
            if free <= 1e-9:  # every agent full (the usual state of a busy swarm): nothing can be placed
                return [], []
            tasks = sql.queued_tasks(conn, limit or min(VIEW_LIMIT, max(VIEW_MIN, int(VIEW_PER_FREE_UNIT * free))))
            blocked = sql.lease_blocked(conn, tasks, self.engine.clock())
            return [t for t in tasks if t.spec.task_id not in blocked], [
                (t.spec.task_id, blocked[t.spec.task_id])
                for t in tasks
                if t.spec.task_id in blocked and t.reason != blocked[t.spec.task_id]  # only where the reason changed
            ]

        queued, waiting = await self.engine.read(read)
        types = sorted({t.spec.task_type for t in queued})
        agents, trails = await self.state.assignment_view(types, 10_000) if queued else ([], [])
        return PlacementView(queued, agents, trails, self.state.half_life_s, revision, waiting)

    async def place(
        self, placements: Sequence[tuple[str, str, float]], unplaced: Sequence[tuple[str, str]], request_id: str = ""
    ) -> PlaceResult:
        for task_id, agent_id, _ in placements:
            check_id("task id", task_id)
            check_id("agent id", agent_id)
        for task_id, _ in unplaced:
            check_id("task id", task_id)

        def apply(conn: sqlite3.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            placed, refused, earliest = sql.place(conn, placements, now)
            sql.note_unplaced(conn, unplaced, now)
            return {"placed": placed, "refused": refused, "earliest": earliest}

        out = await self.engine.write(apply, method="PlaceTasks", request_id=request_id, encode=lambda r: r)
        result = PlaceResult([tuple(p) for p in out["placed"]], [tuple(r) for r in out["refused"]])  # type: ignore[misc]
        if result.placed:
            self._new_lease(out["earliest"])
            await self._changed("", sorted({agent for _, agent, _ in result.placed}))
        return result

    # ------------------------------------------------------------------ agents take work

    async def next(self, agent_id: str, wait_s: float = 0.0, limit: int = 1) -> NextResult:
        check_id("agent id", agent_id)
        if not 0 <= wait_s <= MAX_WAIT_S:
            raise InvalidArgument(f"wait_s={wait_s}: give 0-{MAX_WAIT_S:g} seconds")
        limit = limit or 1
        if not 1 <= limit <= MAX_NEXT:
            raise InvalidArgument(f"limit={limit}: give 1-{MAX_NEXT}")
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            version = self.agents.version(agent_id)

            def apply(conn: sqlite3.Connection) -> dict[str, Any]:
                now = self.engine.clock()
                came_back = sql.touch_agent(conn, agent_id, now)
                taken = sql.take(conn, agent_id, limit, now)
                return {
                    "came_back": came_back,
                    "work": [
                        {"task": asdict(sql.load_task(conn, t)), "deps": sql.dependency_results(conn, t)} for t in taken
                    ],
                    "cancelled": sql.take_notices(conn, agent_id),
                    "held": [  # brief: its description, payload and results come with task_list ids=[...]
                        {"task": asdict(t), "deps": []} for t in sql.held_brief(conn, agent_id, taken, MAX_NEXT)
                    ],
                    "shortest_lease_s": None if taken else sql.shortest_lease(conn, agent_id),
                }

            out = await self.engine.write(apply, method="NextTasks", encode=lambda r: r)
            if out["came_back"]:
                await self._changed("agent")
            waited = loop.time() - started
            left = wait_s - waited
            if out["work"] or out["cancelled"] or left <= 0:
                return NextResult(
                    _works(out["work"]),
                    tuple(map(tuple, out["cancelled"])),  # type: ignore[arg-type]
                    _works(out["held"]),
                    round(waited, 3),
                )
            # woken by a placement, or the time is up: either way the next pass answers what is true now (what it
            # still holds may have changed meanwhile: a report of its own while it waited)
            # (a wait longer than half the shortest lease it holds is cut short: the next pass is a sign of life that
            # renews them, so a long poll never lets the caller's own tasks run out)
            shortest = out["shortest_lease_s"]
            await self.agents.wait(agent_id, version, left if shortest is None else min(left, shortest / 2))

    # ------------------------------------------------------------------ reports

    def _checked(self, r: Report) -> str:
        """The report's arguments checked; its result as stored JSON ('' unless a success)."""
        check_id("task id", r.task_id)
        check_id("agent id", r.agent_id)
        if r.kind not in ("success", "failure", "progress"):
            raise InvalidArgument(f"report kind {r.kind!r} is not one of success, failure, progress")
        check_level("quality", r.quality)
        if len(r.error) > MAX_ERROR_CHARS:
            raise InvalidArgument(f"error is {len(r.error)} characters long: keep it under {MAX_ERROR_CHARS}")
        if len(r.progress) > MAX_NOTE_CHARS:
            raise InvalidArgument(f"progress note is {len(r.progress)} characters long: keep it under {MAX_NOTE_CHARS}")
        return check_result("result", r.result_json, self.max_value_bytes) if r.kind == "success" else ""

    async def report(self, r: Report, request_id: str = "") -> ReportOutcome:
        """A task of the queue: the attempt ends (or its progress is noted); a repeat answers the first answer.
        Any other task id: the outcome of a task_assign task (``request_id`` applies it once)."""

        def apply(conn: sqlite3.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            row = conn.execute(
                "SELECT state, agent_id, attempt, spec, notify_agent FROM work WHERE task_id = ?", (r.task_id,)
            ).fetchone()
            if row is None:
                return {"legacy": True}  # nothing written: the task_assign path writes on its own
            result_json = self._checked(r)
            if not sql.agent_exists(conn, r.agent_id):
                raise NotFound(f"no agent {r.agent_id!r}: register it first (agent_register)")
            state, holder, attempt, spec_json, _ = row
            spec = Spec.from_json(spec_json)
            came_back = sql.touch_agent(conn, r.agent_id, now)
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
                task = asdict(sql.load_task(conn, r.task_id))
                return {"task": task, "trail": None, "ready": [], "cancelled": [], "came_back": came_back}
            success = r.kind == "success"
            outcome = Outcome(r.task_id, r.agent_id, success, r.quality, r.duration_s, "", r.deposit, r.evaporation)
            trail = self.state.move_trail(conn, r.agent_id, spec.task_type, outcome, now)
            sql.close_ledger(conn, r.task_id, "succeeded" if success else "failed", now, r.quality, r.duration_s)
            if success:
                ready = sql.finish(conn, r.task_id, attempt, result_json, now)
                cancelled: list[str] = []
            else:
                ready, cancelled = [], sql.fail_attempt(conn, r.task_id, attempt, "failed", r.error or "failed", now)
            answer = {
                "task": asdict(sql.brief(sql.load_task(conn, r.task_id))),
                "trail": asdict(trail),
                "ready": ready,
                "cancelled": cancelled,
            }
            sql.keep_answer(conn, r.task_id, attempt, r.kind, json.dumps(answer))
            return answer

        # no request id here: a repeated report of the queue is recognised by the attempt's kept answer
        out = await self.engine.write(apply, method="ReportTask", encode=lambda x: x)
        if out.get("legacy"):
            if r.kind == "progress":
                raise NotFound(f"no task {r.task_id!r} in the work queue: progress is for tasks from task_submit")
            return await self._legacy_report(r, request_id)
        outcome = ReportOutcome(
            task=TaskRec.from_dict(out["task"]),
            trail=Trail.from_dict(out["trail"]) if out["trail"] else None,
            ready=tuple(out["ready"]),
            cancelled=tuple(out["cancelled"]),
            repeated=bool(out.get("repeated")),
            task_was_open=not out.get("repeated") and r.kind != "progress",
        )
        if (r.kind != "progress" and not outcome.repeated) or out.get("came_back"):
            await self._changed("ended")
        return outcome

    async def _legacy_report(self, r: Report, request_id: str) -> ReportOutcome:
        """An outcome of a task that ``task_assign`` handed out (not in the queue): the trail moves as before."""
        done = await self.state.report(
            Outcome(
                task_id=r.task_id,
                agent_id=r.agent_id,
                success=r.kind == "success",
                quality=r.quality,
                duration_s=r.duration_s,
                task_type=r.task_type,
                deposit=r.deposit,
                evaporation=r.evaporation,
            ),
            request_id,
        )
        return ReportOutcome(task=None, trail=done.trail, task_was_open=done.task_was_open)

    # ------------------------------------------------------------------ cancel, list

    @staticmethod
    def _named(task_ids: Sequence[str], reason: str, what: str) -> list[str]:
        """The task ids of a cancel or requeue, checked with its reason."""
        ids = check_ids("task ids", task_ids)
        if not ids:
            raise InvalidArgument(f"no task ids given: name the {what}")
        if len(reason) > MAX_NOTE_CHARS:
            raise InvalidArgument(f"reason is {len(reason)} characters long: keep it under {MAX_NOTE_CHARS}")
        return ids

    async def cancel(self, task_ids: Sequence[str], reason: str = "", request_id: str = "") -> CancelResult:
        ids = self._named(task_ids, reason, "tasks to cancel")
        why = reason or "cancelled"

        def apply(conn: sqlite3.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            states = dict(
                conn.execute(f"SELECT task_id, state FROM work WHERE task_id IN ({','.join('?' * len(ids))})", ids)
            )
            unknown = [i for i in ids if i not in states]
            if unknown:
                raise NotFound(f"no task {unknown[0]!r} in the work queue: nothing was cancelled")
            cancelled, unchanged = [], []
            for task_id in ids:
                if states[task_id] in OPEN:
                    sql.cancel_one(conn, task_id, why, now)
                    cancelled.append(task_id)
                else:
                    unchanged.append(asdict(sql.load_task(conn, task_id)))
            dependents = sql.cancel_dependents(conn, cancelled, "was cancelled", why, now)
            return {"cancelled": cancelled, "dependents": dependents, "unchanged": unchanged}

        out = await self.engine.write(apply, method="CancelTasks", request_id=request_id, encode=lambda r: r)
        result = CancelResult(out["cancelled"], out["dependents"], [TaskRec.from_dict(t) for t in out["unchanged"]])
        if result.cancelled:
            holders = await self.engine.read(lambda conn: sql.notified_agents(conn, result.cancelled))
            await self._changed("cancelled", holders)
        return result

    async def requeue(self, task_ids: Sequence[str], reason: str = "", request_id: str = "") -> RequeueResult:
        ids = self._named(task_ids, reason, "dead tasks to requeue")
        why = f"requeued: {reason}" if reason else "requeued"

        def apply(conn: sqlite3.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            marks = ",".join("?" * len(ids))
            states = dict(conn.execute(f"SELECT task_id, state FROM work WHERE task_id IN ({marks})", ids))
            unknown = [i for i in ids if i not in states]
            if unknown:
                raise NotFound(f"no task {unknown[0]!r} in the work queue: nothing was requeued")
            requeued = [i for i in ids if states[i] == "dead"]
            unchanged = [asdict(sql.load_task(conn, i)) for i in ids if states[i] != "dead"]
            restored = sql.requeue_dead(conn, requeued, why, now)
            return {"requeued": requeued, "restored": restored, "unchanged": unchanged}

        out = await self.engine.write(apply, method="RequeueTasks", request_id=request_id, encode=lambda r: r)
        result = RequeueResult(out["requeued"], out["restored"], [TaskRec.from_dict(t) for t in out["unchanged"]])
        if result.requeued:
            await self._changed("submitted")  # ready work for placement, as a submit brings
        return result

    async def list(
        self,
        states: Sequence[str] = (),
        agent_id: str = "",
        task_ids: Sequence[str] = (),
        task_type: str = "",
        limit: int = 50,
        cursor: str = "",
        *,
        full: bool = False,
    ) -> tuple[list[TaskRec], dict[str, int], str]:
        wanted = check_states(states)
        if agent_id:
            check_id("agent id", agent_id)
        ids = check_ids("task ids", task_ids, 500)
        if not 1 <= (limit or 50) <= 500:
            raise InvalidArgument(f"limit={limit}: give 1-500")
        return await self.engine.read(
            lambda conn: sql.list_tasks(conn, wanted, agent_id, ids, task_type, limit or 50, cursor, full)
        )

    # ------------------------------------------------------------------ background

    async def expire_leases(self) -> int:
        """End every attempt whose lease ran out: failed, the agent marked silent, the task re-queued (or dead)."""

        def apply(conn: sqlite3.Connection) -> list[str]:
            return sql.expire(conn, self.engine.clock())

        agents = await self.engine.write(apply, method="ExpireLeases")
        if agents:
            self.expired += len(agents)
            await self._changed("expired", sorted(set(agents)))
        return len(agents)

    async def purge_ended(self) -> int:
        cutoff = self.engine.clock() - self.retention_s
        return await self.engine.write(lambda conn: sql.purge(conn, cutoff), method="PurgeTasks")

    async def next_expiry(self) -> float | None:
        return await self.engine.read(sql.next_expiry)

    async def run(self) -> None:
        """Background work until cancelled: each lease is expired when it runs out (the timer re-arms whenever a
        lease that may run out sooner is granted). Ended tasks are purged by the engine's periodic purge."""
        while True:
            try:
                self._lease_wakeup.clear()
                expiry = self._armed = await self.next_expiry()
                now = self.engine.clock()
                if expiry is not None and expiry <= now:
                    await self.expire_leases()
                    continue
                sleep = IDLE_WAKE_S if expiry is None else min(IDLE_WAKE_S, expiry - now + 0.001)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._lease_wakeup.wait(), max(sleep, 0.001))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("work queue lease expiry failed; retrying in 1 s")
                await asyncio.sleep(1.0)
