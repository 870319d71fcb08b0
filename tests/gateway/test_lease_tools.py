"""The lease tools through the SDK's own client, against real services over gRPC on port 0 and SQLite: conflicts
refused naming the holder, fifty agents racing for one resource, waiting woken by the release and by the expiry,
tokens that only grow, leases that survive a restart of every service."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.server import MCPServer

from common.config import Config
from common.server import RunningService, start_service
from gateway.backends import Backends
from gateway.server import build_mcp
from services.assignment.service import build as build_assignment
from services.consensus.service import build as build_consensus
from services.memory.service import build as build_memory
from services.telemetry.service import build as build_telemetry

pytestmark = pytest.mark.engines


def result(r: Any) -> Any:
    assert not r.is_error, r.content[0].text
    return json.loads(r.content[0].text)


def error_text(r: Any) -> str:
    assert r.is_error, f"expected an error, got {r.content[0].text}"
    return r.content[0].text


async def register(client: Client, *agents: str) -> None:
    for agent in agents:
        result(await client.call_tool("agent_register", {"agent_id": agent, "skills": {}}))


async def acquire(client: Client, agent: str, *resources: str, **kw: Any) -> Any:
    return await client.call_tool("lease_acquire", {"agent_id": agent, "resources": list(resources), "ttl_s": 60, **kw})


async def test_claim_conflict_list_release(mcp_server: MCPServer) -> None:
    async with Client(mcp_server) as client:
        await register(client, "coder", "writer")
        got = result(await acquire(client, "coder", "src/**", reason="moving the api"))
        (lease,) = got["leases"]
        assert got["granted"] and lease["resource"] == "src/**" and lease["exclusive"] and not lease["renewed"]
        assert lease["lease_id"] == f"lease-{lease['token']}" and 59 < lease["expires_in_s"] <= 60
        text = error_text(await acquire(client, "writer", "docs/README.md", "src/api/*.py"))
        assert "src/api/*.py overlaps src/**: held by agent coder" in text and "until" in text
        assert "moving the api" in text and "nothing changed" in text
        docs = result(await acquire(client, "writer", "docs/README.md", exclusive=False))
        assert docs["leases"][0]["token"] > lease["token"]  # the refused request granted nothing in between

        listed = result(await client.call_tool("lease_list", {"resource": "src/api/users.py"}))
        assert [(x["resource"], x["agent_id"], x["reason"]) for x in listed["leases"]] == [
            ("src/**", "coder", "moving the api")
        ]
        assert len(result(await client.call_tool("lease_list", {}))["leases"]) == 2
        assert result(await client.call_tool("lease_list", {"agent_id": "writer"}))["leases"][0]["exclusive"] is False

        text = error_text(
            await client.call_tool("lease_release", {"agent_id": "writer", "lease_ids": [lease["lease_id"]]})
        )
        assert "held by agent coder, not writer: only its holder can release it" in text
        released = result(await client.call_tool("lease_release", {"agent_id": "coder", "resources": ["src/**"]}))
        assert released["released"] == [{"lease_id": lease["lease_id"], "resource": "src/**", "token": lease["token"]}]
        again = result(await acquire(client, "writer", "src/api/*.py"))
        assert again["leases"][0]["token"] > docs["leases"][0]["token"]
        renewed = result(await acquire(client, "writer", "src/api/*.py", ttl_s=120))
        assert renewed["leases"][0]["renewed"] and renewed["leases"][0]["token"] == again["leases"][0]["token"]
        shared = result(await acquire(client, "writer", "src/api/*.py", exclusive=False))["leases"][0]
        assert shared["replaces"] == again["leases"][0]["lease_id"] and shared["token"] > again["leases"][0]["token"]


async def test_fifty_concurrent_acquires_grant_exactly_one(mcp_server: MCPServer) -> None:
    agents = [f"agent-{i}" for i in range(50)]
    async with Client(mcp_server) as client:
        await register(client, *agents)
        answers = await asyncio.gather(*(acquire(client, a, "deploy/production") for a in agents))
        granted = [result(r) for r in answers if not r.is_error]
        assert len(granted) == 1
        holder = next(a for a, r in zip(agents, answers, strict=True) if not r.is_error)
        refused = [error_text(r) for r in answers if r.is_error]
        assert len(refused) == 49 and all(f"held by agent {holder}" in t for t in refused)
        listed = result(await client.call_tool("lease_list", {"resource": "deploy/*"}))
        assert [x["agent_id"] for x in listed["leases"]] == [holder]


async def test_waiting_is_woken_by_the_release(mcp_server: MCPServer) -> None:
    async with Client(mcp_server) as client:
        await register(client, "a1", "a2")
        result(await acquire(client, "a1", "db/schema.sql"))
        loop = asyncio.get_running_loop()
        started = loop.time()
        waiting = asyncio.create_task(acquire(client, "a2", "db/*", wait_s=20))
        # a time for a2 to be refused and wait (the store's own test sees the waiter; nothing here shows it)
        await asyncio.sleep(0.3)
        assert not waiting.done()
        released = loop.time()
        result(await client.call_tool("lease_release", {"agent_id": "a1", "resources": ["db/schema.sql"]}))
        got = result(await asyncio.wait_for(waiting, 10))
        assert got["granted"] and loop.time() - released < 5  # the release woke it (its deadline was 20 s away)
        assert got["waited_s"] >= released - started - 0.1  # it waited until the release


async def test_expiry_frees_the_resource_wakes_the_waiter_and_refuses_a_late_release(mcp_server: MCPServer) -> None:
    async with Client(mcp_server) as client:
        await register(client, "a1", "a2")
        first = result(await acquire(client, "a1", "cache/warm", ttl_s=1))["leases"][0]
        nxt = result(await acquire(client, "a2", "cache/*", wait_s=20))  # woken by the expiry timer
        granted = nxt["leases"][0]
        # the server's own times: granted once the first ran out, soon after it (the deadline was 20 s away)
        assert first["expires_at"] <= granted["granted_at"] < first["expires_at"] + 5 and nxt["waited_s"] > 0
        assert granted["token"] > first["token"]
        late = error_text(await client.call_tool("lease_release", {"agent_id": "a1", "resources": ["cache/warm"]}))
        assert "expired" in late and "its ttl ran out" in late
        assert [x["agent_id"] for x in result(await client.call_tool("lease_list", {}))["leases"]] == ["a2"]


async def test_the_lease_tools_answer_clear_errors(mcp_server: MCPServer, data_dir: Path) -> None:
    async with Client(mcp_server) as client:
        assert "no agent 'ghost': register it first" in error_text(await acquire(client, "ghost", "x"))
        await register(client, "a1")
        assert "has an empty segment" in error_text(await acquire(client, "a1", "src//x"))
        assert "'**' inside a segment" in error_text(await acquire(client, "a1", "src/a**"))
        assert "ttl_s" in error_text(await acquire(client, "a1", "x", ttl_s=0))
        assert "resources" in error_text(await acquire(client, "a1", *[f"r{i}" for i in range(65)]))
        assert "give lease_ids or resources" in error_text(await client.call_tool("lease_release", {"agent_id": "a1"}))
        assert "holds no lease on x" in error_text(
            await client.call_tool("lease_release", {"agent_id": "a1", "resources": ["x"]})
        )
        assert result(await client.call_tool("lease_list", {}))["leases"] == []


@contextlib.asynccontextmanager
async def whole_stack(config: Config, data_dir: Path) -> AsyncIterator[Client]:
    """Every service on port 0 over ``data_dir`` and the gateway's MCP server, then all stopped."""
    running: list[RunningService] = []
    try:
        memory = await start_service(build_memory(config, data_dir=data_dir), "127.0.0.1:0")
        running.append(memory)
        for build in (build_assignment, build_consensus):
            running.append(await start_service(build(config, memory_addr=memory.address), "127.0.0.1:0"))
        running.append(await start_service(build_telemetry(config), "127.0.0.1:0"))
        names = ("memory", "assignment", "consensus", "telemetry")
        backends = Backends(config, {n: s.address for n, s in zip(names, running, strict=True)})
        try:
            async with Client(build_mcp(backends)) as client:
                yield client
        finally:
            await backends.close()
    finally:
        for service in reversed(running):
            await service.stop(grace=1)


async def test_leases_and_messages_survive_a_restart_of_every_service_and_tokens_keep_growing(
    config: Config, data_dir: Path
) -> None:
    async with whole_stack(config, data_dir) as client:
        await register(client, "a1", "a2")
        held = result(await acquire(client, "a1", "src/**", ttl_s=3600, reason="before the restart"))["leases"][0]
        result(await acquire(client, "a2", "docs/**", exclusive=False))
        send = {"from_agent": "a1", "to": ["a2"], "subject": "handover", "body": "src is mine", "ack_required": True}
        sent = result(await client.call_tool("message_send", send))
    async with whole_stack(config, data_dir) as client:
        inbox = result(await client.call_tool("message_inbox", {"agent_id": "a2"}))["messages"]
        assert [(m["id"], m["subject"]) for m in inbox] == [(sent["id"], "handover")]
        listed = result(await client.call_tool("lease_list", {}))["leases"]
        assert [(x["resource"], x["agent_id"], x["token"]) for x in listed] == [
            ("docs/**", "a2", held["token"] + 1),
            ("src/**", "a1", held["token"]),
        ]
        assert listed[1]["expires_at"] == held["expires_at"] and listed[1]["reason"] == "before the restart"
        assert "held by agent a1" in error_text(await acquire(client, "a2", "src/main.py"))
        renewed = result(await acquire(client, "a1", "src/**", ttl_s=3600))["leases"][0]
        assert renewed["renewed"] and renewed["token"] == held["token"]
        fresh = result(await acquire(client, "a2", "tests/**"))["leases"][0]
        assert fresh["token"] > held["token"] + 1
