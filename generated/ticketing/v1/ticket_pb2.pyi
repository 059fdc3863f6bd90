import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Priority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIORITY_UNSPECIFIED: _ClassVar[Priority]
    URGENT: _ClassVar[Priority]
    CRITICAL: _ClassVar[Priority]
    HIGH: _ClassVar[Priority]
    MEDIUM: _ClassVar[Priority]
    MODERATE: _ClassVar[Priority]
    LOW: _ClassVar[Priority]
    PLANNING: _ClassVar[Priority]

class RemoteFieldScope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REMOTE_FIELD_SCOPE_UNSPECIFIED: _ClassVar[RemoteFieldScope]
    REMOTE_FIELD_SCOPE_STANDARD: _ClassVar[RemoteFieldScope]
    REMOTE_FIELD_SCOPE_INTEGRATION_CUSTOM: _ClassVar[RemoteFieldScope]
    REMOTE_FIELD_SCOPE_PROJECT_CUSTOM: _ClassVar[RemoteFieldScope]
    REMOTE_FIELD_SCOPE_TICKET_CUSTOM: _ClassVar[RemoteFieldScope]

class RemoteFieldType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REMOTE_FIELD_TYPE_UNSPECIFIED: _ClassVar[RemoteFieldType]
    REMOTE_FIELD_TYPE_STRING: _ClassVar[RemoteFieldType]
    REMOTE_FIELD_TYPE_NUMBER: _ClassVar[RemoteFieldType]
    REMOTE_FIELD_TYPE_ENUM: _ClassVar[RemoteFieldType]
    REMOTE_FIELD_TYPE_OTHER: _ClassVar[RemoteFieldType]
PRIORITY_UNSPECIFIED: Priority
URGENT: Priority
CRITICAL: Priority
HIGH: Priority
MEDIUM: Priority
MODERATE: Priority
LOW: Priority
PLANNING: Priority
REMOTE_FIELD_SCOPE_UNSPECIFIED: RemoteFieldScope
REMOTE_FIELD_SCOPE_STANDARD: RemoteFieldScope
REMOTE_FIELD_SCOPE_INTEGRATION_CUSTOM: RemoteFieldScope
REMOTE_FIELD_SCOPE_PROJECT_CUSTOM: RemoteFieldScope
REMOTE_FIELD_SCOPE_TICKET_CUSTOM: RemoteFieldScope
REMOTE_FIELD_TYPE_UNSPECIFIED: RemoteFieldType
REMOTE_FIELD_TYPE_STRING: RemoteFieldType
REMOTE_FIELD_TYPE_NUMBER: RemoteFieldType
REMOTE_FIELD_TYPE_ENUM: RemoteFieldType
REMOTE_FIELD_TYPE_OTHER: RemoteFieldType

class Ticket(_message.Message):
    __slots__ = ("id", "summary", "creator", "assignee", "contact", "description", "priority", "due_date", "completion_date", "status", "project", "issue_type", "parent", "tags", "attachments", "custom_fields", "unmapped", "created_at", "updated_at", "url")
    ID_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEE_FIELD_NUMBER: _ClassVar[int]
    CONTACT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    DUE_DATE_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_DATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    ISSUE_TYPE_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_FIELDS_FIELD_NUMBER: _ClassVar[int]
    UNMAPPED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    id: str
    summary: str
    creator: str
    assignee: str
    contact: str
    description: str
    priority: Priority
    due_date: _timestamp_pb2.Timestamp
    completion_date: _timestamp_pb2.Timestamp
    status: str
    project: str
    issue_type: str
    parent: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    attachments: _containers.RepeatedCompositeFieldContainer[AttachmentMetadata]
    custom_fields: _struct_pb2.Struct
    unmapped: _struct_pb2.Struct
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    url: str
    def __init__(self, id: _Optional[str] = ..., summary: _Optional[str] = ..., creator: _Optional[str] = ..., assignee: _Optional[str] = ..., contact: _Optional[str] = ..., description: _Optional[str] = ..., priority: _Optional[_Union[Priority, str]] = ..., due_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completion_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[str] = ..., project: _Optional[str] = ..., issue_type: _Optional[str] = ..., parent: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., attachments: _Optional[_Iterable[_Union[AttachmentMetadata, _Mapping]]] = ..., custom_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., unmapped: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., url: _Optional[str] = ...) -> None: ...

class Comment(_message.Message):
    __slots__ = ("id", "ticket_id", "creator", "content", "created_at", "updated_at", "custom_fields", "unmapped")
    ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_FIELDS_FIELD_NUMBER: _ClassVar[int]
    UNMAPPED_FIELD_NUMBER: _ClassVar[int]
    id: str
    ticket_id: str
    creator: str
    content: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    custom_fields: _struct_pb2.Struct
    unmapped: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., ticket_id: _Optional[str] = ..., creator: _Optional[str] = ..., content: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., custom_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., unmapped: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Note(_message.Message):
    __slots__ = ("id", "ticket_id", "title", "content", "creator", "created_at", "updated_at", "custom_fields", "unmapped")
    ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_FIELDS_FIELD_NUMBER: _ClassVar[int]
    UNMAPPED_FIELD_NUMBER: _ClassVar[int]
    id: str
    ticket_id: str
    title: str
    content: str
    creator: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    custom_fields: _struct_pb2.Struct
    unmapped: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., ticket_id: _Optional[str] = ..., title: _Optional[str] = ..., content: _Optional[str] = ..., creator: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., custom_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., unmapped: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class AttachmentMetadata(_message.Message):
    __slots__ = ("id", "ticket_id", "file_name", "file_type", "file_size", "created_date", "creator", "unmapped")
    ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    FILE_TYPE_FIELD_NUMBER: _ClassVar[int]
    FILE_SIZE_FIELD_NUMBER: _ClassVar[int]
    CREATED_DATE_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    UNMAPPED_FIELD_NUMBER: _ClassVar[int]
    id: str
    ticket_id: str
    file_name: str
    file_type: str
    file_size: int
    created_date: _timestamp_pb2.Timestamp
    creator: str
    unmapped: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., ticket_id: _Optional[str] = ..., file_name: _Optional[str] = ..., file_type: _Optional[str] = ..., file_size: _Optional[int] = ..., created_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., creator: _Optional[str] = ..., unmapped: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Project(_message.Message):
    __slots__ = ("id", "name", "custom_fields", "unmapped")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_FIELDS_FIELD_NUMBER: _ClassVar[int]
    UNMAPPED_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    custom_fields: _struct_pb2.Struct
    unmapped: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., custom_fields: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., unmapped: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class OptionValue(_message.Message):
    __slots__ = ("value", "display_name")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    value: str
    display_name: str
    def __init__(self, value: _Optional[str] = ..., display_name: _Optional[str] = ...) -> None: ...

class RemoteFieldSchema(_message.Message):
    __slots__ = ("field_type", "provider_type", "enum_values", "enum_option_values")
    FIELD_TYPE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_TYPE_FIELD_NUMBER: _ClassVar[int]
    ENUM_VALUES_FIELD_NUMBER: _ClassVar[int]
    ENUM_OPTION_VALUES_FIELD_NUMBER: _ClassVar[int]
    field_type: RemoteFieldType
    provider_type: str
    enum_values: _containers.RepeatedScalarFieldContainer[str]
    enum_option_values: _containers.RepeatedCompositeFieldContainer[OptionValue]
    def __init__(self, field_type: _Optional[_Union[RemoteFieldType, str]] = ..., provider_type: _Optional[str] = ..., enum_values: _Optional[_Iterable[str]] = ..., enum_option_values: _Optional[_Iterable[_Union[OptionValue, _Mapping]]] = ...) -> None: ...

class RemoteField(_message.Message):
    __slots__ = ("field_id", "field_scope", "provider_field_name", "provider_field_path", "project_id", "schema")
    FIELD_ID_FIELD_NUMBER: _ClassVar[int]
    FIELD_SCOPE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NAME_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_PATH_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    field_id: str
    field_scope: RemoteFieldScope
    provider_field_name: str
    provider_field_path: str
    project_id: str
    schema: RemoteFieldSchema
    def __init__(self, field_id: _Optional[str] = ..., field_scope: _Optional[_Union[RemoteFieldScope, str]] = ..., provider_field_name: _Optional[str] = ..., provider_field_path: _Optional[str] = ..., project_id: _Optional[str] = ..., schema: _Optional[_Union[RemoteFieldSchema, _Mapping]] = ...) -> None: ...

class Agent(_message.Message):
    __slots__ = ("uid", "full_name", "email_addr", "phone_number", "time_zone", "job_title", "unmapped")
    UID_FIELD_NUMBER: _ClassVar[int]
    FULL_NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_ADDR_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    JOB_TITLE_FIELD_NUMBER: _ClassVar[int]
    UNMAPPED_FIELD_NUMBER: _ClassVar[int]
    uid: str
    full_name: str
    email_addr: str
    phone_number: str
    time_zone: str
    job_title: str
    unmapped: _struct_pb2.Struct
    def __init__(self, uid: _Optional[str] = ..., full_name: _Optional[str] = ..., email_addr: _Optional[str] = ..., phone_number: _Optional[str] = ..., time_zone: _Optional[str] = ..., job_title: _Optional[str] = ..., unmapped: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ActorSummary(_message.Message):
    __slots__ = ("id", "name", "additional_properties")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDITIONAL_PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    additional_properties: bool
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., additional_properties: _Optional[bool] = ...) -> None: ...

class Actor(_message.Message):
    __slots__ = ("agent", "agent_summary", "group_summary", "schedule_summary")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    AGENT_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    GROUP_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    agent_summary: ActorSummary
    group_summary: ActorSummary
    schedule_summary: ActorSummary
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ..., agent_summary: _Optional[_Union[ActorSummary, _Mapping]] = ..., group_summary: _Optional[_Union[ActorSummary, _Mapping]] = ..., schedule_summary: _Optional[_Union[ActorSummary, _Mapping]] = ...) -> None: ...

class EscalationPolicyRule(_message.Message):
    __slots__ = ("id", "delay_seconds", "actors")
    ID_FIELD_NUMBER: _ClassVar[int]
    DELAY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ACTORS_FIELD_NUMBER: _ClassVar[int]
    id: str
    delay_seconds: int
    actors: _containers.RepeatedCompositeFieldContainer[Actor]
    def __init__(self, id: _Optional[str] = ..., delay_seconds: _Optional[int] = ..., actors: _Optional[_Iterable[_Union[Actor, _Mapping]]] = ...) -> None: ...

class EscalationPolicy(_message.Message):
    __slots__ = ("id", "name", "description", "rules", "unmapped")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    UNMAPPED_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    description: str
    rules: _containers.RepeatedCompositeFieldContainer[EscalationPolicyRule]
    unmapped: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., rules: _Optional[_Iterable[_Union[EscalationPolicyRule, _Mapping]]] = ..., unmapped: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class OnCall(_message.Message):
    __slots__ = ("agent", "schedule", "escalation_policy", "escalation_level", "start_time", "end_time", "unmapped")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_POLICY_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_LEVEL_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    UNMAPPED_FIELD_NUMBER: _ClassVar[int]
    agent: Agent
    schedule: ActorSummary
    escalation_policy: ActorSummary
    escalation_level: int
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    unmapped: _struct_pb2.Struct
    def __init__(self, agent: _Optional[_Union[Agent, _Mapping]] = ..., schedule: _Optional[_Union[ActorSummary, _Mapping]] = ..., escalation_policy: _Optional[_Union[ActorSummary, _Mapping]] = ..., escalation_level: _Optional[int] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., unmapped: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
