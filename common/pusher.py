"""The background push of this process's call records and process sample to the telemetry service.

A background task sends the recorder's buffer as one batch per second over a client stream. Telemetry being
slow or down never slows or fails a request: a batch that cannot be sent within a short deadline is dropped
and counted, and the counts travel with the next batch that gets through.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time

import psutil
from grpc import aio

from common.channels import open_channel
from common.recorder import Recorder
from common.tls import PLAINTEXT, TlsConfig
from swarm.telemetry.v1 import telemetry_pb2 as pb
from swarm.telemetry.v1 import telemetry_pb2_grpc

log = logging.getLogger("swarm.telemetry")

PUSH_INTERVAL_S = 1.0
SEND_TIMEOUT_S = 0.5


class ProcessSampler:
    """CPU %, RSS, PSS, open connections and uptime of this process (psutil). PSS and the connection count
    are re-read every ``slow_every_s`` (they cost ~1 % of a busy gateway's CPU when read every second)."""

    def __init__(self, name: str, slow_every_s: float = 10.0) -> None:
        self.name = name
        self.slow_every_s = slow_every_s
        self._proc = psutil.Process(os.getpid())
        self._proc.cpu_percent(None)  # prime: the next call measures since now
        self._started = self._proc.create_time()
        self._slow_at = -math.inf
        self._pss = self._conns = 0

    def sample(self) -> pb.ProcessSample:
        with self._proc.oneshot():
            cpu = self._proc.cpu_percent(None)
            rss = self._proc.memory_info().rss
            if time.monotonic() - self._slow_at >= self.slow_every_s:
                self._slow_at = time.monotonic()
                try:
                    self._pss = getattr(self._proc.memory_full_info(), "pss", rss)
                except (psutil.AccessDenied, OSError):
                    self._pss = rss
                try:
                    self._conns = len(self._proc.net_connections(kind="inet"))
                except (psutil.AccessDenied, OSError):
                    self._conns = -1
            pss, conns = self._pss, self._conns
        now = time.time()
        return pb.ProcessSample(
            process=self.name,
            pid=self._proc.pid,
            cpu_percent=cpu,
            rss_bytes=rss,
            pss_bytes=pss,
            connections=conns,
            uptime_s=now - self._started,
            at=now,
        )


class Pusher:
    """Sends the recorder's content to the telemetry service every ``interval`` seconds."""

    def __init__(
        self,
        recorder: Recorder,
        target: str,
        process: str,
        *,
        interval: float = PUSH_INTERVAL_S,
        send_timeout: float = SEND_TIMEOUT_S,
        tls: TlsConfig = PLAINTEXT,
    ) -> None:
        self.tls = tls
        self.recorder = recorder
        self.target = target
        self.process = process
        self.interval = interval
        self.send_timeout = send_timeout
        self.sampler = ProcessSampler(process)
        self._channel: aio.Channel | None = None
        self._stream: aio.StreamUnaryCall | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.sent_batches = 0

    def start(self) -> None:
        if not self.recorder.enabled:
            return
        self._task = asyncio.create_task(self._run(), name=f"telemetry-push-{self.process}")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.flush()

    def _open(self) -> aio.StreamUnaryCall:
        if self._channel is None:
            self._channel = open_channel(self.target, self.tls)
        stub = telemetry_pb2_grpc.TelemetryServiceStub(self._channel)
        # wait_for_ready: a reconnecting channel gets the send timeout to come back instead of failing at once
        return stub.Report(wait_for_ready=True)

    async def flush(self) -> bool:
        """Send what is buffered now, with a process sample; False when the batch was dropped."""
        if not self.recorder.enabled:
            return True
        async with self._lock:
            records = self.recorder.drain()
            batch = pb.ReportBatch(
                process=self.process,
                calls=[pb.CallRecord(kind=k, name=n, code=c, latency_ms=ms, at=at) for k, n, c, ms, at in records],
                sample=await asyncio.get_running_loop().run_in_executor(None, self.sampler.sample),
                dropped_batches=self.recorder.dropped_batches,
                dropped_records=self.recorder.dropped_records,
            )
            try:
                if self._stream is None or self._stream.done():
                    self._stream = self._open()
                await asyncio.wait_for(self._stream.write(batch), self.send_timeout)
            except (TimeoutError, aio.AioRpcError, aio.UsageError, asyncio.InvalidStateError) as exc:
                self.recorder.dropped_batches += 1
                self.recorder.dropped_records += len(records)
                log.debug("telemetry batch dropped (%d records): %s", len(records), exc)
                self._reset()
                return False
            self.sent_batches += 1
            return True

    def _reset(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
        self._stream = None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._stream is not None:
            try:
                await asyncio.wait_for(self._stream.done_writing(), self.send_timeout)
                await asyncio.wait_for(self._stream, self.send_timeout)
            except asyncio.CancelledError:
                # the stream's call was cancelled (telemetry stopped first, say): the close goes on; a cancellation
                # of this task itself is passed on
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
            except Exception:
                pass
            self._reset()
        if self._channel is not None:
            await self._channel.close()
