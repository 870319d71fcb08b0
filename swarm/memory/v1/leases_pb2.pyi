from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Lease(_message.Message):
    __slots__ = ("lease_id", "token", "resource", "agent_id", "exclusive", "reason", "granted_at", "renewed_at", "expires_at", "task_id")
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    EXCLUSIVE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    GRANTED_AT_FIELD_NUMBER: _ClassVar[int]
    RENEWED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    lease_id: str
    token: int
    resource: str
    agent_id: str
    exclusive: bool
    reason: str
    granted_at: float
    renewed_at: float
    expires_at: float
    task_id: str
    def __init__(self, lease_id: _Optional[str] = ..., token: _Optional[int] = ..., resource: _Optional[str] = ..., agent_id: _Optional[str] = ..., exclusive: _Optional[bool] = ..., reason: _Optional[str] = ..., granted_at: _Optional[float] = ..., renewed_at: _Optional[float] = ..., expires_at: _Optional[float] = ..., task_id: _Optional[str] = ...) -> None: ...

class Conflict(_message.Message):
    __slots__ = ("resource", "held")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    resource: str
    held: Lease
    def __init__(self, resource: _Optional[str] = ..., held: _Optional[_Union[Lease, _Mapping]] = ...) -> None: ...

class AcquireLeasesRequest(_message.Message):
    __slots__ = ("agent_id", "resources", "shared", "ttl_s", "reason", "wait_s", "request_id")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    SHARED_FIELD_NUMBER: _ClassVar[int]
    TTL_S_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    WAIT_S_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    resources: _containers.RepeatedScalarFieldContainer[str]
    shared: bool
    ttl_s: float
    reason: str
    wait_s: float
    request_id: str
    def __init__(self, agent_id: _Optional[str] = ..., resources: _Optional[_Iterable[str]] = ..., shared: _Optional[bool] = ..., ttl_s: _Optional[float] = ..., reason: _Optional[str] = ..., wait_s: _Optional[float] = ..., request_id: _Optional[str] = ...) -> None: ...

class AcquireLeasesResponse(_message.Message):
    __slots__ = ("granted", "leases", "renewed", "conflicts", "refusal", "waited_s", "now", "replaced")
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    LEASES_FIELD_NUMBER: _ClassVar[int]
    RENEWED_FIELD_NUMBER: _ClassVar[int]
    CONFLICTS_FIELD_NUMBER: _ClassVar[int]
    REFUSAL_FIELD_NUMBER: _ClassVar[int]
    WAITED_S_FIELD_NUMBER: _ClassVar[int]
    NOW_FIELD_NUMBER: _ClassVar[int]
    REPLACED_FIELD_NUMBER: _ClassVar[int]
    granted: bool
    leases: _containers.RepeatedCompositeFieldContainer[Lease]
    renewed: _containers.RepeatedScalarFieldContainer[bool]
    conflicts: _containers.RepeatedCompositeFieldContainer[Conflict]
    refusal: str
    waited_s: float
    now: float
    replaced: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, granted: _Optional[bool] = ..., leases: _Optional[_Iterable[_Union[Lease, _Mapping]]] = ..., renewed: _Optional[_Iterable[bool]] = ..., conflicts: _Optional[_Iterable[_Union[Conflict, _Mapping]]] = ..., refusal: _Optional[str] = ..., waited_s: _Optional[float] = ..., now: _Optional[float] = ..., replaced: _Optional[_Iterable[int]] = ...) -> None: ...

class ReleaseLeasesRequest(_message.Message):
    __slots__ = ("agent_id", "lease_ids", "resources", "request_id")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_IDS_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    lease_ids: _containers.RepeatedScalarFieldContainer[str]
    resources: _containers.RepeatedScalarFieldContainer[str]
    request_id: str
    def __init__(self, agent_id: _Optional[str] = ..., lease_ids: _Optional[_Iterable[str]] = ..., resources: _Optional[_Iterable[str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class ReleaseLeasesResponse(_message.Message):
    __slots__ = ("released", "released_at")
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    RELEASED_AT_FIELD_NUMBER: _ClassVar[int]
    released: _containers.RepeatedCompositeFieldContainer[Lease]
    released_at: float
    def __init__(self, released: _Optional[_Iterable[_Union[Lease, _Mapping]]] = ..., released_at: _Optional[float] = ...) -> None: ...

class ListLeasesRequest(_message.Message):
    __slots__ = ("resource", "agent_id", "limit")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    resource: str
    agent_id: str
    limit: int
    def __init__(self, resource: _Optional[str] = ..., agent_id: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListLeasesResponse(_message.Message):
    __slots__ = ("leases", "more", "now")
    LEASES_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    NOW_FIELD_NUMBER: _ClassVar[int]
    leases: _containers.RepeatedCompositeFieldContainer[Lease]
    more: bool
    now: float
    def __init__(self, leases: _Optional[_Iterable[_Union[Lease, _Mapping]]] = ..., more: _Optional[bool] = ..., now: _Optional[float] = ...) -> None: ...
