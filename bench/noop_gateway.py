"""Bench only: ``swarm gateway`` plus one extra MCP tool, ``noop``, that calls nothing.

The gateway is built exactly as ``swarm gateway`` builds it (``gateway.server.build_mcp`` against the services
at ``<NAME>_SERVICE_ADDR``, served by ``gateway.http.HttpGateway`` with the configured security, the telemetry
pusher, ``SWARM_HTTP_WORKERS`` > 1 sharing the port); the only difference is the ``noop`` tool, the baseline
of the end-to-end benchmarks (same HTTP stack, same middleware, no backend call). It is never part of the
product.

    SWARM_HTTP_PORT=8080 MEMORY_SERVICE_ADDR=127.0.0.1:50053 ... .venv/bin/python -m bench.noop_gateway

With ``--up`` it is ``swarm up`` instead (every service and the gateway in one process, started by the same
``app.cli`` code), with the same ``noop`` tool added: the baseline of the one-process topology.
"""

from __future__ import annotations

import os
import sys


def add_noop(mcp: object) -> None:
    @mcp.tool()  # type: ignore[attr-defined]
    async def noop() -> str:
        """Benchmark baseline: answers at once, calls nothing."""
        return "ok"


async def serve() -> None:
    from app.launcher import start_pusher
    from common.config import Config
    from common.logging import configure_logging
    from common.server import wait_for_signal
    from gateway.backends import Backends
    from gateway.http import HttpGateway
    from gateway.security import HttpSecurity
    from gateway.server import build_mcp

    config = Config.from_env()
    configure_logging(config.log_level)
    backends = Backends(config)
    workers = config.http_workers
    pusher = start_pusher(config, f"gateway-{os.getpid()}" if workers > 1 else "gateway")
    mcp = build_mcp(backends, flush=pusher.flush)
    add_noop(mcp)
    http = HttpGateway(
        mcp, config.http_host, config.http_port, HttpSecurity.from_config(config), share_port=workers > 1
    )
    try:
        await http.start()
        print(f"noop gateway pid {os.getpid()}: MCP at {http.url}", file=sys.stderr, flush=True)
        await wait_for_signal()
    finally:
        await http.stop()
        await backends.close()
        await pusher.close()


def main() -> int:
    if sys.argv[1:] == ["--up"]:
        from app.cli import main as swarm_main

        return swarm_main(["up"], extend_mcp=add_noop)
    try:
        import uvloop

        uvloop.run(serve())
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
