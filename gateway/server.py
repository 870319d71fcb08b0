"""The MCP tool surface: each tool validates its input, makes one backend call (rarely two) over gRPC,
and answers either the real result or a clear error. Nothing is invented."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server import MCPServer
from mcp.server._otel import OpenTelemetryMiddleware

from common.recorder import Recorder, default_recorder
from common.version import VERSION
from gateway.arguments import strict_tools
from gateway.backends import Backends
from gateway.dashboard import routes as dashboard
from gateway.tools import assignment, consensus, leases, memory, messages, metrics, status, tasks
from gateway.toolsets import keep_toolsets

INSTRUCTIONS = (
    "Swarm server for a team of agents. Shared memory: JSON values under namespace/key with tags, TTL and "
    "versions. Agents register skills and capacity. task_submit queues work that is placed by itself; workers take "
    "it with task_next and end it with task_report. task_assign only answers who should do what. lease_acquire "
    "claims files or names before changing them (fencing tokens)."
)


def build_mcp(
    backends: Backends,
    *,
    started_at: float | None = None,
    recorder: Recorder | None = None,
    flush: Callable[[], Awaitable[Any]] | None = None,
    otel_spans: bool = False,
) -> MCPServer:
    """The gateway's MCP server, its tools bound to ``backends``; tool calls are recorded into ``recorder``
    (default: this process's), and ``flush`` pushes pending records before swarm_metrics reads them. Only the
    tools of the configured groups (SWARM_TOOLSETS) are served, each strict about its arguments
    (gateway/arguments.py)."""
    # subscriptions=False: no resources.subscribe / listChanged is advertised, in initialize or server/discover,
    # because none would be kept: an entry changes through other gateways, gRPC clients, TTL expiry and restores
    # that this process never sees, and the tool and resource lists never change while it runs.
    mcp = MCPServer("swarm", version=VERSION, instructions=INSTRUCTIONS, subscriptions=False)
    if not otel_spans:  # the SDK's span per message costs CPU even with no exporter installed
        mcp.middleware[:] = [m for m in mcp.middleware if not isinstance(m, OpenTelemetryMiddleware)]
    recorder = recorder if recorder is not None else default_recorder()
    metrics.register(mcp, backends, recorder, flush)
    memory.register(mcp, backends)
    assignment.register(mcp, backends)
    tasks.register(mcp, backends)
    messages.register(mcp, backends)
    leases.register(mcp, backends)
    consensus.register(mcp, backends)
    status.register(mcp, backends, started_at or time.time())
    dashboard.register(mcp, backends)  # the page at / and its JSON (HTTP only; gateway/dashboard)
    served = keep_toolsets(mcp, backends.config.toolsets)
    strict_tools(mcp)
    mcp.middleware.append(metrics.ToolRecorder(recorder, served))
    return mcp
