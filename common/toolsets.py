"""Tool groups (``SWARM_TOOLSETS``): a deployment that needs only some of the tools lists their groups, and
the client's context holds only those schemas, as the GitHub MCP server's toolsets and Task Master's tool modes
do. Names only, so the configuration can check them and the gateway can serve them; a tool may be in several
groups (``task_report`` ends a queued task and reports a ``task_assign`` outcome alike)."""

from __future__ import annotations

GROUPS: dict[str, tuple[str, ...]] = {
    "memory": ("memory_store", "memory_get", "memory_search", "memory_delete", "memory_backup"),
    "agents": ("agent_register", "agent_list", "agent_remove"),
    "tasks": ("task_submit", "task_next", "task_report", "task_list", "task_cancel", "task_requeue"),
    "assignment": ("task_assign", "task_report", "pheromone_read"),
    "consensus": ("consensus_propose", "consensus_vote", "consensus_result"),
    "messages": ("message_send", "message_inbox", "message_ack"),
    "leases": ("lease_acquire", "lease_release", "lease_list"),
    "status": ("swarm_status", "swarm_metrics"),
}


def tools_of(groups: frozenset[str]) -> frozenset[str]:
    """Every tool of the named groups."""
    return frozenset(tool for group in groups for tool in GROUPS[group])


def grouped() -> frozenset[str]:
    """Every tool some group names."""
    return tools_of(frozenset(GROUPS))
