"""ProviderService: what each registered provider supports, derived from its class."""

from __future__ import annotations

from ticketing.v1 import providers_pb2, providers_pb2_grpc

from ..providers.registry import Registry, operators_of
from . import Context


def describe(registry: Registry) -> providers_pb2.ListProvidersResponse:
    response = providers_pb2.ListProvidersResponse()
    for provider_id, cls in registry.providers.items():
        entry = response.providers.add(
            id=provider_id, display_name=cls.display_name, operators=operators_of(cls)
        )
        for operator, schema in cls.filter_schemas.items():
            for spec in schema.fields.values():
                entry.filters.add(
                    operator=operator,
                    field=spec.name,
                    type=str(spec.type),
                    operators=sorted(str(op) for op in spec.ops),
                    orderable=spec.orderable,
                )
    return response


class ProviderServicer(providers_pb2_grpc.ProviderServiceServicer):
    def __init__(self, registry: Registry) -> None:
        self._response = describe(registry)

    async def ListProviders(
        self, request: providers_pb2.ListProvidersRequest, context: Context
    ) -> providers_pb2.ListProvidersResponse:
        return self._response
