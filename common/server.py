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


class CannotListen(OSError):
    """A service's server could not bind its address (in use, or not an address of this machine)."""

    def __init__(self, service: str, address: str) -> None:
        super().__init__(f"{service}: cannot listen on {address} (address in use or not local?)")
        self.service = service
        self.address = address


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


@dataclass
class BoundService:
    """A service's gRPC server bound to its address, not serving yet: the address is known (port 0 has picked
    one), so callers can be wired to it before the service itself is built (``swarm mcp`` answers its client
    while its services start). ``start`` serves a service's parts there; ``close`` gives the address back."""

    name: str
    server: aio.Server
    interceptor: ServerInterceptor
    port: int
    address: str
    tls: bool
    placeholder: inprocess.LocalServer | None = None

    async def start(self, parts: ServiceParts, in_process: bool = False) -> RunningService:
        """Register ``parts``, health and reflection, start serving and mark it SERVING."""
        recording = _RecordingServer(self.server)
        names = list(parts.register(recording))  # type: ignore[arg-type]
        health = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health, self.server)
        reflection.enable_server_reflection(
            [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
            self.server,
        )
        await self.server.start()
        for name in ("", *names):
            await health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("%s serving gRPC%s on %s", parts.name, " over TLS" if self.tls else "", self.address)
        local = None
        if in_process or self.placeholder is not None:
            handlers = {method: self.interceptor.wrap(method, h) for method, h in recording.handlers.items()}
            local = inprocess.LocalServer(parts.name, handlers, MAX_MESSAGE_BYTES)
            inprocess.register(self.address, local)  # replaces the placeholder
            self.placeholder = None
        return RunningService(parts.name, self.server, self.port, self.address, health, parts, local)

    async def close(self) -> None:
        """Give the address back without ever serving (a start that failed or was called off)."""
        if self.placeholder is not None:
            inprocess.unregister(self.address, self.placeholder)
            self.placeholder = None
        await self.server.stop(None)


async def bind_service(
    name: str,
    listen: str,
    version: str = VERSION,
    recorder: Recorder | None = None,
    tls: TlsConfig = PLAINTEXT,
    in_process: bool = False,
) -> BoundService:
    """The gRPC server of service ``name``, bound to ``listen`` (host:port; port 0 picks a free one); raises
    CannotListen. Every unary call will be recorded into ``recorder`` (default: this process's). With
    ``in_process``, channels this process opens to the address from now on call the service directly once it
    has started (services/common/inprocess.py)."""
    identity = {"service": name, "version": version, "started-at": f"{time.time():.3f}"}
    interceptor = ServerInterceptor(identity, recorder if recorder is not None else default_recorder())
    server = aio.server(interceptors=[interceptor], options=SERVER_OPTIONS)
    creds = tls.server_credentials()
    try:
        port = server.add_insecure_port(listen) if creds is None else server.add_secure_port(listen, creds)
    except RuntimeError:  # grpc: "Failed to bind to address ..."
        port = 0
    if port == 0:
        await server.stop(None)  # never started: stopped now, it leaves nothing for the closing loop
        raise CannotListen(name, listen)
    address = f"{listen.rpartition(':')[0]}:{port}"
    bound = BoundService(name, server, interceptor, port, address, creds is not None)
    if in_process:  # a channel opened before the start is an in-process one too (it looks the server up per call)
        bound.placeholder = inprocess.LocalServer(name, {}, MAX_MESSAGE_BYTES)
        inprocess.register(address, bound.placeholder)
    return bound


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
    try:
        bound = await bind_service(parts.name, listen, version, recorder, tls)
    except CannotListen:
        if parts.close is not None:
            await parts.close()
        raise
    try:
        return await bound.start(parts, in_process)
    except BaseException:
        await bound.close()
        raise


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
