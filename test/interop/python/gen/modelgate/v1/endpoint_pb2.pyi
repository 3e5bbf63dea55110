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
    __slots__ = ("name", "endpoint_type", "provider", "model", "limit", "targets")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    name: str
    endpoint_type: str
    provider: str
    model: str
    limit: RateLimit
    targets: _containers.RepeatedCompositeFieldContainer[EndpointTarget]
    def __init__(self, name: _Optional[str] = ..., endpoint_type: _Optional[str] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., limit: _Optional[_Union[RateLimit, _Mapping]] = ..., targets: _Optional[_Iterable[_Union[EndpointTarget, _Mapping]]] = ...) -> None: ...

class EndpointTarget(_message.Message):
    __slots__ = ("name", "provider", "model", "breaker", "canary", "latency_ms")
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
    name: str
    provider: str
    model: str
    breaker: EndpointTarget.BreakerState
    canary: EndpointTarget.CanaryStanding
    latency_ms: float
    def __init__(self, name: _Optional[str] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., breaker: _Optional[_Union[EndpointTarget.BreakerState, str]] = ..., canary: _Optional[_Union[EndpointTarget.CanaryStanding, str]] = ..., latency_ms: _Optional[float] = ...) -> None: ...

class RateLimit(_message.Message):
    __slots__ = ("renewal_period", "calls")
    RENEWAL_PERIOD_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    renewal_period: str
    calls: int
    def __init__(self, renewal_period: _Optional[str] = ..., calls: _Optional[int] = ...) -> None: ...
