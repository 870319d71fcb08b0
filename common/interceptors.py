"""Server interceptor shared by every service: request-id propagation, access log, error mapping.

Domain modules raise :class:`~common.errors.SwarmError` subclasses; here they become the
matching gRPC status with the domain message, so servicers stay thin.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

from common.errors import SwarmError
from common.logging import REQUEST_ID_METADATA, request_id_var
from common.recorder import Recorder

log = logging.getLogger("swarm.rpc")


def _request_id(metadata: Any) -> str:
    for key, value in metadata or ():
        if key == REQUEST_ID_METADATA:
            return value if isinstance(value, str) else value.decode(errors="replace")
    return "-"


HEALTH_CHECK = "/grpc.health.v1.Health/Check"


class ServerInterceptor(aio.ServerInterceptor):
    """``identity`` (service name, version, start time) rides as initial metadata on health checks,
    so ``swarm_status`` learns every backend's version and uptime from the standard health call."""

    def __init__(self, identity: dict[str, str] | None = None, recorder: Recorder | None = None) -> None:
        self._identity = tuple((f"x-swarm-{k}", v) for k, v in (identity or {}).items())
        self._recorder = recorder
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is not None:  # built once per method: the handler a method resolves to never changes
            return wrapped
        return self.wrap(method, await continuation(handler_call_details))

    def wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """``handler`` for ``method`` with this interceptor around it, built once per method; streaming
        handlers (health Watch, reflection) pass through untouched. In-process calls use it too."""
        if handler is None or handler.unary_unary is None:
            return handler
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            wrapped = self._wrapped[method] = self._wrap(method, handler)
        return wrapped

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        inner = handler.unary_unary
        identity = self._identity if method == HEALTH_CHECK else ()
        recorder = self._recorder

        async def unary(request: Any, context: aio.ServicerContext) -> Any:
            token = request_id_var.set(_request_id(context.invocation_metadata()))
            start = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                if identity:
                    await context.send_initial_metadata(identity)
                return await inner(request, context)
            except SwarmError as exc:
                code = exc.code
                await context.abort(exc.code, str(exc))
            except aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except Exception:
                code = grpc.StatusCode.INTERNAL
                log.exception("%s failed", method)
                await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {method}; see the service log")
            finally:
                elapsed_ms = (time.perf_counter() - start) * 1e3
                if recorder is not None:
                    recorder.record("rpc", method, code.name, elapsed_ms)
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("%s %s %.2fms", method, code.name, elapsed_ms)
                request_id_var.reset(token)

        return grpc.unary_unary_rpc_method_handler(
            unary,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
