"""The one bootstrap for every gRPC service: server options, health, reflection, interceptors,
graceful shutdown (NOT_SERVING, drain, stop with grace)."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import grpc
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from common import inprocess
from common.interceptors import ServerInterceptor
from common.limits import MAX_MESSAGE_BYTES
from common.recorder import Recorder, default_recorder
from common.tls import PLAINTEXT, TlsConfig
from common.version import VERSION

log = logging.getLogger("swarm.server")

SERVER_OPTIONS: list[tuple[str, int]] = [
    ("grpc.so_reuseport", 0),  # one process per port unless deliberately scaled
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
]


@dataclass
class ServiceParts:
    """What a service contributes to the bootstrap."""

    name: str
    # registers the servicer(s) on the server and returns their full service names
    register: Callable[[aio.Server], Sequence[str]]
    close: Callable[[], Awaitable[None]] | None = None
    info: dict[str, str] = field(default_factory=dict)


@dataclass
class RunningService:
    name: str
    server: aio.Server
    port: int
    address: str
    health: HealthServicer
    parts: ServiceParts
    local: inprocess.LocalServer | None = None
    _stopped: bool = False

    async def stop(self, grace: float = 5.0) -> None:
        """Health to NOT_SERVING, refuse new calls, let in-flight ones finish within ``grace``, close."""
        if self._stopped:
            return
        self._stopped = True
        if self.local is not None:  # new in-process calls now go over the network, and are refused there
            inprocess.unregister(self.address, self.local)
        await self.health.enter_graceful_shutdown()
        if self.local is not None:
            await asyncio.gather(self.server.stop(grace), self.local.drain(grace))
        else:
            await self.server.stop(grace)
        if self.parts.close is not None:
            await self.parts.close()
        log.info("%s stopped", self.name)


async def start_service(
    parts: ServiceParts,
    listen: str,
    version: str = VERSION,
    recorder: Recorder | None = None,
    tls: TlsConfig = PLAINTEXT,
    in_process: bool = False,
) -> RunningService:
    """Start ``parts`` on ``listen`` (host:port; port 0 picks a free one) and mark it SERVING.

    Every unary call is recorded into ``recorder`` (default: this process's recorder). With ``in_process``,
    channels this process opens to the service's address call it directly (services/common/inprocess.py)."""
    identity = {"service": parts.name, "version": version, "started-at": f"{time.time():.3f}"}
    interceptor = ServerInterceptor(identity, recorder if recorder is not None else default_recorder())
    server = aio.server(interceptors=[interceptor], options=SERVER_OPTIONS)
    recording = _RecordingServer(server)
    names = list(parts.register(recording))  # type: ignore[arg-type]
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server
    )
    creds = tls.server_credentials()
    port = server.add_insecure_port(listen) if creds is None else server.add_secure_port(listen, creds)
    if port == 0:
        raise OSError(f"{parts.name}: cannot listen on {listen} (address in use or not local?)")
    await server.start()
    for name in ("", *names):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    host = listen.rpartition(":")[0]
    address = f"{host}:{port}"
    log.info("%s serving gRPC%s on %s", parts.name, " over TLS" if creds else "", address)
    local = None
    if in_process:
        handlers = {method: interceptor.wrap(method, h) for method, h in recording.handlers.items()}
        local = inprocess.LocalServer(parts.name, handlers, MAX_MESSAGE_BYTES)
        inprocess.register(address, local)
    return RunningService(parts.name, server, port, address, health, parts, local)


class _RecordingServer:
    """Passes a service's registration through to the server and keeps its unary handlers by method path."""

    def __init__(self, server: aio.Server) -> None:
        self._server = server
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}

    def add_registered_method_handlers(self, service: str, handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        self.handlers.update({f"/{service}/{m}": h for m, h in handlers.items() if h.unary_unary is not None})
        self._server.add_registered_method_handlers(service, handlers)

    def __getattr__(self, name: str) -> object:
        return getattr(self._server, name)


class SignalStop:
    """SIGTERM/SIGINT handlers installed at construction, before anything is started, so a signal that
    arrives during start-up still leads to a clean drain; ``wait`` returns once one arrived."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._loop.add_signal_handler(sig, self._event.set)

    async def wait(self) -> None:
        try:
            await self._event.wait()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._loop.remove_signal_handler(sig)
