"""``swarm``: the command line (parse, configure the process, run one command); the commands are in app/commands.py."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from common.memtune import pause_collector
from common.version import VERSION

if TYPE_CHECKING:
    from common.config import Config

log = logging.getLogger("swarm")
# Everything else is imported by ``main`` once the cyclic collector is paused (start-up allocates hundreds of
# thousands of objects that live as long as the process; collecting them as they come cost ~0.4 s of CPU in
# ``swarm mcp``'s start, the wait of every MCP client at each launch), and only for the command that needs it.


def _run(coro: object) -> None:
    try:
        import uvloop

        uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:  # pragma: no cover - platforms without uvloop
        asyncio.run(coro)  # type: ignore[arg-type]


def cmd_solve(args: argparse.Namespace) -> int:
    """Solve an OR-Library GAP file locally and print the answer (no service needed)."""
    import json

    from services.assignment import orlib, solver

    try:
        instances = orlib.load_orlib(args.file)
    except OSError as exc:
        print(f"swarm solve: {args.file}: cannot read it ({exc.strerror or exc})", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"swarm solve: {exc}", file=sys.stderr)
        return 2
    if not 1 <= args.problem <= len(instances):
        print(f"swarm solve: --problem {args.problem}: the file has problems 1-{len(instances)}", file=sys.stderr)
        return 2
    inst = instances[args.problem - 1]
    try:
        sol = solver.solve(
            inst.cost,
            inst.resource,
            inst.capacity,
            maximize=args.maximize,
            strategy=args.strategy,
            time_limit_ms=args.time_limit_ms,
            seed=args.seed,
        )
    except ValueError as exc:
        print(f"swarm solve: {exc}", file=sys.stderr)
        return 2
    answer = {
        "instance": inst.name,
        "agents": int(inst.cost.shape[0]),
        "tasks": int(inst.cost.shape[1]),
        "maximize": args.maximize,
        "assignment": [int(a) for a in sol.assignment],
        "objective": sol.objective,
        "bound": sol.bound,
        "gap": sol.gap,
        "optimal": sol.optimal,
        "algorithm": sol.algorithm,
        "elapsed_ms": round(sol.elapsed_ms, 3),
    }
    if args.json:
        print(json.dumps(answer))
    else:
        print(
            f"{inst.name}: objective {sol.objective:g}, bound {sol.bound:g}, gap {sol.gap:.4%}, "
            f"{sol.algorithm}, {sol.elapsed_ms:.1f} ms{' (optimal)' if sol.optimal else ''}"
        )
        print("agent of each task:", " ".join(str(int(a)) for a in sol.assignment))
    return 0


def parser() -> argparse.ArgumentParser:
    from common.config import SERVICE_NAMES

    p = argparse.ArgumentParser(prog="swarm", description="Swarm intelligence MCP server")
    p.add_argument("--version", action="version", version=f"swarm {VERSION}")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run every service and the HTTP gateway in one process (the default deployment)")
    up.add_argument(
        "--processes", action="store_true", help="one process per service plus the gateway, as docker-compose runs them"
    )
    sub.add_parser("mcp", help="serve MCP over stdio (embedded services unless <NAME>_SERVICE_ADDR is set)")
    serve = sub.add_parser("serve", help="run one gRPC service")
    serve.add_argument("service", choices=SERVICE_NAMES)
    sub.add_parser("gateway", help="run the HTTP gateway alone, against <NAME>_SERVICE_ADDR services")
    status = sub.add_parser("status", help="health of a running stack (the services at <NAME>_SERVICE_ADDR)")
    status.add_argument("--json", action="store_true", help="print swarm_status's JSON answer")
    solve = sub.add_parser("solve", help="solve a generalized assignment instance (OR-Library format) locally")
    solve.add_argument("file", help="an OR-Library GAP file (e.g. data/gap/gap1.txt)")
    solve.add_argument("--problem", type=int, default=1, help="which problem of the file, from 1 (default 1)")
    solve.add_argument("--time-limit-ms", type=float, default=1000.0)
    solve.add_argument("--strategy", default="auto", choices=["auto", "exact", "aco", "pso", "greedy"])
    solve.add_argument("--maximize", action="store_true", help="costs are profits (gap1-gap12)")
    solve.add_argument("--seed", type=int, default=None)
    solve.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def prepare_process(config: Config) -> None:
    """What every server process sets up once, before it starts anything."""
    from common.logging import configure_logging
    from common.memtune import limit_malloc_arenas
    from common.recorder import default_recorder

    configure_logging(config.log_level)
    limit_malloc_arenas()
    default_recorder().enabled = config.telemetry_enabled


def run_child(config: Config, name: str | None, ready: Callable[[], None]) -> int:
    """One child of ``swarm up --processes``: ``swarm serve NAME``, or ``swarm gateway`` for ``None``."""
    from app.commands import cmd_gateway, cmd_serve

    if name is None:
        return run_command(lambda: cmd_gateway(config, ready=ready))
    return run_command(lambda: cmd_serve(config, name, ready=ready))


def main(argv: list[str] | None = None) -> int:
    pause_collector()  # until the command has started (freeze_startup_objects), or for a short one, to its end
    args = parser().parse_args(argv)
    if args.command == "solve":
        return cmd_solve(args)
    from app import preflight
    from app.launcher import BUILDERS
    from common.config import Config, ConfigError

    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"swarm: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "status":
        from app.status import cmd_status

        return cmd_status(config, as_json=args.json)
    if args.command == "serve" and args.service not in BUILDERS:
        print(f"swarm: the {args.service} service is not implemented yet", file=sys.stderr)
        return 2
    try:
        preflight.check(config, args.command, list(BUILDERS), getattr(args, "service", None))
    except preflight.StartupError as exc:
        print(f"swarm: {exc}", file=sys.stderr)
        return exc.exit_code
    prepare_process(config)
    if args.command == "up" and args.processes:
        from app.supervisor import supervise

        return supervise(config, run_child)
    from app import commands

    if args.command == "up":
        return run_command(lambda: commands.cmd_up(config))
    if args.command == "mcp":
        return run_command(lambda: commands.cmd_mcp(config))
    if args.command == "serve":
        return run_command(lambda: commands.cmd_serve(config, args.service))
    return run_command(lambda: commands.cmd_gateway(config))


def run_command(command: Callable[[], Coroutine[Any, Any, None]]) -> int:
    """Run one long-lived command on uvloop; the exit code, with a one-line message for what stopped it."""
    from app import preflight
    from common.errors import SwarmError
    from gateway.security import InsecureExposure

    try:
        _run(command())
    except preflight.StartupError as exc:  # found once starting (e.g. a port taken since the checks)
        print(f"swarm: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"swarm: {exc}", file=sys.stderr)
        return 1
    except InsecureExposure as exc:  # a configuration we refuse to run
        print(f"swarm: {exc}", file=sys.stderr)
        return 2
    except SwarmError as exc:  # e.g. a data directory that cannot be written
        print(f"swarm: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
