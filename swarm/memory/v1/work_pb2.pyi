from swarm.memory.v1 import leases_pb2 as _leases_pb2
from swarm.memory.v1 import state_pb2 as _state_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TaskSpec(_message.Message):
    __slots__ = ("task_id", "title", "description", "payload_json", "task_type", "skills", "effort", "priority", "depends_on", "max_attempts", "lease_s", "leases")
    class SkillsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_JSON_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    EFFORT_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    DEPENDS_ON_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LEASE_S_FIELD_NUMBER: _ClassVar[int]
    LEASES_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    title: str
    description: str
    payload_json: str
    task_type: str
    skills: _containers.ScalarMap[str, float]
    effort: float
    priority: float
    depends_on: _containers.RepeatedScalarFieldContainer[str]
    max_attempts: int
    lease_s: float
    leases: _containers.RepeatedCompositeFieldContainer[TaskLease]
    def __init__(self, task_id: _Optional[str] = ..., title: _Optional[str] = ..., description: _Optional[str] = ..., payload_json: _Optional[str] = ..., task_type: _Optional[str] = ..., skills: _Optional[_Mapping[str, float]] = ..., effort: _Optional[float] = ..., priority: _Optional[float] = ..., depends_on: _Optional[_Iterable[str]] = ..., max_attempts: _Optional[int] = ..., lease_s: _Optional[float] = ..., leases: _Optional[_Iterable[_Union[TaskLease, _Mapping]]] = ...) -> None: ...

class TaskLease(_message.Message):
    __slots__ = ("resource", "shared")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    SHARED_FIELD_NUMBER: _ClassVar[int]
    resource: str
    shared: bool
    def __init__(self, resource: _Optional[str] = ..., shared: _Optional[bool] = ...) -> None: ...

class Attempt(_message.Message):
    __slots__ = ("attempt", "agent_id", "placed_at", "started_at", "ended_at", "outcome", "error")
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    PLACED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    attempt: int
    agent_id: str
    placed_at: float
    started_at: float
    ended_at: float
    outcome: str
    error: str
    def __init__(self, attempt: _Optional[int] = ..., agent_id: _Optional[str] = ..., placed_at: _Optional[float] = ..., started_at: _Optional[float] = ..., ended_at: _Optional[float] = ..., outcome: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class TaskInfo(_message.Message):
    __slots__ = ("spec", "state", "agent_id", "attempt", "reason", "progress", "result_json", "submitted_at", "updated_at", "lease_expires_at", "attempts", "excluded_agents", "ended_at", "leases")
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_AGENTS_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    LEASES_FIELD_NUMBER: _ClassVar[int]
    spec: TaskSpec
    state: str
    agent_id: str
    attempt: int
    reason: str
    progress: str
    result_json: str
    submitted_at: float
    updated_at: float
    lease_expires_at: float
    attempts: _containers.RepeatedCompositeFieldContainer[Attempt]
    excluded_agents: _containers.RepeatedScalarFieldContainer[str]
    ended_at: float
    leases: _containers.RepeatedCompositeFieldContainer[_leases_pb2.Lease]
    def __init__(self, spec: _Optional[_Union[TaskSpec, _Mapping]] = ..., state: _Optional[str] = ..., agent_id: _Optional[str] = ..., attempt: _Optional[int] = ..., reason: _Optional[str] = ..., progress: _Optional[str] = ..., result_json: _Optional[str] = ..., submitted_at: _Optional[float] = ..., updated_at: _Optional[float] = ..., lease_expires_at: _Optional[float] = ..., attempts: _Optional[_Iterable[_Union[Attempt, _Mapping]]] = ..., excluded_agents: _Optional[_Iterable[str]] = ..., ended_at: _Optional[float] = ..., leases: _Optional[_Iterable[_Union[_leases_pb2.Lease, _Mapping]]] = ...) -> None: ...

class SubmitTasksRequest(_message.Message):
    __slots__ = ("tasks", "request_id")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[TaskSpec]
    request_id: str
    def __init__(self, tasks: _Optional[_Iterable[_Union[TaskSpec, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class SubmitTasksResponse(_message.Message):
    __slots__ = ("tasks", "created")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[TaskInfo]
    created: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, tasks: _Optional[_Iterable[_Union[TaskInfo, _Mapping]]] = ..., created: _Optional[_Iterable[bool]] = ...) -> None: ...

class ReadPlacementViewRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class ReadPlacementViewResponse(_message.Message):
    __slots__ = ("queued", "agents", "trails", "half_life_s", "revision", "waiting")
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    TRAILS_FIELD_NUMBER: _ClassVar[int]
    HALF_LIFE_S_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    queued: _containers.RepeatedCompositeFieldContainer[TaskInfo]
    agents: _containers.RepeatedCompositeFieldContainer[_state_pb2.Agent]
    trails: _containers.RepeatedCompositeFieldContainer[_state_pb2.Trail]
    half_life_s: float
    revision: int
    waiting: _containers.RepeatedCompositeFieldContainer[Unplaced]
    def __init__(self, queued: _Optional[_Iterable[_Union[TaskInfo, _Mapping]]] = ..., agents: _Optional[_Iterable[_Union[_state_pb2.Agent, _Mapping]]] = ..., trails: _Optional[_Iterable[_Union[_state_pb2.Trail, _Mapping]]] = ..., half_life_s: _Optional[float] = ..., revision: _Optional[int] = ..., waiting: _Optional[_Iterable[_Union[Unplaced, _Mapping]]] = ...) -> None: ...

class Placement(_message.Message):
    __slots__ = ("task_id", "agent_id", "cost")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    agent_id: str
    cost: float
    def __init__(self, task_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., cost: _Optional[float] = ...) -> None: ...

class Unplaced(_message.Message):
    __slots__ = ("task_id", "reason")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    reason: str
    def __init__(self, task_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class PlaceTasksRequest(_message.Message):
    __slots__ = ("placements", "unplaced", "request_id")
    PLACEMENTS_FIELD_NUMBER: _ClassVar[int]
    UNPLACED_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    placements: _containers.RepeatedCompositeFieldContainer[Placement]
    unplaced: _containers.RepeatedCompositeFieldContainer[Unplaced]
    request_id: str
    def __init__(self, placements: _Optional[_Iterable[_Union[Placement, _Mapping]]] = ..., unplaced: _Optional[_Iterable[_Union[Unplaced, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class PlaceTasksResponse(_message.Message):
    __slots__ = ("placed", "refused")
    PLACED_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    placed: _containers.RepeatedCompositeFieldContainer[Placement]
    refused: _containers.RepeatedCompositeFieldContainer[Unplaced]
    def __init__(self, placed: _Optional[_Iterable[_Union[Placement, _Mapping]]] = ..., refused: _Optional[_Iterable[_Union[Unplaced, _Mapping]]] = ...) -> None: ...

class NextTasksRequest(_message.Message):
    __slots__ = ("agent_id", "wait_s", "limit")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    WAIT_S_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    wait_s: float
    limit: int
    def __init__(self, agent_id: _Optional[str] = ..., wait_s: _Optional[float] = ..., limit: _Optional[int] = ...) -> None: ...

class DependencyResult(_message.Message):
    __slots__ = ("task_id", "result_json")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    result_json: str
    def __init__(self, task_id: _Optional[str] = ..., result_json: _Optional[str] = ...) -> None: ...

class Work(_message.Message):
    __slots__ = ("task", "dependencies")
    TASK_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    task: TaskInfo
    dependencies: _containers.RepeatedCompositeFieldContainer[DependencyResult]
    def __init__(self, task: _Optional[_Union[TaskInfo, _Mapping]] = ..., dependencies: _Optional[_Iterable[_Union[DependencyResult, _Mapping]]] = ...) -> None: ...

class Notice(_message.Message):
    __slots__ = ("task_id", "reason")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    reason: str
    def __init__(self, task_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class NextTasksResponse(_message.Message):
    __slots__ = ("tasks", "cancelled", "waited_s", "running", "held")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    WAITED_S_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[Work]
    cancelled: _containers.RepeatedCompositeFieldContainer[Notice]
    waited_s: float
    running: _containers.RepeatedScalarFieldContainer[str]
    held: _containers.RepeatedCompositeFieldContainer[Work]
    def __init__(self, tasks: _Optional[_Iterable[_Union[Work, _Mapping]]] = ..., cancelled: _Optional[_Iterable[_Union[Notice, _Mapping]]] = ..., waited_s: _Optional[float] = ..., running: _Optional[_Iterable[str]] = ..., held: _Optional[_Iterable[_Union[Work, _Mapping]]] = ...) -> None: ...

class ReportTaskRequest(_message.Message):
    __slots__ = ("task_id", "agent_id", "kind", "result_json", "error", "progress", "quality", "duration_s", "deposit", "evaporation", "request_id", "task_type")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    DEPOSIT_FIELD_NUMBER: _ClassVar[int]
    EVAPORATION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    agent_id: str
    kind: str
    result_json: str
    error: str
    progress: str
    quality: float
    duration_s: float
    deposit: float
    evaporation: float
    request_id: str
    task_type: str
    def __init__(self, task_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., kind: _Optional[str] = ..., result_json: _Optional[str] = ..., error: _Optional[str] = ..., progress: _Optional[str] = ..., quality: _Optional[float] = ..., duration_s: _Optional[float] = ..., deposit: _Optional[float] = ..., evaporation: _Optional[float] = ..., request_id: _Optional[str] = ..., task_type: _Optional[str] = ...) -> None: ...

class ReportTaskResponse(_message.Message):
    __slots__ = ("task", "trail", "ready", "cancelled", "repeated_report", "task_was_open")
    TASK_FIELD_NUMBER: _ClassVar[int]
    TRAIL_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    REPEATED_REPORT_FIELD_NUMBER: _ClassVar[int]
    TASK_WAS_OPEN_FIELD_NUMBER: _ClassVar[int]
    task: TaskInfo
    trail: _state_pb2.Trail
    ready: _containers.RepeatedScalarFieldContainer[str]
    cancelled: _containers.RepeatedScalarFieldContainer[str]
    repeated_report: bool
    task_was_open: bool
    def __init__(self, task: _Optional[_Union[TaskInfo, _Mapping]] = ..., trail: _Optional[_Union[_state_pb2.Trail, _Mapping]] = ..., ready: _Optional[_Iterable[str]] = ..., cancelled: _Optional[_Iterable[str]] = ..., repeated_report: _Optional[bool] = ..., task_was_open: _Optional[bool] = ...) -> None: ...

class ListTasksRequest(_message.Message):
    __slots__ = ("states", "agent_id", "task_ids", "task_type", "limit", "cursor", "full")
    STATES_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    FULL_FIELD_NUMBER: _ClassVar[int]
    states: _containers.RepeatedScalarFieldContainer[str]
    agent_id: str
    task_ids: _containers.RepeatedScalarFieldContainer[str]
    task_type: str
    limit: int
    cursor: str
    full: bool
    def __init__(self, states: _Optional[_Iterable[str]] = ..., agent_id: _Optional[str] = ..., task_ids: _Optional[_Iterable[str]] = ..., task_type: _Optional[str] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ..., full: _Optional[bool] = ...) -> None: ...

class ListTasksResponse(_message.Message):
    __slots__ = ("tasks", "counts", "next_cursor")
    class CountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    TASKS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[TaskInfo]
    counts: _containers.ScalarMap[str, int]
    next_cursor: str
    def __init__(self, tasks: _Optional[_Iterable[_Union[TaskInfo, _Mapping]]] = ..., counts: _Optional[_Mapping[str, int]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class CancelTasksRequest(_message.Message):
    __slots__ = ("task_ids", "reason", "request_id")
    TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    task_ids: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    request_id: str
    def __init__(self, task_ids: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CancelTasksResponse(_message.Message):
    __slots__ = ("cancelled", "dependents_cancelled", "unchanged")
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    DEPENDENTS_CANCELLED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    cancelled: _containers.RepeatedScalarFieldContainer[str]
    dependents_cancelled: _containers.RepeatedScalarFieldContainer[str]
    unchanged: _containers.RepeatedCompositeFieldContainer[TaskInfo]
    def __init__(self, cancelled: _Optional[_Iterable[str]] = ..., dependents_cancelled: _Optional[_Iterable[str]] = ..., unchanged: _Optional[_Iterable[_Union[TaskInfo, _Mapping]]] = ...) -> None: ...

class RequeueTasksRequest(_message.Message):
    __slots__ = ("task_ids", "reason", "request_id")
    TASK_IDS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    task_ids: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    request_id: str
    def __init__(self, task_ids: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RequeueTasksResponse(_message.Message):
    __slots__ = ("requeued", "dependents_restored", "unchanged")
    REQUEUED_FIELD_NUMBER: _ClassVar[int]
    DEPENDENTS_RESTORED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    requeued: _containers.RepeatedScalarFieldContainer[str]
    dependents_restored: _containers.RepeatedScalarFieldContainer[str]
    unchanged: _containers.RepeatedCompositeFieldContainer[TaskInfo]
    def __init__(self, requeued: _Optional[_Iterable[str]] = ..., dependents_restored: _Optional[_Iterable[str]] = ..., unchanged: _Optional[_Iterable[_Union[TaskInfo, _Mapping]]] = ...) -> None: ...

class WatchPlacementRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PlacementEvent(_message.Message):
    __slots__ = ("revision", "cause")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    revision: int
    cause: str
    def __init__(self, revision: _Optional[int] = ..., cause: _Optional[str] = ...) -> None: ...
