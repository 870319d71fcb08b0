"""Starting the services: the builders in start order, every service embedded in one process, the telemetry pusher."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from app.preflight import cannot_bind
from common.config import Config, addr_var
from common.pusher import Pusher
from common.recorder import default_recorder
from common.server import CannotListen, RunningService, ServiceParts, start_service

log = logging.getLogger("swarm")


def _memory(config: Config, addrs: dict[str, str]) -> ServiceParts:
    from services.memory.service import build

    return build(config)


def _assignment(config: Config, addrs: dict[str, str]) -> ServiceParts:
    from services.assignment.service import build

    return build(config, memory_addr=addrs.get("memory"))


def _consensus(config: Config, addrs: dict[str, str]) -> ServiceParts:
    from services.consensus.service import build

    return build(config, memory_addr=addrs.get("memory"))


def _telemetry(config: Config, addrs: dict[str, str]) -> ServiceParts:
    from services.telemetry.service import build

    return build(config)


# Services with an implementation, in start order (a service starts after those it calls).
# ``addrs`` holds the addresses of the services already started in this process.
BUILDERS: dict[str, Callable[[Config, dict[str, str]], ServiceParts]] = {
    "telemetry": _telemetry,
    "memory": _memory,
    "assignment": _assignment,
    "consensus": _consensus,
}


def listen_addr(config: Config, name: str) -> str:
    return config.listen_addr or config.addr(name)


async def start_embedded(config: Config, *, stdio: bool) -> dict[str, RunningService]:
    """Start every implemented service in this process.

    ``swarm up`` (stdio=False) listens on each service's configured address (``<NAME>_SERVICE_ADDR``).
    stdio=True uses the services the environment points at and embeds the others on 127.0.0.1:0, so it never
    collides with a server already running on the fixed ports: what ``swarm mcp`` runs, which starts them the
    same way but behind its first answers (app/warmup.py).

    With ``SWARM_IN_PROCESS_CALLS=on`` (the default), calls between the parts of this process skip the
    loopback network (services/common/inprocess.py); the services still listen for everyone else."""
    running: dict[str, RunningService] = {}
    ephemeral = stdio
    try:
        for name, builder in BUILDERS.items():
            if stdio and name in config.external_services:
                log.info("%s: using the service at %s", name, config.addr(name))
                continue
            listen = "127.0.0.1:0" if ephemeral else config.addr(name)
            addrs = {n: svc.address for n, svc in running.items()}
            try:
                running[name] = await start_service(
                    builder(config, addrs), listen, config.version, tls=config.tls, in_process=config.in_process_calls
                )
            except CannotListen:
                raise cannot_bind(name, listen, addr_var(name)) from None
    except BaseException:
        await stop_all(running, grace=0)
        raise
    return running


async def stop_all(running: dict[str, RunningService], grace: float) -> None:
    for service in reversed(list(running.values())):
        await service.stop(grace)


def start_pusher(config: Config, process: str, addrs: dict[str, str] | None = None) -> Pusher:
    """Push this process's call records and process metrics to the telemetry service every second."""
    target = (addrs or {}).get("telemetry") or config.addr("telemetry")
    pusher = Pusher(default_recorder(), target, process, tls=config.tls)
    pusher.start()
    return pusher


@asynccontextmanager
async def embedded(config: Config, *, stdio: bool) -> AsyncIterator[dict[str, str]]:
    """Every implemented service started in this process (``start_embedded``) for the time of the block, which
    gets their addresses; they stop, newest first, with the configured grace when it ends."""
    running = await start_embedded(config, stdio=stdio)
    try:
        yield {name: svc.address for name, svc in running.items()}
    finally:
        await stop_all(running, config.shutdown_grace_s)
