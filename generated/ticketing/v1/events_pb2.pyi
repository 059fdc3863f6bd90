import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from ticketing.v1 import ticket_pb2 as _ticket_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    TICKET_CREATED: _ClassVar[EventType]
    TICKET_UPDATED: _ClassVar[EventType]
    TICKET_DELETED: _ClassVar[EventType]
    TICKET_COMMENT_CREATED: _ClassVar[EventType]
    TICKET_COMMENT_DELETED: _ClassVar[EventType]
EVENT_TYPE_UNSPECIFIED: EventType
TICKET_CREATED: EventType
TICKET_UPDATED: EventType
TICKET_DELETED: EventType
TICKET_COMMENT_CREATED: EventType
TICKET_COMMENT_DELETED: EventType

class SubscribeEventsRequest(_message.Message):
    __slots__ = ("event_filter", "after_sequence")
    EVENT_FILTER_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    event_filter: _containers.RepeatedScalarFieldContainer[EventType]
    after_sequence: int
    def __init__(self, event_filter: _Optional[_Iterable[_Union[EventType, str]]] = ..., after_sequence: _Optional[int] = ...) -> None: ...

class TicketEvent(_message.Message):
    __slots__ = ("id", "sequence", "integration_id", "event_type", "ticket_id", "entity_date", "priority", "short_description", "raw_payload", "received_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    ENTITY_DATE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    SHORT_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    RAW_PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    sequence: int
    integration_id: str
    event_type: EventType
    ticket_id: str
    entity_date: str
    priority: _ticket_pb2.Priority
    short_description: str
    raw_payload: str
    received_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., sequence: _Optional[int] = ..., integration_id: _Optional[str] = ..., event_type: _Optional[_Union[EventType, str]] = ..., ticket_id: _Optional[str] = ..., entity_date: _Optional[str] = ..., priority: _Optional[_Union[_ticket_pb2.Priority, str]] = ..., short_description: _Optional[str] = ..., raw_payload: _Optional[str] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
