"""``swarm``: run the whole server, one service, the gateway, or MCP over stdio."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from services.common.config import SERVICE_NAMES, Config, ConfigError
from services.common.logging import configure_logging
from services.common.server import start_service, wait_for_signal
from services.launcher import BUILDERS, listen_addr, start_embedded, stop_all

log = logging.getLogger("swarm")


def _run(coro: object) -> None:
    try:
        import uvloop

        uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:  # pragma: no cover - platforms without uvloop
        asyncio.run(coro)  # type: ignore[arg-type]


async def cmd_up(config: Config) -> None:
    from gateway.backends import Backends
    from gateway.http import HttpGateway
    from gateway.server import build_mcp

    log.info("data directory: %s", config.data_dir)
    running = await start_embedded(config, stdio=False)
    backends = Backends(config, {name: svc.address for name, svc in running.items()})
    http = HttpGateway(build_mcp(backends), config.http_host, config.http_port)
    try:
        await http.start()
        print(f"swarm {config.version}: MCP at {http.url}  data in {config.data_dir}", file=sys.stderr, flush=True)
        await wait_for_signal()
        log.info("shutting down")
    finally:
        await http.stop()
        await backends.close()
        await stop_all(running, config.shutdown_grace_s)


async def cmd_mcp(config: Config) -> None:
    from gateway.backends import Backends
    from gateway.server import build_mcp

    running = await start_embedded(config, stdio=True)
    backends = Backends(config, {name: svc.address for name, svc in running.items()})
    try:
        await build_mcp(backends).run_stdio_async()
    finally:
        await backends.close()
        await stop_all(running, config.shutdown_grace_s)


async def cmd_serve(config: Config, name: str) -> None:
    listen = listen_addr(config, name)
    service = await start_service(BUILDERS[name](config, {}), listen, config.version)
    print(f"swarm {config.version}: {name} serving gRPC on {service.address}", file=sys.stderr, flush=True)
    try:
        await wait_for_signal()
    finally:
        await service.stop(config.shutdown_grace_s)


async def cmd_gateway(config: Config) -> None:
    from gateway.backends import Backends
    from gateway.http import HttpGateway
    from gateway.server import build_mcp

    backends = Backends(config)
    http = HttpGateway(build_mcp(backends), config.http_host, config.http_port)
    try:
        await http.start()
        print(f"swarm {config.version}: MCP at {http.url}", file=sys.stderr, flush=True)
        await wait_for_signal()
    finally:
        await http.stop()
        await backends.close()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="swarm", description="Swarm intelligence MCP server")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run every service and the HTTP gateway in one process (the default deployment)")
    sub.add_parser("mcp", help="serve MCP over stdio (embedded services unless <NAME>_SERVICE_ADDR is set)")
    serve = sub.add_parser("serve", help="run one gRPC service")
    serve.add_argument("service", choices=SERVICE_NAMES)
    sub.add_parser("gateway", help="run the HTTP gateway alone, against <NAME>_SERVICE_ADDR services")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"swarm: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    if args.command == "serve" and args.service not in BUILDERS:
        print(f"swarm: the {args.service} service is not implemented yet", file=sys.stderr)
        return 2
    try:
        if args.command == "up":
            _run(cmd_up(config))
        elif args.command == "mcp":
            _run(cmd_mcp(config))
        elif args.command == "serve":
            _run(cmd_serve(config, args.service))
        elif args.command == "gateway":
            _run(cmd_gateway(config))
    except OSError as exc:
        print(f"swarm: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
