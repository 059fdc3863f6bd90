"""EventService: the caller's integration's events, replayed then live."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ticketing.v1 import events_pb2, events_pb2_grpc

from ..errors import InvalidArgument
from ..events.hub import EventHub
from ..interceptor import current_handle
from ..store import EventRecord
from . import Context

_EVENT_TYPES = frozenset(events_pb2.EventType.values()) - {events_pb2.EVENT_TYPE_UNSPECIFIED}


def to_proto(record: EventRecord) -> events_pb2.TicketEvent:
    event = events_pb2.TicketEvent(
        id=record.id,
        sequence=record.sequence,
        integration_id=record.integration_id,
        event_type=record.event_type,  # type: ignore[arg-type]
        ticket_id=record.ticket_id,
        entity_date=record.entity_date,
        priority=record.priority,  # type: ignore[arg-type]
        short_description=record.short_description,
        raw_payload=record.raw_payload.decode("utf-8", errors="replace"),
    )
    event.received_at.FromDatetime(record.received_at)
    return event


class EventServicer(events_pb2_grpc.EventServiceServicer):
    def __init__(self, hub: EventHub) -> None:
        self._hub = hub

    async def SubscribeEvents(
        self, request: events_pb2.SubscribeEventsRequest, context: Context
    ) -> AsyncIterator[events_pb2.TicketEvent]:
        handle = current_handle()
        unknown = [t for t in request.event_filter if t not in _EVENT_TYPES]
        if unknown:
            raise InvalidArgument(f"event_filter holds an invalid event type: {unknown[0]}")
        after = request.after_sequence if request.HasField("after_sequence") else None
        if after is not None and after < 0:
            raise InvalidArgument("after_sequence must be 0 or positive")
        async with self._hub.subscribe(handle.id, request.event_filter) as subscription:
            await context.send_initial_metadata(())
            async for record in self._hub.stream(subscription, after):
                yield to_proto(record)
