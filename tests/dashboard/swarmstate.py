"""The swarm the browser test watches, made through MCP with the SDK's client as any agent would: agents (one of
them offline), a DAG of tasks with some done, one dead, one running with a progress note, one that nobody can
take (queued), a decided vote, a message waiting for its acknowledgement, a lease."""

from __future__ import annotations

import json
from typing import Any

from mcp import Client

DAG = [
    {"id": "fetch", "type": "io", "skills": {"py": 0.5}},
    {"id": "parse", "type": "cpu", "skills": {"py": 0.5}, "depends_on": ["fetch"]},
    {"id": "index", "type": "cpu", "skills": {"py": 0.5}, "depends_on": ["fetch"]},
    {"id": "report", "type": "io", "skills": {"py": 0.5}, "depends_on": ["parse", "index"]},
    {"id": "flaky", "type": "net", "skills": {"py": 0.5}, "max_attempts": 1},
    {"id": "orphan", "type": "gpu", "skills": {"cuda": 0.9}, "title": "nobody can take this"},
]


async def call(client: Client, tool: str, args: dict[str, Any]) -> Any:
    result = await client.call_tool(tool, args)
    text = "\n".join(getattr(c, "text", "") for c in result.content)
    assert not result.is_error, f"{tool}: {text}"
    return json.loads(text)


async def take(client: Client, agent: str, want: set[str]) -> None:
    """task_next until the agent holds every task of ``want`` (placement runs by itself, soon after a change)."""
    held: set[str] = set()
    for _ in range(20):
        got = await call(client, "task_next", {"agent_id": agent, "wait_s": 2, "limit": 10})
        held |= {t["id"] for t in got["tasks"]} | {t["id"] for t in got["still_yours"]}
        if want <= held:
            return
    raise AssertionError(f"{agent} never got {sorted(want - held)} (holds {sorted(held)})")


async def make(client: Client) -> dict[str, Any]:
    await call(client, "agent_register", {"agent_id": "worker-1", "skills": {"py": 0.9}, "capacity": 4})
    await call(client, "agent_register", {"agent_id": "worker-2", "skills": {"go": 0.8}, "capacity": 1})
    await call(client, "agent_register", {"agent_id": "sleeper", "skills": {"go": 0.1}, "offline": True})
    await call(client, "task_submit", {"tasks": DAG})
    await take(client, "worker-1", {"fetch", "flaky"})
    done = {"task_id": "fetch", "agent_id": "worker-1", "success": True, "result": {"pages": 3}}
    await call(client, "task_report", done)
    await call(
        client,
        "task_report",
        {"task_id": "flaky", "agent_id": "worker-1", "success": False, "error": "connection reset by peer"},
    )
    await take(client, "worker-1", {"parse", "index"})
    await call(client, "task_report", {"task_id": "parse", "agent_id": "worker-1", "success": True, "result": "ok"})
    await call(client, "task_report", {"task_id": "index", "agent_id": "worker-1", "progress": "halfway through"})
    proposal = await call(
        client,
        "consensus_propose",
        {"question": "Release on Friday?", "options": ["yes", "no"], "eligible": ["worker-1", "worker-2"]},
    )
    for voter in ("worker-1", "worker-2"):
        await call(client, "consensus_vote", {"proposal_id": proposal["proposal_id"], "voter": voter, "choice": "yes"})
    message = {"from_agent": "worker-1", "to": ["worker-2"], "subject": "index is slow", "body": "look"}
    await call(client, "message_send", {**message, "ack_required": True})
    claim = {"agent_id": "worker-2", "resources": ["src/api/**"], "ttl_s": 600, "reason": "refactor"}
    lease = await call(client, "lease_acquire", claim)
    return {"proposal_id": proposal["proposal_id"], "lease_id": lease["leases"][0]["lease_id"]}
