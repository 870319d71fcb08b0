"""swarm_metrics, the swarm://metrics resource, GET /metrics (Prometheus), and the tool-call recorder."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from common.logging import request_id_var
from common.recorder import Recorder
from gateway.backends import Backends
from gateway.tools.common import new_request_id
from swarm.telemetry.v1 import telemetry_pb2 as tpb

log = logging.getLogger("swarm.gateway")


UNKNOWN_TOOL = "(unknown)"  # the one series every call of a tool this server does not have counts under


class ToolRecorder:
    """MCP middleware: every tools/call, including the ones refused for bad arguments, is recorded under its
    tool's name; a call naming no tool of ``tools`` under UNKNOWN_TOOL, so callers cannot mint series."""

    def __init__(self, recorder: Recorder, tools: frozenset[str]) -> None:
        self.recorder = recorder
        self.tools = tools

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "tools/call":
            return await call_next(ctx)
        given = ctx.params.get("name") if isinstance(ctx.params, dict) else None
        name = given if isinstance(given, str) and given in self.tools else UNKNOWN_TOOL
        start = time.perf_counter()
        code = "OK"
        # the id that follows this call into every service it touches (gRPC metadata) and their logs: 32 random
        # hex digits, as uuid4().hex writes them, without building a UUID (~2 us of every call)
        token = request_id_var.set(os.urandom(16).hex())
        try:
            result = await call_next(ctx)
        except BaseException:
            code = "PROTOCOL_ERROR"
            raise
        else:
            if isinstance(result, CallToolResult) and result.is_error:
                code = "TOOL_ERROR"
            elif isinstance(result, dict) and result.get("isError") is True:
                code = "TOOL_ERROR"
            return result
        finally:
            elapsed_ms = (time.perf_counter() - start) * 1e3
            self.recorder.record("tool", name, code, elapsed_ms)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("tool %s %s %.2fms", name, code, elapsed_ms)
            request_id_var.reset(token)


def summary_dict(s: tpb.Summary) -> dict[str, Any]:
    return {
        "window_s": s.window_s,
        "methods": [
            {
                "process": m.process,
                "kind": m.kind,
                "name": m.name,
                "count": m.count,
                "errors": m.errors,
                "rate_per_s": round(m.rate_per_s, 3),
                "p50_ms": round(m.p50_ms, 3),
                "p95_ms": round(m.p95_ms, 3),
                "p99_ms": round(m.p99_ms, 3),
                "mean_ms": round(m.mean_ms, 3),
                "max_ms": round(m.max_ms, 3),
                "codes": dict(m.codes),
                "total": m.total,
                "sampled": m.sampled,
            }
            for m in s.methods
        ],
        "processes": [
            {
                "process": p.process,
                "pid": p.pid,
                "cpu_percent": round(p.cpu_percent, 1),
                "rss_mb": round(p.rss_bytes / 2**20, 1),
                "pss_mb": round(p.pss_bytes / 2**20, 1),
                "connections": p.connections,
                "uptime_s": round(p.uptime_s, 1),
            }
            for p in s.processes
        ],
        "dropped_batches": dict(s.dropped_batches),
        "dropped_records": dict(s.dropped_records),
    }


class _SummaryCollector:
    def __init__(self, summary: tpb.Summary | None, recorder: Recorder) -> None:
        self.summary = summary
        self.recorder = recorder

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        up = GaugeMetricFamily("swarm_telemetry_up", "1 when the telemetry service answered this scrape")
        up.add_metric([], 1.0 if self.summary is not None else 0.0)
        yield up
        local = CounterMetricFamily(
            "swarm_gateway_telemetry_dropped_records", "records this gateway process could not deliver"
        )
        local.add_metric([], float(self.recorder.dropped_records))
        yield local
        if self.summary is None:
            return
        labels = ["process", "kind", "name"]
        calls = CounterMetricFamily("swarm_calls", "calls since the telemetry service started", labels=labels)
        errors = CounterMetricFamily(
            "swarm_call_errors", "failed calls since the telemetry service started", labels=labels
        )
        rate = GaugeMetricFamily("swarm_call_rate_per_second", "calls per second over the window", labels=labels)
        latency = GaugeMetricFamily(
            "swarm_call_latency_ms", "latency percentiles over the window", labels=[*labels, "quantile"]
        )
        for m in self.summary.methods:
            key = [m.process, m.kind, m.name]
            calls.add_metric(key, float(m.total))
            errors.add_metric(key, float(m.total_errors))
            rate.add_metric(key, m.rate_per_s)
            for q, v in (("0.5", m.p50_ms), ("0.95", m.p95_ms), ("0.99", m.p99_ms)):
                latency.add_metric([*key, q], v)
        yield from (calls, errors, rate, latency)
        proc_labels = ["process", "pid"]
        gauges = {
            "cpu_percent": GaugeMetricFamily("swarm_process_cpu_percent", "CPU %", labels=proc_labels),
            "rss_bytes": GaugeMetricFamily("swarm_process_rss_bytes", "resident set size", labels=proc_labels),
            "pss_bytes": GaugeMetricFamily("swarm_process_pss_bytes", "proportional set size", labels=proc_labels),
            "connections": GaugeMetricFamily("swarm_process_connections", "open inet connections", labels=proc_labels),
            "uptime_s": GaugeMetricFamily("swarm_process_uptime_seconds", "uptime", labels=proc_labels),
        }
        for p in self.summary.processes:
            for attr, family in gauges.items():
                family.add_metric([p.process, str(p.pid)], float(getattr(p, attr)))
        yield from gauges.values()
        dropped = CounterMetricFamily("swarm_telemetry_dropped_batches", "batches lost per process", labels=["process"])
        for proc, n in self.summary.dropped_batches.items():
            dropped.add_metric([proc], float(n))
        yield dropped


def register(
    mcp: MCPServer,
    backends: Backends,
    recorder: Recorder,
    flush: Callable[[], Awaitable[Any]] | None = None,
) -> None:
    async def fetch(window_s: float, kind: str = "", name_contains: str = "", process: str = "") -> tpb.Summary:
        start = time.monotonic()
        if flush is not None:
            await flush()  # this process's pending records first, so the figures include the calls just made
        req = tpb.SummaryRequest(window_s=window_s, kind=kind, name_contains=name_contains, process=process)
        remaining = max(0.1, backends.config.call_timeout_s - (time.monotonic() - start))
        return await backends.call(backends.telemetry.GetSummary, req, timeout=remaining)

    @mcp.tool()
    async def swarm_metrics(
        window_s: Annotated[float, Field(ge=1, le=3600)] = 60.0,
        kind: Literal["", "tool", "rpc"] = "",
        name_contains: Annotated[str, Field(max_length=200)] = "",
        process: Annotated[str, Field(max_length=100)] = "",
    ) -> dict[str, Any]:
        """Calls, errors, rate and p50/p95/p99 per tool and per RPC over a window; CPU and memory per process."""
        new_request_id()
        return summary_dict(await fetch(window_s, kind, name_contains, process))

    @mcp.resource("swarm://metrics", mime_type="application/json", description="swarm_metrics over 60 s")
    async def metrics_resource() -> str:
        return json.dumps(summary_dict(await fetch(60.0)))

    @mcp.custom_route("/metrics", methods=["GET"], include_in_schema=False)
    async def prometheus(request: Request) -> Response:
        # imported by the first scrape, not at start-up (a stdio server, the common case, is never scraped)
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.exposition import CONTENT_TYPE_LATEST

        try:
            summary: tpb.Summary | None = await fetch(60.0)
        except ToolError:
            summary = None
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_SummaryCollector(summary, recorder))  # type: ignore[arg-type]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
