"""``swarm status``: the health of a running stack (the services at ``<NAME>_SERVICE_ADDR``, where ``swarm up``
and docker-compose put them), as the ``swarm_status`` tool answers it; exit 0 when every service is serving."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from common.config import Config, addr_var


async def _gather(config: Config) -> dict[str, Any]:
    from gateway.backends import Backends
    from gateway.tools.status import gather

    backends = Backends(config)
    try:
        return await gather(backends)
    finally:
        await backends.close()


def render(status: dict[str, Any]) -> str:
    """The answer for a person: one line per service, then where the data is."""
    verdict = "healthy" if status["healthy"] else "NOT healthy"
    lines = [f"swarm {status['version']}: {verdict}"]
    for name, s in status["services"].items():
        detail = (
            f"version {s.get('version')}, up {s.get('uptime_s')} s"
            if s.get("status") == "SERVING"
            else f"{s.get('error', '')} ({addr_var(name)})"
        )
        lines.append(f"  {name:<11} {s.get('status', '?'):<12} {s.get('address', ''):<22} {detail}")
    data = status.get("data")
    if data and "error" not in data:
        lines.append(f"  data in {data['data_dir']}: {data['entries']} entries in {data['namespaces']} namespace(s)")
    elif data:
        lines.append(f"  data: {data['error']}")
    return "\n".join(lines)


def cmd_status(config: Config, *, as_json: bool = False) -> int:
    status = asyncio.run(_gather(config))
    print(json.dumps(status, indent=1) if as_json else render(status), file=sys.stdout, flush=True)
    return 0 if status["healthy"] else 1
