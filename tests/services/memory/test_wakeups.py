"""KeyedWakeups' followers (the stream behind WatchProposals): nothing missed between two answers, wakes while the
reader is busy come together, and "everything" when every key moved or the reader fell too far behind."""

from __future__ import annotations

import asyncio

from services.memory import wakeups
from services.memory.wakeups import KeyedWakeups


async def test_a_follower_hears_everything_first_then_each_key_that_moved() -> None:
    w = KeyedWakeups()
    follow = w.follow()
    assert await asyncio.wait_for(anext(follow), 1) is None
    w.wake(["a"])
    assert await asyncio.wait_for(anext(follow), 1) == {"a"}
    w.wake(["b"])
    w.wake(["c", "b"])  # while the reader is busy: one answer
    assert await asyncio.wait_for(anext(follow), 1) == {"b", "c"}
    w.wake([])  # no key: no answer
    w.wake_all()
    assert await asyncio.wait_for(anext(follow), 1) is None
    w.wake(["d"])
    assert await asyncio.wait_for(anext(follow), 1) == {"d"}
    await follow.aclose()
    assert not w._followers  # gone with its reader


async def test_a_follower_too_far_behind_hears_everything(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(wakeups, "MAX_PENDING", 3)
    w = KeyedWakeups()
    follow = w.follow()
    assert await anext(follow) is None
    w.wake(["a", "b"])
    w.wake(["c", "d"])
    assert await asyncio.wait_for(anext(follow), 1) is None  # 4 pending keys > 3: "look at everything"
    w.wake(["e"])
    assert await asyncio.wait_for(anext(follow), 1) == {"e"}
    await follow.aclose()


async def test_waiters_still_wake_by_key() -> None:
    w = KeyedWakeups()
    v = w.version("a")
    waiting = asyncio.create_task(w.wait("a", v, 5))
    await asyncio.sleep(0)
    w.wake(iter(["a"]))  # any iterable of keys
    assert await asyncio.wait_for(waiting, 1)
    assert not await w.wait("b", w.version("b"), 0.01)
