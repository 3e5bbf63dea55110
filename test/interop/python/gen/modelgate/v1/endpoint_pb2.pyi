from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListEndpointsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListEndpointsResponse(_message.Message):
    __slots__ = ("endpoints",)
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    endpoints: _containers.RepeatedCompositeFieldContainer[Endpoint]
    def __init__(self, endpoints: _Optional[_Iterable[_Union[Endpoint, _Mapping]]] = ...) -> None: ...

class GetEndpointRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetEndpointResponse(_message.Message):
    __slots__ = ("endpoint",)
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    endpoint: Endpoint
    def __init__(self, endpoint: _Optional[_Union[Endpoint, _Mapping]] = ...) -> None: ...

class Endpoint(_message.Message):
    __slots__ = ("name", "endpoint_type", "provider", "model", "limit", "targets", "routing_strategy")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    ROUTING_STRATEGY_FIELD_NUMBER: _ClassVar[int]
    name: str
    endpoint_type: str
    provider: str
    model: str
    limit: RateLimit
    targets: _containers.RepeatedCompositeFieldContainer[EndpointTarget]
    routing_strategy: str
    def __init__(self, name: _Optional[str] = ..., endpoint_type: _Optional[str] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., limit: _Optional[_Union[RateLimit, _Mapping]] = ..., targets: _Optional[_Iterable[_Union[EndpointTarget, _Mapping]]] = ..., routing_strategy: _Optional[str] = ...) -> None: ...

class EndpointTarget(_message.Message):
    __slots__ = ("name", "provider", "model", "breaker", "canary", "latency_ms", "canary_judgement", "outlier", "weight")
    class BreakerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        BREAKER_STATE_UNSPECIFIED: _ClassVar[EndpointTarget.BreakerState]
        BREAKER_STATE_CLOSED: _ClassVar[EndpointTarget.BreakerState]
        BREAKER_STATE_HALF_OPEN: _ClassVar[EndpointTarget.BreakerState]
        BREAKER_STATE_OPEN: _ClassVar[EndpointTarget.BreakerState]
    BREAKER_STATE_UNSPECIFIED: EndpointTarget.BreakerState
    BREAKER_STATE_CLOSED: EndpointTarget.BreakerState
    BREAKER_STATE_HALF_OPEN: EndpointTarget.BreakerState
    BREAKER_STATE_OPEN: EndpointTarget.BreakerState
    class CanaryStanding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CANARY_STANDING_UNSPECIFIED: _ClassVar[EndpointTarget.CanaryStanding]
        CANARY_STANDING_NOT_CANARY: _ClassVar[EndpointTarget.CanaryStanding]
        CANARY_STANDING_RUNNING: _ClassVar[EndpointTarget.CanaryStanding]
        CANARY_STANDING_PROMOTED: _ClassVar[EndpointTarget.CanaryStanding]
        CANARY_STANDING_ROLLED_BACK: _ClassVar[EndpointTarget.CanaryStanding]
    CANARY_STANDING_UNSPECIFIED: EndpointTarget.CanaryStanding
    CANARY_STANDING_NOT_CANARY: EndpointTarget.CanaryStanding
    CANARY_STANDING_RUNNING: EndpointTarget.CanaryStanding
    CANARY_STANDING_PROMOTED: EndpointTarget.CanaryStanding
    CANARY_STANDING_ROLLED_BACK: EndpointTarget.CanaryStanding
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    BREAKER_FIELD_NUMBER: _ClassVar[int]
    CANARY_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    CANARY_JUDGEMENT_FIELD_NUMBER: _ClassVar[int]
    OUTLIER_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    name: str
    provider: str
    model: str
    breaker: EndpointTarget.BreakerState
    canary: EndpointTarget.CanaryStanding
    latency_ms: float
    canary_judgement: CanaryJudgement
    outlier: OutlierStatus
    weight: float
    def __init__(self, name: _Optional[str] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., breaker: _Optional[_Union[EndpointTarget.BreakerState, str]] = ..., canary: _Optional[_Union[EndpointTarget.CanaryStanding, str]] = ..., latency_ms: _Optional[float] = ..., canary_judgement: _Optional[_Union[CanaryJudgement, _Mapping]] = ..., outlier: _Optional[_Union[OutlierStatus, _Mapping]] = ..., weight: _Optional[float] = ...) -> None: ...

class CanaryJudgement(_message.Message):
    __slots__ = ("window_calls", "stable_window_calls", "error_rate", "stable_error_rate", "p95_latency_ms", "stable_p95_latency_ms", "p95_ttft_ms", "stable_p95_ttft_ms", "reason", "judged_at_unix_ms")
    WINDOW_CALLS_FIELD_NUMBER: _ClassVar[int]
    STABLE_WINDOW_CALLS_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    STABLE_ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    P95_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    STABLE_P95_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    P95_TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    STABLE_P95_TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    JUDGED_AT_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    window_calls: int
    stable_window_calls: int
    error_rate: float
    stable_error_rate: float
    p95_latency_ms: float
    stable_p95_latency_ms: float
    p95_ttft_ms: float
    stable_p95_ttft_ms: float
    reason: str
    judged_at_unix_ms: int
    def __init__(self, window_calls: _Optional[int] = ..., stable_window_calls: _Optional[int] = ..., error_rate: _Optional[float] = ..., stable_error_rate: _Optional[float] = ..., p95_latency_ms: _Optional[float] = ..., stable_p95_latency_ms: _Optional[float] = ..., p95_ttft_ms: _Optional[float] = ..., stable_p95_ttft_ms: _Optional[float] = ..., reason: _Optional[str] = ..., judged_at_unix_ms: _Optional[int] = ...) -> None: ...

class OutlierStatus(_message.Message):
    __slots__ = ("ejected", "ejected_until_unix_ms", "consecutive_ejections", "total_ejections", "window_calls", "error_rate")
    EJECTED_FIELD_NUMBER: _ClassVar[int]
    EJECTED_UNTIL_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_EJECTIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_EJECTIONS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_CALLS_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    ejected: bool
    ejected_until_unix_ms: int
    consecutive_ejections: int
    total_ejections: int
    window_calls: int
    error_rate: float
    def __init__(self, ejected: _Optional[bool] = ..., ejected_until_unix_ms: _Optional[int] = ..., consecutive_ejections: _Optional[int] = ..., total_ejections: _Optional[int] = ..., window_calls: _Optional[int] = ..., error_rate: _Optional[float] = ...) -> None: ...

class RateLimit(_message.Message):
    __slots__ = ("renewal_period", "calls")
    RENEWAL_PERIOD_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    renewal_period: str
    calls: int
    def __init__(self, renewal_period: _Optional[str] = ..., calls: _Optional[int] = ...) -> None: ...
