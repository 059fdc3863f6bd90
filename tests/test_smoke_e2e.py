from __future__ import annotations

from ticketing.v1 import ticket_pb2, ticketing_pb2

from .conftest import Client


async def test_create_then_get_ticket(mock_client: Client) -> None:
    created = await mock_client.ticketing.CreateTicket(
        ticketing_pb2.CreateTicketRequest(
            ticket=ticket_pb2.Ticket(summary="Disk full", priority=ticket_pb2.HIGH)
        ),
        metadata=mock_client.metadata,
    )
    assert created.id.startswith("OPS-")
    got = await mock_client.ticketing.GetTicket(
        ticketing_pb2.GetTicketRequest(ticket_id=created.id), metadata=mock_client.metadata
    )
    assert got.summary == "Disk full"
    assert got.priority == ticket_pb2.HIGH
