"""Autotask through the gRPC API against the fake Autotask zone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from ticketing.v1 import integrations_pb2, ticket_pb2, ticketing_pb2

from .conformance import TicketingConformance
from .conftest import Client, create_integration, rpc_error
from .fakes.autotask import FakeAutotask

Req = ticketing_pb2
DUE = {"seconds": 1_900_000_000}


@pytest.fixture
async def autotask() -> AsyncIterator[FakeAutotask]:
    async with FakeAutotask() as fake:
        yield fake
    fake.assert_no_violations()


def at_integration(fake: FakeAutotask, secret: str = "fake-secret") -> integrations_pb2.Integration:
    return integrations_pb2.Integration(
        name="autotask",
        autotask=integrations_pb2.AutotaskConfig(
            url=fake.url,
            credential=integrations_pb2.Credential(
                autotask=integrations_pb2.AutotaskCredential(
                    api_integration_code="FAKEINTEGRATIONCODE",
                    username="api-user@fakemsp.example",
                    secret=secret,
                )
            ),
            default_project="174",
        ),
    )


@pytest.fixture
async def at_client(admin: Client, autotask: FakeAutotask) -> Client:
    _, client = await create_integration(admin, at_integration(autotask))
    return client


class TestAutotaskConformance(TicketingConformance):
    provider_id = "ticketing_autotask"
    next_status = "In Progress"

    @pytest.fixture
    async def client(self, at_client: Client) -> Client:
        return at_client

    @pytest.fixture
    def project(self) -> str:
        return "175"

    async def create(self, client: Client, project: str, **fields: Any) -> ticket_pb2.Ticket:
        """Autotask requires a due date on every ticket."""
        return await super().create(client, project, due_date=DUE, **fields)

    def batch_filters(self, marker: str, made: list[ticket_pb2.Ticket]) -> list[str]:
        return [f"summary[like]{marker}"]


async def create(client: Client, **fields: Any) -> ticket_pb2.Ticket:
    fields.setdefault("due_date", DUE)
    return await client.ticketing.CreateTicket(
        Req.CreateTicketRequest(ticket=ticket_pb2.Ticket(**fields)), metadata=client.metadata
    )


async def test_create_writes_picklist_values(at_client: Client, autotask: FakeAutotask) -> None:
    created = await create(at_client, summary="Server down", priority=ticket_pb2.CRITICAL)
    stored = autotask.ticket(int(created.id))
    assert stored["priority"] == 4 and stored["companyID"] == 174
    assert created.priority == ticket_pb2.CRITICAL
    assert created.status == "New"
    assert created.project == "174"


async def test_status_labels_and_unknown_label(at_client: Client, autotask: FakeAutotask) -> None:
    created = await create(at_client, summary="Label")
    patched = await at_client.ticketing.PatchTicket(
        Req.PatchTicketRequest(
            ticket=ticket_pb2.Ticket(id=created.id, status="Complete"),
            update_mask=field_mask_pb2.FieldMask(paths=["status"]),
        ),
        metadata=at_client.metadata,
    )
    assert patched.status == "Complete" and autotask.ticket(int(created.id))["status"] == 5
    assert patched.completion_date.seconds > 0
    error = await rpc_error(
        at_client.ticketing.PatchTicket(
            Req.PatchTicketRequest(
                ticket=ticket_pb2.Ticket(id=created.id, status="Sleeping"),
                update_mask=field_mask_pb2.FieldMask(paths=["status"]),
            ),
            metadata=at_client.metadata,
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "In Progress" in (error.details() or "")


async def test_query_pages_by_id_and_neq_matches_missing(
    at_client: Client, autotask: FakeAutotask
) -> None:
    made = [await create(at_client, summary=f"batch {i}") for i in range(6)]
    stream = at_client.ticketing.QueryTickets(
        Req.QueryTicketsRequest(filter=["summary[like]batch"], page_size_hint=4),
        metadata=at_client.metadata,
    )
    assert [i.ticket.id async for i in stream] == [t.id for t in made]
    assert len(autotask.calls("POST", "/Tickets/query")) >= 2
    no_assignee = at_client.ticketing.QueryTickets(
        Req.QueryTicketsRequest(filter=["summary[like]batch", "assignee[neq]29683794"]),
        metadata=at_client.metadata,
    )
    assert len([i async for i in no_assignee]) == 6, "tickets with no assignee match neq"


async def test_wrong_secret_is_unauthenticated_and_scrubbed(
    admin: Client, autotask: FakeAutotask
) -> None:
    _, client = await create_integration(admin, at_integration(autotask, secret="bad-secret-9"))
    error = await rpc_error(
        client.ticketing.GetTicket(Req.GetTicketRequest(ticket_id="1001"), metadata=client.metadata)
    )
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "bad-secret-9" not in (error.details() or "")
