"""The long-lived commands of ``swarm``: up (everything in one process), mcp (stdio), serve (one service),
gateway (HTTP alone), each until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from app.gateway_stack import GatewayStack, open_gateway
from app.launcher import BUILDERS, embedded, listen_addr, start_pusher
from common.config import Config
from common.memtune import collect_young_less_often, freeze_startup_objects
from common.server import SignalStop, start_service

log = logging.getLogger("swarm")


async def serve_http(stack: GatewayStack, *, young_less_often: bool = False) -> str:
    """Start the stack's HTTP app once start-up is over (its objects are frozen first, so no request's
    garbage is frozen with them); the MCP endpoint's URL."""
    if stack.http is None:
        raise RuntimeError("this gateway stack was built without HTTP")
    freeze_startup_objects()
    if young_less_often:
        collect_young_less_often()
    await stack.http.start()
    return stack.http.url


@asynccontextmanager
async def serving_up(config: Config) -> AsyncIterator[tuple[GatewayStack, str]]:
    """``swarm up`` for the time of the block: every service embedded, the gateway serving HTTP at the URL."""
    async with embedded(config, stdio=False) as addrs:
        stack = await open_gateway(config, "swarm-up", addrs)
        try:
            yield stack, await serve_http(stack, young_less_often=True)
        finally:
            await stack.close()


@asynccontextmanager
async def serving_gateway(config: Config) -> AsyncIterator[tuple[GatewayStack, str]]:
    """``swarm gateway`` for the time of the block, against the configured services; several gateway
    processes (``SWARM_HTTP_WORKERS`` > 1) share the port."""
    shared = config.http_workers > 1
    stack = await open_gateway(config, f"gateway-{os.getpid()}" if shared else "gateway", share_port=shared)
    try:
        yield stack, await serve_http(stack)
    finally:
        await stack.close()


async def cmd_up(config: Config) -> None:
    stop = SignalStop()
    log.info("data directory: %s", config.data_dir)
    async with serving_up(config) as (_, url):
        print(f"swarm {config.version}: MCP at {url}  data in {config.data_dir}", file=sys.stderr, flush=True)
        await stop.wait()
        log.info("shutting down")


async def cmd_mcp(config: Config) -> None:
    async with embedded(config, stdio=True) as addrs:
        stack = await open_gateway(config, "swarm-mcp", addrs, http=False)
        try:
            freeze_startup_objects()
            collect_young_less_often()
            await stack.mcp.run_stdio_async()
        finally:
            await stack.close()


async def cmd_serve(config: Config, name: str, ready: Callable[[], None] | None = None) -> None:
    stop = SignalStop()
    listen = listen_addr(config, name)
    service = await start_service(BUILDERS[name](config, {}), listen, config.version, tls=config.tls)
    pusher = start_pusher(config, name, {"telemetry": service.address} if name == "telemetry" else None)
    freeze_startup_objects()
    print(f"swarm {config.version}: {name} serving gRPC on {service.address}", file=sys.stderr, flush=True)
    if ready is not None:
        ready()
    try:
        await stop.wait()
    finally:
        await pusher.close()
        await service.stop(config.shutdown_grace_s)


async def cmd_gateway(config: Config, ready: Callable[[], None] | None = None) -> None:
    stop = SignalStop()
    async with serving_gateway(config) as (_, url):
        print(f"swarm {config.version}: MCP at {url}", file=sys.stderr, flush=True)
        if ready is not None:
            ready()
        await stop.wait()
