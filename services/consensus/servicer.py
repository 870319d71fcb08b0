"""gRPC servicer for swarm.consensus.v1: protobuf <-> services.consensus.engine (where the logic lives)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from grpc import aio

from common.errors import SwarmError
from services.consensus.engine import ConsensusEngine
from services.consensus.records import ProposalInfo, ProposeInput, Result, Summary
from swarm.consensus.v1 import consensus_pb2 as pb
from swarm.consensus.v1 import consensus_pb2_grpc


def proposal_pb(info: ProposalInfo) -> pb.Proposal:
    s = info.spec
    msg = pb.Proposal(
        proposal_id=info.proposal_id,
        question=s.question,
        options=s.options,
        method=s.method,
        quorum_count=s.quorum_count or 0,
        quorum_share=s.quorum_share or 0.0,
        eligible=s.eligible,
        weights=dict(s.weights),
        created_by=s.created_by,
        created_at=info.created_at,
        deadline=info.deadline,
    )
    if info.rules.threshold is not None:
        msg.threshold = float(info.rules.threshold)
    return msg


def result_pb(r: Result) -> pb.Result:
    msg = pb.Result(
        proposal_id=r.proposal_id,
        status=r.status,
        reason=r.reason,
        consensus=r.consensus,
        winners=r.winners,
        tied=r.tied,
        rounds=[
            pb.Round(scores=x.scores, eliminated=x.eliminated, exhausted=x.exhausted, note=x.note) for x in r.rounds
        ],
        participation=r.participation,
        agreement=r.agreement,
        counted=r.counted,
        eligible=r.eligible,
        counted_weight=r.counted_weight,
        quorum_met=r.quorum_met,
        votes=[
            pb.CastVote(
                voter=v.voter,
                choice=v.choice or "",
                ranking=v.ranking or (),
                approvals=v.approvals or (),
                confidence=v.confidence,
                weight=v.weight,
                cast_at=v.cast_at,
                revision=v.revision,
            )
            for v in r.votes
        ],
        closed_at=r.closed_at,
        revision=r.revision,
    )
    if r.proposal is not None:
        msg.proposal.CopyFrom(proposal_pb(r.proposal))
    return msg


def summary_pb(s: Summary) -> pb.ProposalSummary:
    return pb.ProposalSummary(
        proposal_id=s.proposal_id,
        question=s.question,
        method=s.method,
        status=s.status,
        deadline=s.deadline,
        votes=s.votes,
        eligible=s.eligible,
        winners=s.winners,
    )


def _timeout(context: aio.ServicerContext) -> float | None:
    remaining = context.time_remaining()
    return None if remaining is None else max(0.01, min(remaining, 60.0))


class ConsensusServicer(consensus_pb2_grpc.ConsensusServiceServicer):
    def __init__(self, engine: ConsensusEngine) -> None:
        self.engine = engine

    async def Propose(self, request: pb.ProposeRequest, context: aio.ServicerContext) -> pb.Proposal:
        info = await self.engine.propose(
            ProposeInput(
                question=request.question,
                options=list(request.options),
                method=request.method,
                threshold=request.threshold if request.HasField("threshold") else None,
                quorum_count=request.quorum_count,
                quorum_share=request.quorum_share,
                deadline_s=request.deadline_s,
                eligible=list(request.eligible),
                weights=dict(request.weights),
                created_by=request.created_by,
                proposal_id=request.proposal_id,
            ),
            request.request_id,
            _timeout(context),
        )
        return proposal_pb(info)

    async def Vote(self, request: pb.VoteRequest, context: aio.ServicerContext) -> pb.VoteResponse:
        outcome = await self.engine.vote(
            request.proposal_id,
            request.voter,
            choice=request.choice or None,
            ranking=list(request.ranking) or None,
            approvals=list(request.approvals) or None,
            confidence=request.confidence if request.HasField("confidence") else 1.0,
            request_id=request.request_id,
            timeout=_timeout(context),
        )
        return pb.VoteResponse(replaced=outcome.replaced, revision=outcome.revision, result=result_pb(outcome.result))

    async def GetResult(self, request: pb.GetResultRequest, context: aio.ServicerContext) -> pb.Result:
        wait = request.wait_s
        remaining = context.time_remaining()
        if remaining is not None and wait > 0:
            wait = max(0.0, min(wait, remaining - 0.25))  # answer before the caller's deadline
        result = await self.engine.result(request.proposal_id, wait, _timeout(context))
        return result_pb(result)

    async def Watch(self, request: pb.WatchRequest, context: aio.ServicerContext) -> AsyncIterator[pb.Result]:
        # the shared interceptor maps errors of unary calls only: streaming maps its own
        try:
            async for result in self.engine.watch(request.proposal_id):
                yield result_pb(result)
        except SwarmError as exc:
            await context.abort(exc.code, str(exc))

    async def List(self, request: pb.ListRequest, context: aio.ServicerContext) -> pb.ListResponse:
        found, next_after = await self.engine.list(request.status, request.after, request.limit, _timeout(context))
        return pb.ListResponse(proposals=[summary_pb(s) for s in found], next_after=next_after)
