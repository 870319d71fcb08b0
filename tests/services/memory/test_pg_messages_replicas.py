"""Messages on several memory replicas sharing one PostgreSQL database, over real gRPC: an inbox long poll on one
replica is woken by a send through another; a send or an acknowledgement with a request id is applied once whichever
replicas it reaches; the retention purge runs once across replicas."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from grpc import aio

from common.channels import CHANNEL_OPTIONS
from services.memory.message_rules import Outgoing, address
from services.memory.postgres.storage import PgStorage
from services.memory.state import AgentSpec
from swarm.memory.v1 import messages_pb2 as mpb
from swarm.memory.v1 import messages_pb2_grpc, state_pb2_grpc
from swarm.memory.v1 import state_pb2 as spb
from tests.conftest import FakeClock
from tests.services.memory.test_postgres_replicas import start_replicas


@dataclass
class Replica:
    messages: messages_pb2_grpc.MessageServiceStub
    state: state_pb2_grpc.SwarmStateServiceStub


@pytest.fixture(params=[2, 3], ids=["2-replicas", "3-replicas"])
async def replicas(request: pytest.FixtureRequest, pg_url: str, tmp_path) -> AsyncIterator[list[Replica]]:  # type: ignore[no-untyped-def]
    running = await start_replicas(pg_url, request.param, tmp_path)
    channels = [aio.insecure_channel(r.address, options=CHANNEL_OPTIONS) for r in running]
    try:
        found = [
            Replica(messages_pb2_grpc.MessageServiceStub(c), state_pb2_grpc.SwarmStateServiceStub(c)) for c in channels
        ]
        for i, agent in enumerate(("lead", "dev", "rev1", "rev2")):
            topics = spb.Topics(names=["reviews"] if agent.startswith("rev") else [])
            await found[i % len(found)].state.PutAgent(spb.PutAgentRequest(agent_id=agent, capacity=1, topics=topics))
        yield found
    finally:
        for c in channels:
            await c.close()
        for r in running:
            await r.stop(grace=1)


async def test_an_inbox_long_poll_on_one_replica_wakes_on_a_send_through_another(replicas: list[Replica]) -> None:
    sender, waiters = replicas[0], replicas[1:]
    polls = [
        asyncio.ensure_future(w.messages.ReadInbox(mpb.ReadInboxRequest(agent_id=agent, wait_s=30)))
        for w in waiters
        for agent in ("rev1", "rev2")
    ]
    await asyncio.sleep(0.3)
    assert not any(p.done() for p in polls)  # they are waiting
    sent = await sender.messages.SendMessage(
        mpb.SendMessageRequest(from_agent="lead", to=["topic:reviews"], subject="s", body="review please")
    )
    answers = await asyncio.wait_for(asyncio.gather(*polls), 20)
    # a poll that timed out would answer the empty inbox it had read before waiting: these were woken
    for a in answers:
        assert [m.message_id for m in a.messages] == [sent.message.message_id], a
        assert a.waited_s < 30
    # and nobody else was woken: dev's poll on another replica runs its whole (short) wait and finds nothing
    quiet = await waiters[0].messages.ReadInbox(mpb.ReadInboxRequest(agent_id="dev", wait_s=0.5))
    assert list(quiet.messages) == [] and quiet.waited_s >= 0.4


async def test_a_send_and_an_ack_are_applied_once_across_replicas(replicas: list[Replica]) -> None:
    send = mpb.SendMessageRequest(
        from_agent="lead", to=["dev"], subject="s", body="ack me", ack_required=True, request_id="send-once-1"
    )
    sent = await asyncio.gather(*(r.messages.SendMessage(send) for r in replicas for _ in range(2)))
    assert len({s.message.message_id for s in sent}) == 1
    message_id = sent[0].message.message_id
    assert len((await replicas[-1].messages.ReadInbox(mpb.ReadInboxRequest(agent_id="dev"))).messages) == 1

    ack = mpb.AckMessagesRequest(agent_id="dev", message_ids=[message_id], request_id="ack-once-1")
    acks = await asyncio.gather(*(r.messages.AckMessages(ack) for r in replicas for _ in range(2)))
    assert {tuple(a.acknowledged) for a in acks} == {(message_id,)}
    read = mpb.ReadInboxRequest(agent_id="dev", message_id=message_id)
    first = (await replicas[0].messages.ReadInbox(read)).messages[0]
    assert first.acked_at > 0
    await asyncio.sleep(0.05)  # a later acknowledgement (another request) keeps the first time
    await replicas[-1].messages.AckMessages(mpb.AckMessagesRequest(agent_id="dev", message_ids=[message_id]))
    for r in replicas:
        again = (await r.messages.ReadInbox(read)).messages[0]
        assert again.acked_at == first.acked_at
        view = (await r.messages.ReadInbox(mpb.ReadInboxRequest(agent_id="lead", sent=True))).messages[0]
        assert list(view.recipients) == ["dev"] and list(view.acknowledged) == ["dev"]


async def test_old_messages_are_purged_once_across_replicas(pg_url: str) -> None:
    clock = FakeClock()
    storages = [PgStorage(pg_url, clock=clock, message_retention_s=60) for _ in range(3)]
    for s in storages:
        s.open()
    try:
        for agent in ("lead", "dev"):
            await storages[0].state.put_agent(AgentSpec(agent, {}, 1))
        for i in range(30):
            await storages[i % 3].messages.send(Outgoing("lead", address(["dev"]), "s", f"m{i}"))
        clock.advance(61)
        purged = await asyncio.gather(*(s.engine.purge() for s in storages))
        assert sum(purged) == 30 and max(purged) == 30  # one replica did it, the others found it taken or done
        for s in storages:
            assert (await s.messages.inbox("dev")).messages == []
    finally:
        for s in storages:
            await s.close()
