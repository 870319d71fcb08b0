"""The few changes a person makes from the dashboard, each through the MCP tool an agent would call (its argument
checks, its backend call, its records), with the dashboard's own rule on top where it offers less than the tool."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver.exceptions import ToolError

from gateway.dashboard.tools import Tools


class Refused(ToolError):
    """The dashboard does not offer this change (the tool itself might accept it)."""


async def cancel_task(tools: Tools, task_id: str, reason: str = "") -> dict[str, Any]:
    return await tools.run("task_cancel", ids=[task_id], reason=reason or "cancelled from the dashboard")


async def requeue_task(tools: Tools, task_id: str, reason: str = "") -> dict[str, Any]:
    return await tools.run("task_requeue", ids=[task_id], reason=reason or "from the dashboard")


async def remove_agent(tools: Tools, agent_id: str) -> dict[str, Any]:
    """Only an offline agent: removing one that works releases its tasks under it."""
    listed = await tools.run("agent_list")
    agent = next((a for a in listed["agents"] if a["agent_id"] == agent_id), None)
    if agent is None:
        raise Refused(f"no agent {agent_id!r}")
    if agent["status"] != "offline":
        raise Refused(f"agent {agent_id!r} is {agent['status']}: the dashboard removes only offline agents")
    return await tools.run("agent_remove", agent_id=agent_id)


async def release_lease(tools: Tools, lease_id: str) -> dict[str, Any]:
    """Release a lease in its holder's name (lease_release is the holder's call: the memory service counts it as
    a sign of life of the holder, as it does for every release)."""
    listed = await tools.run("lease_list", limit=1000)
    lease = next((x for x in listed["leases"] if x["lease_id"] == lease_id), None)
    if lease is None:
        raise Refused(f"no current lease {lease_id!r} (released or expired already)")
    return await tools.run("lease_release", agent_id=lease["agent_id"], lease_ids=[lease_id])
