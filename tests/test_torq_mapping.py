"""Torq JSON <-> the common model and filter translation (pure functions, no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf import json_format, timestamp_pb2
from ticketing.v1 import ticket_pb2

from ticketing_grpc.errors import InvalidArgument, NotFound
from ticketing_grpc.providers.torq import api_base, default_token_url
from ticketing_grpc.providers.torq_mapping import (
    TICKET_SCHEMA,
    case_id,
    case_search,
    comment_entry,
    comment_from_event,
    create_body,
    custom_field_specs,
    error_text,
    note_from_event,
    priority_of,
    severity_of,
    ticket_from_case,
    update_body,
)
from ticketing_grpc.query import Query, QueryError, parse_query

CUSTOM = {"score": "risk_score", "vendor": "vendor", "flag": "flag"}
START = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def case(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": 28,
        "pretty_id": "#28",
        "title": "Compromised device",
        "description": "malware",
        "state": {"value": "in progress"},
        "severity": {"value": "high"},
        "assignee": "john@acme.test",
        "reporter": {"kind": "USER", "user": {"email": "jane@acme.test"}},
        "sla": {"value": "86400", "start_time": "2024-03-01T08:00:00.000000Z", "end_time": None},
        "category": "malware",
        "tasks": {"pending": "3"},
        "resolution_summary": None,
        "tags": ["user"],
        "custom_fields": [
            {"key": "risk_score", "value": "7", "type": "TYPE_NUMBER"},
            {"key": "flag", "value": "true", "type": "TYPE_BOOLEAN"},
            {"key": "external", "value": "x", "type": "TYPE_SHORT_TEXT"},
        ],
        "created_at": "2024-03-01T08:00:00.000000Z",
        "updated_at": "2024-03-01T09:30:00.123456Z",
    }
    base.update(over)
    return base


def plain(message: Any) -> dict[str, Any]:
    return dict(json_format.MessageToDict(message))


def ts(moment: datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(moment)
    return out


# -- ids, severities, URLs ----------------------------------------------------------------


@pytest.mark.parametrize(("text", "number"), [("28", 28), ("#28", 28), (" 7 ", 7)])
def test_case_id_accepts_numbers_and_pretty_ids(text: str, number: int) -> None:
    assert case_id(text) == number


@pytest.mark.parametrize("text", ["NOPE-999999", "0", "2147483648", "", "-1", "١٢", "1.5"])
def test_case_id_refuses_what_no_case_can_have(text: str) -> None:
    with pytest.raises(NotFound, match="case ids are numbers"):
        case_id(text)


def test_severity_table() -> None:
    assert [severity_of(p) for p in (ticket_pb2.URGENT, ticket_pb2.CRITICAL)] == ["critical"] * 2
    assert severity_of(ticket_pb2.MODERATE) == severity_of(ticket_pb2.MEDIUM) == "medium"
    assert severity_of(ticket_pb2.PLANNING) == "informational"
    assert priority_of("Informational") == ticket_pb2.PLANNING
    assert priority_of("critical") == ticket_pb2.CRITICAL
    assert priority_of("urgent") == priority_of(None) == ticket_pb2.PRIORITY_UNSPECIFIED
    with pytest.raises(InvalidArgument, match="cannot be cleared"):
        severity_of(ticket_pb2.PRIORITY_UNSPECIFIED)


def test_api_base_and_token_url() -> None:
    assert api_base("https://api.torq.io") == "https://api.torq.io/v1alpha"
    assert api_base("https://api.torq.io/public/v1alpha/") == "https://api.torq.io/public/v1alpha"
    assert api_base("") == "https://api.torq.io/v1alpha"
    assert default_token_url("https://api.torq.io") == "https://auth.torq.io/v1/auth/token"
    assert default_token_url("https://api.eu.torq.io") == "https://auth.eu.torq.io/v1/auth/token"
    assert default_token_url("http://127.0.0.1:8080/x") == "http://127.0.0.1:8080/v1/auth/token"


# -- reading cases ------------------------------------------------------------------------


def test_ticket_from_case() -> None:
    ticket = ticket_from_case(case(), CUSTOM)
    assert (ticket.id, ticket.summary, ticket.description) == (
        "28",
        "Compromised device",
        "malware",
    )
    assert (ticket.status, ticket.priority) == ("in progress", ticket_pb2.HIGH)
    assert (ticket.assignee, ticket.creator, ticket.issue_type) == (
        "john@acme.test",
        "jane@acme.test",
        "malware",
    )
    assert list(ticket.tags) == ["user"] and ticket.project == "" and ticket.url == ""
    assert ticket.created_at.ToDatetime(tzinfo=UTC) == START
    assert ticket.updated_at.ToDatetime(tzinfo=UTC).microsecond == 123456
    assert ticket.due_date.ToDatetime(tzinfo=UTC) == START + timedelta(days=1)
    assert not ticket.HasField("completion_date")
    assert plain(ticket.custom_fields) == {"score": 7, "flag": True}
    unmapped = plain(ticket.unmapped)
    assert unmapped["pretty_id"] == "#28" and unmapped["tasks"] == {"pending": "3"}
    assert unmapped["custom_fields"] == [
        {"key": "external", "value": "x", "type": "TYPE_SHORT_TEXT"}
    ]
    assert "resolution_summary" not in unmapped and "title" not in unmapped


def test_ticket_from_a_closed_workflow_case_without_sla() -> None:
    ticket = ticket_from_case(
        case(
            reporter={"kind": "WORKFLOW"},
            sla={
                "value": "0",
                "start_time": "2024-03-01T08:00:00Z",
                "end_time": "2024-03-02T08:00:00Z",
            },
            state={"value": "closed"},
            custom_fields=None,
        ),
        {},
    )
    assert ticket.creator == "" and plain(ticket.unmapped)["reporter"] == {"kind": "WORKFLOW"}
    assert not ticket.HasField("due_date")
    assert ticket.completion_date.ToDatetime(tzinfo=UTC) == START + timedelta(days=1)
    assert plain(ticket.custom_fields) == {}


# -- writing cases ------------------------------------------------------------------------


def test_create_body() -> None:
    ticket = ticket_pb2.Ticket(
        summary="x",
        description="d",
        status=" On Hold ",
        priority=ticket_pb2.URGENT,
        assignee="a@acme.test",
        tags=["t"],
        due_date=ts(START + timedelta(hours=2, seconds=1)),
    )
    ticket.custom_fields.update({"score": 2.5, "vendor": "acme", "flag": False})
    body = create_body(
        ticket, creator="c@acme.test", issue_type="phishing", custom=CUSTOM, now=START
    )
    assert body == {
        "title": "x",
        "description": "d",
        "state": {"value": "On Hold"},
        "severity": {"value": "critical"},
        "assignee": "a@acme.test",
        "reporter": {"user": {"email": "c@acme.test"}},
        "sla": "7201",
        "category": "phishing",
        "tags": ["t"],
        "custom_fields": body["custom_fields"],
    }
    assert sorted(body["custom_fields"], key=lambda f: f["key"]) == [
        {"key": "flag", "value": False, "type": "TYPE_BOOLEAN"},
        {"key": "risk_score", "value": 2.5, "type": "TYPE_NUMBER"},
        {"key": "vendor", "value": "acme", "type": "TYPE_SHORT_TEXT"},
    ]
    minimal = create_body(
        ticket_pb2.Ticket(summary="y"), creator="", issue_type="", custom={}, now=START
    )
    assert minimal == {"title": "y"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"project": "OPS"}, "project must be empty"),
        ({"contact": "c"}, "contact has no Torq"),
        ({"parent": "1"}, "parent has no Torq"),
        ({"completion_date": ts(START)}, "completion_date is set by Torq"),
        ({"due_date": ts(START - timedelta(minutes=1))}, "must be after"),
    ],
)
def test_create_body_refusals(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        create_body(
            ticket_pb2.Ticket(summary="x", **fields),
            creator="",
            issue_type="",
            custom={},
            now=START,
        )


def test_create_body_refuses_unmapped_and_structured_custom_fields() -> None:
    ticket = ticket_pb2.Ticket(summary="x")
    ticket.custom_fields.update({"nope": 1})
    with pytest.raises(InvalidArgument, match="'nope' is not mapped"):
        create_body(ticket, creator="", issue_type="", custom=CUSTOM, now=START)
    ticket = ticket_pb2.Ticket(summary="x")
    ticket.custom_fields.update({"score": {"a": 1}})
    with pytest.raises(InvalidArgument, match="string, number or boolean"):
        create_body(ticket, creator="", issue_type="", custom=CUSTOM, now=START)


def test_update_body_sends_only_changes() -> None:
    current = case()
    same = ticket_from_case(current, CUSTOM)
    assert (
        update_body(
            same, ["summary", "status", "priority", "tags", "custom_fields"], current, CUSTOM
        )
        is None
    )
    moderate = ticket_pb2.Ticket(priority=ticket_pb2.MODERATE)
    assert update_body(moderate, ["priority"], case(severity={"value": "medium"}), CUSTOM) is None
    change = ticket_pb2.Ticket(summary="New", status="Closed", priority=ticket_pb2.LOW, assignee="")
    body = update_body(
        change, ["summary", "status", "priority", "assignee", "issue_type"], current, CUSTOM
    )
    assert body == {
        "case": {
            "title": "New",
            "state": {"value": "Closed"},
            "severity": {"value": "low"},
            "assignee": "",
            "category": "",
        },
        "update_mask": "title,state,severity,assignee,category",
    }


def test_update_body_custom_fields() -> None:
    current = case(
        custom_fields=[
            {"key": "vendor", "value": "old", "type": "TYPE_LIST_SINGLE_SELECT"},
            {"key": "risk_score", "value": 1, "type": "TYPE_NUMBER"},
            {"key": "external", "value": "x", "type": "TYPE_SHORT_TEXT"},
        ]
    )
    one = ticket_pb2.Ticket()
    one.custom_fields.update({"vendor": "new"})
    body = update_body(one, ["custom_fields.vendor"], current, CUSTOM)
    assert body is not None and body["update_mask"] == "custom_fields"
    assert body["case"]["custom_fields"][0] == {
        "key": "vendor",
        "value": "new",
        "type": "TYPE_LIST_SINGLE_SELECT",  # the case's own text type is kept
    }
    whole = ticket_pb2.Ticket()
    whole.custom_fields.update({"flag": True})
    body = update_body(whole, ["custom_fields"], current, CUSTOM)
    assert body is not None
    assert body["case"]["custom_fields"] == [
        {"key": "external", "value": "x", "type": "TYPE_SHORT_TEXT"},  # not ours: kept
        {"key": "flag", "value": True, "type": "TYPE_BOOLEAN"},
    ]
    cleared = update_body(ticket_pb2.Ticket(), ["custom_fields.score"], current, CUSTOM)
    assert cleared is not None and [f["key"] for f in cleared["case"]["custom_fields"]] == [
        "vendor",
        "external",
    ]


def test_update_body_due_date_and_refusals() -> None:
    current = case()
    due = ticket_pb2.Ticket(due_date=ts(START + timedelta(hours=3)))
    assert update_body(due, ["due_date"], current, CUSTOM) == {
        "case": {"sla": {"value": "10800"}},
        "update_mask": "sla",
    }
    assert update_body(ticket_pb2.Ticket(), ["due_date"], current, CUSTOM) == {
        "case": {"sla": {"value": "0"}},
        "update_mask": "sla",
    }
    for ticket, paths, message in (
        (ticket_pb2.Ticket(), ["status"], "always has a state"),
        (ticket_pb2.Ticket(), ["priority"], "cannot be cleared"),
        (ticket_pb2.Ticket(), ["creator"], "reporter cannot be cleared"),
        (ticket_pb2.Ticket(completion_date=ts(START)), ["completion_date"], "set by Torq"),
        (ticket_pb2.Ticket(project="OPS"), ["project"], "must be empty"),
        (ticket_pb2.Ticket(contact="c"), ["contact"], "no Torq case counterpart"),
    ):
        with pytest.raises(InvalidArgument, match=message):
            update_body(ticket, paths, current, CUSTOM)
    assert (
        update_body(ticket_pb2.Ticket(), ["contact", "parent", "project"], current, CUSTOM) is None
    )


# -- filters ------------------------------------------------------------------------------


def schema() -> Any:
    return TICKET_SCHEMA.with_fields(custom_field_specs(CUSTOM))


def search(*filters: str) -> Any:
    return case_search(parse_query(filters, (), schema()), CUSTOM)


def test_search_translation() -> None:
    found = search(
        "status[in]New,In Progress",
        "status=in progress",
        "priority[in]HIGH,URGENT",
        "assignee=a@acme.test",
        "issue_type[in]malware,phishing",
        "tags=vip",
        "tags=user",
        "custom_fields.score[in]5,6",
        "project=",
    )
    assert not found.empty
    assert found.filters == {
        "states": [{"value": "in progress"}],
        "severities": [{"value": "high"}],
        "assignees": ["a@acme.test"],
        "categories": ["malware", "phishing"],
        "tags": ["vip"],
        "custom_fields": [{"key": "risk_score", "values": ["5", "6"]}],
    }


@pytest.mark.parametrize(
    "filters",
    [
        ("priority=URGENT",),
        ("priority=MODERATE",),
        ("status=new", "status=closed"),
        ("project=OPS",),
        ("assignee=a@acme.test", "assignee=b@acme.test"),
    ],
)
def test_search_that_matches_nothing_needs_no_request(filters: tuple[str, ...]) -> None:
    assert search(*filters).empty


def test_search_widens_created_at_and_rechecks_exactly() -> None:
    found = search("created_at[gt]2024-03-01T08:00:00Z", "created_at[lte]2024-03-02T00:00:00Z")
    assert found.filters["created_at"] == {
        "start_time": "2024-03-01T07:59:59.000000Z",
        "end_time": "2024-03-02T00:00:01.000000Z",
    }
    assert not found.keep(case())  # created exactly at the exclusive lower bound
    assert found.keep(case(created_at="2024-03-01T08:00:00.000001Z"))
    assert found.keep(case(created_at="2024-03-02T00:00:00Z"))


def test_search_rechecks_every_condition() -> None:
    found = search("tags=vip", "tags=user", "status=In Progress", "custom_fields.flag=true")
    assert found.keep(case(tags=["vip", "user"]))
    assert not found.keep(case(tags=["vip"]))  # Torq's tag list matches any: re-checked
    assert not found.keep(case(tags=["vip", "user"], state={"value": "new"}))
    assert not found.keep(case(tags=["vip", "user"], custom_fields=[]))
    assert search("priority=HIGH").keep(case())
    assert not search("priority=CRITICAL").keep(case())


@pytest.mark.parametrize(
    "text",
    [
        "summary[like]x",
        "description=x",
        "id=1",
        "updated_at[gt]2024-01-01",
        "status[neq]new",
        "status[like]new",
        "tags[not in]a",
        "created_at=2024-01-01",
        "custom_fields.unknown=1",
        "priority=BLOCKER",
    ],
)
def test_schema_refuses_what_torq_cannot_express(text: str) -> None:
    with pytest.raises(QueryError):
        parse_query([text], [], schema())


def test_schema_refuses_every_order() -> None:
    with pytest.raises(QueryError, match="cannot be used for ordering"):
        parse_query([], ["created_at[desc]"], schema())
    assert case_search(Query(), {}).filters == {}


# -- timeline -----------------------------------------------------------------------------


def event(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "e1",
        "case_id": 28,
        "timestamp": "2024-03-01T08:00:00.000000Z",
        "added_by": {"kind": "USER", "user": {"email": "jane@acme.test"}},
        "comment": {
            "text": "hello",
            "visibility": {"id": "VISIBILITY_ID_PUBLIC"},
            "updated_at": "2024-03-01T09:00:00.000000Z",
        },
    }
    base.update(over)
    return base


def test_timeline_entries() -> None:
    assert comment_entry(event()) == ("hello", "VISIBILITY_ID_PUBLIC")
    assert comment_entry(event(comment={"text": "x"})) == ("x", "VISIBILITY_ID_INTERNAL")
    assert comment_entry({"id": "e0", "case_created": {"case": {}}}) is None
    comment = comment_from_event(event())
    assert (comment.id, comment.ticket_id, comment.creator, comment.content) == (
        "e1",
        "28",
        "jane@acme.test",
        "hello",
    )
    assert comment.updated_at.ToDatetime(tzinfo=UTC) == START + timedelta(hours=1)
    assert plain(comment.unmapped) == {"comment": {"visibility": {"id": "VISIBILITY_ID_PUBLIC"}}}
    bare = note_from_event(
        {"id": "e2", "timestamp": "2024-03-01T08:00:00Z", "added_by": {"kind": "WORKFLOW"}},
        "28",
        "sent text",
    )
    assert (bare.ticket_id, bare.content, bare.creator, bare.title) == ("28", "sent text", "", "")
    assert plain(bare.unmapped) == {"added_by": {"kind": "WORKFLOW"}}
    assert bare.updated_at == bare.created_at


def test_error_text() -> None:
    assert error_text(404, b'{"code": 5, "message": "case 9 not found", "details": []}') == (
        "case 9 not found"
    )
    assert error_text(401, b'{"error": "invalid_client", "error_description": "bad"}') == (
        "invalid_client: bad"
    )
    assert error_text(400, b'{"error": {"message": "nested"}}') == "nested"
    assert "oops" in error_text(502, b"oops")
