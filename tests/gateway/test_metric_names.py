"""Bounded metrics: calls of tools the server does not have count under one name, on /metrics and in telemetry;
the telemetry service keeps a bounded number of series whatever its reporters send."""

from __future__ import annotations

import json
import uuid

import httpx2 as httpx
from mcp import Client
from prometheus_client.parser import text_string_to_metric_families

from common.pusher import Pusher
from common.recorder import Recorder
from common.server import RunningService
from gateway.backends import Backends
from gateway.http import HttpGateway
from gateway.server import build_mcp
from gateway.tools.metrics import UNKNOWN_TOOL
from services.telemetry.aggregator import MAX_SERIES, OVERFLOW, Aggregator
from tests.conftest import FakeClock


async def test_unknown_tool_names_count_under_one_name(backends: Backends, telemetry_service: RunningService) -> None:
    recorder = Recorder()  # this test's own: exact counts
    pusher = Pusher(recorder, telemetry_service.address, "names-test", send_timeout=1.0)
    for _ in range(10):  # open the report stream before anything is recorded (nothing can be dropped)
        if await pusher.flush():
            break
    http = HttpGateway(build_mcp(backends, recorder=recorder, flush=pusher.flush), "127.0.0.1", 0)
    await http.start()
    try:
        async with Client(http.url) as client:
            for _ in range(25):
                r = await client.call_tool(f"nope_{uuid.uuid4().hex}", {})
                assert r.is_error
            await client.call_tool("memory_get", {"namespace": "ns", "key": "absent"})
            summary = json.loads((await client.call_tool("swarm_metrics", {"kind": "tool"})).content[0].text)
        mine = {m["name"]: m for m in summary["methods"] if m["process"] == "names-test"}
        assert set(mine) == {UNKNOWN_TOOL, "memory_get"}, set(mine)
        assert mine[UNKNOWN_TOOL]["count"] == 25 and mine[UNKNOWN_TOOL]["errors"] == 25
        async with httpx.AsyncClient() as web:
            text = (await web.get(f"http://127.0.0.1:{http.port}/metrics")).text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        names = {s.labels["name"] for s in families["swarm_calls"].samples if s.labels["process"] == "names-test"}
        assert names == {UNKNOWN_TOOL, "memory_get", "swarm_metrics"}, names
    finally:
        await http.stop()
        await pusher.close()


def test_telemetry_keeps_a_bounded_number_of_series() -> None:
    clock = FakeClock(1_000_000.0)
    agg = Aggregator(clock=clock)
    calls = [("rpc", f"/x.Y/M{i}", "OK", 1.0, clock.now - 1) for i in range(MAX_SERIES + 500)]
    agg.ingest("flood", calls, None, 0, 0)
    methods = agg.summary(window_s=60).methods
    assert len(methods) <= MAX_SERIES + 1
    overflow = [m for m in methods if m.name == OVERFLOW]
    assert len(overflow) == 1 and overflow[0].count == 500
    assert sum(m.count for m in methods) == MAX_SERIES + 500  # nothing lost, only pooled
