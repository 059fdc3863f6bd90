"""Webhook normalizers and priority tables: pure functions, no server needed.

The Jira fixtures follow the shape Jira Cloud admin webhooks deliver
(top level `timestamp`, `webhookEvent`, `issue_event_type_name`, `user`,
`issue`, `changelog`; comment events carry `comment` and a trimmed `issue`),
with delivery metadata in `X-Atlassian-Webhook-*` headers. The ServiceNow
fixtures follow the connector's own Business Rule contract (docs/webhooks.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from multidict import CIMultiDict
from ticketing.v1 import events_pb2, ticket_pb2

from ticketing_grpc import priorities
from ticketing_grpc.events.normalizers import (
    NORMALIZERS,
    Inbound,
    WebhookRejected,
    jira_normalizer,
    verify_hub_signature,
)

SECRET = "whsec-7Qn2V0cS5pL1xK9e"
SITE = "https://acme.atlassian.net"
CREATED = "2024-09-30T12:26:34.123+0700"
UPDATED = "2024-10-01T08:05:09.870+0700"
DELIVERY_ID = "0f9b2c4e-5d1a-4c8e-9a3b-7e6f5d4c3b2a"

jira = NORMALIZERS["ticketing_jira"]
servicenow = NORMALIZERS["ticketing_servicenow"]


# --- fixtures ------------------------------------------------------------------


def _user() -> dict[str, Any]:
    return {
        "self": f"{SITE}/rest/api/2/user?accountId=5b10ac8d82e05b22cc7d4ef5",
        "accountId": "5b10ac8d82e05b22cc7d4ef5",
        "accountType": "atlassian",
        "displayName": "Mia Krystof",
        "active": True,
        "timeZone": "Asia/Bangkok",
    }


def _issue(priority: str | None = "High", *, trimmed: bool = False) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "summary": "Checkout fails for EU customers",
        "priority": None
        if priority is None
        else {"self": f"{SITE}/rest/api/2/priority/2", "name": priority, "id": "2"},
        "status": {
            "self": f"{SITE}/rest/api/2/status/10001",
            "name": "In Progress",
            "id": "10001",
            "statusCategory": {"id": 4, "key": "indeterminate", "name": "In Progress"},
        },
        "issuetype": {"id": "10004", "name": "Bug", "subtask": False},
        "project": {"id": "10000", "key": "TST", "name": "Test project"},
    }
    if not trimmed:
        fields |= {
            "created": CREATED,
            "updated": UPDATED,
            "reporter": _user(),
            "assignee": None,
            "labels": ["payments"],
            "customfield_10020": None,
        }
    return {
        "id": "10123",
        "key": "TST-123",
        "self": f"{SITE}/rest/api/2/issue/10123",
        "fields": fields,
    }


def jira_issue_event(event: str, **issue_kw: Any) -> dict[str, Any]:
    type_names = {
        "jira:issue_created": "issue_created",
        "jira:issue_updated": "issue_generic",
        "jira:issue_deleted": "issue_deleted",
    }
    payload: dict[str, Any] = {
        "timestamp": 1727674000123,
        "webhookEvent": event,
        "issue_event_type_name": type_names.get(event, "issue_generic"),
        "user": _user(),
        "issue": _issue(**issue_kw),
    }
    if event == "jira:issue_updated":
        payload["changelog"] = {
            "id": "10500",
            "items": [
                {
                    "field": "status",
                    "fieldtype": "jira",
                    "from": "10000",
                    "fromString": "To Do",
                    "to": "10001",
                    "toString": "In Progress",
                }
            ],
        }
    return payload


def jira_comment_event(event: str, *, updated: str | None = UPDATED) -> dict[str, Any]:
    comment: dict[str, Any] = {
        "self": f"{SITE}/rest/api/2/issue/10123/comment/10050",
        "id": "10050",
        "author": _user(),
        "body": "Reproduced on staging.",
        "updateAuthor": _user(),
        "created": CREATED,
        "jsdPublic": True,
    }
    if updated is not None:
        comment["updated"] = updated
    return {
        "timestamp": 1727674000456,
        "webhookEvent": event,
        "comment": comment,
        "issue": _issue(trimmed=True),
    }


def encode(payload: Any) -> tuple[bytes, Any]:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return body, json.loads(body)


def sign_hex(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sign_b64(body: bytes, secret: str = SECRET) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def jira_headers(**extra: str) -> CIMultiDict[str]:
    # aiohttp hands the normalizer a case-insensitive multidict like this one.
    headers: CIMultiDict[str] = CIMultiDict(
        {
            "Content-Type": "application/json; charset=utf-8",
            "X-Atlassian-Webhook-Identifier": DELIVERY_ID,
            "X-Atlassian-Webhook-Flow": "Primary",
        }
    )
    headers.update(extra)
    return headers


def run_jira(payload: Any, headers: Any = None, secret: str = "") -> list[Inbound]:
    body, parsed = encode(payload)
    return jira(jira_headers() if headers is None else headers, body, parsed, secret)


def sn_record(operation: str = "insert", **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "sys_id": "9d385017c611228701d22104cc95c371",
        "number": "INC0010023",
        "table": "incident",
        "operation": operation,
        "short_description": "Email server unreachable",
        "priority": "2",
        "sys_created_on": "2024-09-30 05:26:34",
        "sys_updated_on": "2024-10-01 01:05:09",
        "event_id": f"9d385017c611228701d22104cc95c371:3:{operation}",
    }
    payload.update(extra)
    return payload


def sn_comment(operation: str = "insert", **extra: Any) -> dict[str, Any]:
    return sn_record(
        "update",
        comment={
            "sys_id": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
            "value": "Customer confirms the outage.",
            "sys_created_on": "2024-10-01 01:04:59",
            "operation": operation,
        },
        event_id=f"a1b2c3d4e5f60718293a4b5c6d7e8f90:{operation}",
        **extra,
    )


def run_sn(payload: Any, headers: Any = None, secret: str = "") -> list[Inbound]:
    body, parsed = encode(payload)
    return servicenow({} if headers is None else headers, body, parsed, secret)


# --- Jira mapping --------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "event_type", "entity_date"),
    [
        ("jira:issue_created", events_pb2.TICKET_CREATED, CREATED),
        ("jira:issue_updated", events_pb2.TICKET_UPDATED, UPDATED),
        ("jira:issue_deleted", events_pb2.TICKET_DELETED, UPDATED),
    ],
)
def test_jira_issue_events(event: str, event_type: int, entity_date: str) -> None:
    assert run_jira(jira_issue_event(event)) == [
        Inbound(
            event_type=event_type,
            ticket_id="TST-123",
            entity_date=entity_date,
            priority=ticket_pb2.HIGH,
            short_description="Checkout fails for EU customers",
            dedup_key=DELIVERY_ID,
        )
    ]


def test_jira_comment_created_takes_date_from_the_comment() -> None:
    [event] = run_jira(jira_comment_event("comment_created"))
    assert event.event_type == events_pb2.TICKET_COMMENT_CREATED
    assert event.ticket_id == "TST-123"
    assert event.entity_date == CREATED
    # The trimmed issue in comment events still carries summary and priority.
    assert event.short_description == "Checkout fails for EU customers"
    assert event.priority == ticket_pb2.HIGH


def test_jira_comment_deleted_uses_comment_updated() -> None:
    [event] = run_jira(jira_comment_event("comment_deleted"))
    assert event.event_type == events_pb2.TICKET_COMMENT_DELETED
    assert event.entity_date == UPDATED


def test_jira_comment_deleted_without_updated_falls_back_to_created() -> None:
    [event] = run_jira(jira_comment_event("comment_deleted", updated=None))
    assert event.entity_date == CREATED


@pytest.mark.parametrize(
    "event",
    [
        "comment_updated",
        "worklog_created",
        "worklog_updated",
        "issue_property_set",
        "issuelink_created",
        "sprint_started",
        "jira:worklog_updated",
    ],
)
def test_jira_unmapped_types_are_accepted_and_ignored(event: str) -> None:
    # Not even an issue is required: the type alone decides that nothing is recorded.
    assert run_jira({"timestamp": 1727674000123, "webhookEvent": event}) == []


def test_jira_entity_date_is_kept_byte_for_byte() -> None:
    odd = "2024-09-30T12:26:34.1+0700"  # fewer millis digits, compact offset
    payload = jira_issue_event("jira:issue_created")
    payload["issue"]["fields"]["created"] = odd
    [event] = run_jira(payload)
    assert event.entity_date == odd
    # Also the reference document's compact form, which is not ISO-8601 at all.
    payload["issue"]["fields"]["created"] = "20240930T122634.123+700"
    assert run_jira(payload)[0].entity_date == "20240930T122634.123+700"


def test_jira_missing_dates_and_fields_do_not_fail() -> None:
    payload = jira_issue_event("jira:issue_updated", priority=None)
    del payload["issue"]["fields"]["updated"]
    del payload["issue"]["fields"]["summary"]
    [event] = run_jira(payload)
    assert (event.entity_date, event.short_description) == ("", "")
    assert event.priority == ticket_pb2.PRIORITY_UNSPECIFIED


def test_jira_unknown_priority_name_is_unspecified() -> None:
    [event] = run_jira(jira_issue_event("jira:issue_created", priority="P0 - Sev1"))
    assert event.priority == ticket_pb2.PRIORITY_UNSPECIFIED


def test_jira_priority_overrides_apply_through_the_factory() -> None:
    normalize = jira_normalizer({"p0 - sev1": ticket_pb2.URGENT, "High": ticket_pb2.CRITICAL})
    body, parsed = encode(jira_issue_event("jira:issue_created", priority="P0 - Sev1"))
    assert normalize(jira_headers(), body, parsed, "")[0].priority == ticket_pb2.URGENT
    body, parsed = encode(jira_issue_event("jira:issue_created", priority="High"))
    assert normalize(jira_headers(), body, parsed, "")[0].priority == ticket_pb2.CRITICAL


def test_jira_dedup_key_absent_is_none_and_header_case_does_not_matter() -> None:
    headers: CIMultiDict[str] = CIMultiDict({"Content-Type": "application/json"})
    assert run_jira(jira_issue_event("jira:issue_created"), headers)[0].dedup_key is None
    # Plain dicts with lower-cased names (as Node-style proxies forward them) work too.
    plain = {"x-atlassian-webhook-identifier": "abc-1"}
    assert run_jira(jira_issue_event("jira:issue_created"), plain)[0].dedup_key == "abc-1"


def test_jira_retry_keeps_the_same_dedup_key() -> None:
    first = run_jira(jira_issue_event("jira:issue_updated"))
    retry = run_jira(
        jira_issue_event("jira:issue_updated"), jira_headers(**{"X-Atlassian-Webhook-Retry": "1"})
    )
    assert first == retry


# --- Jira rejections -----------------------------------------------------------


@pytest.mark.parametrize("parsed", [[], "jira:issue_created", 42, None, True])
def test_jira_json_that_is_not_an_object_is_400(parsed: Any) -> None:
    with pytest.raises(WebhookRejected) as caught:
        jira(jira_headers(), json.dumps(parsed).encode(), parsed, "")
    assert caught.value.status == 400
    assert "object" in caught.value.message


def test_jira_without_webhook_event_is_400() -> None:
    payload = jira_issue_event("jira:issue_created")
    del payload["webhookEvent"]
    with pytest.raises(WebhookRejected) as caught:
        run_jira(payload)
    assert (caught.value.status, caught.value.message) == (400, "body has no webhookEvent")


@pytest.mark.parametrize(
    "event", ["jira:issue_created", "jira:issue_updated", "jira:issue_deleted"]
)
def test_jira_issue_event_without_key_is_400(event: str) -> None:
    payload = jira_issue_event(event)
    del payload["issue"]["key"]
    with pytest.raises(WebhookRejected) as caught:
        run_jira(payload)
    assert caught.value.status == 400
    assert "issue.key" in caught.value.message


def test_jira_issue_event_without_issue_is_400() -> None:
    payload = jira_issue_event("jira:issue_deleted")
    del payload["issue"]
    with pytest.raises(WebhookRejected) as caught:
        run_jira(payload)
    assert caught.value.status == 400
    assert "issue" in caught.value.message


def test_jira_comment_event_without_comment_is_400() -> None:
    payload = jira_comment_event("comment_created")
    del payload["comment"]
    with pytest.raises(WebhookRejected) as caught:
        run_jira(payload)
    assert caught.value.status == 400
    assert "comment" in caught.value.message


# --- signatures ----------------------------------------------------------------


def test_signature_hex_is_accepted() -> None:
    body, parsed = encode(jira_issue_event("jira:issue_created"))
    headers = jira_headers(**{"X-Hub-Signature": sign_hex(body)})
    assert jira(headers, body, parsed, SECRET)[0].ticket_id == "TST-123"


def test_signature_base64_and_lowercase_header_are_accepted() -> None:
    body, parsed = encode(sn_record())
    assert servicenow({"x-hub-signature": sign_b64(body)}, body, parsed, SECRET)


def test_signature_is_over_the_raw_bytes_not_the_parsed_json() -> None:
    body, parsed = encode(jira_issue_event("jira:issue_created"))
    reformatted = json.dumps(parsed, indent=2).encode()
    headers = jira_headers(**{"X-Hub-Signature": sign_hex(reformatted)})
    with pytest.raises(WebhookRejected) as caught:
        jira(headers, body, parsed, SECRET)
    assert caught.value.status == 401


def test_missing_signature_is_401_when_a_secret_is_set() -> None:
    with pytest.raises(WebhookRejected) as caught:
        run_jira(jira_issue_event("jira:issue_created"), secret=SECRET)
    assert caught.value.status == 401
    assert "missing" in caught.value.message


def test_no_secret_means_no_signature_check() -> None:
    headers = jira_headers(**{"X-Hub-Signature": "sha256=" + "0" * 64})
    assert run_jira(jira_issue_event("jira:issue_created"), headers) != []


@pytest.mark.parametrize(
    "signature",
    [
        "sha256=" + "0" * 64,  # right shape, wrong value
        "sha256=deadbeef",  # too short
        "sha256=not-a-digest!",
        "sha1=" + "0" * 40,  # other algorithm
        "0" * 64,  # no algorithm prefix
        "sha256=",
    ],
)
def test_bad_signatures_are_401_and_never_echo_secrets(signature: str) -> None:
    body, parsed = encode(jira_issue_event("jira:issue_created"))
    headers = jira_headers(**{"X-Hub-Signature": signature})
    with pytest.raises(WebhookRejected) as caught:
        jira(headers, body, parsed, SECRET)
    assert caught.value.status == 401
    assert SECRET not in caught.value.message
    assert SECRET not in str(caught.value)
    if len(signature) > len("sha256="):
        assert signature not in caught.value.message


def test_signature_with_wrong_secret_is_401() -> None:
    body, parsed = encode(sn_record())
    with pytest.raises(WebhookRejected) as caught:
        servicenow({"X-Hub-Signature": sign_hex(body, "other")}, body, parsed, SECRET)
    assert caught.value.status == 401


def test_signature_is_checked_before_the_body_is_validated() -> None:
    # An unsigned caller learns nothing about what a valid body looks like.
    with pytest.raises(WebhookRejected) as caught:
        jira(jira_headers(), b"[]", [], SECRET)
    assert caught.value.status == 401


def test_signed_body_that_is_not_an_object_is_400() -> None:
    headers = jira_headers(**{"X-Hub-Signature": sign_hex(b"[]")})
    with pytest.raises(WebhookRejected) as caught:
        jira(headers, b"[]", [], SECRET)
    assert caught.value.status == 400


def test_verify_hub_signature_directly() -> None:
    body = b'{"a":1}'
    verify_hub_signature({"X-Hub-Signature": sign_hex(body)}, body, SECRET)
    verify_hub_signature({"X-HUB-SIGNATURE": sign_b64(body)}, body, SECRET)
    urlsafe = sign_b64(body).replace("+", "-").replace("/", "_")
    verify_hub_signature({"X-Hub-Signature": urlsafe}, body, SECRET)
    verify_hub_signature({"X-Hub-Signature": "SHA256=" + sign_hex(body)[7:].upper()}, body, SECRET)
    with pytest.raises(WebhookRejected):
        verify_hub_signature({"X-Hub-Signature": sign_hex(body)}, body + b" ", SECRET)
    with pytest.raises(ValueError):
        verify_hub_signature({"X-Hub-Signature": sign_hex(body, "")}, body, "")


def test_webhook_rejected_only_takes_400_or_401() -> None:
    with pytest.raises(ValueError):
        WebhookRejected(500, "no")


# --- ServiceNow ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "event_type", "entity_date"),
    [
        ("insert", events_pb2.TICKET_CREATED, "2024-09-30 05:26:34"),
        ("update", events_pb2.TICKET_UPDATED, "2024-10-01 01:05:09"),
        ("delete", events_pb2.TICKET_DELETED, "2024-10-01 01:05:09"),
    ],
)
def test_servicenow_record_events(operation: str, event_type: int, entity_date: str) -> None:
    assert run_sn(sn_record(operation)) == [
        Inbound(
            event_type=event_type,
            ticket_id="9d385017c611228701d22104cc95c371",
            entity_date=entity_date,
            priority=ticket_pb2.HIGH,
            short_description="Email server unreachable",
            dedup_key=f"9d385017c611228701d22104cc95c371:3:{operation}",
        )
    ]


@pytest.mark.parametrize(
    ("operation", "event_type"),
    [("insert", events_pb2.TICKET_COMMENT_CREATED), ("delete", events_pb2.TICKET_COMMENT_DELETED)],
)
def test_servicenow_comment_events(operation: str, event_type: int) -> None:
    [event] = run_sn(sn_comment(operation))
    assert event.event_type == event_type
    # The ticket is the record the journal entry belongs to, not the entry itself.
    assert event.ticket_id == "9d385017c611228701d22104cc95c371"
    assert event.entity_date == "2024-10-01 01:04:59"
    assert event.dedup_key == f"a1b2c3d4e5f60718293a4b5c6d7e8f90:{operation}"


def test_servicenow_sir_uses_the_same_contract() -> None:
    payload = sn_record("insert", table="sn_si_incident", priority="1")
    body, parsed = encode(payload)
    [event] = NORMALIZERS["ticketing_servicenow_sir"]({}, body, parsed, "")
    assert (event.event_type, event.priority) == (events_pb2.TICKET_CREATED, ticket_pb2.CRITICAL)


@pytest.mark.parametrize("operation", ["query", "display", "merge"])
def test_servicenow_other_operations_are_ignored(operation: str) -> None:
    assert run_sn(sn_record(operation)) == []


def test_servicenow_comment_update_is_ignored() -> None:
    assert run_sn(sn_comment("update")) == []


def test_servicenow_entity_date_is_kept_verbatim() -> None:
    odd = "2024-09-30T12:26:34.123+0700"
    [event] = run_sn(sn_record("insert", sys_created_on=odd))
    assert event.entity_date == odd


def test_servicenow_dedup_key_from_header_when_body_has_none() -> None:
    payload = sn_record("update")
    del payload["event_id"]
    assert run_sn(payload)[0].dedup_key is None
    headers: CIMultiDict[str] = CIMultiDict({"X-ServiceNow-Event-Id": "evt-77"})
    assert run_sn(payload, headers)[0].dedup_key == "evt-77"
    # The body's event_id wins over the header.
    assert run_sn(sn_record("update"), headers)[0].dedup_key.endswith(":update")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("1", ticket_pb2.CRITICAL),
        ("3", ticket_pb2.MODERATE),
        ("5", ticket_pb2.PLANNING),
        (4, ticket_pb2.LOW),
        ("2 - High", ticket_pb2.HIGH),
        ("", ticket_pb2.PRIORITY_UNSPECIFIED),
        ("9", ticket_pb2.PRIORITY_UNSPECIFIED),
        (None, ticket_pb2.PRIORITY_UNSPECIFIED),
        (True, ticket_pb2.PRIORITY_UNSPECIFIED),
    ],
)
def test_servicenow_priority_values(sent: Any, expected: int) -> None:
    assert run_sn(sn_record("update", priority=sent))[0].priority == expected


@pytest.mark.parametrize("sys_id", [None, "", "  ", 12345])
def test_servicenow_missing_sys_id_is_400(sys_id: Any) -> None:
    payload = sn_record()
    if sys_id is None:
        del payload["sys_id"]
    else:
        payload["sys_id"] = sys_id
    with pytest.raises(WebhookRejected) as caught:
        run_sn(payload)
    assert (caught.value.status, caught.value.message) == (400, "body has no sys_id")


def test_servicenow_missing_operation_is_400() -> None:
    payload = sn_record()
    del payload["operation"]
    with pytest.raises(WebhookRejected) as caught:
        run_sn(payload)
    assert caught.value.status == 400
    assert "operation" in caught.value.message


def test_servicenow_bad_comment_is_400() -> None:
    with pytest.raises(WebhookRejected) as caught:
        run_sn(sn_record("update", comment="text"))
    assert caught.value.status == 400
    payload = sn_comment("insert")
    del payload["comment"]["operation"]
    with pytest.raises(WebhookRejected) as caught:
        run_sn(payload)
    assert "comment.operation" in caught.value.message


def test_servicenow_not_an_object_is_400() -> None:
    with pytest.raises(WebhookRejected) as caught:
        servicenow({}, b'"x"', "x", "")
    assert caught.value.status == 400


def test_servicenow_signature_required_when_secret_set() -> None:
    body, parsed = encode(sn_record())
    with pytest.raises(WebhookRejected) as caught:
        servicenow({}, body, parsed, SECRET)
    assert caught.value.status == 401
    assert servicenow({"X-Hub-Signature": sign_hex(body)}, body, parsed, SECRET)


def test_registry_is_read_only_and_names_the_providers_that_send_webhooks() -> None:
    assert set(NORMALIZERS) == {
        "ticketing_jira",
        "ticketing_pagerduty",
        "ticketing_servicenow",
        "ticketing_servicenow_sir",
    }
    with pytest.raises(TypeError):
        NORMALIZERS["ticketing_zendesk"] = jira  # type: ignore[index]


# --- priority tables -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Highest", ticket_pb2.URGENT),
        ("High", ticket_pb2.HIGH),
        ("Medium", ticket_pb2.MEDIUM),
        ("Low", ticket_pb2.LOW),
        ("Lowest", ticket_pb2.PLANNING),
        ("Blocker", ticket_pb2.URGENT),
        ("Critical", ticket_pb2.CRITICAL),
        ("Major", ticket_pb2.HIGH),
        ("Minor", ticket_pb2.LOW),
        ("Trivial", ticket_pb2.PLANNING),
        ("HIGHEST", ticket_pb2.URGENT),
        ("  minor ", ticket_pb2.LOW),
        ("Urgent", ticket_pb2.PRIORITY_UNSPECIFIED),
        ("", ticket_pb2.PRIORITY_UNSPECIFIED),
        (None, ticket_pb2.PRIORITY_UNSPECIFIED),
    ],
)
def test_jira_name_to_priority(name: str | None, expected: int) -> None:
    assert priorities.jira_priority(name) == expected


@pytest.mark.parametrize(
    ("priority", "name"),
    [
        (ticket_pb2.URGENT, "Highest"),
        (ticket_pb2.CRITICAL, "Highest"),
        (ticket_pb2.HIGH, "High"),
        (ticket_pb2.MEDIUM, "Medium"),
        (ticket_pb2.MODERATE, "Medium"),
        (ticket_pb2.LOW, "Low"),
        (ticket_pb2.PLANNING, "Lowest"),
        (ticket_pb2.PRIORITY_UNSPECIFIED, None),
        (99, None),
    ],
)
def test_priority_to_jira_name(priority: int, name: str | None) -> None:
    assert priorities.jira_priority_name(priority) == name


def test_every_priority_has_a_jira_name_that_reads_back_to_a_known_value() -> None:
    for value in ticket_pb2.Priority.values():
        if value == ticket_pb2.PRIORITY_UNSPECIFIED:
            continue
        name = priorities.jira_priority_name(value)
        assert name is not None
        assert priorities.jira_priority(name) != ticket_pb2.PRIORITY_UNSPECIFIED


def test_jira_overrides_win_both_ways() -> None:
    overrides = {"P1": ticket_pb2.URGENT, "P2": ticket_pb2.HIGH, "Highest": ticket_pb2.CRITICAL}
    assert priorities.jira_priority("p1", overrides) == ticket_pb2.URGENT
    assert priorities.jira_priority("HIGHEST", overrides) == ticket_pb2.CRITICAL
    assert priorities.jira_priority("Lowest", overrides) == ticket_pb2.PLANNING  # falls through
    assert priorities.jira_priority_name(ticket_pb2.URGENT, overrides) == "P1"
    assert priorities.jira_priority_name(ticket_pb2.HIGH, overrides) == "P2"
    assert priorities.jira_priority_name(ticket_pb2.CRITICAL, overrides) == "Highest"
    assert priorities.jira_priority_name(ticket_pb2.LOW, overrides) == "Low"  # falls through


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("1", ticket_pb2.CRITICAL),
        ("2", ticket_pb2.HIGH),
        ("3", ticket_pb2.MODERATE),
        ("4", ticket_pb2.LOW),
        ("5", ticket_pb2.PLANNING),
        (1, ticket_pb2.CRITICAL),
        (" 2 ", ticket_pb2.HIGH),
        ("0", ticket_pb2.PRIORITY_UNSPECIFIED),
        ("6", ticket_pb2.PRIORITY_UNSPECIFIED),
        ("Critical", ticket_pb2.PRIORITY_UNSPECIFIED),
        (None, ticket_pb2.PRIORITY_UNSPECIFIED),
    ],
)
def test_servicenow_code_to_priority(code: str | int | None, expected: int) -> None:
    assert priorities.servicenow_priority(code) == expected


@pytest.mark.parametrize(
    ("priority", "code"),
    [
        (ticket_pb2.URGENT, "1"),
        (ticket_pb2.CRITICAL, "1"),
        (ticket_pb2.HIGH, "2"),
        (ticket_pb2.MEDIUM, "3"),
        (ticket_pb2.MODERATE, "3"),
        (ticket_pb2.LOW, "4"),
        (ticket_pb2.PLANNING, "5"),
        (ticket_pb2.PRIORITY_UNSPECIFIED, None),
    ],
)
def test_priority_to_servicenow_code(priority: int, code: str | None) -> None:
    assert priorities.servicenow_priority_code(priority) == code


def test_priority_tables_are_read_only() -> None:
    with pytest.raises(TypeError):
        priorities.JIRA_NAME_TO_PRIORITY["urgent"] = ticket_pb2.URGENT  # type: ignore[index]


def test_normalizer_for_uses_the_integrations_jira_priority_map() -> None:
    from ticketing.v1 import integrations_pb2

    from ticketing_grpc.events.normalizers import normalizer_for

    integration = integrations_pb2.Integration(provider="ticketing_jira")
    integration.jira.priority_map["P1"] = ticket_pb2.URGENT
    body = json.dumps(
        {
            "webhookEvent": "jira:issue_created",
            "issue": {
                "key": "A-1",
                "fields": {
                    "summary": "s",
                    "priority": {"name": "P1"},
                    "created": "2024-01-01T00:00:00.000+0000",
                },
            },
        }
    ).encode()
    normalize = normalizer_for(integration)
    assert normalize is not None
    (event,) = normalize({}, body, json.loads(body), "")
    assert event.priority == ticket_pb2.URGENT
    plain = normalizer_for(integrations_pb2.Integration(provider="ticketing_jira"))
    assert plain is not None
    assert plain({}, body, json.loads(body), "")[0].priority == ticket_pb2.PRIORITY_UNSPECIFIED
    assert normalizer_for(integrations_pb2.Integration(provider="ticketing_mock_ticketing")) is None
