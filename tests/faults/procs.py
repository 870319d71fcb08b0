"""Real processes for the fault tests: each service as ``swarm serve NAME`` and the gateway as ``swarm gateway``,
on fixed free loopback ports, readiness read from their stderr (no sleeps), stopped by pid only."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.config import SERVICE_NAMES, addr_var
from tests.conftest import free_port

T = TypeVar("T")

SWARM = str(Path(sys.executable).parent / "swarm")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
# the last start-up line, printed once the process is ready: "swarm 0.1.0: memory serving gRPC on ..." / "... MCP at"
READY_LINE = re.compile(rb"^swarm \S+: ")
# services in the order they start (each after those it calls)
START_ORDER = ("telemetry", "memory", "assignment", "consensus")


def base_env(data_dir: Path, addrs: dict[str, str], http_port: int, **extra: str) -> dict[str, str]:
    """A clean environment: nothing inherited that configures swarm, every address explicit."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_SERVICE_ADDR") and not k.startswith("SWARM_")}
    env.update({addr_var(name): addr for name, addr in addrs.items()})
    env.update(
        SWARM_DATA_DIR=str(data_dir),
        SWARM_HTTP_HOST="127.0.0.1",
        SWARM_HTTP_PORT=str(http_port),
        SWARM_SHUTDOWN_GRACE_S="5",
        SWARM_CALL_TIMEOUT_S="5",
    )
    env.update(extra)
    return env


class StartFailed(AssertionError):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Proc:
    """One ``swarm`` process; ``start`` may be called again after it exited (same argv, env, port)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    proc: asyncio.subprocess.Process | None = None
    log: list[str] = field(default_factory=list)
    starts: int = 0
    _drain: asyncio.Task[None] | None = None

    def tail(self, n: int = 25) -> str:
        return "".join(self.log[-n:])

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> Proc:
        """Start and return once the ready line is on stderr (bounded wait); fail with the log otherwise."""
        assert not self.running, f"{self.name} is already running"
        await self._finish_drain()
        proc = await asyncio.create_subprocess_exec(SWARM, *self.argv, env=self.env, stderr=asyncio.subprocess.PIPE)
        self.proc = proc
        self.starts += 1

        async def until_ready() -> None:
            assert proc.stderr is not None
            while True:
                line = await proc.stderr.readline()
                if not line:
                    code = await proc.wait()
                    raise StartFailed(code, f"{self.name} exited during start-up (code {code}):\n{self.tail()}")
                self.log.append(line.decode(errors="replace"))
                if READY_LINE.match(line):
                    return

        try:
            await asyncio.wait_for(until_ready(), START_TIMEOUT_S)
        except BaseException:
            with suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        self._drain = asyncio.create_task(self._read_rest(proc))
        return self

    async def try_start(self) -> int | None:
        """Start; None once ready (it runs), or the exit code of a process that refused to start."""
        try:
            await self.start()
        except StartFailed as exc:
            return exc.code
        return None

    async def _read_rest(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        async for line in proc.stderr:
            self.log.append(line.decode(errors="replace"))

    async def _finish_drain(self) -> None:
        if self._drain is not None:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._drain, 5)
            self._drain = None

    async def wait(self, timeout: float = STOP_TIMEOUT_S) -> int:
        assert self.proc is not None
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        await self._finish_drain()
        return code

    async def kill(self) -> int:
        """SIGKILL this process (by its pid) and reap it."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        return await self.wait()

    def terminate(self) -> None:
        assert self.proc is not None and self.proc.returncode is None
        self.proc.send_signal(signal.SIGTERM)

    async def stop(self) -> int | None:
        """SIGTERM and wait (SIGKILL when it does not stop in time); None when it was never started."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return await self.wait()
            except TimeoutError:
                return await self.kill()
        return await self.wait()


@dataclass
class Topology:
    data_dir: Path
    addrs: dict[str, str]
    http_port: int
    env: dict[str, str]
    procs: dict[str, Proc] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/mcp"

    def service(self, name: str) -> Proc:
        if name not in self.procs:
            self.procs[name] = Proc(name, ["serve", name], {**self.env, "SWARM_LISTEN_ADDR": self.addrs[name]})
        return self.procs[name]

    def gateway(self) -> Proc:
        if "gateway" not in self.procs:
            self.procs["gateway"] = Proc("gateway", ["gateway"], dict(self.env))
        return self.procs["gateway"]

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail()}" for p in self.procs.values())


@asynccontextmanager
async def topology(
    tmp_path: Path,
    services: tuple[str, ...] = START_ORDER,
    *,
    gateway: bool = True,
    data_dir: Path | None = None,
    **extra: str,
) -> AsyncIterator[Topology]:
    """``services`` (each its own process) and the gateway; every process is stopped by pid on the way out.
    ``extra``: more environment variables for every process."""
    addrs = {name: f"127.0.0.1:{free_port()}" for name in SERVICE_NAMES}
    http_port = free_port()
    data_dir = data_dir or tmp_path / "data"
    topo = Topology(data_dir, addrs, http_port, base_env(data_dir, addrs, http_port, **extra))
    try:
        for name in START_ORDER:
            if name in services:
                await topo.service(name).start()
        if gateway:
            await topo.gateway().start()
        yield topo
    finally:
        for p in reversed(list(topo.procs.values())):
            await p.stop()


async def health(addr: str, timeout: float = 1.0) -> str:
    """The grpc.health.v1 status of ``addr``: SERVING, NOT_SERVING, ... or the error code's name."""
    async with aio.insecure_channel(addr) as channel:
        try:
            resp = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except aio.AioRpcError as exc:
            return exc.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)


async def until(check: Callable[[], Awaitable[bool]], timeout: float, what: str, step: float = 0.02) -> None:
    """Poll ``check`` until it is true; a bounded loop (``timeout`` seconds), failing with ``what``."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(step)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def tool_text(result: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


def payload(result: Any) -> Any:
    assert not result.is_error, tool_text(result)
    return json.loads(tool_text(result))


def integrity(db_path: Path) -> str:
    """``PRAGMA integrity_check`` from a separate, read-only connection."""
    for uri in (f"file:{db_path}?mode=ro", f"file:{db_path}?mode=ro&immutable=1"):
        conn = sqlite3.connect(uri, uri=True, timeout=5)
        try:
            return "; ".join(r[0] for r in conn.execute("PRAGMA integrity_check").fetchall())
        except sqlite3.OperationalError:
            # a read-only file system: a WAL database cannot create its -shm file there; read the file alone
            continue
        finally:
            conn.close()
    raise sqlite3.OperationalError(f"cannot open {db_path} even as an immutable file")


async def timed(coro: Awaitable[T]) -> tuple[T, float]:
    start = time.monotonic()
    result = await coro
    return result, time.monotonic() - start
