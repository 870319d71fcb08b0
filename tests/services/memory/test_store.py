"""The memory engine called directly: semantics that every caller relies on."""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.memory.store import MemoryStore, PutItem
from tests.conftest import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(tmp_path: Path, clock: FakeClock) -> AsyncIterator[MemoryStore]:
    s = MemoryStore(tmp_path / "data", clock=clock, max_value_bytes=4096)
    s.open()
    yield s
    s.close()


def dump(path: Path) -> list[tuple]:
    """Every row of every table, straight from the file (what 'nothing changed' is checked against)."""
    conn = sqlite3.connect(path)
    try:
        rows = []
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
            rows += [(table, *r) for r in conn.execute(f'SELECT * FROM "{table}"')]
        return rows
    finally:
        conn.close()


async def test_put_get_roundtrip_and_versions(store: MemoryStore) -> None:
    r1 = await store.put(PutItem("team", "plan", json.dumps({"step": 1, "note": "héllo"}), ("b", "a", "a")))
    assert r1.created and r1.entry.version == 1 and r1.entry.tags == ("a", "b")
    r2 = await store.put(PutItem("team", "plan", json.dumps({"step": 2})))
    assert not r2.created and r2.entry.version == 2 and r2.entry.created_at == r1.entry.created_at
    got = await store.get("team", "plan")
    assert got is not None and json.loads(got.value_json) == {"step": 2} and got.version == 2
    assert await store.get("team", "other") is None
    assert await store.get("other", "plan") is None


async def test_ttl_expiry_is_immediate_and_purged(store: MemoryStore, clock: FakeClock) -> None:
    await store.put(PutItem("ns", "short", '"x"', ttl_seconds=10))
    await store.put(PutItem("ns", "long", '"y"'))
    assert await store.get("ns", "short") is not None
    clock.advance(10.001)
    assert await store.get("ns", "short") is None
    assert [e.key for e in (await store.list("ns"))[0]] == ["long"]
    assert (await store.search("ns", "x"))[0] == []
    assert await store.purge_expired() == 1
    assert dump(store.db_path).count(("entries",)) == 0
    conn = sqlite3.connect(store.db_path)
    assert conn.execute("SELECT key FROM entries").fetchall() == [("long",)]
    conn.close()
    # an expired key starts afresh
    r = await store.put(PutItem("ns", "short", '"z"', if_version=0))
    assert r.created and r.entry.version == 1


async def test_compare_and_set(store: MemoryStore) -> None:
    await store.put(PutItem("ns", "k", "1", if_version=0))
    with pytest.raises(FailedPrecondition, match="expected version 0 but its current version is 1"):
        await store.put(PutItem("ns", "k", "2", if_version=0))
    with pytest.raises(FailedPrecondition, match="expected version 5"):
        await store.put(PutItem("ns", "k", "2", if_version=5))
    assert (await store.put(PutItem("ns", "k", "2", if_version=1))).entry.version == 2
    assert json.loads((await store.get("ns", "k")).value_json) == 2
    with pytest.raises(FailedPrecondition):
        await store.delete("ns", "k", if_version=1)
    assert await store.delete("ns", "k", if_version=2)
    assert not await store.delete("ns", "k")


async def test_concurrent_cas_increments_lose_nothing(store: MemoryStore) -> None:
    await store.put(PutItem("ns", "counter", "0"))

    async def increment() -> None:
        while True:
            cur = await store.get("ns", "counter")
            try:
                await store.put(PutItem("ns", "counter", str(int(cur.value_json) + 1), if_version=cur.version))
                return
            except FailedPrecondition:
                continue

    await asyncio.gather(*(increment() for _ in range(40)))
    assert (await store.get("ns", "counter")).value_json == "40"


async def test_repeated_request_id_applies_once(store: MemoryStore) -> None:
    first = await store.put(PutItem("ns", "k", '"a"'), request_id="req-1")
    again = await store.put(PutItem("ns", "k", '"b"'), request_id="req-1")
    assert again == first
    got = await store.get("ns", "k")
    assert got.value_json == '"a"' and got.version == 1
    assert await store.delete("ns", "k", request_id="del-1")
    await store.put(PutItem("ns", "k", '"c"'))
    assert await store.delete("ns", "k", request_id="del-1")  # the first answer, nothing deleted
    assert (await store.get("ns", "k")).value_json == '"c"'
    with pytest.raises(InvalidArgument, match="already used for Put"):
        await store.delete("ns", "k", request_id="req-1")


async def test_search_ranking_and_paging(store: MemoryStore) -> None:
    await store.put(PutItem("docs", "a", json.dumps("ants follow pheromone trails to food")))
    await store.put(PutItem("docs", "b", json.dumps("pheromone pheromone pheromone: strong trail")))
    await store.put(PutItem("docs", "c", json.dumps({"title": "bees dance", "body": "no chemicals"})))
    await store.put(PutItem("docs", "pheromone-notes", json.dumps("see other notes"), ("pheromone",)))
    await store.put(PutItem("other", "x", json.dumps("pheromone elsewhere")))
    hits, nxt = await store.search("docs", "pheromone")
    keys = [e.key for e, _ in hits]
    assert set(keys) == {"a", "b", "pheromone-notes"} and nxt == ""
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)
    assert keys.index("b") < keys.index("a")  # more occurrences in a shorter text ranks higher
    assert [e.key for e, _ in (await store.search("docs", "bees chemical*"))[0]] == ["c"]
    assert [e.key for e, _ in (await store.search("docs", "title"))[0]] == ["c"]  # object keys are searchable
    assert (await store.search("docs", "bees ants"))[0] == []  # all words must match
    page1, cur = await store.search("docs", "pheromone", limit=2)
    page2, end = await store.search("docs", "pheromone", limit=2, cursor=cur)
    assert len(page1) == 2 and len(page2) == 1 and end == ""
    assert {e.key for e, _ in page1 + page2} == set(keys)
    assert [e.key for e, _ in (await store.search("docs", "pheromone", tags=["pheromone"]))[0]] == ["pheromone-notes"]


async def test_list_prefix_tags_paging(store: MemoryStore) -> None:
    for i in range(25):
        await store.put(PutItem("ns", f"task/{i:02d}", str(i), ("even",) if i % 2 == 0 else ("odd",)))
    await store.put(PutItem("ns", "taskforce", "0"))
    seen, cursor = [], ""
    while True:
        page, cursor = await store.list("ns", prefix="task/", limit=10, cursor=cursor)
        seen += [e.key for e in page]
        if not cursor:
            break
    assert seen == [f"task/{i:02d}" for i in range(25)]
    evens, _ = await store.list("ns", tags=["even"], limit=100)
    assert [e.key for e in evens] == [f"task/{i:02d}" for i in range(0, 25, 2)]
    assert (await store.list("ns", tags=["even", "odd"]))[0] == []


async def test_batch_put_is_all_or_nothing(store: MemoryStore) -> None:
    await store.put(PutItem("ns", "taken", "1"))
    before = dump(store.db_path)
    with pytest.raises(FailedPrecondition, match=r"item 1: .*nothing in the batch was written"):
        await store.batch_put([PutItem("ns", "new", "1"), PutItem("ns", "taken", "2", if_version=0)])
    assert dump(store.db_path) == before
    results = await store.batch_put([PutItem("ns", "n1", "1"), PutItem("ns", "n2", "2")], request_id="b1")
    assert [r.entry.key for r in results] == ["n1", "n2"]
    got = await store.batch_get([("ns", "n2"), ("ns", "missing"), ("ns", "n1")])
    assert [g.key if g else None for g in got] == ["n2", None, "n1"]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (PutItem("bad ns", "k", "1"), "namespace 'bad ns' is invalid"),
        (PutItem("", "k", "1"), "namespace '' is invalid"),
        (PutItem("ns", "", "1"), "key is empty"),
        (PutItem("ns", "k\n", "1"), "control character"),
        (PutItem("ns", "k" * 513, "1"), "the limit is 512"),
        (PutItem("ns", "k", "{not json"), "not valid JSON"),
        (PutItem("ns", "k", "NaN"), "not valid JSON"),
        (PutItem("ns", "k", ""), "value is empty"),
        (PutItem("ns", "k", json.dumps("x" * 5000)), "the limit is 4096 bytes"),
        (PutItem("ns", "k", "[" * 1500 + "]" * 1500), "nested too deeply"),
        (PutItem("ns", "k", "1", ("bad tag",)), "tag 'bad tag' is invalid"),
        (PutItem("ns", "k", "1", tuple(f"t{i}" for i in range(33))), "at most 32"),
        (PutItem("ns", "k", "1", ttl_seconds=-1), "ttl_seconds=-1"),
        (PutItem("ns", "k", "1", ttl_seconds=float("nan")), "ttl_seconds=nan"),
        (PutItem("ns", "k", "1", if_version=-1), "if_version=-1"),
    ],
)
async def test_bad_input_is_refused_and_changes_nothing(store: MemoryStore, item: PutItem, message: str) -> None:
    await store.put(PutItem("ns", "k", '"original"'))
    before = dump(store.db_path)
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(")):
        await store.put(item)
    assert dump(store.db_path) == before


async def test_bad_reads_are_refused(store: MemoryStore) -> None:
    with pytest.raises(InvalidArgument, match="cursor is not one this server issued"):
        await store.list("ns", cursor="garbage!")
    with pytest.raises(InvalidArgument, match="cursor"):
        await store.search("ns", "word", cursor=(await store.list("ns"))[1] or "eyJ0IjoibCIsImsiOiJ4In0=")
    with pytest.raises(InvalidArgument, match="no searchable words"):
        await store.search("ns", '"*)( -- ')
    with pytest.raises(InvalidArgument, match="limit=501"):
        await store.list("ns", limit=501)


async def test_search_query_syntax_cannot_inject(store: MemoryStore) -> None:
    await store.put(PutItem("ns", "k", json.dumps("alpha beta")))
    for hostile in ['alpha" OR "x', "alpha AND NOT beta", "key:alpha", "alpha)*(", "NEAR(alpha beta)"]:
        await store.search("ns", hostile)  # never a syntax error, never everything


async def test_backup_change_restore_is_identical(store: MemoryStore) -> None:
    for i in range(50):
        await store.put(PutItem("ns", f"k{i}", json.dumps({"i": i}), ("t",)))
    snapshot = dump(store.db_path)
    backup = await store.create_backup()
    assert backup.entries == 50
    await store.put(PutItem("ns", "k0", '"changed"'))
    await store.delete("ns", "k1")
    await store.put(PutItem("ns", "new", '"added"'))
    check = await store.verify_backup(backup.backup_id)
    assert check.ok and check.integrity == "ok" and check.entries == 50
    result = await store.restore_backup(backup.backup_id)
    assert result.entries == 50
    assert dump(store.db_path) == snapshot
    assert (await store.get("ns", "k0")).value_json == '{"i":0}'
    assert await store.get("ns", "new") is None
    assert [e.key for e, _ in (await store.search("ns", "t"))[0]]  # the search index came back too
    # the state before the restore was kept
    safety = await store.verify_backup(result.safety_backup.backup_id)
    assert safety.ok and safety.entries == 50
    ids = {b.backup_id for b in await store.list_backups()}
    assert ids == {backup.backup_id, result.safety_backup.backup_id}


async def test_restore_survives_reopen_without_old_wal(tmp_path: Path, clock: FakeClock) -> None:
    s = MemoryStore(tmp_path / "d", clock=clock)
    s.open()
    await s.put(PutItem("ns", "k", '"old"'))
    backup = await s.create_backup()
    await s.put(PutItem("ns", "k", '"new"'))
    await s.restore_backup(backup.backup_id)
    s.close()
    s2 = MemoryStore(tmp_path / "d", clock=clock)
    s2.open()
    try:
        assert (await s2.get("ns", "k")).value_json == '"old"'
    finally:
        s2.close()


async def test_backup_ids_are_checked(store: MemoryStore) -> None:
    for bad in ["../memory", "/etc/passwd", "x.db", ""]:
        with pytest.raises(InvalidArgument, match="is not a backup id"):
            await store.verify_backup(bad)
        with pytest.raises(InvalidArgument):
            await store.restore_backup(bad)
    with pytest.raises(NotFound, match="no backup"):
        await store.verify_backup("20260101T000000Z-00000000")


async def test_corrupt_backup_is_not_restored(store: MemoryStore) -> None:
    await store.put(PutItem("ns", "k", '"live"'))
    backup = await store.create_backup()
    with open(backup.path, "r+b") as f:  # noqa: ASYNC230 - a test corrupting a file on purpose
        f.seek(4096)
        f.write(b"\xff" * 8192)
    check = await store.verify_backup(backup.backup_id)
    assert not check.ok
    with pytest.raises(FailedPrecondition, match="failed verification"):
        await store.restore_backup(backup.backup_id)
    assert (await store.get("ns", "k")).value_json == '"live"'


async def test_data_survives_reopen(tmp_path: Path) -> None:
    s = MemoryStore(tmp_path / "d")
    s.open()
    await asyncio.gather(*(s.put(PutItem("ns", f"k{i}", str(i))) for i in range(100)))
    s.close()
    s = MemoryStore(tmp_path / "d")
    s.open()
    try:
        assert len((await s.list("ns", limit=500))[0]) == 100
    finally:
        s.close()


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


async def test_the_wal_starts_over_under_steady_reads_and_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers and readers never pause here, so SQLite never finds the moment to start the WAL over by itself
    (without the writer's restart its file only grows, by every page written). The writer restarts it once it
    holds WAL_LIMIT_BYTES: the file is cut back to the limit again and again, and stays bounded."""
    import time

    import services.memory.store as store_module

    limit = 256 * 1024
    monkeypatch.setattr(store_module, "WAL_LIMIT_BYTES", limit)
    monkeypatch.setattr(store_module, "CHECKPOINT_INTERVAL_S", 0.05)
    store = MemoryStore(tmp_path / "d")
    store.open()
    wal = Path(f"{store.db_path}-wal")
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
        store.close()
    cut_back = sum(1 for before, after in itertools.pairwise(sizes) if after < before)
    assert cut_back >= 3, f"the WAL never started over: sizes {sizes[:: max(1, len(sizes) // 20)]}"
    assert max(sizes) < 64 * 1024 * 1024
