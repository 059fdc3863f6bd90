"""The event hub: append to the durable log first, then publish to subscribers.

Appends are serialised under one lock so that subscribers see events in
sequence order. A subscription is registered before its replay is read, and
live events at or below the replayed sequence are skipped, so the switch from
replay to live has no gap and no duplicate.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from ticketing.v1 import events_pb2, integrations_pb2

from ..errors import RateLimited, TicketingError, Unavailable
from ..metrics import Metrics
from ..store import EventRecord, Store
from .sink import NewEvent

log = logging.getLogger(__name__)

REPLAY_BATCH = 500


def _resume_hint(last: int | None) -> str:
    where = f"after_sequence={last}" if last is not None else "after_sequence set to the last one"
    return f"reconnect with {where} to continue without losing events"


class Subscription:
    """One subscriber's bounded queue of live events."""

    def __init__(self, integration_id: str, event_types: Collection[int], limit: int) -> None:
        self.integration_id = integration_id
        self.event_types = frozenset(event_types)
        self._limit = limit
        self._items: deque[EventRecord] = deque()
        self._ready = asyncio.Event()
        self._failure: TicketingError | None = None
        self.last_sent: int | None = None

    def wants(self, event_type: int) -> bool:
        return not self.event_types or event_type in self.event_types

    def offer(self, record: EventRecord) -> None:
        if self._failure is not None or not self.wants(record.event_type):
            return
        if len(self._items) >= self._limit:
            self.end(
                RateLimited(
                    f"this subscriber fell more than {self._limit} events behind; "
                    + _resume_hint(self.last_sent),
                    reason="SUBSCRIBER_TOO_SLOW",
                )
            )
            return
        self._items.append(record)
        self._ready.set()

    def end(self, failure: TicketingError) -> None:
        if self._failure is None:
            self._failure = failure
            self._items.clear()
            self._ready.set()

    async def next(self) -> EventRecord:
        while not self._items:
            if self._failure is not None:
                raise self._failure
            self._ready.clear()
            await self._ready.wait()
        if self._failure is not None:
            raise self._failure
        return self._items.popleft()


class EventHub:
    def __init__(
        self,
        store: Store,
        *,
        queue_limit: int = 1000,
        on_deliveries: Callable[[], None] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._metrics = metrics or Metrics()
        self._queue_limit = queue_limit
        self._on_deliveries = on_deliveries
        self._subscriptions: dict[str, set[Subscription]] = {}
        self._lock = asyncio.Lock()
        self._closed = False

    async def emit(
        self,
        event: NewEvent,
        integration: integrations_pb2.Integration,
        dedup_key: str | None = None,
    ) -> EventRecord | None:
        """Log the event, queue its webhook deliveries, publish it; None for a duplicate."""
        targets = [
            hook.webhook_url
            for hook in integration.webhooks
            if not hook.event_filter or event.event_type in hook.event_filter
        ]
        record = EventRecord(
            id=str(uuid.uuid4()),
            integration_id=event.integration_id,
            event_type=event.event_type,
            ticket_id=event.ticket_id,
            entity_date=event.entity_date,
            priority=event.priority,
            short_description=event.short_description,
            raw_payload=event.raw_payload,
            received_at=datetime.now(UTC),
        )
        async with self._lock:
            stored = await self._store.append_event(record, dedup_key=dedup_key, targets=targets)
            if stored is not None:
                for subscription in self._subscriptions.get(stored.integration_id, ()):
                    subscription.offer(stored)
        if stored is not None:
            self._metrics.events.inc(type=events_pb2.EventType.Name(stored.event_type))
        if stored is None:
            log.info(
                "duplicate event %r for integration %s ignored", dedup_key, event.integration_id
            )
        elif targets and self._on_deliveries is not None:
            self._on_deliveries()
        return stored

    @asynccontextmanager
    async def subscribe(
        self, integration_id: str, event_types: Collection[int] = ()
    ) -> AsyncIterator[Subscription]:
        if self._closed:
            raise Unavailable("the server is shutting down; " + _resume_hint(None))
        subscription = Subscription(integration_id, event_types, self._queue_limit)
        self._subscriptions.setdefault(integration_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._subscriptions.get(integration_id)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscriptions[integration_id]

    async def stream(
        self, subscription: Subscription, after_sequence: int | None
    ) -> AsyncIterator[EventRecord]:
        """Stored events after `after_sequence` (when given), then live ones, in order."""
        last = after_sequence
        if after_sequence is not None:
            while True:
                batch = await self._store.read_events(
                    subscription.integration_id, last or 0, REPLAY_BATCH
                )
                for record in batch:
                    last = record.sequence
                    if subscription.wants(record.event_type):
                        subscription.last_sent = record.sequence
                        yield record
                if len(batch) < REPLAY_BATCH:
                    break
        while True:
            record = await subscription.next()
            if last is not None and record.sequence <= last:
                continue
            subscription.last_sent = record.sequence
            yield record

    @property
    def subscribers(self) -> int:
        return sum(len(s) for s in self._subscriptions.values())

    def close(self) -> None:
        """End every subscription with UNAVAILABLE (server shutdown)."""
        self._closed = True
        for subscribers in self._subscriptions.values():
            for subscription in subscribers:
                subscription.end(
                    Unavailable(
                        "the server is shutting down; " + _resume_hint(subscription.last_sent),
                        reason="SHUTTING_DOWN",
                    )
                )


class BoundSink:
    """The EventSink a provider instance gets: the hub, bound to its integration."""

    def __init__(self, hub: EventHub, integration: integrations_pb2.Integration) -> None:
        self._hub = hub
        self._integration = integration

    async def emit(self, event: NewEvent) -> None:
        await self._hub.emit(event, self._integration)
