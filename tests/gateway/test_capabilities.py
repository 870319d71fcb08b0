"""What the server advertises is true: each capability that ``initialize`` (2025-11-25) or ``server/discover``
(2026-07-28) announces is exercised here, over the real HTTP endpoint and in-process; what it does not keep
(resource subscriptions, list-change notifications) it does not announce, in either era."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2 as httpx
import pytest
from mcp import Client
from mcp.server import MCPServer

from bench.harness.mcpwire import encode, request_headers, rpc
from gateway.backends import Backends
from gateway.http import HttpGateway
from gateway.server import build_mcp

EXERCISED = {"tools", "resources", "prompts"}  # every capability this file knows how to prove


@pytest.fixture
async def url(backends: Backends) -> AsyncIterator[str]:
    http = HttpGateway(build_mcp(backends), "127.0.0.1", 0)
    await http.start()
    try:
        yield http.url
    finally:
        await http.stop()


def advertised(client: Client) -> dict[str, Any]:
    caps = client.server_capabilities.model_dump(by_alias=True, exclude_none=True)
    return {k: v for k, v in caps.items() if v not in ({}, None) or k in EXERCISED}


async def exercise(client: Client) -> set[str]:
    caps = advertised(client)
    assert set(caps) <= EXERCISED, f"advertised but not exercised here: {set(caps) - EXERCISED}"
    for name in ("tools", "resources", "prompts"):
        assert not caps.get(name, {}).get("listChanged"), f"{name}.listChanged is advertised: no list ever changes"
    assert not caps.get("resources", {}).get("subscribe"), "resources.subscribe is advertised but not kept"
    if "tools" in caps:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "memory_store" in names
        stored = await client.call_tool("memory_store", {"namespace": "caps", "key": "k", "value": {"v": 1}})
        assert not stored.is_error, stored.content[0].text
    if "resources" in caps:
        uris = {str(r.uri) for r in (await client.list_resources()).resources}
        assert {"swarm://status", "swarm://metrics"} <= uris
        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates if t.uri_template.startswith("memory://")]
        entry = await client.read_resource("memory://caps/k")
        assert json.loads(entry.contents[0].text)["value"] == {"v": 1}
    if "prompts" in caps:
        assert (await client.list_prompts()).prompts == []
    return set(caps)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_every_advertised_capability_is_exercised_over_http(url: str, mode: str) -> None:
    async with Client(url, mode=mode) as client:
        assert await exercise(client) >= {"tools", "resources"}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_every_advertised_capability_is_exercised_in_process(mcp_server: MCPServer, mode: str) -> None:
    async with Client(mcp_server, mode=mode) as client:
        assert await exercise(client) >= {"tools", "resources"}


@pytest.mark.parametrize(
    ("method", "params", "modern"),
    [
        ("resources/subscribe", {"uri": "memory://caps/k"}, False),
        ("subscriptions/listen", {"notifications": {"resourceSubscriptions": ["memory://caps/k"]}}, True),
    ],
)
async def test_no_subscription_is_acknowledged(url: str, method: str, params: dict[str, Any], modern: bool) -> None:
    """A subscription the server would not keep is refused (method not found), in both eras, never acknowledged
    and then left silent."""
    body = rpc(method, params, 7, modern=modern)
    async with httpx.AsyncClient() as web:
        resp = await web.post(url, content=encode(body), headers=request_headers(body), timeout=10)
    answer = resp.json()
    assert answer.get("error", {}).get("code") == -32601, answer
