"""Mcp-Param-* headers (protocol 2026-07-28) are still checked for every tool that declares x-mcp-header,
with the gateway's lookup that spares the SDK's schema walk for tools that declare none."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx2 as httpx
import pytest
from mcp.server import MCPServer
from pydantic import Field

from gateway.backends import Backends
from gateway.http import HttpGateway
from gateway.server import build_mcp
from tests.security.test_hostile_http import call


@pytest.fixture
async def endpoint(backends: Backends) -> AsyncIterator[str]:
    mcp = build_mcp(backends)

    @mcp.tool()
    async def region_echo(region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})]) -> str:
        """Test only: a tool whose argument must be mirrored in the Mcp-Param-Region header."""
        return region

    http = HttpGateway(mcp, "127.0.0.1", 0)
    await http.start()
    try:
        yield http.url
    finally:
        await http.stop()


async def post(url: str, name: str, arguments: dict[str, object], **headers: str) -> httpx.Response:
    body, base = call(name, arguments)
    async with httpx.AsyncClient() as client:
        return await client.post(url, content=body, headers={**base, **headers})


async def test_a_declared_header_must_match_its_argument(endpoint: str) -> None:
    ok = await post(endpoint, "region_echo", {"region": "eu"}, **{"mcp-param-region": "eu"})
    assert ok.status_code == 200 and not ok.json()["result"].get("isError"), ok.text
    for headers in ({"mcp-param-region": "us"}, {}):  # a different value, or none at all
        refused = await post(endpoint, "region_echo", {"region": "eu"}, **headers)
        assert refused.status_code == 400, refused.text
        assert "Mcp-Param-Region" in refused.json()["error"]["message"]


async def test_tools_declaring_no_header_ignore_param_headers(endpoint: str) -> None:
    stored = await post(endpoint, "memory_store", {"namespace": "ns", "key": "k", "value": 1})
    assert stored.status_code == 200 and not stored.json()["result"].get("isError"), stored.text
    got = await post(endpoint, "memory_get", {"namespace": "ns", "key": "k"}, **{"mcp-param-region": "us"})
    assert got.status_code == 200 and got.json()["result"]["structuredContent"]["value"] == 1, got.text


async def test_only_tools_declaring_a_header_have_their_schema_walked(backends: Backends) -> None:
    mcp: MCPServer = build_mcp(backends)

    @mcp.tool()
    async def region_echo(region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})]) -> str:
        """Test only: a tool whose argument must be mirrored in the Mcp-Param-Region header."""
        return region

    http = HttpGateway(mcp, "127.0.0.1", 0)
    try:
        lookup = mcp.session_manager.app.get_tool_input_schema
        assert lookup is not None and lookup("memory_get") is None and lookup("no_such_tool") is None
        assert lookup("region_echo") is not None
    finally:
        await http.stop()
