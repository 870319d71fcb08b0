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
    """Carry a failed call to another service back to our caller with its status code."""
    caller_codes = {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.OUT_OF_RANGE,
    }
    err = SwarmError(details if code in caller_codes else f"the {service} service failed: {code.name}: {details}")
    err.code = code
    return err
