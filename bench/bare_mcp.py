"""Bench only: the start-up baseline of bench_startup, a bare SDK ``MCPServer`` with one tool over stdio (what
any Python MCP server pays before it does anything of its own).

    .venv/bin/python -m bench.bare_mcp
"""

from __future__ import annotations

from mcp.server import MCPServer

mcp = MCPServer("bare")


@mcp.tool()
async def echo(text: str) -> str:
    """Answers its argument."""
    return text


if __name__ == "__main__":
    mcp.run()
