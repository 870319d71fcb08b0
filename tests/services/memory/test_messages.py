"""Messages between agents as the memory service keeps them: delivery, topics, threads, search, acknowledgements,
the inbox long poll, limits, retention and restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common.errors import InvalidArgument, NotFound
from services.memory.message_rules import PREVIEW_CHARS, Outgoing, address
from services.memory.state import AgentSpec
from services.memory.storage import MessageStore, Storage
from tests.conftest import FakeClock
from tests.services.memory.conftest import open_storage

pytestmark = pytest.mark.engines


@pytest.fixture
async def storage(tmp_path: Path, clock: FakeClock, database_url: str | None) -> AsyncIterator[Storage]:
    s = open_storage(database_url, tmp_path / "d", clock=clock, max_value_bytes=4096, message_retention_s=3600)
    yield s
    await s.close()


@pytest.fixture
async def messages(storage: Storage) -> MessageStore:
    for agent, topics in (("lead", ()), ("rev1", ("reviews",)), ("rev2", ("reviews", "ops")), ("dev", ())):
        await storage.state.put_agent(AgentSpec(agent, {}, 1, topics=topics))
    return storage.messages


def out(sender: str, to: list[str], body: str = "hello", **kw: object) -> Outgoing:
    return Outgoing(sender, address(to), kw.pop("subject", "subject"), body, **kw)  # type: ignore[arg-type]


async def test_delivery_to_agents_topics_and_everyone(messages: MessageStore) -> None:
    _, to_agents = await messages.send(out("lead", ["dev", "rev1"]))
    _, to_topic = await messages.send(out("lead", ["topic:reviews"]))
    _, to_all = await messages.send(out("dev", ["*"]))
    assert to_agents == ["dev", "rev1"] and to_topic == ["rev1", "rev2"] and to_all == ["lead", "rev1", "rev2"]
    inbox = await messages.inbox("rev1")
    assert [m.from_agent for m in inbox.messages] == ["dev", "lead", "lead"] and inbox.unread == 3


async def test_threads_search_acknowledgements_and_the_senders_view(messages: MessageStore) -> None:
    first, _ = await messages.send(out("lead", ["rev1", "rev2"], "please review the parser", ack_required=True))
    reply, _ = await messages.send(out("rev1", ["lead"], "looks good", thread_id=first.message_id))
    await messages.send(out("lead", ["rev1"], "unrelated"))
    assert reply.thread_id == first.message_id
    thread = await messages.inbox("lead", thread_id=first.message_id)
    assert [m.body for m in thread.messages] == ["looks good"]
    found = await messages.inbox("rev1", query="pars*")
    assert [m.message_id for m in found.messages] == [first.message_id]
    assert await messages.ack("rev1", [first.message_id]) == [first.message_id]
    sent = await messages.inbox("lead", sent=True)
    view = next(m for m in sent.messages if m.message_id == first.message_id)
    assert view.recipients == ("rev1", "rev2") and view.acknowledged == ("rev1",)
    (own,) = (await messages.inbox("lead", message_id=first.message_id)).messages  # the sender reads it by id
    assert own.body == "please review the parser" and own.recipients == ("rev1", "rev2")
    assert own.acknowledged == ("rev1",)
    assert (await messages.inbox("rev1", unread_only=True)).messages[0].body == "unrelated"


async def test_long_bodies_are_cut_in_listings_and_read_whole_by_id(messages: MessageStore) -> None:
    long = "x" * (PREVIEW_CHARS + 50)
    sent, _ = await messages.send(out("lead", ["dev"], long))
    listed = (await messages.inbox("dev")).messages[0]
    assert listed.truncated and len(listed.body) == PREVIEW_CHARS
    whole = (await messages.inbox("dev", message_id=sent.message_id)).messages[0]
    assert whole.body == long and not whole.truncated and whole.read_at is not None
    with pytest.raises(NotFound, match="not sent to or by it"):
        await messages.inbox("rev1", message_id=sent.message_id)


async def test_a_waiting_inbox_wakes_on_the_send(messages: MessageStore) -> None:
    waiting = asyncio.create_task(messages.inbox("dev", wait_s=30))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    loop = asyncio.get_running_loop()
    sent_at = loop.time()
    await messages.send(out("lead", ["dev"], "wake up"))
    page = await asyncio.wait_for(waiting, 5)
    assert [m.body for m in page.messages] == ["wake up"] and loop.time() - sent_at < 1.0
    assert (await messages.inbox("rev2", wait_s=0.2)).messages == []  # nothing came: an empty answer in time


async def test_bad_messages_are_refused_and_nothing_is_stored(messages: MessageStore) -> None:
    with pytest.raises(NotFound, match="no agent 'ghost': register it first"):
        await messages.send(out("ghost", ["dev"]))
    with pytest.raises(NotFound, match="no agent 'nobody'"):
        await messages.send(out("lead", ["dev", "nobody"]))
    with pytest.raises(NotFound, match="nobody subscribes to topic 'empty'"):
        await messages.send(out("lead", ["topic:empty"]))
    with pytest.raises(InvalidArgument, match="body is empty"):
        await messages.send(out("lead", ["dev"], "  "))
    with pytest.raises(InvalidArgument, match="body is 5000 bytes: the limit is 4096"):
        await messages.send(out("lead", ["dev"], "x" * 5000))
    with pytest.raises(InvalidArgument, match="stands alone"):
        address(["dev", "*"])
    assert (await messages.inbox("dev")).messages == []
    with pytest.raises(NotFound, match="was not delivered to 'dev'"):
        await messages.ack("dev", [1])
    with pytest.raises(NotFound, match="no agent 'ghost': register it first"):
        await messages.inbox("ghost")
    with pytest.raises(NotFound, match="no agent 'ghost': register it first"):
        await messages.ack("ghost", [1])
    # an acknowledgement is all or nothing: one id not delivered to the agent, none is acknowledged
    mine, _ = await messages.send(out("lead", ["dev"], "for dev"))
    other, _ = await messages.send(out("lead", ["rev1"], "for rev1"))
    with pytest.raises(NotFound, match=f"message {other.message_id} was not delivered to 'dev'"):
        await messages.ack("dev", [mine.message_id, other.message_id])
    (listed,) = (await messages.inbox("dev")).messages
    assert listed.message_id == mine.message_id and listed.acked_at is None and listed.read_at is None


async def test_messages_survive_a_restart_and_are_purged_after_retention(
    tmp_path: Path, storage: Storage, messages: MessageStore, clock: FakeClock, database_url: str | None
) -> None:
    await messages.send(out("lead", ["dev"], "kept"))
    await storage.close()
    again = open_storage(database_url, tmp_path / "d", clock=clock, message_retention_s=3600)
    try:
        assert [m.body for m in (await again.messages.inbox("dev")).messages] == ["kept"]
        (agent,) = await again.state.list_agents(["rev2"])
        assert agent.topics == ("ops", "reviews")
        clock.advance(3601)
        await again.engine.purge()
        assert (await again.messages.inbox("dev")).messages == []
    finally:
        await again.close()
