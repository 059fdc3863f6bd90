"""Zendesk through the gRPC API (real server, generated stubs) against the fake account."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from ticketing.v1 import integrations_pb2, ticket_pb2, ticketing_pb2

from ticketing_grpc.providers.mock import MockProvider
from ticketing_grpc.providers.registry import build_registry
from ticketing_grpc.providers.zendesk import ZendeskProvider
from ticketing_grpc.server import Server, start

from .conformance import TicketingConformance
from .conftest import ADMIN_TOKEN, SHARED, Client, create_integration, rpc_error, settings_for
from .fakes.spec import OpenAPISpec
from .fakes.zendesk import FakeZendesk, load_zendesk_spec

Req = ticketing_pb2
ZENDESK_SPEC = SHARED / "specs" / "zendesk" / "support-api.yaml"


@pytest.fixture(scope="session")
def zendesk_spec() -> OpenAPISpec | None:
    spec = load_zendesk_spec(ZENDESK_SPEC)
    if spec is None:
        message = f"Zendesk OpenAPI description not found at {ZENDESK_SPEC}: no validation"
        warnings.warn(message, stacklevel=1)
    return spec


@pytest.fixture
async def zd(zendesk_spec: OpenAPISpec | None) -> AsyncIterator[FakeZendesk]:
    """A fake Zendesk account; the test fails if any request or response drifted."""
    async with FakeZendesk(spec=zendesk_spec) as fake:
        yield fake
    fake.assert_no_violations()


@pytest.fixture
async def zserver(tmp_path: Path) -> AsyncIterator[Server]:
    """The server with the Zendesk plugin registered (until its entry point exists)."""
    registry = build_registry([MockProvider, ZendeskProvider])
    running = await start(settings_for(tmp_path / "data"), registry=registry)
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def zadmin(zserver: Server) -> AsyncIterator[Client]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{zserver.grpc_port}") as channel:
        yield Client(channel, ADMIN_TOKEN)


def zd_integration(
    fake: FakeZendesk,
    *,
    username: str = "alice@example.com/token",
    secret: str = "zd-api-token",
    bearer: str = "",
    mappings: tuple[tuple[str, str, str], ...] | None = None,
) -> integrations_pb2.Integration:
    if bearer:
        credential = integrations_pb2.Credential(
            token=integrations_pb2.TokenCredential(secret=bearer)
        )
    else:
        credential = integrations_pb2.Credential(
            basic=integrations_pb2.BasicCredential(username=username, secret=secret)
        )
    if mappings is None:
        mappings = (
            ("*", "effort", str(fake.field("effort").id)),
            ("*", "vip", str(fake.field("vip").id)),
            ("*", "labels", str(fake.field("labels").id)),
            (str(fake.group("Billing").id), "team", str(fake.field("team").id)),
        )
    return integrations_pb2.Integration(
        name="zendesk",
        zendesk=integrations_pb2.ZendeskConfig(url=fake.url, credential=credential),
        custom_field_mappings=[
            integrations_pb2.CustomFieldMapping(project_id=p, name=n, provider_field_path=f)
            for p, n, f in mappings
        ],
    )


@pytest.fixture
async def zclient(zadmin: Client, zd: FakeZendesk) -> Client:
    _, client = await create_integration(zadmin, zd_integration(zd))
    return client


class TestZendeskConformance(TicketingConformance):
    provider_id = "ticketing_zendesk"
    next_status = "pending"
    unknown_ticket_id = "99999999"

    @pytest.fixture
    async def client(self, zclient: Client) -> Client:
        return zclient

    @pytest.fixture
    def project(self, zd: FakeZendesk) -> str:
        return str(zd.group("Support").id)

    def batch_filters(self, marker: str, made: list[ticket_pb2.Ticket]) -> list[str]:
        # Zendesk's search matches words, not substrings: summary[like] is refused.
        return [f"id[in]{','.join(t.id for t in made)}"]


async def create(client: Client, **fields: Any) -> ticket_pb2.Ticket:
    custom = fields.pop("custom_fields", None)
    ticket = ticket_pb2.Ticket(**fields)
    if custom:
        ticket.custom_fields.update(custom)
    return await client.ticketing.CreateTicket(
        Req.CreateTicketRequest(ticket=ticket), metadata=client.metadata
    )


async def patch(client: Client, ticket: ticket_pb2.Ticket, *paths: str) -> ticket_pb2.Ticket:
    return await client.ticketing.PatchTicket(
        Req.PatchTicketRequest(ticket=ticket, update_mask=field_mask_pb2.FieldMask(paths=paths)),
        metadata=client.metadata,
    )


async def get(client: Client, ticket_id: str) -> ticket_pb2.Ticket:
    return await client.ticketing.GetTicket(
        Req.GetTicketRequest(ticket_id=ticket_id), metadata=client.metadata
    )


async def query(client: Client, *filters: str, **kw: Any) -> list[ticket_pb2.Ticket]:
    stream = client.ticketing.QueryTickets(
        Req.QueryTicketsRequest(filter=filters, **kw), metadata=client.metadata
    )
    return [item.ticket async for item in stream]


# -- mapping -----------------------------------------------------------------------------


async def test_priority_status_and_type_mapping(zclient: Client, zd: FakeZendesk) -> None:
    support = str(zd.group("Support").id)
    written = {
        ticket_pb2.CRITICAL: ("urgent", ticket_pb2.URGENT),
        ticket_pb2.MODERATE: ("normal", ticket_pb2.MEDIUM),
        ticket_pb2.PLANNING: ("low", ticket_pb2.LOW),
        ticket_pb2.HIGH: ("high", ticket_pb2.HIGH),
    }
    for priority, (stored, read) in written.items():
        made = await create(zclient, summary="p", priority=priority, project=support)
        assert zd.ticket(made.id).priority == stored
        assert made.priority == read
    incident = await create(
        zclient, summary="Down", description="All of it", issue_type="Incident", status="Pending"
    )
    stored_ticket = zd.ticket(incident.id)
    assert (stored_ticket.type, stored_ticket.status) == ("incident", "pending")
    assert (incident.issue_type, incident.status) == ("incident", "pending")
    assert incident.description == "All of it" and stored_ticket.comments[0].body == "All of it"
    assert incident.url == f"{zd.url}/agent/tickets/{incident.id}"
    assert incident.creator == incident.contact == str(zd.user("alice@example.com").id)
    assert incident.unmapped["via"]["channel"] == "api"
    (post,) = zd.calls("POST", "/api/v2/tickets")[-1:]
    assert post.json["ticket"]["comment"] == {"body": "All of it", "public": True}
    bad = await rpc_error(create(zclient, summary="x", status="escalated"))
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT and "escalated" in (bad.details() or "")


async def test_patch_sends_only_changes_and_refuses_what_zendesk_cannot_do(
    zclient: Client, zd: FakeZendesk
) -> None:
    bob = str(zd.user("bob@example.com").id)
    made = await create(zclient, summary="Before", description="Keep", priority=ticket_pb2.LOW)
    puts = len(zd.calls("PUT"))
    same = await patch(zclient, made, "*")
    assert same.summary == "Before" and len(zd.calls("PUT")) == puts, "nothing changed"
    moved = await patch(
        zclient, ticket_pb2.Ticket(id=made.id, assignee=bob, tags=["Ops", "db"]), "assignee", "tags"
    )
    assert moved.assignee == bob and moved.project == str(zd.group("Support").id)
    assert moved.status == "open" and list(moved.tags) == ["ops", "db"]
    assert zd.calls("PUT")[-1].json == {"ticket": {"assignee_id": int(bob), "tags": ["Ops", "db"]}}
    unassigned = await patch(zclient, ticket_pb2.Ticket(id=made.id), "assignee")
    assert unassigned.assignee == "" and zd.ticket(made.id).assignee_id is None
    for change, path, word in (
        (ticket_pb2.Ticket(id=made.id, description="New"), "description", "description"),
        (ticket_pb2.Ticket(id=made.id), "priority", "priority"),
        (
            ticket_pb2.Ticket(id=made.id, due_date=timestamp_pb2.Timestamp(seconds=1_800_000_000)),
            "due_date",
            "task",
        ),
        (ticket_pb2.Ticket(id=made.id, tags=["two words"]), "tags", "tag"),
        (ticket_pb2.Ticket(id=made.id, assignee="bob"), "assignee", "Zendesk id"),
    ):
        error = await rpc_error(patch(zclient, change, path))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, path
        assert word in (error.details() or ""), error.details()
    task = await patch(
        zclient,
        ticket_pb2.Ticket(
            id=made.id, issue_type="task", due_date=timestamp_pb2.Timestamp(seconds=1_800_000_000)
        ),
        "issue_type",
        "due_date",
    )
    assert task.issue_type == "task" and task.due_date.seconds == 1_800_000_000
    problem = await create(zclient, summary="Root cause", issue_type="problem")
    linked = await create(zclient, summary="Symptom", issue_type="incident", parent=problem.id)
    assert linked.parent == problem.id and zd.ticket(linked.id).problem_id == int(problem.id)


async def test_custom_fields_by_field_id(zclient: Client, zd: FakeZendesk) -> None:
    billing = str(zd.group("Billing").id)
    made = await create(
        zclient,
        summary="Custom",
        project=billing,
        custom_fields={"effort": 5, "vip": True, "labels": ["red", "green"], "team": "payments"},
    )
    stored = zd.ticket(made.id).custom
    assert stored[zd.field("effort").id] == "5" and stored[zd.field("vip").id] is True
    assert dict(made.custom_fields) == {
        "effort": 5.0,
        "vip": True,
        "labels": ["red", "green"],
        "team": "payments",
    }
    again = await get(zclient, made.id)
    assert dict(again.custom_fields) == dict(made.custom_fields)
    notes = zd.field("notes").id
    zd.ticket(made.id).custom[notes] = "kept aside"
    patched = await patch(
        zclient,
        ticket_pb2.Ticket(id=made.id, custom_fields={"effort": 8}),
        "custom_fields.effort",
    )
    assert patched.custom_fields["effort"] == 8.0 and patched.custom_fields["team"] == "payments"
    assert {"id": notes, "value": "kept aside"} in [
        dict(v) for v in patched.unmapped["custom_fields"]
    ]
    cleared = await patch(
        zclient, ticket_pb2.Ticket(id=made.id, custom_fields={"effort": 8}), "custom_fields"
    )
    assert dict(cleared.custom_fields) == {"effort": 8.0}, "the whole map replaced"
    found = await query(zclient, "custom_fields.effort=8", f"project={billing}")
    assert [t.id for t in found] == [made.id]
    assert "custom_field_" in zd.calls("GET", "/api/v2/search/export")[-1].query["query"]
    for fields, word in (
        ({"team": "payments"}, "not mapped"),  # team is mapped for Billing only
        ({"effort": 1.5}, "whole number"),
        ({"nope": 1}, "not mapped"),
    ):
        error = await rpc_error(create(zclient, summary="x", custom_fields=fields))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert word in (error.details() or ""), error.details()
    fields_reads = len(zd.calls("GET", "/api/v2/ticket_fields"))
    assert 1 <= fields_reads <= 2, "the ticket fields are cached"


async def test_unknown_field_id_is_refused(zadmin: Client, zd: FakeZendesk) -> None:
    _, client = await create_integration(
        zadmin, zd_integration(zd, mappings=(("*", "ghost", "424242"), ("*", "bad", "effort")))
    )
    ghost = await rpc_error(create(client, summary="x", custom_fields={"ghost": "boo"}))
    assert ghost.code() == grpc.StatusCode.INVALID_ARGUMENT and "424242" in (ghost.details() or "")
    bad = await rpc_error(create(client, summary="x", custom_fields={"bad": "boo"}))
    assert "field id" in (bad.details() or "")
    assert zd.calls("POST", "/api/v2/tickets") == []


# -- auth --------------------------------------------------------------------------------


async def test_credentials(zadmin: Client, zd: FakeZendesk) -> None:
    _, plain_email = await create_integration(
        zadmin, zd_integration(zd, username="bob@example.com")
    )
    made = await create(plain_email, summary="As bob")
    assert made.creator == str(zd.user("bob@example.com").id), "/token was appended"
    _, oauth = await create_integration(zadmin, zd_integration(zd, bearer="zd-oauth-token"))
    assert (await get(oauth, made.id)).id == made.id
    assert zd.requests[-1].headers["Authorization"] == "Bearer zd-oauth-token"
    _, wrong = await create_integration(zadmin, zd_integration(zd, secret="wrong-token"))
    error = await rpc_error(get(wrong, made.id))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "Couldn't authenticate you" in (error.details() or "")
    assert "wrong-token" not in (error.details() or "")


# -- queries -----------------------------------------------------------------------------


async def test_search_paging_and_order(zclient: Client, zd: FakeZendesk) -> None:
    billing = str(zd.group("Billing").id)
    made = []
    for i in range(7):
        made.append(await create(zclient, summary=f"Paged {i}", project=billing, tags=["paged"]))
        zd.advance(1)
    ordered = await query(
        zclient, f"project={billing}", order=["created_at[desc]"], page_size_hint=3
    )
    assert [t.id for t in ordered] == [t.id for t in made][::-1]
    searches = zd.calls("GET", "/api/v2/search")
    assert [(r.query["page"], r.query["per_page"]) for r in searches] == [
        ("1", "3"),
        ("2", "3"),
        ("3", "3"),
    ]
    assert searches[0].query["query"] == f"type:ticket group_id:{billing}"
    assert (searches[0].query["sort_by"], searches[0].query["sort_order"]) == (
        "created_at",
        "desc",
    )
    exported = await query(zclient, "tags=paged", "status[neq]solved", page_size_hint=2)
    assert sorted(t.id for t in exported) == sorted(t.id for t in made)
    exports = zd.calls("GET", "/api/v2/search/export")
    assert len(exports) == 4 and exports[0].query["query"] == "tags:paged -status:solved"
    assert exports[1].query["page[after]"]
    listed = await query(zclient, page_size_hint=5)
    assert len(listed) == 7 and len(zd.calls("GET", "/api/v2/tickets")) == 2
    stream = zclient.ticketing.QueryTickets(
        Req.QueryTicketsRequest(filter=["tags=paged"], page_size_hint=2, limit=3),
        metadata=zclient.metadata,
    )
    first = [item async for item in stream]
    rest = await query(zclient, "tags=paged", resume_token=first[-1].resume_token)
    seen = [i.ticket.id for i in first] + [t.id for t in rest]
    assert sorted(seen) == sorted(t.id for t in made), "resume lost or repeated tickets"


async def test_neq_matches_a_missing_value(zclient: Client, zd: FakeZendesk) -> None:
    bob = str(zd.user("bob@example.com").id)
    mine = await create(zclient, summary="neq bob", assignee=bob, tags=["neq"])
    free = await create(zclient, summary="neq nobody", tags=["neq"])
    other = await query(zclient, "tags=neq", f"assignee[neq]{bob}")
    assert [t.id for t in other] == [free.id]
    exact = await query(zclient, "summary=neq bob")
    assert [t.id for t in exact] == [mine.id], "Zendesk's phrase match is narrowed to equality"
    none = await query(zclient, "tags=neq", "priority=CRITICAL")
    assert none == []


async def test_search_limit_of_1000_results(zclient: Client, zd: FakeZendesk) -> None:
    for i in range(1001):
        zd.seed_ticket(f"bulk {i}", tags=["bulk"])
    stream = zclient.ticketing.QueryTickets(
        Req.QueryTicketsRequest(filter=["tags=bulk"], order=["created_at"]),
        metadata=zclient.metadata,
    )
    seen = 0
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in stream:
            seen += 1
    assert seen == 1000
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "1000" in (info.value.details() or "")
    unordered = await query(zclient, "tags=bulk")
    assert len(unordered) == 1001, "the export endpoint has no such limit"


async def test_filters_zendesk_cannot_express_are_refused(zclient: Client, zd: FakeZendesk) -> None:
    for filters, order, word in (
        (["summary[like]print"], [], "summary"),
        (["priority[gt]LOW"], [], "priority"),
        (["description=x"], [], "description"),
        (["status=open"], ["priority"], "priority"),
        (["assignee=bob"], [], "Zendesk id"),
        (["issue_type=bug"], [], "bug"),
    ):
        error = await rpc_error(query(zclient, *filters, order=order))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, filters
        assert word in (error.details() or ""), error.details()
    assert zd.calls("GET", "/api/v2/search") == zd.calls("GET", "/api/v2/tickets") == []


# -- errors ------------------------------------------------------------------------------


async def test_not_found_rate_limits_then_success(zclient: Client, zd: FakeZendesk) -> None:
    made = await create(zclient, summary="faults")
    missing = await rpc_error(get(zclient, "424242"))
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    assert "RecordNotFound" in (missing.details() or "")
    requests = len(zd.requests)
    odd = await rpc_error(get(zclient, "NOPE-1"))
    assert odd.code() == grpc.StatusCode.NOT_FOUND and len(zd.requests) == requests
    zd.fail_next(429, retry_after=0, path=f"/api/v2/tickets/{made.id}")
    assert (await get(zclient, made.id)).id == made.id
    gets = zd.calls("GET", f"/api/v2/tickets/{made.id}")
    assert [r.status for r in gets] == [429, 200]
    zd.fail_next(429, retry_after=120, path=f"/api/v2/tickets/{made.id}")
    limited = await rpc_error(get(zclient, made.id))
    assert limited.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(limited)
    assert status is not None
    retry = [d for d in status.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR)]
    assert retry, "RetryInfo carries Zendesk's Retry-After"
    zd.fail_next(503, times=1, path="/api/v2/search/export")
    assert len(await query(zclient, "summary=faults")) == 1
    invalid = await rpc_error(
        create(zclient, summary="x", assignee=str(zd.user("carol@example.com").id))
    )
    assert invalid.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "RecordInvalid" in (invalid.details() or "")
