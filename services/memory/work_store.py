"""The engine-neutral part of a work queue store: argument checks, the long poll of ``next``, waking placement
watchers and agents after a commit, the answers built from what a transaction returned, the legacy report path and
the lease-expiry timer. An engine's store (services/memory/{sqlite,postgres}/work.py) subclasses ``WorkStoreBase``
and supplies the transactions (the methods that raise NotImplementedError here).

A task is ``blocked`` until every dependency is ``done``, then ``queued``; the assignment service places queued tasks
on agents (``placed``, under a lease); the agent takes them (``running``) and reports: success makes it ``done`` and
its dependents ready, failure re-queues it until ``max_attempts``, then ``dead``; a lease that runs out (the agent
went silent) fails the attempt the same way. Cancelling a task, or a task ending ``dead``, cancels its dependents.
Waiters (``next`` long polls, placement watchers) are woken after the commit, never by polling."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol

from common.errors import InvalidArgument, NotFound
from common.validation import check_id, check_level
from services.memory.state import Agent, Outcome, ReportResult, Trail
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
    MAX_ERROR_CHARS,
    MAX_NEXT,
    MAX_NOTE_CHARS,
    MAX_WAIT_S,
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


class StateView(Protocol):
    """What the work queue needs of the engine's state store."""

    half_life_s: float

    async def assignment_view(
        self, task_types: Sequence[str] = (), trail_limit: int = 0
    ) -> tuple[list[Agent], list[Trail]]: ...

    async def report(self, outcome: Outcome, request_id: str = "") -> ReportResult: ...


# a task_list checked: states, agent id, task ids, task type, limit, cursor, full
ListQuery = tuple[Sequence[str], str, Sequence[str], str, int, str, bool]


def check_known(ids: Sequence[str], states: dict[str, str], what: str) -> None:
    """Every task named is in the queue (``states``: task id -> state), else NotFound: nothing was ``what``."""
    unknown = [i for i in ids if i not in states]
    if unknown:
        raise NotFound(f"no task {unknown[0]!r} in the work queue: nothing was {what}")


def works(items: list[dict[str, Any]]) -> tuple[Work, ...]:
    return tuple(Work(TaskRec.from_dict(w["task"]), tuple(map(tuple, w["deps"]))) for w in items)


def view_limit(limit: int, free: float) -> int:
    """How many queued tasks a placement view reads, given the free capacity of every agent together."""
    return limit or min(VIEW_LIMIT, max(VIEW_MIN, int(VIEW_PER_FREE_UNIT * free)))


def split_blocked(tasks: list[TaskRec], blocked: dict[str, str]) -> tuple[list[TaskRec], list[tuple[str, str]]]:
    """The queued tasks placement may use, and (task, why) of those waiting for leases whose reason changed."""
    return [t for t in tasks if t.spec.task_id not in blocked], [
        (t.spec.task_id, blocked[t.spec.task_id])
        for t in tasks
        if t.spec.task_id in blocked and t.reason != blocked[t.spec.task_id]
    ]


class WorkStoreBase:
    """Implements services.memory.storage.WorkStore but for the transactions; ``run()`` is its background work
    (lease expiry at the moment a lease runs out)."""

    def __init__(
        self,
        clock: Callable[[], float],
        state: StateView,
        *,
        max_value_bytes: int = 1024 * 1024,
        retention_s: float = DEFAULT_RETENTION_S,
    ) -> None:
        self.clock = clock
        self.state = state
        self.max_value_bytes = max_value_bytes
        self.retention_s = retention_s
        self.revision = 0  # counts the changes placement may care about (this process's own count)
        self._placement_changed = asyncio.Condition()
        self._last_cause = "start"
        self.agents = KeyedWakeups()  # each agent's task_next long polls
        self._lease_wakeup = asyncio.Event()
        self._armed: float | None = None  # the lease expiry the background task sleeps until
        self.expired = 0  # attempts ended by a lease running out, for tests and metrics

    # ------------------------------------------------------------------ what an engine supplies

    async def _submit(self, clean: list[Spec], request_id: str) -> dict[str, Any]:
        """{"tasks": [task dicts], "created": [bool]} in the order of ``clean``."""
        raise NotImplementedError

    async def _queued(self, limit: int) -> tuple[list[TaskRec], list[tuple[str, str]]]:
        """The placement view's queue: (placeable queued tasks, (task, why) waiting for leases) via
        ``view_limit`` / ``split_blocked``; nothing when no agent has room."""
        raise NotImplementedError

    async def _place(
        self, placements: Sequence[tuple[str, str, float]], unplaced: Sequence[tuple[str, str]], request_id: str
    ) -> dict[str, Any]:
        """{"placed", "refused", "earliest"}."""
        raise NotImplementedError

    async def _take(self, agent_id: str, limit: int) -> dict[str, Any]:
        """One pass of ``next``: {"came_back", "work", "cancelled", "held", "shortest_lease_s"}."""
        raise NotImplementedError

    async def _report(self, r: Report) -> dict[str, Any]:
        """The report's transaction ({"legacy": True} when the task is not in the queue: nothing written)."""
        raise NotImplementedError

    async def _cancel(self, ids: list[str], why: str, request_id: str) -> dict[str, Any]:
        raise NotImplementedError

    async def _notified(self, task_ids: Sequence[str]) -> list[str]:
        """The agents told of these cancelled tasks (they held them)."""
        raise NotImplementedError

    async def _requeue(self, ids: list[str], why: str, request_id: str) -> dict[str, Any]:
        raise NotImplementedError

    async def _list(self, query: ListQuery) -> tuple[list[TaskRec], dict[str, int], str]:
        """The page ``query`` asks for (the engine's ``list_tasks(conn, *query)``)."""
        raise NotImplementedError

    async def _expire(self) -> list[str]:
        """End every attempt whose lease ran out; the agents, once per attempt."""
        raise NotImplementedError

    async def _purge(self, cutoff: float) -> int:
        raise NotImplementedError

    async def next_expiry(self) -> float | None:
        raise NotImplementedError

    async def _waits_for_leases(self) -> bool:
        raise NotImplementedError

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
        if await self._waits_for_leases():
            await self._changed("leases")

    def _new_lease(self, expires: float | None) -> None:
        """A lease that may run out before the one the background task waits for wakes it (renewals only move
        leases later, so they need not)."""
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

    # ------------------------------------------------------------------ submit, placement

    async def submit(self, specs: Sequence[Spec], request_id: str = "") -> tuple[list[TaskRec], list[bool]]:
        out = await self._submit(check_batch(specs, self.max_value_bytes), request_id)
        tasks = [TaskRec.from_dict(t) for t in out["tasks"]]
        if any(out["created"]):
            await self._changed("submitted")
        return tasks, list(out["created"])

    async def placement_view(self, limit: int = 0) -> PlacementView:
        if limit < 0 or limit > 10_000:
            raise InvalidArgument(f"limit={limit}: give 1-10000 (0 means {VIEW_LIMIT})")
        revision = self.revision
        queued, waiting = await self._queued(limit)
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
        out = await self._place(placements, unplaced, request_id)
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
            out = await self._take(agent_id, limit)
            if out["came_back"]:
                await self._changed("agent")
            waited = loop.time() - started
            left = wait_s - waited
            if out["work"] or out["cancelled"] or left <= 0:
                return NextResult(
                    works(out["work"]),
                    tuple(map(tuple, out["cancelled"])),  # type: ignore[arg-type]
                    works(out["held"]),
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

    @staticmethod
    def _outcome(r: Report) -> Outcome:
        return Outcome(
            r.task_id, r.agent_id, r.kind == "success", r.quality, r.duration_s, "", r.deposit, r.evaporation
        )

    async def report(self, r: Report, request_id: str = "") -> ReportOutcome:
        """A task of the queue: the attempt ends (or its progress is noted); a repeat answers the first answer.
        Any other task id: the outcome of a task_assign task (``request_id`` applies it once)."""
        # no request id for the queue's path: a repeated report is recognised by the attempt's kept answer
        out = await self._report(r)
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

    # ------------------------------------------------------------------ cancel, requeue, list

    @staticmethod
    def _named(task_ids: Sequence[str], reason: str, what: str) -> list[str]:
        """The task ids of a cancel or requeue, checked with its reason."""
        ids = check_ids("task ids", task_ids)
        if not ids:
            raise InvalidArgument(f"no task ids given: name the {what}")
        if len(reason) > MAX_NOTE_CHARS:
            raise InvalidArgument(f"reason is {len(reason)} characters long: keep it under {MAX_NOTE_CHARS}")
        return list(ids)

    async def cancel(self, task_ids: Sequence[str], reason: str = "", request_id: str = "") -> CancelResult:
        ids = self._named(task_ids, reason, "tasks to cancel")
        out = await self._cancel(ids, reason or "cancelled", request_id)
        result = CancelResult(out["cancelled"], out["dependents"], [TaskRec.from_dict(t) for t in out["unchanged"]])
        if result.cancelled:
            await self._changed("cancelled", await self._notified(result.cancelled))
        return result

    async def requeue(self, task_ids: Sequence[str], reason: str = "", request_id: str = "") -> RequeueResult:
        ids = self._named(task_ids, reason, "dead tasks to requeue")
        out = await self._requeue(ids, f"requeued: {reason}" if reason else "requeued", request_id)
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
        return await self._list((wanted, agent_id, ids, task_type, limit or 50, cursor, full))

    # ------------------------------------------------------------------ background

    async def expire_leases(self) -> int:
        """End every attempt whose lease ran out: failed, the agent marked silent, the task re-queued (or dead)."""
        agents = await self._expire()
        if agents:
            self.expired += len(agents)
            await self._changed("expired", sorted(set(agents)))
        return len(agents)

    async def purge_ended(self) -> int:
        return await self._purge(self.clock() - self.retention_s)

    async def run(self) -> None:
        """Background work until cancelled: each lease is expired when it runs out (the timer re-arms whenever a
        lease that may run out sooner is granted). Ended tasks are purged by the engine's periodic purge."""
        while True:
            try:
                self._lease_wakeup.clear()
                expiry = self._armed = await self.next_expiry()
                now = self.clock()
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
