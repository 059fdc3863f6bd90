"""The event path end to end over real sockets: webhooks into the sidecar,
SubscribeEvents through the generated stubs, deliveries to a real receiver."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from aiohttp import web
from ticketing.v1 import events_pb2, integrations_pb2, ticket_pb2, ticketing_pb2

from ticketing_grpc.server import Server, start

from .conftest import Client, create_integration, mock_integration, settings_for

SECRET = "jira-inbound-secret"


def jira_integration(**extra: Any) -> integrations_pb2.Integration:
    return integrations_pb2.Integration(
        name="jira",
        jira=integrations_pb2.JiraConfig(
            url="https://acme.atlassian.net",
            credential=integrations_pb2.Credential(
                basic=integrations_pb2.BasicCredential(username="a@acme.org", secret="api-token")
            ),
        ),
        **extra,
    )


def jira_body(event: str = "jira:issue_created", key: str = "TST-123") -> bytes:
    payload = {
        "timestamp": 1727700394123,
        "webhookEvent": event,
        "issue_event_type_name": "issue_created",
        "user": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Ann"},
        "issue": {
            "id": "10002",
            "key": key,
            "fields": {
                "summary": "Test issue 123",
                "priority": {"name": "Medium"},
                "created": "2024-09-30T12:26:34.123+0700",
                "updated": "2024-09-30T12:27:00.000+0700",
            },
        },
    }
    # Odd spacing on purpose: raw_payload must keep the body byte for byte.
    return json.dumps(payload, indent=1).encode()


class Subscriber:
    """A SubscribeEvents stream read in the background into a queue."""

    def __init__(self, client: Client, **request: Any) -> None:
        self.call = client.events.SubscribeEvents(
            events_pb2.SubscribeEventsRequest(**request), metadata=client.metadata
        )
        self.events: asyncio.Queue[events_pb2.TicketEvent] = asyncio.Queue()
        self.error: grpc.aio.AioRpcError | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Subscriber:
        await self.call.initial_metadata()
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        try:
            async for event in self.call:
                await self.events.put(event)
        except grpc.aio.AioRpcError as error:
            self.error = error

    async def take(self, n: int) -> list[events_pb2.TicketEvent]:
        async with asyncio.timeout(5):
            return [await self.events.get() for _ in range(n)]

    async def ended(self) -> grpc.aio.AioRpcError | None:
        assert self._task is not None
        await asyncio.wait_for(self._task, 5)
        return self.error

    async def __aexit__(self, *exc: object) -> None:
        self.call.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


async def create_ticket(client: Client, summary: str, **kw: Any) -> ticket_pb2.Ticket:
    return await client.ticketing.CreateTicket(
        ticketing_pb2.CreateTicketRequest(ticket=ticket_pb2.Ticket(summary=summary, **kw)),
        metadata=client.metadata,
    )


async def test_mock_raises_one_event_per_mutation(mock_client: Client) -> None:
    md = mock_client.metadata
    async with Subscriber(mock_client) as sub:
        ticket = await create_ticket(mock_client, "Disk full", priority=ticket_pb2.HIGH)
        await mock_client.ticketing.PatchTicket(
            ticketing_pb2.PatchTicketRequest(
                ticket=ticket_pb2.Ticket(id=ticket.id, status="Done"),
                update_mask={"paths": ["status"]},
            ),
            metadata=md,
        )
        comment = await mock_client.ticketing.CreateComment(
            ticketing_pb2.CreateCommentRequest(
                comment=ticket_pb2.Comment(ticket_id=ticket.id, content="on it")
            ),
            metadata=md,
        )
        await mock_client.ticketing.CreateNote(
            ticketing_pb2.CreateNoteRequest(
                note=ticket_pb2.Note(ticket_id=ticket.id, content="internal")
            ),
            metadata=md,
        )
        await mock_client.ticketing.DeleteComment(
            ticketing_pb2.DeleteCommentRequest(ticket_id=ticket.id, comment_id=comment.id),
            metadata=md,
        )
        events = await sub.take(4)
        await asyncio.sleep(0.2)
        assert sub.events.empty(), "notes must raise no event"
    assert [e.event_type for e in events] == [
        events_pb2.TICKET_CREATED,
        events_pb2.TICKET_UPDATED,
        events_pb2.TICKET_COMMENT_CREATED,
        events_pb2.TICKET_COMMENT_DELETED,
    ]
    assert {e.ticket_id for e in events} == {ticket.id}
    assert [e.sequence for e in events] == sorted({e.sequence for e in events})
    created = events[0]
    assert created.priority == ticket_pb2.HIGH and created.short_description == "Disk full"
    assert json.loads(created.raw_payload)["summary"] == "Disk full"
    assert json.loads(events[2].raw_payload)["content"] == "on it"
    assert created.received_at.seconds > 0 and created.id


async def test_replay_then_live_without_gap_or_duplicate(mock_client: Client) -> None:
    first = [await create_ticket(mock_client, f"t{i}") for i in range(3)]
    async with Subscriber(mock_client, after_sequence=0) as everything:
        replayed = await everything.take(3)
    assert [e.ticket_id for e in replayed] == [t.id for t in first]

    start_after = replayed[0].sequence
    writer = asyncio.gather(*(create_ticket(mock_client, f"live{i}") for i in range(20)))
    async with Subscriber(mock_client, after_sequence=start_after) as sub:
        got = await sub.take(22)
        await writer
        await asyncio.sleep(0.2)
        assert sub.events.empty()
    sequences = [e.sequence for e in got]
    assert sequences == sorted(set(sequences)), "out of order or duplicated"
    assert sequences[0] == replayed[1].sequence
    assert {e.short_description for e in got} >= {f"live{i}" for i in range(20)}


async def test_event_filter_and_isolation(admin: Client, mock_client: Client) -> None:
    _, other = await create_integration(admin, mock_integration())
    async with (
        Subscriber(mock_client, event_filter=[events_pb2.TICKET_UPDATED]) as updates,
        Subscriber(other) as bystander,
    ):
        ticket = await create_ticket(mock_client, "filtered")
        await mock_client.ticketing.PatchTicket(
            ticketing_pb2.PatchTicketRequest(
                ticket=ticket_pb2.Ticket(id=ticket.id, summary="renamed"),
                update_mask={"paths": ["summary"]},
            ),
            metadata=mock_client.metadata,
        )
        (only,) = await updates.take(1)
        await asyncio.sleep(0.2)
        assert updates.events.empty() and bystander.events.empty()
    assert only.event_type == events_pb2.TICKET_UPDATED
    assert only.short_description == "renamed"


async def test_subscribe_validation(mock_client: Client) -> None:
    for request in ({"event_filter": [0]}, {"after_sequence": -1}):
        call = mock_client.events.SubscribeEvents(
            events_pb2.SubscribeEventsRequest(**request), metadata=mock_client.metadata
        )
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call.read()
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    call = mock_client.events.SubscribeEvents(events_pb2.SubscribeEventsRequest())
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call.read()
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.fixture
async def jira(admin: Client) -> Client:
    _, client = await create_integration(admin, jira_integration(inbound_webhook_secret=SECRET))
    return client


@pytest.fixture
async def http(server: Server) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    async with aiohttp.ClientSession() as session:
        yield session, f"http://127.0.0.1:{server.http_port}/v1/hooks"


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {
        "X-Hub-Signature": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    }


async def test_jira_webhook_becomes_an_event(
    jira: Client, http: tuple[aiohttp.ClientSession, str]
) -> None:
    session, url = http
    body = jira_body()
    async with Subscriber(jira) as sub:
        headers = {"TOKEN": jira.token, "X-Atlassian-Webhook-Identifier": "42", **signed(body)}
        async with session.post(url, data=body, headers=headers) as response:
            assert response.status == 202
        async with session.post(url, data=body, headers=headers) as response:
            assert response.status == 202, "a retry is accepted but not a second event"
        (event,) = await sub.take(1)
        await asyncio.sleep(0.2)
        assert sub.events.empty()
    assert event.event_type == events_pb2.TICKET_CREATED
    assert event.ticket_id == "TST-123"
    assert event.entity_date == "2024-09-30T12:26:34.123+0700"
    assert event.priority == ticket_pb2.MEDIUM
    assert event.short_description == "Test issue 123"
    assert event.raw_payload.encode() == body


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, None, 401),
        ({"TOKEN": "tgi_wrong"}, None, 401),
        ({"TOKEN": "{token}"}, None, 401),
        ({"TOKEN": "{token}", "X-Hub-Signature": "sha256=00"}, None, 401),
        ({"TOKEN": "{token}", "sig": "1"}, b"{not json", 400),
    ],
)
async def test_refused_webhooks_record_nothing(
    jira: Client,
    http: tuple[aiohttp.ClientSession, str],
    headers: dict[str, str],
    body: bytes | None,
    status: int,
) -> None:
    session, url = http
    payload = body if body is not None else jira_body()
    sent = {k: v.format(token=jira.token) for k, v in headers.items() if k != "sig"}
    if "sig" in headers:
        sent |= signed(payload)
    async with session.post(url, data=payload, headers=sent) as response:
        assert response.status == status
    async with Subscriber(jira, after_sequence=0) as sub:
        await asyncio.sleep(0.2)
        assert sub.events.empty()


async def test_oversized_and_unmapped_webhooks(
    jira: Client, http: tuple[aiohttp.ClientSession, str]
) -> None:
    session, url = http
    big = b'{"x": "' + b"a" * (10 * 1024 * 1024) + b'"}'
    async with session.post(url, data=big, headers={"TOKEN": jira.token}) as response:
        assert response.status == 413
    body = jira_body("worklog_created")
    headers = {"TOKEN": jira.token, **signed(body)}
    async with session.post(url, data=body, headers=headers) as response:
        assert response.status == 202
    async with Subscriber(jira, after_sequence=0) as sub:
        await asyncio.sleep(0.2)
        assert sub.events.empty()


async def test_token_query_parameter_for_senders_without_headers(
    jira: Client, http: tuple[aiohttp.ClientSession, str]
) -> None:
    session, url = http
    body = jira_body("jira:issue_deleted", key="TST-9")
    async with session.post(
        url, params={"token": jira.token}, data=body, headers=signed(body)
    ) as r:
        assert r.status == 202
    async with Subscriber(jira, after_sequence=0) as sub:
        (event,) = await sub.take(1)
    assert (event.event_type, event.ticket_id) == (events_pb2.TICKET_DELETED, "TST-9")
    assert event.entity_date == "2024-09-30T12:27:00.000+0700"


async def test_shutdown_ends_streams_with_unavailable(tmp_path: Path) -> None:
    server = await start(settings_for(tmp_path / "data"))
    stopped = False
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            admin = Client(channel, server.settings.admin_token or "")
            _, client = await create_integration(admin, mock_integration())
            async with Subscriber(client) as sub:
                await server.stop()
                stopped = True
                error = await sub.ended()
            assert error is not None and error.code() == grpc.StatusCode.UNAVAILABLE
            assert "after_sequence" in (error.details() or "")
    finally:
        if not stopped:
            await server.stop()


async def test_slow_subscriber_is_ended_with_resource_exhausted(tmp_path: Path) -> None:
    server = await start(settings_for(tmp_path / "data", subscriber_queue=3))
    try:
        async with grpc.aio.insecure_channel(
            f"127.0.0.1:{server.grpc_port}",
            options=[("grpc.http2.lookahead_bytes", 1024), ("grpc.max_receive_message_length", -1)],
        ) as channel:
            admin = Client(channel, server.settings.admin_token or "")
            _, client = await create_integration(admin, mock_integration())
            call = client.events.SubscribeEvents(
                events_pb2.SubscribeEventsRequest(), metadata=client.metadata
            )
            await call.initial_metadata()
            big = "x" * 200_000
            for i in range(60):
                await create_ticket(client, f"flood {i}", description=big)
            got: list[int] = []
            with pytest.raises(grpc.aio.AioRpcError) as info:
                async for event in call:
                    got.append(event.sequence)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert f"after_sequence={got[-1]}" in (info.value.details() or "")
            assert len(got) < 60
    finally:
        await server.stop()


class Receiver:
    """A real HTTP webhook receiver that records requests and answers `status`."""

    def __init__(self) -> None:
        self.status = 200
        self.delay = 0.0
        self.released = asyncio.Event()
        self.requests: asyncio.Queue[tuple[dict[str, str], bytes]] = asyncio.Queue()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> Receiver:
        async def hook(request: web.Request) -> web.Response:
            await self.requests.put((dict(request.headers), await request.read()))
            if self.delay:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.released.wait(), self.delay)
            return web.Response(status=self.status)

        app = web.Application()
        app.router.add_post("/hook", hook)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def take(self) -> tuple[dict[str, str], bytes]:
        return await asyncio.wait_for(self.requests.get(), 5)

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        self.released.set()
        await self.runner.cleanup()


SIGNING = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


async def test_deliveries_are_signed_and_filtered(admin: Client) -> None:
    from standardwebhooks import Webhook

    async with Receiver() as all_events, Receiver() as comments_only:
        integration = mock_integration()
        integration.webhooks.add(webhook_url=all_events.url, signing_secret=SIGNING)
        integration.webhooks.add(
            webhook_url=comments_only.url, event_filter=[events_pb2.TICKET_COMMENT_CREATED]
        )
        _, client = await create_integration(admin, integration)
        ticket = await create_ticket(client, "Deliver me", priority=ticket_pb2.CRITICAL)
        await client.ticketing.CreateComment(
            ticketing_pb2.CreateCommentRequest(
                comment=ticket_pb2.Comment(ticket_id=ticket.id, content="hi")
            ),
            metadata=client.metadata,
        )
        first_headers, first_body = await all_events.take()
        second_headers, _ = await all_events.take()
        comment_headers, comment_body = await comments_only.take()

    payload = Webhook(SIGNING).verify(first_body, first_headers)
    assert payload["event_type"] == "TicketCreated"
    assert payload["ticket_id"] == ticket.id
    assert payload["priority"] == "CRITICAL"
    assert payload["short_description"] == "Deliver me"
    assert payload["raw_payload"]["summary"] == "Deliver me"
    assert payload["sequence"] >= 1 and payload["id"]
    assert first_headers["webhook-id"] != second_headers["webhook-id"]
    assert "webhook-signature" not in comment_headers
    assert json.loads(comment_body)["event_type"] == "TicketCommentCreated"


@pytest.mark.parametrize("in_flight", [False, True])
async def test_pending_deliveries_survive_a_restart(tmp_path: Path, in_flight: bool) -> None:
    """Whether the attempt had failed or was still waiting for the receiver at
    shutdown, the next start delivers it, with the same webhook-id."""
    settings = settings_for(tmp_path / "data")
    async with Receiver() as receiver:
        receiver.status = 503
        receiver.delay = 30.0 if in_flight else 0.0
        server = await start(settings)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
                admin = Client(channel, settings.admin_token or "")
                integration = mock_integration()
                integration.webhooks.add(webhook_url=receiver.url)
                stored, client = await create_integration(admin, integration)
                await create_ticket(client, "survive")
                failed_headers, _ = await receiver.take()
        finally:
            await server.stop()

        receiver.status, receiver.delay = 200, 0.0
        server = await start(settings)
        try:
            headers, body = await asyncio.wait_for(receiver.take(), 10)
            assert headers["webhook-id"] == failed_headers["webhook-id"]
            assert json.loads(body)["short_description"] == "survive"
            for _ in range(100):
                if await server.store.count_deliveries(stored.id) == 0:
                    break
                await asyncio.sleep(0.05)
            assert await server.store.count_deliveries(stored.id) == 0
        finally:
            await server.stop()


async def test_metrics_count_calls_webhooks_and_events(
    server: Server, jira: Client, http: tuple[aiohttp.ClientSession, str]
) -> None:
    session, url = http
    body = jira_body()
    async with session.post(url, data=body, headers={"TOKEN": jira.token, **signed(body)}) as r:
        assert r.status == 202
    async with session.post(url, data=body, headers={"TOKEN": "wrong"}) as r:
        assert r.status == 401
    with pytest.raises(grpc.aio.AioRpcError):
        await jira.ticketing.GetTicket(
            ticketing_pb2.GetTicketRequest(ticket_id=""), metadata=jira.metadata
        )
    metrics_url = f"http://127.0.0.1:{server.http_port}/metrics"
    async with session.get(metrics_url) as response:
        text = await response.text()
    assert 'ticketing_webhooks_received_total{status="202"} 1' in text
    assert 'ticketing_webhooks_received_total{status="401"} 1' in text
    assert 'ticketing_events_total{type="TICKET_CREATED"} 1' in text
    assert (
        'ticketing_grpc_requests_total{code="OK",'
        'method="/ticketing.v1.IntegrationService/CreateIntegration"} 1'
    ) in text
    assert 'method="/ticketing.v1.TicketingService/GetTicket"' in text
    assert "ticketing_event_subscribers 0" in text
