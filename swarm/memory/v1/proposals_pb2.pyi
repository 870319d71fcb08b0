from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StoredVote(_message.Message):
    __slots__ = ("voter", "ballot_json", "cast_at", "revision")
    VOTER_FIELD_NUMBER: _ClassVar[int]
    BALLOT_JSON_FIELD_NUMBER: _ClassVar[int]
    CAST_AT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    voter: str
    ballot_json: str
    cast_at: float
    revision: int
    def __init__(self, voter: _Optional[str] = ..., ballot_json: _Optional[str] = ..., cast_at: _Optional[float] = ..., revision: _Optional[int] = ...) -> None: ...

class StoredProposal(_message.Message):
    __slots__ = ("proposal_id", "spec_json", "status", "created_at", "deadline", "closed_at", "result_json", "revision", "vote_count", "votes")
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_FIELD_NUMBER: _ClassVar[int]
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    VOTE_COUNT_FIELD_NUMBER: _ClassVar[int]
    VOTES_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    spec_json: str
    status: str
    created_at: float
    deadline: float
    closed_at: float
    result_json: str
    revision: int
    vote_count: int
    votes: _containers.RepeatedCompositeFieldContainer[StoredVote]
    def __init__(self, proposal_id: _Optional[str] = ..., spec_json: _Optional[str] = ..., status: _Optional[str] = ..., created_at: _Optional[float] = ..., deadline: _Optional[float] = ..., closed_at: _Optional[float] = ..., result_json: _Optional[str] = ..., revision: _Optional[int] = ..., vote_count: _Optional[int] = ..., votes: _Optional[_Iterable[_Union[StoredVote, _Mapping]]] = ...) -> None: ...

class CreateProposalRequest(_message.Message):
    __slots__ = ("proposal_id", "spec_json", "deadline", "request_id")
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_JSON_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    spec_json: str
    deadline: float
    request_id: str
    def __init__(self, proposal_id: _Optional[str] = ..., spec_json: _Optional[str] = ..., deadline: _Optional[float] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetProposalRequest(_message.Message):
    __slots__ = ("proposal_id",)
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    def __init__(self, proposal_id: _Optional[str] = ...) -> None: ...

class ListProposalsRequest(_message.Message):
    __slots__ = ("status", "after", "limit")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    status: str
    after: str
    limit: int
    def __init__(self, status: _Optional[str] = ..., after: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListProposalsResponse(_message.Message):
    __slots__ = ("proposals", "next_after")
    PROPOSALS_FIELD_NUMBER: _ClassVar[int]
    NEXT_AFTER_FIELD_NUMBER: _ClassVar[int]
    proposals: _containers.RepeatedCompositeFieldContainer[StoredProposal]
    next_after: str
    def __init__(self, proposals: _Optional[_Iterable[_Union[StoredProposal, _Mapping]]] = ..., next_after: _Optional[str] = ...) -> None: ...

class PutVoteRequest(_message.Message):
    __slots__ = ("proposal_id", "voter", "ballot_json", "request_id")
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    VOTER_FIELD_NUMBER: _ClassVar[int]
    BALLOT_JSON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    voter: str
    ballot_json: str
    request_id: str
    def __init__(self, proposal_id: _Optional[str] = ..., voter: _Optional[str] = ..., ballot_json: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class PutVoteResponse(_message.Message):
    __slots__ = ("vote", "replaced", "repeated", "proposal")
    VOTE_FIELD_NUMBER: _ClassVar[int]
    REPLACED_FIELD_NUMBER: _ClassVar[int]
    REPEATED_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    vote: StoredVote
    replaced: bool
    repeated: bool
    proposal: StoredProposal
    def __init__(self, vote: _Optional[_Union[StoredVote, _Mapping]] = ..., replaced: _Optional[bool] = ..., repeated: _Optional[bool] = ..., proposal: _Optional[_Union[StoredProposal, _Mapping]] = ...) -> None: ...

class CloseProposalRequest(_message.Message):
    __slots__ = ("proposal_id", "status", "result_json", "if_revision")
    PROPOSAL_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    IF_REVISION_FIELD_NUMBER: _ClassVar[int]
    proposal_id: str
    status: str
    result_json: str
    if_revision: int
    def __init__(self, proposal_id: _Optional[str] = ..., status: _Optional[str] = ..., result_json: _Optional[str] = ..., if_revision: _Optional[int] = ...) -> None: ...

class CloseProposalResponse(_message.Message):
    __slots__ = ("closed", "proposal")
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    closed: bool
    proposal: StoredProposal
    def __init__(self, closed: _Optional[bool] = ..., proposal: _Optional[_Union[StoredProposal, _Mapping]] = ...) -> None: ...

class WatchProposalsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ProposalsChanged(_message.Message):
    __slots__ = ("proposal_ids", "everything")
    PROPOSAL_IDS_FIELD_NUMBER: _ClassVar[int]
    EVERYTHING_FIELD_NUMBER: _ClassVar[int]
    proposal_ids: _containers.RepeatedScalarFieldContainer[str]
    everything: bool
    def __init__(self, proposal_ids: _Optional[_Iterable[str]] = ..., everything: _Optional[bool] = ...) -> None: ...
