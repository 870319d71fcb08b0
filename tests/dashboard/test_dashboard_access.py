"""Who may open the dashboard and change anything through it: the same token, Host and Origin rules as /mcp; the
login form's cookie on the dashboard's paths only; actions refused to other sites (no header, foreign Origin)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx2 as httpx
import pytest
from mcp import Client
from mcp.server import MCPServer

from bench.harness.topology import free_port
from common.config import Config
from gateway.backends import Backends
from gateway.dashboard.login import COOKIE
from gateway.http import HttpGateway
from gateway.security import HttpSecurity
from gateway.server import build_mcp

TOKEN = "dashboard-test-token-0123456789"
ACTION = {"x-swarm-dashboard": "1"}
VIEWS = ("summary", "agents", "tasks", "graph", "learning", "consensus", "messages", "health")


@pytest.fixture
async def gateway(mcp_server: MCPServer) -> AsyncIterator[HttpGateway]:
    http = HttpGateway(mcp_server, "127.0.0.1", 0, HttpSecurity(token=TOKEN))
    await http.start()
    yield http
    await http.stop()


def base(gateway: HttpGateway) -> str:
    return f"http://127.0.0.1:{gateway.port}"


async def test_without_the_token_the_page_is_the_login_form_and_every_endpoint_401(gateway: HttpGateway) -> None:
    async with httpx.AsyncClient(base_url=base(gateway)) as web:
        page = await web.get("/")
        assert page.status_code == 401 and 'name="token"' in page.text and "<form" in page.text
        for path in [f"/api/{v}" for v in VIEWS] + ["/static/app.js", "/static/style.css"]:
            r = await web.get(path)
            assert r.status_code == 401, path
            assert "bearer token" in r.json()["error"]
        r = await web.post("/api/actions/cancel_task", json={"task_id": "x"}, headers=ACTION)
        assert r.status_code == 401
        wrong = await web.post("/login", data={"token": "not-the-token-at-all"})
        assert wrong.status_code == 401 and "wrong token" in wrong.text and COOKIE not in web.cookies


async def test_the_login_cookie_opens_the_dashboard_and_not_mcp(gateway: HttpGateway) -> None:
    async with httpx.AsyncClient(base_url=base(gateway)) as web:
        r = await web.post("/login", data={"token": TOKEN})
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and TOKEN not in cookie
        page = await web.get("/")
        assert page.status_code == 200 and "/static/app.js" in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
        for v in VIEWS:
            assert (await web.get(f"/api/{v}")).status_code == 200, v
        # the cookie is the dashboard's: MCP and Prometheus still need the bearer token
        assert (await web.get("/metrics")).status_code == 401
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        assert (await web.post("/mcp", json=call)).status_code == 401
        out = await web.post("/logout")
        assert out.status_code == 303
        assert (await web.get("/api/agents")).status_code == 401


async def test_bearer_token_works_and_foreign_origin_or_host_is_refused(gateway: HttpGateway) -> None:
    auth = {"authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=base(gateway)) as web:
        assert (await web.get("/api/tasks", headers=auth)).status_code == 200
        for path in ("/", "/api/agents", "/login"):
            r = await web.get(path, headers=auth | {"origin": "https://evil.example"})
            assert r.status_code == 403, path
        assert (await web.get("/", headers=auth | {"host": "evil.example"})).status_code == 421
        bad_state = await web.get("/api/tasks?state=lost", headers=auth)
        assert bad_state.status_code == 502 and "not one of" in bad_state.json()["error"]


async def test_actions_refuse_cross_site_requests_and_go_through_the_tools(
    gateway: HttpGateway, mcp_server: MCPServer
) -> None:
    async with Client(mcp_server) as client:
        await client.call_tool("agent_register", {"agent_id": "gone", "offline": True})
        await client.call_tool("agent_register", {"agent_id": "working", "skills": {"x": 1}})
        await client.call_tool("task_submit", {"tasks": [{"id": "t1", "skills": {"nobody": 1}}]})
    async with httpx.AsyncClient(base_url=base(gateway)) as web:
        await web.post("/login", data={"token": TOKEN})
        args = {"task_id": "t1"}
        assert (await web.post("/api/actions/cancel_task", json=args)).status_code == 403  # no header
        own = f"http://127.0.0.1:{gateway.port}"
        r = await web.post("/api/actions/cancel_task", json=args, headers=ACTION | {"sec-fetch-site": "cross-site"})
        assert r.status_code == 403
        r = await web.post("/api/actions/cancel_task", json=args, headers=ACTION | {"origin": "http://localhost:1"})
        assert r.status_code == 403 and "own page" in r.json()["error"]  # loopback, but not this page
        r = await web.post("/api/actions/cancel_task", json={"task_id": ""}, headers=ACTION | {"origin": own})
        assert r.status_code == 400
        r = await web.post("/api/actions/cancel_task", json={"task_id": "bad id!"}, headers=ACTION | {"origin": own})
        assert r.status_code == 400  # the tool's own argument check
        r = await web.post("/api/actions/cancel_task", json=args, headers=ACTION | {"origin": own})
        assert r.status_code == 200 and r.json()["cancelled"] == ["t1"]
        r = await web.post("/api/actions/remove_agent", json={"agent_id": "working"}, headers=ACTION)
        assert r.status_code == 409 and "only offline" in r.json()["error"]
        r = await web.post("/api/actions/remove_agent", json={"agent_id": "gone"}, headers=ACTION)
        assert r.status_code == 200 and r.json()["removed"]
        r = await web.post("/api/actions/release_lease", json={"lease_id": "lease-999"}, headers=ACTION)
        assert r.status_code == 409
        r = await web.post("/api/actions/requeue_task", json={"task_id": "t1"}, headers=ACTION)
        assert r.status_code == 200 and r.json()["unchanged"] == [{"id": "t1", "state": "cancelled"}]


async def test_a_service_that_is_down_is_a_short_clear_error_not_a_hang(tmp_path: Path) -> None:
    config = Config.from_env(
        {"SWARM_DATA_DIR": str(tmp_path), "SWARM_CALL_TIMEOUT_S": "1", "SWARM_RETRY_ATTEMPTS": "1"}
    )
    nowhere = {name: f"127.0.0.1:{free_port()}" for name in ("memory", "assignment", "consensus", "telemetry")}
    backends = Backends(config, nowhere)
    http = HttpGateway(build_mcp(backends), "127.0.0.1", 0)
    await http.start()
    try:
        async with httpx.AsyncClient(base_url=base(http), timeout=10) as web:
            for view in ("tasks", "agents", "consensus"):
                r = await web.get(f"/api/{view}")
                assert r.status_code == 502, view
                error = r.json()["error"]
                assert "unavailable" in error and "127.0.0.1:" in error, error
            page = await web.get("/")
            assert page.status_code == 200  # the page itself needs no service: it says what fails
    finally:
        await http.stop()
        await backends.close()
