"""Leases in SQLite (the rules and records are services/memory/lease_*.py, the SQL sqlite/leases_sql.py).

Every acquire and release is one job of the engine's writer, so two conflicting leases are never granted whatever
runs concurrently: the job reads the live leases, and grants all or raises before it wrote anything. A refused
acquire with ``wait_s`` waits for what refused it to end, woken by the end itself: a release (here, after its
commit), an expiry (the timer of ``run``, armed at the earliest expiry of a live lease), or a revocation (made in
the work queue's expiry, which this store hears of through the work queue's change stream). Expiry needs no write:
a lease is live while ``expires_at`` is in the future, so it is gone at its TTL even if the timer is late.

A granted acquire and a release are signs of life of the agent for the work queue, as its other calls are (its task
leases are renewed, a silent agent is back); a refused acquire changes nothing. No call renews a resource lease but
acquiring it again."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from common.errors import FailedPrecondition, NotFound, SwarmError
from services.memory.globs import overlap
from services.memory.lease_records import AcquireResult, Conflict, LeaseRec, ReleaseResult
from services.memory.lease_rules import (
    LeaseRequest,
    check_list,
    check_release,
    check_request,
    conflicts,
    lease_id,
    refusal,
    why_not_held,
)
from services.memory.sqlite import leases_sql as sql
from services.memory.sqlite import work_sql
from services.memory.sqlite.engine import SqliteEngine

log = logging.getLogger("swarm.memory.leases")

RECENT_FREES = 1024  # ends remembered for a waiter whose refusal raced with them (older: it looks again)
MAX_CONFLICTS = 50  # conflicts answered with a refusal (its text names the first few)
MAX_ROUNDS = 100_000  # attempts of one waiting acquire at most (each waits for an end or its deadline)


class _Refused(SwarmError):
    """Inside the writer: the request conflicts; nothing was written (the job's savepoint is rolled back)."""

    def __init__(self, found: list[Conflict], now: float) -> None:
        super().__init__("not granted")
        self.found = found
        self.now = now


@dataclass(frozen=True)
class _Free:
    """Leases that ended: these tokens, or every lease expired by ``expired_until``, or any (``everyone``)."""

    seq: int
    tokens: frozenset[int] = frozenset()
    expired_until: float | None = None
    everyone: bool = False

    def concerns(self, blockers: frozenset[int], until: float) -> bool:
        return (
            self.everyone
            or not self.tokens.isdisjoint(blockers)
            or (self.expired_until is not None and until <= self.expired_until)
        )


@dataclass(eq=False)
class _Waiter:
    blockers: frozenset[int]  # the tokens of the leases that refused it
    until: float  # the earliest expiry among them
    event: asyncio.Event = field(default_factory=asyncio.Event)


class SqliteLeaseStore:
    """Implements services.memory.storage.LeaseStore; ``run()`` is its background work (the expiry timer, and
    hearing of revocations through ``changes``, the work queue's change stream)."""

    def __init__(
        self,
        engine: SqliteEngine,
        *,
        changes: Callable[[], AsyncIterator[Any]] | None = None,
        came_back: Callable[[], Awaitable[None]] | None = None,
        ended: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.engine = engine
        self._changes = changes
        self._came_back = came_back  # an agent the work queue had found silent called again: placement may use it
        self._ended = ended  # leases ended here (released, replaced, expired): a task waiting for them may be placed
        engine.add_purge(sql.purge)
        self.revision = 0  # counts ends (release, expiry, revocation, replacement) seen by this process
        self._revision_event = asyncio.Event()
        self._waiters: set[_Waiter] = set()
        self._frees: deque[_Free] = deque(maxlen=RECENT_FREES)
        self._free_seq = 0
        self._wakeup = asyncio.Event()  # a lease may now expire before the one the timer waits for
        self._armed: float | None = None
        self._fired_through: float | None = None  # expiries up to here have woken their waiters
        self._revocations_seen: int | None = None

    # ------------------------------------------------------------------ waking

    def _freed(
        self, tokens: frozenset[int] = frozenset(), *, expired_until: float | None = None, everyone: bool = False
    ) -> None:
        """After a commit (or at an expiry): waiters whose blockers ended wake, watchers see a new revision."""
        self._free_seq += 1
        free = _Free(self._free_seq, tokens, expired_until, everyone)
        self._frees.append(free)
        for waiter in self._waiters:
            if free.concerns(waiter.blockers, waiter.until):
                waiter.event.set()
        self.revision += 1
        event, self._revision_event = self._revision_event, asyncio.Event()
        event.set()

    def _freed_since(self, seq: int, blockers: frozenset[int], until: float) -> bool:
        """Whether something that ended after ``seq`` concerns these blockers (a refusal that raced with it)."""
        if self._free_seq == seq:
            return False
        if not self._frees or self._frees[0].seq > seq + 1:
            return True  # forgotten: look again
        for free in reversed(self._frees):
            if free.seq <= seq:
                return False
            if free.concerns(blockers, until):
                return True
        return False

    async def _wait(self, blockers: frozenset[int], until: float, timeout: float) -> None:
        waiter = _Waiter(blockers, until)
        self._waiters.add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.event.wait(), timeout)
        finally:
            self._waiters.discard(waiter)

    def _new_expiry(self, leases: Sequence[LeaseRec]) -> None:
        """A lease that may expire before the one the timer waits for re-arms it."""
        if leases and (self._armed is None or min(lease.expires_at for lease in leases) < self._armed):
            self._wakeup.set()

    async def _touched(self, came_back: bool) -> None:
        if came_back and self._came_back is not None:
            await self._came_back()

    async def _tell_ended(self) -> None:
        if self._ended is not None:
            await self._ended()

    async def watch(self) -> AsyncIterator[int]:
        """A revision now, then whenever leases ended (a slow reader sees the latest only)."""
        seen = self.revision
        yield seen
        while True:
            if self.revision == seen:
                await self._revision_event.wait()
            seen = self.revision
            yield seen

    # ------------------------------------------------------------------ acquire

    def _apply_acquire(self, r: LeaseRequest, conn: sqlite3.Connection) -> dict[str, Any]:
        now = self.engine.clock()
        if not sql.agent_exists(conn, r.agent_id):
            raise NotFound(f"no agent {r.agent_id!r}: register it first (agent_register)")
        found = conflicts(r.resources, r.exclusive, sql.live_of_others(conn, r.agent_id, now, not r.exclusive))
        if found:
            raise _Refused(found, now)
        # its own leases by hand (a lease granted for one of its tasks lasts as long as the task, apart from these)
        mine = {lease.resource: lease for lease in sql.live(conn, now, r.agent_id) if not lease.task_id}
        expires = now + r.ttl_s
        leases, renewed, replaced = [], [], []
        for resource in r.resources:
            held = mine.get(resource)
            if held is not None and held.exclusive == r.exclusive:
                leases.append(sql.renew(conn, held, r.reason, now, expires))
                renewed.append(True)
                replaced.append(0)
                continue
            if held is not None:  # the other mode: a new grant replaces it
                sql.end(conn, [held.token], "replaced", now)
            replaced.append(held.token if held is not None else 0)
            leases.append(sql.grant(conn, r.agent_id, resource, r.exclusive, r.reason, now, expires))
            renewed.append(False)
        came_back = work_sql.touch_agent(conn, r.agent_id, now)  # a sign of life: its task leases are renewed
        return {
            "granted": True,
            "leases": [asdict(lease) for lease in leases],
            "renewed": renewed,
            "conflicts": [],
            "refusal": "",
            "waited_s": 0.0,
            "now": now,
            "replaced": replaced,
            "came_back": came_back,
        }

    async def acquire(self, request: LeaseRequest, request_id: str = "") -> AcquireResult:
        r = check_request(request)
        loop = asyncio.get_running_loop()
        started = loop.time()
        found: list[Conflict] = []
        now = 0.0
        for _ in range(MAX_ROUNDS):
            seq = self._free_seq
            try:
                out = await self.engine.write(
                    functools.partial(self._apply_acquire, r),
                    method="AcquireLeases",
                    request_id=request_id,
                    encode=lambda x: x,
                )
            except _Refused as refused:
                found, now = refused.found, refused.now
                left = r.wait_s - (loop.time() - started)
                if left <= 0:
                    break
                blockers = frozenset(c.held.token for c in found)
                until = min(c.held.expires_at for c in found)
                if not self._freed_since(seq, blockers, until):
                    await self._wait(blockers, until, left)
                continue
            result = replace(AcquireResult.from_dict(out), waited_s=round(loop.time() - started, 3))
            self._new_expiry(result.leases)
            if any(result.replaced):
                self._freed(frozenset(t for t in result.replaced if t))
                await self._tell_ended()
            await self._touched(out.get("came_back", False))
            return result
        waited = round(loop.time() - started, 3) if r.wait_s else 0.0
        return AcquireResult(
            granted=False,
            conflicts=tuple(found[:MAX_CONFLICTS]),
            refusal=refusal(found, now, waited),
            waited_s=waited,
            now=now,
        )

    # ------------------------------------------------------------------ release, list

    async def release(
        self, agent_id: str, lease_ids: Sequence[str] = (), resources: Sequence[str] = (), request_id: str = ""
    ) -> ReleaseResult:
        tokens, names = check_release(agent_id, lease_ids, resources)

        def apply(conn: sqlite3.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            if not sql.agent_exists(conn, agent_id):
                raise NotFound(f"no agent {agent_id!r}: register it first (agent_register)")
            chosen: dict[int, LeaseRec] = {}
            for token in tokens:
                lease = sql.get(conn, token)
                if lease is None:
                    raise NotFound(
                        f"no {lease_id(token)}: never granted, or it ended more than a day ago; nothing was released"
                    )
                if lease.agent_id != agent_id or not lease.live(now):
                    raise FailedPrecondition(why_not_held(agent_id, lease_id(token), lease, now))
                chosen[token] = lease
            if names:
                mine: dict[str, LeaseRec] = {}  # by resource: a lease taken by hand before one granted for a task
                for lease in sorted(sql.live(conn, now, agent_id), key=lambda x: bool(x.task_id), reverse=True):
                    mine[lease.resource] = lease
                for name in names:
                    lease = mine.get(name)
                    if lease is None:
                        raise FailedPrecondition(why_not_held(agent_id, name, sql.latest_on(conn, agent_id, name), now))
                    chosen[lease.token] = lease
            sql.end(conn, list(chosen), "released", now)
            came_back = work_sql.touch_agent(conn, agent_id, now)
            ended = [replace(lease, ended_at=now, ended="released") for lease in chosen.values()]
            return {"released": [asdict(lease) for lease in ended], "released_at": now, "came_back": came_back}

        out = await self.engine.write(apply, method="ReleaseLeases", request_id=request_id, encode=lambda x: x)
        result = ReleaseResult.from_dict(out)
        self._freed(frozenset(lease.token for lease in result.released))
        await self._tell_ended()
        await self._touched(out.get("came_back", False))
        return result

    async def list(self, resource: str = "", agent_id: str = "", limit: int = 0) -> tuple[list[LeaseRec], bool, float]:
        n = check_list(resource, agent_id, limit)

        def read(conn: sqlite3.Connection) -> tuple[list[LeaseRec], bool, float]:
            now = self.engine.clock()
            leases = sql.live(conn, now, agent_id)
            if resource:
                leases = [lease for lease in leases if overlap(resource, lease.resource)]
            return leases[:n], len(leases) > n, now

        return await self.engine.read(read)

    # ------------------------------------------------------------------ background

    def wake_expired(self) -> None:
        """Waiters blocked by leases expired by now wake (the timer calls it at each expiry; tests on a fake clock
        call it after moving the clock)."""
        now = self.engine.clock()
        self._fired_through = max(self._fired_through or now, now)
        self._freed(expired_until=now)

    async def check_revocations(self) -> None:
        """Leases revoked in another store's transaction (an agent marked offline) wake every waiter, which looks
        again. Called on each change of the work queue."""
        count = await self.engine.read_point(sql.revocations)
        if self._revocations_seen is not None and count != self._revocations_seen:
            self._freed(everyone=True)
        self._revocations_seen = count

    async def _follow(self) -> None:
        assert self._changes is not None
        while True:
            try:
                async for _ in self._changes():
                    await self.check_revocations()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("following the work queue for revoked leases failed; again in 1 s")
                await asyncio.sleep(1.0)

    async def run(self) -> None:
        """Background work until cancelled: a timer at the earliest expiry of a live lease wakes what waits on it
        (re-armed when a lease may expire sooner); revocations are heard from the work queue's changes."""
        follower = asyncio.get_running_loop().create_task(self._follow()) if self._changes else None
        self._fired_through = self.engine.clock()
        try:
            while True:
                try:
                    self._wakeup.clear()
                    after = self._fired_through or 0.0
                    expiry = self._armed = await self.engine.read(functools.partial(sql.next_expiry, after=after))
                    now = self.engine.clock()
                    if expiry is not None and expiry <= now:
                        self.wake_expired()
                        await self._tell_ended()
                        continue
                    timeout = None if expiry is None else expiry - now + 0.001
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), timeout)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("lease expiry timer failed; again in 1 s")
                    await asyncio.sleep(1.0)
        finally:
            if follower is not None:
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follower
