"""Start-up as a user meets it, with real processes: every failure is one line that names the variable and the
fix, exit non-zero, nothing else printed; ``swarm mcp`` says which services it cannot reach and keeps serving;
``swarm --version``, ``swarm status`` and ``swarm solve`` on a file that is not an OR-Library instance."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.harness.mcpwire import encode, rpc, tool_call
from common.config import SERVICE_NAMES, Config, addr_var
from common.server import CannotListen, start_service
from common.version import VERSION
from services.telemetry.service import build as build_telemetry
from tests.conftest import free_port

SWARM = str(Path(sys.executable).parent / "swarm")
ROOT = Path(__file__).resolve().parents[2]


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    """A clean environment, every service on a free port (never the fixed ones another stack may hold)."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_SERVICE_ADDR") and not k.startswith("SWARM_")}
    addrs = {addr_var(name): f"127.0.0.1:{free_port()}" for name in SERVICE_NAMES}
    return {**env, **addrs, "SWARM_HTTP_PORT": str(free_port()), "SWARM_DATA_DIR": str(data_dir), **extra}


@contextmanager
def taken_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield s.getsockname()[1]


async def run(*args: str, env: dict[str, str], timeout: float = 30) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        SWARM, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{err}"
    assert "Traceback" not in err and "Event loop is closed" not in err
    return lines[0]


@pytest.mark.parametrize(
    ("args", "variable"),
    [(("up",), "MEMORY_SERVICE_ADDR"), (("serve", "memory"), "SWARM_LISTEN_ADDR")],
)
async def test_a_grpc_port_in_use_is_one_line_naming_the_variable(
    tmp_path: Path, args: tuple[str, ...], variable: str
) -> None:
    with taken_port() as port:
        extra = {"MEMORY_SERVICE_ADDR": f"127.0.0.1:{port}"}
        if args[0] == "serve":
            extra["SWARM_LISTEN_ADDR"] = f"127.0.0.1:{port}"
        code, out, err = await run(*args, env=env_for(tmp_path / "data", **extra))
    line = one_line(err)
    assert code != 0 and out == ""
    assert f"127.0.0.1:{port}" in line and "in use" in line and variable in line, line


async def test_an_http_port_in_use_is_found_before_anything_starts(tmp_path: Path) -> None:
    with taken_port() as port:
        code, out, err = await run("up", env=env_for(tmp_path / "data", SWARM_HTTP_PORT=str(port)))
    line = one_line(err)
    assert code != 0 and out == ""
    assert "SWARM_HTTP_PORT" in line and f"127.0.0.1:{port}" in line and "in use" in line, line
    assert not (tmp_path / "data" / "memory.db").exists()  # nothing was started


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"SWARM_CALL_TIMEOUT_S": "soon"}, "SWARM_CALL_TIMEOUT_S='soon': expected a positive number"),
        ({"SWARM_TOOLSETS": "memry"}, "SWARM_TOOLSETS='memry': no tool group 'memry' (did you mean 'memory'?)"),
        ({"SWARM_HTTP_HOST": "0.0.0.0"}, "set SWARM_AUTH_TOKEN"),
        ({"SWARM_AUTH_TOKEN": "short"}, "SWARM_AUTH_TOKEN has 5 characters"),
    ],
)
async def test_a_bad_variable_or_token_is_one_line(tmp_path: Path, extra: dict[str, str], says: str) -> None:
    code, out, err = await run("up", env=env_for(tmp_path / "data", **extra))
    line = one_line(err)
    assert code == 2 and out == "" and says in line, line
    assert not (tmp_path / "data" / "memory.db").exists()


async def test_a_data_directory_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code, _, err = await run("up", env=env_for(blocker / "data"))
    line = one_line(err)
    assert code != 0 and "SWARM_DATA_DIR" in line, line


async def test_a_database_of_a_newer_server_is_one_line_and_left_as_it_is(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    conn = sqlite3.connect(data / "memory.db")
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    code, _, err = await run("up", env=env_for(data))
    line = one_line(err)
    assert code != 0 and "schema v99, newer than this server's" in line, line
    conn = sqlite3.connect(data / "memory.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 99
    conn.close()


async def test_start_service_on_a_taken_port_raises_cannot_listen(config: Config) -> None:
    with taken_port() as port:
        with pytest.raises(CannotListen) as caught:
            await start_service(build_telemetry(config), f"127.0.0.1:{port}")
    assert caught.value.address == f"127.0.0.1:{port}"


async def test_mcp_says_which_services_it_cannot_reach_and_keeps_answering(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    env = {k: v for k, v in env_for(tmp_path / "data").items() if not k.endswith("_SERVICE_ADDR")}
    proc = await asyncio.create_subprocess_exec(
        SWARM,
        "mcp",
        env={**env, "MEMORY_SERVICE_ADDR": f"127.0.0.1:{port}", "SWARM_CALL_TIMEOUT_S": "1"},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdin and proc.stdout and proc.stderr
    try:
        said = ""
        while "MEMORY_SERVICE_ADDR" not in said:  # the start-up line, within the health check's bound
            said = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
            assert said, "swarm mcp exited"
        assert f"the memory service at 127.0.0.1:{port} (MEMORY_SERVICE_ADDR) does not answer" in said, said
        proc.stdin.write(encode(rpc("tools/list", {}, 1, modern=True)) + b"\n")
        proc.stdin.write(encode(tool_call("memory_get", {"namespace": "n", "key": "k"}, 2, modern=True)) + b"\n")
        await proc.stdin.drain()
        answers = {}
        while len(answers) < 2:
            message = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
            answers[message.get("id")] = message
        assert len(answers[1]["result"]["tools"]) >= 20
        failed = answers[2]["result"]
        assert failed["isError"] and "memory service" in failed["content"][0]["text"]
        assert "unavailable" in failed["content"][0]["text"]
    finally:
        proc.stdin.close()
        await asyncio.wait_for(proc.wait(), 30)


async def test_version() -> None:
    code, out, _ = await run("--version", env=dict(os.environ))
    assert code == 0 and out.strip() == f"swarm {VERSION}"


async def test_status_of_nothing_running_says_so(tmp_path: Path) -> None:
    code, out, _ = await run("status", env=env_for(tmp_path))
    assert code == 1 and "NOT healthy" in out and "UNREACHABLE" in out and "MEMORY_SERVICE_ADDR" in out, out


async def test_status_of_a_running_stack(tmp_path: Path) -> None:
    env = env_for(tmp_path / "data")
    proc = await asyncio.create_subprocess_exec(SWARM, "up", env=env, stderr=asyncio.subprocess.PIPE)
    assert proc.stderr is not None
    try:
        while b"MCP at" not in (line := await asyncio.wait_for(proc.stderr.readline(), 30)):
            assert line, "swarm up exited during start-up"
        code, out, _ = await run("status", "--json", env=env)
        status = json.loads(out)
        assert code == 0 and status["healthy"], out
        assert status["services"]["memory"]["address"] == env["MEMORY_SERVICE_ADDR"]
        assert status["data"]["data_dir"] == str(tmp_path / "data")
        code, out, _ = await run("status", env=env)
        assert code == 0 and out.startswith(f"swarm {VERSION}: healthy"), out
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.communicate(), 30)


async def test_solve_on_a_file_that_is_not_an_orlib_instance(tmp_path: Path) -> None:
    code, out, err = await run("solve", str(ROOT / "README.md"), env=dict(os.environ))
    assert code == 2 and out == ""
    assert "not an OR-Library GAP file" in one_line(err)
    plain = tmp_path / "notes.txt"
    plain.write_text("# notes\n1 2 3\n")
    code, _, err = await run("solve", str(plain), env=dict(os.environ))
    assert code == 2 and "not an OR-Library GAP file" in one_line(err)


async def spawn_mcp(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        SWARM,
        "mcp",
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_mcp_answers_a_call_sent_with_its_launch(tmp_path: Path) -> None:
    """The services start behind the first answers: a call that comes before they serve waits for them."""
    env = {k: v for k, v in env_for(tmp_path / "data").items() if not k.endswith("_SERVICE_ADDR")}
    proc = await spawn_mcp(env)
    assert proc.stdin and proc.stdout
    try:
        store = tool_call("memory_store", {"namespace": "n", "key": "k", "value": [1]}, 2, modern=True)
        get = tool_call("memory_get", {"namespace": "n", "key": "k"}, 3, modern=True)
        answers = {}
        for batch in ((rpc("tools/list", {}, 1, modern=True), store), (get,)):  # the get once the store answered
            for body in batch:
                proc.stdin.write(encode(body) + b"\n")
            await proc.stdin.drain()
            for _ in batch:
                message = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
                answers[message.get("id")] = message["result"]
        assert not answers[2].get("isError") and not answers[3].get("isError"), answers
        assert answers[3]["structuredContent"]["value"] == [1]
    finally:
        proc.stdin.close()
        assert await asyncio.wait_for(proc.wait(), 30) == 0


async def test_mcp_whose_service_cannot_start_says_so_and_answers_why(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "memory.db").write_bytes(os.urandom(4096))  # not a database
    env = {k: v for k, v in env_for(data).items() if not k.endswith("_SERVICE_ADDR")}
    proc = await spawn_mcp({**env, "SWARM_LOG_LEVEL": "WARNING"})
    assert proc.stdin and proc.stderr and proc.stdout
    try:
        line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
        assert line.startswith("swarm mcp: the memory service could not start: ") and "memory.db" in line, line
        proc.stdin.write(encode(tool_call("memory_get", {"namespace": "n", "key": "k"}, 1, modern=True)) + b"\n")
        await proc.stdin.drain()
        answer = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))["result"]
        assert answer["isError"] and "the memory service could not start" in answer["content"][0]["text"]
    finally:
        proc.stdin.close()
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    assert "Traceback" not in (await proc.stderr.read()).decode()
