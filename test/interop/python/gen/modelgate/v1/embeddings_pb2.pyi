from google.protobuf import struct_pb2 as _struct_pb2
from modelgate.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EmbeddingPrecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EMBEDDING_PRECISION_UNSPECIFIED: _ClassVar[EmbeddingPrecision]
    EMBEDDING_PRECISION_FLOAT32: _ClassVar[EmbeddingPrecision]
    EMBEDDING_PRECISION_FLOAT64: _ClassVar[EmbeddingPrecision]
EMBEDDING_PRECISION_UNSPECIFIED: EmbeddingPrecision
EMBEDDING_PRECISION_FLOAT32: EmbeddingPrecision
EMBEDDING_PRECISION_FLOAT64: EmbeddingPrecision

class EmbedRequest(_message.Message):
    __slots__ = ("endpoint", "inputs", "user", "extras", "token_inputs", "precision")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    EXTRAS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_INPUTS_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    inputs: _containers.RepeatedScalarFieldContainer[str]
    user: str
    extras: _struct_pb2.Struct
    token_inputs: _containers.RepeatedCompositeFieldContainer[_common_pb2.TokenIds]
    precision: EmbeddingPrecision
    def __init__(self, endpoint: _Optional[str] = ..., inputs: _Optional[_Iterable[str]] = ..., user: _Optional[str] = ..., extras: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., token_inputs: _Optional[_Iterable[_Union[_common_pb2.TokenIds, _Mapping]]] = ..., precision: _Optional[_Union[EmbeddingPrecision, str]] = ...) -> None: ...

class EmbedResponse(_message.Message):
    __slots__ = ("model", "data", "usage", "routing")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    ROUTING_FIELD_NUMBER: _ClassVar[int]
    model: str
    data: _containers.RepeatedCompositeFieldContainer[Embedding]
    usage: _common_pb2.Usage
    routing: _common_pb2.Routing
    def __init__(self, model: _Optional[str] = ..., data: _Optional[_Iterable[_Union[Embedding, _Mapping]]] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., routing: _Optional[_Union[_common_pb2.Routing, _Mapping]] = ...) -> None: ...

class Embedding(_message.Message):
    __slots__ = ("index", "values", "double_values")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    DOUBLE_VALUES_FIELD_NUMBER: _ClassVar[int]
    index: int
    values: _containers.RepeatedScalarFieldContainer[float]
    double_values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, index: _Optional[int] = ..., values: _Optional[_Iterable[float]] = ..., double_values: _Optional[_Iterable[float]] = ...) -> None: ...
