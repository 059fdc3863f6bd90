"""Freshdesk through the gRPC API against the fake Freshdesk account."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from ticketing.v1 import integrations_pb2, ticket_pb2, ticketing_pb2

from .conformance import TicketingConformance
from .conftest import Client, create_integration, rpc_error
from .fakes.freshdesk import FakeFreshdesk

Req = ticketing_pb2


@pytest.fixture
async def freshdesk() -> AsyncIterator[FakeFreshdesk]:
    async with FakeFreshdesk() as fake:
        yield fake
    fake.assert_no_violations()


def fd_integration(fake: FakeFreshdesk, key: str = "fd-alice-key") -> integrations_pb2.Integration:
    integration = integrations_pb2.Integration(
        name="fd",
        freshdesk=integrations_pb2.FreshdeskConfig(
            url=fake.url,
            credential=integrations_pb2.Credential(
                basic=integrations_pb2.BasicCredential(username=key, secret="X")
            ),
            default_contact="rachel@acme.example",
        ),
    )
    integration.custom_field_mappings.add(
        project_id="*", name="impact", provider_field_path="cf_impact_score"
    )
    return integration


@pytest.fixture
async def fd_client(admin: Client, freshdesk: FakeFreshdesk) -> Client:
    _, client = await create_integration(admin, fd_integration(freshdesk))
    return client


class TestFreshdeskConformance(TicketingConformance):
    provider_id = "ticketing_freshdesk"
    next_status = "Pending"

    @pytest.fixture
    async def client(self, fd_client: Client) -> Client:
        return fd_client

    @pytest.fixture
    def project(self, freshdesk: FakeFreshdesk) -> str:
        return str(freshdesk.group("Support").id)

    def batch_filters(self, marker: str, made: list[ticket_pb2.Ticket]) -> list[str]:
        return [f"id[in]{','.join(t.id for t in made)}"]


async def create(client: Client, **fields: Any) -> ticket_pb2.Ticket:
    custom = fields.pop("custom_fields", None)
    ticket = ticket_pb2.Ticket(**fields)
    if custom:
        ticket.custom_fields.update(custom)
    return await client.ticketing.CreateTicket(
        Req.CreateTicketRequest(ticket=ticket), metadata=client.metadata
    )


async def test_create_maps_priority_status_and_custom_fields(
    fd_client: Client, freshdesk: FakeFreshdesk
) -> None:
    created = await create(
        fd_client,
        summary="Laptop broken",
        description="Screen <cracked> & dark",
        priority=ticket_pb2.URGENT,
        tags=["hardware"],
        custom_fields={"impact": 7},
    )
    stored = freshdesk.ticket(int(created.id))
    assert stored.priority == 4
    assert stored.custom_fields["cf_impact_score"] == 7
    assert "&lt;cracked&gt;" in stored.description, "text is HTML-escaped"
    assert created.description == "Screen <cracked> & dark"
    assert created.priority == ticket_pb2.URGENT
    assert created.status == "Open"
    assert dict(created.custom_fields) == {"impact": 7.0}
    assert created.url.endswith(f"/a/tickets/{created.id}")


async def test_filter_query_and_refusals(fd_client: Client, freshdesk: FakeFreshdesk) -> None:
    urgent = await create(fd_client, summary="u", priority=ticket_pb2.URGENT)
    await create(fd_client, summary="l", priority=ticket_pb2.LOW)
    stream = fd_client.ticketing.QueryTickets(
        Req.QueryTicketsRequest(filter=["priority=URGENT", "status=Open"]),
        metadata=fd_client.metadata,
    )
    assert [i.ticket.id async for i in stream] == [urgent.id]
    (search,) = freshdesk.calls("GET", "/api/v2/search/tickets")
    assert search.query["query"].startswith('"') and "priority:4" in search.query["query"]
    error = await rpc_error(
        fd_client.ticketing.QueryTickets(
            Req.QueryTicketsRequest(filter=["summary[like]broken"]), metadata=fd_client.metadata
        ).read()
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "summary" in (error.details() or "")


async def test_status_patch_and_errors(fd_client: Client, freshdesk: FakeFreshdesk) -> None:
    created = await create(fd_client, summary="to resolve")
    patched = await fd_client.ticketing.PatchTicket(
        Req.PatchTicketRequest(
            ticket=ticket_pb2.Ticket(id=created.id, status="Resolved"),
            update_mask=field_mask_pb2.FieldMask(paths=["status"]),
        ),
        metadata=fd_client.metadata,
    )
    assert patched.status == "Resolved"
    assert freshdesk.ticket(int(created.id)).status == 4
    freshdesk.fail_next(429, retry_after=1)
    got = await fd_client.ticketing.GetTicket(
        Req.GetTicketRequest(ticket_id=created.id), metadata=fd_client.metadata
    )
    assert got.id == created.id
    missing = await rpc_error(
        fd_client.ticketing.GetTicket(
            Req.GetTicketRequest(ticket_id="999999"), metadata=fd_client.metadata
        )
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND


async def test_wrong_api_key_is_unauthenticated(admin: Client, freshdesk: FakeFreshdesk) -> None:
    _, client = await create_integration(admin, fd_integration(freshdesk, key="wrong-key-123"))
    error = await rpc_error(create(client, summary="x"))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "wrong-key-123" not in (error.details() or "")
