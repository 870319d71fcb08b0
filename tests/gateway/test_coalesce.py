"""Concurrent memory reads share one BatchGet, and every caller still gets exactly its own answer."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import pytest
from mcp import Client
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from common.config import Config
from common.logging import request_id_var
from gateway.backends import Backends
from gateway.coalesce import MAX_READS
from gateway.http import HttpGateway
from gateway.server import build_mcp
from swarm.memory.v1 import memory_pb2 as mpb
from tests.conftest import free_port


async def store(client: Client, key: str, value: object) -> None:
    r = await client.call_tool("memory_store", {"namespace": "team", "key": key, "value": value})
    assert not r.is_error, r.content[0].text


async def read(backends: Backends, namespace: str, key: str) -> object:
    """The entry's value, or the error text: what the caller of one read sees."""
    try:
        entry = await backends.memory_reads.get(namespace, key)
    except ToolError as exc:
        return f"error: {exc}"
    return json.loads(entry.value_json)


async def test_reads_in_one_turn_go_out_as_one_batch_each_with_its_own_answer(
    mcp_server: MCPServer, backends: Backends
) -> None:
    async with Client(mcp_server) as client:
        for i in range(10):
            await store(client, f"k{i}", {"i": i})
    calls = dict(backends.memory_reads.calls)
    keys = [("team", f"k{i}") for i in range(10)] + [("team", "k3"), ("team", "absent"), ("other", "k1")]
    keys += [("bad namespace!", "k1"), ("team", "")]  # refused by the service: each gets its own error
    answers = await asyncio.gather(*(read(backends, ns, k) for ns, k in keys))
    assert answers[:10] == [{"i": i} for i in range(10)]
    assert answers[10] == {"i": 3}  # the same key twice in a batch
    assert answers[11] == "error: no entry 'absent' in namespace 'team'"
    assert answers[12] == "error: no entry 'k1' in namespace 'other'"
    assert answers[13].startswith("error: namespace 'bad namespace!' is invalid")
    assert answers[14] == "error: key is empty: give a key of 1-512 characters"
    sent = {name: n - calls[name] for name, n in backends.memory_reads.calls.items()}
    # 13 valid reads in one BatchGet; the 2 invalid ones alone, so their errors are the service's own
    assert sent == {"BatchGet": 1, "batched_reads": 13, "Get": 2}


async def test_a_read_alone_is_a_plain_get(mcp_server: MCPServer, backends: Backends) -> None:
    async with Client(mcp_server) as client:
        await store(client, "solo", [1, 2])
        calls = dict(backends.memory_reads.calls)
        r = await client.call_tool("memory_get", {"namespace": "team", "key": "solo"})
        assert json.loads(r.content[0].text)["value"] == [1, 2]
        r = await client.call_tool("memory_get", {"namespace": "team", "key": "nope"})
        assert r.is_error and r.content[0].text.endswith("no entry 'nope' in namespace 'team'")
    assert backends.memory_reads.calls["Get"] == calls["Get"] + 2
    assert backends.memory_reads.calls["BatchGet"] == calls["BatchGet"]


async def test_more_reads_than_a_batch_holds_are_split(mcp_server: MCPServer, backends: Backends) -> None:
    async with Client(mcp_server) as client:
        await store(client, "shared", "v")
    calls = dict(backends.memory_reads.calls)
    n = MAX_READS * 2 + 1
    answers = await asyncio.gather(*(read(backends, "team", "shared") for _ in range(n)))
    assert answers == ["v"] * n
    sent = {name: count - calls[name] for name, count in backends.memory_reads.calls.items()}
    assert sent == {"BatchGet": 2, "batched_reads": 2 * MAX_READS, "Get": 1}  # the one left over goes alone


async def test_a_batch_too_large_for_one_answer_is_read_key_by_key(backends: Backends) -> None:
    """Nine 1 MB entries are over gRPC's 8 MB message limit together, not alone: each read still gets its entry."""
    big = "x" * 999_000
    for i in range(9):
        put = mpb.PutRequest(namespace="big", key=f"b{i}", value_json=json.dumps(big))
        await backends.call(backends.memory.Put, put)
    calls = dict(backends.memory_reads.calls)
    answers = await asyncio.gather(*(read(backends, "big", f"b{i}") for i in range(9)))
    assert answers == [big] * 9
    sent = {name: count - calls[name] for name, count in backends.memory_reads.calls.items()}
    assert sent == {"BatchGet": 1, "batched_reads": 9, "Get": 9}


async def test_a_cancelled_read_does_not_disturb_its_batch(mcp_server: MCPServer, backends: Backends) -> None:
    async with Client(mcp_server) as client:
        await store(client, "a", 1)
        await store(client, "b", 2)
    batches = backends.memory_reads.calls["BatchGet"]
    first = asyncio.ensure_future(read(backends, "team", "a"))
    gone = asyncio.ensure_future(read(backends, "team", "b"))
    last = asyncio.ensure_future(read(backends, "team", "b"))
    await asyncio.sleep(0)  # all three are queued for the same turn
    gone.cancel()
    assert await first == 1 and await last == 2
    assert gone.cancelled()
    assert backends.memory_reads.calls["BatchGet"] == batches + 1  # the two left still went out together


async def test_batched_reads_carry_their_request_ids_to_the_service_log(
    mcp_server: MCPServer, backends: Backends, caplog: pytest.LogCaptureFixture
) -> None:
    async with Client(mcp_server) as client:
        await store(client, "k", 1)

    async def traced(rid: str) -> object:
        request_id_var.set(rid)
        return await read(backends, "team", "k")

    class Stamp(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.request_id = request_id_var.get()
            return True

    caplog.handler.addFilter(Stamp())
    caplog.set_level(logging.DEBUG, logger="swarm.rpc")
    assert await asyncio.gather(traced("r-one"), traced("r-two")) == [1, 1]
    logged = [r.request_id for r in caplog.records if r.name == "swarm.rpc" and "BatchGet" in r.getMessage()]
    assert logged == ["r-one,r-two"]


async def test_a_batch_that_cannot_reach_memory_fails_each_read_clearly(data_dir: Path) -> None:
    config = Config.from_env({"SWARM_DATA_DIR": str(data_dir), "SWARM_CALL_TIMEOUT_S": "1.5"})
    backends = Backends(config, {"memory": f"127.0.0.1:{free_port()}"})  # nothing listens there
    try:
        start = time.monotonic()
        answers = await asyncio.gather(*(read(backends, "team", f"k{i}") for i in range(3)))
        assert time.monotonic() - start < config.call_timeout_s + 1.0
        for text in answers:
            assert isinstance(text, str) and "memory service" in text and "unavailable" in text
        assert backends.memory_reads.calls["BatchGet"] == 1
    finally:
        await backends.close()


async def test_concurrent_memory_get_over_http_each_answer_is_its_own(backends: Backends) -> None:
    """What a swarm does: many agents reading at once through Streamable HTTP."""
    http = HttpGateway(build_mcp(backends), "127.0.0.1", 0)
    await http.start()
    try:
        async with Client(http.url) as client:
            for i in range(20):
                await store(client, f"k{i}", i)
        keys = [f"k{i}" for i in range(20)] + ["missing"] * 3
        clients = [Client(http.url) for _ in range(8)]

        async def get(client: Client, key: str) -> object:
            r = await client.call_tool("memory_get", {"namespace": "team", "key": key})
            return r.content[0].text if r.is_error else json.loads(r.content[0].text)["value"]

        async def agent(client: Client, i: int) -> list[object]:
            async with client:
                return [await get(client, keys[(i + j) % len(keys)]) for j in range(len(keys))]

        runs = await asyncio.gather(*(agent(c, i) for i, c in enumerate(clients)))
        for i, answers in enumerate(runs):
            expected = [keys[(i + j) % len(keys)] for j in range(len(keys))]
            for key, answer in zip(expected, answers, strict=True):
                if key == "missing":  # the same words whether the read went alone or in a batch
                    assert isinstance(answer, str) and answer.endswith("no entry 'missing' in namespace 'team'")
                else:
                    assert answer == int(key[1:])
    finally:
        await http.stop()
