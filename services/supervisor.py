"""``swarm up --processes``: the docker-compose topology as local processes.

Each implemented service runs as ``swarm serve NAME`` on its ``<NAME>_SERVICE_ADDR``, started in
dependency order once the one before it is SERVING; then ``swarm gateway`` against them. SIGTERM or
SIGINT is forwarded (gateway first, memory last); if any child exits on its own, the rest are stopped
and the supervisor exits 1."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable
from dataclasses import dataclass

from services.common.config import SERVICE_NAMES, Config, addr_var
from services.common.healthprobe import wait_serving
from services.launcher import BUILDERS

log = logging.getLogger("swarm.supervisor")

START_TIMEOUT_S = 60.0


@dataclass
class Child:
    name: str
    proc: asyncio.subprocess.Process


def child_env(config: Config, name: str | None) -> dict[str, str]:
    """The environment of one child: every service address explicit, ``SWARM_LISTEN_ADDR`` for a service."""
    env = dict(os.environ)
    env.pop("SWARM_LISTEN_ADDR", None)
    for service in SERVICE_NAMES:
        env[addr_var(service)] = config.addr(service)
    if name is not None:
        env["SWARM_LISTEN_ADDR"] = config.addr(name)
    return env


async def _spawn(config: Config, name: str | None) -> Child:
    argv = ["serve", name] if name is not None else ["gateway"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.cli",
        *argv,
        env=child_env(config, name),
        start_new_session=True,  # terminal signals reach the supervisor only; it forwards them once
    )
    return Child(name or "gateway", proc)


async def _wait_http(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"gateway: not listening on {host}:{port} after {timeout:g} s") from None
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return


async def _ready(child: Child, ready: Awaitable[None], stop: asyncio.Event) -> None:
    """Wait for ``ready`` unless the child exits first or a stop signal comes."""
    ready_task = asyncio.ensure_future(ready)
    died = asyncio.ensure_future(child.proc.wait())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait([ready_task, died, stopped], return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            raise RuntimeError("stopped during start-up")
        if not ready_task.done():
            raise RuntimeError(f"{child.name} exited with code {child.proc.returncode} during start-up")
        ready_task.result()
    finally:
        for task in (ready_task, died, stopped):
            task.cancel()


async def _stop(children: list[Child], grace: float) -> bool:
    """SIGTERM each child, newest first, and wait; True when every one exited 0."""
    clean = True
    for child in reversed(children):
        if child.proc.returncode is None:
            child.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(child.proc.wait(), timeout=grace + 5)
            except TimeoutError:
                log.error("%s did not stop within %.0f s: killing it", child.name, grace + 5)
                child.proc.kill()
                await child.proc.wait()
        if child.proc.returncode != 0:
            log.error("%s exited with code %s", child.name, child.proc.returncode)
            clean = False
    return clean


async def run(config: Config) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    children: list[Child] = []
    stopping = asyncio.ensure_future(stop.wait())
    code = 0
    try:
        for name in BUILDERS:
            child = await _spawn(config, name)
            children.append(child)
            await _ready(child, wait_serving(config.addr(name), timeout=START_TIMEOUT_S), stop)
        host = "127.0.0.1" if config.http_host in ("0.0.0.0", "::") else config.http_host
        for _worker in range(config.http_workers):  # several gateways share the port (SO_REUSEPORT)
            gateway = await _spawn(config, None)
            children.append(gateway)
            await _ready(gateway, _wait_http(host, config.http_port, START_TIMEOUT_S), stop)
        pids = "  ".join(f"{c.name}={c.proc.pid}" for c in children)
        url_host = f"[{config.http_host}]" if ":" in config.http_host else config.http_host
        print(
            f"swarm {config.version}: MCP at http://{url_host}:{config.http_port}/mcp  processes: {pids}",
            file=sys.stderr,
            flush=True,
        )
        exits = {asyncio.ensure_future(c.proc.wait()): c for c in children}
        done, _ = await asyncio.wait([stopping, *exits], return_when=asyncio.FIRST_COMPLETED)
        for task in exits:
            task.cancel()
        if stopping not in done:
            dead = next(exits[t] for t in done if t in exits)
            log.error("%s exited with code %s: stopping the others", dead.name, dead.proc.returncode)
            code = 1
    except (RuntimeError, TimeoutError) as exc:
        if not stop.is_set():
            log.error("%s", exc)
            code = 1
    finally:
        stopping.cancel()
        if not await _stop(children, config.shutdown_grace_s):
            code = 1
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return code


def supervise(config: Config) -> int:
    """Run the multi-process topology until SIGTERM/SIGINT (exit 0) or until a child dies (exit 1)."""
    return asyncio.run(run(config))
