"""Wake-ups across two memory engines on one real PostgreSQL database (LISTEN/NOTIFY): a commit on one wakes the
waiter on the other, precisely (only the keys it names), with payloads past PostgreSQL's 8000-byte limit, without a
second wake of the committing replica's own waiters, and again after the database restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from bench.harness import postgres
from common.errors import StorageError
from services.memory.postgres.engine import PgEngine
from services.memory.postgres.notify import MAX_PAYLOAD_BYTES, Topic, payloads


async def publish(engine: PgEngine, topic: Topic, keys: list[str]) -> None:
    async def apply(conn: asyncpg.Connection) -> None:
        await topic.publish(conn, keys)

    await engine.write(apply, method="Test")
    topic.wake(keys)  # what a store does after its commit


async def open_engines(url: str, n: int) -> list[PgEngine]:
    engines = [PgEngine(url) for _ in range(n)]
    for e in engines:
        e.open()
        await e.pool()  # listening from here on
    return engines


@pytest.fixture
async def two(pg_url: str) -> AsyncIterator[list[PgEngine]]:
    engines = await open_engines(pg_url, 2)
    yield engines
    for e in engines:
        await e.close()


async def test_a_commit_on_one_replica_wakes_the_waiter_on_the_other_and_only_it(two: list[PgEngine]) -> None:
    a, b = two
    ta, tb = a.notifier.topic("inbox"), b.notifier.topic("inbox")
    v7, v8 = tb.version("agent-7"), tb.version("agent-8")
    waiter = asyncio.create_task(tb.wait("agent-7", v7, 10.0))
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await publish(a, ta, ["agent-7"])
    assert await waiter is True
    assert loop.time() - started < 5  # woken, not timed out
    assert tb.version("agent-8") == v8  # another key did not move
    assert not await tb.wait("agent-8", v8, 0.2)


async def test_a_rolled_back_transaction_wakes_nobody(two: list[PgEngine]) -> None:
    a, b = two
    ta, tb = a.notifier.topic("inbox"), b.notifier.topic("inbox")
    v = tb.version("agent-7")

    async def apply(conn: asyncpg.Connection) -> None:
        await ta.publish(conn, ["agent-7"])
        raise StorageError("refused")

    with pytest.raises(StorageError):
        await a.write(apply, method="Test")
    await publish(a, ta, ["marker"])  # delivered after anything the failed write could have sent
    assert await tb.wait("marker", tb.version("marker") - 1, 10.0)
    assert tb.version("agent-7") == v


async def test_the_committing_replica_wakes_its_own_waiters_once(two: list[PgEngine]) -> None:
    a, b = two
    ta, tb = a.notifier.topic("inbox"), b.notifier.topic("inbox")
    before = ta.version("agent-7")
    await publish(a, ta, ["agent-7"])
    assert ta.version("agent-7") == before + 1  # at once, by the commit itself
    # a notification from b commits after a's: once a hears it, it has heard (and ignored) its own echo
    mark = ta.version("marker")
    await publish(b, tb, ["marker"])
    assert await ta.wait("marker", mark, 10.0)
    assert ta.version("agent-7") == before + 1


async def test_keys_past_the_payload_limit_are_split_and_all_wake(two: list[PgEngine]) -> None:
    a, b = two
    keys = [f"agent-{i:04d}-" + "x" * 50 for i in range(2000)]  # ~130 kB of keys
    sent = payloads(a.notifier.replica, "inbox", keys)
    assert len(sent) > 10 and all(len(p.encode()) <= MAX_PAYLOAD_BYTES for p in sent)
    ta, tb = a.notifier.topic("inbox"), b.notifier.topic("inbox")
    versions = {k: tb.version(k) for k in (keys[0], keys[999], keys[-1])}
    await publish(a, ta, keys)
    for key, v in versions.items():
        assert await tb.wait(key, v, 10.0), key


async def test_a_key_too_long_for_a_payload_wakes_the_whole_topic(two: list[PgEngine]) -> None:
    a, b = two
    ta, tb = a.notifier.topic("inbox"), b.notifier.topic("inbox")
    assert payloads("r", "inbox", ["k" * 9000]) == ['["r","inbox"]']
    v = tb.version("someone-else")
    await publish(a, ta, ["k" * 9000])
    assert await tb.wait("someone-else", v, 10.0)


async def test_after_a_database_restart_waiters_are_woken_once_and_wakes_flow_again() -> None:
    try:
        own = postgres.cluster()
        cluster = own.__enter__()
    except postgres.PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL: {exc}")
    try:
        a, b = await open_engines(cluster.database(), 2)
        ta, tb = a.notifier.topic("inbox"), b.notifier.topic("inbox")
        waiting = asyncio.create_task(tb.wait("agent-7", tb.version("agent-7"), 30.0))
        await asyncio.sleep(0)
        cluster.stop()
        cluster.restart()
        # notifications sent while b was not listening are lost: b wakes every waiter once when it is back
        assert await asyncio.wait_for(waiting, 30.0) is True
        assert b.notifier.reconnects == 1
        v = tb.version("agent-7")
        waiter = asyncio.create_task(tb.wait("agent-7", v, 30.0))
        for _ in range(20):  # a's pool drops the connections that died with the server, one per failed call
            try:
                await publish(a, ta, ["agent-7"])
                break
            except StorageError:
                await asyncio.sleep(0.1)
        else:
            pytest.fail("the engine did not write again after the database came back")
        assert await asyncio.wait_for(waiter, 30.0) is True
        for e in (a, b):
            await e.close()
    finally:
        own.__exit__(None, None, None)
