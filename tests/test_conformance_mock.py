"""The conformance suite against the embedded mock provider."""

from __future__ import annotations

import pytest

from .conformance import TicketingConformance
from .conftest import Client, create_integration, mock_integration


class TestMockConformance(TicketingConformance):
    provider_id = "ticketing_mock_ticketing"
    next_status = "In Progress"

    @pytest.fixture
    async def client(self, admin: Client) -> Client:
        _, client = await create_integration(admin, mock_integration(default_project="CONF"))
        return client

    @pytest.fixture
    def project(self) -> str:
        return "CONF"
