"""The capacity ledger: what this replica's in-flight assignments hold, so that concurrent assignments of
one replica plan against what is really left (memory may not show a plan's record yet)."""

from __future__ import annotations

import dataclasses
from collections import Counter


@dataclasses.dataclass
class _Hold:
    use: dict[str, float]  # agent id -> effort of the tasks this plan gives it
    settled: int | None = None  # sequence number at which its record call ended


class CapacityLedger:
    """Capacity this replica has planned but memory may not show yet, so that concurrent assignments of
    one replica plan against what is really left instead of all choosing the same agents (and then
    conflicting at memory, one after another).

    A plan holds its agents' effort from the moment it is chosen until its record call ends. A read of
    the agents' load taken *after* a record call ended shows that record; one taken before may or may not
    (``unsure``). Every settlement moves a sequence number; a read remembers the number at its start, so
    a hold counts for a read while it is pending or was settled after that read began; it is forgotten
    once every read in flight began after it was settled. All methods run on the event loop (no awaits
    inside), so checking a plan against the ledger and holding its capacity is atomic.
    """

    def __init__(self) -> None:
        self._seq = 0
        self._reads: Counter[int] = Counter()
        self._holds: dict[int, _Hold] = {}
        self._next = 0

    def begin_read(self) -> int:
        self._reads[self._seq] += 1
        return self._seq

    def end_read(self, since: int) -> None:
        self._reads[since] -= 1
        if self._reads[since] <= 0:
            del self._reads[since]
        self._forget()

    def held(self, since: int, *, unsure: bool = True) -> tuple[dict[str, float], bool]:
        """Effort held per agent that a read begun at ``since`` may not show; and whether any of it was
        settled during the read (the read may show it already). ``unsure=False`` leaves that part out."""
        out: dict[str, float] = {}
        any_unsure = False
        for h in self._holds.values():
            if h.settled is not None:
                if h.settled <= since:
                    continue
                any_unsure = True
                if not unsure:
                    continue
            for agent_id, effort in h.use.items():
                out[agent_id] = out.get(agent_id, 0.0) + effort
        return out, any_unsure

    def hold(self, use: dict[str, float]) -> int:
        self._next += 1
        self._holds[self._next] = _Hold(use)
        return self._next

    def release(self, token: int) -> None:
        """Nothing was recorded."""
        self._holds.pop(token, None)

    def settle(self, token: int) -> None:
        """The record call ended: recorded, or perhaps recorded (a lost answer); reads from now on show it."""
        hold = self._holds.get(token)
        if hold is not None and hold.settled is None:
            self._seq += 1
            hold.settled = self._seq
        self._forget()

    def _forget(self) -> None:
        oldest = min(self._reads) if self._reads else self._seq
        for token in [t for t, h in self._holds.items() if h.settled is not None and h.settled <= oldest]:
            del self._holds[token]

    def __len__(self) -> int:
        return len(self._holds)
