"""Leases in SQLite (the rules and records are services/memory/lease_*.py, the waiting and waking
services/memory/lease_store.py, the SQL sqlite/leases_sql.py).

Every acquire and release is one job of the engine's writer, so two conflicting leases are never granted whatever
runs concurrently: the job reads the live leases, and grants all or raises before it wrote anything.

A granted acquire and a release are signs of life of the agent for the work queue, as its other calls are (its task
leases are renewed, a silent agent is back); a refused acquire changes nothing. No call renews a resource lease but
acquiring it again."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

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
from services.memory.sqlite import leases_sql as sql
from services.memory.sqlite import work_sql
from services.memory.sqlite.engine import SqliteEngine


class SqliteLeaseStore(LeaseStoreBase):
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
        super().__init__(engine.clock, changes=changes, came_back=came_back, ended=ended)
        self.engine = engine
        engine.add_purge(sql.purge)

    def _apply_acquire(self, r: LeaseRequest, conn: sqlite3.Connection) -> dict[str, Any]:
        now = self.engine.clock()
        if not sql.agent_exists(conn, r.agent_id):
            raise unknown_agent(r.agent_id)
        found = conflicts(r.resources, r.exclusive, sql.live_of_others(conn, r.agent_id, now, not r.exclusive))
        if found:
            raise Refused(found, now)
        # its own leases by hand (a lease granted for one of its tasks lasts as long as the task, apart from these)
        plan = plan_acquire(
            r, {lease.resource: lease for lease in sql.live(conn, now, r.agent_id) if not lease.task_id}
        )
        expires = now + r.ttl_s
        leases = []
        for resource, step in zip(r.resources, plan, strict=True):
            if isinstance(step, LeaseRec):
                leases.append(sql.renew(conn, step, r.reason, now, expires))
                continue
            if step:  # the other mode: a new grant replaces it
                sql.end(conn, [step], "replaced", now)
            leases.append(sql.grant(conn, r.agent_id, resource, r.exclusive, r.reason, now, expires))
        came_back = work_sql.touch_agent(conn, r.agent_id, now)  # a sign of life: its task leases are renewed
        return acquired(leases, plan, now, came_back)

    async def _grant(self, r: LeaseRequest, request_id: str) -> dict[str, Any]:
        return await self.engine.write(
            functools.partial(self._apply_acquire, r), method="AcquireLeases", request_id=request_id, encode=lambda x: x
        )

    async def _release(self, agent_id: str, tokens: list[int], names: list[str], request_id: str) -> dict[str, Any]:
        def apply(conn: sqlite3.Connection) -> dict[str, Any]:
            now = self.engine.clock()
            if not sql.agent_exists(conn, agent_id):
                raise unknown_agent(agent_id)
            chosen = {token: owned(agent_id, token, sql.get(conn, token), now) for token in tokens}
            if names:
                mine = by_resource(sql.live(conn, now, agent_id))
                for name in names:
                    lease = mine.get(name)
                    if lease is None:
                        raise FailedPrecondition(why_not_held(agent_id, name, sql.latest_on(conn, agent_id, name), now))
                    chosen[lease.token] = lease
            sql.end(conn, list(chosen), "released", now)
            return released(list(chosen.values()), now, work_sql.touch_agent(conn, agent_id, now))

        return await self.engine.write(apply, method="ReleaseLeases", request_id=request_id, encode=lambda x: x)

    async def _live(self, agent_id: str) -> tuple[list[LeaseRec], float]:
        def read(conn: sqlite3.Connection) -> tuple[list[LeaseRec], float]:
            now = self.engine.clock()
            return sql.live(conn, now, agent_id), now

        return await self.engine.read(read)

    async def _revocations(self) -> int:
        return await self.engine.read_point(sql.revocations)

    async def _next_expiry(self, after: float) -> float | None:
        return await self.engine.read(functools.partial(sql.next_expiry, after=after))
