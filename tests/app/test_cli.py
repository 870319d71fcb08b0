"""The `swarm` command as a user runs it: real processes, real ports, the SDK client over stdio and HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from mcp import Client, StdioServerParameters

from tests.conftest import free_port
from tests.gateway.test_tools import exercise_every_tool

SWARM = str(Path(sys.executable).parent / "swarm")


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_SERVICE_ADDR") and not k.startswith("SWARM_")}
    return {**env, "SWARM_DATA_DIR": str(data_dir), **extra}


async def test_stdio_store_and_read_back_across_restarts(tmp_path: Path) -> None:
    params = StdioServerParameters(command=SWARM, args=["mcp"], env=env_for(tmp_path / "data"))
    async with Client(params) as client:
        await exercise_every_tool(client)
        r = await client.call_tool("memory_store", {"namespace": "desk", "key": "todo", "value": ["a", "b"]})
        assert not r.is_error, r.content[0].text
    async with Client(params) as client:  # a new process on the same data
        r = await client.call_tool("memory_get", {"namespace": "desk", "key": "todo"})
        assert not r.is_error, r.content[0].text
        assert json.loads(r.content[0].text)["value"] == ["a", "b"]
        status = json.loads((await client.call_tool("swarm_status", {})).content[0].text)
        assert status["data"]["data_dir"] == str(tmp_path / "data")


async def start_up(data_dir: Path, http_port: int, memory_port: int) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        SWARM,
        "up",
        env=env_for(data_dir, SWARM_HTTP_PORT=str(http_port), MEMORY_SERVICE_ADDR=f"127.0.0.1:{memory_port}"),
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    while True:  # wait for the start-up line, not for a fixed time
        line = await asyncio.wait_for(proc.stderr.readline(), timeout=30)
        assert line, "swarm up exited during start-up"
        if b"MCP at" in line:
            break
    asyncio.create_task(proc.stderr.read())  # keep draining the log  # noqa: RUF006
    return proc


async def test_up_serves_http_keeps_data_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "data"
    http_port, memory_port = free_port(), free_port()
    url = f"http://127.0.0.1:{http_port}/mcp"
    proc = await start_up(data, http_port, memory_port)
    try:
        async with Client(url) as client:
            r = await client.call_tool("memory_store", {"namespace": "ns", "key": "k", "value": {"kept": True}})
            assert not r.is_error, r.content[0].text
            status = json.loads((await client.call_tool("swarm_status", {})).content[0].text)
            assert status["services"]["memory"]["address"] == f"127.0.0.1:{memory_port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=30) == 0
    proc = await start_up(data, http_port, memory_port)
    try:
        async with Client(url) as client:
            r = await client.call_tool("memory_get", {"namespace": "ns", "key": "k"})
            assert json.loads(r.content[0].text)["value"] == {"kept": True}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=30) == 0


async def test_bad_config_fails_fast_with_a_clear_message(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        SWARM, "up", env=env_for(tmp_path, SWARM_HTTP_PORT="eighty"), stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 2
    assert b"SWARM_HTTP_PORT='eighty': expected a port number" in err
