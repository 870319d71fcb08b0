"""The consensus tools through the SDK's own MCP client, against real consensus and memory services."""

from __future__ import annotations

import asyncio
import time

from mcp import Client
from mcp.server import MCPServer

from tests.gateway.test_tools import error_text, result


async def test_propose_vote_and_wait_for_the_decision(mcp_server: MCPServer) -> None:
    async with Client(mcp_server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert {"consensus_propose", "consensus_vote", "consensus_result"} <= set(tools)
        assert all(len(tools[n].description or "") < 200 for n in tools if n.startswith("consensus_"))
        for agent, weight in (("ant", 2.0), ("bee", 1.0), ("cat", 1.0)):
            result(await client.call_tool("agent_register", {"agent_id": agent, "weight": weight}))
        p = result(
            await client.call_tool(
                "consensus_propose",
                {"question": "next target?", "options": ["north", "south"], "method": "weighted", "deadline_s": 20},
            )
        )
        assert p["eligible"] == ["ant", "bee", "cat"] and p["weights"] == {"ant": 2.0, "bee": 1.0, "cat": 1.0}
        pid = p["proposal_id"]
        waiting = asyncio.create_task(client.call_tool("consensus_result", {"proposal_id": pid, "wait_s": 10}))
        v = result(await client.call_tool("consensus_vote", {"proposal_id": pid, "voter": "bee", "choice": "south"}))
        assert v["status"] == "open" and not v["replaced"] and "votes" not in v
        v = result(
            await client.call_tool(
                "consensus_vote", {"proposal_id": pid, "voter": "ant", "choice": "north", "confidence": 0.8}
            )
        )
        # ant 1.6 vs bee 1.0, cat can add at most 1.0: still open; cat's vote decides it
        assert v["status"] == "open"
        v = result(await client.call_tool("consensus_vote", {"proposal_id": pid, "voter": "cat", "choice": "north"}))
        assert v["status"] == "decided" and v["winners"] == ["north"] and v["counted_weight"] == 3.6
        done = result(await asyncio.wait_for(waiting, 10))
        assert done["status"] == "decided" and done["consensus"] and done["winners"] == ["north"]
        assert done["participation"] == 1.0 and done["rounds"][0]["scores"] == {"north": 2.6, "south": 1.0}
        assert {x["voter"]: x["choice"] for x in done["votes"]} == {"bee": "south", "ant": "north", "cat": "north"}
        assert error_text(
            await client.call_tool("consensus_vote", {"proposal_id": pid, "voter": "bee", "choice": "north"})
        ).endswith("closed (decided): votes are no longer taken")


async def test_deadline_expiry_through_mcp(mcp_server: MCPServer) -> None:
    async with Client(mcp_server) as client:
        p = result(
            await client.call_tool(
                "consensus_propose",
                {
                    "question": "q",
                    "options": ["a", "b", "c"],
                    "method": "borda",
                    "eligible": ["x1", "x2", "x3"],
                    "quorum_share": 0.6,
                    "deadline_s": 0.5,
                },
            )
        )
        result(
            await client.call_tool(
                "consensus_vote", {"proposal_id": p["proposal_id"], "voter": "x1", "ranking": ["c", "a", "b"]}
            )
        )
        r = result(await client.call_tool("consensus_result", {"proposal_id": p["proposal_id"], "wait_s": 10}))
        assert r["status"] == "expired" and r["winners"] == ["c"] and r["votes"][0]["ranking"] == ["c", "a", "b"]
        assert time.time() - p["deadline"] < 1.0


async def test_fifty_agents_vote_concurrently_through_mcp(mcp_server: MCPServer) -> None:
    agents = [f"ag{i:02d}" for i in range(50)]
    async with Client(mcp_server) as client:
        p = result(
            await client.call_tool(
                "consensus_propose",
                {"question": "q", "options": ["go", "wait"], "eligible": agents, "quorum": 50, "method": "majority"},
            )
        )
        pid = p["proposal_id"]
        votes = await asyncio.gather(
            *(
                client.call_tool(
                    "consensus_vote", {"proposal_id": pid, "voter": a, "choice": "go" if i < 30 else "wait"}
                )
                for i, a in enumerate(agents)
            )
        )
        assert all(not v.is_error for v in votes)
        r = result(await client.call_tool("consensus_result", {"proposal_id": pid}))
        assert r["status"] == "decided" and r["counted"] == 50 and r["rounds"][0]["scores"] == {"go": 30, "wait": 20}


async def test_bad_input_is_a_clear_error(mcp_server: MCPServer) -> None:
    async with Client(mcp_server) as client:
        base = {"question": "q", "options": ["a", "b"], "eligible": ["x1", "x2"]}
        assert "no agents are registered" in error_text(
            await client.call_tool("consensus_propose", {"question": "q", "options": ["a", "b"]})
        )
        assert "not both" in error_text(
            await client.call_tool("consensus_propose", {**base, "quorum": 1, "quorum_share": 0.5})
        )
        assert "method" in error_text(await client.call_tool("consensus_propose", {**base, "method": "coin"}))
        assert "options" in error_text(await client.call_tool("consensus_propose", {**base, "options": ["a"]}))
        pid = result(await client.call_tool("consensus_propose", base))["proposal_id"]
        assert "unknown option 'c'" in error_text(
            await client.call_tool("consensus_vote", {"proposal_id": pid, "voter": "x1", "choice": "c"})
        )
        assert "'x9' is not eligible" in error_text(
            await client.call_tool("consensus_vote", {"proposal_id": pid, "voter": "x9", "choice": "a"})
        )
        assert "carry only `choice`" in error_text(
            await client.call_tool("consensus_vote", {"proposal_id": pid, "voter": "x1", "ranking": ["a", "b"]})
        )
        assert "no proposal 'nope'" in error_text(await client.call_tool("consensus_result", {"proposal_id": "nope"}))
        r = result(await client.call_tool("consensus_result", {"proposal_id": pid}))
        assert r["status"] == "open" and r["counted"] == 0 and r["votes"] == []
