"""The work-queue tools through the SDK's own client, against real memory and assignment services over gRPC:
a coordinator submits a task graph, workers take and report it, the results flow to the dependents."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from mcp import Client
from mcp.server import MCPServer

pytestmark = pytest.mark.engines


def result(r: Any) -> Any:
    assert not r.is_error, r.content[0].text
    return json.loads(r.content[0].text)


def error_text(r: Any) -> str:
    assert r.is_error, f"expected an error, got {r.content[0].text}"
    return r.content[0].text


async def register(client: Client, agent_id: str, skills: dict[str, float], capacity: float = 1) -> None:
    result(await client.call_tool("agent_register", {"agent_id": agent_id, "skills": skills, "capacity": capacity}))


async def test_a_task_graph_runs_from_submit_to_results(mcp_server: MCPServer) -> None:
    async with Client(mcp_server) as client:
        await register(client, "coder", {"python": 0.9})
        await register(client, "writer", {"docs": 0.8})
        submitted = result(
            await client.call_tool(
                "task_submit",
                {
                    "tasks": [
                        {"id": "code", "title": "write it", "type": "code", "skills": {"python": 0.5}, "payload": [1]},
                        {"id": "doc", "title": "document it", "type": "docs", "skills": {"docs": 0.5}},
                        {"id": "ship", "depends_on": ["code", "doc"], "skills": {"python": 0.5}},
                    ]
                },
            )
        )
        states = {t["id"]: t["state"] for t in submitted["tasks"]}
        assert states == {"code": "placed", "doc": "placed", "ship": "blocked"}
        placed = {p["task_id"]: p["agent_id"] for p in submitted["placement"]["placed"]}
        assert placed == {"code": "coder", "doc": "writer"}
        assert submitted["placement"]["gap"] >= 0 and submitted["placement"]["algorithm"]

        got = result(await client.call_tool("task_next", {"agent_id": "coder"}))
        assert [(t["id"], t["payload"], t["attempt"]) for t in got["tasks"]] == [("code", [1], 1)]
        result(await client.call_tool("task_report", {"task_id": "code", "agent_id": "coder", "progress": "tests"}))
        done = result(
            await client.call_tool(
                "task_report", {"task_id": "code", "agent_id": "coder", "success": True, "result": {"lines": 10}}
            )
        )
        assert done["state"] == "done" and done["ready"] == [] and done["trail"]["successes"] == 1

        waiting = asyncio.create_task(client.call_tool("task_next", {"agent_id": "coder", "wait_s": 20}))
        got = result(await client.call_tool("task_next", {"agent_id": "writer"}))
        assert [t["id"] for t in got["tasks"]] == ["doc"]
        done = result(
            await client.call_tool(
                "task_report", {"task_id": "doc", "agent_id": "writer", "success": True, "result": "ok"}
            )
        )
        assert done["ready"] == ["ship"]
        shipped = result(await asyncio.wait_for(waiting, 10))  # placed by itself once "doc" was done
        assert [t["id"] for t in shipped["tasks"]] == ["ship"]
        assert shipped["tasks"][0]["dependencies"] == {"code": {"lines": 10}, "doc": "ok"}

        listed = result(await client.call_tool("task_list", {"status": ["done"]}))
        assert {t["id"] for t in listed["tasks"]} == {"code", "doc"} and listed["counts"]["running"] == 1
        whole = result(await client.call_tool("task_list", {"ids": ["code"]}))
        assert whole["tasks"][0]["payload"] == [1] and whole["tasks"][0]["result"] == {"lines": 10}


async def test_failures_retry_on_another_agent_and_cancel_reaches_the_holder(mcp_server: MCPServer) -> None:
    async with Client(mcp_server) as client:
        await register(client, "a1", {"py": 0.9})
        await register(client, "a2", {"py": 0.6})
        result(await client.call_tool("task_submit", {"tasks": [{"id": "t", "skills": {"py": 0.5}}]}))
        took = {a: result(await client.call_tool("task_next", {"agent_id": a}))["tasks"] for a in ("a1", "a2")}
        (first,) = [a for a, tasks in took.items() if tasks]
        other = "a2" if first == "a1" else "a1"
        failed = result(
            await client.call_tool("task_report", {"task_id": "t", "agent_id": first, "success": False, "error": "x"})
        )
        assert failed["state"] in ("queued", "placed")
        again = result(await client.call_tool("task_next", {"agent_id": other, "wait_s": 5}))
        assert [t["id"] for t in again["tasks"]] == ["t"] and again["tasks"][0]["attempt"] == 2
        late = error_text(await client.call_tool("task_report", {"task_id": "t", "agent_id": first, "success": True}))
        assert "not held by agent" in late
        cancelled = result(await client.call_tool("task_cancel", {"ids": ["t"], "reason": "plan changed"}))
        assert cancelled["cancelled"] == ["t"]
        told = result(await client.call_tool("task_next", {"agent_id": other}))
        assert told["cancelled"] == [{"id": "t", "reason": "plan changed"}]


async def test_the_task_tools_answer_clear_errors(mcp_server: MCPServer) -> None:
    async with Client(mcp_server) as client:
        text = error_text(await client.call_tool("task_next", {"agent_id": "ghost"}))
        assert "no agent 'ghost': register it first" in text
        await register(client, "a1", {})
        text = error_text(await client.call_tool("task_report", {"task_id": "t", "agent_id": "a1"}))
        assert "give success (true or false)" in text
        text = error_text(
            await client.call_tool(
                "task_submit", {"tasks": [{"id": "x", "depends_on": ["y"]}, {"id": "y", "depends_on": ["x"]}]}
            )
        )
        assert "cycle" in text and "x" in text and "y" in text
        text = error_text(await client.call_tool("task_submit", {"tasks": [{"id": "z", "depends_on": ["nope"]}]}))
        assert "unknown task 'nope'" in text
        assert result(await client.call_tool("task_list", {}))["counts"]["queued"] == 0


async def test_tasks_that_need_one_file_run_one_after_the_other_with_growing_fencing_tokens(
    mcp_server: MCPServer,
) -> None:
    async with Client(mcp_server) as client:
        await register(client, "w1", {"python": 0.9}, capacity=2)
        await register(client, "w2", {"python": 0.9}, capacity=2)
        submitted = result(
            await client.call_tool(
                "task_submit",
                {
                    "tasks": [
                        {"id": "refactor", "leases": ["src/**"], "priority": 2},
                        {"id": "fix", "leases": [{"resource": "src/api.py"}], "priority": 1},
                        {"id": "read", "leases": [{"resource": "docs/**", "exclusive": False}]},
                    ]
                },
            )
        )
        states = {t["id"]: t["state"] for t in submitted["tasks"]}
        assert states == {"refactor": "placed", "fix": "queued", "read": "placed"}
        holder = next(p["agent_id"] for p in submitted["placement"]["placed"] if p["task_id"] == "refactor")
        other = "w2" if holder == "w1" else "w1"
        claim = asyncio.create_task(  # a claim by hand waits for the task's lease, and is granted when it ends
            client.call_tool("lease_acquire", {"agent_id": other, "resources": ["src/x.py"], "ttl_s": 1, "wait_s": 20})
        )
        got = result(await client.call_tool("task_next", {"agent_id": holder, "limit": 5}))
        mine = {t["id"]: t for t in got["tasks"]}
        first = mine["refactor"]["leases"][0]
        assert first["resource"] == "src/**" and first["exclusive"] and first["token"] > 0
        listed = result(await client.call_tool("task_list", {"ids": ["fix"]}))["tasks"][0]
        assert listed["state"] == "queued" and "src/api.py (overlaps src/**) held by task refactor" in listed["reason"]
        leases = result(await client.call_tool("lease_list", {"resource": "src/api.py"}))["leases"]
        assert [(x["agent_id"], x["task_id"]) for x in leases] == [(holder, "refactor")]

        await asyncio.sleep(0.2)
        assert not claim.done()
        result(await client.call_tool("task_report", {"task_id": "refactor", "agent_id": holder, "success": True}))
        claimed = result(await asyncio.wait_for(claim, 10))
        assert claimed["granted"] and claimed["leases"][0]["token"] > first["token"]
        for _ in range(100):  # placed by itself once the lease is free (on whichever agent the optimiser picks)
            fix = result(await client.call_tool("task_list", {"ids": ["fix"]}))["tasks"][0]
            if fix["state"] == "placed":
                break
            await asyncio.sleep(0.1)
        got = result(await client.call_tool("task_next", {"agent_id": fix["agent_id"], "limit": 5}))
        took = {t["id"]: t for t in got["tasks"]}
        assert took["fix"]["leases"][0]["token"] > first["token"]


async def test_a_lease_a_task_needs_is_checked_like_every_argument(mcp_server: MCPServer) -> None:
    async with Client(mcp_server) as client:
        text = error_text(
            await client.call_tool("task_submit", {"tasks": [{"id": "t", "leases": [{"resource": "a", "mode": "x"}]}]})
        )
        assert "mode" in text and len(text) <= 300
        text = error_text(await client.call_tool("task_submit", {"tasks": [{"id": "t", "leases": ["src/[a"]}]}))
        assert "task 't': lease" in text
        assert result(await client.call_tool("task_list", {}))["tasks"] == []
