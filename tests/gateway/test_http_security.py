"""HTTP protection of the gateway: bearer token, Host/Origin, body limit, no unauthenticated route."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2 as httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server import MCPServer

from gateway.http import HttpGateway
from gateway.security import HttpSecurity, InsecureExposure

TOKEN = "s3cret-token-for-tests-0123456789"
CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


@pytest.fixture
async def secured(mcp_server: MCPServer) -> AsyncIterator[HttpGateway]:
    http = HttpGateway(mcp_server, "127.0.0.1", 0, HttpSecurity(token=TOKEN, max_body_bytes=64 * 1024))
    await http.start()
    yield http
    await http.stop()


async def test_token_required_on_every_route(secured: HttpGateway) -> None:
    base = f"http://127.0.0.1:{secured.port}"
    async with httpx.AsyncClient() as web:
        for path, method in (("/mcp", "POST"), ("/metrics", "GET"), ("/anything", "GET")):
            for auth in (None, "Bearer wrong-token-wrong-token", f"Basic {TOKEN}", TOKEN):
                headers = dict(HEADERS) | ({"authorization": auth} if auth else {})
                r = await web.request(method, base + path, headers=headers, json=CALL if method == "POST" else None)
                assert r.status_code == 401, (path, auth)
                assert r.headers["www-authenticate"].startswith("Bearer")
                assert "bearer token" in r.json()["error"]
        r = await web.get(base + "/metrics", headers={"authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and "swarm_telemetry_up" in r.text


async def test_sdk_client_with_token_works(secured: HttpGateway) -> None:
    http_client = httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"})
    async with http_client, Client(streamable_http_client(secured.url, http_client=http_client)) as client:
        r = await client.call_tool("memory_store", {"namespace": "ns", "key": "k", "value": 1})
        assert not r.is_error
        assert (
            json.loads((await client.call_tool("memory_get", {"namespace": "ns", "key": "k"})).content[0].text)["value"]
            == 1
        )


async def test_host_and_origin_are_checked(secured: HttpGateway) -> None:
    base = f"http://127.0.0.1:{secured.port}/mcp"
    auth = {"authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient() as web:
        r = await web.post(base, headers=HEADERS | auth | {"host": "evil.example:8080"}, json=CALL)
        assert r.status_code == 421
        r = await web.post(base, headers=HEADERS | auth | {"origin": "https://evil.example"}, json=CALL)
        assert r.status_code == 403
        r = await web.post(base, headers=HEADERS | auth | {"origin": f"http://localhost:{secured.port}"}, json=CALL)
        assert r.status_code == 200
        r = await web.post(base, headers=HEADERS | auth, content=b'{"x": "' + b"a" * 70_000 + b'"}')
        assert r.status_code == 413


async def test_loopback_without_token_still_refuses_foreign_origins(mcp_server: MCPServer) -> None:
    http = HttpGateway(mcp_server, "127.0.0.1", 0)
    await http.start()
    try:
        async with httpx.AsyncClient() as web:
            r = await web.post(http.url, headers=HEADERS | {"origin": "http://attacker.test"}, json=CALL)
            assert r.status_code == 403
            r = await web.get(f"http://127.0.0.1:{http.port}/metrics", headers={"host": "attacker.test"})
            assert r.status_code == 421
            r = await web.post(http.url, headers=HEADERS, json=CALL)
            assert r.status_code == 200
    finally:
        await http.stop()


def test_network_bind_without_a_token_is_refused(mcp_server: MCPServer) -> None:
    with pytest.raises(InsecureExposure, match="SWARM_AUTH_TOKEN"):
        HttpGateway(mcp_server, "0.0.0.0", 0)
    with pytest.raises(InsecureExposure, match="at least 16"):
        HttpGateway(mcp_server, "0.0.0.0", 0, HttpSecurity(token="short"))


async def test_cli_refuses_to_expose_without_a_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWARM_") and not k.endswith("_SERVICE_ADDR")}
    env |= {"SWARM_DATA_DIR": str(tmp_path), "SWARM_HTTP_HOST": "0.0.0.0", "SWARM_HTTP_PORT": "0"}
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "swarm"), "gateway", env=env, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 2
    assert b"refusing to serve MCP on 0.0.0.0" in err
