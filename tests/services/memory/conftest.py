"""Fixtures of the memory storage tests: the SQLite storage in a temp dir on a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.memory.sqlite.backups import SqliteBackupStore
from services.memory.sqlite.entries import SqliteEntryStore
from services.memory.sqlite.storage import SqliteStorage
from tests.conftest import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def storage(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SqliteStorage]:
    s = SqliteStorage(tmp_path / "data", clock=clock, max_value_bytes=4096)
    s.open()
    yield s
    await s.close()


@pytest.fixture
def store(storage: SqliteStorage) -> SqliteEntryStore:
    return storage.entries


@pytest.fixture
def backups(storage: SqliteStorage) -> SqliteBackupStore:
    return storage.backups
