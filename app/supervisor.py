"""``swarm up --processes``: the docker-compose topology as local processes.

The supervisor imports everything the services and the gateway use, freezes those objects
(``gc.freeze``) and then forks one child per service, in dependency order, each started once the one
before it reports ready, then ``SWARM_HTTP_WORKERS`` gateways against them. The children share the
imported modules' pages copy-on-write instead of each importing grpc, protobuf, numpy, scipy and the
MCP SDK again: the stack's memory (PSS) is about half of six separately started interpreters.
The supervisor itself never creates a gRPC channel or an event loop (a forked child must not inherit
either); a child reports readiness by writing to a pipe, and its exit is seen on a pidfd. Once all are
ready it ``exec``s ``python -m app.procwatch`` (same pid, the children stay its own), which
watches them without keeping the preloaded modules resident (app/procwatch.py).

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

import app
from app.launcher import BUILDERS
from app.procwatch import STOP_SIGNALS, Child, StopPipe, stop_children
from common.config import SERVICE_NAMES, Config, addr_var

log = logging.getLogger("swarm.supervisor")

RunChild = Callable[[Config, str | None, Callable[[], None]], int]

START_TIMEOUT_S = 60.0

# What the children import; loaded once here so they share it.
PRELOAD = (
    "uvloop",
    "app.cli",
    "app.commands",
    "services.telemetry.service",
    "services.memory.service",
    "services.assignment.service",
    "scipy.optimize",  # the solver imports it on first use (start-up time); the children share it from here
    "scipy.sparse",
    "prometheus_client",  # imported by the gateway's first /metrics scrape
    "services.consensus.service",
    "gateway.backends",
    "gateway.http",
    "gateway.security",
    "gateway.server",
    "anyio._backends._asyncio",  # what the gateway imports on its first request
    "uvicorn.lifespan.on",
    "uvicorn.protocols.http.httptools_impl",
)


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
    """Import what the children use, as the gc module's documentation advises for fork without exec: no
    collection in the parent (freed objects leave holes in its pages, which the children's allocations
    would fill, copying each page), and every object frozen (the children's collector never touches them)."""
    gc.disable()
    for module in PRELOAD:
        importlib.import_module(module)
    gc.freeze()


def _set_process_name(name: str) -> None:
    with contextlib.suppress(OSError):  # what ps / top / psutil show (15 bytes at most)
        with open("/proc/self/comm", "w") as comm:
            comm.write(f"swarm-{name}"[:15])


def _child_main(config: Config, run_child: RunChild, name: str | None, ready_fd: int, close_fds: list[int]) -> int:
    """What runs in the forked child: ``run_child`` (``swarm serve NAME`` or ``swarm gateway``), reporting readiness."""
    gc.enable()
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

    try:
        return run_child(Config.from_env(), name, ready)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def _fork(config: Config, run_child: RunChild, name: str | None, inherited: list[int]) -> tuple[Child, int]:
    ready_r, ready_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, measured by the topology tests
        code = 1
        try:
            os.close(ready_r)
            code = _child_main(config, run_child, name, ready_w, inherited)
        except BaseException:
            logging.getLogger("swarm").exception("%s failed", name or "gateway")
        finally:
            os._exit(code)
    os.close(ready_w)
    return Child.watch(name or "gateway", pid), ready_r


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


def supervise(config: Config, run_child: RunChild) -> int:
    """Run the multi-process topology until SIGTERM/SIGINT (exit 0) or until a child dies (exit 1).
    ``run_child(config, name, ready)`` runs one child (a service by name, the gateway for ``None``) in the
    forked process, calling ``ready()`` once it serves, and returns its exit code."""
    stop = StopPipe()
    children: list[Child] = []
    try:
        preload()
        names: list[str | None] = [*BUILDERS, *([None] * config.http_workers)]
        for name in names:  # several gateways share the port (SO_REUSEPORT)
            child, ready_r = _fork(config, run_child, name, [*stop.fds, *(c.pidfd for c in children)])
            children.append(child)
            _wait_ready(child, ready_r, stop.read_fd, START_TIMEOUT_S)
    except (RuntimeError, TimeoutError) as exc:
        stopped = stop.is_set()
        if not stopped:
            log.error("%s", exc)
        clean = stop_children(children, config.shutdown_grace_s)
        stop.close()
        return 0 if stopped and clean else 1
    except BaseException:
        stop_children(children, config.shutdown_grace_s)
        stop.close()
        raise
    pids = "  ".join(f"{c.name}={c.pid}" for c in children)
    url_host = f"[{config.http_host}]" if ":" in config.http_host else config.http_host
    print(
        f"swarm {config.version}: MCP at http://{url_host}:{config.http_port}/mcp  processes: {pids}",
        file=sys.stderr,
        flush=True,
    )
    # Hand the watching over to a fresh, small interpreter in this same process (the children stay ours):
    # stop signals wait blocked until it has its handlers, one that came already is passed on.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    stopping = stop.is_set()
    stop.close()
    if stopping:
        os.kill(os.getpid(), signal.SIGTERM)  # stays pending (blocked) across the exec
    sys.stdout.flush()
    sys.stderr.flush()
    # -S: no site (app.procwatch needs the standard library only; the editable install's finder
    # alone costs the watcher ~1.2 MB of PSS), so the directory holding the app package goes on
    # PYTHONPATH instead.
    root = os.path.dirname(os.path.dirname(os.path.abspath(app.__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    watcher = [sys.executable, "-S", "-m", "app.procwatch", str(config.shutdown_grace_s)]
    os.execve(sys.executable, watcher + [f"{c.name}={c.pid}" for c in children], env)
