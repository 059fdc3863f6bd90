"""Authentication and error mapping for every RPC, in one place.

The interceptor wraps each method handler: it records the client's deadline
(so provider calls never outlive it), checks the caller's token (admin token
or integration token, by service), makes the integration's handle available
to the servicer through a context variable, and turns
TicketingError into a rich gRPC status. Unexpected exceptions become INTERNAL
with an id to find them in the log, never with their text (which could hold
provider data).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import grpc
from grpc.aio import ServicerContext
from ticketing.v1 import events_pb2, integrations_pb2, ticketing_pb2

from . import deadline
from .auth import bearer, same_token
from .errors import TicketingError, Unauthenticated, to_status
from .integrations import Handle, Integrations
from .metrics import Metrics

log = logging.getLogger(__name__)

ADMIN = "admin"
INTEGRATION = "integration"

SERVICE_AUTH = {
    integrations_pb2.DESCRIPTOR.services_by_name["IntegrationService"].full_name: ADMIN,
    ticketing_pb2.DESCRIPTOR.services_by_name["TicketingService"].full_name: INTEGRATION,
    events_pb2.DESCRIPTOR.services_by_name["EventService"].full_name: INTEGRATION,
}

_handle: ContextVar[Handle] = ContextVar("integration_handle")


def current_handle() -> Handle:
    """The integration of the RPC being served (set by the interceptor)."""
    return _handle.get()


class CallGuard(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(
        self, admin_hash: bytes, integrations: Integrations, metrics: Metrics | None = None
    ) -> None:
        self._admin_hash = admin_hash
        self._integrations = integrations
        self._metrics = metrics or Metrics()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return None
        method = details.method
        mode = SERVICE_AUTH.get(method.lstrip("/").split("/", 1)[0])
        if handler.unary_unary:
            return handler._replace(unary_unary=self._unary(handler.unary_unary, mode, method))
        if handler.stream_unary:
            return handler._replace(stream_unary=self._unary(handler.stream_unary, mode, method))
        if handler.unary_stream:
            return handler._replace(unary_stream=self._stream(handler.unary_stream, mode, method))
        return handler._replace(stream_stream=self._stream(handler.stream_stream, mode, method))

    async def _authorize(self, context: ServicerContext, mode: str | None) -> None:
        deadline.set_from_remaining(context.time_remaining())
        if mode is None:
            return
        token = bearer(context.invocation_metadata())
        if mode == ADMIN:
            if not same_token(token, self._admin_hash):
                raise Unauthenticated("the admin token is not valid")
            return
        _handle.set(await self._integrations.authenticate(token))

    def _unary(
        self, behavior: Callable[..., Any], mode: str | None, method: str
    ) -> Callable[..., Any]:
        async def guarded(request: Any, context: ServicerContext) -> Any:
            code = "CANCELLED"
            try:
                await self._authorize(context, mode)
                response = await behavior(request, context)
                code = "OK"
                return response
            except TicketingError as error:
                code = error.code.name
                await context.abort_with_status(to_status(error))
            except Exception as error:
                code = _code_of(error)
                await _abort_internal(context, error)
            finally:
                self._metrics.rpcs.inc(method=method, code=code)

        return guarded

    def _stream(
        self, behavior: Callable[..., Any], mode: str | None, method: str
    ) -> Callable[..., Any]:
        async def guarded(request: Any, context: ServicerContext) -> AsyncIterator[Any]:
            code = "CANCELLED"
            try:
                await self._authorize(context, mode)
                async for item in behavior(request, context):
                    yield item
                code = "OK"
            except TicketingError as error:
                code = error.code.name
                await context.abort_with_status(to_status(error))
            except Exception as error:
                code = _code_of(error)
                await _abort_internal(context, error)
            finally:
                self._metrics.rpcs.inc(method=method, code=code)

        return guarded


def _code_of(error: Exception) -> str:
    if isinstance(error, grpc.aio.AbortError):
        return "UNKNOWN"  # the servicer aborted with its own status
    return "INTERNAL"


async def _abort_internal(context: ServicerContext, error: Exception) -> None:
    if isinstance(error, grpc.aio.AbortError):
        raise error
    incident = uuid.uuid4().hex[:12]
    log.exception("internal error %s", incident, exc_info=error)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error (log id {incident})")
