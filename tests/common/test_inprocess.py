"""In-process calls (services/common/inprocess.py): a channel this process opens to a service it serves itself
runs the handler directly, and a caller sees exactly what it would see over the network."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc import aio
from mcp import Client

from app.launcher import start_embedded, stop_all
from common import inprocess
from common.channels import CHANNEL_OPTIONS, ChannelPool, call, call_upstream
from common.config import Config
from common.errors import SwarmError
from common.limits import MAX_MESSAGE_BYTES
from common.logging import REQUEST_ID_METADATA, request_id_var
from common.recorder import Recorder
from common.server import RunningService, ServiceParts, start_service
from gateway.backends import Backends
from gateway.server import build_mcp
from services.memory.service import build as build_memory
from swarm.memory.v1 import memory_pb2 as pb
from swarm.memory.v1 import memory_pb2_grpc
from tests.gateway.test_tools import exercise_every_tool, result


@pytest.fixture
async def local_memory(config: Config, data_dir: Path) -> AsyncIterator[RunningService]:
    recorder = Recorder()
    service = await start_service(
        build_memory(config, data_dir=data_dir), "127.0.0.1:0", recorder=recorder, in_process=True
    )
    service.recorder = recorder  # type: ignore[attr-defined]
    yield service
    await service.stop(grace=1)


async def outcome(rpc: Any) -> tuple[str, Any]:
    try:
        return "ok", await rpc
    except aio.AioRpcError as exc:
        return "error", (exc.code(), exc.details())


async def test_answers_and_errors_are_those_of_the_network(local_memory: RunningService) -> None:
    pool = ChannelPool()
    local = memory_pb2_grpc.MemoryServiceStub(pool.get(local_memory.address))
    network_channel = aio.insecure_channel(local_memory.address, options=CHANNEL_OPTIONS)
    network = memory_pb2_grpc.MemoryServiceStub(network_channel)
    assert isinstance(pool.get(local_memory.address), inprocess.LocalChannel)
    try:
        put = await local.Put(pb.PutRequest(namespace="ns", key="a", value_json='{"x": 1}', tags=["t"]), timeout=2)
        assert put.created and put.entry.version == 1
        requests = [  # reads and refused writes: the same answer both ways, and nothing changes
            ("Get", pb.GetRequest(namespace="ns", key="a")),
            ("Get", pb.GetRequest(namespace="ns", key="missing")),
            ("Put", pb.PutRequest(namespace="b a d", key="k", value_json="1")),
            ("Put", pb.PutRequest(namespace="ns", key="k", value_json="{")),
            ("Put", pb.PutRequest(namespace="ns", key="a", value_json="2", if_version=7)),
            ("BatchGet", pb.BatchGetRequest(keys=[pb.EntryKey(namespace="ns", key=k) for k in ("a", "missing")])),
        ]
        before = local_memory.local.calls.total()  # type: ignore[union-attr]
        for method, request in requests:
            here = await outcome(getattr(local, method)(request, timeout=2))
            there = await outcome(getattr(network, method)(request, timeout=2))
            assert here == there, method
        assert (await local.Get(pb.GetRequest(namespace="ns", key="a"), timeout=2)).entry == put.entry
        assert local_memory.local.calls.total() == before + len(requests) + 1  # type: ignore[union-attr]
        # every call went through the service's interceptor: recorded for telemetry with its status code
        codes = [(name.rsplit("/", 1)[1], code) for _, name, code, _, _ in local_memory.recorder.drain()]  # type: ignore[attr-defined]
        assert codes.count(("Get", "NOT_FOUND")) == 2 and codes.count(("Put", "INVALID_ARGUMENT")) == 4, codes
    finally:
        await network_channel.close()
        await pool.close()


async def test_a_message_over_the_limit_is_refused_as_grpc_refuses_it(local_memory: RunningService) -> None:
    pool = ChannelPool()
    stub = memory_pb2_grpc.MemoryServiceStub(pool.get(local_memory.address))
    try:
        huge = pb.PutRequest(namespace="ns", key="k", value_json='"' + "x" * MAX_MESSAGE_BYTES + '"')
        kind, (code, details) = await outcome(stub.Put(huge, timeout=5))
        assert kind == "error" and code == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in details
        kind, (code, _) = await outcome(stub.Get(pb.GetRequest(namespace="ns", key="k"), timeout=2))
        assert code == grpc.StatusCode.NOT_FOUND  # nothing was written
    finally:
        await pool.close()


class SlowMemory(memory_pb2_grpc.MemoryServiceServicer):
    """A servicer whose Get does what its key says: waits for the test ("slow"), ignores a cancellation and
    answers late ("stubborn"), computes past its deadline without a pause ("busy"), answers a wrong type
    ("wrong"); else it answers with the request id it was called with."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.cancelled = 0
        self.ran: list[str] = []

    async def Get(self, request: pb.GetRequest, context: aio.ServicerContext) -> Any:
        self.ran.append(request.key)
        self.started.set()
        if request.key == "busy":
            end = time.monotonic() + 0.2
            while time.monotonic() < end:  # CPU work past the deadline
                pass
        elif request.key == "wrong":
            return None
        elif request.key == "stubborn":
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                await asyncio.sleep(0.3)
        else:
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        seen = dict(context.invocation_metadata()).get(REQUEST_ID_METADATA, "")
        assert context.time_remaining() is not None
        return pb.GetResponse(entry=pb.Entry(namespace=request.namespace, key=request.key, value_json=f'"{seen}"'))


@dataclass
class Slow:
    servicer: SlowMemory
    service: RunningService
    pool: ChannelPool
    stub: memory_pb2_grpc.MemoryServiceStub  # on an in-process channel to the service


@pytest.fixture
async def slow() -> AsyncIterator[Slow]:
    servicer = SlowMemory()

    def register(server: aio.Server) -> list[str]:
        memory_pb2_grpc.add_MemoryServiceServicer_to_server(servicer, server)
        return ["swarm.memory.v1.MemoryService"]

    service = await start_service(ServiceParts("memory", register), "127.0.0.1:0", in_process=True)
    pool = ChannelPool()
    yield Slow(servicer, service, pool, memory_pb2_grpc.MemoryServiceStub(pool.get(service.address)))
    await pool.close()
    await service.stop(grace=0)


def get(key: str) -> pb.GetRequest:
    return pb.GetRequest(namespace="ns", key=key)


async def test_deadline_cancellation_and_request_id(slow: Slow) -> None:
    servicer, stub = slow.servicer, slow.stub
    # the deadline cancels the handler and fails the call with DEADLINE_EXCEEDED
    kind, (code, _) = await outcome(stub.Get(get("k"), timeout=0.1))
    assert (kind, code, servicer.cancelled) == ("error", grpc.StatusCode.DEADLINE_EXCEEDED, 1)
    # ... also when the handler computes past it without a pause to be cancelled at, or it is already over
    assert (await outcome(stub.Get(get("busy"), timeout=0.05)))[1][0] == grpc.StatusCode.DEADLINE_EXCEEDED
    assert (await outcome(stub.Get(get("wrong"), timeout=-1)))[1][0] == grpc.StatusCode.DEADLINE_EXCEEDED
    assert servicer.ran == ["k", "busy"]
    # cancelling the caller cancels the handler
    servicer.started.clear()
    caller = asyncio.create_task(stub.Get(get("k"), timeout=5))
    await servicer.started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert servicer.cancelled == 2
    # an answer that cannot be serialised is UNKNOWN, as from a gRPC server
    kind, (code, details) = await outcome(stub.Get(get("wrong"), timeout=2))
    assert code == grpc.StatusCode.UNKNOWN and "Unexpected" in details
    # the request id rides as metadata, as over the network (call() sends the caller's)
    servicer.release.set()
    request_id_var.set("req-42")
    got = await call(stub.Get, get("k"), timeout=2)
    assert got.entry.value_json == '"req-42"'


async def test_a_stopping_service_cuts_what_outlives_its_grace_then_is_unreachable(
    slow: Slow,
) -> None:
    servicer, service, stub = slow.servicer, slow.service, slow.stub
    waiting = asyncio.create_task(outcome(stub.Get(get("k"), timeout=5)))
    stubborn = asyncio.create_task(outcome(stub.Get(get("stubborn"), timeout=5)))
    created = stub.Get(get("late"), timeout=1)  # made before the stop, awaited after it
    await asyncio.sleep(0.05)
    start = time.monotonic()
    await service.stop(grace=0.1)
    assert time.monotonic() - start < 0.5  # the stubborn handler's 0.3 s after its cancellation: not waited
    for caller in (waiting, stubborn):  # the stubborn one answered after all, but the call had been cut off
        kind, (code, details) = await caller
        assert (kind, code) == ("error", grpc.StatusCode.UNAVAILABLE) and "stopped" in details
    assert not inprocess.served_here(service.address)
    # calls after the stop go to the network, where nobody listens any more
    for rpc in (created, stub.Get(get("after"), timeout=1)):
        kind, (code, _) = await outcome(rpc)
        assert (kind, code) == ("error", grpc.StatusCode.UNAVAILABLE)
    assert "late" not in servicer.ran and "after" not in servicer.ran


class RelayMemory(memory_pb2_grpc.MemoryServiceServicer):
    """A Get that asks another in-process service, and carries on past that service's errors (as a handler
    with a retry loop would)."""

    def __init__(self, upstream: memory_pb2_grpc.MemoryServiceStub) -> None:
        self.upstream = upstream
        self.attempts = 0

    async def Get(self, request: pb.GetRequest, context: aio.ServicerContext) -> pb.GetResponse:
        while True:
            self.attempts += 1
            try:
                return await call_upstream("slow", self.upstream.Get, request, timeout=5)
            except SwarmError:
                await asyncio.sleep(0.05)


async def test_a_stop_cuts_off_its_own_call_when_calls_are_nested(slow: Slow) -> None:
    """gateway -> relay -> slow in one task: stopping the relay while the slow service holds the call fails
    the relay's call (named after the relay), and the relay's handler does not carry on."""
    servicer, inner = slow.servicer, slow.service
    inner_pool = ChannelPool()
    relay = RelayMemory(memory_pb2_grpc.MemoryServiceStub(inner_pool.get(inner.address)))

    def register(server: aio.Server) -> list[str]:
        memory_pb2_grpc.add_MemoryServiceServicer_to_server(relay, server)
        return ["swarm.memory.v1.MemoryService"]

    outer = await start_service(ServiceParts("relay", register), "127.0.0.1:0", in_process=True)
    pool = ChannelPool()
    stub = memory_pb2_grpc.MemoryServiceStub(pool.get(outer.address))
    try:
        caller = asyncio.create_task(outcome(stub.Get(get("k"), timeout=5)))
        await servicer.started.wait()
        await outer.stop(grace=0.1)
        kind, (code, details) = await caller
        assert (kind, code) == ("error", grpc.StatusCode.UNAVAILABLE) and "the relay service stopped" in details
        assert relay.attempts == 1 and servicer.cancelled == 1  # the slow handler was cancelled, not retried
        await asyncio.sleep(0.1)
        assert relay.attempts == 1
    finally:
        await pool.close()
        await inner_pool.close()


async def test_a_caller_cancelled_by_its_owner_as_a_stop_cuts_it_stays_cancelled(
    slow: Slow,
) -> None:
    servicer, service, stub = slow.servicer, slow.service, slow.stub
    caller = asyncio.create_task(stub.Get(get("k"), timeout=5))
    await servicer.started.wait()
    assert service.local is not None
    service.local.running.cut(grpc.StatusCode.UNAVAILABLE, "stopped")
    caller.cancel()  # in the same loop turn
    with pytest.raises(asyncio.CancelledError):
        await caller


async def test_closing_the_channel_cancels_its_calls_and_refuses_new_ones(
    slow: Slow,
) -> None:
    servicer, stub = slow.servicer, slow.stub
    waiting = asyncio.create_task(outcome(stub.Get(get("k"), timeout=5)))
    await servicer.started.wait()
    await slow.pool.close()
    kind, (code, _) = await waiting
    assert (kind, code) == ("error", grpc.StatusCode.CANCELLED)
    with pytest.raises(aio.UsageError):
        await stub.Get(get("k"), timeout=1)


async def test_health_still_goes_over_the_network(local_memory: RunningService, config: Config) -> None:
    backends = Backends(config, {"memory": local_memory.address})
    try:
        health = await backends.health("memory")
        assert health["status"] == "SERVING" and health["version"] == config.version
    finally:
        await backends.close()


async def test_every_tool_on_an_embedded_stack_calls_its_services_in_process(data_dir: Path) -> None:
    config = Config.from_env({"SWARM_DATA_DIR": str(data_dir), "SWARM_CALL_TIMEOUT_S": "2"})
    running = await start_embedded(config, stdio=True)
    backends = Backends(config, {name: svc.address for name, svc in running.items()})
    try:
        async with Client(build_mcp(backends)) as client:
            await exercise_every_tool(client)
            # a vote decides a proposal while a long-polling result call waits on the consensus service
            p = result(await client.call_tool("consensus_propose", {"question": "go?", "options": ["y", "n"]}))
            waiting = asyncio.create_task(
                client.call_tool("consensus_result", {"proposal_id": p["proposal_id"], "wait_s": 10})
            )
            v = result(
                await client.call_tool(
                    "consensus_vote", {"proposal_id": p["proposal_id"], "voter": "coder", "choice": "y"}
                )
            )
            assert v["status"] == "decided" and v["winners"] == ["y"]
            done = result(await asyncio.wait_for(waiting, 10))
            assert done["status"] == "decided" and done["winners"] == ["y"]
        # the gateway reached every service in-process, and assignment and consensus reached memory in-process
        calls = {name: svc.local.calls for name, svc in running.items() if svc.local is not None}
        assert set(calls) == set(running)
        assert calls["assignment"]["/swarm.assignment.v1.AssignmentService/Assign"] == 1
        assert calls["consensus"]["/swarm.consensus.v1.ConsensusService/Vote"] == 1
        assert calls["memory"]["/swarm.memory.v1.MemoryService/Put"] == 2  # the gateway's memory_store calls
        # methods only a service calls: assignment and consensus reached memory in-process too
        assert calls["memory"]["/swarm.memory.v1.SwarmStateService/RecordAssignments"] == 1
        assert calls["memory"]["/swarm.memory.v1.ProposalStoreService/PutVote"] == 1
    finally:
        await backends.close()
        await stop_all(running, grace=1)


async def test_in_process_calls_can_be_turned_off(data_dir: Path) -> None:
    config = Config.from_env({"SWARM_DATA_DIR": str(data_dir), "SWARM_IN_PROCESS_CALLS": "off"})
    running = await start_embedded(config, stdio=True)
    try:
        assert all(svc.local is None for svc in running.values())
        assert not any(inprocess.served_here(svc.address) for svc in running.values())
    finally:
        await stop_all(running, grace=1)
