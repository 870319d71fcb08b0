"""``swarm mcp``'s embedded services, started behind its first answers. An MCP client launches the server and at
once asks what it offers (``server/discover`` or ``initialize``, then ``tools/list``), which needs no service. So
each service is first only bound to a free loopback port (its address known), the gateway is built against those
addresses and starts answering, and the services start behind it: their modules imported in a worker thread (the
event loop keeps answering meanwhile), then each built and started, in order. A tool call that arrives before
they serve waits for them, within its deadline (``common.readiness``). Their start took ~0.25 s of the ~1.4 s a
client waited for the tool list."""

from __future__ import annotations

import asyncio
import importlib
import logging

from app.launcher import BUILDERS
from common.config import Config
from common.readiness import Readiness
from common.server import BoundService, RunningService, bind_service

log = logging.getLogger("swarm")


def _import_services(names: list[str]) -> None:
    """What the builders import first (each ``services.<name>.service``), in a worker thread."""
    for name in names:
        importlib.import_module(f"services.{name}.service")


class Warmup:
    """The services ``swarm mcp`` embeds (those no ``<NAME>_SERVICE_ADDR`` points elsewhere): ``bind`` them,
    ``start`` them in the background, ``close`` them (newest first, with the configured grace)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.readiness = Readiness()
        self.bound: dict[str, BoundService] = {}
        self.running: dict[str, RunningService] = {}
        self._task: asyncio.Task[None] | None = None

    async def bind(self) -> dict[str, str]:
        """Bind every embedded service to 127.0.0.1:0; their addresses."""
        try:
            for name in BUILDERS:
                if name in self.config.external_services:
                    log.info("%s: using the service at %s", name, self.config.addr(name))
                    continue
                self.bound[name] = await bind_service(
                    name,
                    "127.0.0.1:0",
                    self.config.version,
                    tls=self.config.tls,
                    in_process=self.config.in_process_calls,
                )
        except BaseException:
            await self.close()
            raise
        return {name: b.address for name, b in self.bound.items()}

    def start(self) -> asyncio.Task[None]:
        """Start the bound services behind the caller; the task ends once they serve, or raises what stopped
        one of them (``readiness`` is settled either way)."""
        self._task = asyncio.create_task(self._start(), name="swarm-mcp-warmup")
        return self._task

    async def _start(self) -> None:
        name = "?"
        try:
            await asyncio.to_thread(_import_services, list(self.bound))
            addrs = {n: b.address for n, b in self.bound.items()}
            for name in list(self.bound):
                parts = BUILDERS[name](self.config, addrs)
                try:
                    self.running[name] = await self.bound[name].start(parts, in_process=self.config.in_process_calls)
                except BaseException:
                    if parts.close is not None:
                        await parts.close()
                    raise
                del self.bound[name]
        except asyncio.CancelledError:
            self.readiness.failed("the server is shutting down")
            raise
        except Exception as exc:
            self.readiness.failed(f"the {name} service could not start: {exc}")
            raise
        self.readiness.ready()

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        for service in reversed(list(self.running.values())):
            await service.stop(self.config.shutdown_grace_s)
        for bound in self.bound.values():
            await bound.close()
        self.running.clear()
        self.bound.clear()
