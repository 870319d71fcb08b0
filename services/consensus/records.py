"""The consensus service's records: what a proposal is, what a result is, and their codecs.

A proposal's spec, each ballot and each closed result are stored in memory as JSON documents; the types here
are what the engine works with and the servicer turns into protobuf. Pure data: no I/O, no timers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

from services.consensus.methods import Ballot, Method, Outcome, Rules
from swarm.memory.v1 import proposals_pb2 as ppb

# ----------------------------------------------------------------------------------------------- values


@dataclass(frozen=True)
class ProposalSpec:
    """What a proposal is: stored as JSON in memory, immutable after creation."""

    question: str
    options: tuple[str, ...]
    method: str
    threshold: float | None
    quorum_count: int | None
    quorum_share: float | None
    eligible: tuple[str, ...]
    weights: Mapping[str, float]  # weighted only: every eligible voter's weight
    created_by: str = ""

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "weights": dict(self.weights)}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ProposalSpec:
        d = json.loads(text)
        return cls(**{**d, "options": tuple(d["options"]), "eligible": tuple(d["eligible"])})

    def rules(self) -> Rules:
        return Rules(
            method=self.method,  # type: ignore[arg-type]  # Rules normalises (and rejects) the name
            options=self.options,
            eligible=frozenset(self.eligible),
            threshold=self.threshold,
            quorum_count=self.quorum_count,
            quorum_share=self.quorum_share,
            weights=dict(self.weights) if self.method == Method.WEIGHTED else None,
        )


@dataclass(frozen=True)
class ProposalInfo:
    proposal_id: str
    spec: ProposalSpec
    created_at: float
    deadline: float
    rules: Rules = field(repr=False, compare=False)

    @classmethod
    def of(cls, stored: ppb.StoredProposal) -> ProposalInfo:
        spec = ProposalSpec.from_json(stored.spec_json)
        return cls(stored.proposal_id, spec, stored.created_at, stored.deadline, spec.rules())

    def weight(self, voter: str) -> float:
        return float(self.spec.weights.get(voter, 1.0))


@dataclass(frozen=True)
class ProposeInput:
    question: str
    options: Sequence[str]
    method: str = ""
    threshold: float | None = None
    quorum_count: int = 0
    quorum_share: float = 0.0
    deadline_s: float = 0.0
    eligible: Sequence[str] = ()
    weights: Mapping[str, float] = field(default_factory=dict)
    created_by: str = ""
    proposal_id: str = ""


@dataclass(frozen=True)
class RoundView:
    scores: dict[str, float]
    eliminated: list[str]
    exhausted: int
    note: str


@dataclass(frozen=True)
class CastVote:
    voter: str
    choice: str | None
    ranking: list[str] | None
    approvals: list[str] | None
    confidence: float
    weight: float
    cast_at: float
    revision: int


@dataclass(frozen=True)
class Result:
    proposal_id: str
    status: str
    reason: str
    winners: list[str]
    rounds: list[RoundView]
    participation: float
    agreement: float
    counted: int
    eligible: int
    counted_weight: float
    quorum_met: bool
    votes: list[CastVote]
    closed_at: float
    revision: int
    proposal: ProposalInfo | None = field(default=None, compare=False)

    @property
    def consensus(self) -> bool:
        return self.status == "decided"

    @property
    def tied(self) -> bool:
        return len(self.winners) > 1

    @property
    def final(self) -> bool:
        return self.status != "open"

    def to_json(self) -> str:
        d = asdict(replace(self, proposal=None))
        d.pop("proposal")
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_stored(cls, info: ProposalInfo, stored: ppb.StoredProposal) -> Result:
        d = json.loads(stored.result_json)
        d["rounds"] = [RoundView(**r) for r in d["rounds"]]
        d["votes"] = [CastVote(**v) for v in d["votes"]]
        d.update(status=stored.status, closed_at=stored.closed_at, revision=stored.revision, proposal=info)
        return cls(**d)


@dataclass(frozen=True)
class VoteResult:
    replaced: bool
    revision: int  # how many times this voter has voted
    result: Result


@dataclass(frozen=True)
class Summary:
    proposal_id: str
    question: str
    method: str
    status: str
    deadline: float
    votes: int
    eligible: int
    winners: list[str]


# ----------------------------------------------------------------------------------------------- codecs


def ballot_to_json(b: Ballot) -> str:
    return json.dumps(
        {
            "choice": b.choice,
            "ranking": list(b.ranking) if b.ranking is not None else None,
            "approvals": list(b.approvals) if b.approvals is not None else None,
            "confidence": b.confidence,
            "weight": b.weight,
        },
        separators=(",", ":"),
    )


def ballot_from_json(voter: str, text: str) -> Ballot:
    d = json.loads(text)
    return Ballot(
        voter=voter,
        choice=d.get("choice"),
        ranking=tuple(d["ranking"]) if d.get("ranking") is not None else None,
        approvals=tuple(d["approvals"]) if d.get("approvals") is not None else None,
        confidence=d.get("confidence", 1.0),
        weight=d.get("weight", 1.0),
    )


def build_result(info: ProposalInfo, stored: ppb.StoredProposal, outcome: Outcome, closed_at: float = 0.0) -> Result:
    t = outcome.tally
    meta = {v.voter: (v.cast_at, v.revision) for v in stored.votes}
    votes = [
        CastVote(
            voter=b.voter,
            choice=b.choice,
            ranking=list(b.ranking) if b.ranking is not None else None,
            approvals=list(b.approvals) if b.approvals is not None else None,
            confidence=b.confidence,
            weight=b.weight,
            cast_at=meta.get(b.voter, (0.0, 0))[0],
            revision=meta.get(b.voter, (0.0, 0))[1],
        )
        for b in t.votes.values()
    ]
    rounds = [
        RoundView({o: float(s) for o, s in r.scores.items()}, list(r.eliminated), r.exhausted, r.note) for r in t.rounds
    ]
    return Result(
        proposal_id=info.proposal_id,
        status=outcome.status,
        reason=outcome.reason,
        winners=list(t.winners),
        rounds=rounds,
        participation=t.participation,
        agreement=t.agreement,
        counted=t.counted,
        eligible=t.eligible,
        counted_weight=t.counted_weight,
        quorum_met=t.quorum_met,
        votes=votes,
        closed_at=closed_at,
        revision=stored.revision,
        proposal=info,
    )
