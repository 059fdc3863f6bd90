"""The PagerDuty V3 webhook normaliser: pure function, no server needed.

Fixtures follow the payloads of PagerDuty's V3 webhook documentation
(developer-docs, docs/webhooks/01-Overview.md): one `event` per delivery,
`data` the incident for incident events and the note (with a trimmed
`incident` reference) for incident.annotated. Signatures as in
docs/webhooks/04-Signatures.md: `X-PagerDuty-Signature: v1=<hex>` and, during
a secret rotation, several comma-separated.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from ticketing.v1 import events_pb2, integrations_pb2, ticket_pb2

from ticketing_grpc.events.normalizers import (
    NORMALIZERS,
    Inbound,
    WebhookRejected,
    normalize_pagerduty,
    normalizer_for,
    verify_pagerduty_signature,
)

SECRET = "pd-webhook-secret-6f0c1b2e"
OLD_SECRET = "pd-webhook-secret-previous"
OCCURRED = "2020-10-02T18:45:22.169Z"
EVENT_ID = "5ac64822-4adc-4fda-ade0-410becf0de4f"


def _ref(kind: str, id_: str, summary: str) -> dict[str, Any]:
    return {
        "html_url": f"https://acme.pagerduty.com/{kind}s/{id_}",
        "id": id_,
        "self": f"https://api.pagerduty.com/{kind}s/{id_}",
        "summary": summary,
        "type": f"{kind}_reference",
    }


def incident_data(priority: str | None = "P1") -> dict[str, Any]:
    return {
        "id": "PGR0VU2",
        "type": "incident",
        "self": "https://api.pagerduty.com/incidents/PGR0VU2",
        "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
        "number": 2,
        "status": "triggered",
        "incident_key": "d3640fbd41094207a1c11e58e46b1662",
        "created_at": "2020-04-09T15:16:27Z",
        "title": "A little bump in the road",
        "service": _ref("service", "PF9KMXH", "API Service"),
        "assignees": [_ref("user", "PTUXL6G", "User 123")],
        "escalation_policy": _ref("escalation_policy", "PUS0KTE", "Default"),
        "teams": [_ref("team", "PFCVPS0", "Engineering")],
        "priority": None
        if priority is None
        else {
            "html_url": "https://acme.pagerduty.com/account/incident_priorities",
            "id": "PSO75BM",
            "self": "https://api.pagerduty.com/priorities/PSO75BM",
            "summary": priority,
            "type": "priority_reference",
        },
        "urgency": "high",
        "conference_bridge": {
            "conference_number": "+1 1234123412,,987654321#",
            "conference_url": "https://example.com",
        },
        "resolve_reason": None,
    }


def note_data() -> dict[str, Any]:
    return {
        "incident": {
            "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
            "id": "PGR0VU2",
            "self": "https://api.pagerduty.com/incidents/PGR0VU2",
            "summary": "A little bump in the road",
            "type": "incident_reference",
        },
        "id": "P2LA89X",
        "content": "I sure am glad we are using PagerDuty!",
        "trimmed": False,
        "type": "incident_note",
    }


def event(event_type: str, data: Any, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": EVENT_ID,
        "event_type": event_type,
        "resource_type": event_type.split(".", 1)[0],
        "occurred_at": OCCURRED,
        "agent": _ref("user", "PLH1HKV", "Tenex Engineer"),
        "client": {"name": "PagerDuty"},
        "data": data,
    }
    body.update(changes)
    return {"event": body}


def encode(payload: Any) -> tuple[bytes, Any]:
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return raw, json.loads(raw)


def sign(body: bytes, secret: str = SECRET) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def run(payload: Any, headers: dict[str, str] | None = None, secret: str = "") -> list[Inbound]:
    raw, parsed = encode(payload)
    return normalize_pagerduty(headers or {}, raw, parsed, secret)


# --- registration ---------------------------------------------------------------


def test_registered_for_pagerduty_integrations() -> None:
    assert NORMALIZERS["ticketing_pagerduty"] is normalize_pagerduty
    integration = integrations_pb2.Integration(
        provider="ticketing_pagerduty", pagerduty=integrations_pb2.PagerDutyConfig()
    )
    assert normalizer_for(integration) is normalize_pagerduty
    # the others are untouched
    assert NORMALIZERS["ticketing_servicenow"] is not normalize_pagerduty


# --- event types ----------------------------------------------------------------


def test_triggered_is_ticket_created() -> None:
    assert run(event("incident.triggered", incident_data())) == [
        Inbound(
            event_type=events_pb2.TICKET_CREATED,
            ticket_id="PGR0VU2",
            entity_date=OCCURRED,
            priority=ticket_pb2.CRITICAL,
            short_description="A little bump in the road",
            dedup_key=EVENT_ID,
        )
    ]


@pytest.mark.parametrize(
    "event_type",
    [
        "incident.acknowledged",
        "incident.unacknowledged",
        "incident.resolved",
        "incident.reopened",
        "incident.escalated",
        "incident.reassigned",
        "incident.delegated",
        "incident.priority_updated",
        "incident.service_updated",
    ],
)
def test_incident_changes_are_ticket_updated(event_type: str) -> None:
    (inbound,) = run(event(event_type, incident_data("P3")))
    assert inbound.event_type == events_pb2.TICKET_UPDATED
    assert inbound.ticket_id == "PGR0VU2"
    assert inbound.priority == ticket_pb2.MODERATE
    assert inbound.entity_date == OCCURRED
    assert inbound.dedup_key == EVENT_ID


def test_annotated_is_comment_created_on_the_incident() -> None:
    (inbound,) = run(event("incident.annotated", note_data()))
    assert inbound.event_type == events_pb2.TICKET_COMMENT_CREATED
    assert inbound.ticket_id == "PGR0VU2"  # data.incident.id, not the note's id
    assert inbound.short_description == "A little bump in the road"
    assert inbound.priority == ticket_pb2.PRIORITY_UNSPECIFIED
    assert inbound.entity_date == OCCURRED


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        ("incident.responder.added", {"type": "incident_responder"}),
        ("incident.status_update_published", {"type": "incident_status_update"}),
        ("incident.custom_field_values.updated", {"type": "incident"}),
        ("incident.task.created", {"type": "incident_task"}),
        ("incident.workflow.started", {"type": "incident_workflow_instance"}),
        ("service.created", {"id": "PF9KMXH", "type": "service"}),
        ("service.updated", {"id": "PF9KMXH", "type": "service"}),
        ("pagey.ping", None),
    ],
)
def test_other_events_are_ignored(event_type: str, data: Any) -> None:
    assert run(event(event_type, data)) == []


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ("P1", ticket_pb2.CRITICAL),
        ("P2", ticket_pb2.HIGH),
        ("P3", ticket_pb2.MODERATE),
        ("P4", ticket_pb2.LOW),
        ("P5", ticket_pb2.PLANNING),
        ("SEV-1", ticket_pb2.PRIORITY_UNSPECIFIED),
        (None, ticket_pb2.PRIORITY_UNSPECIFIED),
    ],
)
def test_priority_from_the_reference_summary(summary: str | None, expected: int) -> None:
    (inbound,) = run(event("incident.priority_updated", incident_data(summary)))
    assert inbound.priority == expected


def test_entity_date_is_copied_byte_for_byte() -> None:
    odd = "2020-10-02T20:45:22.169000+02:00"
    (inbound,) = run(event("incident.resolved", incident_data(), occurred_at=odd))
    assert inbound.entity_date == odd


def test_missing_optional_parts() -> None:
    data = incident_data()
    del data["title"]
    (inbound,) = run(event("incident.acknowledged", data, id=None, occurred_at=None))
    assert inbound.short_description == ""
    assert inbound.entity_date == ""
    assert inbound.dedup_key is None


# --- malformed bodies -----------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([1, 2], "JSON object"),
        ({"messages": []}, "no event object"),  # a V2 webhook
        ({"event": {"event_type": ""}}, "event.event_type"),
        ({"event": {"event_type": 7}}, "event.event_type"),
        (event("incident.triggered", None), "event.data"),
        (event("incident.triggered", {"title": "no id"}), "event.data.id"),
        (event("incident.annotated", {"id": "P2LA89X", "type": "incident_note"}), "incident.id"),
    ],
)
def test_malformed_bodies_are_400(payload: Any, message: str) -> None:
    with pytest.raises(WebhookRejected) as raised:
        run(payload)
    assert raised.value.status == 400
    assert message in raised.value.message


# --- signatures -----------------------------------------------------------------


def test_signed_delivery_passes() -> None:
    raw, parsed = encode(event("incident.triggered", incident_data()))
    headers = {"X-PagerDuty-Signature": sign(raw)}
    assert len(normalize_pagerduty(headers, raw, parsed, SECRET)) == 1


def test_header_name_is_case_insensitive_and_digest_case_too() -> None:
    raw, parsed = encode(event("incident.triggered", incident_data()))
    headers = {"x-pagerduty-signature": sign(raw).upper().replace("V1=", "v1=")}
    assert len(normalize_pagerduty(headers, raw, parsed, SECRET)) == 1


@pytest.mark.parametrize("order", ["new-first", "old-first"])
def test_rotation_any_of_several_signatures_passes(order: str) -> None:
    raw, parsed = encode(event("incident.triggered", incident_data()))
    both = [sign(raw, SECRET), sign(raw, OLD_SECRET)]
    if order == "old-first":
        both.reverse()
    headers = {"X-PagerDuty-Signature": ", ".join(both)}
    assert len(normalize_pagerduty(headers, raw, parsed, SECRET)) == 1
    assert len(normalize_pagerduty(headers, raw, parsed, OLD_SECRET)) == 1


def test_unicode_body_is_signed_as_raw_bytes() -> None:
    data = incident_data()
    data["title"] = "Störung im Rechenzentrum ✓"
    raw, parsed = encode(event("incident.triggered", data))
    assert "✓".encode() in raw
    (inbound,) = normalize_pagerduty({"X-PagerDuty-Signature": sign(raw)}, raw, parsed, SECRET)
    assert inbound.short_description == "Störung im Rechenzentrum ✓"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing X-PagerDuty-Signature"),
        ("", "missing X-PagerDuty-Signature"),
        ("v1=" + "0" * 64, "does not match"),
        ("v2={good}", "does not match"),  # only v1 signatures count
        ("sha256={bare}", "does not match"),
        ("{bare}", "does not match"),
        ("v1={other}", "does not match"),
        ("v1={good_of_other_body}", "does not match"),
    ],
)
def test_bad_signatures_are_401(header: str | None, message: str) -> None:
    raw, parsed = encode(event("incident.triggered", incident_data()))
    digest = sign(raw)[3:]
    values = {
        "good": digest,
        "bare": digest,
        "other": sign(raw, OLD_SECRET)[3:],
        "good_of_other_body": sign(raw + b" ")[3:],
    }
    headers = {} if header is None else {"X-PagerDuty-Signature": header.format(**values)}
    with pytest.raises(WebhookRejected) as raised:
        normalize_pagerduty(headers, raw, parsed, SECRET)
    assert raised.value.status == 401
    assert message in raised.value.message
    assert SECRET not in raised.value.message and digest not in raised.value.message


def test_signature_is_checked_before_the_body() -> None:
    raw = b"not json at all"
    with pytest.raises(WebhookRejected) as raised:
        normalize_pagerduty({}, raw, None, SECRET)
    assert raised.value.status == 401


def test_without_a_secret_signatures_are_not_required() -> None:
    raw, parsed = encode(event("incident.triggered", incident_data()))
    assert len(normalize_pagerduty({"X-PagerDuty-Signature": "v1=junk"}, raw, parsed, "")) == 1


def test_verify_needs_a_secret() -> None:
    with pytest.raises(ValueError):
        verify_pagerduty_signature({}, b"{}", "")
