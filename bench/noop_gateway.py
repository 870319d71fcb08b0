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


def like_the_product(mcp: Any, name: str) -> None:
    """Make the bench tool ``name``, registered on ``mcp`` after the product's, of the product's kind: strict about
    its arguments and recorded under its own name, so that (an async function returning a dict) it takes the path
    the product's tools take (the lean path by default, the SDK's with SWARM_FAST_PATH=0): a like-for-like
    baseline. Without this it goes the SDK's whole way, ~3x the cost of a product tool's call."""
    from gateway.arguments import strict_tools
    from gateway.tools.metrics import ToolRecorder

    strict_tools(mcp)
    for layer in mcp._lowlevel_server.middleware:
        if isinstance(layer, ToolRecorder):
            layer.tools = layer.tools | {name}


def add_noop(mcp: Any) -> None:
    @mcp.tool()
    async def noop() -> dict[str, Any]:
        """Benchmark baseline: answers at once, calls nothing."""
        return {"ok": True}

    like_the_product(mcp, "noop")


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
