"""The embedded mock provider through the gRPC API, over a real socket."""

from __future__ import annotations

import base64
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2
from ticketing.v1 import ticket_pb2, ticketing_pb2

from ticketing_grpc.server import start

from .conftest import Client, create_integration, mock_integration, settings_for

Req = ticketing_pb2


async def create(client: Client, **fields: object) -> ticket_pb2.Ticket:
    custom = fields.pop("custom_fields", None)
    ticket = ticket_pb2.Ticket(**fields)  # type: ignore[arg-type]
    if custom is not None:
        ticket.custom_fields.update(custom)
    return await client.ticketing.CreateTicket(
        Req.CreateTicketRequest(ticket=ticket), metadata=client.metadata
    )


async def query(client: Client, *filters: str, order: tuple[str, ...] = (), **kw: object) -> list:
    stream = client.ticketing.QueryTickets(
        Req.QueryTicketsRequest(filter=filters, order=order, **kw),  # type: ignore[arg-type]
        metadata=client.metadata,
    )
    return [item async for item in stream]


async def ids(client: Client, *filters: str, order: tuple[str, ...] = ()) -> list[str]:
    return [item.ticket.id for item in await query(client, *filters, order=order)]


async def code_of(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    return info.value.code()


async def error_of(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    return info.value


async def test_create_assigns_ids_defaults_and_maps_custom_fields(mock_client: Client) -> None:
    first = await create(mock_client, summary="Disk full", priority=ticket_pb2.HIGH, tags=["infra"])
    assert first.id == "OPS-1"
    assert first.project == "OPS" and first.status == "Open"
    assert first.created_at.seconds > 0 and first.created_at == first.updated_at
    second = await create(
        mock_client,
        summary="Phish",
        project="SEC",
        custom_fields={"effort": 3, "severity": "sev1"},
    )
    assert second.id == "SEC-2"
    assert dict(second.custom_fields) == {"effort": 3.0, "severity": "sev1"}
    got = await mock_client.ticketing.GetTicket(
        Req.GetTicketRequest(ticket_id="SEC-2"), metadata=mock_client.metadata
    )
    assert got == second


async def test_custom_field_not_mapped_for_the_project_is_rejected(mock_client: Client) -> None:
    error = await error_of(create(mock_client, summary="x", custom_fields={"severity": "sev2"}))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'severity'" in error.details() and "'OPS'" in error.details()
    assert await ids(mock_client) == []


async def test_create_validation(mock_client: Client) -> None:
    error = await error_of(create(mock_client, summary="  "))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "summary" in error.details()
    error = await error_of(create(mock_client, summary="x", priority=42))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "priority" in error.details()
    assert await ids(mock_client) == []


async def test_get_unknown_ticket_is_not_found(mock_client: Client) -> None:
    call = mock_client.ticketing.GetTicket(
        Req.GetTicketRequest(ticket_id="OPS-404"), metadata=mock_client.metadata
    )
    assert await code_of(call) == grpc.StatusCode.NOT_FOUND


async def patch(client: Client, ticket: ticket_pb2.Ticket, *paths: str) -> ticket_pb2.Ticket:
    return await client.ticketing.PatchTicket(
        Req.PatchTicketRequest(ticket=ticket, update_mask=field_mask_pb2.FieldMask(paths=paths)),
        metadata=client.metadata,
    )


async def test_patch_changes_only_masked_fields(mock_client: Client) -> None:
    t = await create(mock_client, summary="a", description="keep", custom_fields={"effort": 1})
    change = ticket_pb2.Ticket(id=t.id, status="In Progress", description="ignored")
    change.custom_fields.update({"effort": 5})
    out = await patch(mock_client, change, "status", "custom_fields.effort")
    assert out.status == "In Progress"
    assert out.description == "keep"
    assert dict(out.custom_fields) == {"effort": 5.0}
    assert out.updated_at.ToDatetime() >= t.updated_at.ToDatetime()

    cleared = await patch(mock_client, ticket_pb2.Ticket(id=t.id), "custom_fields.effort")
    assert not cleared.custom_fields.fields

    due = timestamp_pb2.Timestamp(seconds=1_900_000_000)
    replaced = await patch(
        mock_client,
        ticket_pb2.Ticket(id=t.id, summary="b", project="OPS", due_date=due, tags=["x"]),
        "*",
    )
    assert replaced.summary == "b" and replaced.due_date == due and list(replaced.tags) == ["x"]
    assert replaced.description == "" and replaced.status == ""


@pytest.mark.parametrize(
    ("paths", "needle"),
    [
        (["nope"], "'nope'"),
        (["id"], "output only"),
        (["url"], "output only"),
        ([], "update_mask is required"),
        (["*", "status"], "cannot be combined"),
        (["summary.x"], "'summary.x'"),
    ],
)
async def test_patch_mask_errors(mock_client: Client, paths: list[str], needle: str) -> None:
    t = await create(mock_client, summary="a")
    error = await error_of(patch(mock_client, ticket_pb2.Ticket(id=t.id, summary="b"), *paths))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in error.details()
    assert (await ids(mock_client, "summary=a")) == [t.id]


async def test_patch_unknown_ticket_is_not_found(mock_client: Client) -> None:
    call = patch(mock_client, ticket_pb2.Ticket(id="OPS-9", status="x"), "status")
    assert await code_of(call) == grpc.StatusCode.NOT_FOUND


@pytest.fixture
async def seeded(mock_client: Client) -> Client:
    day = 86_400
    await create(
        mock_client,
        summary="Printer on fire",
        priority=ticket_pb2.URGENT,
        tags=["hardware", "fire"],
        assignee="ann",
        due_date=timestamp_pb2.Timestamp(seconds=1_700_000_000),
        custom_fields={"effort": 8},
    )
    await create(
        mock_client,
        summary="Reset password",
        priority=ticket_pb2.LOW,
        tags=["account"],
        assignee="bob",
        due_date=timestamp_pb2.Timestamp(seconds=1_700_000_000 + day),
        custom_fields={"effort": 1},
    )
    await create(
        mock_client,
        summary="Phishing mail",
        project="SEC",
        priority=ticket_pb2.HIGH,
        issue_type="Incident",
        custom_fields={"severity": "sev1", "effort": 3},
    )
    return mock_client


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["project=SEC"], ["SEC-3"]),
        (["project[eq]OPS"], ["OPS-1", "OPS-2"]),
        (["project[neq]OPS"], ["SEC-3"]),
        (["project[ne]OPS"], ["SEC-3"]),
        (["summary[like]fire"], ["OPS-1"]),
        (["summary[like]re*word"], ["OPS-2"]),
        (["summary[not like]p*"], []),
        (["priority[gte]HIGH"], ["OPS-1", "SEC-3"]),
        (["priority[lt]high"], ["OPS-2"]),
        (["priority[in]LOW,URGENT"], ["OPS-1", "OPS-2"]),
        (["priority[not in]LOW,URGENT"], ["SEC-3"]),
        (["tags[eq]fire"], ["OPS-1"]),
        (["tags[in]account,fire"], ["OPS-1", "OPS-2"]),
        (["tags[not in]fire"], ["OPS-2", "SEC-3"]),
        (["assignee[in]ann, bob", "tags[like]hard"], ["OPS-1"]),
        (["due_date[gt]2023-11-15"], ["OPS-2"]),
        (["due_date[lte]2023-11-14T22:13:20Z"], ["OPS-1"]),
        (["issue_type=Incident"], ["SEC-3"]),
        (["custom_fields.effort[gte]3"], ["OPS-1", "SEC-3"]),
        (["custom_fields.severity=sev1"], ["SEC-3"]),
        (["created_at[gt]2000-01-01", "id[neq]OPS-1"], ["OPS-2", "SEC-3"]),
    ],
)
async def test_query_filters(seeded: Client, filters: list[str], expected: list[str]) -> None:
    assert await ids(seeded, *filters) == expected


async def test_query_order_and_limit(seeded: Client) -> None:
    assert await ids(seeded, order=("priority[desc]",)) == ["OPS-1", "SEC-3", "OPS-2"]
    assert await ids(seeded, order=("project[desc]", "summary[asc]")) == [
        "SEC-3",
        "OPS-1",
        "OPS-2",
    ]
    limited = await query(seeded, order=("custom_fields.effort[asc]",), limit=2)
    assert [i.ticket.id for i in limited] == ["OPS-2", "SEC-3"]


async def test_resume_token_continues_right_after_its_item(seeded: Client) -> None:
    order = ("priority[asc]",)
    first = await query(seeded, order=order, limit=1)
    assert [i.ticket.id for i in first] == ["OPS-2"]
    await create(seeded, summary="Later", priority=ticket_pb2.PLANNING)
    rest = await query(seeded, order=order, resume_token=first[0].resume_token)
    assert [i.ticket.id for i in rest] == ["SEC-3", "OPS-1"]


async def test_forged_or_foreign_resume_tokens_are_rejected(seeded: Client) -> None:
    item = (await query(seeded, limit=1))[0]
    raw = bytearray(base64.urlsafe_b64decode(item.resume_token + "=" * 4))
    raw[-2] ^= 1
    forged = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    for token, filters in ((forged, ()), (item.resume_token, ("project=OPS",)), ("garbage", ())):
        error = await error_of(query(seeded, *filters, resume_token=token))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "resume_token" in error.details()


@pytest.mark.parametrize(
    ("filters", "order", "needle"),
    [
        (["color=red"], [], "'color'"),
        (["tags[gt]a"], [], "'gt'"),
        (["priority=BLOCKER"], [], "BLOCKER"),
        (["due_date[gt]yesterday"], [], "yesterday"),
        (["summary~x"], [], "summary~x"),
        ([], ["color[asc]"], "'color'"),
        ([], ["summary[up]"], "up"),
    ],
)
async def test_bad_filters_name_the_offending_part(
    seeded: Client, filters: list[str], order: list[str], needle: str
) -> None:
    error = await error_of(query(seeded, *filters, order=tuple(order)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in error.details()


async def test_comments_lifecycle(seeded: Client) -> None:
    md = seeded.metadata
    made = [
        await seeded.ticketing.CreateComment(
            Req.CreateCommentRequest(comment=ticket_pb2.Comment(ticket_id="OPS-1", content=text)),
            metadata=md,
        )
        for text in ("first", "second", "third")
    ]
    assert [c.content for c in made] == ["first", "second", "third"]
    assert made[0].creator and made[0].created_at.seconds > 0

    async def listed(**kw: object) -> list:
        stream = seeded.ticketing.ListComments(
            Req.ListCommentsRequest(ticket_id="OPS-1", **kw),
            metadata=md,  # type: ignore[arg-type]
        )
        return [i async for i in stream]

    page = await listed(limit=2)
    assert [i.comment.content for i in page] == ["first", "second"]
    rest = await listed(resume_token=page[-1].resume_token)
    assert [i.comment.content for i in rest] == ["third"]

    await seeded.ticketing.DeleteComment(
        Req.DeleteCommentRequest(ticket_id="OPS-1", comment_id=made[1].id), metadata=md
    )
    assert [i.comment.content for i in await listed()] == ["first", "third"]
    again = seeded.ticketing.DeleteComment(
        Req.DeleteCommentRequest(ticket_id="OPS-1", comment_id=made[1].id), metadata=md
    )
    assert await code_of(again) == grpc.StatusCode.NOT_FOUND
    elsewhere = seeded.ticketing.DeleteComment(
        Req.DeleteCommentRequest(ticket_id="OPS-2", comment_id=made[0].id), metadata=md
    )
    assert await code_of(elsewhere) == grpc.StatusCode.NOT_FOUND
    unknown_ticket = seeded.ticketing.CreateComment(
        Req.CreateCommentRequest(comment=ticket_pb2.Comment(ticket_id="NOPE-1", content="x")),
        metadata=md,
    )
    assert await code_of(unknown_ticket) == grpc.StatusCode.NOT_FOUND
    empty = seeded.ticketing.CreateComment(
        Req.CreateCommentRequest(comment=ticket_pb2.Comment(ticket_id="OPS-1")), metadata=md
    )
    assert await code_of(empty) == grpc.StatusCode.INVALID_ARGUMENT


async def test_notes_lifecycle(seeded: Client) -> None:
    md = seeded.metadata
    note = await seeded.ticketing.CreateNote(
        Req.CreateNoteRequest(note=ticket_pb2.Note(ticket_id="OPS-2", title="t", content="c")),
        metadata=md,
    )
    patched = await seeded.ticketing.PatchNote(
        Req.PatchNoteRequest(
            note=ticket_pb2.Note(id=note.id, ticket_id="OPS-2", title="new", content="ignored"),
            update_mask=field_mask_pb2.FieldMask(paths=["title"]),
        ),
        metadata=md,
    )
    assert (patched.title, patched.content) == ("new", "c")
    bad = seeded.ticketing.PatchNote(
        Req.PatchNoteRequest(
            note=ticket_pb2.Note(id=note.id, ticket_id="OPS-2"),
            update_mask=field_mask_pb2.FieldMask(paths=["creator"]),
        ),
        metadata=md,
    )
    assert await code_of(bad) == grpc.StatusCode.INVALID_ARGUMENT
    listed = [
        i.note
        async for i in seeded.ticketing.ListNotes(
            Req.ListNotesRequest(ticket_id="OPS-2"), metadata=md
        )
    ]
    assert listed == [patched]
    await seeded.ticketing.DeleteNote(
        Req.DeleteNoteRequest(ticket_id="OPS-2", note_id=note.id), metadata=md
    )
    gone = seeded.ticketing.DeleteNote(
        Req.DeleteNoteRequest(ticket_id="OPS-2", note_id=note.id), metadata=md
    )
    assert await code_of(gone) == grpc.StatusCode.NOT_FOUND


async def test_projects_are_the_default_and_those_tickets_name(seeded: Client) -> None:
    stream = seeded.ticketing.ListProjects(Req.ListProjectsRequest(), metadata=seeded.metadata)
    assert [i.project.id async for i in stream] == ["OPS", "SEC"]
    first = [
        i
        async for i in seeded.ticketing.ListProjects(
            Req.ListProjectsRequest(limit=1), metadata=seeded.metadata
        )
    ]
    rest = seeded.ticketing.ListProjects(
        Req.ListProjectsRequest(resume_token=first[0].resume_token), metadata=seeded.metadata
    )
    assert [i.project.id async for i in rest] == ["SEC"]


@pytest.mark.parametrize(
    ("rpc", "request_", "operator"),
    [
        ("ListOnCall", Req.ListOnCallRequest(filter=["nonsense"]), "list_on_call"),
        (
            "QueryEscalationPolicies",
            Req.QueryEscalationPoliciesRequest(),
            "query_escalation_policies",
        ),
        ("ListRemoteFields", Req.ListRemoteFieldsRequest(), "list_remote_fields"),
        (
            "ListAttachmentsMetadata",
            Req.ListAttachmentsMetadataRequest(),
            "list_attachments_metadata",
        ),
        ("DownloadAttachment", Req.DownloadAttachmentRequest(), "download_attachment"),
        ("DeleteAttachment", Req.DeleteAttachmentRequest(), "delete_attachment"),
    ],
)
async def test_unsupported_operators_are_unimplemented_before_validation(
    mock_client: Client, rpc: str, request_: object, operator: str
) -> None:
    call = getattr(mock_client.ticketing, rpc)(request_, metadata=mock_client.metadata)
    if hasattr(call, "__aiter__"):
        call = call.read()
    error = await error_of(call)
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "ticketing_mock_ticketing" in error.details() and operator in error.details()


async def test_create_attachment_is_unimplemented_on_the_mock(mock_client: Client) -> None:
    async def upload():  # type: ignore[no-untyped-def]
        yield Req.CreateAttachmentRequest(chunk=b"no metadata first")

    error = await error_of(
        mock_client.ticketing.CreateAttachment(upload(), metadata=mock_client.metadata)
    )
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "create_attachment" in error.details()


async def test_mock_data_survives_a_restart(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data")
    first = await start(settings)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{first.grpc_port}") as channel:
            admin = Client(channel, settings.admin_token or "")
            _, client = await create_integration(admin, mock_integration())
            made = await create(client, summary="persist me")
            token = client.token
    finally:
        await first.stop()
    second = await start(settings)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{second.grpc_port}") as channel:
            client = Client(channel, token)
            got = await client.ticketing.GetTicket(
                Req.GetTicketRequest(ticket_id=made.id), metadata=client.metadata
            )
            assert got == made
    finally:
        await second.stop()
