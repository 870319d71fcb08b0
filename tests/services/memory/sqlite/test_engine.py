"""The SQLite engine called directly: durability across a reopen, and a WAL that stays bounded under load."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path

import pytest

from services.memory.entries import PutItem
from services.memory.sqlite.storage import SqliteStorage


async def test_data_survives_reopen(tmp_path: Path) -> None:
    s = SqliteStorage(tmp_path / "d")
    s.open()
    await asyncio.gather(*(s.entries.put(PutItem("ns", f"k{i}", str(i))) for i in range(100)))
    s.engine.close()
    s = SqliteStorage(tmp_path / "d")
    s.open()
    try:
        assert len((await s.entries.list("ns", limit=500))[0]) == 100
    finally:
        s.engine.close()


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


async def test_the_wal_starts_over_under_steady_reads_and_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers and readers never pause here, so SQLite never finds the moment to start the WAL over by itself
    (without the writer's restart its file only grows, by every page written). The writer restarts it once it
    holds WAL_LIMIT_BYTES: the file is cut back to the limit again and again, and stays bounded."""
    import time

    import services.memory.sqlite.engine as engine_module

    limit = 256 * 1024
    monkeypatch.setattr(engine_module, "WAL_LIMIT_BYTES", limit)
    monkeypatch.setattr(engine_module, "CHECKPOINT_INTERVAL_S", 0.05)
    storage = SqliteStorage(tmp_path / "d")
    storage.open()
    store = storage.entries
    wal = Path(f"{storage.engine.db_path}-wal")
    stop = time.monotonic() + 2.0
    sizes: list[int] = []

    async def writer(i: int) -> None:
        n = 0
        while time.monotonic() < stop:
            await store.put(PutItem("ns", f"k{i}-{n % 50}", json.dumps({"n": n, "pad": "x" * 200})))
            n += 1

    async def reader() -> None:
        while time.monotonic() < stop:
            await store.get("ns", "k0-0")
            sizes.append(_size(wal))
            await asyncio.sleep(0)

    try:
        await asyncio.gather(*(writer(i) for i in range(4)), reader(), reader())
    finally:
        storage.engine.close()
    cut_back = sum(1 for before, after in itertools.pairwise(sizes) if after < before)
    assert cut_back >= 3, f"the WAL never started over: sizes {sizes[:: max(1, len(sizes) // 20)]}"
    assert max(sizes) < 64 * 1024 * 1024


async def test_a_write_whose_caller_gave_up_is_skipped_and_the_writer_goes_on(tmp_path: Path) -> None:
    """A caller cancelled while its write waits in the queue (a long poll whose client went away): the write is
    not applied, and the writer thread keeps serving the writes after it."""
    import threading

    s = SqliteStorage(tmp_path / "d")
    s.open()
    try:
        release = threading.Event()

        def slow(conn: object) -> int:
            release.wait(5)
            return 1

        blocker = asyncio.create_task(s.engine.write(slow, method="Slow", exclusive=True))
        await asyncio.sleep(0.05)  # the writer is inside the slow job now
        gave_up = asyncio.create_task(s.entries.put(PutItem("ns", "abandoned", "1")))
        await asyncio.sleep(0.05)  # queued behind it
        gave_up.cancel()
        release.set()
        assert await blocker == 1
        with pytest.raises(asyncio.CancelledError):
            await gave_up
        assert (await s.entries.put(PutItem("ns", "after", "2"))).entry.version == 1
        assert await s.entries.get("ns", "abandoned") is None
    finally:
        s.engine.close()
