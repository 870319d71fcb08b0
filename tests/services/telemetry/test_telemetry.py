"""Telemetry end to end: exact counts per tool and per RPC, percentiles, Prometheus, telemetry down."""

from __future__ import annotations

import asyncio
import json
import math
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp import Client
from prometheus_client.parser import text_string_to_metric_families

from common.config import Config
from common.pusher import Pusher
from common.recorder import Recorder
from common.server import RunningService, start_service
from gateway.backends import Backends
from gateway.http import HttpGateway
from gateway.server import build_mcp
from services.memory.service import build as build_memory
from services.telemetry.aggregator import Aggregator, SampleRing
from services.telemetry.service import build as build_telemetry
from tests.conftest import FakeClock, free_port


@dataclass
class Stack:
    recorder: Recorder
    pusher: Pusher
    telemetry: RunningService
    memory: RunningService
    backends: Backends
    config: Config


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    config = Config.from_env({"SWARM_DATA_DIR": str(tmp_path), "SWARM_CALL_TIMEOUT_S": "2"})
    recorder = Recorder()  # this test's own recorder: exact counts, unaffected by other tests
    telemetry = await start_service(build_telemetry(config), f"127.0.0.1:{free_port()}", recorder=recorder)
    memory = await start_service(build_memory(config, data_dir=tmp_path), "127.0.0.1:0", recorder=recorder)
    pusher = Pusher(recorder, telemetry.address, "test-process", send_timeout=1.0)
    for _ in range(10):  # open the report stream before the test records anything (nothing can be dropped)
        if await pusher.flush():
            break
    backends = Backends(config, {"memory": memory.address, "telemetry": telemetry.address})
    stack = Stack(recorder, pusher, telemetry, memory, backends, config)
    yield stack
    await backends.close()
    await pusher.close()
    await memory.stop(1)
    await stack.telemetry.stop(1)  # a test may have replaced it


def by_name(summary: dict, name: str) -> dict:
    (m,) = [m for m in summary["methods"] if m["name"] == name]
    return m


async def test_exact_counts_per_tool_and_rpc(stack: Stack) -> None:
    mcp = build_mcp(stack.backends, recorder=stack.recorder, flush=stack.pusher.flush)
    async with Client(mcp) as client:
        for i in range(7):
            r = await client.call_tool("memory_store", {"namespace": "ns", "key": f"k{i}", "value": i})
            assert not r.is_error
        for i in range(3):
            assert (await client.call_tool("memory_get", {"namespace": "ns", "key": f"missing{i}"})).is_error
        for _ in range(2):  # refused by argument validation: still counted, as errors
            assert (await client.call_tool("memory_get", {"namespace": "ns"})).is_error
        # a server records an RPC after its answer is sent: the last Get's record may reach telemetry a moment
        # after the gateway had its answer, so read until every call is in (the counts must then be exact)
        deadline = asyncio.get_running_loop().time() + 5.0
        while True:
            r = await client.call_tool("swarm_metrics", {"window_s": 60})
            summary = json.loads(r.content[0].text)
            gets = [m["count"] for m in summary["methods"] if m["name"] == "/swarm.memory.v1.MemoryService/Get"]
            if sum(gets) >= 3 or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
    store = by_name(summary, "memory_store")
    assert (store["count"], store["errors"], store["codes"]) == (7, 0, {"OK": 7})
    get = by_name(summary, "memory_get")
    assert (get["count"], get["errors"], get["codes"]) == (5, 5, {"TOOL_ERROR": 5})
    put_rpc = by_name(summary, "/swarm.memory.v1.MemoryService/Put")
    assert (put_rpc["count"], put_rpc["errors"], put_rpc["kind"]) == (7, 0, "rpc")
    get_rpc = by_name(summary, "/swarm.memory.v1.MemoryService/Get")
    assert (get_rpc["count"], get_rpc["codes"]) == (3, {"NOT_FOUND": 3})
    assert store["p50_ms"] > 0 and store["p50_ms"] <= store["p95_ms"] <= store["p99_ms"] <= store["max_ms"]
    (proc,) = [p for p in summary["processes"] if p["process"] == "test-process"]
    assert proc["pss_mb"] > 0 and proc["rss_mb"] >= proc["pss_mb"] * 0.5 and proc["uptime_s"] > 0


def test_samples_timed_outside_the_horizon_are_dropped() -> None:
    clock = FakeClock(1_000_000.0)
    agg = Aggregator(clock=clock)
    times = [clock.now - 7200, clock.now - 10, clock.now + 2, clock.now + 7200, float("inf")]
    agg.ingest("p", [("tool", "x", "OK", 1.0, at) for at in times], None, 0, 0)
    (m,) = agg.summary(window_s=60).methods
    assert m.total == 2  # a reporter's clock hours off (or broken) cannot corrupt the windows


def test_percentiles_are_numpys_on_the_same_samples() -> None:
    clock = FakeClock(1_000_000.0)
    agg = Aggregator(clock=clock)
    rng = np.random.default_rng(5)
    latencies = rng.lognormal(0.0, 1.0, 1000)
    calls = [
        ("tool", "x", "OK" if i % 10 else "TOOL_ERROR", float(ms), clock.now - 5) for i, ms in enumerate(latencies)
    ]
    agg.ingest("p", calls, None, 0, 0)
    (m,) = agg.summary(window_s=60).methods
    assert m.count == 1000 and m.errors == 100 and not m.sampled
    kept = latencies.astype(np.float32).astype(np.float64)  # latencies are kept as float32 (7 digits)
    assert [m.p50_ms, m.p95_ms, m.p99_ms] == pytest.approx(list(np.percentile(kept, [50, 95, 99])), rel=1e-12)
    assert m.mean_ms == pytest.approx(kept.mean()) and m.max_ms == kept.max()
    assert [m.p50_ms, m.p99_ms] == pytest.approx(list(np.percentile(latencies, [50, 99])), rel=1e-6)
    # the window: calls older than it are not in it, but stay in the totals
    clock.advance(120)
    (m,) = agg.summary(window_s=60).methods
    assert m.count == 0 and m.total == 1000 and m.total_errors == 100


async def test_prometheus_endpoint_parses_and_counts(stack: Stack) -> None:
    mcp = build_mcp(stack.backends, recorder=stack.recorder, flush=stack.pusher.flush)
    http = HttpGateway(mcp, "127.0.0.1", 0)
    await http.start()
    try:
        async with Client(http.url) as client:
            for i in range(4):
                await client.call_tool("memory_store", {"namespace": "ns", "key": f"k{i}", "value": i})
            await client.call_tool("memory_get", {"namespace": "ns", "key": "nope"})
        async with httpx.AsyncClient() as web:
            resp = await web.get(f"http://127.0.0.1:{http.port}/metrics")
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(resp.text)}
        assert families["swarm_telemetry_up"].samples[0].value == 1.0
        calls = {s.labels["name"]: s.value for s in families["swarm_calls"].samples if s.labels["kind"] == "tool"}
        errors = {
            s.labels["name"]: s.value for s in families["swarm_call_errors"].samples if s.labels["kind"] == "tool"
        }
        assert calls["memory_store"] == 4 and errors["memory_store"] == 0
        assert calls["memory_get"] == 1 and errors["memory_get"] == 1
        quantiles = {
            s.labels["quantile"]
            for s in families["swarm_call_latency_ms"].samples
            if s.labels["name"] == "memory_store"
        }
        assert quantiles == {"0.5", "0.95", "0.99"}
        assert any(s.value > 0 for s in families["swarm_process_pss_bytes"].samples)
    finally:
        await http.stop()


async def test_telemetry_down_costs_nothing_but_dropped_batches(stack: Stack) -> None:
    address = stack.telemetry.address
    await stack.telemetry.stop(0)
    mcp = build_mcp(stack.backends, recorder=stack.recorder, flush=stack.pusher.flush)
    async with Client(mcp) as client:
        for i in range(5):
            r = await client.call_tool("memory_store", {"namespace": "ns", "key": f"k{i}", "value": i})
            assert not r.is_error
        assert not await stack.pusher.flush()  # the batch could not be sent: dropped, counted
        assert stack.recorder.dropped_batches == 1 and stack.recorder.dropped_records >= 5
        r = await client.call_tool("swarm_metrics", {})
        assert r.is_error and "telemetry service" in r.content[0].text and "unavailable" in r.content[0].text
        # telemetry comes back on the same address: the next batch carries what was lost
        stack.telemetry = await start_service(build_telemetry(stack.config), address, recorder=stack.recorder)
        for _ in range(10):  # the channel reconnects with backoff; each attempt waits up to the send timeout
            if await stack.pusher.flush():
                break
        r = await client.call_tool("swarm_metrics", {})
        assert not r.is_error, r.content[0].text
        summary = json.loads(r.content[0].text)
    assert summary["dropped_batches"]["test-process"] >= 1
    assert summary["dropped_records"]["test-process"] >= 5


async def test_watch_streams_summaries(stack: Stack) -> None:
    from grpc import aio

    from swarm.telemetry.v1 import telemetry_pb2 as tpb
    from swarm.telemetry.v1 import telemetry_pb2_grpc

    for _ in range(10):  # open the stream first (each attempt waits at most the send timeout)
        if await stack.pusher.flush():
            break
    stack.recorder.record("tool", "watched_tool", "OK", 1.5)
    assert await stack.pusher.flush()
    async with aio.insecure_channel(stack.telemetry.address) as channel:
        stub = telemetry_pb2_grpc.TelemetryServiceStub(channel)
        stream = stub.Watch(tpb.WatchRequest(summary=tpb.SummaryRequest(kind="tool"), interval_s=0.1), timeout=10)
        seen = []
        async for summary in stream:
            seen.append(summary)
            if len(seen) == 2:
                stream.cancel()
                break
    assert all(s.methods for s in seen)
    assert {m.name for m in seen[0].methods} == {"watched_tool"} and seen[0].methods[0].count == 1
    assert seen[1].generated_at > seen[0].generated_at


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 3, allow_nan=False), st.floats(0, 1e4, allow_nan=False)), max_size=60),
    st.integers(1, 20),
    st.floats(0, 200),
)
def test_the_sample_ring_keeps_the_newest_samples_in_order(steps, limit, cut) -> None:
    # the reference: a deque of the newest ``limit`` samples, times non-decreasing as reports arrive; the ring
    # keeps each sample's whole second, so windows and pruning go by it
    ring, ref, now = SampleRing(limit=limit, block=3), deque(maxlen=limit), 1_700_000_000.25
    for advance, ms in steps:
        now += advance
        ring.append(now, ms)
        ref.append((now, float(np.float32(ms))))  # latencies are kept as float32
    assert len(ring) == len(ref)
    assert ring.latencies_since(-1).tolist() == [ms for _, ms in ref]
    cut += 1_700_000_000
    ring.prune(cut)
    while ref and math.floor(ref[0][0]) < cut:
        ref.popleft()
    assert ring.latencies_since(-1).tolist() == [ms for _, ms in ref]
    assert ring.latencies_since(cut + 5).tolist() == [ms for at, ms in ref if math.floor(at) >= cut + 5]
    for i in range(limit + 3):  # and it keeps going after a prune, wrapping around
        ring.append(now + i, float(i))
        ref.append((now + i, float(i)))
        assert ring.latencies_since(-1).tolist() == [ms for _, ms in ref]
