from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListProvidersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListProvidersResponse(_message.Message):
    __slots__ = ("providers",)
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    providers: _containers.RepeatedCompositeFieldContainer[Provider]
    def __init__(self, providers: _Optional[_Iterable[_Union[Provider, _Mapping]]] = ...) -> None: ...

class Provider(_message.Message):
    __slots__ = ("id", "display_name", "operators", "filters")
    ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    OPERATORS_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    id: str
    display_name: str
    operators: _containers.RepeatedScalarFieldContainer[str]
    filters: _containers.RepeatedCompositeFieldContainer[FilterField]
    def __init__(self, id: _Optional[str] = ..., display_name: _Optional[str] = ..., operators: _Optional[_Iterable[str]] = ..., filters: _Optional[_Iterable[_Union[FilterField, _Mapping]]] = ...) -> None: ...

class FilterField(_message.Message):
    __slots__ = ("operator", "field", "type", "operators", "orderable")
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OPERATORS_FIELD_NUMBER: _ClassVar[int]
    ORDERABLE_FIELD_NUMBER: _ClassVar[int]
    operator: str
    field: str
    type: str
    operators: _containers.RepeatedScalarFieldContainer[str]
    orderable: bool
    def __init__(self, operator: _Optional[str] = ..., field: _Optional[str] = ..., type: _Optional[str] = ..., operators: _Optional[_Iterable[str]] = ..., orderable: _Optional[bool] = ...) -> None: ...
