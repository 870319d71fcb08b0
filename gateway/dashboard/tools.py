"""The dashboard calls the MCP server's own tools: the same argument checks (strict, gateway/arguments.py), the same
backend calls and the same answers as an MCP client gets, without the JSON-RPC envelope around them."""

from __future__ import annotations

import uuid
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver.context import Context
from mcp.server.mcpserver.exceptions import ToolError

from common.logging import request_id_var
from gateway.arguments import registered


class Unavailable(ToolError):
    """A tool the dashboard needs is not served (SWARM_TOOLSETS leaves its group out)."""


class Tools:
    """``await tools.run("task_list", status=["dead"])``: the tool's answer (a dict) or its ToolError."""

    def __init__(self, mcp: MCPServer) -> None:
        self.mcp = mcp

    def served(self, name: str) -> bool:
        return name in registered(self.mcp)

    async def run(self, name: str, **arguments: Any) -> Any:
        tool = registered(self.mcp).get(name)
        if tool is None:
            raise Unavailable(f"{name} is not served here (SWARM_TOOLSETS): this view needs its tool group")
        # each call its own request id: logged by the services it touches, the idempotency key of its writes
        token = request_id_var.set(uuid.uuid4().hex)
        try:
            return await tool.run(arguments, Context(mcp_server=self.mcp), convert_result=False)
        finally:
            request_id_var.reset(token)
