"""Serving only the configured tool groups (``SWARM_TOOLSETS``, common/toolsets.py): the other tools are
removed from the built server, so they are neither listed nor callable. A tool no group names is always
served (a test keeps every tool in a group)."""

from __future__ import annotations

from mcp.server import MCPServer

from common.toolsets import grouped, tools_of
from gateway.arguments import registered


def keep_toolsets(mcp: MCPServer, groups: frozenset[str] | None) -> frozenset[str]:
    """Remove from ``mcp`` the tools outside ``groups`` (None: keep every tool); the names still served."""
    names = set(registered(mcp))
    if groups is not None:
        dropped = (names & grouped()) - tools_of(groups)
        for name in dropped:
            mcp.remove_tool(name)
        names -= dropped
    return frozenset(names)
