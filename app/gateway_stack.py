"""The one assembly of the gateway stack: backends, telemetry pusher, MCP server and (for HTTP) the HTTP app.

``swarm up``, ``swarm mcp``, ``swarm gateway`` and the benchmarks all build the gateway here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mcp.server import MCPServer

from app.launcher import start_pusher
from common.config import Config
from common.pusher import Pusher
from common.readiness import Readiness
from gateway.backends import Backends
from gateway.server import build_mcp

if TYPE_CHECKING:
    from gateway.http import HttpGateway


@dataclass
class GatewayStack:
    """A built gateway: its HTTP app (None for stdio) is started by ``http.start()``; ``close`` undoes it all."""

    backends: Backends
    pusher: Pusher
    mcp: MCPServer
    http: HttpGateway | None

    async def close(self) -> None:
        if self.http is not None:
            await self.http.stop()
        await self.backends.close()
        await self.pusher.close()


async def open_gateway(
    config: Config,
    process: str,
    addrs: dict[str, str] | None = None,
    *,
    http: bool = True,
    share_port: bool = False,
    readiness: Readiness | None = None,
) -> GatewayStack:
    """The gateway against the services at ``addrs`` (default: the configured ``<NAME>_SERVICE_ADDR``), its
    call records pushed as ``process``; ``http=False`` for stdio. ``share_port``: several gateway processes
    listen on one port (SO_REUSEPORT). ``readiness``: the services may still be starting (calls wait)."""
    pusher = start_pusher(config, process, addrs)
    backends = Backends(config, addrs, readiness=readiness)
    try:
        mcp = build_mcp(backends, flush=pusher.flush, otel_spans=config.otel_spans)
        server = None
        if http:  # uvicorn and the HTTP stack are imported only by the commands that serve HTTP
            from gateway.http import HttpGateway
            from gateway.security import HttpSecurity

            security = HttpSecurity.from_config(config)
            server = HttpGateway(
                mcp, config.http_host, config.http_port, security, share_port=share_port, fast_path=config.fast_path
            )
    except BaseException:
        await backends.close()
        await pusher.close()
        raise
    return GatewayStack(backends, pusher, mcp, server)
