"""Shared fixtures: real gRPC servers on port 0, real SQLite files in temp dirs, a real PostgreSQL server (one
throw-away cluster per session, a database per test), the SDK's own MCP client.

A test module marked ``pytestmark = pytest.mark.engines`` runs each of its tests that uses the memory (the
``memory_engine`` fixture, directly or through ``config``, ``memory_service``, ``storage``...) on both engines;
elsewhere ``memory_engine`` is SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from grpc import aio
from mcp.server import MCPServer

from bench.harness import postgres
from bench.harness.topology import free_port as free_port  # the tests' free ports are the harness's
from common.channels import CHANNEL_OPTIONS
from common.config import Config
from common.server import RunningService, start_service
from gateway.backends import Backends
from gateway.server import build_mcp
from services.assignment.service import build as build_assignment
from services.consensus.service import build as build_consensus
from services.memory.service import build as build_memory
from services.telemetry.service import build as build_telemetry
from swarm.memory.v1 import memory_pb2_grpc


class FakeClock:
    """A clock the test moves by hand (TTL expiry without sleeping)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


ENGINES = ["sqlite", "postgres"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "memory_engine" in metafunc.fixturenames and metafunc.definition.get_closest_marker("engines"):
        metafunc.parametrize("memory_engine", ENGINES, indirect=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[postgres.Cluster]:
    """One throw-away PostgreSQL server for the session; skips only when the server binaries are not installed
    (``make test`` installs them with scripts/install-postgres.sh)."""
    try:
        with postgres.cluster() as cluster:
            yield cluster
    except postgres.PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL: {exc}")


@pytest.fixture
def pg_url(pg_cluster: postgres.Cluster) -> str:
    """The URL of a new, empty database of the session's server."""
    return pg_cluster.database()


@pytest.fixture
def memory_engine(request: pytest.FixtureRequest) -> str:
    """The memory engine under test: SQLite unless the module parametrises it (indirect) over ENGINES."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def database_url(memory_engine: str, request: pytest.FixtureRequest) -> str | None:
    """SWARM_DATABASE_URL for the engine under test (None: SQLite)."""
    return request.getfixturevalue("pg_url") if memory_engine == "postgres" else None


def engine_env(database_url: str | None) -> dict[str, str]:
    """The environment that points the memory at the engine under test (nothing for SQLite)."""
    return {"SWARM_DATABASE_URL": database_url} if database_url else {}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def config(data_dir: Path, database_url: str | None) -> Config:
    env = {"SWARM_DATA_DIR": str(data_dir), "SWARM_CALL_TIMEOUT_S": "2"}
    if database_url:
        env["SWARM_DATABASE_URL"] = database_url
    return Config.from_env(env)


@pytest.fixture
async def memory_service(config: Config, data_dir: Path) -> AsyncIterator[RunningService]:
    service = await start_service(build_memory(config, data_dir=data_dir), "127.0.0.1:0")
    yield service
    await service.stop(grace=1)


@pytest.fixture
async def memory_stub(memory_service: RunningService) -> AsyncIterator[memory_pb2_grpc.MemoryServiceStub]:
    channel = aio.insecure_channel(memory_service.address, options=CHANNEL_OPTIONS)
    yield memory_pb2_grpc.MemoryServiceStub(channel)
    await channel.close()


@pytest.fixture
async def assignment_service(config: Config, memory_service: RunningService) -> AsyncIterator[RunningService]:
    service = await start_service(build_assignment(config, memory_addr=memory_service.address), "127.0.0.1:0")
    yield service
    await service.stop(grace=1)


@pytest.fixture
async def consensus_service(config: Config, memory_service: RunningService) -> AsyncIterator[RunningService]:
    service = await start_service(build_consensus(config, memory_addr=memory_service.address), "127.0.0.1:0")
    yield service
    await service.stop(grace=1)


@pytest.fixture
async def telemetry_service(config: Config) -> AsyncIterator[RunningService]:
    service = await start_service(build_telemetry(config), "127.0.0.1:0")
    yield service
    await service.stop(grace=1)


@pytest.fixture
async def backends(
    config: Config,
    memory_service: RunningService,
    assignment_service: RunningService,
    telemetry_service: RunningService,
    consensus_service: RunningService,
) -> AsyncIterator[Backends]:
    b = Backends(
        config,
        {
            "memory": memory_service.address,
            "assignment": assignment_service.address,
            "telemetry": telemetry_service.address,
            "consensus": consensus_service.address,
        },
    )
    yield b
    await b.close()


@pytest.fixture
def mcp_server(backends: Backends) -> MCPServer:
    """The gateway's MCP server; tests connect with ``async with Client(mcp_server)`` in the test body
    (the SDK client's task group must be entered and left in the same task)."""
    return build_mcp(backends)
