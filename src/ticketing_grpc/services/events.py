"""EventService: not wired to an event log yet (see issue 3)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ticketing.v1 import events_pb2, events_pb2_grpc

from ..errors import NotSupported
from . import Context


class EventServicer(events_pb2_grpc.EventServiceServicer):
    async def SubscribeEvents(
        self, request: events_pb2.SubscribeEventsRequest, context: Context
    ) -> AsyncIterator[events_pb2.TicketEvent]:
        raise NotSupported("the event stream is not available in this build yet")
        yield
