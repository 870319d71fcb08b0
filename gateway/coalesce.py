"""Concurrent memory reads coalesced into one BatchGet.

Under load, many tool calls are reading memory at the same moment. Each gRPC call costs the gateway
~50 us of its single event-loop thread and the memory service ~140 us, whatever it carries; a batch of N
keys costs little more than one. So the reads that arrive in the same event-loop turn leave as one
``BatchGet`` (up to MAX_READS of them), and each caller gets its own entry or its own "no entry" error.

A read that is alone in its turn (a sequential client, a quiet server) is a plain ``Get`` made by the
caller itself, as before: coalescing delays a read only to the end of the current loop turn, and shares
a call that was going to be made anyway. A key the memory service would refuse (bad namespace or key)
also goes alone, so its error is the service's own and never fails the reads batched with it. A batch
that cannot reach memory (unavailable after the retries, deadline) fails each of its reads with that
message; one that fails otherwise (e.g. an answer over the message size limit, several large entries in
one batch) sends each of its reads alone, so each gets exactly what a plain ``Get`` answers.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from common import memory_rules as v
from common.errors import InvalidArgument
from common.logging import request_id_var
from gateway.errors import BackendError
from swarm.memory.v1 import memory_pb2 as mpb
from swarm.memory.v1 import memory_pb2_grpc

MAX_READS = 64  # reads per BatchGet; their request ids ride in one metadata value (~2 KB at 64)
# a batch failing with one of these fails its reads (each alone would fail the same way, only later)
UNREACHABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED})

Call = Callable[[Any, Any], Awaitable[Any]]  # Backends.call: (stub method, request) -> response


class _Alone:
    """Resolves a read that had no company in its turn: its caller makes the plain Get itself."""


ALONE = _Alone()


class GetCoalescer:
    """``await get(namespace, key)`` -> the memory entry (``memory_pb2.Entry``), or ToolError."""

    def __init__(self, call: Call, memory: memory_pb2_grpc.MemoryServiceStub) -> None:
        self._call = call  # Backends.call: (stub method, request) -> response, or BackendError with its code
        self._memory = memory
        self._pending: list[tuple[str, str, str, asyncio.Future[Any]]] = []
        self._scheduled = False
        self._batches: set[asyncio.Task[None]] = set()
        self.calls = {"Get": 0, "BatchGet": 0, "batched_reads": 0}  # what went out, for tests and tuning

    async def get(self, namespace: str, key: str) -> mpb.Entry:
        try:
            v.namespace(namespace)
            v.key(key)
        except InvalidArgument:
            return await self._get_one(namespace, key)  # the service's own error, for this read only
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((namespace, key, request_id_var.get(), future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush, context=contextvars.Context())  # batches carry no caller's context
        outcome = await future
        if outcome is ALONE:
            return await self._get_one(namespace, key)
        return outcome

    async def _get_one(self, namespace: str, key: str) -> mpb.Entry:
        self.calls["Get"] += 1
        resp = await self._call(self._memory.Get, mpb.GetRequest(namespace=namespace, key=key))
        return resp.entry

    def _flush(self) -> None:
        """End of the turn: the reads queued in it go out, alone or in batches of at most MAX_READS."""
        self._scheduled = False
        pending, self._pending = self._pending, []
        pending = [p for p in pending if not p[3].done()]  # callers cancelled meanwhile
        for start in range(0, len(pending), MAX_READS):
            batch = pending[start : start + MAX_READS]
            if len(batch) == 1:
                batch[0][3].set_result(ALONE)
                continue
            task = asyncio.get_running_loop().create_task(self._run_batch(batch))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    async def _run_batch(self, batch: list[tuple[str, str, str, asyncio.Future[Any]]]) -> None:
        try:
            # the memory service's access log shows every read's request id on the one call that carried it
            request_id_var.set(",".join(dict.fromkeys(rid for _, _, rid, _ in batch)))
            keys = dict.fromkeys((ns, k) for ns, k, _, _ in batch)  # a key read by several callers goes once
            request = mpb.BatchGetRequest(keys=[mpb.EntryKey(namespace=ns, key=k) for ns, k in keys])
            self.calls["BatchGet"] += 1
            self.calls["batched_reads"] += len(batch)
            resp = await self._call(self._memory.BatchGet, request)
        except BackendError as exc:
            unreachable = exc.code in UNREACHABLE
            for *_, future in batch:
                if future.done():
                    continue
                if unreachable:
                    future.set_exception(BackendError(str(exc), exc.code))
                else:
                    future.set_result(ALONE)
            return
        except BaseException as exc:  # cancelled (shutdown), or a request that cannot be built: each goes alone
            for *_, future in batch:
                if not future.done():
                    future.set_result(ALONE)
            if not isinstance(exc, Exception):
                raise
            return
        found = {(e.namespace, e.key): e for e in resp.entries}
        for ns, k, _, future in batch:
            if future.done():
                continue
            entry = found.get((ns, k))
            if entry is None:
                future.set_exception(BackendError(v.missing(ns, k), grpc.StatusCode.NOT_FOUND))
            else:
                future.set_result(entry)
