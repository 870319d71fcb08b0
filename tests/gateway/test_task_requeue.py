"""task_requeue: a dead task gets one more attempt and runs again; what its death cancelled is blocked on it again
and follows it to done; a task that is not dead is left as it is; a repeated request changes nothing twice."""

from __future__ import annotations

import pytest
from mcp import Client
from mcp.server import MCPServer

from tests.gateway.test_task_tools import error_text, register, result

pytestmark = pytest.mark.engines


async def fail(client: Client, task_id: str, agent: str) -> dict:
    got = result(await client.call_tool("task_next", {"agent_id": agent, "wait_s": 5}))
    assert [t["id"] for t in got["tasks"]] == [task_id]
    args = {"task_id": task_id, "agent_id": agent, "success": False, "error": "disk full"}
    return result(await client.call_tool("task_report", args))


async def test_a_dead_task_runs_again_and_its_cancelled_dependents_follow(mcp_server: MCPServer) -> None:
    async with Client(mcp_server) as client:
        await register(client, "w", {"py": 1})
        graph = [
            {"id": "root", "skills": {"py": 0.5}, "max_attempts": 1},
            {"id": "child", "skills": {"py": 0.5}, "depends_on": ["root"]},
            {"id": "grandchild", "skills": {"py": 0.5}, "depends_on": ["child"]},
            {"id": "other", "skills": {"nobody": 1}},
        ]
        result(await client.call_tool("task_submit", {"tasks": graph}))
        dead = await fail(client, "root", "w")
        assert dead["state"] == "dead" and set(dead["cancelled_dependents"]) == {"child", "grandchild"}

        out = result(await client.call_tool("task_requeue", {"ids": ["root", "other"], "reason": "disk freed"}))
        assert out["requeued"] == ["root"]
        assert sorted(out["dependents_restored"]) == ["child", "grandchild"]
        assert out["unchanged"] == [{"id": "other", "state": "queued"}]
        listed = result(await client.call_tool("task_list", {"ids": ["root", "child", "grandchild"]}))
        by_id = {t["id"]: t for t in listed["tasks"]}
        assert by_id["child"]["state"] == by_id["grandchild"]["state"] == "blocked"
        assert by_id["root"]["max_attempts"] == 2 and by_id["root"]["state"] in ("queued", "placed")

        got = result(await client.call_tool("task_next", {"agent_id": "w", "wait_s": 5}))
        assert [(t["id"], t["attempt"]) for t in got["tasks"]] == [("root", 2)]
        result(await client.call_tool("task_report", {"task_id": "root", "agent_id": "w", "success": True}))
        for task_id in ("child", "grandchild"):
            got = result(await client.call_tool("task_next", {"agent_id": "w", "wait_s": 5}))
            assert [t["id"] for t in got["tasks"]] == [task_id]
            result(await client.call_tool("task_report", {"task_id": task_id, "agent_id": "w", "success": True}))
        counts = result(await client.call_tool("task_list", {}))["counts"]
        assert counts["done"] == 3 and counts["dead"] == 0

        again = result(await client.call_tool("task_requeue", {"ids": ["root"]}))
        assert again["requeued"] == [] and again["unchanged"] == [{"id": "root", "state": "done"}]
        missing = error_text(await client.call_tool("task_requeue", {"ids": ["nope"]}))
        assert "no task 'nope'" in missing
