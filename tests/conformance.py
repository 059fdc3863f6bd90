"""The provider conformance suite (after fsspec's tests/abstract).

One abstract class exercises a provider through the gRPC API. A provider's
test module subclasses it and supplies two fixtures:

- `client`: a Client authenticated as an integration of that provider;
- `project`: the project tickets are created in.

Class attributes describe what differs between providers (a status a new
ticket can move to, which optional operators exist). Everything else must
behave the same everywhere.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

import grpc
import pytest
from google.protobuf import field_mask_pb2
from ticketing.v1 import providers_pb2, ticket_pb2, ticketing_pb2

from .conftest import Client

Req = ticketing_pb2


async def _error(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


class TicketingConformance:
    provider_id: ClassVar[str]
    next_status: ClassVar[str]
    """A status a newly created ticket can be patched to."""
    unknown_ticket_id: ClassVar[str] = "NOPE-999999"

    async def create(self, client: Client, project: str, **fields: Any) -> ticket_pb2.Ticket:
        ticket = ticket_pb2.Ticket(project=project, **fields)
        return await client.ticketing.CreateTicket(
            Req.CreateTicketRequest(ticket=ticket), metadata=client.metadata
        )

    async def query(self, client: Client, *filters: str, **kw: Any) -> list[Any]:
        stream = client.ticketing.QueryTickets(
            Req.QueryTicketsRequest(filter=filters, **kw), metadata=client.metadata
        )
        return [item async for item in stream]

    async def operators(self, client: Client) -> set[str]:
        response = await client.providers.ListProviders(providers_pb2.ListProvidersRequest())
        return next(set(p.operators) for p in response.providers if p.id == self.provider_id)

    async def test_create_then_get_returns_the_same_ticket(
        self, client: Client, project: str
    ) -> None:
        created = await self.create(
            client, project, summary="Conformance create", priority=ticket_pb2.HIGH
        )
        assert created.id and created.summary == "Conformance create"
        assert created.priority == ticket_pb2.HIGH
        assert created.project == project
        assert created.created_at.seconds > 0
        got = await client.ticketing.GetTicket(
            Req.GetTicketRequest(ticket_id=created.id), metadata=client.metadata
        )
        assert (got.id, got.summary, got.priority, got.project) == (
            created.id,
            created.summary,
            created.priority,
            created.project,
        )

    async def test_patch_changes_masked_fields_only(self, client: Client, project: str) -> None:
        created = await self.create(
            client, project, summary="Before", description="Keep me", priority=ticket_pb2.LOW
        )
        change = ticket_pb2.Ticket(id=created.id, summary="After", description="Not this")
        patched = await client.ticketing.PatchTicket(
            Req.PatchTicketRequest(
                ticket=change, update_mask=field_mask_pb2.FieldMask(paths=["summary"])
            ),
            metadata=client.metadata,
        )
        assert patched.summary == "After"
        assert patched.description == "Keep me"
        assert patched.priority == ticket_pb2.LOW

    async def test_patch_status(self, client: Client, project: str) -> None:
        created = await self.create(client, project, summary="Status change")
        patched = await client.ticketing.PatchTicket(
            Req.PatchTicketRequest(
                ticket=ticket_pb2.Ticket(id=created.id, status=self.next_status),
                update_mask=field_mask_pb2.FieldMask(paths=["status"]),
            ),
            metadata=client.metadata,
        )
        assert patched.status == self.next_status

    def batch_filters(self, marker: str, made: list[ticket_pb2.Ticket]) -> list[str]:
        """Filters that select exactly the tickets of one batch."""
        return [f"summary[like]{marker}"]

    async def test_query_filters_pages_and_resumes(self, client: Client, project: str) -> None:
        marker = uuid.uuid4().hex[:8]
        made = [await self.create(client, project, summary=f"Batch {marker} {i}") for i in range(5)]
        await self.create(client, project, summary="Unrelated")
        filters = self.batch_filters(marker, made)
        found = await self.query(client, *filters, f"project={project}")
        assert sorted(i.ticket.id for i in found) == sorted(t.id for t in made)
        first = await self.query(client, *filters, limit=2, page_size_hint=2)
        assert len(first) == 2
        rest = await self.query(client, *filters, resume_token=first[-1].resume_token)
        seen = [i.ticket.id for i in first + rest]
        assert sorted(seen) == sorted(t.id for t in made), "resume lost or repeated tickets"

    async def test_unknown_ticket_is_not_found(self, client: Client) -> None:
        error = await _error(
            client.ticketing.GetTicket(
                Req.GetTicketRequest(ticket_id=self.unknown_ticket_id), metadata=client.metadata
            )
        )
        assert error.code() == grpc.StatusCode.NOT_FOUND

    async def test_bad_filter_is_invalid_argument(self, client: Client) -> None:
        error = await _error(self.query(client, "no_such_field[eq]1"))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "no_such_field" in (error.details() or "")

    async def test_comments_when_supported(self, client: Client, project: str) -> None:
        operators = await self.operators(client)
        ticket = await self.create(client, project, summary="Comments")
        request = Req.CreateCommentRequest(
            comment=ticket_pb2.Comment(ticket_id=ticket.id, content="First comment")
        )
        if "create_comment" not in operators:
            error = await _error(client.ticketing.CreateComment(request, metadata=client.metadata))
            assert error.code() == grpc.StatusCode.UNIMPLEMENTED
            return
        comment = await client.ticketing.CreateComment(request, metadata=client.metadata)
        assert comment.id and comment.content == "First comment"
        listed = [
            i.comment
            async for i in client.ticketing.ListComments(
                Req.ListCommentsRequest(ticket_id=ticket.id), metadata=client.metadata
            )
        ]
        assert [c.id for c in listed] == [comment.id]
        assert listed[0].content == "First comment"
        if "delete_comment" in operators:
            await client.ticketing.DeleteComment(
                Req.DeleteCommentRequest(ticket_id=ticket.id, comment_id=comment.id),
                metadata=client.metadata,
            )
            after = client.ticketing.ListComments(
                Req.ListCommentsRequest(ticket_id=ticket.id), metadata=client.metadata
            )
            assert [i async for i in after] == []

    async def test_projects_when_supported(self, client: Client, project: str) -> None:
        operators = await self.operators(client)
        stream = client.ticketing.ListProjects(Req.ListProjectsRequest(), metadata=client.metadata)
        if "list_projects" not in operators:
            error = await _error(stream.read())
            assert error.code() == grpc.StatusCode.UNIMPLEMENTED
            return
        await self.create(client, project, summary="Makes the project exist")
        assert project in [i.project.id async for i in stream]
