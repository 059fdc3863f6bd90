"""Inbound webhooks -> typed ticket events, one pure function per provider.

The receiver (`POST /v1/hooks`) authenticates the integration, caps and reads
the body, parses it as JSON and then calls the provider's normalizer:

    normalizer(headers, raw_body, parsed_json, inbound_webhook_secret) -> [Inbound]

* An empty list means "a type we have no mapping for": the receiver answers
  2xx and records nothing.
* `WebhookRejected` carries the HTTP status (400 malformed, 401 bad
  signature) and a message that is safe to return: it never contains the
  secret, the signature header or body text beyond fixed field names.
* `entity_date` is copied from the payload byte for byte; nothing here parses
  or reformats a timestamp.

Jira (admin webhooks; also Automation "Send web request" with a body in the
same shape):

    webhookEvent            event                    entity_date
    jira:issue_created      TICKET_CREATED           issue.fields.created
    jira:issue_updated      TICKET_UPDATED           issue.fields.updated
    jira:issue_deleted      TICKET_DELETED           issue.fields.updated
    comment_created         TICKET_COMMENT_CREATED   comment.created
    comment_deleted         TICKET_COMMENT_DELETED   comment.updated (else .created)
    anything else           (ignored)

ServiceNow (ITSM and SIR): there is no built-in outbound webhook, so the
connector defines the JSON a Business Rule posts (see docs/webhooks.md):

    {sys_id, number, table, operation, short_description, priority,
     sys_created_on, sys_updated_on, comment?, event_id?}

    without comment:  insert -> TICKET_CREATED (sys_created_on)
                      update -> TICKET_UPDATED (sys_updated_on)
                      delete -> TICKET_DELETED (sys_updated_on)
    with comment:     comment.operation insert -> TICKET_COMMENT_CREATED
                      comment.operation delete -> TICKET_COMMENT_DELETED
                      (both: comment.sys_created_on)
    other operations: (ignored)

Both providers: when the integration has an `inbound_webhook_secret`, the
body must carry `X-Hub-Signature: sha256=<hex or base64 HMAC-SHA256 of the raw
body>`; it is checked before anything in the body is looked at.

PagerDuty (V3 webhook subscriptions): the body is
`{"event": {"id", "event_type", "resource_type", "occurred_at", "agent",
"client", "data"}}`; for incident events `data` is the incident, for
incident.annotated it is the note (`data.type = incident_note`, the incident
in `data.incident`).

    event_type                           event                    ticket_id
    incident.triggered                   TICKET_CREATED           data.id
    incident.acknowledged, .unacknowledged, .resolved, .reopened,
    .escalated, .reassigned, .delegated, .priority_updated,
    .service_updated                     TICKET_UPDATED           data.id
    incident.annotated                   TICKET_COMMENT_CREATED   data.incident.id
    anything else (responders, status updates, tasks, services, ...)  (ignored)

    entity_date = event.occurred_at, dedup_key = event.id,
    short_description = data.title (annotated: data.incident.summary),
    priority = data.priority.summary through the P1..P5 table of
    providers.pagerduty_mapping (annotated: unspecified).

    With an inbound secret, `X-PagerDuty-Signature` must hold `v1=<hex
    HMAC-SHA256 of the raw body>`; during a secret rotation PagerDuty sends
    several, comma-separated, and any v1 match passes (else 401).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ticketing.v1 import events_pb2, integrations_pb2

from ticketing_grpc import priorities
from ticketing_grpc.providers.pagerduty_mapping import pagerduty_priority

SIGNATURE_HEADER = "X-Hub-Signature"
JIRA_DELIVERY_HEADER = "X-Atlassian-Webhook-Identifier"
SERVICENOW_EVENT_HEADER = "X-ServiceNow-Event-Id"
PAGERDUTY_SIGNATURE_HEADER = "X-PagerDuty-Signature"

_SHA256_LEN = hashlib.sha256().digest_size
_HEX = frozenset(string.hexdigits)


@dataclass(frozen=True)
class Inbound:
    """One event read from a webhook, before it is logged."""

    event_type: int
    """An events_pb2.EventType value."""
    ticket_id: str
    entity_date: str
    """The object's created/updated time exactly as the provider sent it."""
    priority: int
    """A ticket_pb2.Priority value."""
    short_description: str
    dedup_key: str | None
    """The provider's delivery id: a retried delivery carries the same one."""


class WebhookRejected(Exception):
    """The webhook is refused; nothing is recorded.

    `status` is 400 (the body is not what the provider sends) or 401 (the
    signature is missing or wrong). `message` is safe to send back.
    """

    def __init__(self, status: int, message: str) -> None:
        if status not in (400, 401):
            raise ValueError(f"WebhookRejected status must be 400 or 401, not {status}")
        super().__init__(message)
        self.status = status
        self.message = message


Normalizer = Callable[[Mapping[str, str], bytes, Any, str], list[Inbound]]
"""(headers (case-insensitive), raw body, parsed JSON, inbound secret or "") -> events."""


# --- shared helpers ------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, matched case-insensitively even on a plain dict; None if absent/empty."""
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        for key, candidate in headers.items():
            if key.lower() == wanted:
                value = candidate
                break
    if value is None:
        return None
    value = value.strip()
    return value or None


def _decode_digest(text: str) -> bytes | None:
    """A SHA-256 digest written as hex or base64 (standard or URL-safe); None otherwise."""
    if len(text) == 2 * _SHA256_LEN and all(c in _HEX for c in text):
        return bytes.fromhex(text)
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == _SHA256_LEN else None


def verify_hub_signature(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    """Check `X-Hub-Signature: sha256=<digest>` against HMAC-SHA256(secret, body).

    The digest may be hex (what Jira sends) or base64 (what ServiceNow's
    `CertificateEncryption.generateMac` returns). The comparison is
    constant-time. Raises WebhookRejected(401) when the header is missing,
    malformed or does not match.
    """
    if not secret:
        raise ValueError("verify_hub_signature needs a non-empty secret")
    provided = _header(headers, SIGNATURE_HEADER)
    if provided is None:
        raise WebhookRejected(401, f"missing {SIGNATURE_HEADER} header")
    algorithm, sep, digest_text = provided.partition("=")
    if not sep or algorithm.strip().lower() != "sha256":
        raise WebhookRejected(401, f"{SIGNATURE_HEADER} must be sha256=<digest>")
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    given = _decode_digest(digest_text.strip())
    if given is None or not hmac.compare_digest(given, expected):
        raise WebhookRejected(401, f"{SIGNATURE_HEADER} does not match the body")


def _require_object(parsed: Any) -> dict[str, Any]:
    if not isinstance(parsed, dict):
        raise WebhookRejected(400, "body must be a JSON object")
    return parsed


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    """A string field as sent; anything else (absent, null, number, object) -> ""."""
    return value if isinstance(value, str) else ""


# --- Jira ----------------------------------------------------------------------

_ISSUE, _COMMENT = "issue", "comment"

_JIRA_EVENTS: Mapping[str, tuple[int, str, tuple[str, ...]]] = MappingProxyType(
    {
        # webhookEvent: (EventType, object the date comes from, date fields in order)
        "jira:issue_created": (events_pb2.TICKET_CREATED, _ISSUE, ("created",)),
        "jira:issue_updated": (events_pb2.TICKET_UPDATED, _ISSUE, ("updated",)),
        "jira:issue_deleted": (events_pb2.TICKET_DELETED, _ISSUE, ("updated",)),
        "comment_created": (events_pb2.TICKET_COMMENT_CREATED, _COMMENT, ("created",)),
        "comment_deleted": (events_pb2.TICKET_COMMENT_DELETED, _COMMENT, ("updated", "created")),
    }
)


def jira_normalizer(priority_overrides: Mapping[str, int] | None = None) -> Normalizer:
    """A Jira normalizer; `priority_overrides` (name -> Priority) wins over the defaults."""
    overrides = dict(priority_overrides or {})

    def normalize(
        headers: Mapping[str, str], body: bytes, parsed: Any, secret: str
    ) -> list[Inbound]:
        if secret:
            verify_hub_signature(headers, body, secret)
        payload = _require_object(parsed)
        event = payload.get("webhookEvent")
        if not isinstance(event, str) or not event:
            raise WebhookRejected(400, "body has no webhookEvent")
        mapping = _JIRA_EVENTS.get(event)
        if mapping is None:
            return []
        event_type, date_source, date_fields = mapping

        issue = payload.get("issue")
        if not isinstance(issue, dict):
            raise WebhookRejected(400, f"{event} body has no issue object")
        key = issue.get("key")
        if not isinstance(key, str) or not key:
            raise WebhookRejected(400, f"{event} body has no issue.key")
        fields = _obj(issue.get("fields"))

        if date_source == _COMMENT:
            comment = payload.get("comment")
            if not isinstance(comment, dict):
                raise WebhookRejected(400, f"{event} body has no comment object")
            dated = comment
        else:
            dated = fields
        entity_date = next((d for f in date_fields if (d := _text(dated.get(f)))), "")

        return [
            Inbound(
                event_type=event_type,
                ticket_id=key,
                entity_date=entity_date,
                priority=priorities.jira_priority(
                    _text(_obj(fields.get("priority")).get("name")), overrides
                ),
                short_description=_text(fields.get("summary")),
                dedup_key=_header(headers, JIRA_DELIVERY_HEADER),
            )
        ]

    return normalize


# --- ServiceNow ----------------------------------------------------------------

_SN_RECORD_EVENTS: Mapping[str, tuple[int, str]] = MappingProxyType(
    {
        "insert": (events_pb2.TICKET_CREATED, "sys_created_on"),
        "update": (events_pb2.TICKET_UPDATED, "sys_updated_on"),
        "delete": (events_pb2.TICKET_DELETED, "sys_updated_on"),
    }
)
_SN_COMMENT_EVENTS: Mapping[str, int] = MappingProxyType(
    {
        "insert": events_pb2.TICKET_COMMENT_CREATED,
        "delete": events_pb2.TICKET_COMMENT_DELETED,
    }
)


def _operation(obj: dict[str, Any], where: str) -> str:
    op = obj.get("operation")
    if not isinstance(op, str) or not op.strip():
        raise WebhookRejected(400, f"body has no {where}operation")
    return op.strip().lower()


def normalize_servicenow(
    headers: Mapping[str, str], body: bytes, parsed: Any, secret: str
) -> list[Inbound]:
    """The connector's own Business Rule payload (ITSM and SIR alike)."""
    if secret:
        verify_hub_signature(headers, body, secret)
    payload = _require_object(parsed)
    sys_id = payload.get("sys_id")
    if not isinstance(sys_id, str) or not sys_id.strip():
        raise WebhookRejected(400, "body has no sys_id")

    comment = payload.get("comment")
    if comment is not None:
        if not isinstance(comment, dict):
            raise WebhookRejected(400, "comment must be a JSON object")
        comment_type = _SN_COMMENT_EVENTS.get(_operation(comment, "comment."))
        if comment_type is None:
            return []
        event_type, entity_date = comment_type, _text(comment.get("sys_created_on"))
    else:
        record = _SN_RECORD_EVENTS.get(_operation(payload, ""))
        if record is None:
            return []
        event_type, date_field = record
        entity_date = _text(payload.get(date_field))

    event_id = payload.get("event_id")
    dedup_key = (
        event_id.strip()
        if isinstance(event_id, str) and event_id.strip()
        else _header(headers, SERVICENOW_EVENT_HEADER)
    )
    return [
        Inbound(
            event_type=event_type,
            ticket_id=sys_id.strip(),
            entity_date=entity_date,
            priority=priorities.servicenow_priority(_sn_priority(payload.get("priority"))),
            short_description=_text(payload.get("short_description")),
            dedup_key=dedup_key,
        )
    ]


def _sn_priority(value: Any) -> str | None:
    """The code from `getValue('priority')` ("2"), a number, or a display value ("2 - High")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.strip().split(" ", 1)[0] or None
    return None


# --- PagerDuty -----------------------------------------------------------------

_PD_UPDATED = frozenset(
    {
        "incident.acknowledged",
        "incident.unacknowledged",
        "incident.resolved",
        "incident.reopened",
        "incident.escalated",
        "incident.reassigned",
        "incident.delegated",
        "incident.priority_updated",
        "incident.service_updated",
    }
)
_PD_EVENTS: Mapping[str, int] = MappingProxyType(
    {
        "incident.triggered": events_pb2.TICKET_CREATED,
        **{name: events_pb2.TICKET_UPDATED for name in _PD_UPDATED},
        "incident.annotated": events_pb2.TICKET_COMMENT_CREATED,
    }
)


def verify_pagerduty_signature(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    """Check `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]` against HMAC-SHA256(secret, body).

    Any v1 signature matching passes (several are sent while a secret is
    rotated); other versions are ignored. Constant-time comparison. Raises
    WebhookRejected(401) when the header is missing or nothing matches.
    """
    if not secret:
        raise ValueError("verify_pagerduty_signature needs a non-empty secret")
    provided = _header(headers, PAGERDUTY_SIGNATURE_HEADER)
    if provided is None:
        raise WebhookRejected(401, f"missing {PAGERDUTY_SIGNATURE_HEADER} header")
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    matched = False
    for entry in provided.split(","):
        version, sep, digest = entry.strip().partition("=")
        if sep and version.strip().lower() == "v1":
            # Every entry is compared, so the time taken does not tell which matched.
            matched |= hmac.compare_digest(digest.strip().lower().encode(), expected.encode())
    if not matched:
        raise WebhookRejected(401, f"{PAGERDUTY_SIGNATURE_HEADER} does not match the body")


def normalize_pagerduty(
    headers: Mapping[str, str], body: bytes, parsed: Any, secret: str
) -> list[Inbound]:
    """A PagerDuty V3 webhook (one event per delivery)."""
    if secret:
        verify_pagerduty_signature(headers, body, secret)
    payload = _require_object(parsed)
    event = payload.get("event")
    if not isinstance(event, dict):
        raise WebhookRejected(400, "body has no event object")
    event_type = event.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise WebhookRejected(400, "body has no event.event_type")
    mapped = _PD_EVENTS.get(event_type)
    if mapped is None:
        return []
    data = event.get("data")
    if not isinstance(data, dict):
        raise WebhookRejected(400, f"{event_type} body has no event.data object")
    if mapped == events_pb2.TICKET_COMMENT_CREATED:
        incident = _obj(data.get("incident"))
        ticket_id = _text(incident.get("id"))
        title = _text(data.get("title")) or _text(incident.get("summary"))
        where = "event.data.incident.id"
    else:
        ticket_id = _text(data.get("id"))
        title = _text(data.get("title"))
        where = "event.data.id"
    if not ticket_id.strip():
        raise WebhookRejected(400, f"{event_type} body has no {where}")
    event_id = _text(event.get("id")).strip()
    return [
        Inbound(
            event_type=mapped,
            ticket_id=ticket_id.strip(),
            entity_date=_text(event.get("occurred_at")),
            priority=pagerduty_priority(_obj(data.get("priority")).get("summary")),
            short_description=title,
            dedup_key=event_id or None,
        )
    ]


# --- registry ------------------------------------------------------------------

NORMALIZERS: Mapping[str, Normalizer] = MappingProxyType(
    {
        "ticketing_jira": jira_normalizer(),
        "ticketing_servicenow": normalize_servicenow,
        "ticketing_servicenow_sir": normalize_servicenow,
        "ticketing_pagerduty": normalize_pagerduty,
    }
)
"""Provider id -> normalizer. Providers without an entry take no inbound webhooks."""


def normalizer_for(integration: integrations_pb2.Integration) -> Normalizer | None:
    """The normalizer for an integration's webhooks, with its own priority map."""
    if integration.provider == "ticketing_jira" and integration.jira.priority_map:
        return jira_normalizer(dict(sorted(integration.jira.priority_map.items())))
    return NORMALIZERS.get(integration.provider)
