"""The Jira provider through the gRPC API against the fake Jira Cloud."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from ticketing.v1 import integrations_pb2, ticket_pb2, ticketing_pb2

from .conformance import TicketingConformance
from .conftest import Client, create_integration, rpc_error
from .fakes.jira import FakeJira

Req = ticketing_pb2


def jira_config(
    fake: FakeJira, *, email: str = "alice@example.com", token: str = "alice-token", **kw: Any
) -> integrations_pb2.Integration:
    integration = integrations_pb2.Integration(
        name="jira",
        jira=integrations_pb2.JiraConfig(
            url=fake.url,
            credential=integrations_pb2.Credential(
                basic=integrations_pb2.BasicCredential(username=email, secret=token)
            ),
            default_project="OPS",
            default_issue_type="Task",
            **kw,
        ),
        custom_field_mappings=[
            integrations_pb2.CustomFieldMapping(
                project_id="*", name="effort", provider_field_path="customfield_10010"
            ),
            integrations_pb2.CustomFieldMapping(
                project_id="SEC", name="team", provider_field_path="Team"
            ),
        ],
    )
    return integration


@pytest.fixture
async def jira_client(admin: Client, jira: FakeJira) -> Client:
    _, client = await create_integration(admin, jira_config(jira))
    return client


class TestJiraConformance(TicketingConformance):
    provider_id = "ticketing_jira"
    next_status = "In Progress"
    unknown_ticket_id = "OPS-999999"

    @pytest.fixture
    async def client(self, jira_client: Client) -> Client:
        return jira_client

    @pytest.fixture
    def project(self) -> str:
        return "OPS"


async def create(client: Client, **fields: Any) -> ticket_pb2.Ticket:
    custom = fields.pop("custom_fields", None)
    ticket = ticket_pb2.Ticket(**fields)
    if custom:
        ticket.custom_fields.update(custom)
    return await client.ticketing.CreateTicket(
        Req.CreateTicketRequest(ticket=ticket), metadata=client.metadata
    )


def error_info(error: grpc.aio.AioRpcError) -> tuple[error_details_pb2.ErrorInfo, float | None]:
    status = rpc_status.from_call(error)
    assert status is not None
    info, retry = error_details_pb2.ErrorInfo(), None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            unpacked = error_details_pb2.RetryInfo()
            detail.Unpack(unpacked)
            retry = unpacked.retry_delay.ToTimedelta().total_seconds()
    return info, retry


async def test_create_maps_every_field_to_jira(jira_client: Client, jira: FakeJira) -> None:
    created = await create(
        jira_client,
        summary="Printer on fire",
        description="It is **really** on fire.\n\n- call facilities\n- find extinguisher",
        priority=ticket_pb2.URGENT,
        tags=["hardware", "fire"],
        due_date={"seconds": 1_727_654_400},
        custom_fields={"effort": 5},
    )
    stored = jira.issue(created.id)
    assert stored.summary == "Printer on fire"
    assert stored.priority is not None and stored.priority.name == "Highest"
    assert stored.labels == ["hardware", "fire"]
    assert str(stored.duedate) == "2024-09-30"
    assert stored.custom["customfield_10010"] == 5
    assert stored.description is not None and stored.description["type"] == "doc"
    assert created.description.startswith("It is **really** on fire.")
    assert "- call facilities" in created.description
    assert created.priority == ticket_pb2.URGENT
    assert created.status == "To Do" and created.issue_type == "Task"
    assert created.url == f"{jira.url}/browse/{created.id}"
    assert dict(created.custom_fields) == {"effort": 5.0}
    assert created.unmapped["jira_id"]


async def test_custom_field_by_name_and_per_project(jira_client: Client, jira: FakeJira) -> None:
    sec = await create(
        jira_client, summary="Phish", project="SEC", custom_fields={"team": "Security"}
    )
    assert jira.issue(sec.id).custom["customfield_10011"] == "10101", "stored as the option id"
    assert dict(sec.custom_fields) == {"team": "Security"}
    error = await rpc_error(create(jira_client, summary="x", custom_fields={"team": "Security"}))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'team'" in (error.details() or "") and "'OPS'" in (error.details() or "")


async def test_patch_status_goes_through_transitions(jira_client: Client, jira: FakeJira) -> None:
    created = await create(jira_client, summary="Flow")

    async def patch(status: str) -> Any:
        return jira_client.ticketing.PatchTicket(
            Req.PatchTicketRequest(
                ticket=ticket_pb2.Ticket(id=created.id, status=status),
                update_mask=field_mask_pb2.FieldMask(paths=["status"]),
            ),
            metadata=jira_client.metadata,
        )

    error = await rpc_error(await patch("Done"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "In Progress" in (error.details() or "")
    assert (await (await patch("In Progress"))).status == "In Progress"
    assert (await (await patch("done"))).status == "Done"
    assert jira.calls("PUT", "/rest/api/3/issue") == []


async def test_labels_with_spaces_are_refused_before_jira_is_called(
    jira_client: Client, jira: FakeJira
) -> None:
    error = await rpc_error(create(jira_client, summary="x", tags=["two words"]))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert jira.calls("POST", "/rest/api/3/issue") == []


async def test_query_uses_the_current_search_endpoint(jira_client: Client, jira: FakeJira) -> None:
    for i in range(7):
        await create(jira_client, summary=f"Search me {i}", priority=ticket_pb2.HIGH)
    await create(jira_client, summary="Other", priority=ticket_pb2.LOW)
    stream = jira_client.ticketing.QueryTickets(
        Req.QueryTicketsRequest(
            filter=["summary[like]search", "priority=HIGH"],
            order=["created_at[asc]"],
            page_size_hint=3,
        ),
        metadata=jira_client.metadata,
    )
    got = [item.ticket.summary async for item in stream]
    assert got == [f"Search me {i}" for i in range(7)]
    searches = jira.calls("POST", "/rest/api/3/search/jql")
    assert len(searches) == 3, "7 results at 3 per page"
    assert searches[0].json["jql"] == (
        'summary ~ "search" AND priority = "High" ORDER BY created ASC'
    )
    assert jira.calls("GET", "/rest/api/3/search") == []


async def test_failure_paths_map_to_documented_statuses(
    jira_client: Client, jira: FakeJira
) -> None:
    created = await create(jira_client, summary="Faults")
    get = Req.GetTicketRequest(ticket_id=created.id)
    md = jira_client.metadata

    jira.fail_next(429, retry_after=1, times=1)
    assert (await jira_client.ticketing.GetTicket(get, metadata=md)).id == created.id

    jira.fail_next(429, retry_after=120, times=1)
    error = await rpc_error(jira_client.ticketing.GetTicket(get, metadata=md))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    info, retry = error_info(error)
    assert info.metadata["provider"] == "ticketing_jira" and info.metadata["http_status"] == "429"
    assert retry == 120

    for status, code in (
        (500, grpc.StatusCode.UNAVAILABLE),
        (403, grpc.StatusCode.PERMISSION_DENIED),
        (401, grpc.StatusCode.UNAUTHENTICATED),
    ):
        jira.fail_next(status, times=4)
        error = await rpc_error(jira_client.ticketing.GetTicket(get, metadata=md))
        assert error.code() == code, status
        jira.clear_faults()

    jira.fail_next(malformed=True)
    error = await rpc_error(jira_client.ticketing.GetTicket(get, metadata=md))
    assert error.code() == grpc.StatusCode.UNAVAILABLE

    missing = await rpc_error(
        jira_client.ticketing.GetTicket(Req.GetTicketRequest(ticket_id="OPS-4040"), metadata=md)
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    assert "does not exist" in (missing.details() or "")

    jira.fail_next(delay=3.0)
    error = await rpc_error(jira_client.ticketing.GetTicket(get, metadata=md, timeout=0.5))
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_wrong_credentials_are_unauthenticated_without_leaking(
    admin: Client, jira: FakeJira
) -> None:
    _, client = await create_integration(admin, jira_config(jira, token="not-the-token-xyz"))
    error = await rpc_error(
        client.ticketing.GetTicket(
            Req.GetTicketRequest(ticket_id="OPS-1"), metadata=client.metadata
        )
    )
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "not-the-token-xyz" not in (error.details() or "")


async def test_comments_round_trip_markdown(jira_client: Client, jira: FakeJira) -> None:
    ticket = await create(jira_client, summary="Comments")
    made = await jira_client.ticketing.CreateComment(
        Req.CreateCommentRequest(
            comment=ticket_pb2.Comment(ticket_id=ticket.id, content="See `logs` and *this*")
        ),
        metadata=jira_client.metadata,
    )
    assert made.content == "See `logs` and _this_", "emphasis comes back normalised"
    body = jira.calls("POST", f"/rest/api/3/issue/{ticket.id}/comment")[0].json["body"]
    assert body["type"] == "doc"


async def test_projects_and_remote_fields(jira_client: Client) -> None:
    md = jira_client.metadata
    projects = [
        i.project.id
        async for i in jira_client.ticketing.ListProjects(Req.ListProjectsRequest(), metadata=md)
    ]
    assert projects == ["OPS", "SEC"]
    fields = [
        i.remote_field
        async for i in jira_client.ticketing.ListRemoteFields(
            Req.ListRemoteFieldsRequest(), metadata=md
        )
    ]
    by_id = {f.field_id: f for f in fields}
    assert by_id["summary"].field_scope == ticket_pb2.REMOTE_FIELD_SCOPE_STANDARD
    assert by_id["customfield_10010"].field_scope == (
        ticket_pb2.REMOTE_FIELD_SCOPE_INTEGRATION_CUSTOM
    )
    project_fields = [
        i.remote_field
        async for i in jira_client.ticketing.ListRemoteFields(
            Req.ListRemoteFieldsRequest(project_id="SEC"), metadata=md
        )
    ]
    team = next(f for f in project_fields if f.field_id == "customfield_10011")
    assert team.field_scope == ticket_pb2.REMOTE_FIELD_SCOPE_PROJECT_CUSTOM
    assert team.schema.field_type == ticket_pb2.REMOTE_FIELD_TYPE_ENUM
    assert set(team.schema.enum_values) == {"Platform", "Security", "Support"}


async def test_priority_map_overrides(admin: Client, jira: FakeJira) -> None:
    config = jira_config(jira)
    config.jira.priority_map["Medium"] = ticket_pb2.CRITICAL
    _, client = await create_integration(admin, config)
    created = await create(client, summary="Mapped", priority=ticket_pb2.CRITICAL)
    priority = jira.issue(created.id).priority
    assert priority is not None and priority.name == "Medium"
    assert created.priority == ticket_pb2.CRITICAL


async def upload(client: Client, ticket_id: str, chunks: AsyncIterator[bytes]) -> Any:
    async def requests() -> AsyncIterator[Req.CreateAttachmentRequest]:
        yield Req.CreateAttachmentRequest(
            metadata=Req.CreateAttachmentMetadata(
                ticket_id=ticket_id, file_name="big.bin", file_type="application/octet-stream"
            )
        )
        async for chunk in chunks:
            yield Req.CreateAttachmentRequest(chunk=chunk)

    return await client.ticketing.CreateAttachment(requests(), metadata=client.metadata)


async def test_20_mb_attachment_round_trip(jira_client: Client, jira: FakeJira) -> None:
    ticket = await create(jira_client, summary="Attach")
    size, piece = 20 * 1024 * 1024, os.urandom(1024 * 1024)
    sent = hashlib.sha256()

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(size // len(piece)):
            sent.update(piece)
            yield piece

    meta = await upload(jira_client, ticket.id, chunks())
    assert meta.file_size == size and meta.file_name == "big.bin"
    (posted,) = jira.calls("POST", f"/rest/api/3/issue/{ticket.id}/attachments")
    assert posted.headers["X-Atlassian-Token"] == "no-check"

    listed = [
        i.attachment
        async for i in jira_client.ticketing.ListAttachmentsMetadata(
            Req.ListAttachmentsMetadataRequest(ticket_id=ticket.id), metadata=jira_client.metadata
        )
    ]
    assert [a.id for a in listed] == [meta.id]

    received, first, largest = hashlib.sha256(), None, 0
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    async for message in jira_client.ticketing.DownloadAttachment(
        Req.DownloadAttachmentRequest(ticket_id=ticket.id, attachment_id=meta.id),
        metadata=jira_client.metadata,
    ):
        if first is None:
            first = message.metadata
            continue
        received.update(message.chunk)
        largest = max(largest, len(message.chunk))
    peak = tracemalloc.get_traced_memory()[1] - baseline
    tracemalloc.stop()
    assert first is not None and first.id == meta.id
    assert received.digest() == sent.digest()
    assert peak < 8 * 1024 * 1024, f"download held {peak} bytes at once"
    assert largest <= 1024 * 1024, "downloads are streamed in bounded chunks"

    await jira_client.ticketing.DeleteAttachment(
        Req.DeleteAttachmentRequest(ticket_id=ticket.id, attachment_id=meta.id),
        metadata=jira_client.metadata,
    )
    gone = await rpc_error(
        jira_client.ticketing.DeleteAttachment(
            Req.DeleteAttachmentRequest(ticket_id=ticket.id, attachment_id=meta.id),
            metadata=jira_client.metadata,
        )
    )
    assert gone.code() == grpc.StatusCode.NOT_FOUND
    await asyncio.sleep(0)


async def test_stream_survives_an_update_of_its_integration(admin: Client, jira: FakeJira) -> None:
    stored, client = await create_integration(admin, jira_config(jira))
    for i in range(10):
        await create(client, summary=f"Long stream {i}")
    stream = client.ticketing.QueryTickets(
        Req.QueryTicketsRequest(filter=["summary[like]stream"], page_size_hint=2),
        metadata=client.metadata,
    )
    seen = [(await stream.read()).ticket.id for _ in range(2)]
    jira.fail_next(delay=0.5, path="/rest/api/3/search/jql")
    seen.append((await stream.read()).ticket.id)  # page 2: page 3 is now being fetched
    await admin.integrations.UpdateIntegration(
        integrations_pb2.UpdateIntegrationRequest(
            integration=integrations_pb2.Integration(id=stored.id, name="renamed"),
            update_mask=field_mask_pb2.FieldMask(paths=["name"]),
        ),
        metadata=admin.metadata,
    )
    while (item := await stream.read()) is not grpc.aio.EOF:
        seen.append(item.ticket.id)
    assert len(seen) == len(set(seen)) == 10
