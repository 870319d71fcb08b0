"""What the fault tests share besides the processes (started by bench/harness/topology.py): their topology's
timeouts, health and port probes, bounded polling, tool results, and an integrity check of memory's file."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar

from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.harness.topology import SERVICES, AsyncTopology, Shape, running_async

T = TypeVar("T")

FAULT_ENV = {"SWARM_SHUTDOWN_GRACE_S": "5", "SWARM_CALL_TIMEOUT_S": "5"}


def topology(
    tmp_path: Path,
    services: tuple[str, ...] = SERVICES,
    *,
    gateway: bool = True,
    data_dir: Path | None = None,
    **extra: str,
) -> AbstractAsyncContextManager[AsyncTopology]:
    """``services`` (each its own process) and the gateway, with the fault tests' timeouts; every process is
    stopped by pid on the way out. ``extra``: more environment variables for every process."""
    shape = Shape("processes", services=services, gateways=int(gateway))
    return running_async(shape, data_dir or tmp_path / "data", {**FAULT_ENV, **extra})


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
