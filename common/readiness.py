"""Whether the services a process embeds serve yet: ``swarm mcp`` answers its client while they start, and a
backend call that comes before they serve waits here (bounded by its own deadline)."""

from __future__ import annotations

import asyncio


class Readiness:
    """Set once every embedded service serves, or once one of them could not start (``failure`` says why)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.failure: str | None = None

    def is_set(self) -> bool:
        return self._event.is_set()

    def ready(self) -> None:
        self._event.set()

    def failed(self, why: str) -> None:
        self.failure = why
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        """True once settled (ready or failed), False when ``timeout`` passed first."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        return True
