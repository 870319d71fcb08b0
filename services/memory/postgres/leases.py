"""Leases on PostgreSQL (the rules and records are services/memory/lease_*.py, the waiting and waking
services/memory/lease_store.py, the SQL postgres/leases_sql.py).

Every acquire and release is one write under the state lock (postgres/engine.py, ``locked``): one at a time across
every replica, each reading the live leases as the one before left them, so two conflicting leases are never granted
and tokens strictly grow (one counter row). Waiters on this replica are woken after the commit; waiters on another
replica by the database's notification of the commit (postgres/notify.py)."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg

from common.errors import FailedPrecondition
from services.memory.globs import overlap
from services.memory.lease_records import LeaseRec
from services.memory.lease_rules import LeaseRequest, check_list, conflicts, why_not_held
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


class PgLeaseStore(LeaseStoreBase):
    """Implements services.memory.storage.LeaseStore on PostgreSQL; ``run()`` is its background work."""

    def __init__(
        self,
        engine: PgEngine,
        *,
        changes: Callable[[], AsyncIterator[Any]] | None = None,
        came_back: Callable[[], Awaitable[None]] | None = None,
        ended: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(engine.clock, changes=changes, came_back=came_back, ended=ended)
        self.engine = engine
        engine.add_purge(sql.purge)

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
        await self._published(conn, ended=any(isinstance(step, int) and step for step in plan), granted=True)
        return acquired(leases, plan, now, came_back)

    async def _published(self, conn: asyncpg.Connection, *, ended: bool, granted: bool = False) -> None:
        """Inside the transaction: what other replicas must hear of at its commit (none without a notifier)."""

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
            await self._published(conn, ended=True)
            return released(list(chosen.values()), now, came_back)

        return await self.engine.write(
            apply, method="ReleaseLeases", request_id=request_id, encode=lambda x: x, locked=True
        )

    async def list(self, resource: str = "", agent_id: str = "", limit: int = 0) -> tuple[list[LeaseRec], bool, float]:
        n = check_list(resource, agent_id, limit)

        async def read(conn: asyncpg.Connection) -> tuple[list[LeaseRec], bool, float]:
            now = self.engine.clock()
            leases = await sql.live(conn, now, agent_id)
            if resource:
                leases = [lease for lease in leases if overlap(resource, lease.resource)]
            return leases[:n], len(leases) > n, now

        return await self.engine.read(read)

    async def _revocations(self) -> int:
        return await self.engine.read(sql.revocations)

    async def _next_expiry(self, after: float) -> float | None:
        return await self.engine.read(functools.partial(sql.next_expiry, after=after))
