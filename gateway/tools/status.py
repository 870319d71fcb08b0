"""swarm_status: health, version and uptime of every service; the swarm://status resource."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from common.version import VERSION
from gateway.backends import Backends
from gateway.tools.common import new_request_id
from swarm.memory.v1 import memory_pb2 as mpb


async def gather(backends: Backends, started: float | None = None) -> dict[str, Any]:
    """What swarm_status answers (also ``swarm status``): every backend's health, version, address and uptime,
    memory's data location and counts; the gateway's uptime when ``started`` is given."""
    names = backends.names()
    timeout = min(1.0, backends.config.call_timeout_s / 2)  # all checks at once: bounded by one timeout
    checks = await asyncio.gather(*(backends.health(name, timeout) for name in names))
    services = dict(zip(names, checks, strict=True))
    result: dict[str, Any] = {"version": VERSION}
    if started is not None:
        result["uptime_s"] = round(time.time() - started, 1)
    result["services"] = services
    if services.get("memory", {}).get("status") == "SERVING":
        try:
            s = await backends.call(backends.memory.Stats, mpb.StatsRequest(), retry=False)
        except ToolError as exc:
            result["data"] = {"error": str(exc)}
        else:
            result["data"] = {
                "data_dir": s.data_dir,
                "db_path": s.db_path,
                "entries": s.entries,
                "namespaces": s.namespaces,
                "db_size_bytes": s.db_size_bytes,
                "wal_size_bytes": s.wal_size_bytes,
                "schema_version": s.schema_version,
            }
    result["healthy"] = all(s.get("status") == "SERVING" for s in services.values())
    return result


def register(mcp: MCPServer, backends: Backends, started: float) -> None:
    @mcp.tool()
    async def swarm_status() -> dict[str, Any]:
        """Health, version, address and uptime of every service; data location and counts."""
        new_request_id()
        return await gather(backends, started)

    @mcp.resource("swarm://status", mime_type="application/json", description="swarm_status as a resource")
    async def status_resource() -> str:
        return json.dumps(await gather(backends, started))
