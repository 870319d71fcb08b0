"""The docker-compose topology without Docker: every implemented service as its own process on its own port,
wired by ``<NAME>_SERVICE_ADDR`` exactly as docker-compose.yml wires the containers, and the gateway in
front; then the same topology through ``swarm up --processes``."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp import Client

from app.launcher import BUILDERS
from common.config import SERVICE_NAMES, addr_var
from tests.conftest import free_port

SWARM = str(Path(sys.executable).parent / "swarm")
START_TIMEOUT_S = 60


@dataclass
class Proc:
    name: str
    proc: asyncio.subprocess.Process
    log: list[str] = field(default_factory=list)
    drain: asyncio.Task[None] | None = None

    def tail(self) -> str:
        return "".join(self.log[-20:])


def base_env(tmp_path: Path, addrs: dict[str, str], http_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_SERVICE_ADDR") and not k.startswith("SWARM_")}
    env.update({addr_var(name): addr for name, addr in addrs.items()})
    env.update(
        SWARM_DATA_DIR=str(tmp_path / "data"),
        SWARM_HTTP_HOST="127.0.0.1",
        SWARM_HTTP_PORT=str(http_port),
        SWARM_SHUTDOWN_GRACE_S="2",
        SWARM_CALL_TIMEOUT_S="5",
    )
    return env


async def spawn(name: str, argv: list[str], env: dict[str, str], ready: bytes) -> Proc:
    """Start ``swarm argv`` and return once its stderr shows the ``ready`` start-up line (bounded wait)."""
    proc = await asyncio.create_subprocess_exec(SWARM, *argv, env=env, stderr=asyncio.subprocess.PIPE)
    p = Proc(name, proc)
    assert proc.stderr is not None

    async def read_until_ready() -> None:
        assert proc.stderr is not None
        while True:
            line = await proc.stderr.readline()
            assert line, f"{name} exited during start-up (code {await proc.wait()}):\n{p.tail()}"
            p.log.append(line.decode(errors="replace"))
            if ready in line:
                return

    try:
        await asyncio.wait_for(read_until_ready(), timeout=START_TIMEOUT_S)
    except BaseException:
        with suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise

    async def drain() -> None:  # keep the pipe from filling up; keep the log for failure messages
        assert proc.stderr is not None
        async for line in proc.stderr:
            p.log.append(line.decode(errors="replace"))

    p.drain = asyncio.create_task(drain())
    return p


async def stop(p: Proc) -> int:
    if p.proc.returncode is None:
        p.proc.send_signal(signal.SIGTERM)
    try:
        code = await asyncio.wait_for(p.proc.wait(), timeout=20)
    except TimeoutError:
        p.proc.kill()
        await p.proc.wait()
        raise
    if p.drain is not None:
        await p.drain
    return code


@asynccontextmanager
async def compose_topology(tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """Services in start order (each after those it calls, as compose's depends_on), then the gateway."""
    ports = {name: free_port() for name in SERVICE_NAMES}
    addrs = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    http_port = free_port()
    env = base_env(tmp_path, addrs, http_port)
    procs: list[Proc] = []
    try:
        for name in BUILDERS:
            svc_env = {**env, "SWARM_LISTEN_ADDR": addrs[name]}
            procs.append(await spawn(name, ["serve", name], svc_env, b"serving gRPC on"))
        procs.append(await spawn("gateway", ["gateway"], env, b"MCP at"))
        yield f"http://127.0.0.1:{http_port}/mcp", {name: addrs[name] for name in BUILDERS}
    finally:
        codes: dict[str, int] = {}
        for p in reversed(procs):  # gateway first, as compose stops dependents first
            codes[p.name] = await stop(p)
        failed = {n: c for n, c in codes.items() if c != 0}
        assert not failed, "non-zero exit on SIGTERM: " + ", ".join(
            f"{n}={c}\n{next(p for p in procs if p.name == n).tail()}" for n, c in failed.items()
        )


def payload(result: Any) -> Any:
    assert not result.is_error, result.content[0].text
    return json.loads(result.content[0].text)


async def run_one_tool_of_each_service(url: str) -> None:
    async with Client(url) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        stored = payload(await client.call_tool("memory_store", {"namespace": "topo", "key": "k", "value": {"n": 1}}))
        assert stored["version"] == 1
        got = payload(await client.call_tool("memory_get", {"namespace": "topo", "key": "k"}))
        assert got["value"] == {"n": 1}

        agent = {"agent_id": "coder", "skills": {"python": 0.9}, "capacity": 2}
        assert payload(await client.call_tool("agent_register", agent))["agent_id"] == "coder"
        plan = payload(
            await client.call_tool("task_assign", {"tasks": [{"id": "t1", "type": "code", "skills": {"python": 0.5}}]})
        )
        assert [(a["task_id"], a["agent_id"]) for a in plan["assignments"]] == [("t1", "coder")]

        if "consensus_propose" in tools:
            proposal = {"question": "ship it?", "options": ["yes", "no"]}
            assert not (await client.call_tool("consensus_propose", proposal)).is_error

        status = payload(await client.call_tool("swarm_status", {}))
        assert status["healthy"], status  # the gateway reaches every backend it knows


async def test_each_service_in_its_own_process_behind_the_gateway(tmp_path: Path) -> None:
    async with compose_topology(tmp_path) as (url, addrs):
        await run_one_tool_of_each_service(url)
        # the containers' health check command, against the real processes
        for argv in [*([a] for a in addrs.values()), ["--http", url.split("/")[2]]]:
            probe = await asyncio.create_subprocess_exec(sys.executable, "-m", "common.healthprobe", *argv)
            assert await asyncio.wait_for(probe.wait(), timeout=20) == 0, argv
        assert (tmp_path / "data" / "memory.db").exists()


async def test_up_processes_supervises_the_same_topology(tmp_path: Path) -> None:
    ports = {name: free_port() for name in SERVICE_NAMES}
    addrs = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    http_port = free_port()
    env = base_env(tmp_path, addrs, http_port)
    sup = await spawn("supervisor", ["up", "--processes"], env, b"processes:")
    pids = dict(re.findall(r"(\w+)=(\d+)", sup.tail().rpartition("processes:")[2]))
    assert set(pids) == {*BUILDERS, "gateway"}
    try:
        async with Client(f"http://127.0.0.1:{http_port}/mcp") as client:
            stored = payload(await client.call_tool("memory_store", {"namespace": "sup", "key": "k", "value": 1}))
            assert stored["version"] == 1
        # a child that dies takes the whole topology down: the supervisor stops the rest and exits 1
        os.kill(int(pids["assignment"]), signal.SIGKILL)
        assert await asyncio.wait_for(sup.proc.wait(), timeout=30) == 1
        for name, pid in pids.items():
            assert not _alive(int(pid)), f"{name} (pid {pid}) outlived the supervisor"
    finally:
        assert sup.proc.returncode is not None or await stop(sup) == 0, sup.tail()
    # and a SIGTERM is a clean stop of everything: exit 0, data kept
    sup = await spawn("supervisor", ["up", "--processes"], env, b"processes:")
    try:
        async with Client(f"http://127.0.0.1:{http_port}/mcp") as client:
            got = payload(await client.call_tool("memory_get", {"namespace": "sup", "key": "k"}))
            assert got["value"] == 1
    finally:
        assert await stop(sup) == 0, sup.tail()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead but not yet reaped by its (dead) parent's reaper
    with suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    return False
