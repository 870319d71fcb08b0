"""The engine-neutral part of a lease store: the waiting acquire, waking waiters when leases end, the expiry timer,
hearing of revocations, and the steps of an acquire and a release that do not touch the database. An engine's store
(services/memory/{sqlite,postgres}/leases.py) subclasses ``LeaseStoreBase`` and supplies the transactions.

A refused acquire with ``wait_s`` waits for what refused it to end, woken by the end itself: a release (after its
commit), an expiry (the timer of ``run``, armed at the earliest expiry of a live lease), or a revocation (made in
the work queue's expiry, which the store hears of through the work queue's change stream). Expiry needs no write:
a lease is live while ``expires_at`` is in the future, so it is gone at its TTL even if the timer is late."""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
    lease_id,
    refusal,
    why_not_held,
)

log = logging.getLogger("swarm.memory.leases")

RECENT_FREES = 1024  # ends remembered for a waiter whose refusal raced with them (older: it looks again)
MAX_CONFLICTS = 50  # conflicts answered with a refusal (its text names the first few)
MAX_ROUNDS = 100_000  # attempts of one waiting acquire at most (each waits for an end or its deadline)


class Refused(SwarmError):
    """Inside a write: the request conflicts; nothing was written (the transaction or savepoint is rolled back)."""

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


def unknown_agent(agent_id: str) -> NotFound:
    return NotFound(f"no agent {agent_id!r}: register it first (agent_register)")


def plan_acquire(r: LeaseRequest, mine: dict[str, LeaseRec]) -> list[LeaseRec | int]:
    """For each resource of ``r``, given the agent's live hand-taken leases by resource: the lease to renew (same
    mode), or the token of the lease of the other mode that a new grant replaces (0: none)."""
    plan: list[LeaseRec | int] = []
    for resource in r.resources:
        held = mine.get(resource)
        plan.append(held if held is not None and held.exclusive == r.exclusive else (held.token if held else 0))
    return plan


def acquired(leases: Sequence[LeaseRec], plan: Sequence[LeaseRec | int], now: float, came_back: bool) -> dict[str, Any]:
    """The answer of a granted acquire, as stored for its request id."""
    return {
        "granted": True,
        "leases": [asdict(lease) for lease in leases],
        "renewed": [isinstance(step, LeaseRec) for step in plan],
        "conflicts": [],
        "refusal": "",
        "waited_s": 0.0,
        "now": now,
        "replaced": [0 if isinstance(step, LeaseRec) else step for step in plan],
        "came_back": came_back,
    }


def owned(agent_id: str, token: int, lease: LeaseRec | None, now: float) -> LeaseRec:
    """The lease ``token`` names, if ``agent_id`` holds it live; else why not."""
    if lease is None:
        raise NotFound(f"no {lease_id(token)}: never granted, or it ended more than a day ago; nothing was released")
    if lease.agent_id != agent_id or not lease.live(now):
        raise FailedPrecondition(why_not_held(agent_id, lease_id(token), lease, now))
    return lease


def by_resource(live: Sequence[LeaseRec]) -> dict[str, LeaseRec]:
    """An agent's live leases by resource: one it took by hand before one granted for a task."""
    mine: dict[str, LeaseRec] = {}
    for lease in sorted(live, key=lambda x: bool(x.task_id), reverse=True):
        mine[lease.resource] = lease
    return mine


def released(chosen: Sequence[LeaseRec], now: float, came_back: bool) -> dict[str, Any]:
    """The answer of a release, as stored for its request id."""
    ended = [replace(lease, ended_at=now, ended="released") for lease in chosen]
    return {"released": [asdict(lease) for lease in ended], "released_at": now, "came_back": came_back}


class LeaseStoreBase:
    """Implements services.memory.storage.LeaseStore but for the transactions: a subclass supplies ``_grant``,
    ``_release``, ``_live``, ``_revocations`` and ``_next_expiry``. ``run()`` is the background work."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        changes: Callable[[], AsyncIterator[Any]] | None = None,
        came_back: Callable[[], Awaitable[None]] | None = None,
        ended: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.clock = clock
        self._changes = changes
        self._came_back = came_back  # an agent the work queue had found silent called again: placement may use it
        self._ended = ended  # leases ended here (released, replaced, expired): a task waiting for them may be placed
        self.revision = 0  # counts ends (release, expiry, revocation, replacement) seen by this process
        self._revision_event = asyncio.Event()
        self._waiters: set[_Waiter] = set()
        self._frees: deque[_Free] = deque(maxlen=RECENT_FREES)
        self._free_seq = 0
        self._wakeup = asyncio.Event()  # a lease may now expire before the one the timer waits for
        self._armed: float | None = None
        self._fired_through: float | None = None  # expiries up to here have woken their waiters
        self._revocations_seen: int | None = None

    # ------------------------------------------------------------------ what an engine supplies

    async def _grant(self, r: LeaseRequest, request_id: str) -> dict[str, Any]:
        """The acquire's transaction: the answer of ``acquired``, or raises ``Refused`` having written nothing."""
        raise NotImplementedError

    async def _release(self, agent_id: str, tokens: list[int], names: list[str], request_id: str) -> dict[str, Any]:
        """The release's transaction: the answer of ``released``."""
        raise NotImplementedError

    async def _live(self, agent_id: str) -> tuple[list[LeaseRec], float]:
        """Every live lease (of one agent, if given) by resource then token, and the moment of the read."""
        raise NotImplementedError

    async def _revocations(self) -> int:
        """The count of leases ended inside other stores' transactions."""
        raise NotImplementedError

    async def _next_expiry(self, after: float) -> float | None:
        """The earliest expiry of a live lease later than ``after``."""
        raise NotImplementedError

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

    # ------------------------------------------------------------------ acquire, release

    async def acquire(self, request: LeaseRequest, request_id: str = "") -> AcquireResult:
        r = check_request(request)
        loop = asyncio.get_running_loop()
        started = loop.time()
        found: list[Conflict] = []
        now = 0.0
        for _ in range(MAX_ROUNDS):
            seq = self._free_seq
            try:
                out = await self._grant(r, request_id)
            except Refused as refused:
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

    async def release(
        self, agent_id: str, lease_ids: Sequence[str] = (), resources: Sequence[str] = (), request_id: str = ""
    ) -> ReleaseResult:
        tokens, names = check_release(agent_id, lease_ids, resources)
        out = await self._release(agent_id, tokens, names, request_id)
        result = ReleaseResult.from_dict(out)
        self._freed(frozenset(lease.token for lease in result.released))
        await self._tell_ended()
        await self._touched(out.get("came_back", False))
        return result

    async def list(self, resource: str = "", agent_id: str = "", limit: int = 0) -> tuple[list[LeaseRec], bool, float]:
        n = check_list(resource, agent_id, limit)
        leases, now = await self._live(agent_id)
        if resource:
            leases = [lease for lease in leases if overlap(resource, lease.resource)]
        return leases[:n], len(leases) > n, now

    # ------------------------------------------------------------------ background

    def wake_expired(self) -> None:
        """Waiters blocked by leases expired by now wake (the timer calls it at each expiry; tests on a fake clock
        call it after moving the clock)."""
        now = self.clock()
        self._fired_through = max(self._fired_through or now, now)
        self._freed(expired_until=now)

    async def check_revocations(self) -> None:
        """Leases revoked in another store's transaction (an agent marked offline) wake every waiter, which looks
        again. Called on each change of the work queue."""
        count = await self._revocations()
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
        self._fired_through = self.clock()
        try:
            while True:
                try:
                    self._wakeup.clear()
                    expiry = self._armed = await self._next_expiry(self._fired_through or 0.0)
                    now = self.clock()
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
