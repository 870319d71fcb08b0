from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProposeRequest(_message.Message):
    __slots__ = ("proposal_id", "question", "options", "method", "threshold", "quorum_count", "quorum_share", "deadline_s", "eligible", "weights", "created_by", "request_id")
    class WeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    QUORUM_COUNT_FIELD_NUMBER: _ClassVar[int]
    QUORUM_SHARE_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_S_FIELD_NUMBER: _ClassVar[int]
    ELIGIBLE_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    question: str
    options: _containers.RepeatedScalarFieldContainer[str]
    method: str
    threshold: float
    quorum_count: int
    quorum_share: float
    deadline_s: float
    eligible: _containers.RepeatedScalarFieldContainer[str]
    weights: _containers.ScalarMap[str, float]
    created_by: str
    request_id: str
    def __init__(self, proposal_id: _Optional[str] = ..., question: _Optional[str] = ..., options: _Optional[_Iterable[str]] = ..., method: _Optional[str] = ..., threshold: _Optional[float] = ..., quorum_count: _Optional[int] = ..., quorum_share: _Optional[float] = ..., deadline_s: _Optional[float] = ..., eligible: _Optional[_Iterable[str]] = ..., weights: _Optional[_Mapping[str, float]] = ..., created_by: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class Proposal(_message.Message):
    __slots__ = ("proposal_id", "question", "options", "method", "threshold", "quorum_count", "quorum_share", "eligible", "weights", "created_by", "created_at", "deadline")
    class WeightsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    QUORUM_COUNT_FIELD_NUMBER: _ClassVar[int]
    QUORUM_SHARE_FIELD_NUMBER: _ClassVar[int]
    ELIGIBLE_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    question: str
    options: _containers.RepeatedScalarFieldContainer[str]
    method: str
    threshold: float
    quorum_count: int
    quorum_share: float
    eligible: _containers.RepeatedScalarFieldContainer[str]
    weights: _containers.ScalarMap[str, float]
    created_by: str
    created_at: float
    deadline: float
    def __init__(self, proposal_id: _Optional[str] = ..., question: _Optional[str] = ..., options: _Optional[_Iterable[str]] = ..., method: _Optional[str] = ..., threshold: _Optional[float] = ..., quorum_count: _Optional[int] = ..., quorum_share: _Optional[float] = ..., eligible: _Optional[_Iterable[str]] = ..., weights: _Optional[_Mapping[str, float]] = ..., created_by: _Optional[str] = ..., created_at: _Optional[float] = ..., deadline: _Optional[float] = ...) -> None: ...

class VoteRequest(_message.Message):
    __slots__ = ("proposal_id", "voter", "choice", "ranking", "approvals", "confidence", "request_id")
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    VOTER_FIELD_NUMBER: _ClassVar[int]
    CHOICE_FIELD_NUMBER: _ClassVar[int]
    RANKING_FIELD_NUMBER: _ClassVar[int]
    APPROVALS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    voter: str
    choice: str
    ranking: _containers.RepeatedScalarFieldContainer[str]
    approvals: _containers.RepeatedScalarFieldContainer[str]
    confidence: float
    request_id: str
    def __init__(self, proposal_id: _Optional[str] = ..., voter: _Optional[str] = ..., choice: _Optional[str] = ..., ranking: _Optional[_Iterable[str]] = ..., approvals: _Optional[_Iterable[str]] = ..., confidence: _Optional[float] = ..., request_id: _Optional[str] = ...) -> None: ...

class VoteResponse(_message.Message):
    __slots__ = ("replaced", "revision", "result")
    REPLACED_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    replaced: bool
    revision: int
    result: Result
    def __init__(self, replaced: _Optional[bool] = ..., revision: _Optional[int] = ..., result: _Optional[_Union[Result, _Mapping]] = ...) -> None: ...

class GetResultRequest(_message.Message):
    __slots__ = ("proposal_id", "wait_s")
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    WAIT_S_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    wait_s: float
    def __init__(self, proposal_id: _Optional[str] = ..., wait_s: _Optional[float] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("proposal_id",)
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    def __init__(self, proposal_id: _Optional[str] = ...) -> None: ...

class ListRequest(_message.Message):
    __slots__ = ("status", "after", "limit")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    status: str
    after: str
    limit: int
    def __init__(self, status: _Optional[str] = ..., after: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ProposalSummary(_message.Message):
    __slots__ = ("proposal_id", "question", "method", "status", "deadline", "votes", "eligible", "winners")
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    VOTES_FIELD_NUMBER: _ClassVar[int]
    ELIGIBLE_FIELD_NUMBER: _ClassVar[int]
    WINNERS_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    question: str
    method: str
    status: str
    deadline: float
    votes: int
    eligible: int
    winners: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, proposal_id: _Optional[str] = ..., question: _Optional[str] = ..., method: _Optional[str] = ..., status: _Optional[str] = ..., deadline: _Optional[float] = ..., votes: _Optional[int] = ..., eligible: _Optional[int] = ..., winners: _Optional[_Iterable[str]] = ...) -> None: ...

class ListResponse(_message.Message):
    __slots__ = ("proposals", "next_after")
    PROPOSALS_FIELD_NUMBER: _ClassVar[int]
    NEXT_AFTER_FIELD_NUMBER: _ClassVar[int]
    proposals: _containers.RepeatedCompositeFieldContainer[ProposalSummary]
    next_after: str
    def __init__(self, proposals: _Optional[_Iterable[_Union[ProposalSummary, _Mapping]]] = ..., next_after: _Optional[str] = ...) -> None: ...

class Round(_message.Message):
    __slots__ = ("scores", "eliminated", "exhausted", "note")
    class ScoresEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    SCORES_FIELD_NUMBER: _ClassVar[int]
    ELIMINATED_FIELD_NUMBER: _ClassVar[int]
    EXHAUSTED_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    scores: _containers.ScalarMap[str, float]
    eliminated: _containers.RepeatedScalarFieldContainer[str]
    exhausted: int
    note: str
    def __init__(self, scores: _Optional[_Mapping[str, float]] = ..., eliminated: _Optional[_Iterable[str]] = ..., exhausted: _Optional[int] = ..., note: _Optional[str] = ...) -> None: ...

class CastVote(_message.Message):
    __slots__ = ("voter", "choice", "ranking", "approvals", "confidence", "weight", "cast_at", "revision")
    VOTER_FIELD_NUMBER: _ClassVar[int]
    CHOICE_FIELD_NUMBER: _ClassVar[int]
    RANKING_FIELD_NUMBER: _ClassVar[int]
    APPROVALS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    CAST_AT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    voter: str
    choice: str
    ranking: _containers.RepeatedScalarFieldContainer[str]
    approvals: _containers.RepeatedScalarFieldContainer[str]
    confidence: float
    weight: float
    cast_at: float
    revision: int
    def __init__(self, voter: _Optional[str] = ..., choice: _Optional[str] = ..., ranking: _Optional[_Iterable[str]] = ..., approvals: _Optional[_Iterable[str]] = ..., confidence: _Optional[float] = ..., weight: _Optional[float] = ..., cast_at: _Optional[float] = ..., revision: _Optional[int] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ("proposal_id", "status", "reason", "consensus", "winners", "tied", "rounds", "participation", "agreement", "counted", "eligible", "counted_weight", "quorum_met", "votes", "closed_at", "revision", "proposal")
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CONSENSUS_FIELD_NUMBER: _ClassVar[int]
    WINNERS_FIELD_NUMBER: _ClassVar[int]
    TIED_FIELD_NUMBER: _ClassVar[int]
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    PARTICIPATION_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_FIELD_NUMBER: _ClassVar[int]
    COUNTED_FIELD_NUMBER: _ClassVar[int]
    ELIGIBLE_FIELD_NUMBER: _ClassVar[int]
    COUNTED_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    QUORUM_MET_FIELD_NUMBER: _ClassVar[int]
    VOTES_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    status: str
    reason: str
    consensus: bool
    winners: _containers.RepeatedScalarFieldContainer[str]
    tied: bool
    rounds: _containers.RepeatedCompositeFieldContainer[Round]
    participation: float
    agreement: float
    counted: int
    eligible: int
    counted_weight: float
    quorum_met: bool
    votes: _containers.RepeatedCompositeFieldContainer[CastVote]
    closed_at: float
    revision: int
    proposal: Proposal
    def __init__(self, proposal_id: _Optional[str] = ..., status: _Optional[str] = ..., reason: _Optional[str] = ..., consensus: _Optional[bool] = ..., winners: _Optional[_Iterable[str]] = ..., tied: _Optional[bool] = ..., rounds: _Optional[_Iterable[_Union[Round, _Mapping]]] = ..., participation: _Optional[float] = ..., agreement: _Optional[float] = ..., counted: _Optional[int] = ..., eligible: _Optional[int] = ..., counted_weight: _Optional[float] = ..., quorum_met: _Optional[bool] = ..., votes: _Optional[_Iterable[_Union[CastVote, _Mapping]]] = ..., closed_at: _Optional[float] = ..., revision: _Optional[int] = ..., proposal: _Optional[_Union[Proposal, _Mapping]] = ...) -> None: ...
