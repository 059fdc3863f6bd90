"""Zendesk mapping and search translation, as pure functions (no server, no HTTP)."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format, timestamp_pb2
from ticketing.v1 import ticket_pb2

from ticketing_grpc.errors import InvalidArgument
from ticketing_grpc.providers.registry import build_registry, operators_of
from ticketing_grpc.providers.zendesk import (
    TICKET_SCHEMA,
    ZendeskProvider,
    custom_field_specs,
    ticket_search,
)
from ticketing_grpc.providers.zendesk_mapping import (
    FieldInfo,
    create_body,
    custom_value_in,
    custom_value_out,
    error_text,
    ticket_from_zendesk,
    update_body,
    zendesk_priority,
    zendesk_priority_name,
)
from ticketing_grpc.query import FieldType, parse_query

MATRIX = Path(__file__).resolve().parent / "data" / "capabilities.csv"
ACCOUNT = "https://acme.zendesk.com"
FIELDS = {
    1: FieldInfo(1, "integer", "Effort"),
    2: FieldInfo(2, "checkbox", "VIP"),
    3: FieldInfo(3, "multiselect", "Labels", ("red", "blue")),
    4: FieldInfo(4, "date", "Launch"),
    5: FieldInfo(5, "text", "Notes"),
}
CUSTOM = {"effort": "1", "vip": "2", "labels": "3", "launch": "4", "notes": "5"}

TICKET: dict[str, Any] = {
    "url": f"{ACCOUNT}/api/v2/tickets/35436.json",
    "id": 35436,
    "external_id": "ahg35h3jh",
    "created_at": "2009-07-20T22:55:29Z",
    "updated_at": "2011-05-05T10:38:52Z",
    "type": "incident",
    "subject": "Help, my printer is on fire!",
    "description": "The fire is very colorful.",
    "priority": "normal",
    "status": "open",
    "requester_id": 20978392,
    "submitter_id": 76872,
    "assignee_id": 235323,
    "organization_id": None,
    "group_id": 98738,
    "problem_id": 9873764,
    "due_at": None,
    "tags": ["enterprise", "other_tag"],
    "custom_fields": [
        {"id": 1, "value": "745"},
        {"id": 2, "value": False},
        {"id": 5, "value": None},
        {"id": 27648, "value": "yes"},
    ],
    "fields": [{"id": 1, "value": "745"}],
    "via": {"channel": "web"},
    "satisfaction_rating": None,
}


def ts(text: str) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.fromisoformat(text))
    return stamp


def search(filters: list[str], order: list[str] | None = None, custom: Any = None) -> Any:
    schema = TICKET_SCHEMA.with_fields(custom_field_specs(custom or {}))
    return ticket_search(
        parse_query(filters, order or [], schema), schema=schema, custom=custom or {}
    )


# -- registration --------------------------------------------------------------------------


def test_operators_match_the_capability_matrix() -> None:
    with MATRIX.open() as handle:
        rows = list(csv.DictReader(handle))
    expected = tuple(r["operator"] for r in rows if r["ticketing_zendesk"] == "yes")
    registry = build_registry([ZendeskProvider])
    assert set(operators_of(registry.providers["ticketing_zendesk"])) == set(expected)


# -- reading -------------------------------------------------------------------------------


def test_ticket_from_zendesk_maps_every_field() -> None:
    ticket = ticket_from_zendesk(TICKET, account=ACCOUNT, custom=CUSTOM, fields=FIELDS)
    assert ticket.id == "35436" and ticket.summary == "Help, my printer is on fire!"
    assert ticket.description == "The fire is very colorful."
    assert (ticket.status, ticket.priority, ticket.issue_type) == (
        "open",
        ticket_pb2.MEDIUM,
        "incident",
    )
    assert (ticket.assignee, ticket.contact, ticket.creator, ticket.project, ticket.parent) == (
        "235323",
        "20978392",
        "76872",
        "98738",
        "9873764",
    )
    assert list(ticket.tags) == ["enterprise", "other_tag"]
    assert ticket.url == f"{ACCOUNT}/agent/tickets/35436"
    assert ticket.created_at.ToJsonString() == "2009-07-20T22:55:29Z"
    assert not ticket.HasField("due_date") and not ticket.HasField("completion_date")
    assert dict(ticket.custom_fields) == {"effort": 745.0, "vip": False}
    unmapped = json_format.MessageToDict(ticket.unmapped)
    assert unmapped["external_id"] == "ahg35h3jh" and unmapped["url"].endswith(".json")
    assert unmapped["custom_fields"] == [{"id": 27648, "value": "yes"}]
    assert "organization_id" not in unmapped and "fields" not in unmapped
    assert "satisfaction_rating" not in unmapped


@pytest.mark.parametrize(
    ("zendesk", "priority"),
    [
        ("urgent", ticket_pb2.URGENT),
        ("high", ticket_pb2.HIGH),
        ("normal", ticket_pb2.MEDIUM),
        ("low", ticket_pb2.LOW),
        ("LOW ", ticket_pb2.LOW),
        (None, 0),
        ("p1", 0),
    ],
)
def test_priority_read(zendesk: Any, priority: int) -> None:
    assert zendesk_priority(zendesk) == priority


def test_priority_written() -> None:
    written = {p: zendesk_priority_name(p) for p in ticket_pb2.Priority.values()}
    assert written == {
        0: None,
        ticket_pb2.URGENT: "urgent",
        ticket_pb2.CRITICAL: "urgent",
        ticket_pb2.HIGH: "high",
        ticket_pb2.MEDIUM: "normal",
        ticket_pb2.MODERATE: "normal",
        ticket_pb2.LOW: "low",
        ticket_pb2.PLANNING: "low",
    }


def test_custom_values_follow_the_field_type() -> None:
    assert custom_value_out("e", 5.0, FIELDS[1]) == 5
    assert custom_value_out("e", "7", FIELDS[1]) == 7
    assert custom_value_out("v", "TRUE", FIELDS[2]) is True
    assert custom_value_out("l", "red", FIELDS[3]) == ["red"]
    assert custom_value_out("d", "2024-05-01T10:00:00Z", FIELDS[4]) == "2024-05-01"
    assert custom_value_out("n", 3.0, FIELDS[5]) == "3"
    assert custom_value_out("n", None, FIELDS[5]) is None
    for name, value, info in (("e", 1.5, 1), ("v", "maybe", 2), ("d", "soon", 4), ("n", {}, 5)):
        with pytest.raises(InvalidArgument):
            custom_value_out(name, value, FIELDS[info])
    assert custom_value_in("12", FIELDS[1]) == 12.0 and custom_value_in("x", FIELDS[5]) == "x"


# -- writing -------------------------------------------------------------------------------


def test_create_body() -> None:
    ticket = ticket_pb2.Ticket(
        summary="Printer",
        priority=ticket_pb2.CRITICAL,
        issue_type="Task",
        status="Open",
        assignee="7",
        contact="8",
        creator="9",
        project="10",
        tags=["a", "b", "a"],
        due_date=ts("2024-05-01T10:00:00+00:00"),
    )
    ticket.custom_fields.update({"effort": 3, "labels": ["red"]})
    body = create_body(ticket, custom=CUSTOM, fields=FIELDS)["ticket"]
    body["custom_fields"].sort(key=lambda c: c["id"])
    assert body == {
        "subject": "Printer",
        "comment": {"body": "Printer", "public": True},
        "type": "task",
        "status": "open",
        "priority": "urgent",
        "assignee_id": 7,
        "requester_id": 8,
        "submitter_id": 9,
        "group_id": 10,
        "tags": ["a", "b"],
        "due_at": "2024-05-01T10:00:00Z",
        "custom_fields": [{"id": 1, "value": 3}, {"id": 3, "value": ["red"]}],
    }


@pytest.mark.parametrize(
    ("fields", "word"),
    [
        ({"due_date": ts("2024-05-01T00:00:00+00:00")}, "task"),
        ({"parent": "5"}, "incident"),
        ({"issue_type": "bug"}, "bug"),
        ({"status": "escalated"}, "escalated"),
        ({"assignee": "bob"}, "Zendesk id"),
        ({"tags": ['say "hi"']}, "tag"),
        ({"completion_date": ts("2024-05-01T00:00:00+00:00")}, "completion_date"),
    ],
)
def test_create_refusals(fields: dict[str, Any], word: str) -> None:
    with pytest.raises(InvalidArgument, match=word):
        create_body(ticket_pb2.Ticket(summary="x", **fields), custom=CUSTOM, fields=FIELDS)


def test_create_refuses_unmapped_custom_fields() -> None:
    ticket = ticket_pb2.Ticket(summary="x")
    ticket.custom_fields.update({"other": 1})
    with pytest.raises(InvalidArgument, match="not mapped"):
        create_body(ticket, custom=CUSTOM, fields=FIELDS)


def current() -> ticket_pb2.Ticket:
    return ticket_from_zendesk(TICKET, account=ACCOUNT, custom=CUSTOM, fields=FIELDS)


def test_update_body_sends_only_changes() -> None:
    now = current()
    assert update_body(now, list(_ALL), now, custom=CUSTOM, fields=FIELDS) is None
    change = ticket_pb2.Ticket()
    change.CopyFrom(now)
    change.summary = "New"
    change.priority = ticket_pb2.MODERATE  # reads back as MEDIUM: no change
    change.assignee = ""
    change.custom_fields["effort"] = 746
    body = update_body(change, list(_ALL), now, custom=CUSTOM, fields=FIELDS)
    assert body == {
        "ticket": {
            "subject": "New",
            "assignee_id": None,
            "custom_fields": [{"id": 1, "value": 746}],
        }
    }


_ALL = (
    "summary",
    "creator",
    "assignee",
    "contact",
    "description",
    "priority",
    "due_date",
    "completion_date",
    "status",
    "project",
    "issue_type",
    "parent",
    "tags",
    "custom_fields",
)


@pytest.mark.parametrize(
    ("path", "change", "word"),
    [
        ("priority", {"priority": 0}, "cleared"),
        ("description", {"description": "other"}, "first comment"),
        ("creator", {"creator": "1"}, "submitter"),
        ("project", {"project": ""}, "removed"),
        ("contact", {"contact": ""}, "removed"),
        ("status", {"status": ""}, "always has a status"),
        ("due_date", {"due_date": ts("2024-05-01T00:00:00+00:00")}, "task"),
    ],
)
def test_update_refusals(path: str, change: dict[str, Any], word: str) -> None:
    ticket = current()
    for key, value in change.items():
        if key == "due_date":
            ticket.due_date.CopyFrom(value)
        else:
            setattr(ticket, key, value)
    with pytest.raises(InvalidArgument, match=word):
        update_body(ticket, [path], current(), custom=CUSTOM, fields=FIELDS)


def test_update_custom_field_map_clears_absent_names() -> None:
    ticket = current()
    ticket.custom_fields.Clear()
    ticket.custom_fields.update({"notes": "hello"})
    body = update_body(ticket, ["custom_fields"], current(), custom=CUSTOM, fields=FIELDS)
    assert body is not None
    changes = {c["id"]: c["value"] for c in body["ticket"]["custom_fields"]}
    assert changes == {5: "hello", 1: None, 2: None}
    single = update_body(ticket, ["custom_fields.effort"], current(), custom=CUSTOM, fields=FIELDS)
    assert single == {"ticket": {"custom_fields": [{"id": 1, "value": None}]}}


def test_update_type_change_and_task_due_date() -> None:
    ticket = current()
    ticket.issue_type = "task"
    ticket.due_date.CopyFrom(ts("2024-05-01T00:00:00+00:00"))
    body = update_body(ticket, ["issue_type", "due_date"], current(), custom=CUSTOM)
    assert body == {"ticket": {"type": "task", "due_at": "2024-05-01T00:00:00Z"}}
    ticket.issue_type = ""
    assert update_body(ticket, ["issue_type"], current(), custom=CUSTOM) == {
        "ticket": {"type": None}
    }


# -- search --------------------------------------------------------------------------------


def test_search_terms() -> None:
    found = search(
        [
            "status[in]Open,pending",
            "priority[neq]LOW",
            "issue_type=incident",
            "assignee[not in]7,8",
            "project=10",
            "tags=Billing",
            'summary=Printer "on" fire',
            "created_at[gte]2024-03-01T10:00:00Z",
            "updated_at[lt]2024-03-02",
            "due_date[gt]2024-04-01",
            "custom_fields.notes=some text",
            "custom_fields.vip=true",
        ],
        custom={"notes": "5", "vip": "2"},
    )
    assert found.terms == (
        "status:open",
        "status:pending",
        "-priority:low",
        "ticket_type:incident",
        "-assignee_id:7",
        "-assignee_id:8",
        "group_id:10",
        "tags:billing",
        'subject:"Printer on fire"',
        "created>=2024-03-01T09:59:59Z",
        "updated<=2024-03-02T00:00:01Z",
        "due_date>=2024-03-31",
        'custom_field_5:"some text"',
        'custom_field_2:"true"',
    )
    assert found.ids is None and found.sort is None and not found.empty


def test_search_rechecks_exact_semantics() -> None:
    found = search(["summary=Printer", "assignee[neq]7", "tags=billing"])
    base = {"summary": "Printer", "tags": ["billing"], "assignee": None, "id": "1"}
    assert found.keep(base), "a missing assignee matches neq"
    assert not found.keep({**base, "summary": "Printer jam"}), "the phrase match is narrowed"
    assert not found.keep({**base, "assignee": "7"})


def test_search_ids_priorities_and_order() -> None:
    by_id = search(["id[in]3,007,5", "id=7"])
    assert by_id.ids == (7,) and by_id.terms == ()
    assert search(["id=3", "id=4"]).empty
    assert search(["priority=CRITICAL"]).empty, "no ticket reads as CRITICAL"
    assert search(["priority[neq]PLANNING"]).terms == ()
    assert search(["priority[in]URGENT,CRITICAL"]).terms == ("priority:urgent",)
    ordered = search(["status=open"], ["updated_at[desc]"])
    assert ordered.sort == ("updated_at", "desc")


@pytest.mark.parametrize(
    ("filters", "order", "word"),
    [
        (["status=escalated"], [], "escalated"),
        (["assignee=bob"], [], "Zendesk id"),
        (["tags=two words"], [], "tag"),
        (["id=abc"], [], "Zendesk id"),
        ([], ["created_at", "updated_at"], "one key"),
    ],
)
def test_search_refusals(filters: list[str], order: list[str], word: str) -> None:
    with pytest.raises(InvalidArgument, match=word):
        search(filters, order)


def test_schema_refuses_what_zendesk_cannot_search() -> None:
    from ticketing_grpc.query import QueryError

    for text in ("summary[like]x", "priority[gt]LOW", "status[lt]open", "description=x"):
        with pytest.raises(QueryError):
            parse_query([text], [], TICKET_SCHEMA)
    with pytest.raises(QueryError):
        parse_query([], ["priority"], TICKET_SCHEMA)
    assert TICKET_SCHEMA.fields["tags"].type is FieldType.LIST


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b'{"error":"RecordNotFound","description":"Not found"}', "RecordNotFound; Not found"),
        (
            b'{"error":"RecordInvalid","description":"Record validation errors",'
            b'"details":{"status":[{"description":"Status: closed prevents ticket update",'
            b'"error":"InvalidValue"}]}}',
            "RecordInvalid; Record validation errors; status: Status: closed prevents ticket "
            "update",
        ),
        (b'{"error":"Couldn\'t authenticate you"}', "Couldn't authenticate you"),
        (b'{"error":{"title":"Forbidden","message":"No access"}}', "Forbidden; No access"),
        (b'{"errors":[{"code":"X","title":"Bad","detail":"thing"}]}', "Bad thing"),
        (b"<html>Bad gateway</html>", "Bad gateway"),
    ],
)
def test_error_text(body: bytes, text: str) -> None:
    assert error_text(400, body) == text
