import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WatchStatsRequest(_message.Message):
    __slots__ = ("endpoints", "interval_ms", "window_seconds", "max_snapshots")
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    endpoints: _containers.RepeatedScalarFieldContainer[str]
    interval_ms: int
    window_seconds: int
    max_snapshots: int
    def __init__(self, endpoints: _Optional[_Iterable[str]] = ..., interval_ms: _Optional[int] = ..., window_seconds: _Optional[int] = ..., max_snapshots: _Optional[int] = ...) -> None: ...

class WatchStatsResponse(_message.Message):
    __slots__ = ("time", "window_seconds", "endpoints")
    TIME_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    window_seconds: int
    endpoints: _containers.RepeatedCompositeFieldContainer[EndpointStats]
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window_seconds: _Optional[int] = ..., endpoints: _Optional[_Iterable[_Union[EndpointStats, _Mapping]]] = ...) -> None: ...

class EndpointStats(_message.Message):
    __slots__ = ("endpoint", "stats", "targets")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    stats: LiveStats
    targets: _containers.RepeatedCompositeFieldContainer[TargetStats]
    def __init__(self, endpoint: _Optional[str] = ..., stats: _Optional[_Union[LiveStats, _Mapping]] = ..., targets: _Optional[_Iterable[_Union[TargetStats, _Mapping]]] = ...) -> None: ...

class TargetStats(_message.Message):
    __slots__ = ("target", "stats")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    target: str
    stats: LiveStats
    def __init__(self, target: _Optional[str] = ..., stats: _Optional[_Union[LiveStats, _Mapping]] = ...) -> None: ...

class LiveStats(_message.Message):
    __slots__ = ("calls", "errors", "calls_per_second", "error_rate", "p50_latency_ms", "p95_latency_ms", "p50_ttft_ms", "tokens_per_second", "completion_tokens_per_second", "active_streams", "total_calls")
    CALLS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    CALLS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    P50_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    P95_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    P50_TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_STREAMS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CALLS_FIELD_NUMBER: _ClassVar[int]
    calls: int
    errors: int
    calls_per_second: float
    error_rate: float
    p50_latency_ms: float
    p95_latency_ms: float
    p50_ttft_ms: float
    tokens_per_second: float
    completion_tokens_per_second: float
    active_streams: int
    total_calls: int
    def __init__(self, calls: _Optional[int] = ..., errors: _Optional[int] = ..., calls_per_second: _Optional[float] = ..., error_rate: _Optional[float] = ..., p50_latency_ms: _Optional[float] = ..., p95_latency_ms: _Optional[float] = ..., p50_ttft_ms: _Optional[float] = ..., tokens_per_second: _Optional[float] = ..., completion_tokens_per_second: _Optional[float] = ..., active_streams: _Optional[int] = ..., total_calls: _Optional[int] = ...) -> None: ...
