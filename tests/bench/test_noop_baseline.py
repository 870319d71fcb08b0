"""The bench's no-op baseline tool takes the path the product's tools take: answered by the lean path over HTTP,
recorded under its own name. A baseline that went the SDK's whole way made memory_get look faster than doing
nothing (bench_e2e, bench_mcp before 2026-12-07)."""

from __future__ import annotations

import httpx2 as httpx

from bench.harness.mcpwire import encode, request_headers, tool_call
from bench.noop_gateway import add_noop
from gateway.backends import Backends
from gateway.fastpath import FastToolCalls
from gateway.http import HttpGateway
from gateway.server import build_mcp
from tests.gateway.test_fast_path_equivalence import front_of


async def test_the_noop_tool_is_answered_by_the_lean_path_and_recorded_by_name(backends: Backends) -> None:
    mcp = build_mcp(backends)
    http = HttpGateway(mcp, "127.0.0.1", 0, fast_path=True)
    await http.start()
    try:
        add_noop(mcp)  # after the gateway serves, as bench.noop_gateway adds it
        front = front_of(http)
        assert isinstance(front, FastToolCalls) and front.active
        async with httpx.AsyncClient() as client:
            for modern in (True, False):
                body = tool_call("noop", {}, modern=modern)
                before = front.answered
                r = await client.post(http.url, content=encode(body), headers=request_headers(body))
                assert r.status_code == 200, r.text
                result = r.json()["result"]
                assert result["structuredContent"] == {"ok": True} and not result["isError"]
                assert front.answered == before + 1, "the noop call went to the SDK, not the lean path"
        assert "noop" in front.recorder.tools
    finally:
        await http.stop()
