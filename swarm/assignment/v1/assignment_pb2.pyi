from swarm.memory.v1 import state_pb2 as _state_pb2
from swarm.memory.v1 import work_pb2 as _work_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RegisterAgentRequest(_message.Message):
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
    topics: _state_pb2.Topics
    def __init__(self, agent_id: _Optional[str] = ..., skills: _Optional[_Mapping[str, float]] = ..., capacity: _Optional[float] = ..., metadata_json: _Optional[str] = ..., offline: _Optional[bool] = ..., weight: _Optional[float] = ..., request_id: _Optional[str] = ..., topics: _Optional[_Union[_state_pb2.Topics, _Mapping]] = ...) -> None: ...

class ListAgentsRequest(_message.Message):
    __slots__ = ("skill", "min_level", "status")
    SKILL_FIELD_NUMBER: _ClassVar[int]
    MIN_LEVEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    skill: str
    min_level: float
    status: str
    def __init__(self, skill: _Optional[str] = ..., min_level: _Optional[float] = ..., status: _Optional[str] = ...) -> None: ...

class ListAgentsResponse(_message.Message):
    __slots__ = ("agents",)
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[_state_pb2.Agent]
    def __init__(self, agents: _Optional[_Iterable[_Union[_state_pb2.Agent, _Mapping]]] = ...) -> None: ...

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

class HeartbeatRequest(_message.Message):
    __slots__ = ("agent_id", "offline")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    offline: bool
    def __init__(self, agent_id: _Optional[str] = ..., offline: _Optional[bool] = ...) -> None: ...

class SkillRequirement(_message.Message):
    __slots__ = ("skill", "min_level")
    SKILL_FIELD_NUMBER: _ClassVar[int]
    MIN_LEVEL_FIELD_NUMBER: _ClassVar[int]
    skill: str
    min_level: float
    def __init__(self, skill: _Optional[str] = ..., min_level: _Optional[float] = ...) -> None: ...

class Task(_message.Message):
    __slots__ = ("task_id", "task_type", "required_skills", "effort", "priority")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_SKILLS_FIELD_NUMBER: _ClassVar[int]
    EFFORT_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    task_type: str
    required_skills: _containers.RepeatedCompositeFieldContainer[SkillRequirement]
    effort: float
    priority: float
    def __init__(self, task_id: _Optional[str] = ..., task_type: _Optional[str] = ..., required_skills: _Optional[_Iterable[_Union[SkillRequirement, _Mapping]]] = ..., effort: _Optional[float] = ..., priority: _Optional[float] = ...) -> None: ...

class AssignRequest(_message.Message):
    __slots__ = ("tasks", "strategy", "level", "seed", "dry_run", "request_id")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[Task]
    strategy: str
    level: str
    seed: int
    dry_run: bool
    request_id: str
    def __init__(self, tasks: _Optional[_Iterable[_Union[Task, _Mapping]]] = ..., strategy: _Optional[str] = ..., level: _Optional[str] = ..., seed: _Optional[int] = ..., dry_run: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class TaskAssignmentResult(_message.Message):
    __slots__ = ("task_id", "agent_id", "cost")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    agent_id: str
    cost: float
    def __init__(self, task_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., cost: _Optional[float] = ...) -> None: ...

class Unassigned(_message.Message):
    __slots__ = ("task_id", "reason")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    reason: str
    def __init__(self, task_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class AssignResponse(_message.Message):
    __slots__ = ("assignments", "unassigned", "objective", "lower_bound", "gap", "algorithm", "elapsed_ms", "cache_hit", "optimal", "recorded")
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    UNASSIGNED_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    LOWER_BOUND_FIELD_NUMBER: _ClassVar[int]
    GAP_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_MS_FIELD_NUMBER: _ClassVar[int]
    CACHE_HIT_FIELD_NUMBER: _ClassVar[int]
    OPTIMAL_FIELD_NUMBER: _ClassVar[int]
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    assignments: _containers.RepeatedCompositeFieldContainer[TaskAssignmentResult]
    unassigned: _containers.RepeatedCompositeFieldContainer[Unassigned]
    objective: float
    lower_bound: float
    gap: float
    algorithm: str
    elapsed_ms: float
    cache_hit: bool
    optimal: bool
    recorded: bool
    def __init__(self, assignments: _Optional[_Iterable[_Union[TaskAssignmentResult, _Mapping]]] = ..., unassigned: _Optional[_Iterable[_Union[Unassigned, _Mapping]]] = ..., objective: _Optional[float] = ..., lower_bound: _Optional[float] = ..., gap: _Optional[float] = ..., algorithm: _Optional[str] = ..., elapsed_ms: _Optional[float] = ..., cache_hit: _Optional[bool] = ..., optimal: _Optional[bool] = ..., recorded: _Optional[bool] = ...) -> None: ...

class ReportRequest(_message.Message):
    __slots__ = ("task_id", "agent_id", "success", "quality", "duration_s", "task_type", "request_id", "result_json", "error", "progress", "note")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    agent_id: str
    success: bool
    quality: float
    duration_s: float
    task_type: str
    request_id: str
    result_json: str
    error: str
    progress: bool
    note: str
    def __init__(self, task_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., success: _Optional[bool] = ..., quality: _Optional[float] = ..., duration_s: _Optional[float] = ..., task_type: _Optional[str] = ..., request_id: _Optional[str] = ..., result_json: _Optional[str] = ..., error: _Optional[str] = ..., progress: _Optional[bool] = ..., note: _Optional[str] = ...) -> None: ...

class ReportResponse(_message.Message):
    __slots__ = ("trail", "task_was_open", "work")
    TRAIL_FIELD_NUMBER: _ClassVar[int]
    TASK_WAS_OPEN_FIELD_NUMBER: _ClassVar[int]
    WORK_FIELD_NUMBER: _ClassVar[int]
    trail: _state_pb2.Trail
    task_was_open: bool
    work: _work_pb2.ReportTaskResponse
    def __init__(self, trail: _Optional[_Union[_state_pb2.Trail, _Mapping]] = ..., task_was_open: _Optional[bool] = ..., work: _Optional[_Union[_work_pb2.ReportTaskResponse, _Mapping]] = ...) -> None: ...

class ReadPheromonesRequest(_message.Message):
    __slots__ = ("agent_ids", "task_types", "limit")
    AGENT_IDS_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPES_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    agent_ids: _containers.RepeatedScalarFieldContainer[str]
    task_types: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    def __init__(self, agent_ids: _Optional[_Iterable[str]] = ..., task_types: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ...) -> None: ...

class ReadPheromonesResponse(_message.Message):
    __slots__ = ("trails", "half_life_s")
    TRAILS_FIELD_NUMBER: _ClassVar[int]
    HALF_LIFE_S_FIELD_NUMBER: _ClassVar[int]
    trails: _containers.RepeatedCompositeFieldContainer[_state_pb2.Trail]
    half_life_s: float
    def __init__(self, trails: _Optional[_Iterable[_Union[_state_pb2.Trail, _Mapping]]] = ..., half_life_s: _Optional[float] = ...) -> None: ...

class SolveRequest(_message.Message):
    __slots__ = ("agents", "tasks", "cost", "resource", "capacity", "maximize", "time_limit_ms", "strategy", "seed")
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    MAXIMIZE_FIELD_NUMBER: _ClassVar[int]
    TIME_LIMIT_MS_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    agents: int
    tasks: int
    cost: _containers.RepeatedScalarFieldContainer[float]
    resource: _containers.RepeatedScalarFieldContainer[float]
    capacity: _containers.RepeatedScalarFieldContainer[float]
    maximize: bool
    time_limit_ms: int
    strategy: str
    seed: int
    def __init__(self, agents: _Optional[int] = ..., tasks: _Optional[int] = ..., cost: _Optional[_Iterable[float]] = ..., resource: _Optional[_Iterable[float]] = ..., capacity: _Optional[_Iterable[float]] = ..., maximize: _Optional[bool] = ..., time_limit_ms: _Optional[int] = ..., strategy: _Optional[str] = ..., seed: _Optional[int] = ...) -> None: ...

class SolveResponse(_message.Message):
    __slots__ = ("assignment", "objective", "bound", "gap", "algorithm", "elapsed_ms", "optimal", "unassigned_reason")
    ASSIGNMENT_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    BOUND_FIELD_NUMBER: _ClassVar[int]
    GAP_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_MS_FIELD_NUMBER: _ClassVar[int]
    OPTIMAL_FIELD_NUMBER: _ClassVar[int]
    UNASSIGNED_REASON_FIELD_NUMBER: _ClassVar[int]
    assignment: _containers.RepeatedScalarFieldContainer[int]
    objective: float
    bound: float
    gap: float
    algorithm: str
    elapsed_ms: float
    optimal: bool
    unassigned_reason: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, assignment: _Optional[_Iterable[int]] = ..., objective: _Optional[float] = ..., bound: _Optional[float] = ..., gap: _Optional[float] = ..., algorithm: _Optional[str] = ..., elapsed_ms: _Optional[float] = ..., optimal: _Optional[bool] = ..., unassigned_reason: _Optional[_Iterable[str]] = ...) -> None: ...

class SubmitTasksRequest(_message.Message):
    __slots__ = ("tasks", "strategy", "level", "request_id")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[_work_pb2.TaskSpec]
    strategy: str
    level: str
    request_id: str
    def __init__(self, tasks: _Optional[_Iterable[_Union[_work_pb2.TaskSpec, _Mapping]]] = ..., strategy: _Optional[str] = ..., level: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class PlacementRound(_message.Message):
    __slots__ = ("placements", "objective", "lower_bound", "gap", "optimal", "algorithm", "elapsed_ms", "ready")
    PLACEMENTS_FIELD_NUMBER: _ClassVar[int]
    OBJECTIVE_FIELD_NUMBER: _ClassVar[int]
    LOWER_BOUND_FIELD_NUMBER: _ClassVar[int]
    GAP_FIELD_NUMBER: _ClassVar[int]
    OPTIMAL_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_MS_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    placements: _containers.RepeatedCompositeFieldContainer[_work_pb2.Placement]
    objective: float
    lower_bound: float
    gap: float
    optimal: bool
    algorithm: str
    elapsed_ms: float
    ready: int
    def __init__(self, placements: _Optional[_Iterable[_Union[_work_pb2.Placement, _Mapping]]] = ..., objective: _Optional[float] = ..., lower_bound: _Optional[float] = ..., gap: _Optional[float] = ..., optimal: _Optional[bool] = ..., algorithm: _Optional[str] = ..., elapsed_ms: _Optional[float] = ..., ready: _Optional[int] = ...) -> None: ...

class SubmitTasksResponse(_message.Message):
    __slots__ = ("tasks", "created", "placement")
    TASKS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    tasks: _containers.RepeatedCompositeFieldContainer[_work_pb2.TaskInfo]
    created: _containers.RepeatedScalarFieldContainer[bool]
    placement: PlacementRound
    def __init__(self, tasks: _Optional[_Iterable[_Union[_work_pb2.TaskInfo, _Mapping]]] = ..., created: _Optional[_Iterable[bool]] = ..., placement: _Optional[_Union[PlacementRound, _Mapping]] = ...) -> None: ...
