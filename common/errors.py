"""Domain errors. Domain modules raise these; the server interceptor maps them to gRPC status codes."""

from __future__ import annotations

import grpc


class SwarmError(Exception):
    """Base of every anticipated failure; ``code`` is the gRPC status it maps to."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL


class InvalidArgument(SwarmError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(SwarmError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(SwarmError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(SwarmError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(SwarmError):
    """A concurrency conflict (state changed under the caller): recompute and retry."""

    code = grpc.StatusCode.ABORTED


class ResourceExhausted(SwarmError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(SwarmError):
    code = grpc.StatusCode.UNAVAILABLE


class StorageError(SwarmError):
    """The storage layer failed (disk full, read-only, I/O): nothing was applied."""

    code = grpc.StatusCode.UNAVAILABLE


def upstream(service: str, code: grpc.StatusCode, details: str) -> SwarmError:
    """Carry a failed call to another service back to our caller: the matching error class (so callers can
    catch e.g. FailedPrecondition) with the same status code; the other service's words when they are
    meant for the caller, else a message naming the service."""
    kind = _BY_CODE.get(code)
    if kind is not None:
        return kind(details)
    err = SwarmError(f"the {service} service failed: {code.name}: {details}")
    err.code = code
    return err


#: Status codes whose details are written for the caller (what to fix): shown as they are, never retried.
_BY_CODE: dict[grpc.StatusCode, type[SwarmError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.ABORTED: Aborted,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
}

CALLER_CODES = frozenset({*_BY_CODE, grpc.StatusCode.OUT_OF_RANGE})
