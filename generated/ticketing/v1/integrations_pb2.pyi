import datetime

from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from ticketing.v1 import events_pb2 as _events_pb2
from ticketing.v1 import ticket_pb2 as _ticket_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateIntegrationRequest(_message.Message):
    __slots__ = ("integration",)
    INTEGRATION_FIELD_NUMBER: _ClassVar[int]
    integration: Integration
    def __init__(self, integration: _Optional[_Union[Integration, _Mapping]] = ...) -> None: ...

class CreateIntegrationResponse(_message.Message):
    __slots__ = ("integration", "access_token")
    INTEGRATION_FIELD_NUMBER: _ClassVar[int]
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    integration: Integration
    access_token: str
    def __init__(self, integration: _Optional[_Union[Integration, _Mapping]] = ..., access_token: _Optional[str] = ...) -> None: ...

class GetIntegrationRequest(_message.Message):
    __slots__ = ("integration_id",)
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    integration_id: str
    def __init__(self, integration_id: _Optional[str] = ...) -> None: ...

class ListIntegrationsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListIntegrationsResponse(_message.Message):
    __slots__ = ("integrations",)
    INTEGRATIONS_FIELD_NUMBER: _ClassVar[int]
    integrations: _containers.RepeatedCompositeFieldContainer[Integration]
    def __init__(self, integrations: _Optional[_Iterable[_Union[Integration, _Mapping]]] = ...) -> None: ...

class UpdateIntegrationRequest(_message.Message):
    __slots__ = ("integration", "update_mask")
    INTEGRATION_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    integration: Integration
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, integration: _Optional[_Union[Integration, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteIntegrationRequest(_message.Message):
    __slots__ = ("integration_id",)
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    integration_id: str
    def __init__(self, integration_id: _Optional[str] = ...) -> None: ...

class Integration(_message.Message):
    __slots__ = ("id", "name", "provider", "mock", "jira", "servicenow", "servicenow_sir", "pagerduty", "zendesk", "freshdesk", "autotask", "torq", "custom_field_mappings", "webhooks", "inbound_webhook_secret", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MOCK_FIELD_NUMBER: _ClassVar[int]
    JIRA_FIELD_NUMBER: _ClassVar[int]
    SERVICENOW_FIELD_NUMBER: _ClassVar[int]
    SERVICENOW_SIR_FIELD_NUMBER: _ClassVar[int]
    PAGERDUTY_FIELD_NUMBER: _ClassVar[int]
    ZENDESK_FIELD_NUMBER: _ClassVar[int]
    FRESHDESK_FIELD_NUMBER: _ClassVar[int]
    AUTOTASK_FIELD_NUMBER: _ClassVar[int]
    TORQ_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_FIELD_MAPPINGS_FIELD_NUMBER: _ClassVar[int]
    WEBHOOKS_FIELD_NUMBER: _ClassVar[int]
    INBOUND_WEBHOOK_SECRET_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    provider: str
    mock: MockConfig
    jira: JiraConfig
    servicenow: ServiceNowConfig
    servicenow_sir: ServiceNowConfig
    pagerduty: PagerDutyConfig
    zendesk: ZendeskConfig
    freshdesk: FreshdeskConfig
    autotask: AutotaskConfig
    torq: TorqConfig
    custom_field_mappings: _containers.RepeatedCompositeFieldContainer[CustomFieldMapping]
    webhooks: _containers.RepeatedCompositeFieldContainer[WebhookTarget]
    inbound_webhook_secret: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., provider: _Optional[str] = ..., mock: _Optional[_Union[MockConfig, _Mapping]] = ..., jira: _Optional[_Union[JiraConfig, _Mapping]] = ..., servicenow: _Optional[_Union[ServiceNowConfig, _Mapping]] = ..., servicenow_sir: _Optional[_Union[ServiceNowConfig, _Mapping]] = ..., pagerduty: _Optional[_Union[PagerDutyConfig, _Mapping]] = ..., zendesk: _Optional[_Union[ZendeskConfig, _Mapping]] = ..., freshdesk: _Optional[_Union[FreshdeskConfig, _Mapping]] = ..., autotask: _Optional[_Union[AutotaskConfig, _Mapping]] = ..., torq: _Optional[_Union[TorqConfig, _Mapping]] = ..., custom_field_mappings: _Optional[_Iterable[_Union[CustomFieldMapping, _Mapping]]] = ..., webhooks: _Optional[_Iterable[_Union[WebhookTarget, _Mapping]]] = ..., inbound_webhook_secret: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Credential(_message.Message):
    __slots__ = ("basic", "token", "oauth_client", "autotask")
    BASIC_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    OAUTH_CLIENT_FIELD_NUMBER: _ClassVar[int]
    AUTOTASK_FIELD_NUMBER: _ClassVar[int]
    basic: BasicCredential
    token: TokenCredential
    oauth_client: OAuthClientCredential
    autotask: AutotaskCredential
    def __init__(self, basic: _Optional[_Union[BasicCredential, _Mapping]] = ..., token: _Optional[_Union[TokenCredential, _Mapping]] = ..., oauth_client: _Optional[_Union[OAuthClientCredential, _Mapping]] = ..., autotask: _Optional[_Union[AutotaskCredential, _Mapping]] = ...) -> None: ...

class BasicCredential(_message.Message):
    __slots__ = ("username", "secret")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    username: str
    secret: str
    def __init__(self, username: _Optional[str] = ..., secret: _Optional[str] = ...) -> None: ...

class TokenCredential(_message.Message):
    __slots__ = ("secret",)
    SECRET_FIELD_NUMBER: _ClassVar[int]
    secret: str
    def __init__(self, secret: _Optional[str] = ...) -> None: ...

class OAuthClientCredential(_message.Message):
    __slots__ = ("client_id", "client_secret", "token_url", "scopes")
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    TOKEN_URL_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    client_id: str
    client_secret: str
    token_url: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, client_id: _Optional[str] = ..., client_secret: _Optional[str] = ..., token_url: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ...) -> None: ...

class AutotaskCredential(_message.Message):
    __slots__ = ("api_integration_code", "username", "secret")
    API_INTEGRATION_CODE_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    api_integration_code: str
    username: str
    secret: str
    def __init__(self, api_integration_code: _Optional[str] = ..., username: _Optional[str] = ..., secret: _Optional[str] = ...) -> None: ...

class MockConfig(_message.Message):
    __slots__ = ("default_project",)
    DEFAULT_PROJECT_FIELD_NUMBER: _ClassVar[int]
    default_project: str
    def __init__(self, default_project: _Optional[str] = ...) -> None: ...

class JiraConfig(_message.Message):
    __slots__ = ("url", "credential", "default_project", "default_issue_type", "priority_map")
    class PriorityMapEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: _ticket_pb2.Priority
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_ticket_pb2.Priority, str]] = ...) -> None: ...
    URL_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_PROJECT_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ISSUE_TYPE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_MAP_FIELD_NUMBER: _ClassVar[int]
    url: str
    credential: Credential
    default_project: str
    default_issue_type: str
    priority_map: _containers.ScalarMap[str, _ticket_pb2.Priority]
    def __init__(self, url: _Optional[str] = ..., credential: _Optional[_Union[Credential, _Mapping]] = ..., default_project: _Optional[str] = ..., default_issue_type: _Optional[str] = ..., priority_map: _Optional[_Mapping[str, _ticket_pb2.Priority]] = ...) -> None: ...

class ServiceNowConfig(_message.Message):
    __slots__ = ("url", "credential", "default_project", "default_issue_type", "oauth_scopes")
    URL_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_PROJECT_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ISSUE_TYPE_FIELD_NUMBER: _ClassVar[int]
    OAUTH_SCOPES_FIELD_NUMBER: _ClassVar[int]
    url: str
    credential: Credential
    default_project: str
    default_issue_type: str
    oauth_scopes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, url: _Optional[str] = ..., credential: _Optional[_Union[Credential, _Mapping]] = ..., default_project: _Optional[str] = ..., default_issue_type: _Optional[str] = ..., oauth_scopes: _Optional[_Iterable[str]] = ...) -> None: ...

class PagerDutyConfig(_message.Message):
    __slots__ = ("url", "credential", "default_project", "default_creator")
    URL_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_PROJECT_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_CREATOR_FIELD_NUMBER: _ClassVar[int]
    url: str
    credential: Credential
    default_project: str
    default_creator: str
    def __init__(self, url: _Optional[str] = ..., credential: _Optional[_Union[Credential, _Mapping]] = ..., default_project: _Optional[str] = ..., default_creator: _Optional[str] = ...) -> None: ...

class ZendeskConfig(_message.Message):
    __slots__ = ("url", "credential")
    URL_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    url: str
    credential: Credential
    def __init__(self, url: _Optional[str] = ..., credential: _Optional[_Union[Credential, _Mapping]] = ...) -> None: ...

class FreshdeskConfig(_message.Message):
    __slots__ = ("url", "credential", "default_contact", "default_type")
    URL_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_CONTACT_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_TYPE_FIELD_NUMBER: _ClassVar[int]
    url: str
    credential: Credential
    default_contact: str
    default_type: str
    def __init__(self, url: _Optional[str] = ..., credential: _Optional[_Union[Credential, _Mapping]] = ..., default_contact: _Optional[str] = ..., default_type: _Optional[str] = ...) -> None: ...

class AutotaskConfig(_message.Message):
    __slots__ = ("url", "credential", "default_project", "default_issue_type")
    URL_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_PROJECT_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ISSUE_TYPE_FIELD_NUMBER: _ClassVar[int]
    url: str
    credential: Credential
    default_project: str
    default_issue_type: str
    def __init__(self, url: _Optional[str] = ..., credential: _Optional[_Union[Credential, _Mapping]] = ..., default_project: _Optional[str] = ..., default_issue_type: _Optional[str] = ...) -> None: ...

class TorqConfig(_message.Message):
    __slots__ = ("url", "credential", "default_creator", "default_issue_type")
    URL_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_CREATOR_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ISSUE_TYPE_FIELD_NUMBER: _ClassVar[int]
    url: str
    credential: Credential
    default_creator: str
    default_issue_type: str
    def __init__(self, url: _Optional[str] = ..., credential: _Optional[_Union[Credential, _Mapping]] = ..., default_creator: _Optional[str] = ..., default_issue_type: _Optional[str] = ...) -> None: ...

class CustomFieldMapping(_message.Message):
    __slots__ = ("project_id", "name", "provider_field_path")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_PATH_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    name: str
    provider_field_path: str
    def __init__(self, project_id: _Optional[str] = ..., name: _Optional[str] = ..., provider_field_path: _Optional[str] = ...) -> None: ...

class WebhookTarget(_message.Message):
    __slots__ = ("webhook_url", "event_filter", "signing_secret")
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    EVENT_FILTER_FIELD_NUMBER: _ClassVar[int]
    SIGNING_SECRET_FIELD_NUMBER: _ClassVar[int]
    webhook_url: str
    event_filter: _containers.RepeatedScalarFieldContainer[_events_pb2.EventType]
    signing_secret: str
    def __init__(self, webhook_url: _Optional[str] = ..., event_filter: _Optional[_Iterable[_Union[_events_pb2.EventType, str]]] = ..., signing_secret: _Optional[str] = ...) -> None: ...
