"""What a command can check before it starts anything: the addresses it will listen on are free and local, a
gateway reachable from other machines has its token, the data directory can be written. Each failure is a
``StartupError``: one line that names the variable and the fix (the CLI prints it and exits non-zero)."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Sequence
from pathlib import Path

from common.config import Config, addr_var
from common.errors import SwarmError


class StartupError(SwarmError):
    """The command cannot start; the message is one line naming the variable and the fix. ``exit_code``: 2 for
    a configuration refused as it stands, 1 for what the machine does not allow (a port in use, a read-only
    disk)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def listen_failure(what: str, address: str, variable: str, exc: OSError) -> StartupError:
    """The one line for an address ``what`` cannot listen on, set by ``variable``."""
    if exc.errno == errno.EADDRINUSE:
        reason, fix = "it is in use", f"stop what listens there or set {variable} to a free port"
    elif exc.errno == errno.EADDRNOTAVAIL:
        reason, fix = "it is not an address of this machine", f"set {variable} to a local address"
    elif exc.errno == errno.EACCES:
        reason, fix = "permission denied (ports below 1024 need privileges)", f"set {variable} to a port >= 1024"
    else:
        reason, fix = exc.strerror or str(exc), f"set {variable} to another address"
    return StartupError(f"{what} cannot listen on {address}: {reason}; {fix}")


def check_listen(what: str, host: str, port: int, variable: str) -> None:
    """Bind and release ``host:port`` as the real server will (SO_REUSEADDR), or raise StartupError. Port 0 and a
    name that does not resolve here are left to the server itself."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    failures: list[OSError] = []
    for family, kind, proto, _, sockaddr in infos:
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(sockaddr)
        except OSError as exc:
            failures.append(exc)
    in_use = [exc for exc in failures if exc.errno == errno.EADDRINUSE]
    # a name with several addresses (localhost: ::1 and 127.0.0.1) works while one of them can be bound
    if in_use or (failures and len(failures) == len(infos)):
        raise listen_failure(what, address, variable, (in_use or failures)[0])


def cannot_bind(name: str, address: str, variable: str) -> StartupError:
    """The one line for a service whose server could not bind ``address`` (gRPC does not say why)."""
    return StartupError(
        f"the {name} service cannot listen on {address}: it is in use or not an address of this machine; "
        f"stop what listens there or set {variable} to a free local address"
    )


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def check_services(config: Config, names: list[str], *, listen_var: str | None = None) -> None:
    """The gRPC addresses of the services ``names`` this process will run (each at its ``<NAME>_SERVICE_ADDR``,
    or at ``SWARM_LISTEN_ADDR`` when ``listen_var`` says so)."""
    for name in names:
        address = config.listen_addr if listen_var and config.listen_addr else config.addr(name)
        variable = listen_var if listen_var and config.listen_addr else addr_var(name)
        check_listen(f"the {name} service", *_split(address), variable)


def check_http(config: Config) -> None:
    """The gateway's HTTP address is free, and exposing it beyond this machine has a token."""
    from gateway.security import HttpSecurity, InsecureExposure

    try:
        HttpSecurity.from_config(config).check_exposure(config.http_host)
    except InsecureExposure as exc:
        raise StartupError(str(exc), exit_code=2) from None
    variable = "SWARM_HTTP_PORT" if config.http_port else "SWARM_HTTP_HOST"
    check_listen("the MCP HTTP endpoint", config.http_host, config.http_port, variable)


def check_data_dir(config: Config) -> None:
    """The data directory exists (or can be made) and can be written."""
    path = Path(config.data_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(
            f"SWARM_DATA_DIR={str(path)!r}: cannot create it ({exc.strerror}); set SWARM_DATA_DIR to a writable "
            "directory"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise StartupError(
            f"SWARM_DATA_DIR={str(path)!r} is not writable (read-only file system or permissions); set "
            "SWARM_DATA_DIR to a writable directory"
        )
    if config.database_url is None:
        from services.memory.sqlite.schema import check_stored

        try:
            check_stored(path)
        except SwarmError as exc:
            raise StartupError(f"SWARM_DATA_DIR={str(path)!r}: {exc}") from None


def check(config: Config, command: str, services: Sequence[str], service: str | None = None) -> None:
    """Everything ``swarm COMMAND`` can check before it starts: ``services`` are the ones ``swarm up`` runs,
    ``service`` the one ``swarm serve`` runs."""
    if command == "up":
        check_http(config)
        check_services(config, list(services))
        check_data_dir(config)
    elif command == "gateway":
        check_http(config)
    elif command == "serve" and service is not None:
        check_services(config, [service], listen_var="SWARM_LISTEN_ADDR")
        if service == "memory":
            check_data_dir(config)
    elif command == "mcp" and "memory" not in config.external_services:
        check_data_dir(config)  # its services listen on ephemeral ports: nothing to collide with
