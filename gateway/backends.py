"""The gateway's view of the backend services: pooled channels, deadlines, retries, clear errors."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.channels import CallFailed, ChannelPool, call
from common.config import Config
from common.errors import CALLER_CODES
from common.readiness import Readiness
from gateway.coalesce import GetCoalescer
from gateway.errors import BackendError
from swarm.assignment.v1 import assignment_pb2_grpc
from swarm.consensus.v1 import consensus_pb2_grpc
from swarm.memory.v1 import memory_pb2_grpc, messages_pb2_grpc, work_pb2_grpc
from swarm.telemetry.v1 import telemetry_pb2_grpc

STUBS = {
    "memory": memory_pb2_grpc.MemoryServiceStub,
    "assignment": assignment_pb2_grpc.AssignmentServiceStub,
    "consensus": consensus_pb2_grpc.ConsensusServiceStub,
    "telemetry": telemetry_pb2_grpc.TelemetryServiceStub,
}


@dataclass
class Backend:
    name: str
    address: str
    stub: Any
    health: health_pb2_grpc.HealthStub


class Backends:
    """Typed stubs for every backend the gateway knows, on one long-lived channel per address.

    A tool calls ``await backends.call(backends.memory.Put, request)``: the RPC is named by its stub
    method, and the failure message names the backend that method belongs to."""

    memory: memory_pb2_grpc.MemoryServiceStub
    assignment: assignment_pb2_grpc.AssignmentServiceStub
    consensus: consensus_pb2_grpc.ConsensusServiceStub
    telemetry: telemetry_pb2_grpc.TelemetryServiceStub
    work: work_pb2_grpc.WorkQueueServiceStub  # the work queue, served by the memory service
    messages: messages_pb2_grpc.MessageServiceStub  # messages between agents, served by the memory service

    def __init__(
        self,
        config: Config,
        addresses: dict[str, str] | None = None,
        pool: ChannelPool | None = None,
        readiness: Readiness | None = None,
    ):
        self.config = config
        # the embedded services may still be starting (swarm mcp): calls wait for them, within their deadline
        self._readiness = readiness
        self.pool = pool or ChannelPool(config.tls)
        self._backends: dict[str, Backend] = {}
        self._owners: dict[int, Backend] = {}  # id of each stub method -> the backend it calls
        for name, stub_cls in STUBS.items():
            addr = (addresses or {}).get(name) or config.addr(name)
            channel = self.pool.get(addr)
            backend = Backend(name, addr, stub_cls(channel), health_pb2_grpc.HealthStub(channel))
            self._backends[name] = backend
            setattr(self, name, backend.stub)
            for rpc in vars(backend.stub).values():
                self._owners[id(rpc)] = backend
        memory = self._backends["memory"]
        self.work = work_pb2_grpc.WorkQueueServiceStub(self.pool.get(memory.address))
        self.messages = messages_pb2_grpc.MessageServiceStub(self.pool.get(memory.address))
        for stub in (self.work, self.messages):
            for rpc in vars(stub).values():
                self._owners[id(rpc)] = memory
        # memory reads made in the same event-loop turn share one BatchGet (gateway/coalesce.py)
        self.memory_reads = GetCoalescer(self.call, self.memory)

    def __getitem__(self, name: str) -> Backend:
        return self._backends[name]

    def names(self) -> list[str]:
        return list(self._backends)

    async def call(self, rpc: Any, request: Any, *, retry: bool = True, timeout: float | None = None) -> Any:
        """Call one stub method (``backends.memory.Put``) with ``request`` within ``timeout`` (default: the
        configured deadline); raise a BackendError that says what went wrong and carries the gRPC code.
        ``retry`` is only for reads and for writes carrying a request id."""
        backend = self._owners[id(rpc)]
        timeout = self.config.call_timeout_s if timeout is None else timeout
        if self._readiness is not None:  # the wait counts against the call's deadline
            waited = time.monotonic()
            await self._started(backend, timeout)
            timeout = max(0.05, timeout - (time.monotonic() - waited))
        try:
            return await call(
                rpc,
                request,
                timeout=timeout,
                retry=retry,
                attempts=self.config.retry_attempts,
            )
        except CallFailed as exc:
            raise BackendError(describe_failure(backend, exc), exc.code) from None

    async def health(self, service: str, timeout: float = 1.0) -> dict[str, Any]:
        """Health, version and uptime of one backend, from the standard health check."""
        backend = self._backends[service]
        start = time.perf_counter()
        if self._readiness is not None:
            try:
                await self._started(backend, timeout)
            except BackendError as exc:
                return {"address": backend.address, "status": "STARTING", "error": str(exc)}
        try:
            rpc = backend.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
            response = await rpc
            metadata = dict(await rpc.initial_metadata() or ())
        except grpc.aio.AioRpcError as exc:
            return {
                "address": backend.address,
                "status": "UNREACHABLE" if exc.code() == grpc.StatusCode.UNAVAILABLE else exc.code().name,
                "error": exc.details() or exc.code().name,
            }
        started = float(metadata.get("x-swarm-started-at", "0") or 0)
        return {
            "address": backend.address,
            "status": health_pb2.HealthCheckResponse.ServingStatus.Name(response.status),
            "version": metadata.get("x-swarm-version", "unknown"),
            "uptime_s": round(time.time() - started, 1) if started else None,
            "latency_ms": round((time.perf_counter() - start) * 1e3, 2),
        }

    async def _started(self, backend: Backend, timeout: float) -> None:
        """Wait (at most ``timeout``) for the embedded services to serve; a BackendError if they do not."""
        readiness = self._readiness
        if readiness is None:
            return
        if not await readiness.wait(timeout):
            raise BackendError(
                f"the {backend.name} service is still starting (after {timeout:g} s); retry in a moment",
                grpc.StatusCode.UNAVAILABLE,
            )
        if readiness.failure is not None:
            raise BackendError(readiness.failure, grpc.StatusCode.UNAVAILABLE)
        self._readiness = None  # started: no more waiting

    async def close(self) -> None:
        await self.pool.close()


def describe_failure(backend: Backend, exc: CallFailed) -> str:
    if exc.code in CALLER_CODES:
        return exc.details
    where = f"the {backend.name} service at {backend.address}"
    if exc.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):  # CANCELLED: it is shutting down
        return (
            f"{where} is unavailable ({exc.details or 'no connection'}); tried {exc.attempts} time(s) over "
            f"{exc.elapsed:.1f} s; check that the service is running, then retry"
        )
    if exc.code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"{where} did not answer within the deadline ({exc.elapsed:.1f} s); retry later"
    return f"{where} failed: {exc.code.name}: {exc.details}"
