"""ServiceNow ITSM and SIR through the gRPC API against the fake instance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from ticketing.v1 import integrations_pb2, ticket_pb2, ticketing_pb2

from .conformance import TicketingConformance
from .conftest import Client, create_integration, rpc_error
from .fakes.servicenow import FakeServiceNow

Req = ticketing_pb2


@pytest.fixture
async def sn() -> AsyncIterator[FakeServiceNow]:
    async with FakeServiceNow() as fake:
        yield fake


def basic(user: str = "admin", password: str = "admin-pass") -> integrations_pb2.Credential:
    return integrations_pb2.Credential(
        basic=integrations_pb2.BasicCredential(username=user, secret=password)
    )


def sn_integration(
    fake: FakeServiceNow,
    *,
    sir: bool = False,
    credential: integrations_pb2.Credential | None = None,
    mappings: tuple[tuple[str, str], ...] = (),
    **config: Any,
) -> integrations_pb2.Integration:
    settings = integrations_pb2.ServiceNowConfig(
        url=fake.url, credential=credential or basic(), **config
    )
    integration = integrations_pb2.Integration(name="sn")
    getattr(integration, "servicenow_sir" if sir else "servicenow").CopyFrom(settings)
    for name, column in mappings:
        integration.custom_field_mappings.add(project_id="*", name=name, provider_field_path=column)
    return integration


@pytest.fixture
async def itsm(admin: Client, sn: FakeServiceNow) -> Client:
    _, client = await create_integration(admin, sn_integration(sn))
    return client


@pytest.fixture
async def sir(admin: Client, sn: FakeServiceNow) -> Client:
    _, client = await create_integration(admin, sn_integration(sn, sir=True))
    return client


class TestServiceNowConformance(TicketingConformance):
    provider_id = "ticketing_servicenow"
    next_status = "In Progress"
    unknown_ticket_id = "0" * 32

    @pytest.fixture
    async def client(self, itsm: Client) -> Client:
        return itsm

    @pytest.fixture
    def project(self) -> str:
        return "incident"


class TestServiceNowSirConformance(TicketingConformance):
    provider_id = "ticketing_servicenow_sir"
    next_status = "Analysis"
    unknown_ticket_id = "0" * 32

    @pytest.fixture
    async def client(self, sir: Client) -> Client:
        return sir

    @pytest.fixture
    def project(self) -> str:
        return "sn_si_incident"


async def create(client: Client, **fields: Any) -> ticket_pb2.Ticket:
    custom = fields.pop("custom_fields", None)
    ticket = ticket_pb2.Ticket(**fields)
    if custom:
        ticket.custom_fields.update(custom)
    return await client.ticketing.CreateTicket(
        Req.CreateTicketRequest(ticket=ticket), metadata=client.metadata
    )


async def test_create_maps_fields_and_reads_dates_from_values(
    itsm: Client, sn: FakeServiceNow
) -> None:
    created = await create(
        itsm,
        summary="Email down",
        description="Nobody gets mail",
        priority=ticket_pb2.HIGH,
        issue_type="network",
        due_date={"seconds": 1_720_109_700},
    )
    record = sn.record(created.id)
    assert record["short_description"] == "Email down"
    assert (record["impact"], record["urgency"], record["priority"]) == ("1", "2", "2")
    assert record["due_date"] == "2024-07-04 16:15:00", "dates are written in UTC"
    assert created.priority == ticket_pb2.HIGH
    assert created.status == "New"
    assert created.due_date.seconds == 1_720_109_700, "read from value, not the display value"
    assert created.project == "incident"
    assert created.unmapped["number"].startswith("INC")
    assert created.id in created.url


async def test_status_label_is_written_as_its_choice_value(
    itsm: Client, sn: FakeServiceNow
) -> None:
    created = await create(itsm, summary="Label")
    patched = await itsm.ticketing.PatchTicket(
        Req.PatchTicketRequest(
            ticket=ticket_pb2.Ticket(id=created.id, status="On Hold"),
            update_mask=field_mask_pb2.FieldMask(paths=["status"]),
        ),
        metadata=itsm.metadata,
    )
    assert patched.status == "On Hold"
    assert sn.record(created.id)["state"] == "3"
    error = await rpc_error(
        itsm.ticketing.PatchTicket(
            Req.PatchTicketRequest(
                ticket=ticket_pb2.Ticket(id=created.id, status="Sleeping"),
                update_mask=field_mask_pb2.FieldMask(paths=["status"]),
            ),
            metadata=itsm.metadata,
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Sleeping" in (error.details() or "")


async def test_query_follows_next_links_past_short_pages(itsm: Client, sn: FakeServiceNow) -> None:
    made = [await create(itsm, summary=f"Paged {i}") for i in range(7)]
    sn.acl_hidden.update({made[1].id, made[2].id})
    stream = itsm.ticketing.QueryTickets(
        Req.QueryTicketsRequest(filter=["summary[like]paged"], page_size_hint=3),
        metadata=itsm.metadata,
    )
    got = [item.ticket.id async for item in stream]
    assert len(got) == len(set(got)) == 5
    assert set(got) == {t.id for t in made} - sn.acl_hidden
    assert len(sn.calls("GET", "/api/now/table/incident")) >= 3


async def test_unknown_columns_are_refused_not_silently_ignored(
    admin: Client, sn: FakeServiceNow
) -> None:
    _, client = await create_integration(
        admin, sn_integration(sn, mappings=(("effort", "u_effort"),))
    )
    error = await rpc_error(create(client, summary="x", custom_fields={"effort": "3"}))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "u_effort" in (error.details() or "")
    assert sn.ignored_fields == []

    sn.add_column("incident", "u_effort", "integer", "Effort")
    _, client = await create_integration(
        admin, sn_integration(sn, mappings=(("effort", "u_effort"),))
    )
    created = await create(client, summary="x", custom_fields={"effort": "3"})
    assert sn.record(created.id)["u_effort"] == "3"
    assert dict(created.custom_fields) == {"effort": "3"}
    found = [
        i.ticket.id
        async for i in client.ticketing.QueryTickets(
            Req.QueryTicketsRequest(filter=["custom_fields.effort=3"]), metadata=client.metadata
        )
    ]
    assert found == [created.id]


async def test_comments_and_work_notes_live_in_the_journal(
    itsm: Client, sn: FakeServiceNow
) -> None:
    ticket = await create(itsm, summary="Journal")
    md = itsm.metadata
    comment = await itsm.ticketing.CreateComment(
        Req.CreateCommentRequest(comment=ticket_pb2.Comment(ticket_id=ticket.id, content="hello")),
        metadata=md,
    )
    note = await itsm.ticketing.CreateNote(
        Req.CreateNoteRequest(note=ticket_pb2.Note(ticket_id=ticket.id, content="internal")),
        metadata=md,
    )
    assert sn.record(ticket.id)["comments"] == "" and sn.record(ticket.id)["work_notes"] == ""
    comments = [
        i.comment
        async for i in itsm.ticketing.ListComments(
            Req.ListCommentsRequest(ticket_id=ticket.id), metadata=md
        )
    ]
    notes = [
        i.note
        async for i in itsm.ticketing.ListNotes(
            Req.ListNotesRequest(ticket_id=ticket.id), metadata=md
        )
    ]
    assert [c.content for c in comments] == ["hello"] and comments[0].id == comment.id
    assert [n.content for n in notes] == ["internal"] and notes[0].id == note.id
    wrong = await rpc_error(
        itsm.ticketing.DeleteComment(
            Req.DeleteCommentRequest(ticket_id=ticket.id, comment_id=note.id), metadata=md
        )
    )
    assert wrong.code() == grpc.StatusCode.NOT_FOUND, "a work note is not a comment"
    await itsm.ticketing.DeleteNote(
        Req.DeleteNoteRequest(ticket_id=ticket.id, note_id=note.id), metadata=md
    )
    assert [
        i
        async for i in itsm.ticketing.ListNotes(
            Req.ListNotesRequest(ticket_id=ticket.id), metadata=md
        )
    ] == []
    patch = await rpc_error(
        itsm.ticketing.PatchNote(
            Req.PatchNoteRequest(
                note=ticket_pb2.Note(id=note.id, ticket_id=ticket.id, content="x"),
                update_mask=field_mask_pb2.FieldMask(paths=["content"]),
            ),
            metadata=md,
        )
    )
    assert patch.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_sir_uses_its_own_table_and_has_no_notes(sir: Client, sn: FakeServiceNow) -> None:
    created = await create(sir, summary="Phishing")
    assert created.project == "sn_si_incident"
    assert created.status == "Draft"
    assert sn.record(created.id)["sys_class_name"] == "sn_si_incident"
    error = await rpc_error(
        sir.ticketing.CreateNote(
            Req.CreateNoteRequest(note=ticket_pb2.Note(ticket_id=created.id, content="x")),
            metadata=sir.metadata,
        )
    )
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_remote_fields_walk_the_table_chain(itsm: Client, sn: FakeServiceNow) -> None:
    sn.add_column("incident", "u_effort", "integer", "Effort")
    fields = {
        i.remote_field.field_id: i.remote_field
        async for i in itsm.ticketing.ListRemoteFields(
            Req.ListRemoteFieldsRequest(), metadata=itsm.metadata
        )
    }
    assert fields["short_description"].field_scope == ticket_pb2.REMOTE_FIELD_SCOPE_STANDARD
    assert fields["u_effort"].field_scope == ticket_pb2.REMOTE_FIELD_SCOPE_TICKET_CUSTOM
    assert fields["u_effort"].schema.field_type == ticket_pb2.REMOTE_FIELD_TYPE_NUMBER
    state = fields["state"].schema
    assert state.field_type == ticket_pb2.REMOTE_FIELD_TYPE_ENUM
    assert {"New", "In Progress", "On Hold"} <= set(state.enum_values)


async def test_oauth_client_credentials(admin: Client, sn: FakeServiceNow) -> None:
    credential = integrations_pb2.Credential(
        oauth_client=integrations_pb2.OAuthClientCredential(
            client_id="fake-client-id", client_secret="fake-client-secret"
        )
    )
    _, client = await create_integration(admin, sn_integration(sn, credential=credential))
    first = await create(client, summary="via oauth")
    await create(client, summary="again")
    assert first.summary == "via oauth"
    assert len(sn.calls("POST", "/oauth_token.do")) == 1, "the token is cached"
    sn.expire_tokens()
    await create(client, summary="after expiry")
    assert len(sn.calls("POST", "/oauth_token.do")) == 2


async def test_failure_paths(admin: Client, itsm: Client, sn: FakeServiceNow) -> None:
    ticket = await create(itsm, summary="faults")
    get = Req.GetTicketRequest(ticket_id=ticket.id)
    sn.fail_next(429, retry_after=1)
    assert (await itsm.ticketing.GetTicket(get, metadata=itsm.metadata)).id == ticket.id
    sn.fail_next(503, times=5)
    error = await rpc_error(itsm.ticketing.GetTicket(get, metadata=itsm.metadata))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    sn.clear_faults()

    _, wrong = await create_integration(
        admin, sn_integration(sn, credential=basic("admin", "nope"))
    )
    error = await rpc_error(wrong.ticketing.GetTicket(get, metadata=wrong.metadata))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "nope" not in (error.details() or "")

    _, reader = await create_integration(
        admin, sn_integration(sn, credential=basic("reader", "reader-pass"))
    )
    error = await rpc_error(create(reader, summary="not allowed"))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
