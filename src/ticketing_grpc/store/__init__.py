"""The store interface: integrations, the embedded mock provider's documents, the event
log and the outbox of webhook deliveries.

Implementations encrypt `IntegrationRow.config` at rest; callers always see plaintext.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

__all__ = [
    "Delivery",
    "DuplicateIntegrationError",
    "EventRecord",
    "IntegrationRow",
    "SchemaVersionError",
    "Store",
    "StoreError",
    "UnknownIntegrationError",
]


class StoreError(Exception):
    """Base of the store's errors; messages never contain secrets or config."""


class SchemaVersionError(StoreError):
    """The database was written by a newer version of the code."""


class DuplicateIntegrationError(StoreError):
    """An integration with that id or token hash already exists."""


class UnknownIntegrationError(StoreError):
    """Data was written for an integration that does not exist."""


@dataclass(frozen=True)
class IntegrationRow:
    id: str
    provider: str
    token_hash: bytes = field(repr=False)
    config: bytes = field(repr=False)
    """The serialized Integration protobuf, in plaintext; the store encrypts it at rest."""
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class EventRecord:
    """One entry of the durable event log."""

    id: str
    integration_id: str
    event_type: int
    ticket_id: str
    entity_date: str
    priority: int
    short_description: str
    raw_payload: bytes = field(repr=False)
    received_at: datetime
    sequence: int = 0
    """Assigned by `append_event`: starts at 1, strictly increasing per installation."""


@dataclass(frozen=True)
class Delivery:
    """One pending POST of one event to one webhook target (the outbox)."""

    id: int
    integration_id: str
    event_sequence: int
    target_url: str
    webhook_id: str
    """Stable across retries of this delivery (the Standard Webhooks `webhook-id`)."""
    attempts: int
    """Attempts that failed so far."""
    created_at: datetime


class Store(Protocol):
    async def close(self) -> None: ...

    async def create_integration(self, row: IntegrationRow) -> None: ...

    async def get_integration(self, integration_id: str) -> IntegrationRow | None: ...

    async def find_integration_by_token_hash(self, token_hash: bytes) -> IntegrationRow | None: ...

    async def list_integrations(self) -> list[IntegrationRow]:
        """Oldest first (in order of creation)."""
        ...

    async def update_integration(
        self, integration_id: str, config: bytes, updated_at: datetime
    ) -> bool:
        """False if there is no such integration."""
        ...

    async def delete_integration(self, integration_id: str) -> bool:
        """Also deletes the integration's documents, counters, events, deliveries and
        disabled targets; False if not found."""
        ...

    async def put_document(
        self,
        integration_id: str,
        kind: str,
        doc_id: str,
        parent_id: str,
        doc: Mapping[str, Any],
    ) -> None:
        """Insert or replace; a replaced document keeps its place in list order."""
        ...

    async def get_document(
        self, integration_id: str, kind: str, doc_id: str
    ) -> dict[str, Any] | None: ...

    async def list_documents(
        self, integration_id: str, kind: str, parent_id: str | None = None
    ) -> list[dict[str, Any]]:
        """In order of first insertion, only children of `parent_id` when given."""
        ...

    async def delete_document(self, integration_id: str, kind: str, doc_id: str) -> bool: ...

    async def next_counter(self, integration_id: str, name: str) -> int:
        """1, 2, 3, ... per (integration, name), atomically."""
        ...

    # The event log and the outbox of webhook deliveries.

    async def append_event(
        self, event: EventRecord, *, dedup_key: str | None = None, targets: Sequence[str] = ()
    ) -> EventRecord | None:
        """Store the event with the next sequence and, in the same transaction, one
        pending delivery per target URL that is not disabled for its integration.

        Returns the stored record (with its sequence), or None when this
        (integration_id, dedup_key) was appended before (a provider's retry) and is not
        pruned yet; then nothing is written. Duplicate target URLs count once. The
        deliveries are due at once (at `received_at`) and created at `received_at`.
        Raises UnknownIntegrationError for an unknown integration.
        """
        ...

    async def read_events(
        self, integration_id: str, after_sequence: int, limit: int
    ) -> list[EventRecord]:
        """The integration's events with a larger sequence, ascending, at most `limit`."""
        ...

    async def get_event(self, sequence: int) -> EventRecord | None: ...

    async def prune_events(self, before: datetime) -> int:
        """Delete events received before `before` that no pending delivery needs,
        and abandoned deliveries created before it; returns the events deleted."""
        ...

    async def claim_deliveries(
        self,
        now: datetime,
        lease_until: datetime,
        limit: int,
        busy: Collection[tuple[str, str]] = (),
    ) -> list[Delivery]:
        """Lease up to `limit` pending deliveries due at `now` (oldest due first),
        skipping (integration_id, target_url) pairs in `busy`. A leased delivery is
        not claimed again before `lease_until` unless it is rescheduled.

        Safe across processes: no delivery is handed to two concurrent claims. One call
        may return several deliveries of the same target. `lease_until` must be later
        than `now` (ValueError)."""
        ...

    async def complete_delivery(self, delivery_id: int) -> None:
        """The target accepted it: remove it from the outbox."""
        ...

    async def reschedule_delivery(
        self, delivery_id: int, next_attempt_at: datetime, error: str
    ) -> None:
        """It failed: count the attempt, keep the error, try again at `next_attempt_at`.
        No effect on an abandoned (or deleted) delivery."""
        ...

    async def abandon_delivery(self, delivery_id: int, error: str) -> None:
        """Give up on it (kept as abandoned, no longer claimed)."""
        ...

    async def disable_target(self, integration_id: str, target_url: str, reason: str) -> int:
        """Stop delivering to this target (it answered 410): abandons its pending
        deliveries (returned count) and skips it in later `append_event` calls."""
        ...

    async def enable_targets(self, integration_id: str) -> None:
        """Forget disabled targets (the integration's webhooks were changed)."""
        ...

    async def count_deliveries(self, integration_id: str, state: str = "pending") -> int:
        """How many deliveries of the integration are 'pending' or 'abandoned'."""
        ...
