"""The consensus service over real gRPC, against a real memory service (SQLite in a temp dir).

No fixed sleeps: short deadlines, and the tests wait on GetResult(wait_s) or the Watch stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.channels import CHANNEL_OPTIONS
from common.config import Config
from common.server import RunningService, start_service
from services.consensus.service import build as build_consensus
from swarm.consensus.v1 import consensus_pb2 as pb
from swarm.consensus.v1 import consensus_pb2_grpc
from swarm.memory.v1 import state_pb2 as spb
from swarm.memory.v1 import state_pb2_grpc

VOTERS = [f"a{i}" for i in range(4)]

pytestmark = pytest.mark.engines  # each test that uses the memory runs on SQLite and on PostgreSQL


async def connect(address: str) -> tuple[aio.Channel, consensus_pb2_grpc.ConsensusServiceStub]:
    channel = aio.insecure_channel(address, options=CHANNEL_OPTIONS)
    return channel, consensus_pb2_grpc.ConsensusServiceStub(channel)


@pytest.fixture
async def stub(consensus_service: RunningService) -> AsyncIterator[consensus_pb2_grpc.ConsensusServiceStub]:
    channel, s = await connect(consensus_service.address)
    yield s
    await channel.close()


async def test_propose_vote_watch_and_result(stub: consensus_pb2_grpc.ConsensusServiceStub) -> None:
    p = await stub.Propose(
        pb.ProposeRequest(question="which db?", options=["pg", "sqlite", "duck"], method="schulze", eligible=VOTERS)
    )
    assert p.method == "schulze" and list(p.eligible) == VOTERS and p.deadline - p.created_at == pytest.approx(30, 0.1)
    watch = stub.Watch(pb.WatchRequest(proposal_id=p.proposal_id))
    first = await watch.read()
    assert first.status == "open" and first.counted == 0
    for voter in VOTERS[:3]:
        resp = await stub.Vote(pb.VoteRequest(proposal_id=p.proposal_id, voter=voter, ranking=["sqlite", "pg"]))
    # sqlite beats every option by 3 with one voter left: a Condorcet winner nobody can dethrone
    assert resp.result.status == "decided" and list(resp.result.winners) == ["sqlite"]
    seen = [first]
    while (msg := await watch.read()) is not aio.EOF:
        seen.append(msg)
    assert seen[-1].status == "decided" and seen[-1].consensus and seen[-1].counted == 3
    assert [m.revision for m in seen] == sorted({m.revision for m in seen})  # one message per change, in order
    got = await stub.GetResult(pb.GetResultRequest(proposal_id=p.proposal_id))
    assert got.status == "decided" and [v.voter for v in got.votes] == VOTERS[:3]
    assert list(got.votes[0].ranking) == ["sqlite", "pg"] and got.proposal.question == "which db?"
    assert got.participation == pytest.approx(0.75) and got.agreement == 1.0 and got.closed_at > 0
    listed = await stub.List(pb.ListRequest(status="decided"))
    assert [(s.proposal_id, list(s.winners), s.votes) for s in listed.proposals] == [(p.proposal_id, ["sqlite"], 3)]


async def test_get_result_waits_for_the_deadline(stub: consensus_pb2_grpc.ConsensusServiceStub) -> None:
    p = await stub.Propose(
        pb.ProposeRequest(question="q", options=["x", "y"], eligible=VOTERS, quorum_share=0.5, deadline_s=0.5)
    )
    await stub.Vote(pb.VoteRequest(proposal_id=p.proposal_id, voter="a0", choice="x"))
    got = await stub.GetResult(pb.GetResultRequest(proposal_id=p.proposal_id, wait_s=10), timeout=15)
    assert got.status == "expired" and not got.consensus and list(got.winners) == ["x"]
    assert got.closed_at >= p.deadline and time.time() - p.deadline < 1.0


async def test_a_short_wait_answers_open(stub: consensus_pb2_grpc.ConsensusServiceStub) -> None:
    p = await stub.Propose(pb.ProposeRequest(question="q", options=["x", "y"], eligible=VOTERS))
    start = time.monotonic()
    got = await stub.GetResult(pb.GetResultRequest(proposal_id=p.proposal_id, wait_s=0.2))
    assert got.status == "open" and 0.15 < time.monotonic() - start < 2


async def test_restarted_service_carries_on_the_proposal(config: Config, memory_service: RunningService) -> None:
    first = await start_service(build_consensus(config, memory_addr=memory_service.address), "127.0.0.1:0")
    channel, stub = await connect(first.address)
    p = await stub.Propose(
        pb.ProposeRequest(question="q", options=["x", "y"], eligible=VOTERS, quorum_count=3, deadline_s=1.5)
    )
    for voter, choice in (("a0", "y"), ("a1", "x")):
        await stub.Vote(pb.VoteRequest(proposal_id=p.proposal_id, voter=voter, choice=choice))
    await channel.close()
    await first.stop(grace=1)

    second = await start_service(build_consensus(config, memory_addr=memory_service.address), "127.0.0.1:0")
    channel, stub = await connect(second.address)
    try:
        now = await stub.GetResult(pb.GetResultRequest(proposal_id=p.proposal_id))
        assert now.status == "open" and {v.voter: v.choice for v in now.votes} == {"a0": "y", "a1": "x"}
        assert now.proposal.deadline == p.deadline
        await stub.Vote(pb.VoteRequest(proposal_id=p.proposal_id, voter="a1", choice="y"))  # replaced after restart
        final = await stub.GetResult(pb.GetResultRequest(proposal_id=p.proposal_id, wait_s=10), timeout=15)
        assert final.status == "expired" and final.counted == 2 and list(final.winners) == ["y"]
        assert time.time() - p.deadline < 1.0
    finally:
        await channel.close()
        await second.stop(grace=1)


async def test_fifty_agents_vote_concurrently_each_counted_once(
    stub: consensus_pb2_grpc.ConsensusServiceStub, memory_service: RunningService
) -> None:
    channel = aio.insecure_channel(memory_service.address, options=CHANNEL_OPTIONS)
    state = state_pb2_grpc.SwarmStateServiceStub(channel)
    agents = [f"agent-{i:02d}" for i in range(50)]
    await asyncio.gather(*(state.PutAgent(spb.PutAgentRequest(agent_id=a, capacity=1)) for a in agents))
    await channel.close()
    p = await stub.Propose(
        pb.ProposeRequest(question="q", options=["x", "y", "z"], method="plurality", quorum_count=50)
    )
    assert list(p.eligible) == agents  # default: every registered agent
    picks = {a: "xyz"[i % 3] if i < 45 else "x" for i, a in enumerate(agents)}  # x 20, y 15, z 15
    votes = [
        stub.Vote(pb.VoteRequest(proposal_id=p.proposal_id, voter=a, choice=picks[a], request_id=f"r-{a}"))
        for a in agents
    ]
    votes += [
        stub.Vote(pb.VoteRequest(proposal_id=p.proposal_id, voter=a, choice=picks[a], request_id=f"r-{a}"))
        for a in agents[:20]
    ]
    answers = await asyncio.gather(*votes)
    assert all(r.revision == 1 for r in answers)
    final = await stub.GetResult(pb.GetResultRequest(proposal_id=p.proposal_id))
    assert final.status == "decided" and list(final.winners) == ["x"] and final.counted == 50 and final.revision == 50
    assert dict(final.rounds[0].scores) == {"x": 20, "y": 15, "z": 15}
    assert {v.voter: v.choice for v in final.votes} == picks


@pytest.mark.parametrize(
    ("request_", "code", "text"),
    [
        (pb.ProposeRequest(question="q", options=["x"], eligible=VOTERS), "INVALID_ARGUMENT", "at least 2 options"),
        (pb.ProposeRequest(question="q", options=["x", "y"]), "FAILED_PRECONDITION", "no agents are registered"),
        (
            pb.ProposeRequest(question="q", options=["x", "y"], eligible=VOTERS, method="borda", threshold=0.6),
            "INVALID_ARGUMENT",
            "borda takes no threshold",
        ),
        (pb.VoteRequest(proposal_id="nope", voter="a0", choice="x"), "NOT_FOUND", "no proposal 'nope'"),
        (pb.GetResultRequest(proposal_id="bad id"), "INVALID_ARGUMENT", "proposal_id 'bad id' is invalid"),
        (pb.ListRequest(status="maybe"), "INVALID_ARGUMENT", "status 'maybe'"),
    ],
)
async def test_errors_map_to_status_codes(stub, request_, code, text) -> None:
    method = {
        pb.ProposeRequest: stub.Propose,
        pb.VoteRequest: stub.Vote,
        pb.GetResultRequest: stub.GetResult,
        pb.ListRequest: stub.List,
    }[type(request_)]
    with pytest.raises(aio.AioRpcError) as info:
        await method(request_)
    assert info.value.code() == getattr(grpc.StatusCode, code) and text in (info.value.details() or "")


async def test_bad_votes_change_nothing(stub: consensus_pb2_grpc.ConsensusServiceStub) -> None:
    p = await stub.Propose(pb.ProposeRequest(question="q", options=["x", "y"], method="approval", eligible=VOTERS))
    for req, text in (
        (pb.VoteRequest(voter="zz", approvals=["x"]), "not eligible"),
        (pb.VoteRequest(voter="a0", approvals=["w"]), "unknown option 'w'"),
        (pb.VoteRequest(voter="a0", choice="x"), "carry only `approvals`"),
        (pb.VoteRequest(voter="a0"), "needs `approvals`"),
    ):
        req.proposal_id = p.proposal_id
        with pytest.raises(aio.AioRpcError) as info:
            await stub.Vote(req)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and text in (info.value.details() or "")
    watch = stub.Watch(pb.WatchRequest(proposal_id="missing"))
    with pytest.raises(aio.AioRpcError) as info:
        await watch.read()
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    got = await stub.GetResult(pb.GetResultRequest(proposal_id=p.proposal_id))
    assert got.revision == 0 and got.counted == 0 and got.status == "open"


async def test_health_and_reflection_name_the_service(consensus_service: RunningService) -> None:
    channel = aio.insecure_channel(consensus_service.address, options=CHANNEL_OPTIONS)
    try:
        health = health_pb2_grpc.HealthStub(channel)
        resp = await health.Check(health_pb2.HealthCheckRequest(service="swarm.consensus.v1.ConsensusService"))
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await channel.close()
