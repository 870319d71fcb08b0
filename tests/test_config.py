"""Configuration from the environment: defaults, parsing, and a clear error naming each bad variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.config import Config, ConfigError, default_data_dir


def test_defaults() -> None:
    c = Config.from_env({})
    assert c.addr("memory") == "127.0.0.1:50053" and c.addr("assignment") == "127.0.0.1:50051"
    assert c.http_host == "127.0.0.1" and c.http_port == 8080
    assert c.data_dir == default_data_dir() and c.data_dir.is_absolute()
    assert c.external_services == frozenset()


def test_overrides() -> None:
    c = Config.from_env({"MEMORY_SERVICE_ADDR": "db:6000", "SWARM_HTTP_PORT": "9000", "SWARM_DATA_DIR": "/srv/x"})
    assert c.addr("memory") == "db:6000" and c.external_services == {"memory"}
    assert c.http_port == 9000 and c.data_dir == Path("/srv/x")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SWARM_HTTP_PORT": "http"}, "SWARM_HTTP_PORT='http': expected a port number"),
        ({"SWARM_HTTP_PORT": "70000"}, "expected a port number"),
        ({"MEMORY_SERVICE_ADDR": "nohost"}, "MEMORY_SERVICE_ADDR='nohost': expected host:port"),
        ({"SWARM_DATA_DIR": "relative/dir"}, "expected an absolute path"),
        ({"SWARM_CALL_TIMEOUT_S": "-1"}, "expected a positive number"),
        ({"SWARM_CALL_TIMEOUT_S": "nan"}, "expected a positive number"),
        ({"SWARM_LOG_LEVEL": "LOUD"}, "expected one of"),
        ({"SWARM_MAX_VALUE_BYTES": "1.5"}, "expected a positive whole number"),
    ],
)
def test_bad_values_fail_fast(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        Config.from_env(env)


async def test_the_sdk_span_middleware_runs_only_when_asked_for(tmp_path: Path) -> None:
    from mcp.server._otel import OpenTelemetryMiddleware

    from gateway.backends import Backends
    from gateway.server import build_mcp

    for value, expected in (("", False), ("off", False), ("on", True)):
        config = Config.from_env({"SWARM_DATA_DIR": str(tmp_path), "SWARM_OTEL_SPANS": value})
        assert config.otel_spans is expected
        backends = Backends(config)
        try:
            mcp = build_mcp(backends, otel_spans=config.otel_spans)
            assert any(isinstance(m, OpenTelemetryMiddleware) for m in mcp.middleware) is expected
            assert mcp.middleware, "our own tool recorder stays either way"
        finally:
            await backends.close()


def test_database_url_selects_postgresql_and_a_bad_one_fails_fast_without_its_password() -> None:
    assert Config.from_env({}).database_url is None
    url = "postgresql://swarm:s3cret@db:5432/swarm"
    assert Config.from_env({"SWARM_DATABASE_URL": f" {url} "}).database_url == url
    for bad in ("mysql://swarm:s3cret@db/swarm", "s3cret", "postgresql://"):
        with pytest.raises(ConfigError, match=r"SWARM_DATABASE_URL=.*expected postgresql://") as info:
            Config.from_env({"SWARM_DATABASE_URL": bad})
        assert "s3cret" not in str(info.value)
