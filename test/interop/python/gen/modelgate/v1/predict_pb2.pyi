from google.protobuf import struct_pb2 as _struct_pb2
from modelgate.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PredictRequest(_message.Message):
    __slots__ = ("endpoint", "dataframe_split", "dataframe_records", "instances", "inputs", "params")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    DATAFRAME_SPLIT_FIELD_NUMBER: _ClassVar[int]
    DATAFRAME_RECORDS_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    endpoint: str
    dataframe_split: DataframeSplit
    dataframe_records: _struct_pb2.ListValue
    instances: _struct_pb2.ListValue
    inputs: _struct_pb2.Value
    params: _struct_pb2.Struct
    def __init__(self, endpoint: _Optional[str] = ..., dataframe_split: _Optional[_Union[DataframeSplit, _Mapping]] = ..., dataframe_records: _Optional[_Union[_struct_pb2.ListValue, _Mapping]] = ..., instances: _Optional[_Union[_struct_pb2.ListValue, _Mapping]] = ..., inputs: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class DataframeSplit(_message.Message):
    __slots__ = ("columns", "data", "index")
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    columns: _containers.RepeatedScalarFieldContainer[str]
    data: _containers.RepeatedCompositeFieldContainer[_struct_pb2.ListValue]
    index: _containers.RepeatedCompositeFieldContainer[_struct_pb2.Value]
    def __init__(self, columns: _Optional[_Iterable[str]] = ..., data: _Optional[_Iterable[_Union[_struct_pb2.ListValue, _Mapping]]] = ..., index: _Optional[_Iterable[_Union[_struct_pb2.Value, _Mapping]]] = ...) -> None: ...

class PredictResponse(_message.Message):
    __slots__ = ("predictions", "model", "model_version", "routing")
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ROUTING_FIELD_NUMBER: _ClassVar[int]
    predictions: _struct_pb2.Value
    model: str
    model_version: str
    routing: _common_pb2.Routing
    def __init__(self, predictions: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., model: _Optional[str] = ..., model_version: _Optional[str] = ..., routing: _Optional[_Union[_common_pb2.Routing, _Mapping]] = ...) -> None: ...
