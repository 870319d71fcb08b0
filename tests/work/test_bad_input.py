"""Bad input through the MCP tools answers a clear, short error (isError) and stores nothing: an unknown agent
in task_next and task_report, a payload or a result over SWARM_MAX_VALUE_BYTES, a cycle, an unknown
dependency, an id submitted again with other content, more than 5,000 tasks in one call. The SDK's own
client against the gateway's MCP server, real memory and assignment services over gRPC (SQLite in a temp dir),
the database read directly to check that nothing was written."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.server import MCPServer

from common.config import Config

MAX_VALUE_BYTES = 4096
SHORT = 400  # characters: an error a language model reads in full


@pytest.fixture
def config(data_dir: Path) -> Config:
    return Config.from_env(
        {"SWARM_DATA_DIR": str(data_dir), "SWARM_CALL_TIMEOUT_S": "2", "SWARM_MAX_VALUE_BYTES": str(MAX_VALUE_BYTES)}
    )


def ok(result: Any) -> Any:
    assert not result.is_error, result.content[0].text
    return json.loads(result.content[0].text)


def refused(result: Any, *fragments: str) -> str:
    """The error text: isError, short, saying every fragment."""
    assert result.is_error, f"expected an error, got {result.content[0].text[:300]}"
    text = result.content[0].text
    assert len(text) <= SHORT, f"{len(text)} characters: {text[:600]}"
    for fragment in fragments:
        assert fragment in text, f"{text!r} does not say {fragment!r}"
    return text


def rows(data_dir: Path) -> dict[str, list[tuple[Any, ...]]]:
    """What the work queue and the agents hold in the database file (a separate read-only connection)."""
    conn = sqlite3.connect(f"file:{data_dir / 'memory.db'}?mode=ro", uri=True)
    try:
        return {
            t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
            for t in ("work", "work_deps", "work_attempts", "agents", "tasks", "trails")
        }
    finally:
        conn.close()


async def test_bad_task_input_is_refused_clearly_and_stores_nothing(mcp_server: MCPServer, data_dir: Path) -> None:
    async with Client(mcp_server) as client:
        ok(await client.call_tool("agent_register", {"agent_id": "w1", "skills": {"py": 0.9}}))
        ok(await client.call_tool("task_submit", {"tasks": [{"id": "held", "skills": {"py": 0.5}}]}))
        assert [t["id"] for t in ok(await client.call_tool("task_next", {"agent_id": "w1"}))["tasks"]] == ["held"]
        before = rows(data_dir)
        fresh = {"id": "fresh", "title": "a valid task in a refused batch"}

        # agents that never registered
        refused(await client.call_tool("task_next", {"agent_id": "ghost"}), "no agent 'ghost'", "register it first")
        refused(
            await client.call_tool("task_report", {"task_id": "held", "agent_id": "ghost", "success": True}),
            "no agent 'ghost'",
            "register it first",
        )
        # a payload over the limit, and a valid task beside it
        big = "x" * MAX_VALUE_BYTES
        refused(
            await client.call_tool("task_submit", {"tasks": [fresh, {"id": "big", "payload": big}]}), "'big'", "payload"
        )
        # a cycle, an unknown dependency
        cycle = [fresh, {"id": "x", "depends_on": ["y"]}, {"id": "y", "depends_on": ["x"]}]
        refused(await client.call_tool("task_submit", {"tasks": cycle}), "cycle", "x", "y")
        refused(
            await client.call_tool("task_submit", {"tasks": [fresh, {"id": "z", "depends_on": ["nope"]}]}), "'nope'"
        )
        # the same id with other content
        refused(
            await client.call_tool("task_submit", {"tasks": [fresh, {"id": "held", "title": "changed"}]}),
            "'held'",
            "other content",
        )
        # more than 5,000 tasks in one call
        many = [{"id": f"m{i}"} for i in range(5001)]
        refused(await client.call_tool("task_submit", {"tasks": many}), "tasks", "5000", "5001")
        # a result over the limit: the attempt goes on, nothing stored
        refused(
            await client.call_tool(
                "task_report", {"task_id": "held", "agent_id": "w1", "success": True, "result": {"text": big}}
            ),
            "result",
        )

        assert rows(data_dir) == before, "a refused call wrote to the database"
        listed = ok(await client.call_tool("task_list", {}))
        assert [t["id"] for t in listed["tasks"]] == ["held"] and listed["tasks"][0]["state"] == "running"
        assert {s: n for s, n in listed["counts"].items() if n} == {"running": 1}
        # and the agent can still end its attempt properly
        done = ok(await client.call_tool("task_report", {"task_id": "held", "agent_id": "w1", "success": True}))
        assert done["state"] == "done" and not done["repeated"]
