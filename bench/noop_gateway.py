"""Bench only: ``swarm gateway`` (or ``swarm up``) plus one extra MCP tool, ``noop``, that calls nothing.

The gateway is the product's own, assembled and started by the same code (``app.commands.serving_gateway``,
``app.commands.serving_up``); the only difference is the ``noop`` tool, added once it serves: the baseline
of the end-to-end benchmarks (same HTTP stack, same middleware, same path for a tool call, no backend call). It
is never part of the product.

    SWARM_HTTP_PORT=8080 MEMORY_SERVICE_ADDR=127.0.0.1:50053 ... .venv/bin/python -m bench.noop_gateway
    SWARM_HTTP_PORT=8080 SWARM_DATA_DIR=/tmp/d .venv/bin/python -m bench.noop_gateway --up
"""

from __future__ import annotations

import os
import sys
from typing import Any


def add_noop(mcp: Any) -> None:
    """The tool is of the product's kind (async, strict about its arguments, a dict out), so it takes the path the
    product's tools take (the lean path by default, the SDK's with SWARM_FAST_PATH=0): a like-for-like baseline."""
    from gateway.arguments import strict_tools
    from gateway.tools.metrics import ToolRecorder

    @mcp.tool()
    async def noop() -> dict[str, Any]:
        """Benchmark baseline: answers at once, calls nothing."""
        return {"ok": True}

    strict_tools(mcp)
    for layer in mcp._lowlevel_server.middleware:  # recorded under its own name, as the product's tools are
        if isinstance(layer, ToolRecorder):
            layer.tools = layer.tools | {"noop"}


async def serve(config: Any, *, up: bool) -> None:
    from app.commands import serving_gateway, serving_up
    from common.server import SignalStop

    stop = SignalStop()
    async with (serving_up if up else serving_gateway)(config) as (stack, url):
        add_noop(stack.mcp)
        print(f"noop {'up' if up else 'gateway'} pid {os.getpid()}: MCP at {url}", file=sys.stderr, flush=True)
        await stop.wait()


def main() -> int:
    from app.cli import prepare_process, run_command
    from common.config import Config

    config = Config.from_env()
    prepare_process(config)
    up = sys.argv[1:] == ["--up"]
    return run_command(lambda: serve(config, up=up))


if __name__ == "__main__":
    sys.exit(main())
