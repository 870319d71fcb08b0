"""gRPC servicer for swarm.telemetry.v1: batches in, summaries out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from grpc import aio

from common.errors import InvalidArgument
from services.telemetry.aggregator import Aggregator, ProcessInfo, SummaryResult
from swarm.telemetry.v1 import telemetry_pb2 as pb
from swarm.telemetry.v1 import telemetry_pb2_grpc

KINDS = ("", "rpc", "tool")


def summary_pb(s: SummaryResult) -> pb.Summary:
    return pb.Summary(
        window_s=s.window_s,
        generated_at=s.generated_at,
        methods=[
            pb.MethodStats(
                process=m.process,
                kind=m.kind,
                name=m.name,
                count=m.count,
                errors=m.errors,
                rate_per_s=m.rate_per_s,
                p50_ms=m.p50_ms,
                p95_ms=m.p95_ms,
                p99_ms=m.p99_ms,
                mean_ms=m.mean_ms,
                max_ms=m.max_ms,
                total=m.total,
                total_errors=m.total_errors,
                codes=m.codes,
                sampled=m.sampled,
            )
            for m in s.methods
        ],
        processes=[
            pb.ProcessSample(
                process=p.process,
                pid=p.pid,
                cpu_percent=p.cpu_percent,
                rss_bytes=p.rss_bytes,
                pss_bytes=p.pss_bytes,
                connections=p.connections,
                uptime_s=p.uptime_s,
                at=p.at,
            )
            for p in s.processes
        ],
        dropped_batches=s.dropped_batches,
        dropped_records=s.dropped_records,
    )


def check_request(r: pb.SummaryRequest) -> None:
    if r.kind not in KINDS:
        raise InvalidArgument(f"kind {r.kind!r} is not one of 'rpc', 'tool' (or empty for both)")
    if not 0 <= r.window_s <= 3600:
        raise InvalidArgument(f"window_s={r.window_s}: give 1-3600 seconds (0 means 60)")


class TelemetryServicer(telemetry_pb2_grpc.TelemetryServiceServicer):
    def __init__(self, aggregator: Aggregator) -> None:
        self.agg = aggregator

    async def Report(
        self, request_iterator: AsyncIterator[pb.ReportBatch], context: aio.ServicerContext
    ) -> pb.ReportAck:
        batches = records = 0
        async for batch in request_iterator:
            s = batch.sample
            sample = (
                ProcessInfo(s.process, s.pid, s.cpu_percent, s.rss_bytes, s.pss_bytes, s.connections, s.uptime_s, s.at)
                if batch.HasField("sample")
                else None
            )
            calls = [(c.kind, c.name, c.code, c.latency_ms, c.at) for c in batch.calls]
            self.agg.ingest(batch.process, calls, sample, batch.dropped_batches, batch.dropped_records)
            batches += 1
            records += len(calls)
        return pb.ReportAck(batches=batches, records=records)

    async def GetSummary(self, request: pb.SummaryRequest, context: aio.ServicerContext) -> pb.Summary:
        check_request(request)
        return summary_pb(self.agg.summary(request.window_s, request.kind, request.name_contains, request.process))

    async def Watch(self, request: pb.WatchRequest, context: aio.ServicerContext) -> AsyncIterator[pb.Summary]:
        check_request(request.summary)
        interval = request.interval_s or 1.0
        if not 0.1 <= interval <= 3600:
            raise InvalidArgument(f"interval_s={interval}: give 0.1-3600 seconds (0 means 1)")
        r = request.summary
        while True:
            yield summary_pb(self.agg.summary(r.window_s, r.kind, r.name_contains, r.process))
            await asyncio.sleep(interval)
