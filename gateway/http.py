"""Streamable HTTP for the gateway: JSON responses, stateless, on uvicorn with httptools."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import uvicorn
from mcp.server import MCPServer
from mcp.server.lowlevel import Server
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.inbound import X_MCP_HEADER_KEY
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.dashboard.login import DashboardLogin
from gateway.fastpath import FastToolCalls
from gateway.security import HttpSecurity, SecurityMiddleware

log = logging.getLogger("swarm.gateway")


class _EmbeddedServer(uvicorn.Server):
    """uvicorn that leaves signals to the process that embeds it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int, *, share_port: bool = False) -> socket.socket:
    """A listening socket; ``share_port`` lets several gateway processes listen on one port, the kernel
    spreading connections across them (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if share_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"gateway: cannot listen on {host}:{port} ({exc.strerror}); set SWARM_HTTP_PORT") from exc
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class _Direct:
    """Requests for ``path`` go straight to the MCP endpoint's ASGI app; everything else (``/metrics``, the
    lifespan, unknown paths) through the Starlette app around it. Its routing and exception middleware add
    ~4 % to a tool call and do nothing for the exact MCP path: the endpoint answers its own errors, and an
    exception escaping it still becomes a 500 (uvicorn)."""

    def __init__(self, app: Starlette, path: str, front: Callable[[ASGIApp], ASGIApp] | None = None) -> None:
        self.app = app
        self.path = path
        routes = [r for r in app.routes if isinstance(r, Route) and r.path == path]
        if len(routes) != 1:
            raise RuntimeError(f"the MCP app has no single route {path!r}")
        self.endpoint = routes[0].app if front is None else front(routes[0].app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path:
            scope["app"] = self.app
            await self.endpoint(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def declared_header_schemas_only(server: Server[Any]) -> None:
    """Before each tools/call over HTTP, the SDK compares the request's Mcp-Param-* headers with the
    properties the tool's input schema marks ``x-mcp-header``, walking the whole schema twice per call to find
    them (~15 us of the gateway's one thread, ~5 % of a memory_get; py-spy), even for a tool that marks none,
    where there is nothing to compare. The SDK's schema lookup is wrapped to answer only the schemas that
    mark some property (decided once per tool), so it compares exactly the headers it did before."""
    lookup = server.get_tool_input_schema
    if lookup is None:
        return
    seen: dict[str, tuple[Mapping[str, Any], bool]] = {}

    def schemas_declaring_headers(name: str) -> Mapping[str, Any] | None:
        schema = lookup(name)
        if schema is None:
            return None
        known = seen.get(name)
        if known is None or known[0] is not schema:  # a tool registered again gets a new verdict
            known = seen[name] = (schema, f'"{X_MCP_HEADER_KEY}"' in json.dumps(schema))
        return schema if known[1] else None

    server.get_tool_input_schema = schemas_declaring_headers


def server_config(app: ASGIApp, *, lifespan: str = "on") -> uvicorn.Config:
    """The gateway's uvicorn settings (also the floor of bench/bench_fastpath.py: the same server, nothing else)."""
    return uvicorn.Config(
        app,
        http="httptools",
        ws="none",
        lifespan=lifespan,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        proxy_headers=False,  # nothing here reads the client address; no X-Forwarded-* rewriting per request
    )


class HttpGateway:
    """The MCP endpoint at ``http://host:port/mcp``; ``start`` returns once it accepts connections."""

    def __init__(
        self,
        mcp: MCPServer,
        host: str,
        port: int,
        security: HttpSecurity | None = None,
        *,
        share_port: bool = False,
        fast_path: bool = True,
    ) -> None:
        """``fast_path``: plain tools/call requests take the lean path (gateway/fastpath.py, SWARM_FAST_PATH)."""
        security = security or HttpSecurity()
        security.check_exposure(host)
        self.host = host
        inner = mcp.streamable_http_app(
            json_response=True,
            stateless_http=True,
            host=host,
            max_request_body_size=security.max_body_bytes,
            # Host/Origin are checked for every route by SecurityMiddleware, with the same rules
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        declared_header_schemas_only(mcp.session_manager.app)
        front = (lambda sdk: FastToolCalls(mcp, sdk, security.max_body_bytes)) if fast_path else None
        app = SecurityMiddleware(_Direct(inner, "/mcp", front), security, host, DashboardLogin(security.token))
        self._sock = bind(host, port, share_port=share_port)
        self.port = self._sock.getsockname()[1]
        self._server = _EmbeddedServer(server_config(app))
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/mcp"

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        while not self._server.started:
            if self._task.done():
                await self._task  # raises what stopped it
                raise RuntimeError("the HTTP gateway stopped during start-up")
            await asyncio.sleep(0.01)
        log.info("MCP endpoint %s", self.url)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
        self._sock.close()
