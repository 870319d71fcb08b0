"""Long polls woken by the change itself: a version per key (an agent), bumped after each commit that concerns
it, and an event a waiter sleeps on until the version moves or its time runs out. No polling."""

from __future__ import annotations

import asyncio
import contextlib


class KeyedWakeups:
    """``v = version(key)``; check the state; if nothing yet, ``await wait(key, v, timeout)``: a change committed
    between the check and the wait is not missed (the version moved)."""

    def __init__(self) -> None:
        self._version: dict[str, int] = {}
        self._events: dict[str, asyncio.Event] = {}
        self._everyone = 0  # bumped by wake_all: part of every key's version

    def version(self, key: str) -> int:
        return self._version.get(key, 0) + self._everyone

    def wake_all(self) -> None:
        """Every key moves (when what changed is not known, e.g. notifications may have been missed)."""
        self._everyone += 1
        events, self._events = self._events, {}
        for event in events.values():
            event.set()

    def wake(self, keys: object) -> None:
        for key in keys:  # type: ignore[attr-defined]
            self._version[key] = self._version.get(key, 0) + 1
            event = self._events.pop(key, None)
            if event is not None:
                event.set()

    async def wait(self, key: str, version: int, timeout: float) -> bool:
        """Until ``key`` moves past ``version`` (True) or ``timeout`` seconds pass (False)."""
        if self.version(key) != version:
            return True
        event = self._events.setdefault(key, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(timeout, 0.0))
        return self.version(key) != version
