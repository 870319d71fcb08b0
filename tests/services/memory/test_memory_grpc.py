"""The memory service over real gRPC (port 0), on each engine (SQLite in a temp dir, a fresh PostgreSQL database)."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from common.channels import CHANNEL_OPTIONS
from common.config import Config
from common.server import RunningService, start_service
from services.memory.service import build as build_memory
from swarm.memory.v1 import memory_pb2 as pb
from swarm.memory.v1 import memory_pb2_grpc

pytestmark = pytest.mark.engines


async def test_put_get_roundtrip(memory_stub: memory_pb2_grpc.MemoryServiceStub) -> None:
    put = await memory_stub.Put(pb.PutRequest(namespace="ns", key="k", value_json='{"a": [1, 2]}', tags=["x"]))
    assert put.created and put.entry.version == 1
    got = await memory_stub.Get(pb.GetRequest(namespace="ns", key="k"))
    assert json.loads(got.entry.value_json) == {"a": [1, 2]} and list(got.entry.tags) == ["x"]


@pytest.mark.parametrize(
    ("call", "code", "text"),
    [
        (lambda s: s.Get(pb.GetRequest(namespace="ns", key="nope")), grpc.StatusCode.NOT_FOUND, "no entry 'nope'"),
        (
            lambda s: s.Put(pb.PutRequest(namespace="b a d", key="k", value_json="1")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "namespace",
        ),
        (
            lambda s: s.Put(pb.PutRequest(namespace="ns", key="k", value_json="{")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "not valid JSON",
        ),
        (
            lambda s: s.Put(pb.PutRequest(namespace="ns", key="k", value_json="1", if_version=7)),
            grpc.StatusCode.FAILED_PRECONDITION,
            "version conflict",
        ),
        (
            lambda s: s.VerifyBackup(pb.VerifyBackupRequest(backup_id="../../x")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "backup id",
        ),
    ],
)
async def test_errors_map_to_status_codes(memory_stub, call, code, text, memory_engine: str) -> None:
    if memory_engine == "postgres" and text == "backup id":  # on PostgreSQL backups are the database's job
        code, text = grpc.StatusCode.FAILED_PRECONDITION, "backups are the database's job"
    with pytest.raises(aio.AioRpcError) as info:
        await call(memory_stub)
    assert info.value.code() == code
    assert text in info.value.details()


async def test_fifty_concurrent_writers_lose_nothing(memory_stub: memory_pb2_grpc.MemoryServiceStub) -> None:
    writers, per_writer = 50, 20
    errors: list[BaseException] = []

    async def writer(w: int) -> None:
        for i in range(per_writer):
            try:
                await memory_stub.Put(
                    pb.PutRequest(namespace="load", key=f"w{w}/k{i}", value_json=json.dumps({"w": w, "i": i})),
                    timeout=30,
                )
            except aio.AioRpcError as exc:
                errors.append(exc)

    await asyncio.gather(*(writer(w) for w in range(writers)))
    assert errors == []
    found: dict[str, str] = {}
    cursor = ""
    while True:
        page = await memory_stub.List(pb.ListRequest(namespace="load", limit=500, cursor=cursor))
        found.update({e.key: e.value_json for e in page.entries})
        cursor = page.next_cursor
        if not cursor:
            break
    assert len(found) == writers * per_writer
    assert all(json.loads(found[f"w{w}/k{i}"]) == {"w": w, "i": i} for w in range(writers) for i in range(per_writer))


async def test_repeated_request_id_applies_once(memory_stub: memory_pb2_grpc.MemoryServiceStub) -> None:
    req = pb.PutRequest(namespace="ns", key="once", value_json="1", request_id="r-1")
    first, second = await memory_stub.Put(req), await memory_stub.Put(req)
    assert first == second and first.entry.version == 1
    assert (await memory_stub.Get(pb.GetRequest(namespace="ns", key="once"))).entry.version == 1


async def test_data_survives_service_restart(config: Config, data_dir) -> None:
    service = await start_service(build_memory(config, data_dir=data_dir), "127.0.0.1:0")
    async with aio.insecure_channel(service.address, options=CHANNEL_OPTIONS) as channel:
        stub = memory_pb2_grpc.MemoryServiceStub(channel)
        await asyncio.gather(
            *(stub.Put(pb.PutRequest(namespace="ns", key=f"k{i}", value_json=str(i))) for i in range(100))
        )
    await service.stop(grace=1)
    service = await start_service(build_memory(config, data_dir=data_dir), "127.0.0.1:0")
    try:
        async with aio.insecure_channel(service.address, options=CHANNEL_OPTIONS) as channel:
            stub = memory_pb2_grpc.MemoryServiceStub(channel)
            page = await stub.List(pb.ListRequest(namespace="ns", limit=500))
            assert sorted(int(e.value_json) for e in page.entries) == list(range(100))
    finally:
        await service.stop(grace=1)


async def test_health_and_reflection(memory_service: RunningService) -> None:
    async with aio.insecure_channel(memory_service.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", "swarm.memory.v1.MemoryService"):
            resp = await health.Check(health_pb2.HealthCheckRequest(service=name))
            assert resp.status == health_pb2.HealthCheckResponse.SERVING
        refl = reflection_pb2_grpc.ServerReflectionStub(channel)
        call = refl.ServerReflectionInfo()
        await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
        resp = await call.read()
        await call.done_writing()
        names = {s.name for s in resp.list_services_response.service}
        assert {"swarm.memory.v1.MemoryService", "grpc.health.v1.Health"} <= names


async def test_graceful_stop_keeps_every_acknowledged_write(config: Config, data_dir) -> None:
    service = await start_service(build_memory(config, data_dir=data_dir), "127.0.0.1:0")
    async with aio.insecure_channel(service.address, options=CHANNEL_OPTIONS) as channel:
        stub = memory_pb2_grpc.MemoryServiceStub(channel)
        first = stub.Put(pb.PutRequest(namespace="ns", key="first", value_json="1"))
        in_flight = [first] + [stub.Put(pb.PutRequest(namespace="ns", key=f"k{i}", value_json="1")) for i in range(50)]
        tasks = [asyncio.ensure_future(c) for c in in_flight]
        await tasks[0]  # the connection is up and calls are arriving
        await service.stop(grace=5)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        done = [r for r in results if isinstance(r, pb.PutResponse)]
        failed = [r for r in results if not isinstance(r, pb.PutResponse)]
        # a call either completed or was refused with a code the gateway treats as "retry"
        assert all(
            isinstance(r, aio.AioRpcError) and r.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
            for r in failed
        )
        with pytest.raises(aio.AioRpcError) as info:
            await stub.Get(pb.GetRequest(namespace="ns", key="first"), timeout=2)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    service = await start_service(build_memory(config, data_dir=data_dir), "127.0.0.1:0")
    try:
        async with aio.insecure_channel(service.address) as channel:
            stub = memory_pb2_grpc.MemoryServiceStub(channel)
            page = await stub.List(pb.ListRequest(namespace="ns", limit=500))
            assert {e.key for e in page.entries} >= {r.entry.key for r in done}
    finally:
        await service.stop(grace=1)
