"""The long-lived commands of ``swarm``: up (everything in one process), mcp (stdio), serve (one service),
gateway (HTTP alone), each until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from app.gateway_stack import GatewayStack, open_gateway
from app.launcher import BUILDERS, embedded, listen_addr, start_pusher
from app.preflight import cannot_bind
from app.warmup import Warmup
from common.config import Config, addr_var
from common.memtune import collect_young_less_often, freeze_startup_objects
from common.server import CannotListen, SignalStop, start_service

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


FREEZE_AFTER_S = 1.0  # after a stdio server's start: its client's first requests come before the freeze


async def say_unreachable(stack: GatewayStack, names: list[str], timeout: float = 2.0) -> None:
    """One stderr line for each of the services ``names`` (run elsewhere) that does not answer its health check.
    ``swarm mcp`` serves on regardless: an MCP client that cannot start its server shows its user little, while
    every tool of a missing service answers an error naming it, and the service may come up later."""
    checks = await asyncio.gather(*(stack.backends.health(name, timeout) for name in names))
    for name, check in zip(names, checks, strict=True):
        if check.get("status") == "SERVING":
            continue
        problem = "does not answer" if check.get("status") == "UNREACHABLE" else f"answers {check.get('status')}"
        print(
            f"swarm mcp: the {name} service at {check['address']} ({addr_var(name)}) {problem}; "
            "its tools answer an error until it runs",
            file=sys.stderr,
            flush=True,
        )


async def cmd_mcp(config: Config) -> None:
    """MCP over stdio: the gateway answers at once, the embedded services start behind it (app/warmup.py). A
    service that cannot start, like one run elsewhere that does not answer (``say_unreachable``), is told on
    stderr in one line, and the server keeps serving: its tools answer why they cannot work, which an MCP
    client shows its user (a server that exits shows little more than "disconnected")."""
    warmup = Warmup(config)
    addrs = await warmup.bind()
    side: list[asyncio.Task[None]] = []
    try:
        stack = await open_gateway(config, "swarm-mcp", addrs, http=False, readiness=warmup.readiness)
        try:
            serving = asyncio.create_task(stack.mcp.run_stdio_async(), name="swarm-mcp-stdio")
            starting = warmup.start()
            side.append(asyncio.create_task(_freeze_soon()))  # its collection after a client's first requests
            external = sorted(config.external_services)
            if external:
                side.append(asyncio.create_task(say_unreachable(stack, external)))
            await asyncio.wait({serving, starting}, return_when=asyncio.FIRST_COMPLETED)
            if starting.done() and not starting.cancelled() and starting.exception() is not None:
                print(f"swarm mcp: {warmup.readiness.failure}", file=sys.stderr, flush=True)
            await serving
        finally:
            for task in side:
                task.cancel()
            await asyncio.gather(*side, return_exceptions=True)
            await stack.close()
    finally:
        await warmup.close()


async def _freeze_soon() -> None:
    await asyncio.sleep(FREEZE_AFTER_S)
    freeze_startup_objects()
    collect_young_less_often()


async def cmd_serve(config: Config, name: str, ready: Callable[[], None] | None = None) -> None:
    stop = SignalStop()
    listen = listen_addr(config, name)
    try:
        service = await start_service(BUILDERS[name](config, {}), listen, config.version, tls=config.tls)
    except CannotListen:
        raise cannot_bind(name, listen, "SWARM_LISTEN_ADDR" if config.listen_addr else addr_var(name)) from None
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
