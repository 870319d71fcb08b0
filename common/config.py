"""Configuration, from environment variables only: parsed once, failing fast with a clear message."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from common.tls import TlsConfig, TlsConfigError
from common.toolsets import GROUPS
from common.version import VERSION

SERVICE_NAMES = ("assignment", "consensus", "memory", "telemetry")
DEFAULT_PORTS = {"assignment": 50051, "consensus": 50052, "memory": 50053, "telemetry": 50054}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """A configuration variable is malformed; the message names it and says what is expected."""


def addr_var(service: str) -> str:
    return f"{service.upper()}_SERVICE_ADDR"


def parse_addr(name: str, value: str) -> tuple[str, int]:
    host, sep, port_text = value.strip().rpartition(":")
    if not sep or not host:
        raise ConfigError(f"{name}={value!r}: expected host:port, e.g. 127.0.0.1:50053")
    port = _port(name, port_text)
    return host.strip("[]"), port


def _port(name: str, text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r}: expected a port number 0-65535") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"{name}={text!r}: expected a port number 0-65535")
    return port


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name)
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r}: expected a positive number") from None
    if not value > 0 or value != value or value == float("inf"):
        raise ConfigError(f"{name}={text!r}: expected a positive number")
    return value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r}: expected a positive whole number") from None
    if value <= 0:
        raise ConfigError(f"{name}={text!r}: expected a positive whole number")
    return value


def _on_off(env: Mapping[str, str], name: str, default: bool) -> bool:
    text = env.get(name, "").strip().lower()
    if not text:
        return default
    if text in ("on", "1", "true", "yes"):
        return True
    if text in ("off", "0", "false", "no"):
        return False
    raise ConfigError(f"{name}={text!r}: expected on or off")


def _csv(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in env.get(name, "").split(",") if part.strip())


def _toolsets(env: Mapping[str, str]) -> frozenset[str] | None:
    """SWARM_TOOLSETS: the tool groups to serve (comma-separated; empty or ``all``: every tool)."""
    text = env.get("SWARM_TOOLSETS", "")
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not names or "all" in names:
        return None
    for name in names:
        if name not in GROUPS:
            import difflib  # only a refusal needs it

            close = difflib.get_close_matches(name, list(GROUPS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"SWARM_TOOLSETS={text!r}: no tool group {name!r}{hint}; groups: {', '.join(GROUPS)}, or all"
            )
    return frozenset(names)


def _tls(env: Mapping[str, str]) -> TlsConfig:
    try:
        return TlsConfig.from_env(env)
    except TlsConfigError as exc:
        raise ConfigError(str(exc)) from None


def _database_url(env: Mapping[str, str]) -> str | None:
    """SWARM_DATABASE_URL: a PostgreSQL URL (postgresql://user:pass@host:5432/db); empty or unset: SQLite."""
    text = env.get("SWARM_DATABASE_URL", "").strip()
    if not text:
        return None
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in ("postgresql", "postgres") or not rest:
        shown = f"{scheme}://..." if sep else "a value that is not a URL"
        raise ConfigError(
            f"SWARM_DATABASE_URL={shown}: expected postgresql://user:password@host:5432/database "
            "(unset it to keep the data in SQLite in SWARM_DATA_DIR)"
        )
    return text


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("swarm-intelligence-server", appauthor=False)).resolve()


@dataclass(frozen=True)
class Config:
    data_dir: Path
    service_addrs: dict[str, str]
    # services whose address was set explicitly in the environment (i.e. run elsewhere)
    external_services: frozenset[str]
    listen_addr: str | None
    http_host: str
    http_port: int
    call_timeout_s: float
    retry_attempts: int
    shutdown_grace_s: float
    log_level: str
    max_value_bytes: int
    pheromone_half_life_s: float
    task_retention_s: float
    message_retention_s: float
    solver_workers: int
    auth_token: str | None
    allowed_hosts: tuple[str, ...]
    allowed_origins: tuple[str, ...]
    max_body_bytes: int
    tls: TlsConfig
    http_workers: int
    telemetry_enabled: bool
    otel_spans: bool
    in_process_calls: bool
    fast_path: bool = True  # SWARM_FAST_PATH: plain tools/call over HTTP on the gateway's lean path
    toolsets: frozenset[str] | None = None  # the tool groups served; None: every tool
    # SWARM_DATABASE_URL: memory keeps its data in this PostgreSQL database; None: SQLite in data_dir
    database_url: str | None = None
    version: str = field(default=VERSION)

    def addr(self, service: str) -> str:
        return self.service_addrs[service]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        addrs: dict[str, str] = {}
        external: set[str] = set()
        for service in SERVICE_NAMES:
            var = addr_var(service)
            value = env.get(var, "").strip()
            if value:
                parse_addr(var, value)
                external.add(service)
                addrs[service] = value
            else:
                addrs[service] = f"127.0.0.1:{DEFAULT_PORTS[service]}"
        listen = env.get("SWARM_LISTEN_ADDR", "").strip() or None
        if listen:
            parse_addr("SWARM_LISTEN_ADDR", listen)
        data_text = env.get("SWARM_DATA_DIR", "").strip()
        if data_text:
            data_dir = Path(data_text).expanduser()
            if not data_dir.is_absolute():
                raise ConfigError(f"SWARM_DATA_DIR={data_text!r}: expected an absolute path")
        else:
            data_dir = default_data_dir()
        log_level = env.get("SWARM_LOG_LEVEL", "INFO").strip().upper() or "INFO"
        if log_level not in LOG_LEVELS:
            raise ConfigError(f"SWARM_LOG_LEVEL={log_level!r}: expected one of {', '.join(LOG_LEVELS)}")
        return cls(
            data_dir=data_dir,
            service_addrs=addrs,
            external_services=frozenset(external),
            listen_addr=listen,
            http_host=env.get("SWARM_HTTP_HOST", "").strip() or "127.0.0.1",
            http_port=_port("SWARM_HTTP_PORT", env.get("SWARM_HTTP_PORT", "").strip() or "8080"),
            call_timeout_s=_positive_float(env, "SWARM_CALL_TIMEOUT_S", 5.0),
            retry_attempts=_positive_int(env, "SWARM_RETRY_ATTEMPTS", 5),
            shutdown_grace_s=_positive_float(env, "SWARM_SHUTDOWN_GRACE_S", 5.0),
            log_level=log_level,
            max_value_bytes=_positive_int(env, "SWARM_MAX_VALUE_BYTES", 1024 * 1024),
            pheromone_half_life_s=_positive_float(env, "SWARM_PHEROMONE_HALF_LIFE_S", 3600.0),
            task_retention_s=_positive_float(env, "SWARM_TASK_RETENTION_S", 7 * 86400.0),
            message_retention_s=_positive_float(env, "SWARM_MESSAGE_RETENTION_S", 30 * 86400.0),
            solver_workers=_positive_int(env, "SWARM_SOLVER_WORKERS", 2),
            auth_token=env.get("SWARM_AUTH_TOKEN", "").strip() or None,
            allowed_hosts=_csv(env, "SWARM_ALLOWED_HOSTS"),
            allowed_origins=_csv(env, "SWARM_ALLOWED_ORIGINS"),
            max_body_bytes=_positive_int(env, "SWARM_MAX_BODY_BYTES", 4 * 1024 * 1024),
            tls=_tls(env),
            http_workers=_positive_int(env, "SWARM_HTTP_WORKERS", 1),
            telemetry_enabled=_on_off(env, "SWARM_TELEMETRY", True),
            otel_spans=_on_off(env, "SWARM_OTEL_SPANS", False),
            in_process_calls=_on_off(env, "SWARM_IN_PROCESS_CALLS", True),
            toolsets=_toolsets(env),
            database_url=_database_url(env),
            fast_path=_on_off(env, "SWARM_FAST_PATH", True),
        )
