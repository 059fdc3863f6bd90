"""IntegrationService: admin CRUD over integrations, secrets redacted."""

from __future__ import annotations

from google.protobuf import empty_pb2
from ticketing.v1 import integrations_pb2, integrations_pb2_grpc

from ..errors import InvalidArgument
from ..integrations import Integrations
from ..redaction import redacted
from . import Context


class IntegrationServicer(integrations_pb2_grpc.IntegrationServiceServicer):
    def __init__(self, integrations: Integrations) -> None:
        self._integrations = integrations

    async def CreateIntegration(
        self, request: integrations_pb2.CreateIntegrationRequest, context: Context
    ) -> integrations_pb2.CreateIntegrationResponse:
        if not request.HasField("integration"):
            raise InvalidArgument("integration is required")
        stored, token = await self._integrations.create(request.integration)
        return integrations_pb2.CreateIntegrationResponse(
            integration=redacted(stored), access_token=token
        )

    async def GetIntegration(
        self, request: integrations_pb2.GetIntegrationRequest, context: Context
    ) -> integrations_pb2.Integration:
        return redacted(await self._integrations.get(request.integration_id))

    async def ListIntegrations(
        self, request: integrations_pb2.ListIntegrationsRequest, context: Context
    ) -> integrations_pb2.ListIntegrationsResponse:
        found = await self._integrations.list()
        return integrations_pb2.ListIntegrationsResponse(integrations=[redacted(i) for i in found])

    async def UpdateIntegration(
        self, request: integrations_pb2.UpdateIntegrationRequest, context: Context
    ) -> integrations_pb2.Integration:
        if not request.integration.id:
            raise InvalidArgument("integration.id is required")
        paths = [p.strip() for p in request.update_mask.paths]
        return redacted(await self._integrations.update(request.integration, paths))

    async def DeleteIntegration(
        self, request: integrations_pb2.DeleteIntegrationRequest, context: Context
    ) -> empty_pb2.Empty:
        await self._integrations.delete(request.integration_id)
        return empty_pb2.Empty()
