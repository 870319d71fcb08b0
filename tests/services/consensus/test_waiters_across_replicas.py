"""Consensus waiters woken across replicas: a waiter on one consensus replica wakes when a vote or the close
lands through another one (memory's WatchProposals stream), not at its re-check. On SQLite the two consensus
replicas share one memory; on PostgreSQL each talks to its own memory replica on one database, so the change
crosses memory replicas too (LISTEN/NOTIFY).

The re-check is set to a minute and the deadline to two: a waiter that is not woken by the stream answers "open"
when its wait runs out (20 s), which these tests would see."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from grpc import aio

from common.channels import CHANNEL_OPTIONS
from common.config import Config
from common.server import RunningService, start_service
from services.consensus.engine import ConsensusEngine
from services.consensus.records import ProposeInput
from services.memory.service import build as build_memory
from swarm.memory.v1 import proposals_pb2_grpc, state_pb2_grpc

pytestmark = pytest.mark.engines

RECHECK_S = 60.0
WAIT_S = 20.0
WOKEN_WITHIN_S = 10.0  # far below the re-check and the wait: only the stream can wake a waiter this soon


@pytest.fixture
async def engines(config: Config, memory_engine: str) -> AsyncIterator[tuple[ConsensusEngine, ConsensusEngine]]:
    memories: list[RunningService] = [await start_service(build_memory(config), "127.0.0.1:0")]
    if memory_engine == "postgres":
        memories.append(await start_service(build_memory(config), "127.0.0.1:0"))
    channels = [aio.insecure_channel(memories[i % len(memories)].address, options=CHANNEL_OPTIONS) for i in (0, 1)]
    pair = tuple(
        ConsensusEngine(
            proposals_pb2_grpc.ProposalStoreServiceStub(ch),
            state_pb2_grpc.SwarmStateServiceStub(ch),
            recheck_s=RECHECK_S,
        )
        for ch in channels
    )
    for e in pair:
        e.start()
    yield pair  # type: ignore[misc]
    for e in pair:
        await e.close()
    for ch in channels:
        await ch.close()
    for m in memories:
        await m.stop(grace=1)


def question(voters: tuple[str, ...]) -> ProposeInput:
    return ProposeInput(question="ship it?", options=["yes", "no"], eligible=voters, method="majority", deadline_s=120)


async def test_a_result_wait_on_one_replica_wakes_when_another_closes_the_proposal(engines) -> None:  # type: ignore[no-untyped-def]
    here, there = engines
    info = await there.propose(question(("a0", "a1", "a2")))
    started = time.monotonic()
    waiting = asyncio.create_task(here.result(info.proposal_id, wait_s=WAIT_S))
    await asyncio.sleep(0.2)  # the waiter is asleep on its event
    await there.vote(info.proposal_id, "a0", choice="yes")
    assert not waiting.done()  # a vote that decides nothing leaves it waiting
    await there.vote(info.proposal_id, "a1", choice="yes")  # 2 of 3: decided, closed by the other replica
    result = await waiting
    assert result.status == "decided" and result.winners == ["yes"] and result.counted == 2
    assert time.monotonic() - started < WOKEN_WITHIN_S


async def test_a_watch_on_one_replica_sees_each_vote_cast_through_another(engines) -> None:  # type: ignore[no-untyped-def]
    here, there = engines
    info = await there.propose(question(("a0", "a1", "a2", "a3", "a4")))
    seen: list[tuple[str, int]] = []
    first = asyncio.Event()

    async def watch() -> None:
        async for r in here.watch(info.proposal_id):
            seen.append((r.status, r.counted))
            first.set()

    task = asyncio.create_task(watch())
    await asyncio.wait_for(first.wait(), 5)
    started = time.monotonic()
    for i, voter in enumerate(("a0", "a1")):
        await there.vote(info.proposal_id, voter, choice="no")
        while len(seen) < i + 2:  # each vote reaches the watcher before the next is cast
            assert time.monotonic() - started < WOKEN_WITHIN_S, seen
            await asyncio.sleep(0.01)
    await there.vote(info.proposal_id, "a2", choice="no")  # 3 of 5: decided
    await asyncio.wait_for(task, WOKEN_WITHIN_S)
    assert seen == [("open", 0), ("open", 1), ("open", 2), ("decided", 3)]
