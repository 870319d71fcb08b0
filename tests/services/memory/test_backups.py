"""Backups called directly: a restore brings back exactly what was backed up, and only a sound backup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.memory.entries import PutItem
from services.memory.sqlite.backups import SqliteBackupStore
from services.memory.sqlite.entries import SqliteEntryStore
from services.memory.sqlite.storage import SqliteStorage
from tests.conftest import FakeClock
from tests.services.memory.rows import dump


async def test_backup_change_restore_is_identical(store: SqliteEntryStore, backups: SqliteBackupStore) -> None:
    for i in range(50):
        await store.put(PutItem("ns", f"k{i}", json.dumps({"i": i}), ("t",)))
    snapshot = dump(store.engine.db_path)
    backup = await backups.create_backup()
    assert backup.entries == 50
    await store.put(PutItem("ns", "k0", '"changed"'))
    await store.delete("ns", "k1")
    await store.put(PutItem("ns", "new", '"added"'))
    check = await backups.verify_backup(backup.backup_id)
    assert check.ok and check.integrity == "ok" and check.entries == 50
    result = await backups.restore_backup(backup.backup_id)
    assert result.entries == 50
    assert dump(store.engine.db_path) == snapshot
    assert (await store.get("ns", "k0")).value_json == '{"i":0}'
    assert await store.get("ns", "new") is None
    assert [e.key for e, _ in (await store.search("ns", "t"))[0]]  # the search index came back too
    # the state before the restore was kept
    safety = await backups.verify_backup(result.safety_backup.backup_id)
    assert safety.ok and safety.entries == 50
    ids = {b.backup_id for b in await backups.list_backups()}
    assert ids == {backup.backup_id, result.safety_backup.backup_id}


async def test_restore_survives_reopen_without_old_wal(tmp_path: Path, clock: FakeClock) -> None:
    s = SqliteStorage(tmp_path / "d", clock=clock)
    s.open()
    await s.entries.put(PutItem("ns", "k", '"old"'))
    backup = await s.backups.create_backup()
    await s.entries.put(PutItem("ns", "k", '"new"'))
    await s.backups.restore_backup(backup.backup_id)
    s.engine.close()
    s2 = SqliteStorage(tmp_path / "d", clock=clock)
    s2.open()
    try:
        assert (await s2.entries.get("ns", "k")).value_json == '"old"'
    finally:
        s2.engine.close()


async def test_backup_ids_are_checked(backups: SqliteBackupStore) -> None:
    for bad in ["../memory", "/etc/passwd", "x.db", ""]:
        with pytest.raises(InvalidArgument, match="is not a backup id"):
            await backups.verify_backup(bad)
        with pytest.raises(InvalidArgument):
            await backups.restore_backup(bad)
    with pytest.raises(NotFound, match="no backup"):
        await backups.verify_backup("20260101T000000Z-00000000")


async def test_corrupt_backup_is_not_restored(store: SqliteEntryStore, backups: SqliteBackupStore) -> None:
    await store.put(PutItem("ns", "k", '"live"'))
    backup = await backups.create_backup()
    with open(backup.path, "r+b") as f:  # noqa: ASYNC230 - a test corrupting a file on purpose
        f.seek(4096)
        f.write(b"\xff" * 8192)
    check = await backups.verify_backup(backup.backup_id)
    assert not check.ok
    with pytest.raises(FailedPrecondition, match="failed verification"):
        await backups.restore_backup(backup.backup_id)
    assert (await store.get("ns", "k")).value_json == '"live"'
