"""PagerDuty through the gRPC API against the fake PagerDuty account."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from ticketing.v1 import integrations_pb2, ticket_pb2, ticketing_pb2

from .conformance import TicketingConformance
from .conftest import Client, create_integration, rpc_error
from .fakes.pagerduty import FakePagerDuty

Req = ticketing_pb2


def pd_integration(
    fake: FakePagerDuty, *, key: str = "pd-account-key", creator: str = "alice@example.com"
) -> integrations_pb2.Integration:
    return integrations_pb2.Integration(
        name="pd",
        pagerduty=integrations_pb2.PagerDutyConfig(
            url=fake.url,
            credential=integrations_pb2.Credential(
                token=integrations_pb2.TokenCredential(secret=key)
            ),
            default_project=fake.service("Checkout API").id,
            default_creator=creator,
        ),
    )


@pytest.fixture
async def pd_client(admin: Client, pagerduty: FakePagerDuty) -> Client:
    _, client = await create_integration(admin, pd_integration(pagerduty))
    return client


class TestPagerDutyConformance(TicketingConformance):
    provider_id = "ticketing_pagerduty"
    next_status = "acknowledged"
    unknown_ticket_id = "Q0000000000000"

    @pytest.fixture
    async def client(self, pd_client: Client) -> Client:
        return pd_client

    @pytest.fixture
    def project(self, pagerduty: FakePagerDuty) -> str:
        return pagerduty.service("Payments").id

    def batch_filters(self, marker: str, made: list[ticket_pb2.Ticket]) -> list[str]:
        return [f"id[in]{','.join(t.id for t in made)}"]


async def create(client: Client, **fields: Any) -> ticket_pb2.Ticket:
    return await client.ticketing.CreateTicket(
        Req.CreateTicketRequest(ticket=ticket_pb2.Ticket(**fields)), metadata=client.metadata
    )


async def test_incident_create_sends_from_and_maps_priority(
    pd_client: Client, pagerduty: FakePagerDuty
) -> None:
    created = await create(pd_client, summary="Checkout 500s", priority=ticket_pb2.HIGH)
    (post,) = pagerduty.calls("POST", "/incidents")
    assert post.headers["From"] == "alice@example.com"
    assert post.headers["Authorization"] == "Token token=pd-account-key"
    stored = pagerduty.incident(created.id)
    assert stored.priority == pagerduty.priority("P2").id
    assert created.priority == ticket_pb2.HIGH
    assert created.status == "triggered"
    assert created.project == pagerduty.service("Checkout API").id
    assert created.url.startswith("http")


async def test_missing_from_is_refused_before_calling_pagerduty(
    admin: Client, pagerduty: FakePagerDuty
) -> None:
    _, client = await create_integration(admin, pd_integration(pagerduty, creator=""))
    error = await rpc_error(create(client, summary="no from"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "default_creator" in (error.details() or "")
    assert pagerduty.calls("POST", "/incidents") == []


async def test_query_pages_with_offsets_and_filters_by_status(
    pd_client: Client, pagerduty: FakePagerDuty
) -> None:
    service = pagerduty.service("Payments").id
    made = [await create(pd_client, summary=f"p{i}", project=service) for i in range(7)]
    await pd_client.ticketing.PatchTicket(
        Req.PatchTicketRequest(
            ticket=ticket_pb2.Ticket(id=made[0].id, status="resolved"),
            update_mask=field_mask_pb2.FieldMask(paths=["status"]),
        ),
        metadata=pd_client.metadata,
    )
    stream = pd_client.ticketing.QueryTickets(
        Req.QueryTicketsRequest(
            filter=[f"project={service}", "status[in]triggered,acknowledged"],
            order=["created_at[asc]"],
            page_size_hint=3,
        ),
        metadata=pd_client.metadata,
    )
    got = [item.ticket.id async for item in stream]
    assert got == [t.id for t in made[1:]]
    lists = pagerduty.calls("GET", "/incidents")
    assert len([r for r in lists if r.path == "/incidents"]) == 2, "6 results, 3 per page"


async def test_filters_pagerduty_cannot_express_are_refused(pd_client: Client) -> None:
    error = await rpc_error(
        pd_client.ticketing.QueryTickets(
            Req.QueryTicketsRequest(filter=["summary[like]x"]), metadata=pd_client.metadata
        ).read()
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "summary" in (error.details() or "")


async def test_notes_are_comments(pd_client: Client, pagerduty: FakePagerDuty) -> None:
    ticket = await create(pd_client, summary="with notes")
    made = await pd_client.ticketing.CreateComment(
        Req.CreateCommentRequest(comment=ticket_pb2.Comment(ticket_id=ticket.id, content="ack'd")),
        metadata=pd_client.metadata,
    )
    listed = [
        i.comment
        async for i in pd_client.ticketing.ListComments(
            Req.ListCommentsRequest(ticket_id=ticket.id), metadata=pd_client.metadata
        )
    ]
    assert [c.content for c in listed] == ["ack'd"] and listed[0].id == made.id
    error = await rpc_error(
        pd_client.ticketing.DeleteComment(
            Req.DeleteCommentRequest(ticket_id=ticket.id, comment_id=made.id),
            metadata=pd_client.metadata,
        )
    )
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_escalation_policies(pd_client: Client, pagerduty: FakePagerDuty) -> None:
    stream = pd_client.ticketing.QueryEscalationPolicies(
        Req.QueryEscalationPoliciesRequest(filter=["name[like]platform"], order=["name[asc]"]),
        metadata=pd_client.metadata,
    )
    (policy,) = [i.escalation_policy async for i in stream]
    assert policy.name == "Platform Escalation"
    first, second = policy.rules
    assert first.actors[0].WhichOneof("actor") == "schedule_summary"
    assert first.actors[0].schedule_summary.name == "Platform Primary"
    assert second.actors[0].WhichOneof("actor") == "agent_summary"
    assert first.delay_seconds % 60 == 0 and first.delay_seconds > 0


async def test_on_call(pd_client: Client, pagerduty: FakePagerDuty) -> None:
    policy = pagerduty.policy("Platform Escalation").id
    stream = pd_client.ticketing.ListOnCall(
        Req.ListOnCallRequest(filter=[f"escalation_policy_id={policy}"]),
        metadata=pd_client.metadata,
    )
    shifts = [i.on_call async for i in stream]
    levels = {s.escalation_level for s in shifts}
    assert levels == {1, 2}
    permanent = next(s for s in shifts if s.escalation_level == 2)
    assert permanent.agent.email_addr == "alice@example.com"
    assert not permanent.HasField("start_time") and not permanent.HasField("schedule")
    scheduled = next(s for s in shifts if s.escalation_level == 1)
    assert scheduled.schedule.name == "Platform Primary"
    assert scheduled.agent.full_name and scheduled.HasField("start_time")


async def test_rate_limit_then_success_and_errors(
    pd_client: Client, pagerduty: FakePagerDuty
) -> None:
    ticket = await create(pd_client, summary="faults")
    get = Req.GetTicketRequest(ticket_id=ticket.id)
    pagerduty.fail_next(429)
    assert (await pd_client.ticketing.GetTicket(get, metadata=pd_client.metadata)).id == ticket.id
    missing = await rpc_error(
        pd_client.ticketing.GetTicket(
            Req.GetTicketRequest(ticket_id="Q9999999999999"), metadata=pd_client.metadata
        )
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND
