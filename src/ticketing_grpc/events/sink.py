"""Where providers hand the events they raise themselves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ticketing.v1 import ticket_pb2


@dataclass(frozen=True)
class NewEvent:
    """An event before it is logged (no id, sequence or received_at yet)."""

    integration_id: str
    event_type: int
    """An events_pb2.EventType value."""
    ticket_id: str
    entity_date: str = ""
    priority: int = ticket_pb2.PRIORITY_UNSPECIFIED
    short_description: str = ""
    raw_payload: bytes = b""


class EventSink(Protocol):
    async def emit(self, event: NewEvent) -> None: ...


class DiscardingSink:
    """Drops events; for contexts with no event path (unit tests, tools)."""

    async def emit(self, event: NewEvent) -> None:
        return None
