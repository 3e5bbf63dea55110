from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

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
