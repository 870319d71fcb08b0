"""``swarm up --processes``: the docker-compose topology as local processes.

The supervisor imports everything the services and the gateway use, freezes those objects
(``gc.freeze``) and then forks one child per service, in dependency order, each started once the one
before it reports ready, then ``SWARM_HTTP_WORKERS`` gateways against them. The children share the
imported modules' pages copy-on-write instead of each importing grpc, protobuf, numpy, scipy and the
MCP SDK again: the stack's memory (PSS) is about half of six separately started interpreters.
The supervisor itself never creates a gRPC channel or an event loop (a forked child must not inherit
either); a child reports readiness by writing to a pipe, and its exit is seen on a pidfd.

SIGTERM or SIGINT is forwarded (gateway first, memory last); if any child exits on its own, the rest
are stopped and the supervisor exits 1."""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from services.common.config import SERVICE_NAMES, Config, addr_var
from services.launcher import BUILDERS

log = logging.getLogger("swarm.supervisor")

START_TIMEOUT_S = 60.0

# What the children import; loaded once here so they share it.
PRELOAD = (
    "uvloop",
    "services.cli",
    "services.telemetry.service",
    "services.memory.service",
    "services.assignment.service",
    "services.consensus.service",
    "gateway.backends",
    "gateway.http",
    "gateway.security",
    "gateway.server",
    "anyio._backends._asyncio",  # what the gateway imports on its first request
    "uvicorn.lifespan.on",
    "uvicorn.protocols.http.httptools_impl",
)


@dataclass
class Child:
    name: str
    pid: int
    pidfd: int
    returncode: int | None = None

    def reap(self, *, block: bool) -> bool:
        """Collect the exit status; True once the child has exited."""
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
            if pid == 0:
                return False
            self.returncode = os.waitstatus_to_exitcode(status)
            os.close(self.pidfd)
        return True


def child_env(config: Config, name: str | None) -> dict[str, str]:
    """The environment of one child: every service address explicit, ``SWARM_LISTEN_ADDR`` for a service."""
    env = dict(os.environ)
    env.pop("SWARM_LISTEN_ADDR", None)
    for service in SERVICE_NAMES:
        env[addr_var(service)] = config.addr(service)
    if name is not None:
        env["SWARM_LISTEN_ADDR"] = config.addr(name)
    return env


def preload() -> None:
    for module in PRELOAD:
        importlib.import_module(module)
    gc.collect()
    gc.freeze()  # the children's collector leaves these objects (and their shared pages) alone


def _set_process_name(name: str) -> None:
    with contextlib.suppress(OSError):  # what ps / top / psutil show (15 bytes at most)
        with open("/proc/self/comm", "w") as comm:
            comm.write(f"swarm-{name}"[:15])


def _child_main(config: Config, name: str | None, ready_fd: int, close_fds: list[int]) -> int:
    """What runs in the forked child: ``swarm serve NAME`` or ``swarm gateway``, reporting readiness."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    for fd in close_fds:
        os.close(fd)
    os.setsid()  # terminal signals reach the supervisor only; it forwards them once
    env = child_env(config, name)
    os.environ.clear()
    os.environ.update(env)
    _set_process_name(name or "gateway")

    def ready() -> None:
        os.write(ready_fd, b"ready\n")
        os.close(ready_fd)

    from services import cli

    try:
        child_config = Config.from_env()
        if name is None:
            return cli.run_command(lambda: cli.cmd_gateway(child_config, ready=ready))
        return cli.run_command(lambda: cli.cmd_serve(child_config, name, ready=ready))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def _fork(config: Config, name: str | None, inherited: list[int]) -> tuple[Child, int]:
    ready_r, ready_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, measured by the topology tests
        code = 1
        try:
            os.close(ready_r)
            code = _child_main(config, name, ready_w, [fd for fd in inherited])
        except BaseException:
            logging.getLogger("swarm").exception("%s failed", name or "gateway")
        finally:
            os._exit(code)
    os.close(ready_w)
    return Child(name or "gateway", pid, os.pidfd_open(pid)), ready_r


def _wait_ready(child: Child, ready_r: int, stop_r: int, timeout: float) -> None:
    """Block until the child reports ready; raise when it exits first, a stop signal comes, or time runs out."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{child.name}: not ready after {timeout:g} s")
            readable, _, _ = select.select([ready_r, child.pidfd, stop_r], [], [], left)
            if stop_r in readable:
                raise RuntimeError("stopped during start-up")
            if ready_r in readable and os.read(ready_r, 64):
                return
            if child.pidfd in readable or ready_r in readable:  # exited, or closed the pipe without a word
                child.reap(block=True)
                raise RuntimeError(f"{child.name} exited with code {child.returncode} during start-up")
    finally:
        os.close(ready_r)


def _wait_exit(child: Child, timeout: float) -> bool:
    if child.returncode is not None:
        return True
    readable, _, _ = select.select([child.pidfd], [], [], timeout)
    return bool(readable) and child.reap(block=True)


def _stop(children: list[Child], grace: float) -> bool:
    """SIGTERM each child, newest first, and wait; True when every one exited 0."""
    clean = True
    for child in reversed(children):
        if child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGTERM)
            if not _wait_exit(child, grace + 5):
                log.error("%s did not stop within %.0f s: killing it", child.name, grace + 5)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGKILL)
                child.reap(block=True)
        if child.returncode != 0:
            log.error("%s exited with code %s", child.name, child.returncode)
            clean = False
    return clean


def _on_signal(stop_w: int) -> Callable[[int, object], None]:
    def handler(signum: int, frame: object) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(stop_w, b"s")

    return handler


def supervise(config: Config) -> int:
    """Run the multi-process topology until SIGTERM/SIGINT (exit 0) or until a child dies (exit 1)."""
    stop_r, stop_w = os.pipe()
    os.set_blocking(stop_w, False)
    previous = {sig: signal.signal(sig, _on_signal(stop_w)) for sig in (signal.SIGTERM, signal.SIGINT)}
    children: list[Child] = []
    code = 0
    try:
        preload()
        names: list[str | None] = [*BUILDERS, *([None] * config.http_workers)]
        for name in names:  # several gateways share the port (SO_REUSEPORT)
            child, ready_r = _fork(config, name, [stop_r, stop_w, *(c.pidfd for c in children)])
            children.append(child)
            _wait_ready(child, ready_r, stop_r, START_TIMEOUT_S)
        pids = "  ".join(f"{c.name}={c.pid}" for c in children)
        url_host = f"[{config.http_host}]" if ":" in config.http_host else config.http_host
        print(
            f"swarm {config.version}: MCP at http://{url_host}:{config.http_port}/mcp  processes: {pids}",
            file=sys.stderr,
            flush=True,
        )
        readable, _, _ = select.select([stop_r, *(c.pidfd for c in children)], [], [])
        if stop_r not in readable:
            dead = next(c for c in children if c.pidfd in readable)
            dead.reap(block=True)
            log.error("%s exited with code %s: stopping the others", dead.name, dead.returncode)
            code = 1
    except (RuntimeError, TimeoutError) as exc:
        if not select.select([stop_r], [], [], 0)[0]:
            log.error("%s", exc)
            code = 1
    finally:
        if not _stop(children, config.shutdown_grace_s):
            code = 1
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(stop_r)
        os.close(stop_w)
    return code
