"""The one assembly of the gateway stack: backends, telemetry pusher, MCP server and (for HTTP) the HTTP app.

``swarm up``, ``swarm mcp``, ``swarm gateway`` and the benchmarks all build the gateway here."""

from __future__ import annotations

from dataclasses import dataclass

from mcp.server import MCPServer

from app.launcher import start_pusher
from common.config import Config
from common.pusher import Pusher
from gateway.backends import Backends
from gateway.http import HttpGateway
from gateway.security import HttpSecurity
from gateway.server import build_mcp


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
    config: Config, process: str, addrs: dict[str, str] | None = None, *, http: bool = True, share_port: bool = False
) -> GatewayStack:
    """The gateway against the services at ``addrs`` (default: the configured ``<NAME>_SERVICE_ADDR``), its
    call records pushed as ``process``; ``http=False`` for stdio. ``share_port``: several gateway processes
    listen on one port (SO_REUSEPORT)."""
    pusher = start_pusher(config, process, addrs)
    backends = Backends(config, addrs)
    try:
        mcp = build_mcp(backends, flush=pusher.flush, otel_spans=config.otel_spans)
        server = None
        if http:
            security = HttpSecurity.from_config(config)
            server = HttpGateway(mcp, config.http_host, config.http_port, security, share_port=share_port)
    except BaseException:
        await backends.close()
        await pusher.close()
        raise
    return GatewayStack(backends, pusher, mcp, server)
