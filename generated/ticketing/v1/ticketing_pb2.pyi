from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from ticketing.v1 import ticket_pb2 as _ticket_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateAttachmentMetadata(_message.Message):
    __slots__ = ("ticket_id", "file_name", "file_type")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    FILE_TYPE_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    file_name: str
    file_type: str
    def __init__(self, ticket_id: _Optional[str] = ..., file_name: _Optional[str] = ..., file_type: _Optional[str] = ...) -> None: ...

class CreateAttachmentRequest(_message.Message):
    __slots__ = ("metadata", "chunk")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: CreateAttachmentMetadata
    chunk: bytes
    def __init__(self, metadata: _Optional[_Union[CreateAttachmentMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class DeleteAttachmentRequest(_message.Message):
    __slots__ = ("ticket_id", "attachment_id")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    attachment_id: str
    def __init__(self, ticket_id: _Optional[str] = ..., attachment_id: _Optional[str] = ...) -> None: ...

class DownloadAttachmentRequest(_message.Message):
    __slots__ = ("ticket_id", "attachment_id")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    attachment_id: str
    def __init__(self, ticket_id: _Optional[str] = ..., attachment_id: _Optional[str] = ...) -> None: ...

class DownloadAttachmentResponse(_message.Message):
    __slots__ = ("metadata", "chunk")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: _ticket_pb2.AttachmentMetadata
    chunk: bytes
    def __init__(self, metadata: _Optional[_Union[_ticket_pb2.AttachmentMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class ListAttachmentsMetadataRequest(_message.Message):
    __slots__ = ("ticket_id",)
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    def __init__(self, ticket_id: _Optional[str] = ...) -> None: ...

class ListAttachmentsMetadataResponse(_message.Message):
    __slots__ = ("attachment",)
    ATTACHMENT_FIELD_NUMBER: _ClassVar[int]
    attachment: _ticket_pb2.AttachmentMetadata
    def __init__(self, attachment: _Optional[_Union[_ticket_pb2.AttachmentMetadata, _Mapping]] = ...) -> None: ...

class CreateCommentRequest(_message.Message):
    __slots__ = ("comment",)
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    comment: _ticket_pb2.Comment
    def __init__(self, comment: _Optional[_Union[_ticket_pb2.Comment, _Mapping]] = ...) -> None: ...

class DeleteCommentRequest(_message.Message):
    __slots__ = ("ticket_id", "comment_id")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    comment_id: str
    def __init__(self, ticket_id: _Optional[str] = ..., comment_id: _Optional[str] = ...) -> None: ...

class ListCommentsRequest(_message.Message):
    __slots__ = ("ticket_id", "limit", "resume_token", "page_size_hint")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_HINT_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    limit: int
    resume_token: str
    page_size_hint: int
    def __init__(self, ticket_id: _Optional[str] = ..., limit: _Optional[int] = ..., resume_token: _Optional[str] = ..., page_size_hint: _Optional[int] = ...) -> None: ...

class ListCommentsResponse(_message.Message):
    __slots__ = ("comment", "resume_token")
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    comment: _ticket_pb2.Comment
    resume_token: str
    def __init__(self, comment: _Optional[_Union[_ticket_pb2.Comment, _Mapping]] = ..., resume_token: _Optional[str] = ...) -> None: ...

class QueryEscalationPoliciesRequest(_message.Message):
    __slots__ = ("filter", "limit", "resume_token", "order", "page_size_hint")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_HINT_FIELD_NUMBER: _ClassVar[int]
    filter: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    resume_token: str
    order: _containers.RepeatedScalarFieldContainer[str]
    page_size_hint: int
    def __init__(self, filter: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., resume_token: _Optional[str] = ..., order: _Optional[_Iterable[str]] = ..., page_size_hint: _Optional[int] = ...) -> None: ...

class QueryEscalationPoliciesResponse(_message.Message):
    __slots__ = ("escalation_policy", "resume_token")
    ESCALATION_POLICY_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    escalation_policy: _ticket_pb2.EscalationPolicy
    resume_token: str
    def __init__(self, escalation_policy: _Optional[_Union[_ticket_pb2.EscalationPolicy, _Mapping]] = ..., resume_token: _Optional[str] = ...) -> None: ...

class CreateNoteRequest(_message.Message):
    __slots__ = ("note",)
    NOTE_FIELD_NUMBER: _ClassVar[int]
    note: _ticket_pb2.Note
    def __init__(self, note: _Optional[_Union[_ticket_pb2.Note, _Mapping]] = ...) -> None: ...

class DeleteNoteRequest(_message.Message):
    __slots__ = ("ticket_id", "note_id")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    NOTE_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    note_id: str
    def __init__(self, ticket_id: _Optional[str] = ..., note_id: _Optional[str] = ...) -> None: ...

class PatchNoteRequest(_message.Message):
    __slots__ = ("note", "update_mask")
    NOTE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    note: _ticket_pb2.Note
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, note: _Optional[_Union[_ticket_pb2.Note, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class ListNotesRequest(_message.Message):
    __slots__ = ("ticket_id", "limit", "resume_token", "page_size_hint")
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_HINT_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    limit: int
    resume_token: str
    page_size_hint: int
    def __init__(self, ticket_id: _Optional[str] = ..., limit: _Optional[int] = ..., resume_token: _Optional[str] = ..., page_size_hint: _Optional[int] = ...) -> None: ...

class ListNotesResponse(_message.Message):
    __slots__ = ("note", "resume_token")
    NOTE_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    note: _ticket_pb2.Note
    resume_token: str
    def __init__(self, note: _Optional[_Union[_ticket_pb2.Note, _Mapping]] = ..., resume_token: _Optional[str] = ...) -> None: ...

class ListOnCallRequest(_message.Message):
    __slots__ = ("filter", "limit")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    filter: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    def __init__(self, filter: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ...) -> None: ...

class ListOnCallResponse(_message.Message):
    __slots__ = ("on_call",)
    ON_CALL_FIELD_NUMBER: _ClassVar[int]
    on_call: _ticket_pb2.OnCall
    def __init__(self, on_call: _Optional[_Union[_ticket_pb2.OnCall, _Mapping]] = ...) -> None: ...

class ListProjectsRequest(_message.Message):
    __slots__ = ("limit", "resume_token", "page_size_hint")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_HINT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    resume_token: str
    page_size_hint: int
    def __init__(self, limit: _Optional[int] = ..., resume_token: _Optional[str] = ..., page_size_hint: _Optional[int] = ...) -> None: ...

class ListProjectsResponse(_message.Message):
    __slots__ = ("project", "resume_token")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    project: _ticket_pb2.Project
    resume_token: str
    def __init__(self, project: _Optional[_Union[_ticket_pb2.Project, _Mapping]] = ..., resume_token: _Optional[str] = ...) -> None: ...

class ListRemoteFieldsRequest(_message.Message):
    __slots__ = ("project_id",)
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    def __init__(self, project_id: _Optional[str] = ...) -> None: ...

class ListRemoteFieldsResponse(_message.Message):
    __slots__ = ("remote_field",)
    REMOTE_FIELD_FIELD_NUMBER: _ClassVar[int]
    remote_field: _ticket_pb2.RemoteField
    def __init__(self, remote_field: _Optional[_Union[_ticket_pb2.RemoteField, _Mapping]] = ...) -> None: ...

class CreateTicketRequest(_message.Message):
    __slots__ = ("ticket",)
    TICKET_FIELD_NUMBER: _ClassVar[int]
    ticket: _ticket_pb2.Ticket
    def __init__(self, ticket: _Optional[_Union[_ticket_pb2.Ticket, _Mapping]] = ...) -> None: ...

class GetTicketRequest(_message.Message):
    __slots__ = ("ticket_id",)
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    ticket_id: str
    def __init__(self, ticket_id: _Optional[str] = ...) -> None: ...

class PatchTicketRequest(_message.Message):
    __slots__ = ("ticket", "update_mask")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    ticket: _ticket_pb2.Ticket
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, ticket: _Optional[_Union[_ticket_pb2.Ticket, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class QueryTicketsRequest(_message.Message):
    __slots__ = ("filter", "order", "limit", "resume_token", "page_size_hint")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_HINT_FIELD_NUMBER: _ClassVar[int]
    filter: _containers.RepeatedScalarFieldContainer[str]
    order: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    resume_token: str
    page_size_hint: int
    def __init__(self, filter: _Optional[_Iterable[str]] = ..., order: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., resume_token: _Optional[str] = ..., page_size_hint: _Optional[int] = ...) -> None: ...

class QueryTicketsResponse(_message.Message):
    __slots__ = ("ticket", "resume_token")
    TICKET_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ticket: _ticket_pb2.Ticket
    resume_token: str
    def __init__(self, ticket: _Optional[_Union[_ticket_pb2.Ticket, _Mapping]] = ..., resume_token: _Optional[str] = ...) -> None: ...
