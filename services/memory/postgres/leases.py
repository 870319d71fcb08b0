"""Leases on PostgreSQL (the rules and records are services/memory/lease_*.py, the waiting and waking
services/memory/lease_store.py, the SQL postgres/leases_sql.py).

Every acquire and release is one write under the state lock (postgres/engine.py, ``locked``): one at a time across
every replica, each reading the live leases as the one before left them, so two conflicting leases are never granted
and tokens strictly grow (one counter row). Waiters on this replica are woken after the commit; waiters on another
replica by the database's notification of the commit (postgres/notify.py)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import asyncpg

from common.errors import FailedPrecondition
from services.memory.lease_records import LeaseRec
from services.memory.lease_rules import LeaseRequest, conflicts, why_not_held
from services.memory.lease_store import (
    LeaseStoreBase,
    Refused,
    acquired,
    by_resource,
    owned,
    plan_acquire,
    released,
    unknown_agent,
)
from services.memory.postgres import leases_sql as sql
from services.memory.postgres import work_sql
from services.memory.postgres.engine import PgEngine

ENDED, GRANTED = "ended", "granted"  # the keys of the leases topic
IDLE_S = 60.0
Publish = Callable[[asyncpg.Connection, str, Sequence[str]], Awaitable[None]]


class PgLeaseStore(LeaseStoreBase):
    """Implements services.memory.storage.LeaseStore on PostgreSQL; ``run()`` is its background work."""

    def __init__(
        self,
        engine: PgEngine,
        *,
        changes: Callable[[], AsyncIterator[Any]] | None = None,
        came_back: Callable[[], Awaitable[None]] | None = None,
        ended: Callable[[], Awaitable[None]] | None = None,
        work_publish: Publish | None = None,
    ) -> None:
        super().__init__(engine.clock, changes=changes, came_back=came_back, ended=ended)
        self.engine = engine
        engine.add_purge(sql.purge)
        self._topic = engine.notifier.topic("leases")
        self._work_publish = work_publish  # an agent found silent called again: other replicas' placement hears

    async def _apply_acquire(self, r: LeaseRequest, conn: asyncpg.Connection) -> dict[str, Any]:
        now = self.engine.clock()
        if not await sql.agent_exists(conn, r.agent_id):
            raise unknown_agent(r.agent_id)
        others = await sql.live_of_others(conn, r.agent_id, now, not r.exclusive)
        found = conflicts(r.resources, r.exclusive, others)
        if found:
            raise Refused(found, now)
        mine = {lease.resource: lease for lease in await sql.live(conn, now, r.agent_id) if not lease.task_id}
        plan = plan_acquire(r, mine)
        expires = now + r.ttl_s
        leases = []
        for resource, step in zip(r.resources, plan, strict=True):
            if isinstance(step, LeaseRec):
                leases.append(await sql.renew(conn, step, r.reason, now, expires))
                continue
            if step:  # the other mode: a new grant replaces it
                await sql.end(conn, [step], "replaced", now)
            leases.append(await sql.grant(conn, r.agent_id, resource, r.exclusive, r.reason, now, expires))
        came_back = await work_sql.touch_agent(conn, r.agent_id, now)
        await self._published(conn, any(isinstance(step, int) and step for step in plan), came_back, granted=True)
        return acquired(leases, plan, now, came_back)

    async def _published(
        self, conn: asyncpg.Connection, ended: bool, came_back: bool, *, granted: bool = False
    ) -> None:
        """Inside the transaction: at its commit, other replicas' waiters look again (``ended``) and their expiry
        timers re-arm (``granted``: a lease may expire sooner than the one they wait for)."""
        keys = [key for key, yes in ((ENDED, ended), (GRANTED, granted)) if yes]
        if keys:
            await self._topic.publish(conn, keys)
        if came_back and self._work_publish is not None:
            await self._work_publish(conn, "agent", ())

    async def _hear(self, key: str, then: Callable[[], Awaitable[None]]) -> None:
        while True:
            seen = self._topic.version(key)
            if await self._topic.wait(key, seen, IDLE_S):
                await then()

    async def _ended_elsewhere(self) -> None:
        self._freed(everyone=True)  # which tokens is not carried: every waiter here looks again
        await self._tell_ended()

    async def _granted_elsewhere(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        """The expiry timer and revocations (LeaseStoreBase.run), and hearing of other replicas' ends and grants."""
        loop = asyncio.get_running_loop()
        hearing = [
            loop.create_task(self._hear(ENDED, self._ended_elsewhere), name="memory-leases-ended"),
            loop.create_task(self._hear(GRANTED, self._granted_elsewhere), name="memory-leases-granted"),
        ]
        try:
            await super().run()
        finally:
            for task in hearing:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _grant(self, r: LeaseRequest, request_id: str) -> dict[str, Any]:
        return await self.engine.write(
            functools.partial(self._apply_acquire, r),
            method="AcquireLeases",
            request_id=request_id,
            encode=lambda x: x,
            locked=True,
        )

    async def _release(self, agent_id: str, tokens: list[int], names: list[str], request_id: str) -> dict[str, Any]:
        async def apply(conn: asyncpg.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            if not await sql.agent_exists(conn, agent_id):
                raise unknown_agent(agent_id)
            chosen = {token: owned(agent_id, token, await sql.get(conn, token), now) for token in tokens}
            if names:
                mine = by_resource(await sql.live(conn, now, agent_id))
                for name in names:
                    lease = mine.get(name)
                    if lease is None:
                        last = await sql.latest_on(conn, agent_id, name)
                        raise FailedPrecondition(why_not_held(agent_id, name, last, now))
                    chosen[lease.token] = lease
            await sql.end(conn, list(chosen), "released", now)
            came_back = await work_sql.touch_agent(conn, agent_id, now)
            await self._published(conn, True, came_back)
            return released(list(chosen.values()), now, came_back)

        return await self.engine.write(
            apply, method="ReleaseLeases", request_id=request_id, encode=lambda x: x, locked=True, agent=agent_id
        )  # it ends its own leases only

    async def _live(self, agent_id: str) -> tuple[list[LeaseRec], float]:
        async def read(conn: asyncpg.Connection) -> tuple[list[LeaseRec], float]:
            now = self.engine.clock()
            return await sql.live(conn, now, agent_id), now

        return await self.engine.read(read)

    async def _revocations(self) -> int:
        return await self.engine.read(sql.revocations)

    async def _next_expiry(self, after: float) -> float | None:
        return await self.engine.read(functools.partial(sql.next_expiry, after=after))
