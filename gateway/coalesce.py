"""Concurrent memory reads coalesced into one BatchGet.

Under load, many tool calls are reading memory at the same moment. Each gRPC call costs the gateway
~50 us of its single event-loop thread and the memory service ~140 us, whatever it carries; a batch of N
keys costs little more than one. So the reads that arrive in the same event-loop turn leave as one
``BatchGet`` (up to MAX_BATCH keys), and each caller gets its own entry or its own "no entry" error.

A read that is alone in its turn (a sequential client, a quiet server) is a plain ``Get`` made by the
caller itself, exactly as before: coalescing never delays a read, it only shares a call that was going
to be made anyway. A key the memory service would refuse (bad namespace or key) also goes alone, so its
error is the service's own and never fails the reads batched with it. A batch that fails as a whole
(service unreachable after the retries, deadline) fails each of its reads with that message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError

from services.common.errors import InvalidArgument
from services.common.logging import request_id_var
from services.memory import validation as v
from swarm.memory.v1 import memory_pb2 as mpb

MAX_BATCH = 64  # keys per BatchGet; their request ids ride in one metadata value (~2 KB at 64)

Call = Callable[[str, str, Any], Awaitable[Any]]


class _Alone:
    """Resolves a read that had no company in its turn: its caller makes the plain Get itself."""


ALONE = _Alone()


class GetCoalescer:
    """``await get(namespace, key)`` -> the memory entry (``memory_pb2.Entry``), or ToolError."""

    def __init__(self, call: Call) -> None:
        self._call = call  # Backends.call bound to nothing else: (service, method, request) -> response
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
            loop.call_soon(self._flush)
        outcome = await future
        if outcome is ALONE:
            return await self._get_one(namespace, key)
        return outcome

    async def _get_one(self, namespace: str, key: str) -> mpb.Entry:
        self.calls["Get"] += 1
        resp = await self._call("memory", "Get", mpb.GetRequest(namespace=namespace, key=key))
        return resp.entry

    def _flush(self) -> None:
        """End of the turn: the reads queued in it go out, alone or in batches of at most MAX_BATCH."""
        self._scheduled = False
        pending, self._pending = self._pending, []
        pending = [p for p in pending if not p[3].done()]  # callers cancelled meanwhile
        if len(pending) == 1:
            pending[0][3].set_result(ALONE)
            return
        for start in range(0, len(pending), MAX_BATCH):
            batch = pending[start : start + MAX_BATCH]
            task = asyncio.get_running_loop().create_task(self._run_batch(batch))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    async def _run_batch(self, batch: list[tuple[str, str, str, asyncio.Future[Any]]]) -> None:
        # the memory service's access log shows every read's request id on the one call that carried it
        request_id_var.set(",".join(dict.fromkeys(rid for _, _, rid, _ in batch)))
        self.calls["BatchGet"] += 1
        self.calls["batched_reads"] += len(batch)
        request = mpb.BatchGetRequest(keys=[mpb.EntryKey(namespace=ns, key=k) for ns, k, _, _ in batch])
        try:
            resp = await self._call("memory", "BatchGet", request)
        except ToolError as exc:
            for *_, future in batch:
                if not future.done():
                    future.set_exception(ToolError(str(exc)))
            return
        except BaseException as exc:  # cancelled (shutdown) or a bug: no caller may wait forever
            for *_, future in batch:
                if not future.done():
                    future.set_exception(ToolError(f"reading memory failed: {exc!r}"))
            raise
        found = {(e.namespace, e.key): e for e in resp.entries}
        for ns, k, _, future in batch:
            if future.done():
                continue
            entry = found.get((ns, k))
            if entry is None:
                future.set_exception(ToolError(v.missing(ns, k)))
            else:
                future.set_result(entry)
