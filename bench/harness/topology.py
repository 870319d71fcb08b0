"""The stacks the tests and the benchmarks start, defined once: the product's start order, the base environment,
and the three topologies, each on free 127.0.0.1 ports with a data directory of its own:

- ``up``: every service and the gateway in one process (``swarm up``);
- ``processes``: each service in its own process (``swarm serve NAME``) and gateway process(es) in front
  (``swarm gateway``, sharing the port), wired by ``<NAME>_SERVICE_ADDR`` as docker-compose wires them;
- ``supervisor``: the real ``swarm up --processes``.

With ``noop``, ``bench.noop_gateway`` stands in for the gateway (``--up`` for ``swarm up``): the same start-up
plus the benchmarks' ``noop`` baseline tool. Each process starts once the one before it is ready; they stop
newest first. ``Topology`` is synchronous (the benchmarks); ``AsyncTopology`` is the same stack for asyncio code
(the tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from app.launcher import BUILDERS
from bench.harness.machine import LOCALHOST
from bench.harness.process import AsyncProc, Proc
from common.config import SERVICE_NAMES, addr_var

SERVICES: tuple[str, ...] = tuple(BUILDERS)  # the product's start order: a service starts after those it calls
PYTHON = sys.executable
MCP_READY = r"MCP at (http://\S+)"  # the ready line of swarm up, swarm gateway and the noop gateway
# the supervisor's own: its forked gateway prints MCP_READY first, into the same inherited stderr
SUPERVISOR_READY = MCP_READY + r"\s+processes: "
QUIET = {"SWARM_LOG_LEVEL": "WARNING"}  # the benchmarks' stacks: no per-call log lines


def service_ready(name: str) -> str:
    return rf"{name} serving gRPC on (\S+)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as d:
        yield Path(d)


def swarm(*args: str) -> list[str]:
    """The ``swarm`` command installed next to this interpreter (else ``python -m app.cli``)."""
    script = Path(PYTHON).parent / "swarm"
    return [str(script), *args] if script.exists() else [PYTHON, "-m", "app.cli", *args]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that configures swarm, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_SERVICE_ADDR") and not k.startswith("SWARM_")}
    return {**env, **extra}


def base_env(data_dir: Path, addrs: Mapping[str, str], http_port: int, **extra: str) -> dict[str, str]:
    """A stack's environment: clean, every service address explicit, its data directory, HTTP on 127.0.0.1."""
    return clean_env(
        **{addr_var(name): addr for name, addr in addrs.items()},
        SWARM_DATA_DIR=str(data_dir),
        SWARM_HTTP_HOST=LOCALHOST,
        SWARM_HTTP_PORT=str(http_port),
        **extra,
    )


@dataclass(frozen=True)
class Shape:
    """Which topology: ``kind`` up | processes | supervisor; ``services`` that get a process of their own
    (processes); ``gateways``: gateway processes sharing the HTTP port (SWARM_HTTP_WORKERS); ``noop``: the
    gateway(s) serve the benchmarks' noop tool too."""

    kind: str
    services: tuple[str, ...] = SERVICES
    gateways: int = 1
    noop: bool = False
    memory_replicas: int = 1  # processes: memory replicas (on PostgreSQL: SWARM_DATABASE_URL), callers reach all

    @classmethod
    def named(cls, name: str) -> Shape:
        """The benchmarks' names: ``up`` and ``processes/N`` (both with noop), ``supervisor/N``, and
        ``memory-replicas/N``: each service a process of its own, memory N replicas that every caller reaches
        (one target, N addresses, round_robin: the stack needs SWARM_DATABASE_URL)."""
        kind, _, n = name.partition("/")
        if kind not in ("up", "processes", "supervisor", "memory-replicas") or (n and not n.isdigit()):
            raise SystemExit(f"unknown topology {name!r}")
        if kind == "memory-replicas":
            return cls("processes", noop=True, memory_replicas=int(n or 2))
        return cls(kind, gateways=int(n or 1), noop=kind != "supervisor")


class Topology:
    """One stack: its addresses, data directory, environment (``env`` on top of the base) and its processes by
    role name, in the order they were made. ``start`` starts the shape; roles can also be started one by one."""

    def __init__(self, shape: Shape, data_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.shape = shape
        self.data_dir = data_dir
        self.addrs = {name: f"{LOCALHOST}:{free_port()}" for name in SERVICE_NAMES}
        self.http_port = free_port()
        workers = str(max(1, shape.gateways))
        self.env = base_env(data_dir, self.addrs, self.http_port, SWARM_HTTP_WORKERS=workers, **(env or {}))
        self.procs: dict[str, Proc] = {}

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.http_port}/mcp"

    def _role(self, name: str, argv: Sequence[str], env: Mapping[str, str], ready: str, timeout: float = 60) -> Proc:
        if name not in self.procs:
            self.procs[name] = Proc(name, argv, env, ready, start_timeout=timeout)
        return self.procs[name]

    def service(self, name: str, *, argv_prefix: Sequence[str] = ()) -> Proc:
        """``swarm serve NAME`` on its address (``argv_prefix``: e.g. taskset)."""
        env = {**self.env, "SWARM_LISTEN_ADDR": self.addrs[name]}
        return self._role(name, [*argv_prefix, *swarm("serve", name)], env, service_ready(name))

    def replica(self, name: str, index: int) -> Proc:
        """Another ``swarm serve NAME`` (role ``NAME-INDEX``) on a free port of its own, same environment: a replica
        of a stateless service (memory on PostgreSQL too)."""
        role = f"{name}-{index}"
        if role not in self.procs:
            env = {**self.env, "SWARM_LISTEN_ADDR": f"{LOCALHOST}:{free_port()}"}
            self._role(role, swarm("serve", name), env, service_ready(name))
        return self.procs[role]

    def gateway(self, name: str = "gateway", *, env: Mapping[str, str] | None = None) -> Proc:
        """``swarm gateway`` (noop: ``bench.noop_gateway``); ``env`` instead of the stack's."""
        argv = [PYTHON, "-m", "bench.noop_gateway"] if self.shape.noop else swarm("gateway")
        return self._role(name, argv, self.env if env is None else env, MCP_READY)

    def one_process(self) -> Proc:
        """``swarm up`` (noop: ``bench.noop_gateway --up``)."""
        argv = [PYTHON, "-m", "bench.noop_gateway", "--up"] if self.shape.noop else swarm("up")
        return self._role("up", argv, self.env, MCP_READY)

    def supervisor(self) -> Proc:
        """``swarm up --processes``: ready once every child it forked is."""
        return self._role("supervisor", swarm("up", "--processes"), self.env, SUPERVISOR_READY, timeout=90)

    def start(self) -> Topology:
        """Start the shape, each process once the one before it is ready; on a failure, stop what started."""
        try:
            if self.shape.kind == "up":
                self._check_url(self.one_process().start())
            elif self.shape.kind == "supervisor":
                self._check_url(self.supervisor().start())
            else:
                for name in SERVICES:
                    if name == "memory" and self.shape.memory_replicas > 1:
                        self._memory_replicas()
                    elif name in self.shape.services:
                        self.service(name).start()
                for i in range(self.shape.gateways):
                    self._check_url(self.gateway("gateway" if i == 0 else f"gateway-{i + 1}").start())
        except BaseException:
            self.stop()
            raise
        return self

    def _memory_replicas(self) -> None:
        """Memory as ``memory_replicas`` processes; the services and gateways started after them reach every one."""
        replicas = [self.replica("memory", i + 1).start() for i in range(self.shape.memory_replicas)]
        self.env[addr_var("memory")] = "ipv4:" + ",".join(r.address for r in replicas)

    def _check_url(self, proc: Proc) -> None:
        if proc.address != self.url:
            raise RuntimeError(f"{proc.name} serves MCP at {proc.address!r}, not at {self.url}:\n{proc.tail()}")

    def stop(self) -> dict[str, int | None]:
        """Stop every process, newest first; the exit code of each (None: never started)."""
        return {proc.name: proc.stop() for proc in reversed(list(self.procs.values()))}

    def pids(self) -> list[int]:
        """Every live process of the stack: the ones started here and their descendants."""
        out: list[int] = []
        for proc in self.procs.values():
            if not proc.running:
                continue
            out.append(proc.pid)
            with contextlib.suppress(psutil.Error):
                out += [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        return out


class AsyncTopology:
    """A ``Topology`` for asyncio code: the same stack, its processes as ``AsyncProc``."""

    def __init__(self, topo: Topology) -> None:
        self.sync = topo

    @property
    def data_dir(self) -> Path:
        return self.sync.data_dir

    @property
    def addrs(self) -> dict[str, str]:
        return self.sync.addrs

    @property
    def http_port(self) -> int:
        return self.sync.http_port

    @property
    def env(self) -> dict[str, str]:
        return self.sync.env

    @property
    def url(self) -> str:
        return self.sync.url

    def service(self, name: str) -> AsyncProc:
        return AsyncProc(self.sync.service(name))

    def replica(self, name: str, index: int) -> AsyncProc:
        return AsyncProc(self.sync.replica(name, index))

    def gateway(self, name: str = "gateway", *, env: Mapping[str, str] | None = None) -> AsyncProc:
        return AsyncProc(self.sync.gateway(name, env=env))

    def supervisor(self) -> AsyncProc:
        return AsyncProc(self.sync.supervisor())

    async def start(self) -> AsyncTopology:
        await asyncio.to_thread(self.sync.start)
        return self

    async def stop(self) -> dict[str, int | None]:
        return await asyncio.to_thread(self.sync.stop)


def service_alone(
    name: str, data_dir: Path, env: Mapping[str, str] | None = None, *, argv_prefix: Sequence[str] = ()
) -> Proc:
    """``swarm serve NAME`` by itself, a stack of one service, not yet started (``with`` starts and stops it)."""
    topo = Topology(Shape("processes", services=(name,), gateways=0), data_dir, env)
    return topo.service(name, argv_prefix=argv_prefix)


@contextlib.contextmanager
def running(shape: Shape, data_dir: Path, env: Mapping[str, str] | None = None) -> Iterator[Topology]:
    """The stack started for the time of the block, stopped (newest first) when it ends."""
    topo = Topology(shape, data_dir, env).start()
    try:
        yield topo
    finally:
        topo.stop()


@contextlib.asynccontextmanager
async def running_async(
    shape: Shape, data_dir: Path, env: Mapping[str, str] | None = None
) -> AsyncIterator[AsyncTopology]:
    """``running`` for asyncio code."""
    topo = await AsyncTopology(Topology(shape, data_dir, env)).start()
    try:
        yield topo
    finally:
        await topo.stop()
