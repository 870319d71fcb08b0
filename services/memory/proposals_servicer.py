"""gRPC servicer for swarm.memory.v1.ProposalStoreService: protobuf <-> the proposal store (services.memory.storage)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from grpc import aio

from services.memory.proposals import StoredProposal, StoredVote
from services.memory.storage import ProposalStore
from swarm.memory.v1 import proposals_pb2 as pb
from swarm.memory.v1 import proposals_pb2_grpc


def vote_pb(v: StoredVote) -> pb.StoredVote:
    return pb.StoredVote(voter=v.voter, ballot_json=v.ballot_json, cast_at=v.cast_at, revision=v.revision)


def proposal_pb(p: StoredProposal) -> pb.StoredProposal:
    return pb.StoredProposal(
        proposal_id=p.proposal_id,
        spec_json=p.spec_json,
        status=p.status,
        created_at=p.created_at,
        deadline=p.deadline,
        closed_at=p.closed_at,
        result_json=p.result_json,
        revision=p.revision,
        vote_count=p.vote_count,
        votes=[vote_pb(v) for v in p.votes],
    )


class ProposalStoreServicer(proposals_pb2_grpc.ProposalStoreServiceServicer):
    def __init__(self, proposals: ProposalStore) -> None:
        self.proposals = proposals

    async def CreateProposal(
        self, request: pb.CreateProposalRequest, context: aio.ServicerContext
    ) -> pb.StoredProposal:
        created = await self.proposals.create(
            request.proposal_id, request.spec_json, request.deadline, request.request_id
        )
        return proposal_pb(created)

    async def GetProposal(self, request: pb.GetProposalRequest, context: aio.ServicerContext) -> pb.StoredProposal:
        return proposal_pb(await self.proposals.get(request.proposal_id))

    async def ListProposals(
        self, request: pb.ListProposalsRequest, context: aio.ServicerContext
    ) -> pb.ListProposalsResponse:
        found, next_after = await self.proposals.list(request.status, request.after, request.limit)
        return pb.ListProposalsResponse(proposals=[proposal_pb(p) for p in found], next_after=next_after)

    async def PutVote(self, request: pb.PutVoteRequest, context: aio.ServicerContext) -> pb.PutVoteResponse:
        result = await self.proposals.put_vote(
            request.proposal_id, request.voter, request.ballot_json, request.request_id
        )
        resp = pb.PutVoteResponse(vote=vote_pb(result.vote), replaced=result.replaced, repeated=result.repeated)
        if result.proposal is not None:
            resp.proposal.CopyFrom(proposal_pb(result.proposal))
        return resp

    async def CloseProposal(
        self, request: pb.CloseProposalRequest, context: aio.ServicerContext
    ) -> pb.CloseProposalResponse:
        result = await self.proposals.close(
            request.proposal_id, request.status, request.result_json, request.if_revision
        )
        return pb.CloseProposalResponse(closed=result.closed, proposal=proposal_pb(result.proposal))

    async def WatchProposals(
        self, request: pb.WatchProposalsRequest, context: aio.ServicerContext
    ) -> AsyncIterator[pb.ProposalsChanged]:
        async for moved in self.proposals.changes.follow():
            if moved is None:
                yield pb.ProposalsChanged(everything=True)
            else:
                yield pb.ProposalsChanged(proposal_ids=sorted(moved))
