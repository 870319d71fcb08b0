"""Wake-ups across memory replicas on one PostgreSQL database (LISTEN/NOTIFY).

Each replica keeps one dedicated connection that LISTENs on one channel; the pooled connections' sessions are never
touched (their reset is a no-op, see engine ``_keep_session``). A store publishes inside the transaction that commits
the change (``pg_notify`` is delivered at commit, and dropped if the transaction rolls back or is retried), with a
topic and the keys it concerns ("inbox", ["agent-7"]); each replica turns what it hears into wake-ups of its local
waiters (``services.memory.wakeups.KeyedWakeups``, whose version check misses no wake between check and wait).

The replica that commits wakes its own waiters at once (``Topic.wake`` after the write) and ignores the echo of its
own notification (each payload carries the sender's replica id), so a local change costs each waiter one re-check,
not two. A payload must stay under PostgreSQL's 8000 bytes: the keys are split over several notifications, sent by
one statement. After the listening connection is lost (a database restart), it reconnects by itself and then wakes
every local waiter once, since notifications sent meanwhile were missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable

import asyncpg

from common.errors import SwarmError
from services.memory.wakeups import KeyedWakeups

log = logging.getLogger("swarm.memory")

CHANNEL = "swarm_memory"
MAX_PAYLOAD_BYTES = 7900  # PostgreSQL refuses a payload of 8000 bytes or more; room for the envelope
CHECK_S = 10.0  # how often an idle listening connection is checked (a half-open TCP connection says nothing)
RECONNECT_S = (0.1, 2.0)  # the first and the longest pause between reconnection attempts

Connect = Callable[[], Awaitable[asyncpg.Connection]]
# notifies each payload of an array parameter ($2; the channel $1); a store may put the inner SELECT in a common
# table expression of its own statement (postgres/messages.py does)
PUBLISH_SQL = "SELECT count(*) FROM (SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p) AS n"


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def payloads(sender: str, topic: str, keys: Iterable[str]) -> list[str]:
    """The notifications that carry ``keys`` of ``topic``: JSON ``[sender, topic, [keys...]]`` each under the size
    limit; a key too long for any payload makes it ``[sender, topic]`` (wake the whole topic)."""
    head = len(_json([sender, topic, []]).encode())
    out: list[str] = []
    chunk: list[str] = []
    size = head
    for key in dict.fromkeys(keys):
        cost = len(_json(key).encode()) + 1
        if head + cost > MAX_PAYLOAD_BYTES:
            return [_json([sender, topic])]
        if chunk and size + cost > MAX_PAYLOAD_BYTES:
            out.append(_json([sender, topic, chunk]))
            chunk, size = [], head
        chunk.append(key)
        size += cost
    if chunk:
        out.append(_json([sender, topic, chunk]))
    return out


class Topic(KeyedWakeups):
    """The local waiters of one topic, woken by this replica's commits (``wake``) and by other replicas' (heard on
    the listening connection). ``publish`` runs inside the committing transaction."""

    def __init__(self, name: str, notifier: PgNotifier) -> None:
        super().__init__()
        self.name = name
        self._notifier = notifier

    def payloads(self, keys: Iterable[str]) -> list[str]:
        """The payloads that carry ``keys``, for a statement that sends them itself (as ``PUBLISH_SQL`` does)."""
        return payloads(self._notifier.replica, self.name, keys)

    async def publish(self, conn: asyncpg.Connection, keys: Iterable[str]) -> None:
        """Tell the other replicas, at commit, that ``keys`` moved (one statement, however many payloads)."""
        sent = self.payloads(keys)
        if sent:
            await conn.execute(PUBLISH_SQL, CHANNEL, sent)


class PgNotifier:
    """One replica's listening connection and its topics."""

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self.replica = uuid.uuid4().hex[:12]  # tells this replica's own notifications apart
        self._topics: dict[str, Topic] = {}
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.reconnects = 0  # how many times the listening connection was re-established (for tests, logs)

    def topic(self, name: str) -> Topic:
        if name not in self._topics:
            self._topics[name] = Topic(name, self)
        return self._topics[name]

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Listen (before the first waiter can check anything), then keep listening in the background."""
        if self._task is not None or self._closed:
            return
        await self._listen()
        self._task = asyncio.get_running_loop().create_task(self._keep_listening(), name="memory-pg-listen")

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._drop()

    async def _listen(self) -> None:
        conn = await self._connect()
        try:
            conn.add_termination_listener(self._on_lost)
            await conn.add_listener(CHANNEL, self._on_notification)
        except BaseException:
            conn.terminate()
            raise
        self._lost = asyncio.Event()
        self._conn = conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None or conn.is_closed():
            return
        conn.remove_termination_listener(self._on_lost)
        try:
            await asyncio.wait_for(conn.close(), 2.0)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            conn.terminate()

    async def _keep_listening(self) -> None:
        while True:
            await self._until_lost()
            await self._drop()
            log.warning("lost the memory database's notification connection: reconnecting")
            pause = RECONNECT_S[0]
            while True:
                await asyncio.sleep(pause)
                try:
                    await self._listen()
                    break
                except (SwarmError, TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.debug("notification connection: %s", exc)
                    pause = min(pause * 2, RECONNECT_S[1])
            self.reconnects += 1
            log.info("notification connection back: waking every waiter (notifications may have been missed)")
            for topic in list(self._topics.values()):
                topic.wake_all()

    async def _until_lost(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), CHECK_S)
                return
            conn = self._conn
            try:
                assert conn is not None
                await asyncio.wait_for(conn.execute("SELECT 1"), CHECK_S)
            except (AssertionError, TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                return

    # ----------------------------------------------------------------- callbacks (on the event loop)

    def _on_lost(self, _conn: asyncpg.Connection) -> None:
        self._lost.set()

    def _on_notification(self, _conn: asyncpg.Connection, _pid: int, _channel: str, payload: str) -> None:
        try:
            sender, name, *keys = json.loads(payload)
        except (ValueError, TypeError):
            log.warning("ignored a notification not of this server: %.80r", payload)
            return
        if sender == self.replica:
            return  # this replica woke its waiters when it committed
        topic = self._topics.get(name)
        if topic is None:
            return
        if keys:
            topic.wake(keys[0])
        else:
            topic.wake_all()
