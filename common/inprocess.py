"""Calls between the parts of one process without the loopback network.

``swarm up`` and ``swarm mcp`` run every service and the gateway in one process. Each service still listens
on its gRPC port for other systems, but a call from inside the process to a service started here needs no
HTTP/2 framing, no socket and no second trip through grpc's completion queue: a channel to such an address
(``common.channels.open_channel`` gives one) runs the service's handler directly, wrapped by the
same server interceptor (request id, access log, telemetry record, error mapping). Everything a caller sees
stays as over the network:

- request and response are serialised and parsed again, so neither side shares a mutable message with the
  other, and a message over the server's limit fails with RESOURCE_EXHAUSTED as gRPC would refuse it;
- a failure is a ``grpc.aio.AioRpcError`` with the code and details the service aborted with;
- the deadline (``timeout``) cancels the handler and fails with DEADLINE_EXCEEDED;
- cancelling the caller cancels the handler; a service that stops waits for in-flight calls up to its grace
  period, then cancels them (the caller gets UNAVAILABLE); closing the channel cancels its calls (CANCELLED).

The handler runs in the caller's task. Under load that matters more than the CPU saved: each task switch puts
a call at the back of the event loop's queue, behind every other ready callback.

Methods the service does not serve here (health, reflection, streaming), and every call once the service
has stopped, go over a real channel to the same address, opened on first use.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import grpc
from grpc import aio

PEER = "in-process"


class _Calls:
    """The callers' tasks running an in-process call now, so a stop or a close can cut them off."""

    def __init__(self) -> None:
        self.inflight: dict[asyncio.Task[Any], int] = {}
        self.idle = asyncio.Event()
        self.idle.set()

    def enter(self, task: asyncio.Task[Any]) -> None:
        self.inflight[task] = self.inflight.get(task, 0) + 1
        self.idle.clear()

    def leave(self, task: asyncio.Task[Any]) -> None:
        left = self.inflight.pop(task) - 1
        if left:
            self.inflight[task] = left
        elif not self.inflight:
            self.idle.set()

    def cut(self, code: grpc.StatusCode, details: str) -> None:
        """Cancel every call in flight; each caller gets that error instead (see :func:`_taken_back`)."""
        for task in self.inflight:
            if task not in _CUT:  # one cut at a time: a task in nested calls is cancelled once
                _CUT[task] = (self, code, details)
                task.cancel()


# tasks cancelled by a stop or a close: who cut them (a server's or a channel's calls), and the error for
# the call that is cut off; a task can be inside nested in-process calls (gateway -> assignment -> memory)
_CUT: dict[asyncio.Task[Any], tuple[_Calls, grpc.StatusCode, str]] = {}


def _taken_back(task: asyncio.Task[Any], mine: tuple[_Calls, ...]) -> aio.AioRpcError | None:
    """The error for a call of ``task`` made through ``mine`` (its server's and its channel's calls) if a
    stop or a close of those cut it off; its cancellation is then taken back, unless someone else cancelled
    the task too (the cancellation goes on). A cut of an outer call is left for that call: the cancellation
    goes up through this one, as it would through a handler cancelled by its own server."""
    entry = _CUT.get(task)
    if entry is None or entry[0] not in mine:
        return None
    del _CUT[task]
    task.uncancel()
    return None if task.cancelling() else _error(entry[1], entry[2])


class LocalServer:
    """The unary methods one started service serves in this process, each already wrapped by its interceptor."""

    def __init__(self, name: str, handlers: dict[str, grpc.RpcMethodHandler], max_message_bytes: int) -> None:
        self.name = name
        self.handlers = handlers
        self.max_message_bytes = max_message_bytes
        self.calls: Counter[str] = Counter()  # calls served in-process, by method
        self.running = _Calls()

    async def drain(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for the calls in flight, then cancel those still running: their callers
        get UNAVAILABLE, as a gRPC server's clients do when its grace is over. Waits at most ``grace`` more for
        the cancelled handlers to unwind (a gRPC server does not wait for them at all)."""
        for _ in range(2):
            if not self.running.inflight:
                return
            try:
                await asyncio.wait_for(self.running.idle.wait(), grace)
            except TimeoutError:
                self.running.cut(grpc.StatusCode.UNAVAILABLE, f"the {self.name} service stopped: call cancelled")


_SERVERS: dict[str, LocalServer] = {}


def register(address: str, server: LocalServer) -> None:
    _SERVERS[address] = server


def unregister(address: str, server: LocalServer) -> None:
    if _SERVERS.get(address) is server:
        del _SERVERS[address]


def served_here(address: str) -> bool:
    return address in _SERVERS


class LocalContext:
    """The part of ``grpc.aio.ServicerContext`` a servicer and the interceptor use, for an in-process call."""

    def __init__(self, metadata: Any, deadline: float | None) -> None:
        self._metadata = tuple(metadata or ())
        self._deadline = deadline
        self._code: grpc.StatusCode | None = None
        self._details: str | None = None
        self.initial_metadata: tuple[tuple[str, str], ...] = ()
        self.trailing: tuple[tuple[str, str], ...] = ()

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def time_remaining(self) -> float | None:
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> None:
        if code == grpc.StatusCode.OK:
            raise ValueError("abort with StatusCode.OK")
        self._code, self._details, self.trailing = code, details, tuple(trailing_metadata or ())
        raise aio.AbortError()

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str | None:
        return self._details

    async def send_initial_metadata(self, metadata: Any) -> None:
        self.initial_metadata = tuple(metadata)

    def set_trailing_metadata(self, metadata: Any) -> None:
        self.trailing = tuple(metadata)

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.trailing

    def peer(self) -> str:
        return PEER

    def cancelled(self) -> bool:
        return False

    def done(self) -> bool:
        return False


def _error(code: grpc.StatusCode, details: str, context: LocalContext | None = None) -> aio.AioRpcError:
    trailing = aio.Metadata(*context.trailing) if context is not None and context.trailing else aio.Metadata()
    return aio.AioRpcError(code, aio.Metadata(), trailing, details=details)


def _check_size(payload: bytes, direction: str, limit: int) -> None:
    if len(payload) > limit:
        raise _error(
            grpc.StatusCode.RESOURCE_EXHAUSTED, f"{direction} message larger than max ({len(payload)} vs. {limit})"
        )


class _LocalUnaryUnary:
    """What ``channel.unary_unary(method, ...)`` gives a stub: awaitable calls run by the local handler."""

    def __init__(
        self,
        channel: LocalChannel,
        method: str,
        request_serializer: Callable[[Any], bytes] | None,
        response_deserializer: Callable[[bytes], Any] | None,
        options: dict[str, Any],
    ) -> None:
        self._channel = channel
        self._method = method
        self._serialize = request_serializer or (lambda message: message)
        self._deserialize = response_deserializer or (lambda payload: payload)
        self._options = options
        self._remote: Any = None

    def _over_network(self) -> Any:
        if self._remote is None:
            self._remote = self._channel.remote().unary_unary(self._method, **self._options)
        return self._remote

    def __call__(self, request: Any, *, timeout: float | None = None, metadata: Any = None, **kwargs: Any) -> Any:
        if self._channel.closed:
            raise aio.UsageError("Channel is closed")
        server = _SERVERS.get(self._channel.target)
        if server is None or self._method not in server.handlers:
            return self._over_network()(request, timeout=timeout, metadata=metadata, **kwargs)
        return self._call(request, timeout, metadata, kwargs)

    async def _call(self, request: Any, timeout: float | None, metadata: Any, kwargs: dict[str, Any]) -> Any:
        # looked up again when the call runs: a stop may have come between the stub call and its await
        server = _SERVERS.get(self._channel.target)
        handler = server.handlers.get(self._method) if server is not None else None
        if server is None or handler is None or self._channel.closed:
            return await self._over_network()(request, timeout=timeout, metadata=metadata, **kwargs)
        task = asyncio.current_task()
        assert task is not None
        server.calls[self._method] += 1
        server.running.enter(task)
        self._channel.running.enter(task)
        try:
            # run in the caller's task: a new task would put the call twice at the back of a busy loop's queue
            return await self._run(server, handler, request, timeout, metadata)
        finally:
            server.running.leave(task)
            self._channel.running.leave(task)
            cut = _taken_back(task, (server.running, self._channel.running))
            if cut is not None:
                raise cut  # replaces the handler's answer or exception: the call was cut off

    async def _run(
        self, server: LocalServer, handler: grpc.RpcMethodHandler, request: Any, timeout: float | None, metadata: Any
    ) -> Any:
        if timeout is not None and timeout <= 0:
            raise _error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
        deadline = None if timeout is None else time.monotonic() + timeout
        payload = self._serialize(request)
        _check_size(payload, "Sent", server.max_message_bytes)
        context = LocalContext(metadata, deadline)
        try:
            async with asyncio.timeout(timeout):
                response = await handler.unary_unary(handler.request_deserializer(payload), context)
            out = handler.response_serializer(response)
        except TimeoutError:
            raise _error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded") from None
        except aio.AbortError:
            raise _error(context.code() or grpc.StatusCode.UNKNOWN, context.details() or "", context) from None
        except Exception as exc:  # the interceptor maps the handler's; this is (de)serialisation
            raise _error(grpc.StatusCode.UNKNOWN, f"Unexpected {type(exc)}: {exc}") from None
        if deadline is not None and time.monotonic() > deadline:  # ran past it without a pause to cancel at
            raise _error(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
        code = context.code()
        if code is not None and code != grpc.StatusCode.OK:
            raise _error(code, context.details() or "", context)
        _check_size(out, "Received", server.max_message_bytes)
        return self._deserialize(out)


class LocalChannel:
    """A channel to an address served in this process (see the module docstring); every other kind of call
    goes over a real channel to the same address, made by ``open_remote`` on first use."""

    def __init__(self, target: str, open_remote: Callable[[], aio.Channel]) -> None:
        self.target = target
        self._open_remote = open_remote
        self._remote: aio.Channel | None = None
        self.running = _Calls()
        self.closed = False

    def remote(self) -> aio.Channel:
        if self._remote is None:
            self._remote = self._open_remote()
        return self._remote

    def unary_unary(
        self,
        method: str,
        request_serializer: Callable[[Any], bytes] | None = None,
        response_deserializer: Callable[[bytes], Any] | None = None,
        **options: Any,
    ) -> _LocalUnaryUnary:
        options.update(request_serializer=request_serializer, response_deserializer=response_deserializer)
        return _LocalUnaryUnary(self, method, request_serializer, response_deserializer, options)

    def __getattr__(self, name: str) -> Any:  # streaming methods, channel_ready, get_state: the real channel
        return getattr(self.remote(), name)

    async def close(self, grace: float | None = None) -> None:
        """Like a gRPC channel's close: the in-process calls in flight get ``grace`` seconds, then are cancelled
        (their callers get CANCELLED), and new calls are refused."""
        self.closed = True
        if grace and self.running.inflight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.running.idle.wait(), grace)
        self.running.cut(grpc.StatusCode.CANCELLED, "Channel closed!")
        if self._remote is not None:
            await self._remote.close(grace)

    async def __aenter__(self) -> LocalChannel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
