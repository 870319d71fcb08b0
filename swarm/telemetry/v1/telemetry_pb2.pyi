from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CallRecord(_message.Message):
    __slots__ = ("kind", "name", "code", "latency_ms", "at")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    kind: str
    name: str
    code: str
    latency_ms: float
    at: float
    def __init__(self, kind: _Optional[str] = ..., name: _Optional[str] = ..., code: _Optional[str] = ..., latency_ms: _Optional[float] = ..., at: _Optional[float] = ...) -> None: ...

class ProcessSample(_message.Message):
    __slots__ = ("process", "pid", "cpu_percent", "rss_bytes", "pss_bytes", "connections", "uptime_s", "at")
    PROCESS_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    PSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    UPTIME_S_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    process: str
    pid: int
    cpu_percent: float
    rss_bytes: int
    pss_bytes: int
    connections: int
    uptime_s: float
    at: float
    def __init__(self, process: _Optional[str] = ..., pid: _Optional[int] = ..., cpu_percent: _Optional[float] = ..., rss_bytes: _Optional[int] = ..., pss_bytes: _Optional[int] = ..., connections: _Optional[int] = ..., uptime_s: _Optional[float] = ..., at: _Optional[float] = ...) -> None: ...

class ReportBatch(_message.Message):
    __slots__ = ("process", "calls", "sample", "dropped_batches", "dropped_records")
    PROCESS_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    DROPPED_BATCHES_FIELD_NUMBER: _ClassVar[int]
    DROPPED_RECORDS_FIELD_NUMBER: _ClassVar[int]
    process: str
    calls: _containers.RepeatedCompositeFieldContainer[CallRecord]
    sample: ProcessSample
    dropped_batches: int
    dropped_records: int
    def __init__(self, process: _Optional[str] = ..., calls: _Optional[_Iterable[_Union[CallRecord, _Mapping]]] = ..., sample: _Optional[_Union[ProcessSample, _Mapping]] = ..., dropped_batches: _Optional[int] = ..., dropped_records: _Optional[int] = ...) -> None: ...

class ReportAck(_message.Message):
    __slots__ = ("batches", "records")
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    batches: int
    records: int
    def __init__(self, batches: _Optional[int] = ..., records: _Optional[int] = ...) -> None: ...

class SummaryRequest(_message.Message):
    __slots__ = ("window_s", "kind", "name_contains", "process")
    WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_CONTAINS_FIELD_NUMBER: _ClassVar[int]
    PROCESS_FIELD_NUMBER: _ClassVar[int]
    window_s: float
    kind: str
    name_contains: str
    process: str
    def __init__(self, window_s: _Optional[float] = ..., kind: _Optional[str] = ..., name_contains: _Optional[str] = ..., process: _Optional[str] = ...) -> None: ...

class MethodStats(_message.Message):
    __slots__ = ("process", "kind", "name", "count", "errors", "rate_per_s", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms", "total", "total_errors", "codes", "sampled")
    class CodesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    PROCESS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    RATE_PER_S_FIELD_NUMBER: _ClassVar[int]
    P50_MS_FIELD_NUMBER: _ClassVar[int]
    P95_MS_FIELD_NUMBER: _ClassVar[int]
    P99_MS_FIELD_NUMBER: _ClassVar[int]
    MEAN_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    TOTAL_ERRORS_FIELD_NUMBER: _ClassVar[int]
    CODES_FIELD_NUMBER: _ClassVar[int]
    SAMPLED_FIELD_NUMBER: _ClassVar[int]
    process: str
    kind: str
    name: str
    count: int
    errors: int
    rate_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    total: int
    total_errors: int
    codes: _containers.ScalarMap[str, int]
    sampled: bool
    def __init__(self, process: _Optional[str] = ..., kind: _Optional[str] = ..., name: _Optional[str] = ..., count: _Optional[int] = ..., errors: _Optional[int] = ..., rate_per_s: _Optional[float] = ..., p50_ms: _Optional[float] = ..., p95_ms: _Optional[float] = ..., p99_ms: _Optional[float] = ..., mean_ms: _Optional[float] = ..., max_ms: _Optional[float] = ..., total: _Optional[int] = ..., total_errors: _Optional[int] = ..., codes: _Optional[_Mapping[str, int]] = ..., sampled: _Optional[bool] = ...) -> None: ...

class Summary(_message.Message):
    __slots__ = ("window_s", "generated_at", "methods", "processes", "dropped_batches", "dropped_records")
    class DroppedBatchesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class DroppedRecordsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    WINDOW_S_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    PROCESSES_FIELD_NUMBER: _ClassVar[int]
    DROPPED_BATCHES_FIELD_NUMBER: _ClassVar[int]
    DROPPED_RECORDS_FIELD_NUMBER: _ClassVar[int]
    window_s: float
    generated_at: float
    methods: _containers.RepeatedCompositeFieldContainer[MethodStats]
    processes: _containers.RepeatedCompositeFieldContainer[ProcessSample]
    dropped_batches: _containers.ScalarMap[str, int]
    dropped_records: _containers.ScalarMap[str, int]
    def __init__(self, window_s: _Optional[float] = ..., generated_at: _Optional[float] = ..., methods: _Optional[_Iterable[_Union[MethodStats, _Mapping]]] = ..., processes: _Optional[_Iterable[_Union[ProcessSample, _Mapping]]] = ..., dropped_batches: _Optional[_Mapping[str, int]] = ..., dropped_records: _Optional[_Mapping[str, int]] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("summary", "interval_s")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    summary: SummaryRequest
    interval_s: float
    def __init__(self, summary: _Optional[_Union[SummaryRequest, _Mapping]] = ..., interval_s: _Optional[float] = ...) -> None: ...
