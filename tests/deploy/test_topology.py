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
from pathlib import Path
from typing import Any

from mcp import Client

from bench.harness.topology import SERVICES, AsyncTopology, Shape, Topology

DEPLOY_ENV = {"SWARM_SHUTDOWN_GRACE_S": "2", "SWARM_CALL_TIMEOUT_S": "5"}


@asynccontextmanager
async def compose_topology(tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """Services in start order (each after those it calls, as compose's depends_on), then the gateway."""
    topo = await AsyncTopology(Topology(Shape("processes"), tmp_path / "data", DEPLOY_ENV)).start()
    try:
        yield topo.url, {name: topo.addrs[name] for name in SERVICES}
    finally:
        codes = await topo.stop()  # gateway first, as compose stops dependents first
        failed = {n: c for n, c in codes.items() if c != 0}
        assert not failed, "non-zero exit on SIGTERM: " + ", ".join(
            f"{n}={c}\n{topo.sync.procs[n].tail()}" for n, c in failed.items()
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
    topo = AsyncTopology(Topology(Shape("supervisor"), tmp_path / "data", DEPLOY_ENV))
    sup = await topo.supervisor().start()
    pids = dict(re.findall(r"(\w+)=(\d+)", sup.tail().rpartition("processes:")[2]))
    assert set(pids) == {*SERVICES, "gateway"}
    try:
        async with Client(topo.url) as client:
            stored = payload(await client.call_tool("memory_store", {"namespace": "sup", "key": "k", "value": 1}))
            assert stored["version"] == 1
        # a child that dies takes the whole topology down: the supervisor stops the rest and exits 1
        os.kill(int(pids["assignment"]), signal.SIGKILL)
        assert await sup.wait(30) == 1
        for name, pid in pids.items():
            assert not _alive(int(pid)), f"{name} (pid {pid}) outlived the supervisor"
    finally:
        assert not sup.running or await sup.stop() == 0, sup.tail()
    # and a SIGTERM is a clean stop of everything: exit 0, data kept
    await sup.start()
    try:
        async with Client(topo.url) as client:
            got = payload(await client.call_tool("memory_get", {"namespace": "sup", "key": "k"}))
            assert got["value"] == 1
    finally:
        assert await sup.stop() == 0, sup.tail()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead but not yet reaped by its (dead) parent's reaper
    with suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    return False
