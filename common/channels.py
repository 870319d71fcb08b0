"""Client side of service-to-service calls: one long-lived channel per target, a deadline on every call,
and (at the gateway only) retries with tenacity for calls that are safe to repeat."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from grpc import aio
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from common import inprocess
from common.errors import upstream
from common.limits import MAX_MESSAGE_BYTES
from common.logging import REQUEST_ID_METADATA, request_id_var
from common.tls import PLAINTEXT, TlsConfig

T = TypeVar("T")

CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.enable_retries", 0),  # retry lives in one layer: tenacity, below
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    # reconnect fast after a backend restart (default backoff grows to 120 s)
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
    ("grpc.min_reconnect_backoff_ms", 100),
    # a name with several addresses (memory replicas on PostgreSQL behind a headless Service): spread the calls
    # over every address that answers, skipping one that died (one address: the same as pick_first)
    ("grpc.lb_policy_name", "round_robin"),
]

# UNAVAILABLE: no connection or the server is refusing; CANCELLED: a server shutting down dropped the call.
# Both are safe to repeat for the calls that may retry at all (reads and writes carrying a request id).
FIRST_BACKOFF_S = 0.05
RECONNECT_WAIT_S = 2.0
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED})


def open_channel(target: str, tls: TlsConfig = PLAINTEXT) -> aio.Channel:
    """A channel with the project's options; TLS (and a client certificate) when ``tls`` says so. To a
    service this process serves in-process, calls skip the network (services/common/inprocess.py)."""
    if inprocess.served_here(target):
        return inprocess.LocalChannel(target, lambda: _network_channel(target, tls))  # type: ignore[return-value]
    return _network_channel(target, tls)


def _network_channel(target: str, tls: TlsConfig) -> aio.Channel:
    creds = tls.channel_credentials()
    if creds is None:
        return aio.insecure_channel(target, options=CHANNEL_OPTIONS)
    return aio.secure_channel(target, creds, options=CHANNEL_OPTIONS + tls.channel_options())


class ChannelPool:
    """One long-lived channel per target (channels multiplex calls over HTTP/2)."""

    def __init__(self, tls: TlsConfig = PLAINTEXT) -> None:
        self._channels: dict[str, aio.Channel] = {}
        self.tls = tls

    def get(self, target: str) -> aio.Channel:
        channel = self._channels.get(target)
        if channel is None:
            channel = open_channel(target, self.tls)
            self._channels[target] = channel
        return channel

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            await channel.close()


class CallFailed(Exception):
    """A backend call failed for good: ``code`` and ``details`` from the last attempt, ``attempts`` made."""

    def __init__(self, code: grpc.StatusCode, details: str, attempts: int, elapsed: float) -> None:
        super().__init__(details)
        self.code = code
        self.details = details
        self.attempts = attempts
        self.elapsed = elapsed


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, aio.AioRpcError) and exc.code() in RETRYABLE


async def call(
    method: Callable[..., Awaitable[T]],
    request: Any,
    *,
    timeout: float,
    retry: bool = False,
    attempts: int = 5,
) -> T:
    """Call ``method(request)`` within ``timeout`` seconds in total.

    With ``retry``, UNAVAILABLE is retried with exponential backoff and jitter, each attempt getting the
    remaining time as its deadline; a retry waits up to RECONNECT_WAIT_S for the channel to reconnect
    instead of failing at once, so a backend that restarts is reached, and one that is gone gives a clear
    error soon after. Only pass ``retry=True`` for reads and for writes that carry a
    request id (the memory service applies a repeated id once).
    """
    deadline = time.monotonic() + timeout
    metadata = ((REQUEST_ID_METADATA, request_id_var.get()),)
    start = time.monotonic()
    made = 0

    async def attempt() -> T:
        nonlocal made
        made += 1
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CallFailed(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded before the call", made, timeout)
        if made == 1:  # the first attempt fails fast when there is no connection
            return await method(request, timeout=remaining, metadata=metadata, wait_for_ready=False)
        # a retry waits a little for the channel to reconnect, so a backend that restarts is reached,
        # while one that is gone is reported within RECONNECT_WAIT_S rather than at the deadline
        wait = min(remaining, RECONNECT_WAIT_S)
        return await method(request, timeout=wait, metadata=metadata, wait_for_ready=True)

    try:
        # the first attempt runs without the retry machinery (the common case costs nothing extra)
        try:
            return await attempt()
        except aio.AioRpcError as exc:
            if not retry or attempts <= 1 or not _retryable(exc) or time.monotonic() + FIRST_BACKOFF_S >= deadline:
                raise
            first_failure = exc
        await asyncio.sleep(FIRST_BACKOFF_S * (1 + random.random()))
        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts - 1),
            wait=wait_exponential_jitter(multiplier=0.1, max=1.0, jitter=0.05),
            retry=retry_if_exception(_retryable),
            before_sleep=_stop_if_past(deadline),
            reraise=True,
        )
        try:
            return await retrying(attempt)
        except aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                # waited for a reconnect until the deadline: the backend is still unreachable
                details = f"{first_failure.details() or 'no connection'}; still unreachable at the deadline"
                raise CallFailed(grpc.StatusCode.UNAVAILABLE, details, made, time.monotonic() - start) from exc
            raise
    except aio.AioRpcError as exc:
        raise CallFailed(exc.code(), exc.details() or "", made, time.monotonic() - start) from exc


def _stop_if_past(deadline: float) -> Callable[[Any], None]:
    def check(retry_state: Any) -> None:
        sleep = retry_state.next_action.sleep if retry_state.next_action else 0
        if time.monotonic() + sleep >= deadline:
            outcome = retry_state.outcome
            if outcome is not None and outcome.exception() is not None:
                raise outcome.exception()

    return check


async def call_upstream(service: str, method: Callable[..., Awaitable[T]], request: Any, *, timeout: float) -> T:
    """A call from one service to another (no retry: that lives at the gateway), its failure re-raised as
    the matching domain error so it reaches our own caller with the same status code."""
    try:
        return await call(method, request, timeout=timeout)
    except CallFailed as exc:
        raise upstream(service, exc.code, exc.details) from None
