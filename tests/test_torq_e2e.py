"""Torq through the gRPC API against the fake Torq workspace."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, json_format, timestamp_pb2
from ticketing.v1 import integrations_pb2, ticket_pb2, ticketing_pb2

from ticketing_grpc.providers.mock import MockProvider
from ticketing_grpc.providers.registry import build_registry
from ticketing_grpc.providers.torq import TorqProvider
from ticketing_grpc.server import start

from .conformance import TicketingConformance
from .conftest import ADMIN_TOKEN, Client, create_integration, rpc_error, settings_for
from .fakes.torq import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_USER, FakeTorq

Req = ticketing_pb2
API = "/v1alpha"


@pytest.fixture
async def torq() -> AsyncIterator[FakeTorq]:
    async with FakeTorq() as fake:
        yield fake
    fake.assert_no_violations()


@pytest.fixture
async def torq_admin(tmp_path: Path) -> AsyncIterator[Client]:
    """A server whose registry has the Torq plugin (until its entry point exists)."""
    running = await start(
        settings_for(tmp_path / "data"), registry=build_registry([MockProvider, TorqProvider])
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel:
            yield Client(channel, ADMIN_TOKEN)
    finally:
        await running.stop()


def torq_integration(
    fake: FakeTorq,
    *,
    secret: str = DEFAULT_CLIENT_SECRET,
    token_url: str | None = None,
    creator: str = "alice@acme.test",
    issue_type: str = "phishing",
    mappings: tuple[tuple[str, str], ...] = (("score", "risk_score"), ("vendor", "vendor")),
) -> integrations_pb2.Integration:
    return integrations_pb2.Integration(
        name="torq",
        torq=integrations_pb2.TorqConfig(
            url=fake.url,
            credential=integrations_pb2.Credential(
                oauth_client=integrations_pb2.OAuthClientCredential(
                    client_id=DEFAULT_CLIENT_ID,
                    client_secret=secret,
                    token_url=fake.token_url if token_url is None else token_url,
                )
            ),
            default_creator=creator,
            default_issue_type=issue_type,
        ),
        custom_field_mappings=[
            integrations_pb2.CustomFieldMapping(project_id="*", name=n, provider_field_path=p)
            for n, p in mappings
        ],
    )


@pytest.fixture
async def torq_client(torq_admin: Client, torq: FakeTorq) -> Client:
    _, client = await create_integration(torq_admin, torq_integration(torq))
    return client


def stamp(ts: timestamp_pb2.Timestamp) -> str:
    return ts.ToDatetime(tzinfo=UTC).isoformat()


class TestTorqConformance(TicketingConformance):
    provider_id = "ticketing_torq"
    next_status = "in progress"

    @pytest.fixture
    async def client(self, torq_client: Client) -> Client:
        return torq_client

    @pytest.fixture
    def project(self) -> str:
        return ""  # a Torq API key addresses one workspace: no projects

    def batch_filters(self, marker: str, made: list[ticket_pb2.Ticket]) -> list[str]:
        # Torq's query has no summary filter (the free-text one's JSON name is not
        # documented): the batch is the creation window of its tickets.
        return [
            f"created_at[gte]{stamp(made[0].created_at)}",
            f"created_at[lte]{stamp(made[-1].created_at)}",
        ]


async def create(client: Client, **fields: Any) -> ticket_pb2.Ticket:
    return await client.ticketing.CreateTicket(
        Req.CreateTicketRequest(ticket=ticket_pb2.Ticket(**fields)), metadata=client.metadata
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


# -- tickets ------------------------------------------------------------------------------


async def test_create_maps_the_case(torq_client: Client, torq: FakeTorq) -> None:
    due = datetime.now(UTC) + timedelta(days=2)
    created = await create(
        torq_client,
        summary="Compromised device",
        description="**malware**",
        priority=ticket_pb2.URGENT,
        assignee="john@acme.test",
        tags=["user", "phishing"],
        due_date=timestamp_pb2.Timestamp(seconds=int(due.timestamp())),
        custom_fields={"score": 7, "vendor": "acme"},
    )
    (post,) = torq.calls("POST", f"{API}/cases")
    assert post.json["reporter"] == {"user": {"email": "alice@acme.test"}}  # default_creator
    assert post.json["category"] == "phishing"  # default_issue_type
    case = torq.case(created.id)
    assert case.severity == "critical" and case.assignee == "john@acme.test"
    assert sorted(case.custom_fields, key=lambda f: f["key"]) == [
        {"key": "risk_score", "value": 7, "type": "TYPE_NUMBER"},
        {"key": "vendor", "value": "acme", "type": "TYPE_SHORT_TEXT"},
    ]
    assert 2 * 86400 - 5 < case.sla <= 2 * 86400
    assert created.priority == ticket_pb2.CRITICAL  # URGENT is written as critical
    assert created.status == "new" and created.creator == "alice@acme.test"
    assert created.issue_type == "phishing" and list(created.tags) == ["user", "phishing"]
    assert dict(created.custom_fields) == {"score": 7, "vendor": "acme"}
    assert abs(created.due_date.seconds - int(due.timestamp())) <= 1
    assert created.unmapped["pretty_id"] == f"#{created.id}"
    assert created.project == "" and created.created_at.seconds > 0


async def test_create_refuses_what_a_case_cannot_hold(torq_client: Client, torq: FakeTorq) -> None:
    for fields, name in (
        ({"project": "OPS"}, "project"),
        ({"contact": "c@acme.test"}, "contact"),
        ({"parent": "1"}, "parent"),
        ({"custom_fields": {"unmapped": 1}}, "unmapped"),
        ({"custom_fields": {"score": [1, 2]}}, "score"),
    ):
        error = await rpc_error(create(torq_client, summary="x", **fields))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, fields
        assert name in (error.details() or "")
    assert torq.calls("POST", f"{API}/cases") == []


async def test_patch_sends_changed_fields_with_a_mask(torq_client: Client, torq: FakeTorq) -> None:
    seeded = torq.seed_case(
        "Before",
        custom_fields=[
            {"key": "risk_score", "value": 1, "type": "TYPE_NUMBER"},
            {"key": "external", "value": "keep", "type": "TYPE_SHORT_TEXT"},
        ],
    )
    ticket = ticket_pb2.Ticket(id=str(seeded.id), summary="After", status="resolved")
    ticket.custom_fields.update({"score": 9})
    patched = await patch(torq_client, ticket, "summary", "status", "custom_fields.score")
    (sent,) = [r.json for r in torq.calls("PATCH", f"{API}/cases")]
    assert sent["update_mask"] == "title,state,custom_fields"
    assert sent["case"]["custom_fields"] == [
        {"key": "risk_score", "value": 9, "type": "TYPE_NUMBER"},
        {"key": "external", "value": "keep", "type": "TYPE_SHORT_TEXT"},
    ]
    assert patched.summary == "After" and patched.status == "resolved"
    assert patched.completion_date.seconds > 0
    assert dict(patched.custom_fields) == {"score": 9}
    unmapped = json_format.MessageToDict(patched.unmapped)
    assert unmapped["custom_fields"] == [
        {"key": "external", "value": "keep", "type": "TYPE_SHORT_TEXT"}
    ]
    again = await patch(torq_client, patched, "*")
    assert again.summary == "After"
    assert len(torq.calls("PATCH", f"{API}/cases")) == 1, "a read-back written with * sends nothing"
    cleared = await patch(torq_client, ticket_pb2.Ticket(id=patched.id), "assignee", "tags")
    assert cleared.assignee == "" and list(cleared.tags) == []


async def test_unknown_case_is_not_found(torq_client: Client) -> None:
    error = await rpc_error(get(torq_client, "424242"))
    assert error.code() == grpc.StatusCode.NOT_FOUND


# -- query --------------------------------------------------------------------------------


async def test_query_translates_filters_and_pages(torq_client: Client, torq: FakeTorq) -> None:
    for i in range(5):
        torq.seed_case(f"high {i}", severity="high", state="in progress" if i % 2 else "new")
    torq.seed_case("low", severity="low")
    torq.seed_case("closed", severity="high", state="closed")
    found = await query(torq_client, "status[in]New,in progress", "priority=HIGH", page_size_hint=2)
    assert sorted(t.summary for t in found) == [f"high {i}" for i in range(5)]
    bodies = [r.json for r in torq.calls("POST", f"{API}/cases/query")]
    assert bodies[0] == {
        "filters": {
            "states": [{"value": "new"}, {"value": "in progress"}],
            "severities": [{"value": "high"}],
        },
        "pageSize": 2,
    }
    assert len(bodies) == 3 and all(b["pageToken"] for b in bodies[1:])
    assert await query(torq_client, "priority=URGENT") == []  # no case reads as URGENT
    assert len(torq.calls("POST", f"{API}/cases/query")) == 3, "answered without a request"


async def test_query_custom_fields_tags_and_assignee(torq_client: Client, torq: FakeTorq) -> None:
    torq.seed_case(
        "scored",
        tags=["vip"],
        assignee="a@acme.test",
        custom_fields=[{"key": "risk_score", "value": 5, "type": "TYPE_NUMBER"}],
    )
    torq.seed_case("other", tags=["vip"], assignee="a@acme.test")
    found = await query(
        torq_client, "custom_fields.score=5", "tags=vip", "assignee[in]a@acme.test,b@acme.test"
    )
    assert [t.summary for t in found] == ["scored"]
    (body,) = [r.json for r in torq.calls("POST", f"{API}/cases/query")]
    assert body["filters"] == {
        "custom_fields": [{"key": "risk_score", "values": ["5"]}],
        "tags": ["vip"],
        "assignees": ["a@acme.test", "b@acme.test"],
    }


@pytest.mark.parametrize(
    ("filters", "order", "named"),
    [
        (["summary[like]Batch"], [], "summary"),
        (["status[neq]new"], [], "neq"),
        (["id=1"], [], "id"),
        (["updated_at[gt]2024-01-01"], [], "updated_at"),
        ([], ["created_at[desc]"], "created_at"),
    ],
)
async def test_filters_torq_cannot_express_are_refused(
    torq_client: Client, torq: FakeTorq, filters: list[str], order: list[str], named: str
) -> None:
    error = await rpc_error(
        torq_client.ticketing.QueryTickets(
            Req.QueryTicketsRequest(filter=filters, order=order), metadata=torq_client.metadata
        ).read()
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert named in (error.details() or "")
    assert torq.calls("POST", f"{API}/cases/query") == []


# -- comments and notes -------------------------------------------------------------------


async def test_comments_and_notes_are_timeline_comments(
    torq_client: Client, torq: FakeTorq
) -> None:
    ticket = await create(torq_client, summary="timeline")
    comment = await torq_client.ticketing.CreateComment(
        Req.CreateCommentRequest(comment=ticket_pb2.Comment(ticket_id=ticket.id, content="hi")),
        metadata=torq_client.metadata,
    )
    note = await torq_client.ticketing.CreateNote(
        Req.CreateNoteRequest(note=ticket_pb2.Note(ticket_id=ticket.id, content="internal")),
        metadata=torq_client.metadata,
    )
    kinds = {e.id: e.visibility for e in torq.timeline(ticket.id) if e.kind == "comment"}
    assert kinds == {comment.id: "VISIBILITY_ID_PUBLIC", note.id: "VISIBILITY_ID_INTERNAL"}
    assert comment.creator == note.creator == DEFAULT_USER  # the API key's user
    notes = [
        i.note
        async for i in torq_client.ticketing.ListNotes(
            Req.ListNotesRequest(ticket_id=ticket.id), metadata=torq_client.metadata
        )
    ]
    assert [(n.id, n.content) for n in notes] == [(note.id, "internal")]
    comments = [
        i.comment
        async for i in torq_client.ticketing.ListComments(
            Req.ListCommentsRequest(ticket_id=ticket.id), metadata=torq_client.metadata
        )
    ]
    assert [c.id for c in comments] == [comment.id]


async def test_notes_patch_and_delete(torq_client: Client, torq: FakeTorq) -> None:
    ticket = await create(torq_client, summary="notes")
    note = await torq_client.ticketing.CreateNote(
        Req.CreateNoteRequest(note=ticket_pb2.Note(ticket_id=ticket.id, content="draft")),
        metadata=torq_client.metadata,
    )

    async def patch_note(change: ticket_pb2.Note, *paths: str) -> ticket_pb2.Note:
        return await torq_client.ticketing.PatchNote(
            Req.PatchNoteRequest(note=change, update_mask=field_mask_pb2.FieldMask(paths=paths)),
            metadata=torq_client.metadata,
        )

    edited = await patch_note(
        ticket_pb2.Note(id=note.id, ticket_id=ticket.id, content="final"), "content"
    )
    assert edited.content == "final" and edited.updated_at.ToNanoseconds() > 0
    (entry,) = [e for e in torq.timeline(ticket.id) if e.id == note.id]
    assert entry.text == "final"
    (sent,) = torq.calls("PATCH", f"{API}/cases/{ticket.id}/timeline/{note.id}")
    assert sent.json == {"text": "final"}
    unchanged = await patch_note(ticket_pb2.Note(id=note.id, ticket_id=ticket.id), "title")
    assert unchanged.content == "final"
    titled = await rpc_error(
        patch_note(ticket_pb2.Note(id=note.id, ticket_id=ticket.id, title="T"), "title")
    )
    assert titled.code() == grpc.StatusCode.INVALID_ARGUMENT and "title" in titled.details()
    refused = await rpc_error(
        torq_client.ticketing.CreateNote(
            Req.CreateNoteRequest(
                note=ticket_pb2.Note(ticket_id=ticket.id, title="T", content="x")
            ),
            metadata=torq_client.metadata,
        )
    )
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    await torq_client.ticketing.DeleteNote(
        Req.DeleteNoteRequest(ticket_id=ticket.id, note_id=note.id), metadata=torq_client.metadata
    )
    assert [e.kind for e in torq.timeline(ticket.id)] == ["case_created"]
    missing = await rpc_error(
        torq_client.ticketing.DeleteNote(
            Req.DeleteNoteRequest(ticket_id=ticket.id, note_id=note.id),
            metadata=torq_client.metadata,
        )
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND


async def test_comment_delete_and_paged_listing(torq_client: Client, torq: FakeTorq) -> None:
    ticket = await create(torq_client, summary="many comments")
    made = []
    for i in range(5):
        made.append(
            await torq_client.ticketing.CreateComment(
                Req.CreateCommentRequest(
                    comment=ticket_pb2.Comment(ticket_id=ticket.id, content=f"c{i}")
                ),
                metadata=torq_client.metadata,
            )
        )
    await torq_client.ticketing.DeleteComment(
        Req.DeleteCommentRequest(ticket_id=ticket.id, comment_id=made[1].id),
        metadata=torq_client.metadata,
    )
    listed = [
        i.comment.content
        async for i in torq_client.ticketing.ListComments(
            Req.ListCommentsRequest(ticket_id=ticket.id, page_size_hint=2),
            metadata=torq_client.metadata,
        )
    ]
    assert listed == ["c0", "c2", "c3", "c4"]
    pages = torq.calls("GET", f"{API}/cases/{ticket.id}/timeline")
    assert [r.query.get("pageSize") for r in pages] == ["2", "2", "2"]


# -- OAuth and errors ---------------------------------------------------------------------


async def test_oauth_token_is_cached_and_refreshed(torq_client: Client, torq: FakeTorq) -> None:
    ticket = await create(torq_client, summary="token")
    for _ in range(3):
        await get(torq_client, ticket.id)
    assert torq.tokens_issued == 1
    (grant,) = torq.calls("POST", "/v1/auth/token")
    expected = base64.b64encode(f"{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}".encode()).decode()
    assert grant.headers["Authorization"] == f"Basic {expected}"
    assert grant.form == {"grant_type": "client_credentials"}

    torq.expire_tokens()  # Torq: 302 for an expired token
    assert (await get(torq_client, ticket.id)).id == ticket.id
    assert torq.tokens_issued == 2
    assert [r.status for r in torq.calls("GET", f"{API}/cases")][-2:] == [302, 200]

    torq.revoke_tokens()  # 401: not valid any more
    assert (await get(torq_client, ticket.id)).id == ticket.id
    assert torq.tokens_issued == 3

    torq.token_lifetime = 1
    torq.revoke_tokens()
    await get(torq_client, ticket.id)  # fetches a token that lives a second
    fetched = torq.tokens_issued
    await asyncio.sleep(1.0)
    await get(torq_client, ticket.id)
    assert torq.tokens_issued == fetched + 1, "renewed before it expired"
    assert torq.calls("GET", f"{API}/cases")[-1].status == 200


async def test_token_refused_and_expiry_loop(
    torq_admin: Client, torq: FakeTorq, torq_client: Client
) -> None:
    _, wrong = await create_integration(torq_admin, torq_integration(torq, secret="wrong"))
    error = await rpc_error(get(wrong, "1"))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "token request was refused" in (error.details() or "")
    assert torq.calls("GET", f"{API}/cases") == []
    torq.seed_case("x")
    torq.fail_next(302, times=2, path=f"{API}/cases")
    looped = await rpc_error(get(torq_client, "1"))
    assert looped.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "302" in (looped.details() or "")


async def test_default_token_url_is_the_api_origin(torq_admin: Client, torq: FakeTorq) -> None:
    _, client = await create_integration(torq_admin, torq_integration(torq, token_url=""))
    torq.seed_case("default token url")
    assert (await get(client, "1")).summary == "default token url"
    assert torq.tokens_issued == 1


async def test_401_404_429_then_success(torq_client: Client, torq: FakeTorq) -> None:
    ticket = await create(torq_client, summary="faults")
    before = torq.tokens_issued
    torq.fail_next(401, path=f"{API}/cases/{ticket.id}")
    assert (await get(torq_client, ticket.id)).id == ticket.id
    assert torq.tokens_issued == before + 1, "a 401 drops the token and fetches another"

    missing = await rpc_error(get(torq_client, "999"))
    assert missing.code() == grpc.StatusCode.NOT_FOUND
    assert "case 999 not found" in (missing.details() or "")

    torq.fail_next(429, retry_after=0, path=f"{API}/cases/{ticket.id}")
    assert (await get(torq_client, ticket.id)).id == ticket.id
    assert [r.status for r in torq.calls("GET", f"{API}/cases/{ticket.id}")][-2:] == [429, 200]

    torq.fail_next(429, retry_after=0, method="POST", path=f"{API}/cases/{ticket.id}/timeline")
    comment = await torq_client.ticketing.CreateComment(
        Req.CreateCommentRequest(comment=ticket_pb2.Comment(ticket_id=ticket.id, content="ok")),
        metadata=torq_client.metadata,
    )
    assert comment.content == "ok"

    torq.fail_next(429, times=10, retry_after=0, path=f"{API}/cases/{ticket.id}")
    limited = await rpc_error(get(torq_client, ticket.id))
    assert limited.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    torq.faults.clear()

    torq.fail_next(403, path=f"{API}/cases/{ticket.id}")
    denied = await rpc_error(get(torq_client, ticket.id))
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED

    torq.fail_next(malformed=True, path=f"{API}/cases/{ticket.id}")
    broken = await rpc_error(get(torq_client, ticket.id))
    assert broken.code() == grpc.StatusCode.UNAVAILABLE
    assert (await get(torq_client, ticket.id)).id == ticket.id
