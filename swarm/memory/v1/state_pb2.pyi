from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Agent(_message.Message):
    __slots__ = ("agent_id", "skills", "capacity", "metadata_json", "status", "load", "open_tasks", "registered_at", "last_seen", "weight", "topics")
    class SkillsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    OPEN_TASKS_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    TOPICS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    skills: _containers.ScalarMap[str, float]
    capacity: float
    metadata_json: str
    status: str
    load: float
    open_tasks: int
    registered_at: float
    last_seen: float
    weight: float
    topics: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, agent_id: _Optional[str] = ..., skills: _Optional[_Mapping[str, float]] = ..., capacity: _Optional[float] = ..., metadata_json: _Optional[str] = ..., status: _Optional[str] = ..., load: _Optional[float] = ..., open_tasks: _Optional[int] = ..., registered_at: _Optional[float] = ..., last_seen: _Optional[float] = ..., weight: _Optional[float] = ..., topics: _Optional[_Iterable[str]] = ...) -> None: ...

class Topics(_message.Message):
    __slots__ = ("names",)
    NAMES_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, names: _Optional[_Iterable[str]] = ...) -> None: ...

class PutAgentRequest(_message.Message):
    __slots__ = ("agent_id", "skills", "capacity", "metadata_json", "offline", "weight", "request_id", "topics")
    class SkillsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TOPICS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    skills: _containers.ScalarMap[str, float]
    capacity: float
    metadata_json: str
    offline: bool
    weight: float
    request_id: str
    topics: Topics
    def __init__(self, agent_id: _Optional[str] = ..., skills: _Optional[_Mapping[str, float]] = ..., capacity: _Optional[float] = ..., metadata_json: _Optional[str] = ..., offline: _Optional[bool] = ..., weight: _Optional[float] = ..., request_id: _Optional[str] = ..., topics: _Optional[_Union[Topics, _Mapping]] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("agent_id", "offline")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    offline: bool
    def __init__(self, agent_id: _Optional[str] = ..., offline: _Optional[bool] = ...) -> None: ...

class ListAgentsRequest(_message.Message):
    __slots__ = ("agent_ids", "skill", "min_level", "status")
    AGENT_IDS_FIELD_NUMBER: _ClassVar[int]
    SKILL_FIELD_NUMBER: _ClassVar[int]
    MIN_LEVEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    agent_ids: _containers.RepeatedScalarFieldContainer[str]
    skill: str
    min_level: float
    status: str
    def __init__(self, agent_ids: _Optional[_Iterable[str]] = ..., skill: _Optional[str] = ..., min_level: _Optional[float] = ..., status: _Optional[str] = ...) -> None: ...

class ListAgentsResponse(_message.Message):
    __slots__ = ("agents",)
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[Agent]
    def __init__(self, agents: _Optional[_Iterable[_Union[Agent, _Mapping]]] = ...) -> None: ...

class RemoveAgentRequest(_message.Message):
    __slots__ = ("agent_id", "request_id")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    request_id: str
    def __init__(self, agent_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RemoveAgentResponse(_message.Message):
    __slots__ = ("removed", "open_tasks_released")
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    OPEN_TASKS_RELEASED_FIELD_NUMBER: _ClassVar[int]
    removed: bool
    open_tasks_released: int
    def __init__(self, removed: _Optional[bool] = ..., open_tasks_released: _Optional[int] = ...) -> None: ...

class TaskAssignment(_message.Message):
    __slots__ = ("task_id", "agent_id", "task_type", "effort")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    EFFORT_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    agent_id: str
    task_type: str
    effort: float
    def __init__(self, task_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., task_type: _Optional[str] = ..., effort: _Optional[float] = ...) -> None: ...

class RecordAssignmentsRequest(_message.Message):
    __slots__ = ("assignments", "request_id")
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    assignments: _containers.RepeatedCompositeFieldContainer[TaskAssignment]
    request_id: str
    def __init__(self, assignments: _Optional[_Iterable[_Union[TaskAssignment, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class RecordAssignmentsResponse(_message.Message):
    __slots__ = ("recorded", "assignments")
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    recorded: int
    assignments: _containers.RepeatedCompositeFieldContainer[TaskAssignment]
    def __init__(self, recorded: _Optional[int] = ..., assignments: _Optional[_Iterable[_Union[TaskAssignment, _Mapping]]] = ...) -> None: ...

class ReportOutcomeRequest(_message.Message):
    __slots__ = ("task_id", "agent_id", "success", "quality", "duration_s", "task_type", "deposit", "evaporation", "request_id")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    DEPOSIT_FIELD_NUMBER: _ClassVar[int]
    EVAPORATION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    agent_id: str
    success: bool
    quality: float
    duration_s: float
    task_type: str
    deposit: float
    evaporation: float
    request_id: str
    def __init__(self, task_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., success: _Optional[bool] = ..., quality: _Optional[float] = ..., duration_s: _Optional[float] = ..., task_type: _Optional[str] = ..., deposit: _Optional[float] = ..., evaporation: _Optional[float] = ..., request_id: _Optional[str] = ...) -> None: ...

class ReportOutcomeResponse(_message.Message):
    __slots__ = ("trail", "task_was_open")
    TRAIL_FIELD_NUMBER: _ClassVar[int]
    TASK_WAS_OPEN_FIELD_NUMBER: _ClassVar[int]
    trail: Trail
    task_was_open: bool
    def __init__(self, trail: _Optional[_Union[Trail, _Mapping]] = ..., task_was_open: _Optional[bool] = ...) -> None: ...

class Trail(_message.Message):
    __slots__ = ("agent_id", "task_type", "strength", "updated_at", "successes", "failures", "raw_strength")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    STRENGTH_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    SUCCESSES_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    RAW_STRENGTH_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    task_type: str
    strength: float
    updated_at: float
    successes: int
    failures: int
    raw_strength: float
    def __init__(self, agent_id: _Optional[str] = ..., task_type: _Optional[str] = ..., strength: _Optional[float] = ..., updated_at: _Optional[float] = ..., successes: _Optional[int] = ..., failures: _Optional[int] = ..., raw_strength: _Optional[float] = ...) -> None: ...

class ReadTrailsRequest(_message.Message):
    __slots__ = ("agent_ids", "task_types", "limit")
    AGENT_IDS_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPES_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    agent_ids: _containers.RepeatedScalarFieldContainer[str]
    task_types: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    def __init__(self, agent_ids: _Optional[_Iterable[str]] = ..., task_types: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ...) -> None: ...

class ReadTrailsResponse(_message.Message):
    __slots__ = ("trails", "half_life_s")
    TRAILS_FIELD_NUMBER: _ClassVar[int]
    HALF_LIFE_S_FIELD_NUMBER: _ClassVar[int]
    trails: _containers.RepeatedCompositeFieldContainer[Trail]
    half_life_s: float
    def __init__(self, trails: _Optional[_Iterable[_Union[Trail, _Mapping]]] = ..., half_life_s: _Optional[float] = ...) -> None: ...

class ReadAssignmentViewRequest(_message.Message):
    __slots__ = ("task_types", "trail_limit")
    TASK_TYPES_FIELD_NUMBER: _ClassVar[int]
    TRAIL_LIMIT_FIELD_NUMBER: _ClassVar[int]
    task_types: _containers.RepeatedScalarFieldContainer[str]
    trail_limit: int
    def __init__(self, task_types: _Optional[_Iterable[str]] = ..., trail_limit: _Optional[int] = ...) -> None: ...

class ReadAssignmentViewResponse(_message.Message):
    __slots__ = ("agents", "trails", "half_life_s")
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    TRAILS_FIELD_NUMBER: _ClassVar[int]
    HALF_LIFE_S_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[Agent]
    trails: _containers.RepeatedCompositeFieldContainer[Trail]
    half_life_s: float
    def __init__(self, agents: _Optional[_Iterable[_Union[Agent, _Mapping]]] = ..., trails: _Optional[_Iterable[_Union[Trail, _Mapping]]] = ..., half_life_s: _Optional[float] = ...) -> None: ...
