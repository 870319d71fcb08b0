"""The entry store called directly: semantics that every caller relies on."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import pytest

from common.errors import FailedPrecondition, InvalidArgument
from services.memory.entries import Entry, PutItem, PutResult
from services.memory.storage import EntryStore
from tests.conftest import FakeClock
from tests.services.memory.rows import rows

pytestmark = pytest.mark.engines


async def test_put_get_roundtrip_and_versions(store: EntryStore) -> None:
    r1 = await store.put(PutItem("team", "plan", json.dumps({"step": 1, "note": "héllo"}), ("b", "a", "a")))
    assert r1.created and r1.entry.version == 1 and r1.entry.tags == ("a", "b")
    r2 = await store.put(PutItem("team", "plan", json.dumps({"step": 2})))
    assert not r2.created and r2.entry.version == 2 and r2.entry.created_at == r1.entry.created_at
    got = await store.get("team", "plan")
    assert got is not None and json.loads(got.value_json) == {"step": 2} and got.version == 2
    assert await store.get("team", "other") is None
    assert await store.get("other", "plan") is None


async def test_ttl_expiry_is_immediate_and_purged(store: EntryStore, clock: FakeClock) -> None:
    await store.put(PutItem("ns", "short", '"x"', ttl_seconds=10))
    await store.put(PutItem("ns", "long", '"y"'))
    assert await store.get("ns", "short") is not None
    clock.advance(10.001)
    assert await store.get("ns", "short") is None
    assert [e.key for e in (await store.list("ns"))[0]] == ["long"]
    assert (await store.search("ns", "x"))[0] == []
    assert await store.purge_expired() == 1
    assert [r[3] for r in await rows(store.engine) if r[0] == "entries"] == ["long"]  # (table, id, namespace, key)
    # an expired key starts afresh
    r = await store.put(PutItem("ns", "short", '"z"', if_version=0))
    assert r.created and r.entry.version == 1


async def test_compare_and_set(store: EntryStore) -> None:
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


async def test_concurrent_cas_increments_lose_nothing(store: EntryStore) -> None:
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


async def test_repeated_request_id_applies_once(store: EntryStore) -> None:
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


def test_a_put_is_remembered_as_asdict_would_write_it() -> None:
    """The answer kept under a request id (PutResult.to_dict) is the JSON of every field, as asdict writes it."""
    for expires in (None, 9.5):
        result = PutResult(Entry("ns", "k", '{"v": 1}', ("a", "b"), 3, 1.25, 2.5, expires), False)
        assert json.dumps(result.to_dict()) == json.dumps(dataclasses.asdict(result))
        assert PutResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


async def test_search_ranking_and_paging(store: EntryStore) -> None:
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


async def test_list_prefix_tags_paging(store: EntryStore) -> None:
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


async def test_batch_put_is_all_or_nothing(store: EntryStore) -> None:
    await store.put(PutItem("ns", "taken", "1"))
    before = await rows(store.engine)
    with pytest.raises(FailedPrecondition, match=r"item 1: .*nothing in the batch was written"):
        await store.batch_put([PutItem("ns", "new", "1"), PutItem("ns", "taken", "2", if_version=0)])
    assert await rows(store.engine) == before
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
async def test_bad_input_is_refused_and_changes_nothing(store: EntryStore, item: PutItem, message: str) -> None:
    await store.put(PutItem("ns", "k", '"original"'))
    before = await rows(store.engine)
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(")):
        await store.put(item)
    assert await rows(store.engine) == before


async def test_bad_reads_are_refused(store: EntryStore) -> None:
    with pytest.raises(InvalidArgument, match="cursor is not one this server issued"):
        await store.list("ns", cursor="garbage!")
    with pytest.raises(InvalidArgument, match="cursor"):
        await store.search("ns", "word", cursor=(await store.list("ns"))[1] or "eyJ0IjoibCIsImsiOiJ4In0=")
    with pytest.raises(InvalidArgument, match="no searchable words"):
        await store.search("ns", '"*)( -- ')
    with pytest.raises(InvalidArgument, match="limit=501"):
        await store.list("ns", limit=501)


async def test_search_query_syntax_cannot_inject(store: EntryStore) -> None:
    await store.put(PutItem("ns", "k", json.dumps("alpha beta")))
    for hostile in ['alpha" OR "x', "alpha AND NOT beta", "key:alpha", "alpha)*(", "NEAR(alpha beta)"]:
        await store.search("ns", hostile)  # never a syntax error, never everything


async def test_a_repeated_compare_and_set_answers_its_first_answer_though_the_version_moved(store: EntryStore) -> None:
    first = await store.put(PutItem("ns", "k", '"a"', if_version=0), request_id="cas-1")
    await store.put(PutItem("ns", "k", '"b"'))  # the version moved on: the same CAS now would be refused
    assert await store.put(PutItem("ns", "k", '"a"', if_version=0), request_id="cas-1") == first
    got = await store.get("ns", "k")
    assert got.value_json == '"b"' and got.version == 2
