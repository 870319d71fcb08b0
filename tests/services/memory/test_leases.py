"""Leases as the memory service keeps them (real SQLite, a clock the test moves): conflicts, all-or-nothing grants,
fencing tokens, renewal, expiry, release rules, waiting, revocation of a silent agent's leases, restarts."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.memory.globs import common_path
from services.memory.lease_rules import LeaseRequest
from services.memory.sqlite.leases import SqliteLeaseStore
from services.memory.sqlite.storage import SqliteStorage
from services.memory.state import AgentSpec
from services.memory.work_rules import Spec
from tests.conftest import FakeClock
from tests.services.memory.conftest import open_storage
from tests.services.memory.globcases import brute_matches, common_paths, drawn_from, globs

pytestmark = pytest.mark.engines


@pytest.fixture
async def storage(tmp_path: Path, clock: FakeClock, database_url: str | None) -> AsyncIterator[SqliteStorage]:
    s = open_storage(database_url, tmp_path / "d", clock=clock)
    for agent in ("a1", "a2", "a3"):
        await s.state.put_agent(AgentSpec(agent, {}, 1.0))
    yield s
    await s.close()


@pytest.fixture
def leases(storage: SqliteStorage) -> SqliteLeaseStore:
    return storage.leases


def ask(agent: str, *resources: str, ttl: float = 60, exclusive: bool = True, **kw: object) -> LeaseRequest:
    return LeaseRequest(agent, resources, ttl, exclusive, **kw)  # type: ignore[arg-type]


async def parked(leases: SqliteLeaseStore, n: int = 1) -> None:
    """Until ``n`` acquires wait in the store (their refusal was written and they sleep on their event)."""
    for _ in range(5000):
        if len(leases._waiters) >= n:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"{len(leases._waiters)} waiters, not {n}")


async def table(storage: SqliteStorage) -> list[tuple[object, ...]]:
    """Every row of the leases and of their counter, whatever the engine."""
    if not isinstance(storage, SqliteStorage):

        async def read(conn: Any) -> list[tuple[object, ...]]:
            leases = await conn.fetch("SELECT * FROM leases ORDER BY token")
            return [tuple(r) for r in leases + await conn.fetch("SELECT * FROM lease_counter")]

        return await storage.engine.read(read)  # type: ignore[attr-defined]
    conn = sqlite3.connect(storage.engine.db_path)
    try:
        return (
            conn.execute("SELECT * FROM leases ORDER BY token").fetchall()
            + conn.execute("SELECT * FROM lease_counter").fetchall()
        )
    finally:
        conn.close()


async def test_a_conflicting_request_is_refused_naming_the_holder_and_changes_nothing(
    storage: SqliteStorage, leases: SqliteLeaseStore
) -> None:
    got = await leases.acquire(ask("a1", "src/**", reason="refactoring the api"))
    assert got.granted and [x.resource for x in got.leases] == ["src/**"] and got.renewed == (False,)
    before = await table(storage)
    refused = await leases.acquire(ask("a2", "docs/README.md", "src/api/*.py"))
    assert not refused.granted and refused.leases == ()
    assert [(c.resource, c.held.resource, c.held.agent_id) for c in refused.conflicts] == [
        ("src/api/*.py", "src/**", "a1")
    ]
    text = refused.refusal
    assert "src/api/*.py overlaps src/**: held by agent a1" in text and "exclusive lease-1, token 1" in text
    assert "(in 60.0 s)" in text and "reason: refactoring the api" in text and "nothing changed" in text
    assert await table(storage) == before  # all or nothing: docs/README.md was not granted either


async def test_shared_leases_conflict_only_with_exclusive_ones(leases: SqliteLeaseStore) -> None:
    assert (await leases.acquire(ask("a1", "docs/**", exclusive=False))).granted
    assert (await leases.acquire(ask("a2", "docs/*.md", exclusive=False))).granted
    refused = await leases.acquire(ask("a3", "docs/README.md"))
    assert not refused.granted and {c.held.agent_id for c in refused.conflicts} == {"a1", "a2"}
    assert "shared lease-1" in refused.refusal
    assert (await leases.acquire(ask("a3", "src/**"))).granted
    refused = await leases.acquire(ask("a1", "src/main.py", exclusive=False))
    assert not refused.granted and "exclusive lease-3" in refused.refusal
    assert (await leases.acquire(ask("a3", "src/**", "src/main.py"))).granted  # its own leases never conflict


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=st.data(), a=globs, b=globs, shared_a=st.booleans(), shared_b=st.booleans())
async def test_two_leases_are_granted_together_exactly_when_no_path_matches_both_or_both_are_shared(
    leases: SqliteLeaseStore, data: st.DataObject, a: str, b: str, shared_a: bool, shared_b: bool
) -> None:
    first = await leases.acquire(ask("a1", a, exclusive=not shared_a))
    second = await leases.acquire(ask("a2", b, exclusive=not shared_b))
    try:
        extra = data.draw(st.lists(st.one_of(drawn_from(a), drawn_from(b)), max_size=20))
        witness = common_path(a, b)
        verified = witness is not None and brute_matches(witness, a) and brute_matches(witness, b)
        found = common_paths(a, b, extra)
        assert found == [] or witness is not None, (a, b, found[:1])  # a common path found: the store saw it too
        some_path_matches_both = verified or bool(found)
        assert first.granted
        assert second.granted == (not some_path_matches_both or (shared_a and shared_b)), (a, b, shared_a, shared_b)
    finally:
        for agent, out in (("a1", first), ("a2", second)):
            if out.granted:
                await leases.release(agent, [f"lease-{x.token}" for x in out.leases])


async def test_tokens_only_grow_renewal_keeps_the_token_and_a_restart_keeps_the_counter(
    tmp_path: Path, storage: SqliteStorage, leases: SqliteLeaseStore, clock: FakeClock, database_url: str | None
) -> None:
    tokens = []
    for resource in ("a", "b/**", "b/c", "a"):
        got = await leases.acquire(ask("a1", resource, exclusive=resource != "b/c"))
        tokens.append(got.leases[0].token)
    assert tokens[:3] == sorted(set(tokens[:3])) and tokens[3] == tokens[0]  # 'a' again: renewed, same token
    clock.advance(30)
    renewed = await leases.acquire(ask("a1", "a", ttl=600, reason="longer"))
    assert renewed.renewed == (True,) and renewed.leases[0].token == tokens[0]
    assert renewed.leases[0].expires_at == clock.now + 600 and renewed.leases[0].reason == "longer"
    mode = await leases.acquire(ask("a1", "a", exclusive=False))  # another mode: a new grant replaces it
    assert mode.renewed == (False,) and mode.leases[0].token > max(tokens) and mode.replaced == (tokens[0],)
    held, _, _ = await leases.list(agent_id="a1")
    assert [(x.resource, x.exclusive) for x in held] == [("a", False), ("b/**", True), ("b/c", False)]
    await leases.release("a1", resources=["a", "b/**", "b/c"])
    high = mode.leases[0].token
    await storage.close()
    again = open_storage(database_url, tmp_path / "d", clock=clock)
    try:
        after = await again.leases.acquire(ask("a2", "a"))
        assert after.leases[0].token == high + 1
    finally:
        await again.close()


async def test_a_restore_never_brings_tokens_back(storage: SqliteStorage, leases: SqliteLeaseStore) -> None:
    if not isinstance(storage, SqliteStorage):
        pytest.skip("backups on PostgreSQL are the database's job (memory_backup is refused there)")
    await leases.acquire(ask("a1", "x"))
    backup = await storage.backups.create_backup()
    granted = [(await leases.acquire(ask("a1", f"y{i}"))).leases[0].token for i in range(3)]
    await storage.backups.restore_backup(backup.backup_id)
    after = await leases.acquire(ask("a2", "z"))
    assert after.leases[0].token > max(granted)


async def test_a_lease_is_gone_at_its_ttl_a_late_release_is_refused_and_the_next_token_is_greater(
    leases: SqliteLeaseStore, clock: FakeClock
) -> None:
    got = await leases.acquire(ask("a1", "build/lock", ttl=10))
    clock.advance(9.9)
    assert [x.resource for x in (await leases.list())[0]] == ["build/lock"]
    assert not (await leases.acquire(ask("a2", "build/*"))).granted
    clock.advance(0.1)
    assert (await leases.list())[0] == []
    with pytest.raises(FailedPrecondition, match=r"lease-1 on build/lock expired at .*s ago. .its ttl ran out"):
        await leases.release("a1", ["lease-1"])
    with pytest.raises(FailedPrecondition, match="expired"):
        await leases.release("a1", resources=["build/lock"])
    nxt = await leases.acquire(ask("a2", "build/*"))
    assert nxt.granted and nxt.leases[0].token > got.leases[0].token


async def test_only_the_holder_releases_and_a_release_is_all_or_nothing(
    storage: SqliteStorage, leases: SqliteLeaseStore
) -> None:
    one = (await leases.acquire(ask("a1", "p", "q"))).leases
    other = (await leases.acquire(ask("a2", "r"))).leases[0]
    before = await table(storage)
    with pytest.raises(FailedPrecondition, match="lease-3 on r is held by agent a2, not a1: only its holder"):
        await leases.release("a1", ["lease-1", f"lease-{other.token}"])
    with pytest.raises(FailedPrecondition, match="agent a1 holds no lease on zzz"):
        await leases.release("a1", ["lease-1"], ["zzz"])
    with pytest.raises(NotFound, match="no lease-99: never granted"):
        await leases.release("a1", ["lease-99"])
    with pytest.raises(InvalidArgument, match="not one this server gives out"):
        await leases.release("a1", ["L1"])
    with pytest.raises(InvalidArgument, match="give lease_ids or resources"):
        await leases.release("a1")
    with pytest.raises(NotFound, match="register it first"):
        await leases.release("ghost", ["lease-1"])
    assert await table(storage) == before
    out = await leases.release("a1", [f"lease-{one[0].token}"], ["q"])
    assert sorted(x.resource for x in out.released) == ["p", "q"] and {x.ended for x in out.released} == {"released"}
    with pytest.raises(FailedPrecondition, match="lease-1 on p was already released"):
        await leases.release("a1", ["lease-1"])


async def test_bad_requests_are_refused_clearly_and_store_nothing(
    storage: SqliteStorage, leases: SqliteLeaseStore
) -> None:
    before = await table(storage)
    cases = [
        (ask("ghost", "x"), NotFound, "no agent 'ghost': register it first"),
        (ask("a1", "src//x"), InvalidArgument, "resource 'src//x' has an empty segment"),
        (ask("a1", "src/[ab].py"), InvalidArgument, "only \\* \\? and \\*\\* are special"),
        (ask("a1", "x", ttl=0.5), InvalidArgument, "ttl_s=0.5: give 1-86400 seconds"),
        (ask("a1", "x", ttl=86401), InvalidArgument, "ttl_s=86401"),
        (ask("a1", "x", wait_s=61), InvalidArgument, "wait_s=61: give 0-60"),
        (ask("a1", *[f"r{i}" for i in range(65)]), InvalidArgument, "65 resources in one request: at most 64"),
        (ask("a1"), InvalidArgument, "no resources given"),
        (ask("a1", "x", reason="r" * 501), InvalidArgument, "at most 500 characters"),
    ]
    for request, error, says in cases:
        with pytest.raises(error, match=says):
            await leases.acquire(request)
    with pytest.raises(InvalidArgument, match="limit=5000"):
        await leases.list(limit=5000)
    assert await table(storage) == before


async def test_listing_shows_every_lease_that_covers_or_overlaps_a_path(leases: SqliteLeaseStore) -> None:
    await leases.acquire(ask("a1", "src/**", reason="big refactor"))
    await leases.acquire(ask("a2", "docs/*.md", exclusive=False))
    await leases.acquire(ask("a3", "docs/README.md", exclusive=False))
    everything, more, now = await leases.list()
    assert [x.resource for x in everything] == ["docs/*.md", "docs/README.md", "src/**"] and not more
    assert everything[2].reason == "big refactor" and everything[2].expires_at == now + 60
    covering, _, _ = await leases.list("docs/README.md")
    assert [(x.resource, x.agent_id) for x in covering] == [("docs/*.md", "a2"), ("docs/README.md", "a3")]
    assert [x.resource for x in (await leases.list("docs/**"))[0]] == ["docs/*.md", "docs/README.md"]
    assert len((await leases.list("**/*.md"))[0]) == 3  # src/x.md is under src/** too
    assert [x.resource for x in (await leases.list("src/app/main.py"))[0]] == ["src/**"]
    assert [x.resource for x in (await leases.list(agent_id="a3"))[0]] == ["docs/README.md"]
    page, more, _ = await leases.list(limit=2)
    assert len(page) == 2 and more


async def test_a_waiting_acquire_is_woken_by_the_release(leases: SqliteLeaseStore) -> None:
    await leases.acquire(ask("a1", "db/migrations/**"))
    waiting = asyncio.create_task(leases.acquire(ask("a2", "db/migrations/0042.sql", wait_s=30)))
    await parked(leases)
    loop = asyncio.get_running_loop()
    released_at = loop.time()
    await leases.release("a1", resources=["db/migrations/**"])
    got = await asyncio.wait_for(waiting, 5)
    assert got.granted and loop.time() - released_at < 5 and got.waited_s > 0  # its deadline was 30 s away


async def test_a_waiting_acquire_is_woken_by_the_expiry_and_gives_up_at_its_deadline(
    leases: SqliteLeaseStore, clock: FakeClock
) -> None:
    await leases.acquire(ask("a1", "x", ttl=5))
    waiting = asyncio.create_task(leases.acquire(ask("a2", "x", wait_s=30)))
    await parked(leases)
    leases.wake_expired()  # the timer fires but nothing ran out: it waits on
    await asyncio.sleep(0)
    assert len(leases._waiters) == 1 and not waiting.done()
    clock.advance(5)
    leases.wake_expired()
    got = await asyncio.wait_for(waiting, 5)
    assert got.granted and got.leases[0].token == 2
    short = await leases.acquire(ask("a1", "x", wait_s=0.2))
    assert not short.granted and short.waited_s >= 0.2 and "after waiting 0.2 s" in short.refusal


async def test_an_agent_marked_offline_loses_its_leases_and_waiters_wake(
    storage: SqliteStorage, leases: SqliteLeaseStore, clock: FakeClock
) -> None:
    await storage.work.submit([Spec("t", lease_s=10)])
    await storage.work.place([("t", "a1", 1.0)], [])
    await leases.acquire(ask("a1", "src/**", ttl=3600))
    await leases.acquire(ask("a2", "docs/**", ttl=3600))
    await leases.check_revocations()
    waiting = asyncio.create_task(leases.acquire(ask("a3", "src/x.py", wait_s=30)))
    await parked(leases)
    clock.advance(11)
    assert await storage.work.expire_leases() == 1  # a1 went silent: marked offline
    await leases.check_revocations()  # what run() does on each change of the work queue
    got = await asyncio.wait_for(waiting, 5)
    assert got.granted
    assert [x.agent_id for x in (await leases.list())[0]] == ["a2", "a3"]
    with pytest.raises(FailedPrecondition, match=r"revoked .* agent a1 was marked offline"):
        await leases.release("a1", resources=["src/**"])


async def test_fifty_concurrent_acquirers_of_one_resource_get_one_grant(
    storage: SqliteStorage, leases: SqliteLeaseStore
) -> None:
    agents = [f"w{i}" for i in range(50)]
    for agent in agents:
        await storage.state.put_agent(AgentSpec(agent, {}, 1.0))
    outs = await asyncio.gather(*(leases.acquire(ask(a, "release/v2")) for a in agents))
    granted = [o for o in outs if o.granted]
    assert len(granted) == 1
    holder = granted[0].leases[0].agent_id
    assert all(f"held by agent {holder}" in o.refusal for o in outs if not o.granted)


async def test_watch_sees_every_end(leases: SqliteLeaseStore) -> None:
    seen = leases.watch()
    first = await anext(seen)
    await leases.acquire(ask("a1", "x"))
    await leases.release("a1", resources=["x"])
    assert await asyncio.wait_for(anext(seen), 5) > first
