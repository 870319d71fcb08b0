"""The MCP tools through the SDK's own client, against a real memory service over gRPC."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.server import MCPServer

from common.config import Config
from gateway.backends import Backends
from gateway.http import HttpGateway
from gateway.server import build_mcp
from tests.conftest import free_port

EXPECTED_TOOLS = {
    "memory_store",
    "memory_get",
    "memory_search",
    "memory_delete",
    "memory_backup",
    "swarm_status",
    "agent_register",
    "agent_list",
    "agent_remove",
    "task_assign",
    "task_report",
    "pheromone_read",
}


def result(r: Any) -> Any:
    assert not r.is_error, r.content[0].text
    return json.loads(r.content[0].text)


def error_text(r: Any) -> str:
    assert r.is_error, f"expected an error, got {r.content[0].text}"
    return r.content[0].text


def dump(data_dir: Path) -> list[tuple]:
    conn = sqlite3.connect(data_dir / "memory.db")
    try:
        return conn.execute("SELECT namespace, key, value, tags, version FROM entries ORDER BY id").fetchall()
    finally:
        conn.close()


async def exercise_every_tool(client: Client) -> None:
    tools = {t.name for t in (await client.list_tools()).tools}
    assert tools >= EXPECTED_TOOLS
    stored = result(
        await client.call_tool(
            "memory_store",
            {"namespace": "team", "key": "notes/plan", "value": {"goal": "map the hive", "n": 3}, "tags": ["plan"]},
        )
    )
    assert stored == {"namespace": "team", "key": "notes/plan", "version": 1, "created": True, "expires_at": None}
    got = result(await client.call_tool("memory_get", {"namespace": "team", "key": "notes/plan"}))
    assert got["value"] == {"goal": "map the hive", "n": 3} and got["tags"] == ["plan"] and got["version"] == 1
    found = result(await client.call_tool("memory_search", {"namespace": "team", "query": "hive"}))
    assert [e["key"] for e in found["entries"]] == ["notes/plan"] and found["next_cursor"] is None
    listed = result(await client.call_tool("memory_search", {"namespace": "team", "prefix": "notes/"}))
    assert [e["key"] for e in listed["entries"]] == ["notes/plan"]
    backup = result(await client.call_tool("memory_backup", {"action": "create"}))
    assert backup["entries"] == 1
    result(await client.call_tool("memory_store", {"namespace": "team", "key": "notes/plan", "value": "overwritten"}))
    verified = result(await client.call_tool("memory_backup", {"action": "verify", "backup_id": backup["backup_id"]}))
    assert verified["ok"] and verified["entries"] == 1
    restored = result(await client.call_tool("memory_backup", {"action": "restore", "backup_id": backup["backup_id"]}))
    assert restored["entries"] == 1
    got = result(await client.call_tool("memory_get", {"namespace": "team", "key": "notes/plan"}))
    assert got["value"] == {"goal": "map the hive", "n": 3}
    listed = result(await client.call_tool("memory_backup", {"action": "list"}))
    assert backup["backup_id"] in {b["backup_id"] for b in listed["backups"]}
    deleted = result(await client.call_tool("memory_delete", {"namespace": "team", "key": "notes/plan"}))
    assert deleted["deleted"] is True
    assert "no entry" in error_text(await client.call_tool("memory_get", {"namespace": "team", "key": "notes/plan"}))
    status = result(await client.call_tool("swarm_status", {}))
    assert status["healthy"] and status["services"]["memory"]["status"] == "SERVING"
    assert status["data"]["entries"] == 0 and status["data"]["data_dir"]
    await exercise_assignment_tools(client)


async def exercise_assignment_tools(client: Client) -> None:
    a = result(
        await client.call_tool("agent_register", {"agent_id": "coder", "skills": {"python": 0.9}, "capacity": 2})
    )
    assert a["status"] == "idle" and a["skills"] == {"python": 0.9}
    result(
        await client.call_tool("agent_register", {"agent_id": "writer", "skills": {"docs": 0.8}, "metadata": {"m": 1}})
    )
    listed = result(await client.call_tool("agent_list", {"skill": "python"}))
    assert [x["agent_id"] for x in listed["agents"]] == ["coder"]
    plan = result(
        await client.call_tool(
            "task_assign",
            {
                "tasks": [
                    {"id": "t1", "type": "code", "skills": {"python": 0.5}},
                    {"id": "t2", "type": "docs", "skills": {"docs": 0.5}},
                    {"id": "t3", "type": "code", "skills": {"rust": 0.5}},
                ],
                "seed": 1,
            },
        )
    )
    assert {(x["task_id"], x["agent_id"]) for x in plan["assignments"]} == {("t1", "coder"), ("t2", "writer")}
    assert plan["unassigned"] == [{"task_id": "t3", "reason": "no agent has skill 'rust' at level 0.5 or above"}]
    assert plan["recorded"] and plan["gap"] >= 0 and plan["lower_bound"] <= plan["objective"] + 1e-6
    report = result(await client.call_tool("task_report", {"task_id": "t1", "agent_id": "coder", "success": True}))
    assert report["trail"]["strength"] == pytest.approx(2.0) and report["task_was_open"]
    trails = result(await client.call_tool("pheromone_read", {"task_type": "code"}))
    assert [(t["agent_id"], t["successes"]) for t in trails["trails"]] == [("coder", 1)]
    removed = result(await client.call_tool("agent_remove", {"agent_id": "writer"}))
    assert removed == {"agent_id": "writer", "removed": True, "open_tasks_released": 1}


async def test_every_tool_in_process(mcp_server: MCPServer) -> None:
    async with Client(mcp_server) as mcp_client:
        await exercise_every_tool(mcp_client)


async def test_every_tool_over_http(backends: Backends) -> None:
    http = HttpGateway(build_mcp(backends), "127.0.0.1", 0)
    await http.start()
    try:
        async with Client(http.url) as client:
            await exercise_every_tool(client)
    finally:
        await http.stop()


async def test_resources(mcp_server: MCPServer) -> None:
    async with Client(mcp_server) as mcp_client:
        result(await mcp_client.call_tool("memory_store", {"namespace": "ns", "key": "a/b c", "value": [1, 2]}))
        templates = (await mcp_client.list_resource_templates()).resource_templates
        assert any(t.uri_template.startswith("memory://") for t in templates)
        res = await mcp_client.read_resource("memory://ns/a/b%20c")
        assert json.loads(res.contents[0].text)["value"] == [1, 2]
        # a key with a percent sign is decoded once: memory://ns/50%2520 names the key "50%20", not "50 "
        result(await mcp_client.call_tool("memory_store", {"namespace": "ns", "key": "50%20", "value": "pct"}))
        result(await mcp_client.call_tool("memory_store", {"namespace": "ns", "key": "50 ", "value": "space"}))
        res = await mcp_client.read_resource("memory://ns/50%2520")
        assert json.loads(res.contents[0].text)["value"] == "pct"
        status = await mcp_client.read_resource("swarm://status")
        assert json.loads(status.contents[0].text)["services"]["memory"]["status"] == "SERVING"


async def test_cas_conflict_and_ttl_through_tools(mcp_server: MCPServer) -> None:
    async with Client(mcp_server) as mcp_client:
        args = {"namespace": "ns", "key": "k", "value": 1}
        result(await mcp_client.call_tool("memory_store", {**args, "if_version": 0}))
        text = error_text(await mcp_client.call_tool("memory_store", {**args, "if_version": 0}))
        assert "version conflict" in text and "current version is 1" in text
        assert result(await mcp_client.call_tool("memory_store", {**args, "if_version": 1}))["version"] == 2
        stored = result(await mcp_client.call_tool("memory_store", {**args, "key": "t", "ttl_seconds": 60}))
        assert stored["expires_at"] == pytest.approx(time.time() + 60, abs=5)


async def test_client_request_id_applies_once(mcp_server: MCPServer, data_dir: Path) -> None:
    async with Client(mcp_server) as mcp_client:
        args = {"namespace": "ns", "key": "k", "value": "first", "request_id": "client-42"}
        first = result(await mcp_client.call_tool("memory_store", args))
        again = result(await mcp_client.call_tool("memory_store", {**args, "value": "second"}))
        assert first == again
        assert dump(data_dir) == [("ns", "k", '"first"', "[]", 1)]


@pytest.mark.parametrize(
    ("tool", "args", "message"),
    [
        ("memory_store", {"namespace": "ns", "key": 5, "value": 1}, "key"),
        ("memory_store", {"namespace": "ns", "value": 1}, "key"),
        ("memory_store", {"namespace": "bad ns!", "key": "k", "value": 1}, "namespace 'bad ns!' is invalid"),
        ("memory_store", {"namespace": "ns", "key": "k", "value": "x" * (1024 * 1024 + 1)}, "the limit is 1048576"),
        ("memory_store", {"namespace": "ns", "key": "k", "value": 1, "tags": "notalist"}, "tags"),
        ("memory_store", {"namespace": "ns", "key": "k", "value": 1, "ttl_seconds": -5}, "ttl_seconds"),
        ("memory_store", {"namespace": "ns", "key": "k", "value": 1, "tags": ["no spaces"]}, "tag 'no spaces'"),
        ("memory_get", {"namespace": "ns"}, "key"),
        ("memory_search", {"namespace": "ns", "query": "a", "prefix": "b"}, "not both"),
        ("memory_search", {"namespace": "ns", "limit": 0}, "limit"),
        ("memory_search", {"namespace": "ns", "cursor": "forged"}, "cursor is not one this server issued"),
        ("memory_backup", {"action": "explode"}, "action"),
        ("memory_backup", {"action": "restore"}, "needs a backup_id"),
        ("memory_backup", {"action": "restore", "backup_id": "../../etc/passwd"}, "is not a backup id"),
        ("memory_delete", {"namespace": "ns", "key": ""}, "key is empty"),
        ("no_such_tool", {}, "no_such_tool"),
        ("task_assign", {"tasks": []}, "tasks"),
        ("task_assign", {"tasks": [{"id": "t", "skills": {"py": 2}}]}, "min_level of 'py'=2"),
        ("task_assign", {"tasks": [{"id": "t", "colour": "red"}]}, "colour"),
        ("task_assign", {"tasks": [{"id": "t"}], "strategy": "magic"}, "strategy"),
        ("agent_register", {"agent_id": "a", "capacity": -1}, "capacity"),
        ("agent_register", {"agent_id": "a b"}, "agent_id 'a b' is invalid"),
        ("task_report", {"task_id": "t", "agent_id": "ghost", "success": True, "task_type": "x"}, "no agent 'ghost'"),
    ],
)
async def test_bad_input_is_a_clear_error_and_changes_nothing(
    mcp_server: MCPServer, data_dir: Path, tool: str, args: dict[str, Any], message: str
) -> None:
    async with Client(mcp_server) as mcp_client:
        result(await mcp_client.call_tool("memory_store", {"namespace": "ns", "key": "k", "value": "keep"}))
        before = dump(data_dir)
        text = error_text(await mcp_client.call_tool(tool, args))
        assert message in text
        assert dump(data_dir) == before


async def test_memory_down_gives_a_clear_error_within_the_deadline(data_dir: Path) -> None:
    config = Config.from_env({"SWARM_DATA_DIR": str(data_dir), "SWARM_CALL_TIMEOUT_S": "1.5"})
    backends = Backends(config, {"memory": f"127.0.0.1:{free_port()}"})  # nothing listens there
    try:
        async with Client(build_mcp(backends)) as client:
            start = time.monotonic()
            r = await client.call_tool("memory_get", {"namespace": "ns", "key": "k"})
            elapsed = time.monotonic() - start
            text = error_text(r)
            assert "memory service" in text and "unavailable" in text
            assert elapsed < config.call_timeout_s + 1.0
            r = await client.call_tool("memory_store", {"namespace": "ns", "key": "k", "value": 1})
            assert "unavailable" in error_text(r)
            status = result(await client.call_tool("swarm_status", {}))
            assert not status["healthy"] and status["services"]["memory"]["status"] == "UNREACHABLE"
    finally:
        await backends.close()
