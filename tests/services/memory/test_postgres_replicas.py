"""Several memory replicas on one PostgreSQL database, over real gRPC: what one replica acknowledges, every replica
sees; compare-and-set holds across them; they migrate once and purge once; a database restart is a clear error while
it lasts and is survived without a restart of the replicas."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest
from grpc import aio

from bench.harness import postgres
from common.channels import CHANNEL_OPTIONS
from common.config import Config
from common.server import RunningService, start_service
from services.memory.entries import PutItem
from services.memory.postgres.schema import SCHEMA_VERSION
from services.memory.postgres.storage import PgStorage
from services.memory.service import build as build_memory
from swarm.memory.v1 import memory_pb2 as pb
from swarm.memory.v1 import memory_pb2_grpc
from tests.conftest import FakeClock


async def start_replicas(url: str, n: int, tmp_path) -> list[RunningService]:  # type: ignore[no-untyped-def]
    config = Config.from_env({"SWARM_DATA_DIR": str(tmp_path), "SWARM_DATABASE_URL": url})
    return [await start_service(build_memory(config), "127.0.0.1:0") for _ in range(n)]


@pytest.fixture(params=[2, 3], ids=["2-replicas", "3-replicas"])
async def stubs(request: pytest.FixtureRequest, pg_url: str, tmp_path) -> AsyncIterator[list]:  # type: ignore[no-untyped-def]
    replicas = await start_replicas(pg_url, request.param, tmp_path)
    channels = [aio.insecure_channel(r.address, options=CHANNEL_OPTIONS) for r in replicas]
    yield [memory_pb2_grpc.MemoryServiceStub(c) for c in channels]
    for c in channels:
        await c.close()
    for r in replicas:
        await r.stop(grace=1)


async def test_concurrent_cas_increments_from_every_replica_end_at_the_acknowledged_count(stubs: list) -> None:
    await stubs[0].Put(pb.PutRequest(namespace="ns", key="counter", value_json="0"))
    acknowledged = 0
    conflicts = 0

    async def worker(stub: memory_pb2_grpc.MemoryServiceStub, rounds: int) -> None:
        nonlocal acknowledged, conflicts
        for _ in range(rounds):
            while True:
                got = (await stub.Get(pb.GetRequest(namespace="ns", key="counter"))).entry
                put = pb.PutRequest(
                    namespace="ns", key="counter", value_json=str(int(got.value_json) + 1), if_version=got.version
                )
                try:
                    await stub.Put(put)
                except aio.AioRpcError as exc:
                    assert exc.code() == grpc.StatusCode.FAILED_PRECONDITION, exc.details()
                    conflicts += 1
                    continue
                acknowledged += 1
                break

    await asyncio.gather(*(worker(stubs[i % len(stubs)], 10) for i in range(12)))
    for stub in stubs:  # every replica reads what any of them acknowledged
        final = (await stub.Get(pb.GetRequest(namespace="ns", key="counter"))).entry
        assert int(final.value_json) == acknowledged == 120 and final.version == 121
    assert conflicts > 0  # they did contend


async def test_a_request_id_is_applied_once_across_replicas(stubs: list) -> None:
    put = pb.PutRequest(namespace="ns", key="k", value_json='"first"', request_id="once-1")
    answers = await asyncio.gather(*(s.Put(put) for s in stubs for _ in range(3)))
    assert {(a.entry.version, a.created) for a in answers} == {(1, True)}
    again = pb.PutRequest(namespace="ns", key="k", value_json='"second"', request_id="once-1")
    assert (await stubs[-1].Put(again)).entry.version == 1
    got = (await stubs[0].Get(pb.GetRequest(namespace="ns", key="k"))).entry
    assert json.loads(got.value_json) == "first" and got.version == 1


async def test_replicas_starting_at_once_migrate_once(pg_url: str) -> None:
    storages = [PgStorage(pg_url) for _ in range(4)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda s: s.open(), storages))
    conn = await asyncpg.connect(pg_url)
    try:
        assert [r[0] for r in await conn.fetch("SELECT version FROM swarm_schema ORDER BY 1")] == list(
            range(1, SCHEMA_VERSION + 1)
        )
    finally:
        await conn.close()
    for s in storages:
        await s.close()


async def test_expired_entries_are_purged_once_across_replicas(pg_url: str) -> None:
    clock = FakeClock()
    storages = [PgStorage(pg_url, clock=clock) for _ in range(3)]
    for s in storages:
        s.open()
    await storages[0].entries.batch_put([PutItem("ns", f"k{i}", "1", ttl_seconds=5) for i in range(50)])
    clock.advance(6)
    purged = await asyncio.gather(*(s.entries.purge_expired() for s in storages))
    assert sum(purged) == 50 and sorted(purged)[-1] == 50  # one replica did it all, the others found it taken or done
    for s in storages:
        await s.close()


async def test_a_database_crash_is_a_clear_error_then_service_resumes_with_every_acknowledged_write(tmp_path) -> None:  # type: ignore[no-untyped-def]
    try:
        own = postgres.cluster(postgres.DURABLE_SETTINGS)  # a crash of it loses no acknowledged commit
        cluster = own.__enter__()
    except postgres.PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL: {exc}")
    try:
        (replica,) = await start_replicas(cluster.database(), 1, tmp_path)
        channel = aio.insecure_channel(replica.address, options=CHANNEL_OPTIONS)
        stub = memory_pb2_grpc.MemoryServiceStub(channel)
        await stub.Put(pb.PutRequest(namespace="ns", key="before", value_json="1"))
        cluster.stop()  # -m immediate: a crash of the database, not a clean shutdown
        with pytest.raises(aio.AioRpcError) as info:
            await stub.Put(pb.PutRequest(namespace="ns", key="during", value_json="1"), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "memory database" in info.value.details() and "nothing was written" in info.value.details()
        cluster.restart()
        # the pool drops each connection that died with the server (one UNAVAILABLE each, which the gateway
        # retries), then connects anew: no restart of the replica
        for _ in range(10):
            try:
                await stub.Put(pb.PutRequest(namespace="ns", key="after", value_json="1"), timeout=10)
                break
            except aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc.details()
        else:
            pytest.fail("the replica did not resume after the database came back")
        got = await stub.Get(pb.GetRequest(namespace="ns", key="before"))
        assert got.entry.version == 1
        await channel.close()
        await replica.stop(grace=1)
    finally:
        own.__exit__(None, None, None)
