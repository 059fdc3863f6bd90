"""The JSON body of an outbound webhook delivery (CONTRACT "Outbound deliveries")."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from ticketing.v1 import events_pb2, ticket_pb2

from ..store import EventRecord

__all__ = ["EVENT_TYPE_NAMES", "outbound_body"]

EVENT_TYPE_NAMES: dict[int, str] = {
    events_pb2.TICKET_CREATED: "TicketCreated",
    events_pb2.TICKET_UPDATED: "TicketUpdated",
    events_pb2.TICKET_DELETED: "TicketDeleted",
    events_pb2.TICKET_COMMENT_CREATED: "TicketCommentCreated",
    events_pb2.TICKET_COMMENT_DELETED: "TicketCommentDeleted",
}
"""events_pb2.EventType value -> its spelling in outbound JSON."""

_JSON_WHITESPACE = " \t\n\r"


def outbound_body(event: EventRecord) -> bytes:
    """The compact JSON object POSTed to webhook targets for `event`.

    Keys, in order: id, sequence, integration_id, event_type, ticket_id,
    entity_date, priority, short_description, raw_payload, received_at.
    `raw_payload` is embedded verbatim as a JSON value when the stored bytes are
    a valid UTF-8 JSON text (so numbers and key order are exactly as received),
    else it is a string (UTF-8 decoded, invalid bytes replaced).
    """
    fields: list[tuple[str, str]] = [
        ("id", _dump(event.id)),
        ("sequence", _dump(event.sequence)),
        ("integration_id", _dump(event.integration_id)),
        ("event_type", _dump(_event_type_name(event.event_type))),
        ("ticket_id", _dump(event.ticket_id)),
        ("entity_date", _dump(event.entity_date)),
        ("priority", _dump(_priority_name(event.priority))),
        ("short_description", _dump(event.short_description)),
        ("raw_payload", _raw_payload(event.raw_payload)),
        ("received_at", _dump(_rfc3339(event.received_at))),
    ]
    text = "{" + ",".join(f"{_dump(key)}:{value}" for key, value in fields) + "}"
    # "replace": a lone surrogate in a stored string must not make the event undeliverable.
    return text.encode("utf-8", errors="replace")


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _event_type_name(value: int) -> str:
    name = EVENT_TYPE_NAMES.get(value)
    if name is not None:
        return name
    try:  # a type this version does not spell: its proto enum name
        return events_pb2.EventType.Name(value)
    except ValueError:
        return str(value)


def _priority_name(value: int) -> str | None:
    if value == ticket_pb2.PRIORITY_UNSPECIFIED:
        return None
    try:
        return ticket_pb2.Priority.Name(value)
    except ValueError:
        return None


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _raw_payload(raw: bytes) -> str:
    """The JSON text to embed for the stored body."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _dump(raw.decode("utf-8", errors="replace"))
    try:
        # Validation only (Python also accepts NaN/Infinity, which JSON does not).
        json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return _dump(text)
    return text.strip(_JSON_WHITESPACE)


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
