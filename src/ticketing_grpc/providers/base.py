"""The Provider base class: one method per operator of the contract.

A plugin subclasses Provider and overrides the operators it supports; the
operators it leaves alone are not among its capabilities and answer
UNIMPLEMENTED. Unary operators are coroutines. List operators are async
generators that page through the provider lazily; those that can resume yield
`(item, cursor)` pairs, where the cursor is a small JSON value from which the
plugin can continue right after that item (the service turns it into a signed
resume token).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ticketing.v1 import integrations_pb2, ticket_pb2, ticketing_pb2

from ..errors import NotSupported
from ..query import Query, QuerySchema

if TYPE_CHECKING:
    from ..customfields import CustomFields
    from ..events.sink import EventSink
    from ..store import Store

Cursor = Any
"""A JSON-serialisable value (str, number, list, dict) chosen by the plugin."""


@dataclass(frozen=True)
class Page:
    """How a list operator is being read."""

    after: Cursor | None = None
    size_hint: int = 0
    limit: int = 0


@dataclass(frozen=True)
class ProviderContext:
    """Everything a plugin instance gets: its integration and shared services."""

    integration_id: str
    integration: integrations_pb2.Integration
    custom_fields: CustomFields
    store: Store
    events: EventSink
    allow_private_urls: bool = False
    extras: Mapping[str, Any] = field(default_factory=dict)


STREAMING = "stream"
UNARY = "unary"

OPERATORS: Mapping[str, str] = {
    "create_attachment": UNARY,
    "delete_attachment": UNARY,
    "download_attachment": UNARY,
    "list_attachments_metadata": STREAMING,
    "create_comment": UNARY,
    "delete_comment": UNARY,
    "list_comments": STREAMING,
    "query_escalation_policies": STREAMING,
    "create_note": UNARY,
    "delete_note": UNARY,
    "patch_note": UNARY,
    "list_notes": STREAMING,
    "list_on_call": STREAMING,
    "list_projects": STREAMING,
    "list_remote_fields": STREAMING,
    "create_ticket": UNARY,
    "get_ticket": UNARY,
    "patch_ticket": UNARY,
    "query_tickets": STREAMING,
}
"""Every operator of the contract (snake_case, as in capabilities.csv) and its kind."""

FILTERED_OPERATORS = ("query_tickets", "query_escalation_policies", "list_on_call")


class Provider:
    """Base class of every provider plugin."""

    id: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    filter_schemas: ClassVar[Mapping[str, QuerySchema]] = {}
    """Fields each filtered operator accepts (see FILTERED_OPERATORS)."""

    def __init__(self, context: ProviderContext) -> None:
        self.context = context

    async def close(self) -> None:
        """Release connections; called when the integration changes or at shutdown."""

    def filter_schema(self, operator: str) -> QuerySchema:
        """The schema for one integration; plugins add its custom fields here."""
        return self.filter_schemas.get(operator, QuerySchema({}))

    def unsupported(self, operator: str) -> NotSupported:
        return NotSupported(
            f"provider {self.id} does not support {operator}",
            metadata={"provider": self.id, "operator": operator},
        )

    # Attachments
    async def create_attachment(
        self, metadata: ticketing_pb2.CreateAttachmentMetadata, chunks: AsyncIterator[bytes]
    ) -> ticket_pb2.AttachmentMetadata:
        raise self.unsupported("create_attachment")

    async def delete_attachment(self, ticket_id: str, attachment_id: str) -> None:
        raise self.unsupported("delete_attachment")

    async def download_attachment(
        self, ticket_id: str, attachment_id: str
    ) -> tuple[ticket_pb2.AttachmentMetadata, AsyncIterator[bytes]]:
        raise self.unsupported("download_attachment")

    async def list_attachments_metadata(
        self, ticket_id: str
    ) -> AsyncIterator[ticket_pb2.AttachmentMetadata]:
        raise self.unsupported("list_attachments_metadata")
        yield

    # Comments
    async def create_comment(self, comment: ticket_pb2.Comment) -> ticket_pb2.Comment:
        raise self.unsupported("create_comment")

    async def delete_comment(self, ticket_id: str, comment_id: str) -> None:
        raise self.unsupported("delete_comment")

    async def list_comments(
        self, ticket_id: str, page: Page
    ) -> AsyncIterator[tuple[ticket_pb2.Comment, Cursor]]:
        raise self.unsupported("list_comments")
        yield

    # Escalation policies and on-call
    async def query_escalation_policies(
        self, query: Query, page: Page
    ) -> AsyncIterator[tuple[ticket_pb2.EscalationPolicy, Cursor]]:
        raise self.unsupported("query_escalation_policies")
        yield

    async def list_on_call(self, query: Query, page: Page) -> AsyncIterator[ticket_pb2.OnCall]:
        raise self.unsupported("list_on_call")
        yield

    # Notes
    async def create_note(self, note: ticket_pb2.Note) -> ticket_pb2.Note:
        raise self.unsupported("create_note")

    async def delete_note(self, ticket_id: str, note_id: str) -> None:
        raise self.unsupported("delete_note")

    async def patch_note(self, note: ticket_pb2.Note, paths: Sequence[str]) -> ticket_pb2.Note:
        raise self.unsupported("patch_note")

    async def list_notes(
        self, ticket_id: str, page: Page
    ) -> AsyncIterator[tuple[ticket_pb2.Note, Cursor]]:
        raise self.unsupported("list_notes")
        yield

    # Projects and fields
    async def list_projects(self, page: Page) -> AsyncIterator[tuple[ticket_pb2.Project, Cursor]]:
        raise self.unsupported("list_projects")
        yield

    async def list_remote_fields(self, project_id: str) -> AsyncIterator[ticket_pb2.RemoteField]:
        raise self.unsupported("list_remote_fields")
        yield

    # Tickets
    async def create_ticket(self, ticket: ticket_pb2.Ticket) -> ticket_pb2.Ticket:
        raise self.unsupported("create_ticket")

    async def get_ticket(self, ticket_id: str) -> ticket_pb2.Ticket:
        raise self.unsupported("get_ticket")

    async def patch_ticket(
        self, ticket: ticket_pb2.Ticket, paths: Sequence[str]
    ) -> ticket_pb2.Ticket:
        raise self.unsupported("patch_ticket")

    async def query_tickets(
        self, query: Query, page: Page
    ) -> AsyncIterator[tuple[ticket_pb2.Ticket, Cursor]]:
        raise self.unsupported("query_tickets")
        yield
