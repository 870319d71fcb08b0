"""The message tools through the SDK's own client, against real services over gRPC: topics from agent_register,
a thread with an acknowledgement the sender sees, the inbox long poll, clear errors."""

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


async def test_agents_talk_in_threads_and_the_sender_sees_who_acknowledged(mcp_server: MCPServer) -> None:
    async with Client(mcp_server) as client:
        for agent, topics in (("lead", []), ("rev1", ["reviews"]), ("rev2", ["reviews"])):
            registered = result(await client.call_tool("agent_register", {"agent_id": agent, "topics": topics}))
            assert registered.get("topics", []) == topics
        waiting = asyncio.create_task(client.call_tool("message_inbox", {"agent_id": "rev2", "wait_s": 20}))
        sent = result(
            await client.call_tool(
                "message_send",
                {
                    "from_agent": "lead",
                    "to": ["topic:reviews"],
                    "subject": "review #12",
                    "body": "please review the parser change",
                    "ack_required": True,
                    "importance": "high",
                },
            )
        )
        assert sent["recipients"] == ["rev1", "rev2"]
        woke = result(await asyncio.wait_for(waiting, 10))
        assert [m["id"] for m in woke["messages"]] == [sent["id"]] and woke["messages"][0]["importance"] == "high"
        reply = {"from_agent": "rev1", "to": ["lead"], "subject": "re", "body": "ok", "thread_id": sent["id"]}
        assert result(await client.call_tool("message_send", reply))["thread_id"] == sent["id"]
        result(await client.call_tool("message_ack", {"agent_id": "rev1", "message_ids": [sent["id"]]}))
        mine = result(await client.call_tool("message_inbox", {"agent_id": "lead", "sent": True}))
        (view,) = mine["messages"]
        assert view["acknowledged"] == ["rev1"] and view["not_acknowledged"] == ["rev2"]
        inbox = result(await client.call_tool("message_inbox", {"agent_id": "lead", "thread_id": sent["id"]}))
        assert [m["body"] for m in inbox["messages"]] == ["ok"] and inbox["unread"] == 1


async def test_the_message_tools_answer_clear_errors(mcp_server: MCPServer) -> None:
    async with Client(mcp_server) as client:
        result(await client.call_tool("agent_register", {"agent_id": "a1"}))
        text = error_text(
            await client.call_tool("message_send", {"from_agent": "a1", "to": ["ghost"], "subject": "s", "body": "b"})
        )
        assert "no agent 'ghost'" in text
        text = error_text(
            await client.call_tool("message_send", {"from_agent": "a1", "to": ["a1"], "subject": "s", "body": " "})
        )
        assert "body is empty" in text
        assert "register it first" in error_text(await client.call_tool("message_inbox", {"agent_id": "ghost"}))
        assert result(await client.call_tool("message_inbox", {"agent_id": "a1"}))["messages"] == []
