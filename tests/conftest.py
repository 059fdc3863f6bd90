"""Shared fixtures: a real server on free ports, and clients through the generated stubs."""

from __future__ import annotations

import os
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from ticketing.v1 import (
    events_pb2_grpc,
    integrations_pb2,
    integrations_pb2_grpc,
    providers_pb2_grpc,
    ticketing_pb2_grpc,
)

from ticketing_grpc.config import Settings
from ticketing_grpc.server import Server, start

from .fakes.jira import FakeJira
from .fakes.spec import OpenAPISpec, load_spec

ADMIN_TOKEN = "tga_test-admin-token-0123456789abcdef"
ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TICKETING_SHARED_DIR", ROOT.parent / "shared"))
"""The shared folder with the providers' specs and the reference (never copied here)."""


def settings_for(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "grpc_addr": "127.0.0.1:0",
        "http_addr": "127.0.0.1:0",
        "data_dir": data_dir,
        "admin_token": ADMIN_TOKEN,
        "allow_private_targets": True,
        "shutdown_grace": 2.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    running = await start(settings_for(tmp_path / "data"))
    try:
        yield running
    finally:
        await running.stop()


@dataclass
class Client:
    """Stubs for one server, with a bearer token sent on every call."""

    channel: grpc.aio.Channel
    token: str

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)

    @property
    def ticketing(self) -> ticketing_pb2_grpc.TicketingServiceStub:
        return ticketing_pb2_grpc.TicketingServiceStub(self.channel)

    @property
    def integrations(self) -> integrations_pb2_grpc.IntegrationServiceStub:
        return integrations_pb2_grpc.IntegrationServiceStub(self.channel)

    @property
    def events(self) -> events_pb2_grpc.EventServiceStub:
        return events_pb2_grpc.EventServiceStub(self.channel)

    @property
    def providers(self) -> providers_pb2_grpc.ProviderServiceStub:
        return providers_pb2_grpc.ProviderServiceStub(self.channel)

    def as_token(self, token: str) -> Client:
        return Client(self.channel, token)


@pytest.fixture
async def admin(server: Server) -> AsyncIterator[Client]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        yield Client(channel, ADMIN_TOKEN)


async def rpc_error(call: Any) -> grpc.aio.AioRpcError:
    """The error a unary call (or `stream.read()`) fails with; the test fails if it succeeds."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


async def create_integration(
    admin: Client, integration: integrations_pb2.Integration
) -> tuple[integrations_pb2.Integration, Client]:
    response = await admin.integrations.CreateIntegration(
        integrations_pb2.CreateIntegrationRequest(integration=integration),
        metadata=admin.metadata,
    )
    return response.integration, admin.as_token(response.access_token)


def mock_integration(
    default_project: str = "OPS", mappings: tuple[tuple[str, str, str], ...] = ()
) -> integrations_pb2.Integration:
    return integrations_pb2.Integration(
        name="mock",
        mock=integrations_pb2.MockConfig(default_project=default_project),
        custom_field_mappings=[
            integrations_pb2.CustomFieldMapping(project_id=p, name=n, provider_field_path=f)
            for p, n, f in mappings
        ],
    )


@pytest.fixture
async def mock_client(admin: Client) -> Client:
    _, client = await create_integration(
        admin,
        mock_integration(
            mappings=(("*", "effort", "fields/effort"), ("SEC", "severity", "sec_severity"))
        ),
    )
    return client


JIRA_SPEC = SHARED / "specs" / "jira" / "swagger-v3.v3.json"


@pytest.fixture(scope="session")
def jira_spec() -> OpenAPISpec | None:
    """Jira's official OpenAPI description, or None (validation skipped, loudly)."""
    spec = load_spec(JIRA_SPEC)
    if spec is None:
        message = (
            f"\n{'!' * 78}\n  Jira OpenAPI description not found at {JIRA_SPEC}\n"
            "  FakeJira runs WITHOUT spec validation: drift from the real API goes unseen.\n"
            f"  Set TICKETING_SHARED_DIR to the shared folder.\n{'!' * 78}"
        )
        warnings.warn(message, stacklevel=1)
        print(message)
    return spec


@pytest.fixture
async def jira(jira_spec: OpenAPISpec | None) -> AsyncIterator[FakeJira]:
    """A fake Jira Cloud; the test fails if any request or response drifted from the spec."""
    async with FakeJira(spec=jira_spec) as fake:
        yield fake
    fake.assert_no_violations()


# -- PagerDuty ----------------------------------------------------------------------------

from .fakes.pagerduty import FakePagerDuty, load_pagerduty_spec  # noqa: E402

PAGERDUTY_SPEC = SHARED / "specs" / "pagerduty" / "openapiv3.json"


@pytest.fixture(scope="session")
def pagerduty_spec() -> OpenAPISpec | None:
    """PagerDuty's official OpenAPI description plus the fake's ``ERRATA``, or None (loudly)."""
    spec = load_pagerduty_spec(PAGERDUTY_SPEC)
    if spec is None:
        message = (
            f"\n{'!' * 78}\n  PagerDuty OpenAPI description not found at {PAGERDUTY_SPEC}\n"
            "  FakePagerDuty runs WITHOUT spec validation: drift from the real API goes unseen.\n"
            f"  Set TICKETING_SHARED_DIR to the shared folder.\n{'!' * 78}"
        )
        warnings.warn(message, stacklevel=1)
        print(message)
    return spec


@pytest.fixture
async def pagerduty(pagerduty_spec: OpenAPISpec | None) -> AsyncIterator[FakePagerDuty]:
    """A fake PagerDuty account; the test fails if any request or response drifted from the spec."""
    async with FakePagerDuty(spec=pagerduty_spec) as fake:
        yield fake
    fake.assert_no_violations()
