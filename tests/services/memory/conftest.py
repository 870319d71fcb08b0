"""Fixtures of the memory storage tests: the storage of the engine under test (SQLite in a temp dir, or a fresh
PostgreSQL database) on a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.memory.sqlite.backups import SqliteBackupStore
from services.memory.sqlite.storage import SqliteStorage
from services.memory.storage import EntryStore, Storage
from tests.conftest import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def open_storage(database_url: str | None, data_dir: Path, **options: Any) -> Storage:
    """The storage of the engine under test, opened: PostgreSQL at ``database_url``, else SQLite in ``data_dir``."""
    s: Storage
    if database_url:
        from services.memory.postgres.storage import PgStorage

        s = PgStorage(database_url, **options)
    else:
        s = SqliteStorage(data_dir, **options)
    s.open()
    return s


@pytest.fixture
async def storage(tmp_path: Path, clock: FakeClock, database_url: str | None) -> AsyncIterator[Storage]:
    s = open_storage(database_url, tmp_path / "data", clock=clock, max_value_bytes=4096)
    yield s
    await s.close()


@pytest.fixture
def store(storage: Storage) -> EntryStore:
    return storage.entries


@pytest.fixture
def backups(storage: SqliteStorage) -> SqliteBackupStore:
    return storage.backups
