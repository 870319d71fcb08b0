"""The PostgreSQL engine of the memory service: a pool of asyncpg connections to one database that any number of
memory replicas share. Like the SQLite engine it knows nothing of what is stored: the stores hand it coroutines of a
connection to read or write with.

A write runs in its own SERIALIZABLE transaction (retried when PostgreSQL reports a serialization failure, a deadlock
or a unique-key race with another transaction, i.e. with another replica), so the stores' check-then-write logic is
correct across replicas without explicit locks. A write of one statement and no request id runs without BEGIN/COMMIT
(one round trip; a single statement is atomic by itself). A repeated request id answers the first answer: the id and
the answer are written in the transaction of the write itself. Background work (the TTL purge, the retention of
request ids) runs on every replica but only one does it each time (a transaction-scoped advisory lock). Waiters are
woken across replicas by ``notifier`` (notify.py: LISTEN on one connection of its own, NOTIFY at commit).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from common.errors import StorageError, SwarmError
from services.memory.postgres.notify import PgNotifier
from services.memory.postgres.schema import (
    AGENT_LOCKS,
    LOCKED_BEGIN,
    NAMED_LOCK,
    NAMED_LOCKS,
    PURGE_LOCK,
    SCHEMA_VERSION,
    SHARED_BEGIN,
    migrate,
)
from services.memory.request_ids import REQUEST_ID_TTL_S, check_request_id, check_same_method

log = logging.getLogger("swarm.memory")

T = TypeVar("T")

POOL_MIN = 1
POOL_MAX = 8
CONNECT_TIMEOUT_S = 5.0
RETRIES = 30  # attempts of a write that lost a race with another transaction
PURGE_INTERVAL_S = 30.0
AGENT_GATE_SPARE = 2  # pooled connections agent writes leave to the rest (reads, a write of the whole state)
STATE = "state"  # ``_write``'s lock: the whole state (exclusive)
SHARED = "shared"  # ``_write``'s lock: the state shared, and the locks of the agents named with it
# another transaction won: run the write again (on the state it left)
RACES = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError, asyncpg.UniqueViolationError)

# deletes what has expired at the given time, inside the purge's transaction; returns how many rows it deleted
Purge = Callable[[asyncpg.Connection, float], Awaitable[int]]


def redacted(url: str) -> str:
    """The URL without its password (for logs and start-up information)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class _Repeated(Exception):
    """The request id was applied before: roll back, answer its first answer."""

    def __init__(self, method: str, payload: Any) -> None:
        super().__init__(method)
        self.method, self.payload = method, payload


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset of a released connection: nothing to undo. The stores never change a pooled connection's
    session (no SET, LISTEN, cursor or session advisory lock: locks are transaction-scoped, and asyncpg rolls back a
    transaction left open before this runs), so the default reset's round trip (RESET ALL, UNLISTEN *, ...) after
    every call is saved (docs/notes/postgres.md, "Round trips")."""


class PgEngine:
    """One database's pool; ``read`` and ``write`` are coroutines. The pool opens on first use, in the loop that
    serves (``open`` migrates on a connection of its own, so the service fails fast on a bad URL)."""

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time, pool_max: int = POOL_MAX) -> None:
        self.url = url
        self.where = redacted(url)
        self.clock = clock
        self.pool_max = pool_max
        self._purges: list[Purge] = []
        self._pool: asyncpg.Pool | None = None
        self._pool_lock: asyncio.Lock | None = None
        self._purger: asyncio.Task[None] | None = None
        self._closed = False
        self._state_gate: asyncio.Lock | None = None  # this replica's line for STATE_LOCK (``write``, ``locked``)
        # the connections this replica's agent writes (``write``, ``agent``) may hold at once: the rest of the pool
        # stays free for reads and for a write of the whole state
        self._agent_gate: asyncio.Semaphore | None = None
        self.notifier = PgNotifier(self._connect)  # wake-ups across replicas (LISTEN on a connection of its own)

    def add_purge(self, purge: Purge) -> None:
        """Have the periodic purge (and ``purge``) also run ``purge``, before old request ids are dropped."""
        self._purges.append(purge)

    # ----------------------------------------------------------------- lifecycle

    def open(self) -> None:
        """Reach the database and migrate it (on a thread of its own: the caller may be inside an event loop)."""

        async def run() -> None:
            conn = await self._connect()
            try:
                await migrate(conn)
            finally:
                await conn.close()

        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="memory-migrate") as pool:
            try:
                pool.submit(asyncio.run, run()).result()
            except SwarmError:
                raise
            except (asyncpg.PostgresError, RuntimeError) as exc:
                raise StorageError(f"cannot migrate the memory database at {self.where}: {exc}") from exc
        log.info("memory database %s (PostgreSQL, schema v%d)", self.where, SCHEMA_VERSION)

    async def _connect(self) -> asyncpg.Connection:
        try:
            return await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT_S)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise self.unreachable(exc) from exc

    def unreachable(self, exc: BaseException) -> StorageError:
        detail = str(exc) or type(exc).__name__
        return StorageError(f"cannot reach the memory database at {self.where} ({detail}): nothing was written")

    async def pool(self) -> asyncpg.Pool:
        if self._closed:
            raise StorageError("the memory store is closed")
        if self._pool is not None:
            return self._pool
        if self._pool_lock is None:
            self._pool_lock = asyncio.Lock()
        async with self._pool_lock:
            if self._pool is None:
                await self.notifier.start()  # listening before any waiter checks: no wake-up is missed
                try:
                    self._pool = await asyncpg.create_pool(
                        self.url,
                        min_size=POOL_MIN,
                        max_size=self.pool_max,
                        timeout=CONNECT_TIMEOUT_S,
                        reset=_keep_session,
                    )
                except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    raise self.unreachable(exc) from exc
                self._purger = asyncio.get_running_loop().create_task(self._purge_loop(), name="memory-pg-purge")
        return self._pool

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purger
        await self.notifier.close()
        if self._pool is not None:
            try:
                await asyncio.wait_for(self._pool.close(), 5.0)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                self._pool.terminate()

    # ----------------------------------------------------------------- reads

    async def read(self, fn: Callable[[asyncpg.Connection], Awaitable[T]], *, snapshot: bool = False) -> T:
        """``fn`` on a pooled connection; with ``snapshot``, inside one read-only REPEATABLE READ transaction (its
        statements see the same state)."""
        pool = await self.pool()
        try:
            async with pool.acquire() as conn:
                if not snapshot:
                    return await fn(conn)
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    return await fn(conn)
        except SwarmError:
            raise
        except asyncpg.PostgresError as exc:
            raise StorageError(f"reading the memory database failed: {exc}") from exc
        except (TimeoutError, OSError, asyncpg.InterfaceError) as exc:
            raise self.unreachable(exc) from exc

    # ----------------------------------------------------------------- writes

    async def write(
        self,
        apply: Callable[[asyncpg.Connection], Awaitable[T]],
        *,
        method: str,
        request_id: str = "",
        decode: Callable[[Any], T] | None = None,
        encode: Callable[[Any], Any] = asdict,
        one_statement: bool = False,
        locked: bool = False,
        agent: str = "",
        agents: Sequence[str] = (),
        isolation: str = "serializable",
    ) -> T:
        """``apply`` in a SERIALIZABLE transaction, run again when it lost a race; ``one_statement``: ``apply`` runs
        one statement, which needs no transaction around it unless a request id is recorded with it.

        ``locked`` (the swarm's state, the work queue, the leases): READ COMMITTED under the transaction-scoped
        STATE_LOCK, taken first, so such writes run one at a time across every replica, each seeing what the one
        before committed (every later statement takes a fresh snapshot), as SQLite's one writer. SERIALIZABLE would
        be correct too, but grants and placements all touch a few hot rows (the token counter, the queue's head), so
        under load most attempts would lose and retry; waiting in line for the lock wastes no work. The line forms
        in this process first (``_state_gate``), so at most one pooled connection per replica waits for the
        database's lock and the others stay free for reads.

        ``locked`` with ``agent``: a write that changes only that agent's own rows (its agent row, the tasks it holds
        with their attempts, ledger rows and task leases, its trails, its hand-taken leases; and a dependent's
        ``pending_deps`` by one atomic UPDATE). It holds STATE_LOCK shared and the agent's own lock: writes of
        different agents run at once (each still READ COMMITTED, each statement seeing every committed write), one
        agent's one at a time, and a write of the whole state (``locked`` alone) waits for every one in flight and
        runs alone. What such a write reads of other agents' rows can only change under the exclusive lock.
        ``locked`` with ``agents``: the same with the locks of each of these agents, taken in one order
        (``NAMED_LOCKS``): a write that changes the rows of several agents, as a ``task_assign`` record.

        ``isolation`` ``repeatable_read``: for a store whose writes need no serializable check (one snapshot, and a
        concurrent update of the same row still fails and is retried), spared the false conflicts of serializable's
        predicate locks."""
        check_request_id(request_id)
        pool = await self.pool()
        names = tuple(agents) or ((agent,) if agent else ())
        lock = (SHARED if names else STATE) if locked else ""
        async with self._gate(lock):
            return await self._write(
                pool, apply, method, request_id, decode, encode, one_statement, lock, names, isolation
            )

    def _gate(self, lock: str) -> contextlib.AbstractAsyncContextManager[Any]:
        """This replica's line for a locked write: one write of the whole state at a time, agent writes up to the
        pool less AGENT_GATE_SPARE."""
        if lock == STATE:
            if self._state_gate is None:
                self._state_gate = asyncio.Lock()
            return self._state_gate
        if lock:
            if self._agent_gate is None:
                self._agent_gate = asyncio.Semaphore(max(1, self.pool_max - AGENT_GATE_SPARE))
            return self._agent_gate
        return contextlib.nullcontext()

    async def _write(
        self,
        pool: asyncpg.Pool,
        apply: Callable[[asyncpg.Connection], Awaitable[T]],
        method: str,
        request_id: str,
        decode: Callable[[Any], T] | None,
        encode: Callable[[Any], Any],
        one_statement: bool,
        lock: str,
        names: tuple[str, ...],
        isolation: str,
    ) -> T:
        for attempt in range(RETRIES):
            try:
                async with pool.acquire() as conn:
                    if one_statement and not request_id and not lock:
                        return await apply(conn)
                    if lock:
                        return await self._locked(conn, apply, method, request_id, encode, lock, names)
                    async with conn.transaction(isolation=isolation):
                        return await self._apply(conn, apply, method, request_id, encode)
            except _Repeated as first:  # rolled back: what this attempt wrote is undone
                check_same_method(request_id, first.method, method)
                return decode(first.payload) if decode else first.payload
            except RACES:
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
            except SwarmError:
                raise
            except asyncpg.PostgresError as exc:
                log.error("write transaction failed: %s", exc)
                raise StorageError(f"the memory database refused the write ({exc}); nothing was written") from exc
            except (TimeoutError, OSError, asyncpg.InterfaceError) as exc:
                raise self.unreachable(exc) from exc
        raise StorageError(f"{method} lost {RETRIES} races with concurrent writes in a row: nothing was written; retry")

    async def _locked(
        self,
        conn: asyncpg.Connection,
        apply: Callable[[asyncpg.Connection], Awaitable[T]],
        method: str,
        request_id: str,
        encode: Callable[[Any], Any],
        lock: str,
        names: tuple[str, ...],
    ) -> T:
        """``_apply`` in a READ COMMITTED transaction whose BEGIN and state lock go in one round trip (a simple query
        of two statements; SHARED: the state lock shared, then the lock of each agent of ``names``); rolled back on
        any error (a connection left inside it is rolled back by the pool)."""
        await conn.execute(LOCKED_BEGIN if lock == STATE else SHARED_BEGIN)
        try:
            if lock == SHARED and len(names) == 1:  # an agent's own write: its one lock
                await conn.execute(NAMED_LOCK, AGENT_LOCKS, names[0])
            elif lock == SHARED:  # a write for several agents: their locks in one order
                await conn.execute(NAMED_LOCKS, AGENT_LOCKS, list(names))
            result = await self._apply(conn, apply, method, request_id, encode)
        except BaseException:
            if not conn.is_closed():
                with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                    await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
        return result

    async def _apply(
        self,
        conn: asyncpg.Connection,
        apply: Callable[[asyncpg.Connection], Awaitable[T]],
        method: str,
        request_id: str,
        encode: Callable[[Any], Any],
    ) -> T:
        """Inside the transaction: ``apply``, then its request id and answer. A request id applied before (here or by
        another replica) is found only when it matters, to save a round trip on every call: when ``apply`` refused
        (the state moved since the first time) or when the id's row is already there; then ``_Repeated`` rolls this
        attempt back and the first answer is answered."""
        if not request_id:
            return await apply(conn)
        try:
            result = await apply(conn)
        except SwarmError:
            await self._raise_if_applied(conn, request_id)
            raise
        inserted = await conn.fetchval(
            "INSERT INTO applied_requests (request_id, method, response, applied_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (request_id) DO NOTHING RETURNING true",
            request_id,
            method,
            json.dumps(encode(result)),
            self.clock(),
        )
        if not inserted:
            await self._raise_if_applied(conn, request_id)
        return result

    @staticmethod
    async def _raise_if_applied(conn: asyncpg.Connection, request_id: str) -> None:
        row = await conn.fetchrow("SELECT method, response FROM applied_requests WHERE request_id = $1", request_id)
        if row is not None:
            raise _Repeated(row["method"], json.loads(row["response"]))

    # ----------------------------------------------------------------- background work

    async def purge(self) -> int:
        """Delete what has expired now, unless another replica is doing it (then 0). The loop started with the pool
        also does it every PURGE_INTERVAL_S."""

        async def apply(conn: asyncpg.Connection) -> int:
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", PURGE_LOCK):
                return 0
            now = self.clock()
            purged = 0
            for purge in self._purges:
                purged += await purge(conn, now)
            await conn.execute("DELETE FROM applied_requests WHERE applied_at < $1", now - REQUEST_ID_TTL_S)
            return purged

        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():  # read committed: a purge never needs a retry
            return await apply(conn)

    async def _purge_loop(self) -> None:
        while True:
            await asyncio.sleep(PURGE_INTERVAL_S)
            try:
                await self.purge()
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError, SwarmError) as exc:
                log.warning("purge failed: %s", exc)
