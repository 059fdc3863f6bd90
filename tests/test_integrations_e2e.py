"""IntegrationService and authentication, end to end through the real server and stubs."""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from ticketing.v1 import (
    events_pb2,
    integrations_pb2,
    providers_pb2,
    ticket_pb2,
    ticketing_pb2,
)

from ticketing_grpc.server import Server, start

from .conftest import ADMIN_TOKEN, Client, create_integration, mock_integration, settings_for

REDACTED = "REDACTED"
JIRA_SECRET = "jira-api-token-Zq8vN3xK0pWm7rT2"
SIGNING_KEY = bytes(range(0x41, 0x41 + 32))  # 32 recognisable bytes: b"ABCD...`"
SIGNING_SECRET = "whsec_" + base64.b64encode(SIGNING_KEY).decode()
INBOUND_SECRET = "inbound-hmac-key-Hv5cR9sLw2Yd4"
SECRETS = (JIRA_SECRET, SIGNING_SECRET, INBOUND_SECRET)


# ---------------------------------------------------------------- helpers


async def expect_error(
    call: Awaitable[Any], code: grpc.StatusCode, *fragments: str
) -> grpc.aio.AioRpcError:
    """Await a unary call that must fail with `code` and a message naming every fragment."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    error = caught.value
    assert error.code() == code, (error.code(), error.details())
    details = error.details() or ""
    for fragment in fragments:
        assert fragment in details, f"{fragment!r} not in {details!r}"
    return error


async def expect_stream_error(
    stream: grpc.aio.UnaryStreamCall, code: grpc.StatusCode, *fragments: str
) -> None:
    async def drain() -> None:
        async for _ in stream:
            pass

    await expect_error(drain(), code, *fragments)


async def integration_ids(admin: Client) -> list[str]:
    response = await admin.integrations.ListIntegrations(
        integrations_pb2.ListIntegrationsRequest(), metadata=admin.metadata
    )
    return [i.id for i in response.integrations]


async def get(admin: Client, integration_id: str) -> integrations_pb2.Integration:
    got: integrations_pb2.Integration = await admin.integrations.GetIntegration(
        integrations_pb2.GetIntegrationRequest(integration_id=integration_id),
        metadata=admin.metadata,
    )
    return got


def update(
    admin: Client, integration: integrations_pb2.Integration, *paths: str
) -> Awaitable[integrations_pb2.Integration]:
    return admin.integrations.UpdateIntegration(  # type: ignore[no-any-return]
        integrations_pb2.UpdateIntegrationRequest(
            integration=integration, update_mask=field_mask_pb2.FieldMask(paths=list(paths))
        ),
        metadata=admin.metadata,
    )


def create(admin: Client, integration: integrations_pb2.Integration) -> Awaitable[Any]:
    return admin.integrations.CreateIntegration(  # type: ignore[no-any-return]
        integrations_pb2.CreateIntegrationRequest(integration=integration),
        metadata=admin.metadata,
    )


async def expect_refused(
    admin: Client, integration: integrations_pb2.Integration, *fragments: str
) -> None:
    """Creating `integration` is INVALID_ARGUMENT naming `fragments`, and stores nothing."""
    before = await integration_ids(admin)
    await expect_error(create(admin, integration), grpc.StatusCode.INVALID_ARGUMENT, *fragments)
    assert await integration_ids(admin) == before


async def new_ticket(client: Client, summary: str, project: str = "") -> ticket_pb2.Ticket:
    created: ticket_pb2.Ticket = await client.ticketing.CreateTicket(
        ticketing_pb2.CreateTicketRequest(
            ticket=ticket_pb2.Ticket(summary=summary, project=project)
        ),
        metadata=client.metadata,
    )
    return created


def get_ticket(client: Client, ticket_id: str) -> Awaitable[ticket_pb2.Ticket]:
    return client.ticketing.GetTicket(  # type: ignore[no-any-return]
        ticketing_pb2.GetTicketRequest(ticket_id=ticket_id), metadata=client.metadata
    )


async def query_summaries(client: Client) -> list[str]:
    stream = client.ticketing.QueryTickets(
        ticketing_pb2.QueryTicketsRequest(), metadata=client.metadata
    )
    return [item.ticket.summary async for item in stream]


CLOSED_PORT = "http://127.0.0.1:9"
"""A provider URL that refuses connections at once (no traffic leaves the machine)."""


def jira_config(
    *,
    url: str = CLOSED_PORT,
    credential: integrations_pb2.Credential | None = None,
) -> integrations_pb2.JiraConfig:
    if credential is None:
        credential = integrations_pb2.Credential(
            basic=integrations_pb2.BasicCredential(username="ops@acme.test", secret=JIRA_SECRET)
        )
    return integrations_pb2.JiraConfig(
        url=url, credential=credential, default_project="OPS", default_issue_type="Task"
    )


def jira_integration(**overrides: Any) -> integrations_pb2.Integration:
    return integrations_pb2.Integration(
        name="jira",
        jira=jira_config(**overrides),
        webhooks=[
            integrations_pb2.WebhookTarget(
                webhook_url="https://hooks.example.com/ticketing",
                event_filter=[events_pb2.TICKET_CREATED],
                signing_secret=SIGNING_SECRET,
            )
        ],
        inbound_webhook_secret=INBOUND_SECRET,
    )


def zendesk_integration() -> integrations_pb2.Integration:
    """A provider of the contract whose plugin this build does not have."""
    return integrations_pb2.Integration(
        name="zendesk",
        zendesk=integrations_pb2.ZendeskConfig(
            url=CLOSED_PORT,
            credential=integrations_pb2.Credential(
                basic=integrations_pb2.BasicCredential(
                    username="agent@acme.test/token", secret="zendesk-api-token"
                )
            ),
        ),
    )


def with_webhook(url: str, signing_secret: str = "") -> integrations_pb2.Integration:
    integration = mock_integration()
    integration.webhooks.add(webhook_url="https://hooks.example.com/ok")
    integration.webhooks.add(webhook_url=url, signing_secret=signing_secret)
    return integration


def assert_no_secrets(data: bytes, what: str) -> None:
    for secret in SECRETS:
        assert secret.encode() not in data, f"{what} holds a secret"
    assert SIGNING_KEY not in data, f"{what} holds the signing key"


def assert_redacted(integration: integrations_pb2.Integration) -> None:
    assert_no_secrets(integration.SerializeToString(), "response")
    assert integration.jira.credential.basic.secret == REDACTED
    assert integration.jira.credential.basic.username == "ops@acme.test"
    assert integration.webhooks[0].signing_secret == REDACTED
    assert integration.webhooks[0].webhook_url == "https://hooks.example.com/ticketing"
    assert integration.inbound_webhook_secret == REDACTED


@pytest.fixture
async def strict_admin(tmp_path: Path) -> AsyncIterator[Client]:
    """A second server that refuses private and loopback targets (the production default)."""
    running = await start(settings_for(tmp_path / "strict", allow_private_targets=False))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.grpc_port}") as channel:
            yield Client(channel, ADMIN_TOKEN)
    finally:
        await running.stop()


# ---------------------------------------------------------------- authentication


def _integration_calls(
    stub: Any, integration_id: str
) -> list[tuple[str, Callable[..., Awaitable[Any]], Any]]:
    return [
        ("Create", stub.CreateIntegration, integrations_pb2.CreateIntegrationRequest(
            integration=mock_integration()
        )),
        ("Get", stub.GetIntegration, integrations_pb2.GetIntegrationRequest(
            integration_id=integration_id
        )),
        ("List", stub.ListIntegrations, integrations_pb2.ListIntegrationsRequest()),
        ("Update", stub.UpdateIntegration, integrations_pb2.UpdateIntegrationRequest(
            integration=integrations_pb2.Integration(id=integration_id, name="hijacked"),
            update_mask=field_mask_pb2.FieldMask(paths=["name"]),
        )),
        ("Delete", stub.DeleteIntegration, integrations_pb2.DeleteIntegrationRequest(
            integration_id=integration_id
        )),
    ]  # fmt: skip


async def test_integration_service_needs_the_admin_token(
    admin: Client, mock_client: Client
) -> None:
    (existing,) = await integration_ids(admin)
    bad_metadata: list[tuple[tuple[str, str], ...] | None] = [
        None,
        (("authorization", "Bearer wrong-token"),),
        (("authorization", f"Bearer {mock_client.token}"),),  # an integration token
        (("authorization", f"Basic {ADMIN_TOKEN}"),),  # not a bearer token
        (("authorization", "Bearer "),),
        (("authorization", f"Bearer {ADMIN_TOKEN}x"),),
    ]
    for metadata in bad_metadata:
        for name, method, request in _integration_calls(admin.integrations, existing):
            error = await expect_error(
                method(request, metadata=metadata), grpc.StatusCode.UNAUTHENTICATED, "token"
            )
            assert ADMIN_TOKEN not in (error.details() or ""), name
    # Nothing happened: no new integration, the old one untouched and still working.
    assert await integration_ids(admin) == [existing]
    assert (await get(admin, existing)).name == "mock"
    await new_ticket(mock_client, "still works")


async def test_wrong_admin_token_message_names_admin_token(
    admin: Client, mock_client: Client
) -> None:
    await expect_error(
        admin.as_token(mock_client.token).integrations.ListIntegrations(
            integrations_pb2.ListIntegrationsRequest(),
            metadata=admin.as_token(mock_client.token).metadata,
        ),
        grpc.StatusCode.UNAUTHENTICATED,
        "admin token",
    )


async def test_ticketing_service_needs_an_integration_token(
    admin: Client, mock_client: Client
) -> None:
    created = await new_ticket(mock_client, "mine")
    for token in (ADMIN_TOKEN, "tgi_" + "A" * 43, mock_client.token + "x"):
        other = mock_client.as_token(token)
        await expect_error(get_ticket(other, created.id), grpc.StatusCode.UNAUTHENTICATED, "token")
        await expect_error(new_ticket(other, "intruder"), grpc.StatusCode.UNAUTHENTICATED, "token")
        await expect_stream_error(
            other.ticketing.QueryTickets(
                ticketing_pb2.QueryTicketsRequest(), metadata=other.metadata
            ),
            grpc.StatusCode.UNAUTHENTICATED,
            "token",
        )
    await expect_error(
        mock_client.ticketing.GetTicket(ticketing_pb2.GetTicketRequest(ticket_id=created.id)),
        grpc.StatusCode.UNAUTHENTICATED,
        "authorization",
    )
    assert await query_summaries(mock_client) == ["mine"]


async def test_list_providers_needs_no_token(admin: Client) -> None:
    response = await admin.providers.ListProviders(providers_pb2.ListProvidersRequest())
    ids = [p.id for p in response.providers]
    assert "ticketing_mock_ticketing" in ids
    mock = next(p for p in response.providers if p.id == "ticketing_mock_ticketing")
    assert "create_ticket" in mock.operators


# ---------------------------------------------------------------- access tokens


async def test_access_token_is_random_and_returned_only_once(server: Server, admin: Client) -> None:
    tokens = []
    for _ in range(3):
        response = await create(admin, mock_integration())
        tokens.append((response.integration.id, response.access_token))
    assert len({token for _, token in tokens}) == 3
    for _, token in tokens:
        assert token.isascii() and token.isprintable() and " " not in token
        body = token.split("_", 1)[1] if token.startswith("tgi_") else token
        assert len(body) >= 43, "fewer than 32 bytes of randomness"
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        assert len(raw) >= 32
        assert len(set(raw)) >= 20, "the token bytes do not look random"

    listed = await admin.integrations.ListIntegrations(
        integrations_pb2.ListIntegrationsRequest(), metadata=admin.metadata
    )
    assert [i.id for i in listed.integrations] == [iid for iid, _ in tokens]
    for integration_id, token in tokens:
        got = await get(admin, integration_id)
        assert token.encode() not in got.SerializeToString()
        assert token.encode() not in listed.SerializeToString()
        # The store keeps only a hash.
        row = await server.store.get_integration(integration_id)
        assert row is not None
        assert token.encode() not in row.config and token.encode() not in row.token_hash
    data_dir = server.settings.data_dir
    for path in data_dir.iterdir():
        for _, token in tokens:
            assert token.encode() not in path.read_bytes(), path.name


async def test_deleted_integration_token_stops_at_once(admin: Client) -> None:
    first, client = await create_integration(admin, mock_integration())
    _, other = await create_integration(admin, mock_integration("OTHER"))
    ticket = await new_ticket(client, "before delete")
    await get_ticket(client, ticket.id)  # the token is cached now
    await admin.integrations.DeleteIntegration(
        integrations_pb2.DeleteIntegrationRequest(integration_id=first.id),
        metadata=admin.metadata,
    )
    await expect_error(get_ticket(client, ticket.id), grpc.StatusCode.UNAUTHENTICATED, "token")
    await expect_error(new_ticket(client, "after"), grpc.StatusCode.UNAUTHENTICATED)
    await expect_stream_error(
        client.ticketing.QueryTickets(
            ticketing_pb2.QueryTicketsRequest(), metadata=client.metadata
        ),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    await expect_error(get(admin, first.id), grpc.StatusCode.NOT_FOUND, first.id)
    assert first.id not in await integration_ids(admin)
    # Other integrations are not affected.
    assert (await new_ticket(other, "unaffected")).id.startswith("OTHER-")


async def test_delete_racing_a_first_lookup_still_revokes_the_token(
    server: Server, admin: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token looked up (not yet cached) while its integration is deleted must not be
    cached after the delete."""
    created, client = await create_integration(admin, mock_integration())
    store = server.store
    original = store.find_integration_by_token_hash
    found, proceed = asyncio.Event(), asyncio.Event()

    async def slow_lookup(token_hash: bytes) -> Any:
        row = await original(token_hash)
        found.set()
        await proceed.wait()
        return row

    monkeypatch.setattr(store, "find_integration_by_token_hash", slow_lookup)
    in_flight = asyncio.ensure_future(get_ticket(client, "OPS-404"))
    await asyncio.wait_for(found.wait(), 5)
    deleting = asyncio.ensure_future(
        admin.integrations.DeleteIntegration(
            integrations_pb2.DeleteIntegrationRequest(integration_id=created.id),
            metadata=admin.metadata,
        )
    )
    await asyncio.sleep(0.2)  # the delete reaches the store while the lookup is held
    proceed.set()
    await asyncio.wait_for(deleting, 5)
    with pytest.raises(grpc.aio.AioRpcError):
        await in_flight  # NOT_FOUND or UNAUTHENTICATED; it raced the delete
    monkeypatch.setattr(store, "find_integration_by_token_hash", original)
    await expect_error(get_ticket(client, "OPS-1"), grpc.StatusCode.UNAUTHENTICATED)


async def test_a_token_sees_only_its_own_integration(admin: Client) -> None:
    _, alpha = await create_integration(admin, mock_integration("ALPHA"))
    _, beta = await create_integration(admin, mock_integration("BETA"))
    a1 = await new_ticket(alpha, "alpha one")
    await new_ticket(alpha, "alpha two")
    await expect_error(get_ticket(beta, a1.id), grpc.StatusCode.NOT_FOUND, a1.id)
    await expect_error(
        beta.ticketing.PatchTicket(
            ticketing_pb2.PatchTicketRequest(
                ticket=ticket_pb2.Ticket(id=a1.id, summary="hijacked"),
                update_mask=field_mask_pb2.FieldMask(paths=["summary"]),
            ),
            metadata=beta.metadata,
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    # Same project, same id (ids count per integration): still separate tickets.
    b_in_alpha_project = await new_ticket(beta, "beta in ALPHA", project="ALPHA")
    assert b_in_alpha_project.id == a1.id
    b1 = await new_ticket(beta, "beta one")
    assert b1.id.startswith("BETA-")
    assert (await get_ticket(alpha, a1.id)).summary == "alpha one"
    assert (await get_ticket(beta, a1.id)).summary == "beta in ALPHA"
    await expect_error(get_ticket(alpha, b1.id), grpc.StatusCode.NOT_FOUND)
    assert sorted(await query_summaries(alpha)) == ["alpha one", "alpha two"]
    assert sorted(await query_summaries(beta)) == ["beta in ALPHA", "beta one"]


# ---------------------------------------------------------------- CRUD


async def test_create_get_list_delete(admin: Client) -> None:
    response = await create(
        admin,
        mock_integration(mappings=(("*", "effort", "fields/effort"), ("SEC", "sev", "sec_sev"))),
    )
    created = response.integration
    assert created.id and created.provider == "ticketing_mock_ticketing"
    assert created.mock.default_project == "OPS"
    assert created.created_at.seconds > 0 and created.updated_at == created.created_at
    assert created.inbound_webhook_secret == ""  # unset secrets stay unset
    got = await get(admin, created.id)
    assert got == created
    assert [(m.project_id, m.name, m.provider_field_path) for m in got.custom_field_mappings] == [
        ("*", "effort", "fields/effort"),
        ("SEC", "sev", "sec_sev"),
    ]
    second, _ = await create_integration(admin, jira_integration())
    assert second.provider == "ticketing_jira"
    assert await integration_ids(admin) == [created.id, second.id]  # oldest first

    await admin.integrations.DeleteIntegration(
        integrations_pb2.DeleteIntegrationRequest(integration_id=created.id),
        metadata=admin.metadata,
    )
    assert await integration_ids(admin) == [second.id]


async def test_list_is_in_creation_order_even_within_one_millisecond(admin: Client) -> None:
    created = [(await create(admin, mock_integration())).integration for _ in range(25)]
    assert await integration_ids(admin) == [i.id for i in created]


async def test_create_ignores_output_only_fields(admin: Client) -> None:
    integration = mock_integration()
    integration.id = "chosen-by-client"
    integration.provider = "ticketing_jira"
    created, _ = await create_integration(admin, integration)
    assert created.id != "chosen-by-client"
    assert created.provider == "ticketing_mock_ticketing"


async def test_unknown_ids_are_not_found(admin: Client) -> None:
    for unknown in ("does-not-exist", str(uuid.uuid4())):
        await expect_error(get(admin, unknown), grpc.StatusCode.NOT_FOUND, unknown)
        await expect_error(
            update(admin, integrations_pb2.Integration(id=unknown, name="x"), "name"),
            grpc.StatusCode.NOT_FOUND,
            unknown,
        )
        await expect_error(
            admin.integrations.DeleteIntegration(
                integrations_pb2.DeleteIntegrationRequest(integration_id=unknown),
                metadata=admin.metadata,
            ),
            grpc.StatusCode.NOT_FOUND,
            unknown,
        )
    created, _ = await create_integration(admin, mock_integration())
    delete = integrations_pb2.DeleteIntegrationRequest(integration_id=created.id)
    await admin.integrations.DeleteIntegration(delete, metadata=admin.metadata)
    await expect_error(
        admin.integrations.DeleteIntegration(delete, metadata=admin.metadata),
        grpc.StatusCode.NOT_FOUND,
        created.id,
    )
    await expect_error(get(admin, ""), grpc.StatusCode.INVALID_ARGUMENT, "integration_id")
    await expect_error(
        update(admin, integrations_pb2.Integration(name="x"), "name"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "integration.id",
    )


# ---------------------------------------------------------------- validation


async def test_config_validation(admin: Client) -> None:
    await expect_error(
        admin.integrations.CreateIntegration(
            integrations_pb2.CreateIntegrationRequest(), metadata=admin.metadata
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "integration",
    )
    assert await integration_ids(admin) == []
    await expect_refused(admin, integrations_pb2.Integration(name="none"), "config", "jira")
    await expect_refused(admin, jira_integration(url=""), "jira.url")
    no_credential = jira_integration()
    no_credential.jira.ClearField("credential")
    await expect_refused(admin, no_credential, "jira.credential", "basic", "token")
    empty_credential = jira_integration(credential=integrations_pb2.Credential())
    await expect_refused(admin, empty_credential, "jira.credential")
    oauth = integrations_pb2.Credential(
        oauth_client=integrations_pb2.OAuthClientCredential(client_id="c", client_secret="s")
    )
    await expect_refused(
        admin, jira_integration(credential=oauth), "jira.credential.oauth_client", "not accepted"
    )
    no_secret = integrations_pb2.Credential(
        basic=integrations_pb2.BasicCredential(username="ops@acme.test")
    )
    await expect_refused(
        admin, jira_integration(credential=no_secret), "jira.credential.basic.secret"
    )
    no_user = integrations_pb2.Credential(basic=integrations_pb2.BasicCredential(secret="s"))
    await expect_refused(
        admin, jira_integration(credential=no_user), "jira.credential.basic.username"
    )
    await expect_refused(admin, jira_integration(url="ftp://acme.atlassian.net"), "jira.url")
    await expect_refused(
        admin, jira_integration(url="https://user:pw@acme.atlassian.net"), "jira.url"
    )
    servicenow = integrations_pb2.Integration(
        name="sn",
        servicenow=integrations_pb2.ServiceNowConfig(url="https://acme.service-now.com"),
    )
    await expect_refused(admin, servicenow, "servicenow.credential")
    # PagerDuty has a default URL, so only the credential is needed.
    pagerduty = integrations_pb2.Integration(
        name="pd",
        pagerduty=integrations_pb2.PagerDutyConfig(
            credential=integrations_pb2.Credential(
                token=integrations_pb2.TokenCredential(secret="k")
            )
        ),
    )
    created, _ = await create_integration(admin, pagerduty)
    assert created.provider == "ticketing_pagerduty"
    assert await integration_ids(admin) == [created.id]


async def test_custom_field_mapping_validation(admin: Client) -> None:
    await expect_refused(
        admin, mock_integration(mappings=(("*", "bad-name", "f"),)), "custom_field_mappings[0].name"
    )
    await expect_refused(
        admin,
        mock_integration(mappings=(("*", "ok", "f"), ("*", "1st", "g"))),
        "custom_field_mappings[1].name",
    )
    await expect_refused(
        admin, mock_integration(mappings=(("*", "", "f"),)), "custom_field_mappings[0].name"
    )
    await expect_refused(
        admin,
        mock_integration(mappings=(("", "effort", "f"),)),
        "custom_field_mappings[0].project_id",
    )
    await expect_refused(
        admin,
        mock_integration(
            mappings=(("OPS", "effort", "a"), ("*", "effort", "b"), ("OPS", "effort", "c"))
        ),
        "custom_field_mappings[2]",
        "effort",
        "OPS",
    )


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/x",
        "hooks.example.com/x",
        "",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https://",
    ],
)
async def test_webhook_url_must_be_http(admin: Client, url: str) -> None:
    await expect_refused(admin, with_webhook(url), "webhooks[1].webhook_url")


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5/hook",
        "https://127.0.0.1:8443/hook",
        "http://localhost:9000/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://192.168.1.20/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        # Spellings a resolver turns into loopback.
        "http://localhost./hook",
        "http://api.localhost/hook",
        "http://127.1/hook",
        "http://2130706433/hook",
        "http://0x7f000001/hook",
    ],
)
async def test_private_webhook_targets_are_refused(strict_admin: Client, url: str) -> None:
    await expect_refused(strict_admin, with_webhook(url), "webhooks[1].webhook_url", "private")


async def test_private_provider_url_refused_public_accepted(strict_admin: Client) -> None:
    await expect_refused(
        strict_admin, jira_integration(url="http://10.0.0.5"), "jira.url", "private"
    )
    created, _ = await create_integration(strict_admin, with_webhook("https://hooks.example.com/b"))
    assert [h.webhook_url for h in created.webhooks][-1] == "https://hooks.example.com/b"


async def test_private_targets_allowed_when_configured(admin: Client) -> None:
    created, _ = await create_integration(admin, with_webhook("http://127.0.0.1:9/hook"))
    assert created.webhooks[1].webhook_url == "http://127.0.0.1:9/hook"


@pytest.mark.parametrize(
    "secret",
    [
        "plain-secret",
        "whsec_***not base64***",
        "whsec_" + base64.b64encode(b"too short").decode(),
        "whsec_",
    ],
)
async def test_bad_signing_secret(admin: Client, secret: str) -> None:
    await expect_refused(
        admin, with_webhook("https://hooks.example.com/s", secret), "webhooks[1].signing_secret"
    )


async def test_bad_event_filter(admin: Client) -> None:
    integration = with_webhook("https://hooks.example.com/s")
    integration.webhooks[1].event_filter.append(events_pb2.EVENT_TYPE_UNSPECIFIED)
    await expect_refused(admin, integration, "webhooks[1].event_filter")


# ---------------------------------------------------------------- updates


async def test_update_name_only(admin: Client) -> None:
    created, _ = await create_integration(admin, mock_integration(mappings=(("*", "effort", "f"),)))
    await asyncio.sleep(0.002)
    updated = await update(
        admin, integrations_pb2.Integration(id=created.id, name="renamed"), "name"
    )
    assert updated.name == "renamed"
    assert updated.mock.default_project == "OPS"
    assert len(updated.custom_field_mappings) == 1
    assert updated.created_at == created.created_at
    assert updated.updated_at.ToDatetime() > created.updated_at.ToDatetime()
    assert await get(admin, created.id) == updated


async def test_update_default_project_takes_effect_for_the_next_call(admin: Client) -> None:
    created, client = await create_integration(admin, mock_integration("OPS"))
    assert (await new_ticket(client, "one")).id.startswith("OPS-")  # handle cached
    change = integrations_pb2.Integration(
        id=created.id, name="ignored", mock=integrations_pb2.MockConfig(default_project="NEW")
    )
    updated = await update(admin, change, "mock.default_project")
    assert updated.mock.default_project == "NEW"
    assert updated.name == "mock"  # not in the mask
    assert (await new_ticket(client, "two")).id.startswith("NEW-")


async def test_update_star_replaces_everything(admin: Client) -> None:
    created, client = await create_integration(
        admin, mock_integration(mappings=(("*", "effort", "f"),))
    )
    replacement = integrations_pb2.Integration(
        id=created.id, name="replaced", mock=integrations_pb2.MockConfig(default_project="REP")
    )
    updated = await update(admin, replacement, "*")
    assert updated.name == "replaced"
    assert updated.mock.default_project == "REP"
    assert list(updated.custom_field_mappings) == []
    assert updated.id == created.id and updated.provider == created.provider
    assert updated.created_at == created.created_at
    assert (await new_ticket(client, "after")).id.startswith("REP-")


async def test_refused_updates_change_nothing(admin: Client) -> None:
    created, _ = await create_integration(admin, mock_integration(mappings=(("*", "effort", "f"),)))
    before = await get(admin, created.id)
    one = integrations_pb2.Integration
    cases: list[tuple[integrations_pb2.Integration, list[str], tuple[str, ...]]] = [
        (one(provider="ticketing_jira"), ["provider"], ("provider",)),
        (one(), ["id"], ("id", "output only")),
        (one(), ["created_at"], ("created_at",)),
        (one(name="x"), ["name", "nonexistent"], ("nonexistent",)),
        (one(), ["mock.nope"], ("mock.nope",)),
        (one(name="x"), [], ("update_mask",)),
        (one(name="x"), ["*", "name"], ("*",)),
        # mock -> jira, by path and by replacing everything
        (one(jira=jira_config()), ["jira"], ("provider",)),
        (one(name="j", jira=jira_config()), ["*"], ("provider",)),
        # nothing set by `*`, or the config cleared
        (one(name="x"), ["*"], ("config",)),
        (one(), ["mock"], ("config",)),
        # invalid content
        (
            mock_integration(mappings=(("*", "bad name", "f"),)),
            ["custom_field_mappings"],
            ("custom_field_mappings[0].name",),
        ),
        (with_webhook("gopher://x"), ["webhooks"], ("webhooks[1].webhook_url",)),
    ]  # fmt: skip
    for change, paths, fragments in cases:
        change.id = created.id
        await expect_error(
            update(admin, change, *paths), grpc.StatusCode.INVALID_ARGUMENT, *fragments
        )
        assert await get(admin, created.id) == before, paths
    assert await integration_ids(admin) == [created.id]


async def test_redacted_placeholder_keeps_stored_secrets(server: Server, admin: Client) -> None:
    created, _ = await create_integration(admin, jira_integration())
    assert_redacted(created)

    async def stored() -> integrations_pb2.Integration:
        return await server.integrations.get(created.id)  # decrypted, unredacted

    # Send the redacted integration straight back, with a new name.
    echoed = await get(admin, created.id)
    echoed.name = "renamed"
    updated = await update(admin, echoed, "*")
    assert_redacted(updated)
    assert updated.name == "renamed"
    raw = await stored()
    assert raw.jira.credential.basic.secret == JIRA_SECRET
    assert raw.webhooks[0].signing_secret == SIGNING_SECRET
    assert raw.inbound_webhook_secret == INBOUND_SECRET

    # By path too.
    change = integrations_pb2.Integration(id=created.id)
    change.jira.CopyFrom(updated.jira)
    change.jira.default_project = "SEC"
    change.webhooks.extend(updated.webhooks)
    change.inbound_webhook_secret = REDACTED
    updated = await update(admin, change, "jira", "webhooks", "inbound_webhook_secret")
    assert_redacted(updated)
    assert updated.jira.default_project == "SEC"
    raw = await stored()
    assert raw.jira.credential.basic.secret == JIRA_SECRET
    assert raw.webhooks[0].signing_secret == SIGNING_SECRET
    assert raw.inbound_webhook_secret == INBOUND_SECRET

    # A placeholder with nothing to keep (the credential kind changed) is no secret.
    token_cred = integrations_pb2.Credential(
        token=integrations_pb2.TokenCredential(secret=REDACTED)
    )
    change = integrations_pb2.Integration(id=created.id, jira=jira_config(credential=token_cred))
    await expect_error(
        update(admin, change, "jira"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "jira.credential.token.secret",
    )

    # A new value replaces the secret.
    change = integrations_pb2.Integration(id=created.id)
    change.jira.credential.basic.secret = "rotated-jira-token-123"
    updated = await update(admin, change, "jira.credential.basic.secret")
    assert updated.jira.credential.basic.secret == REDACTED
    assert updated.jira.credential.basic.username == "ops@acme.test"
    raw = await stored()
    assert raw.jira.credential.basic.secret == "rotated-jira-token-123"
    assert raw.webhooks[0].signing_secret == SIGNING_SECRET


async def test_secrets_never_leave_the_server(
    server: Server, admin: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await create(admin, jira_integration())
    assert_redacted(response.integration)
    assert_no_secrets(response.SerializeToString(), "CreateIntegrationResponse")
    integration_id = response.integration.id
    client = admin.as_token(response.access_token)

    got = await get(admin, integration_id)
    assert_redacted(got)
    listed = await admin.integrations.ListIntegrations(
        integrations_pb2.ListIntegrationsRequest(), metadata=admin.metadata
    )
    assert_no_secrets(listed.SerializeToString(), "ListIntegrationsResponse")
    assert_redacted(listed.integrations[0])
    got.name = "renamed"
    updated = await update(admin, got, "*")
    assert_redacted(updated)
    updated = await update(
        admin, integrations_pb2.Integration(id=integration_id, name="again"), "name"
    )
    assert_redacted(updated)
    # A refused update does not echo the stored secrets either.
    error = await expect_error(
        update(admin, integrations_pb2.Integration(id=integration_id, mock={}), "*"),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert_no_secrets((error.details() or "").encode(), "error message")

    # The Jira site refuses connections: calls fail UNAVAILABLE, naming the provider,
    # and the failure carries none of the secrets.
    error = await expect_error(
        new_ticket(client, "x"), grpc.StatusCode.UNAVAILABLE, "ticketing_jira"
    )
    assert_no_secrets((error.details() or "").encode(), "error message")
    error = await expect_error(
        get_ticket(client, "OPS-1"), grpc.StatusCode.UNAVAILABLE, "ticketing_jira"
    )
    assert_no_secrets((error.details() or "").encode(), "error message")

    # On disk: encrypted (the integration id, stored in clear, shows we read the right files).
    data_dir = server.settings.data_dir
    files = {p.name: p.read_bytes() for p in data_dir.iterdir() if p.is_file()}
    assert "ticketing.db" in files
    assert any(integration_id.encode() in data for data in files.values())
    for name, data in files.items():
        assert_no_secrets(data, name)

    # In the log.
    assert integration_id in caplog.text, "the server log was not captured"
    for secret in SECRETS:
        assert secret not in caplog.text
    assert response.access_token not in caplog.text


async def test_calls_to_a_provider_without_a_plugin_are_unimplemented(admin: Client) -> None:
    _, client = await create_integration(admin, zendesk_integration())
    await expect_error(
        client.ticketing.CreateComment(
            ticketing_pb2.CreateCommentRequest(
                comment=ticket_pb2.Comment(ticket_id="OPS-1", content="hi")
            ),
            metadata=client.metadata,
        ),
        grpc.StatusCode.UNIMPLEMENTED,
        "ticketing_zendesk",
    )
    await expect_stream_error(
        client.ticketing.ListProjects(
            ticketing_pb2.ListProjectsRequest(), metadata=client.metadata
        ),
        grpc.StatusCode.UNIMPLEMENTED,
        "ticketing_zendesk",
    )


# ---------------------------------------------------------------- restart


async def test_integrations_survive_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "restart"
    first = await start(settings_for(data_dir))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{first.grpc_port}") as channel:
            admin = Client(channel, ADMIN_TOKEN)
            created, client = await create_integration(admin, jira_integration())
            _, mock = await create_integration(admin, mock_integration("KEEP"))
            ticket = await new_ticket(mock, "kept")
    finally:
        await first.stop()

    second = await start(settings_for(data_dir))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{second.grpc_port}") as channel:
            admin = Client(channel, ADMIN_TOKEN)
            got = await get(admin, created.id)
            assert got == created
            assert_redacted(got)
            assert len(await integration_ids(admin)) == 2
            raw = await second.integrations.get(created.id)
            assert raw.jira.credential.basic.secret == JIRA_SECRET
            again = Client(channel, mock.token)
            assert (await get_ticket(again, ticket.id)).summary == "kept"
            jira = Client(channel, client.token)
            # Authenticated (not UNAUTHENTICATED); the unreachable site answers UNAVAILABLE.
            await expect_error(get_ticket(jira, "OPS-1"), grpc.StatusCode.UNAVAILABLE)
    finally:
        await second.stop()


async def test_redacted_signing_secret_for_a_new_webhook_url_is_refused(admin: Client) -> None:
    integration = mock_integration()
    integration.webhooks.add(
        webhook_url="https://hooks.example.com/a",
        signing_secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    created, _ = await create_integration(admin, integration)
    moved = integrations_pb2.Integration(id=created.id)
    moved.webhooks.add(webhook_url="https://hooks.example.com/b", signing_secret="REDACTED")
    await expect_error(
        update(admin, moved, "webhooks"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "https://hooks.example.com/b",
        "signing_secret",
    )
    kept = await admin.integrations.GetIntegration(
        integrations_pb2.GetIntegrationRequest(integration_id=created.id), metadata=admin.metadata
    )
    assert [h.webhook_url for h in kept.webhooks] == ["https://hooks.example.com/a"]
