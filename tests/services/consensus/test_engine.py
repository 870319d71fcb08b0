"""The consensus engine against a real memory service over gRPC (SQLite in a temp dir): early decision,
deadlines, concurrency, replacement, request ids, recovery after a restart, bad input.

No fixed sleeps: deadlines are short and the tests wait on results (events set by votes, closes and timers).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from grpc import aio

from common.channels import CHANNEL_OPTIONS
from common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from common.server import RunningService
from services.consensus.engine import ConsensusEngine
from services.consensus.records import ProposeInput
from swarm.memory.v1 import proposals_pb2 as ppb
from swarm.memory.v1 import proposals_pb2_grpc, state_pb2_grpc
from swarm.memory.v1 import state_pb2 as spb

VOTERS = tuple(f"a{i}" for i in range(5))

pytestmark = pytest.mark.engines  # each test that uses the memory runs on SQLite and on PostgreSQL


@pytest.fixture
async def channel(memory_service: RunningService) -> AsyncIterator[aio.Channel]:
    ch = aio.insecure_channel(memory_service.address, options=CHANNEL_OPTIONS)
    yield ch
    await ch.close()


def new_engine(channel: aio.Channel) -> ConsensusEngine:
    return ConsensusEngine(
        proposals_pb2_grpc.ProposalStoreServiceStub(channel), state_pb2_grpc.SwarmStateServiceStub(channel)
    )


@pytest.fixture
async def engine(channel: aio.Channel) -> AsyncIterator[ConsensusEngine]:
    e = new_engine(channel)
    e.start()
    yield e
    await e.close()


async def stored(channel: aio.Channel, pid: str) -> ppb.StoredProposal:
    return await proposals_pb2_grpc.ProposalStoreServiceStub(channel).GetProposal(
        ppb.GetProposalRequest(proposal_id=pid)
    )


def proposal(**kw: object) -> ProposeInput:
    base: dict[str, object] = {"question": "ship it?", "options": ["a", "b", "c"], "eligible": VOTERS}
    return ProposeInput(**{**base, **kw})  # type: ignore[arg-type]


async def test_majority_decides_early_once_no_vote_can_change_it(engine: ConsensusEngine, channel) -> None:
    info = await engine.propose(proposal(method="majority"))
    assert info.spec.method == "majority" and info.deadline - info.created_at == pytest.approx(30, abs=0.5)
    r1 = await engine.vote(info.proposal_id, "a0", choice="a")
    r2 = await engine.vote(info.proposal_id, "a1", choice="a")
    assert r1.result.status == r2.result.status == "open"
    r3 = await engine.vote(info.proposal_id, "a2", choice="a")
    res = r3.result
    assert res.status == "decided" and res.consensus and res.winners == ["a"] and not res.tied
    assert res.counted == 3 and res.participation == pytest.approx(0.6) and res.agreement == 1.0
    assert [v.voter for v in res.votes] == ["a0", "a1", "a2"] and res.rounds[0].scores == {"a": 3, "b": 0, "c": 0}
    assert res.closed_at > 0 and info.proposal_id not in engine.scheduled  # its deadline timer is gone
    with pytest.raises(FailedPrecondition, match="closed \\(decided\\)"):
        await engine.vote(info.proposal_id, "a3", choice="b")
    row = await stored(channel, info.proposal_id)
    assert row.status == "decided" and row.vote_count == 3  # the refused vote changed nothing
    again = await engine.result(info.proposal_id)
    assert again.status == "decided" and again.winners == ["a"] and again.votes == res.votes


async def test_deadline_expires_without_quorum_within_a_second(engine: ConsensusEngine) -> None:
    info = await engine.propose(proposal(method="plurality", quorum_count=3, deadline_s=0.4))
    await engine.vote(info.proposal_id, "a0", choice="b")
    res = await engine.result(info.proposal_id, wait_s=5)
    late = time.time() - info.deadline
    assert res.status == "expired" and "without quorum" in res.reason and res.counted == 1
    assert 0 <= late < 1.0 and res.closed_at >= info.deadline
    with pytest.raises(FailedPrecondition):
        await engine.vote(info.proposal_id, "a1", choice="b")


async def test_deadline_with_quorum_decides_or_reports_a_tie(engine: ConsensusEngine) -> None:
    win = await engine.propose(proposal(method="plurality", deadline_s=0.3))
    tie = await engine.propose(proposal(method="plurality", deadline_s=0.3))
    await engine.vote(win.proposal_id, "a0", choice="b")
    await engine.vote(tie.proposal_id, "a0", choice="a")
    await engine.vote(tie.proposal_id, "a1", choice="c")
    won, tied = await asyncio.gather(engine.result(win.proposal_id, wait_s=5), engine.result(tie.proposal_id, wait_s=5))
    assert won.status == "decided" and won.winners == ["b"]
    assert tied.status == "no_consensus" and tied.winners == ["a", "c"] and tied.tied and "tie" in tied.reason


async def test_supermajority_split_ends_as_no_consensus(engine: ConsensusEngine) -> None:
    info = await engine.propose(proposal(method="supermajority", eligible=("a0", "a1", "a2")))
    await engine.vote(info.proposal_id, "a0", choice="a")
    res = (await engine.vote(info.proposal_id, "a1", choice="b")).result
    # 1 a, 1 b, one voter left: a third vote for a or b makes 2 of 3 = 2/3, so it is still open
    assert res.status == "open"
    res = (await engine.vote(info.proposal_id, "a2", choice="c")).result
    assert res.status == "no_consensus" and res.tied


async def test_vote_replaced_and_request_id_applied_once(engine: ConsensusEngine, channel) -> None:
    info = await engine.propose(proposal(method="plurality"))
    first = await engine.vote(info.proposal_id, "a0", choice="a", request_id="r-1")
    assert not first.replaced and first.revision == 1
    repeat = await engine.vote(info.proposal_id, "a0", choice="a", request_id="r-1")
    assert repeat.revision == 1 and repeat.result.revision == 1
    changed = await engine.vote(info.proposal_id, "a0", choice="c", confidence=0.5)
    assert changed.replaced and changed.revision == 2
    res = changed.result
    assert res.counted == 1 and res.votes[0].choice == "c" and res.votes[0].confidence == 0.5
    assert res.votes[0].revision == 2 and res.rounds[0].scores["c"] == 1
    row = await stored(channel, info.proposal_id)
    assert row.revision == 2 and row.vote_count == 1 and len(row.votes) == 1


async def test_weighted_uses_registry_weights_and_default_eligible(engine: ConsensusEngine, channel) -> None:
    state = state_pb2_grpc.SwarmStateServiceStub(channel)
    for agent, weight in (("w1", 3.0), ("w2", 1.0), ("w3", 1.0)):
        await state.PutAgent(spb.PutAgentRequest(agent_id=agent, capacity=1, weight=weight))
    info = await engine.propose(ProposeInput(question="q", options=["x", "y"], method="weighted"))
    assert info.spec.eligible == ("w1", "w2", "w3") and dict(info.spec.weights) == {"w1": 3.0, "w2": 1.0, "w3": 1.0}
    res = (await engine.vote(info.proposal_id, "w1", choice="x", confidence=0.9)).result
    # 3 x 0.9 = 2.7 > the 2.0 the others can still add: decided at once
    assert res.status == "decided" and res.winners == ["x"] and res.counted_weight == pytest.approx(2.7)
    assert res.votes[0].weight == 3.0
    over = await engine.propose(
        ProposeInput(question="q", options=["x", "y"], method="weighted", eligible=["w1", "w2"], weights={"w2": 5})
    )
    assert dict(over.spec.weights) == {"w1": 3.0, "w2": 5.0}


async def test_irv_and_approval_through_the_engine(engine: ConsensusEngine) -> None:
    irv = await engine.propose(proposal(method="irv"))
    for voter, ranking in zip(VOTERS, (["a", "b"], ["b", "a"], ["c", "a"], ["a"], ["b", "c"]), strict=True):
        res = (await engine.vote(irv.proposal_id, voter, ranking=ranking)).result
    # round 1: a 2, b 2, c 1 -> c out, its ballot moves to a: a 3 of 5
    assert res.status == "decided" and res.winners == ["a"] and len(res.rounds) == 2
    assert res.rounds[0].eliminated == ["c"] and res.rounds[1].scores == {"a": 3, "b": 2}
    appr = await engine.propose(proposal(method="approval", eligible=("a0", "a1")))
    await engine.vote(appr.proposal_id, "a0", approvals=["a", "b"])
    res = (await engine.vote(appr.proposal_id, "a1", approvals=["b"])).result
    assert res.status == "decided" and res.winners == ["b"] and res.votes[1].approvals == ["b"]


async def test_fifty_concurrent_votes_each_counted_once(engine: ConsensusEngine, channel) -> None:
    voters = [f"v{i:02d}" for i in range(50)]
    info = await engine.propose(ProposeInput(question="q", options=["x", "y"], eligible=voters, quorum_count=50))
    picks = {v: ("x" if i % 5 else "y") for i, v in enumerate(voters)}  # 40 x, 10 y
    calls = [engine.vote(info.proposal_id, v, choice=picks[v], request_id=f"req-{v}") for v in voters]
    calls += [engine.vote(info.proposal_id, v, choice=picks[v], request_id=f"req-{v}") for v in voters[:10]]  # replays
    answers = await asyncio.gather(*calls)
    assert all(a.revision == 1 and not a.replaced for a in answers)
    final = await engine.result(info.proposal_id)
    assert final.status == "decided" and final.winners == ["x"] and final.counted == 50 and final.revision == 50
    assert {v.voter: v.choice for v in final.votes} == picks
    assert final.rounds[0].scores == {"x": 40, "y": 10}
    row = await stored(channel, info.proposal_id)
    assert row.vote_count == 50 and row.revision == 50 and row.status == "decided"


async def test_restart_recovers_open_proposal_and_its_deadline(channel) -> None:
    first = new_engine(channel)
    first.start()
    await first.recovered.wait()
    info = await first.propose(proposal(method="plurality", quorum_count=2, deadline_s=1.0))
    await first.vote(info.proposal_id, "a0", choice="c")
    await first.vote(info.proposal_id, "a1", choice="c")
    await first.close()  # gone before the deadline
    second = new_engine(channel)
    try:
        second.start()
        await second.recovered.wait()
        assert info.proposal_id in second.scheduled
        res = await second.result(info.proposal_id, wait_s=5)
        assert res.status == "decided" and res.winners == ["c"] and [v.voter for v in res.votes] == ["a0", "a1"]
        assert time.time() - info.deadline < 1.0
    finally:
        await second.close()


async def test_recovery_closes_a_deadline_already_past(channel) -> None:
    first = new_engine(channel)
    info = await first.propose(proposal(method="plurality", deadline_s=30))
    await first.close()
    # the next replica starts after the deadline: its clock says so (memory's clock is untouched)
    second = ConsensusEngine(
        proposals_pb2_grpc.ProposalStoreServiceStub(channel),
        state_pb2_grpc.SwarmStateServiceStub(channel),
        clock=lambda: time.time() + 60,
    )
    try:
        second.start()
        await second.recovered.wait()
        res = await second.result(info.proposal_id, wait_s=5)
        assert res.status == "expired" and res.counted == 0
        assert (await stored(channel, info.proposal_id)).status == "expired"
    finally:
        await second.close()


async def test_watch_streams_each_change_until_closed(engine: ConsensusEngine) -> None:
    info = await engine.propose(proposal(method="majority", eligible=("a0", "a1", "a2")))
    seen: list[tuple[str, int]] = []
    watching = asyncio.Event()

    async def watch() -> None:
        async for r in engine.watch(info.proposal_id):
            seen.append((r.status, r.counted))
            watching.set()

    task = asyncio.create_task(watch())
    await asyncio.wait_for(watching.wait(), 5)  # the stream's first answer (the state now) before any vote
    await engine.vote(info.proposal_id, "a0", choice="b")
    await engine.vote(info.proposal_id, "a1", choice="b")
    await asyncio.wait_for(task, 5)
    assert seen[0][0] == "open" and seen[-1] == ("decided", 2)


async def test_two_replicas_close_exactly_once(channel) -> None:
    r1, r2 = new_engine(channel), new_engine(channel)
    try:
        voters = [f"v{i}" for i in range(20)]
        info = await r1.propose(ProposeInput(question="q", options=["x", "y"], eligible=voters, quorum_count=20))
        engines = (r1, r2)
        await asyncio.gather(*(engines[i % 2].vote(info.proposal_id, v, choice="y") for i, v in enumerate(voters)))
        a, b = await asyncio.gather(r1.result(info.proposal_id), r2.result(info.proposal_id))
        assert a.status == b.status == "decided" and a.counted == b.counted == 20 and a.closed_at == b.closed_at
    finally:
        await r1.close()
        await r2.close()


@pytest.mark.parametrize(
    ("kw", "error", "text"),
    [
        ({"method": "dictator"}, InvalidArgument, "unknown method 'dictator'"),
        ({"options": ["a"]}, InvalidArgument, "at least 2 options"),
        ({"options": ["a", "a"]}, InvalidArgument, "unique"),
        ({"question": "  "}, InvalidArgument, "question is empty"),
        ({"quorum_count": 9}, InvalidArgument, "more than the 5 eligible"),
        ({"quorum_share": 1.5}, InvalidArgument, "quorum_share"),
        ({"deadline_s": -1}, InvalidArgument, "deadline_s"),
        ({"eligible": ("a0", "a0")}, InvalidArgument, "more than once"),
        ({"eligible": ("bad id",)}, InvalidArgument, "eligible voter 'bad id' is invalid"),
        ({"method": "majority", "threshold": 0.2}, InvalidArgument, "majority threshold"),
        ({"method": "plurality", "weights": {"a0": 2}}, InvalidArgument, "weighted method only"),
        ({"method": "weighted", "weights": {"zz": 2}}, InvalidArgument, "not eligible"),
        ({"eligible": ()}, FailedPrecondition, "no agents are registered"),
    ],
)
async def test_bad_proposals_are_refused_and_store_nothing(engine, channel, kw, error, text) -> None:
    with pytest.raises(error, match=text):
        await engine.propose(proposal(**kw))
    listed = await proposals_pb2_grpc.ProposalStoreServiceStub(channel).ListProposals(ppb.ListProposalsRequest())
    assert list(listed.proposals) == []


async def test_bad_votes_are_clear_errors_and_change_nothing(engine: ConsensusEngine, channel) -> None:
    borda = await engine.propose(proposal(method="borda"))
    pid = borda.proposal_id
    cases = [
        ({"voter": "intruder", "ranking": ["a", "b", "c"]}, "not eligible"),
        ({"voter": "a0", "ranking": ["a", "b"]}, "complete ranking; add the missing options: c"),
        ({"voter": "a0", "ranking": ["a", "a", "b"]}, "more than once"),
        ({"voter": "a0", "ranking": ["a", "z", "b"]}, "unknown option 'z'"),
        ({"voter": "a0", "choice": "a"}, "carry only `ranking`"),
        ({"voter": "a0", "ranking": ["a", "b", "c"], "confidence": 1.5}, "confidence"),
        ({"voter": "bad voter", "ranking": ["a", "b", "c"]}, "voter 'bad voter' is invalid"),
    ]
    for kw, text in cases:
        voter = kw.pop("voter")
        with pytest.raises(InvalidArgument, match=text):
            await engine.vote(pid, voter, **kw)  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="no proposal 'nope'"):
        await engine.vote("nope", "a0", choice="a")
    with pytest.raises(AlreadyExists):
        await engine.propose(proposal(proposal_id=pid))
    row = await stored(channel, pid)
    assert row.revision == 0 and row.vote_count == 0 and row.status == "open"


async def test_memory_closes_once_and_only_at_the_tallied_revision(channel) -> None:
    """The store's guarantees the engine builds on, straight through memory's gRPC API."""
    store = proposals_pb2_grpc.ProposalStoreServiceStub(channel)
    for i in range(3):
        await store.CreateProposal(
            ppb.CreateProposalRequest(proposal_id=f"p{i}", spec_json="{}", deadline=time.time() + 30)
        )
    vote = ppb.PutVoteRequest(proposal_id="p0", voter="a0", ballot_json='{"choice":"a"}', request_id="once")
    first, again = await store.PutVote(vote), await store.PutVote(vote)
    assert first.proposal.revision == 1 and not first.repeated
    assert again.repeated and not again.HasField("proposal") and again.vote.revision == 1
    stale = await store.CloseProposal(
        ppb.CloseProposalRequest(proposal_id="p0", status="decided", result_json="{}", if_revision=0)
    )
    assert not stale.closed and stale.proposal.status == "open" and len(stale.proposal.votes) == 1
    close = ppb.CloseProposalRequest(proposal_id="p0", status="decided", result_json='{"w":1}', if_revision=1)
    assert (await store.CloseProposal(close)).closed
    second = await store.CloseProposal(close)
    assert not second.closed and second.proposal.result_json == '{"w":1}'
    with pytest.raises(aio.AioRpcError) as info:
        await store.PutVote(ppb.PutVoteRequest(proposal_id="p0", voter="a1", ballot_json="{}"))
    assert "closed (decided)" in (info.value.details() or "")
    page = await store.ListProposals(ppb.ListProposalsRequest(status="open", limit=1))
    assert [p.proposal_id for p in page.proposals] == ["p1"] and page.next_after == "p1"
    page = await store.ListProposals(ppb.ListProposalsRequest(status="open", after="p1", limit=1))
    assert [p.proposal_id for p in page.proposals] == ["p2"] and page.next_after == ""


async def test_memory_streams_which_proposals_changed(channel) -> None:
    """WatchProposals: "everything" first, then the proposals a written vote or a close changed; a repeated
    request id and a refused close change nothing and say nothing."""
    store = proposals_pb2_grpc.ProposalStoreServiceStub(channel)
    stream = store.WatchProposals(ppb.WatchProposalsRequest())
    first = await asyncio.wait_for(stream.read(), 5)
    assert first.everything and not first.proposal_ids
    for pid in ("p0", "p1"):
        await store.CreateProposal(
            ppb.CreateProposalRequest(proposal_id=pid, spec_json="{}", deadline=time.time() + 30)
        )
    vote = ppb.PutVoteRequest(proposal_id="p1", voter="a0", ballot_json='{"choice":"a"}', request_id="r1")
    await store.PutVote(vote)
    moved = await asyncio.wait_for(stream.read(), 5)
    assert list(moved.proposal_ids) == ["p1"] and not moved.everything
    assert (await store.PutVote(vote)).repeated
    stale = ppb.CloseProposalRequest(proposal_id="p1", status="decided", result_json="{}", if_revision=0)
    assert not (await store.CloseProposal(stale)).closed
    await store.PutVote(ppb.PutVoteRequest(proposal_id="p0", voter="a0", ballot_json='{"choice":"b"}'))
    assert list((await asyncio.wait_for(stream.read(), 5)).proposal_ids) == ["p0"]  # nothing said of p1 meanwhile
    close = ppb.CloseProposalRequest(proposal_id="p1", status="decided", result_json="{}", if_revision=1)
    assert (await store.CloseProposal(close)).closed
    assert list((await asyncio.wait_for(stream.read(), 5)).proposal_ids) == ["p1"]
    stream.cancel()
