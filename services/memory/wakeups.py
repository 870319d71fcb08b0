"""Long polls woken by the change itself: a version per key (an agent), bumped after each commit that concerns
it, and an event a waiter sleeps on until the version moves or its time runs out. No polling.

A follower (``follow``) hears every key that moves, for a stream that passes them on (WatchProposals)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable

MAX_PENDING = 10_000  # keys a slow follower may fall behind by; past that it hears "everything moved" instead


class _Follower:
    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.everything = True  # its first answer: whatever it follows may have moved before it began
        self.moved = asyncio.Event()
        self.moved.set()


class KeyedWakeups:
    """``v = version(key)``; check the state; if nothing yet, ``await wait(key, v, timeout)``: a change committed
    between the check and the wait is not missed (the version moved)."""

    def __init__(self) -> None:
        self._version: dict[str, int] = {}
        self._events: dict[str, asyncio.Event] = {}
        self._everyone = 0  # bumped by wake_all: part of every key's version
        self._followers: set[_Follower] = set()

    def version(self, key: str) -> int:
        return self._version.get(key, 0) + self._everyone

    def wake_all(self) -> None:
        """Every key moves (when what changed is not known, e.g. notifications may have been missed)."""
        self._everyone += 1
        events, self._events = self._events, {}
        for event in events.values():
            event.set()
        for follower in self._followers:
            follower.everything = True
            follower.keys.clear()
            follower.moved.set()

    def wake(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        for key in keys:
            self._version[key] = self._version.get(key, 0) + 1
            event = self._events.pop(key, None)
            if event is not None:
                event.set()
        if keys:
            for follower in self._followers:
                if not follower.everything:
                    follower.keys.update(keys)
                    if len(follower.keys) > MAX_PENDING:
                        follower.everything = True
                        follower.keys.clear()
                follower.moved.set()

    async def wait(self, key: str, version: int, timeout: float) -> bool:
        """Until ``key`` moves past ``version`` (True) or ``timeout`` seconds pass (False)."""
        if self.version(key) != version:
            return True
        event = self._events.setdefault(key, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), max(timeout, 0.0))
        return self.version(key) != version

    async def follow(self) -> AsyncIterator[frozenset[str] | None]:
        """The keys that moved, as they move: ``None`` first (anything may have moved before), then a set of keys
        per wake-up (several wakes while the reader was busy come as one set), ``None`` again when every key
        moved (``wake_all``) or the reader fell more than ``MAX_PENDING`` keys behind. Nothing is missed between
        two answers."""
        follower = _Follower()
        self._followers.add(follower)
        try:
            while True:
                await follower.moved.wait()
                follower.moved.clear()
                if follower.everything:
                    follower.everything = False
                    follower.keys.clear()
                    yield None
                elif follower.keys:
                    keys, follower.keys = frozenset(follower.keys), set()
                    yield keys
        finally:
            self._followers.discard(follower)
