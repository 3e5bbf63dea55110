import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PostFeedbackRequest(_message.Message):
    __slots__ = ("request_id", "name", "score", "label")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    name: str
    score: float
    label: str
    def __init__(self, request_id: _Optional[str] = ..., name: _Optional[str] = ..., score: _Optional[float] = ..., label: _Optional[str] = ...) -> None: ...

class PostFeedbackResponse(_message.Message):
    __slots__ = ("endpoint", "target", "model_version")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    target: str
    model_version: str
    def __init__(self, endpoint: _Optional[str] = ..., target: _Optional[str] = ..., model_version: _Optional[str] = ...) -> None: ...

class GetFeedbackSummaryRequest(_message.Message):
    __slots__ = ("start_time", "end_time", "endpoint", "name")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    endpoint: str
    name: str
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., endpoint: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class FeedbackLabelCount(_message.Message):
    __slots__ = ("label", "count")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    label: str
    count: int
    def __init__(self, label: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class FeedbackArm(_message.Message):
    __slots__ = ("endpoint", "target", "model_version", "name", "count", "scored", "mean_score", "labels")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SCORED_FIELD_NUMBER: _ClassVar[int]
    MEAN_SCORE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    target: str
    model_version: str
    name: str
    count: int
    scored: int
    mean_score: float
    labels: _containers.RepeatedCompositeFieldContainer[FeedbackLabelCount]
    def __init__(self, endpoint: _Optional[str] = ..., target: _Optional[str] = ..., model_version: _Optional[str] = ..., name: _Optional[str] = ..., count: _Optional[int] = ..., scored: _Optional[int] = ..., mean_score: _Optional[float] = ..., labels: _Optional[_Iterable[_Union[FeedbackLabelCount, _Mapping]]] = ...) -> None: ...

class GetFeedbackSummaryResponse(_message.Message):
    __slots__ = ("arms",)
    ARMS_FIELD_NUMBER: _ClassVar[int]
    arms: _containers.RepeatedCompositeFieldContainer[FeedbackArm]
    def __init__(self, arms: _Optional[_Iterable[_Union[FeedbackArm, _Mapping]]] = ...) -> None: ...
