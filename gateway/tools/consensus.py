"""Consensus tools: open a proposal, vote, read (or wait for) the result (the consensus service)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from gateway.backends import Backends
from gateway.tools.common import new_request_id
from swarm.consensus.v1 import consensus_pb2 as cpb

ProposalId = Annotated[str, Field(description="the id consensus_propose returned", min_length=1, max_length=128)]
AgentId = Annotated[str, Field(description="1-128 chars: letters, digits, _ . : @ / + -", max_length=128)]
Option = Annotated[str, Field(min_length=1, max_length=200)]
Methods = Literal["plurality", "majority", "supermajority", "weighted", "borda", "irv", "approval", "schulze"]
MAX_WAIT_S = 300.0


def proposal_dict(p: cpb.Proposal) -> dict[str, Any]:
    out: dict[str, Any] = {
        "proposal_id": p.proposal_id,
        "question": p.question,
        "options": list(p.options),
        "method": p.method,
        "threshold": p.threshold if p.HasField("threshold") else None,
        "quorum": p.quorum_count or None,
        "quorum_share": p.quorum_share or None,
        "eligible": list(p.eligible),
        "deadline": p.deadline,
        "created_at": p.created_at,
    }
    if p.weights:
        out["weights"] = dict(sorted(p.weights.items()))
    if p.created_by:
        out["created_by"] = p.created_by
    return out


def _round(r: cpb.Round) -> dict[str, Any]:
    out: dict[str, Any] = {"scores": {k: round(v, 9) for k, v in r.scores.items()}}
    if r.eliminated:
        out["eliminated"] = list(r.eliminated)
    if r.exhausted:
        out["exhausted"] = r.exhausted
    if r.note:
        out["note"] = r.note
    return out


def _vote(v: cpb.CastVote) -> dict[str, Any]:
    out: dict[str, Any] = {"voter": v.voter}
    if v.choice:
        out["choice"] = v.choice
    if v.ranking:
        out["ranking"] = list(v.ranking)
    if v.approvals:
        out["approvals"] = list(v.approvals)
    out["confidence"] = v.confidence
    if v.weight != 1.0:
        out["weight"] = v.weight
    return out


def result_dict(r: cpb.Result, *, votes: bool = True) -> dict[str, Any]:
    p = r.proposal
    out: dict[str, Any] = {
        "proposal_id": r.proposal_id,
        "status": r.status,
        "reason": r.reason,
        "consensus": r.consensus,
        "winners": list(r.winners),
        "tied": r.tied,
        "question": p.question,
        "method": p.method,
        "rounds": [_round(x) for x in r.rounds],
        "participation": round(r.participation, 6),
        "agreement": round(r.agreement, 6),
        "counted": r.counted,
        "eligible": r.eligible,
        "quorum_met": r.quorum_met,
        "deadline": p.deadline,
        "closed_at": r.closed_at or None,
    }
    if p.method == "weighted":
        out["counted_weight"] = round(r.counted_weight, 9)
    if votes:
        out["votes"] = [_vote(v) for v in r.votes]
    return out


def register(mcp: MCPServer, backends: Backends) -> None:
    @mcp.tool()
    async def consensus_propose(
        question: Annotated[str, Field(min_length=1, max_length=2000)],
        options: Annotated[list[Option], Field(min_length=2, max_length=64)],
        method: Methods = "majority",
        threshold: Annotated[
            float | None, Field(gt=0, le=1, description="majority >0.5 (share must exceed), supermajority 2/3 (reach)")
        ] = None,
        quorum: Annotated[int | None, Field(ge=1, le=2**31 - 1, description="voters needed (default 1)")] = None,
        quorum_share: Annotated[float | None, Field(gt=0, le=1, description="or: share of eligible voters")] = None,
        deadline_s: Annotated[float, Field(gt=0, le=604800)] = 30.0,
        eligible: Annotated[list[AgentId], Field(description="voters; default: every registered agent")] = [],  # noqa: B006
        weights: Annotated[
            dict[Annotated[str, Field(max_length=128)], float],
            Field(description="weighted: voter -> weight (default: registry)"),
        ] = {},  # noqa: B006
        proposal_id: Annotated[str, Field(max_length=128, description="optional; generated when empty")] = "",
    ) -> dict[str, Any]:
        """Open a vote among agents: question, options, method, quorum, threshold, deadline, eligible voters."""
        if quorum is not None and quorum_share is not None:
            raise ToolError("give quorum (a count) or quorum_share, not both")
        req = cpb.ProposeRequest(
            proposal_id=proposal_id,
            question=question,
            options=options,
            method=method,
            quorum_count=quorum or 0,
            quorum_share=quorum_share or 0.0,
            deadline_s=deadline_s,
            eligible=eligible,
            weights=weights,
            request_id=new_request_id(),
        )
        if threshold is not None:
            req.threshold = threshold
        return proposal_dict(await backends.call(backends.consensus.Propose, req))

    @mcp.tool()
    async def consensus_vote(
        proposal_id: ProposalId,
        voter: AgentId,
        choice: Annotated[str | None, Field(description="plurality, majority, supermajority, weighted")] = None,
        ranking: Annotated[list[str] | None, Field(description="borda (all options), irv, schulze: best first")] = None,
        approvals: Annotated[list[str] | None, Field(description="approval: the options approved")] = None,
        confidence: Annotated[float, Field(ge=0, le=1, description="weighted counts weight x confidence")] = 1.0,
    ) -> dict[str, Any]:
        """Cast or replace a vote while the proposal is open; answers the result after it."""
        req = cpb.VoteRequest(
            proposal_id=proposal_id,
            voter=voter,
            choice=choice or "",
            ranking=ranking or [],
            approvals=approvals or [],
            confidence=confidence,
            request_id=new_request_id(),
        )
        resp = await backends.call(backends.consensus.Vote, req)
        return {"replaced": resp.replaced, **result_dict(resp.result, votes=False)}

    @mcp.tool()
    async def consensus_result(
        proposal_id: ProposalId,
        wait_s: Annotated[float, Field(ge=0, le=MAX_WAIT_S, description="wait up to N s for the decision")] = 0.0,
        include_votes: Annotated[bool, Field(description="list who voted what")] = True,
    ) -> dict[str, Any]:
        """Status (open, decided, no_consensus, expired), winners, tallies per round, participation, agreement."""
        new_request_id()
        req = cpb.GetResultRequest(proposal_id=proposal_id, wait_s=wait_s)
        # a wait outlasts the usual call deadline: allow for it, plus the usual deadline
        timeout = wait_s + backends.config.call_timeout_s
        resp = await backends.call(backends.consensus.GetResult, req, timeout=timeout)
        return result_dict(resp, votes=include_votes)
