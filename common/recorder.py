"""In-process recording of every finished call: an O(1) append to a bounded buffer on the request path.

No network here: the pusher (common/pusher.py) drains the buffer and sends it to the telemetry service."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

BUFFER_LIMIT = 100_000


@dataclass
class Recorder:
    """Bounded buffer of finished calls; ``record`` never blocks and never raises."""

    limit: int = BUFFER_LIMIT
    enabled: bool = True  # SWARM_TELEMETRY=off: record nothing, push nothing

    def __post_init__(self) -> None:
        self._buffer: deque[tuple[str, str, str, float, float]] = deque()
        self.dropped_records = 0
        self.dropped_batches = 0
        self.recorded = 0

    def record(self, kind: str, name: str, code: str, latency_ms: float) -> None:
        if not self.enabled:
            return
        if len(self._buffer) >= self.limit:
            self.dropped_records += 1
            return
        self._buffer.append((kind, name, code, latency_ms, time.time()))
        self.recorded += 1

    def drain(self) -> list[tuple[str, str, str, float, float]]:
        items = []
        buf = self._buffer
        while buf:
            items.append(buf.popleft())
        return items

    def pending(self) -> int:
        return len(self._buffer)


_default = Recorder()


def default_recorder() -> Recorder:
    """The recorder of this process (every server and the gateway in it record here)."""
    return _default
