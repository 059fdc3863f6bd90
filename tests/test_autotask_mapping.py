"""Autotask mapping, filters and the provider's requests, without a server.

Fixtures follow the REST v1.0 shapes (TicketModel in camelCase, `{item}`,
`{items, pageDetails}`, FieldInformationResultModel with picklistValues whose
values are strings, OperationResultModel `{itemId}`, errors `{"errors": [...]}`).
Provider tests replace `ProviderHTTP.request` with a recorder that answers
from a handler.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from google.protobuf import timestamp_pb2
from multidict import CIMultiDict, CIMultiDictProxy
from ticketing.v1 import integrations_pb2, ticket_pb2

from ticketing_grpc.customfields import CustomFields
from ticketing_grpc.errors import InvalidArgument, NotFound, Unavailable
from ticketing_grpc.providers.autotask import (
    CUSTOM_OPS,
    NOTHING,
    TICKET_SCHEMA,
    AutotaskProvider,
    query_plan,
    rest_base,
)
from ticketing_grpc.providers.autotask_mapping import (
    TicketFields,
    error_text,
    plain,
    ticket_from_item,
    ticket_url,
    write_body,
)
from ticketing_grpc.providers.base import Page, ProviderContext
from ticketing_grpc.providers.http import Response, error_for_status
from ticketing_grpc.providers.registry import build_registry, operators_of
from ticketing_grpc.query import FieldSpec, FieldType, QueryError, parse_query

P = ticket_pb2
BASE = "https://webservices5.autotask.net/atservicesrest"
SECRET = "s3cr3t-Autotask-#1"
CODE = "INTEGRATIONCODE0123456789AB"


def picklist(*entries: tuple[str, str], default: str = "", inactive: tuple[str, ...] = ()) -> Any:
    return [
        {
            "value": value,
            "label": label,
            "isDefaultValue": value == default,
            "sortOrder": i,
            "parentValue": "",
            "isActive": value not in inactive,
            "isSystem": False,
        }
        for i, (value, label) in enumerate(entries)
    ]


def meta(name: str, data_type: str = "string", **extra: Any) -> dict[str, Any]:
    out = {
        "name": name,
        "dataType": data_type,
        "length": 0,
        "isRequired": False,
        "isReadOnly": False,
        "isQueryable": True,
        "isReference": False,
        "referenceEntityType": "",
        "isPickList": "picklistValues" in extra,
        "picklistValues": None,
        "picklistParentValueField": "",
        "isSupportedWebhookField": False,
    }
    out.update(extra)
    return out


FIELDS_BODY: dict[str, Any] = {
    "fields": [
        meta("id", "long", isReadOnly=True),
        meta("title", isRequired=True),
        meta("description"),
        meta(
            "status",
            "integer",
            isRequired=True,
            picklistValues=picklist(
                ("1", "New"),
                ("5", "Complete"),
                ("8", "In Progress"),
                ("9", "Waiting Vendor"),
                default="1",
                inactive=("9",),
            ),
        ),
        # Autotask's own default scheme numbers priorities out of order.
        meta(
            "priority",
            "integer",
            isRequired=True,
            picklistValues=picklist(
                ("1", "High"),
                ("2", "Medium"),
                ("3", "Low"),
                ("4", "Critical"),
                ("6", "Scheduled"),
                default="2",
            ),
        ),
        meta(
            "ticketCategory",
            "integer",
            picklistValues=picklist(("3", "Standard"), ("4", "Alert"), default="3"),
        ),
        meta("companyID", "integer", isRequired=True, isReference=True),
        meta("assignedResourceID", "integer", isReference=True),
        meta("assignedResourceRoleID", "integer", isReference=True),
        meta("contactID", "integer", isReference=True),
        meta("creatorResourceID", "integer", isReadOnly=True),
        meta("dueDateTime", "datetime"),
        meta("completedDate", "datetime", isReadOnly=True),
        meta("createDate", "datetime", isReadOnly=True),
        meta("lastActivityDate", "datetime", isReadOnly=True),
    ]
}
FIELDS = TicketFields.parse(FIELDS_BODY)
CUSTOM = {"effort": "Effort Estimate", "team": "Owning Team"}

ITEM: dict[str, Any] = {
    "id": 7701,
    "ticketNumber": "T20240520.0042",
    "title": "Printer offline",
    "description": "Third floor printer is offline.",
    "status": 8,
    "priority": 4,
    "companyID": 0,
    "ticketCategory": 4,
    "issueType": 12,
    "subIssueType": None,
    "assignedResourceID": 29682885,
    "assignedResourceRoleID": 29683461,
    "contactID": 30684,
    "creatorResourceID": 29682833,
    "dueDateTime": "2024-05-21T17:00:00Z",
    "completedDate": None,
    "createDate": "2024-05-20T09:15:27.2966667Z",
    "lastActivityDate": "2024-05-20T10:00:00.123Z",
    "queueID": 8,
    "source": "",
    "userDefinedFields": [
        {"name": "Effort Estimate", "value": "3"},
        {"name": "Owning Team", "value": None},
        {"name": "Legacy Ref", "value": "ABC-1"},
    ],
}


def stamp(text: str) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(datetime.fromisoformat(text))
    return out


# --- metadata ---------------------------------------------------------------------------


def test_field_metadata_reads_picklists_flags_and_defaults() -> None:
    assert FIELDS.get("STATUS").name == "status"
    assert FIELDS.get("status").required and FIELDS.get("completedDate").read_only
    assert FIELDS.label("status", 8) == "In Progress"
    assert FIELDS.label("status", 77) == "77", "an unknown value reads as itself"
    assert FIELDS.label("status", None) == ""
    assert FIELDS.default("status") == 1 and FIELDS.default("priority") == 2
    assert FIELDS.resolve("status", " in progress ", "ticket.status") == 8
    assert FIELDS.resolve("status", "5", "ticket.status") == 5, "a value is accepted too"
    with pytest.raises(InvalidArgument) as info:
        FIELDS.resolve("status", "Waiting Vendor", "ticket.status")  # inactive
    assert info.value.reason == "UNKNOWN_CHOICE"
    assert "New, Complete, In Progress" in info.value.message
    assert "Waiting Vendor" not in info.value.message.split(":")[-1]
    assert FIELDS.values_for("status", "waiting vendor", "filter status") == [9]
    assert not FIELDS.knows({"status": 10}) and FIELDS.knows(ITEM)


def test_defaults_fall_back_to_new_and_medium_only_for_required_fields() -> None:
    body = json.loads(json.dumps(FIELDS_BODY))
    for f in body["fields"]:
        for choice in f.get("picklistValues") or ():
            choice["isDefaultValue"] = False
    fields = TicketFields.parse(body)
    assert (fields.default("status"), fields.default("priority")) == (1, 2)
    assert fields.default("ticketCategory") is None
    assert TicketFields.parse({"fields": "nonsense"}).default("status") is None


# --- reading ----------------------------------------------------------------------------


def test_ticket_from_item_maps_every_field() -> None:
    ticket = ticket_from_item(ITEM, FIELDS, custom_fields=CUSTOM, base_url=BASE)
    assert ticket.id == "7701" and ticket.summary == "Printer offline"
    assert ticket.description.startswith("Third floor")
    assert (ticket.status, ticket.priority, ticket.issue_type) == (
        "In Progress",
        P.CRITICAL,
        "Alert",
    )
    assert ticket.project == "0", "company 0 (the tenant itself) is a company"
    assert (ticket.assignee, ticket.contact, ticket.creator) == ("29682885", "30684", "29682833")
    assert ticket.due_date == stamp("2024-05-21T17:00:00+00:00")
    assert not ticket.HasField("completion_date")
    assert ticket.created_at.ToDatetime(tzinfo=UTC) == datetime(
        2024, 5, 20, 9, 15, 27, 296666, tzinfo=UTC
    )
    assert ticket.updated_at.ToDatetime(tzinfo=UTC).microsecond == 123000
    assert dict(ticket.custom_fields) == {"effort": "3"}, "null UDF values are left out"
    unmapped = ticket.unmapped
    assert unmapped["ticketNumber"] == "T20240520.0042"
    assert unmapped["issueType"] == 12 and unmapped["assignedResourceRoleID"] == 29683461
    assert "subIssueType" not in unmapped and "source" not in unmapped
    assert "title" not in unmapped and "status" not in unmapped
    assert plain(unmapped)["userDefinedFields"] == [{"name": "Legacy Ref", "value": "ABC-1"}]
    assert ticket.url == (
        "https://ww5.autotask.net/Autotask/AutotaskExtend/ExecuteCommand.aspx"
        "?Code=OpenTicketDetail&TicketID=7701"
    )


def test_priority_is_read_by_label_not_by_value() -> None:
    def read(value: int) -> int:
        return int(ticket_from_item({"id": 1, "priority": value}, FIELDS).priority)

    assert [read(v) for v in (1, 2, 3, 4, 6)] == [
        P.HIGH,
        P.MEDIUM,
        P.LOW,
        P.CRITICAL,
        P.PRIORITY_UNSPECIFIED,
    ]


def test_ticket_url_only_for_autotask_zone_hosts() -> None:
    assert ticket_url("https://WebServices14.autotask.net/ATServicesRest", "9").startswith(
        "https://ww14.autotask.net/"
    )
    assert ticket_url("http://127.0.0.1:8080/atservicesrest", "9") == ""
    assert ticket_url("https://webservices.autotask.net/atservicesrest", "9") == ""


# --- writing ----------------------------------------------------------------------------


def created_body(ticket: ticket_pb2.Ticket, *paths: str) -> dict[str, Any]:
    return write_body(ticket, list(paths), FIELDS, custom_fields=CUSTOM)


def test_create_body_writes_values_for_labels_and_ids() -> None:
    ticket = P.Ticket(
        summary="Printer offline",
        description="It is off",
        status="in progress",
        priority=P.MODERATE,
        project="174",
        issue_type="Alert",
        assignee="29682885",
        contact="30684",
        due_date=stamp("2024-05-21T17:00:00.5+00:00"),
    )
    ticket.custom_fields.update({"effort": 3.0, "team": "Ops"})
    body = created_body(
        ticket,
        "summary",
        "description",
        "status",
        "priority",
        "project",
        "issue_type",
        "assignee",
        "contact",
        "due_date",
        "custom_fields.effort",
        "custom_fields.team",
    )
    assert body == {
        "title": "Printer offline",
        "description": "It is off",
        "status": 8,
        "priority": 2,
        "companyID": 174,
        "ticketCategory": 4,
        "assignedResourceID": 29682885,
        "contactID": 30684,
        "dueDateTime": "2024-05-21T17:00:00.500Z",
        "userDefinedFields": [
            {"name": "Effort Estimate", "value": "3"},
            {"name": "Owning Team", "value": "Ops"},
        ],
    }


@pytest.mark.parametrize(
    ("priority", "value"),
    [(P.URGENT, 4), (P.CRITICAL, 4), (P.HIGH, 1), (P.MEDIUM, 2), (P.LOW, 3), (P.PLANNING, 3)],
)
def test_priorities_are_written_through_their_labels(priority: int, value: int) -> None:
    assert created_body(P.Ticket(priority=priority), "priority") == {"priority": value}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ticket", "path", "reason", "words"),
    [
        (P.Ticket(status="Closed"), "status", "UNKNOWN_CHOICE", "New, Complete, In Progress"),
        (P.Ticket(project="ACME"), "project", "INVALID_ARGUMENT", "company id"),
        (P.Ticket(creator="29682833"), "creator", "FIELD_NOT_WRITABLE", "creatorResourceID"),
        (P.Ticket(tags=["vip"]), "tags", "FIELD_NOT_WRITABLE", "tags"),
        (P.Ticket(parent="12"), "parent", "FIELD_NOT_WRITABLE", "parent"),
        (
            P.Ticket(completion_date=stamp("2024-05-22T00:00:00+00:00")),
            "completion_date",
            "FIELD_NOT_WRITABLE",
            "completedDate is read-only",
        ),
    ],
)
def test_create_body_refusals(
    ticket: ticket_pb2.Ticket, path: str, reason: str, words: str
) -> None:
    with pytest.raises(InvalidArgument) as info:
        created_body(ticket, path)
    assert info.value.reason == reason
    assert words in info.value.message


def test_unmapped_custom_field_is_refused() -> None:
    ticket = P.Ticket()
    ticket.custom_fields.update({"color": "red"})
    with pytest.raises(InvalidArgument) as info:
        created_body(ticket, "custom_fields.color")
    assert info.value.reason == "UNMAPPED_CUSTOM_FIELD" and "effort, team" in info.value.message


def read_back() -> ticket_pb2.Ticket:
    return ticket_from_item(ITEM, FIELDS, custom_fields=CUSTOM, base_url=BASE)


EVERY_PATH = [
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
]


def patched(ticket: ticket_pb2.Ticket, *paths: str, item: Mapping[str, Any] = ITEM) -> Any:
    return write_body(ticket, list(paths), FIELDS, current=item, custom_fields=CUSTOM)


def test_a_ticket_read_and_written_back_with_every_path_changes_nothing() -> None:
    assert patched(read_back(), *EVERY_PATH) == {}
    # Labels given in another case and MODERATE (read back as MEDIUM) are the same values.
    ticket = read_back()
    ticket.status, ticket.issue_type = "IN PROGRESS", "alert"
    assert patched(ticket, "status", "issue_type") == {}
    medium = {**ITEM, "priority": 2}
    assert patched(P.Ticket(priority=P.MODERATE), "priority", item=medium) == {}


def test_patch_body_has_only_what_changes() -> None:
    ticket = read_back()
    ticket.status = "Complete"
    ticket.due_date.CopyFrom(stamp("2024-05-22T08:00:00+00:00"))
    ticket.custom_fields.update({"team": "Field"})
    assert patched(ticket, *EVERY_PATH) == {
        "status": 5,
        "dueDateTime": "2024-05-22T08:00:00.000Z",
        "userDefinedFields": [{"name": "Owning Team", "value": "Field"}],
    }


def test_patch_clears_fields_and_refuses_to_clear_required_ones() -> None:
    body = patched(P.Ticket(), "assignee", "contact", "description", "due_date")
    assert body == {
        "assignedResourceID": None,
        "assignedResourceRoleID": None,
        "contactID": None,
        "description": None,
        "dueDateTime": None,
    }
    for path in ("project", "status", "priority"):
        with pytest.raises(InvalidArgument) as info:
            patched(P.Ticket(), path)
        assert "cannot be cleared" in info.value.message
    # The whole custom_fields path clears every mapped UDF the ticket leaves out.
    assert patched(P.Ticket(), "custom_fields") == {
        "userDefinedFields": [{"name": "Effort Estimate", "value": None}]
    }


def test_patch_refuses_read_only_fields_only_when_they_would_change() -> None:
    ticket = read_back()
    ticket.creator = "1"
    with pytest.raises(InvalidArgument, match="creatorResourceID"):
        patched(ticket, "creator")
    done = {**ITEM, "completedDate": "2024-05-21T10:00:00Z"}
    same = P.Ticket(completion_date=stamp("2024-05-21T10:00:00+00:00"))
    assert patched(same, "completion_date", item=done) == {}
    later = P.Ticket(completion_date=stamp("2024-05-21T11:00:00+00:00"))
    with pytest.raises(InvalidArgument, match="read-only"):
        patched(later, "completion_date", item=done)


# --- filters ----------------------------------------------------------------------------


def plan(*filters: str, custom: Mapping[str, str] = CUSTOM) -> Any:
    schema = TICKET_SCHEMA.with_fields(
        FieldSpec(f"custom_fields.{n}", FieldType.ANY, CUSTOM_OPS) for n in custom
    )
    return query_plan(parse_query(list(filters), [], schema), FIELDS, custom)


def test_equality_filters_use_values_and_let_missing_values_match_negations() -> None:
    assert plan("status=In Progress").filters == ({"op": "eq", "field": "status", "value": 8},)
    assert plan("status[in]new,complete").filters == (
        {"op": "in", "field": "status", "value": [1, 5]},
    )
    assert plan("status[neq]New").filters == ({"op": "noteq", "field": "status", "value": 1},)
    assert plan("contact[not in]5,6").filters == (
        {
            "op": "or",
            "items": [
                {"op": "notIn", "field": "contactID", "value": [5, 6]},
                {"op": "notExist", "field": "contactID"},
            ],
        },
    )
    assert plan("summary[neq]x").filters[0]["op"] == "noteq", "title is never empty"
    assert plan("project=174").filters == ({"op": "eq", "field": "companyID", "value": 174},)
    assert plan("issue_type[eq]").filters == ({"op": "notExist", "field": "ticketCategory"},)


def test_like_is_contains_and_inner_wildcards_are_rechecked() -> None:
    assert plan("summary[like]print").filters == (
        {"op": "contains", "field": "title", "value": "print"},
    )
    assert plan("description[like]*").filters == ({"op": "exist", "field": "description"},)
    both = plan("summary[like]print*off")
    assert both.filters == (
        {"op": "contains", "field": "title", "value": "print"},
        {"op": "contains", "field": "title", "value": "off"},
    )
    assert both.keeps(P.Ticket(summary="Printer offline"))
    assert not both.keeps(P.Ticket(summary="offline printer")), "parts must come in order"


def test_priority_filters_become_sets_of_picklist_values() -> None:
    assert plan("priority[gte]HIGH").filters == (
        {"op": "in", "field": "priority", "value": [1, 4]},
    )
    assert plan("priority=MODERATE").filters == (dict(NOTHING),), "no label reads MODERATE"
    assert plan("priority[neq]HIGH").filters == ({"op": "noteq", "field": "priority", "value": 1},)
    assert plan("priority[not in]URGENT").filters == (), "excluding nothing keeps everything"
    assert plan("priority[lt]MEDIUM").filters == ({"op": "eq", "field": "priority", "value": 3},)


def test_dates_and_ids() -> None:
    assert plan("created_at[gte]2024-05-01").filters == (
        {"op": "gte", "field": "createDate", "value": "2024-05-01T00:00:00.000Z"},
    )
    assert plan("due_date[neq]2024-05-01T10:00:00+02:00").filters == (
        {
            "op": "or",
            "items": [
                {"op": "noteq", "field": "dueDateTime", "value": "2024-05-01T08:00:00.000Z"},
                {"op": "notExist", "field": "dueDateTime"},
            ],
        },
    )
    assert plan("id[in]1,2").filters == ({"op": "in", "field": "id", "value": [1, 2]},)
    with pytest.raises(InvalidArgument, match="not an Autotask id"):
        plan("id[gt]1.5")


def test_custom_field_filters_are_udf_items_one_udf_at_a_time() -> None:
    assert plan("custom_fields.team[neq]Ops").filters == (
        {
            "op": "or",
            "items": [
                {"op": "noteq", "field": "Owning Team", "value": "Ops", "udf": True},
                {"op": "notExist", "field": "Owning Team", "udf": True},
            ],
        },
    )
    assert plan("custom_fields.effort[gt]2", "custom_fields.effort[lt]9").filters[1] == {
        "op": "lt",
        "field": "Effort Estimate",
        "value": "9",
        "udf": True,
    }
    with pytest.raises(InvalidArgument, match="one user-defined field at a time"):
        plan("custom_fields.team=Ops", "custom_fields.effort=3")


def test_what_autotask_cannot_express_is_refused_by_name() -> None:
    with pytest.raises(InvalidArgument) as info:
        plan("status=Closed")
    assert info.value.reason == "UNKNOWN_CHOICE" and "Closed" in info.value.message
    with pytest.raises(QueryError, match="not like"):
        plan("summary[not like]x")
    with pytest.raises(QueryError, match="cannot be used for ordering"):
        parse_query([], ["created_at[desc]"], TICKET_SCHEMA)


# --- errors -----------------------------------------------------------------------------


def test_error_text() -> None:
    body = json.dumps({"errors": ["dueDateTime is required.", "on record number [0]"]})
    assert error_text(500, body.encode()) == "dueDateTime is required.; on record number [0]"
    assert error_text(405, b'{"Message": "The requested resource does not support GET."}') == (
        "The requested resource does not support GET."
    )
    assert error_text(502, b"<html><body>Bad gateway</body></html>") == "Bad gateway"


# --- the provider's requests ------------------------------------------------------------

Handler = Callable[[str, str, Any], tuple[int, Any]]


class Recorder:
    """Stands in for ProviderHTTP.request: records each call and answers from a handler."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.calls: list[tuple[str, str, Any]] = []

    async def __call__(
        self, method: str, path: str, *, json: Any = None, headers: Any = None, **_: Any
    ) -> Response:
        assert dict(headers or {}) == {"Accept": "application/json"}
        self.calls.append((method, path, json))
        status, payload = self.handler(method, path, json)
        body = b"" if payload is None else _dumps(payload)
        if status >= 400:
            raise error_for_status("ticketing_autotask", status, error_text(status, body))
        headers_: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())
        return Response(status, headers_, body, BASE + path, "ticketing_autotask")


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def provider(handler: Handler, **config: Any) -> tuple[AutotaskProvider, Recorder]:
    settings: dict[str, Any] = {
        "url": BASE + "/V1.0/",
        "credential": integrations_pb2.Credential(
            autotask=integrations_pb2.AutotaskCredential(
                api_integration_code=CODE, username="api@acme.example", secret=SECRET
            )
        ),
        "default_project": "174",
        "default_issue_type": "3",
    }
    settings.update(config)
    integration = integrations_pb2.Integration(
        name="at", autotask=integrations_pb2.AutotaskConfig(**settings)
    )
    mappings = [
        integrations_pb2.CustomFieldMapping(project_id="*", name=n, provider_field_path=p)
        for n, p in CUSTOM.items()
    ]
    context = ProviderContext(
        integration_id="int-1",
        integration=integration,
        custom_fields=CustomFields.from_mappings(mappings),
        store=None,  # type: ignore[arg-type]
        events=None,  # type: ignore[arg-type]
    )
    instance = AutotaskProvider(context)
    recorder = Recorder(handler)
    instance.http.request = recorder  # type: ignore[method-assign]
    return instance, recorder


def tickets(*items: Mapping[str, Any]) -> Handler:
    """Answers fields, GET by id and POST/PATCH writes over a dict of tickets."""
    store = {int(i["id"]): dict(i) for i in items}

    def handle(method: str, path: str, body: Any) -> tuple[int, Any]:
        if path == "/v1.0/Tickets/entityInformation/fields":
            return 200, FIELDS_BODY
        if method == "GET" and path.startswith("/v1.0/Tickets/"):
            return 200, {"item": store.get(int(path.rsplit("/", 1)[1]))}
        if method == "POST" and path == "/v1.0/Tickets":
            if "dueDateTime" not in body:
                return 500, {"errors": ["dueDateTime is required."]}
            new = max(store, default=100) + 1
            store[new] = {"id": new, **body}
            return 200, {"itemId": new}
        if method == "PATCH" and path == "/v1.0/Tickets":
            store[body["id"]].update(body)
            return 200, {"itemId": body["id"]}
        return 404, None

    return handle


def test_registration_config_and_credentials() -> None:
    registry = build_registry([AutotaskProvider])
    assert operators_of(registry.providers["ticketing_autotask"]) == (
        "create_ticket",
        "get_ticket",
        "patch_ticket",
        "query_tickets",
    )
    instance, _ = provider(tickets())
    assert str(instance.http.base_url) == BASE and rest_base(BASE + "/v1.0") == BASE
    assert instance.http.auth.secrets == (SECRET, CODE)  # type: ignore[attr-defined]
    assert SECRET in instance.http._secrets


async def test_get_ticket_reads_the_item_and_caches_the_field_metadata() -> None:
    instance, recorder = provider(tickets(ITEM))
    first = await instance.get_ticket("7701")
    await instance.get_ticket(" 7701 ")
    assert first.status == "In Progress" and first.custom_fields["effort"] == "3"
    assert recorder.calls == [
        ("GET", "/v1.0/Tickets/7701", None),
        ("GET", "/v1.0/Tickets/entityInformation/fields", None),
        ("GET", "/v1.0/Tickets/7701", None),
    ]


async def test_unknown_tickets_are_not_found() -> None:
    instance, recorder = provider(tickets())
    with pytest.raises(NotFound):
        await instance.get_ticket("42")  # {"item": null}
    with pytest.raises(NotFound):
        await instance.get_ticket("NOPE-999999")
    assert len(recorder.calls) == 1, "a non-numeric id is not sent"
    gone, _ = provider(lambda m, p, b: (404, {"errors": ["not found"]}))
    with pytest.raises(NotFound):
        await gone.get_ticket("42")


async def test_create_posts_then_reads_the_new_ticket() -> None:
    instance, recorder = provider(tickets())
    created = await instance.create_ticket(
        P.Ticket(summary="Disk full", due_date=stamp("2024-05-21T17:00:00+00:00"))
    )
    post = recorder.calls[1]
    assert post[:2] == ("POST", "/v1.0/Tickets")
    assert post[2] == {
        "title": "Disk full",
        "companyID": 174,
        "ticketCategory": 3,
        "dueDateTime": "2024-05-21T17:00:00.000Z",
        "status": 1,
        "priority": 2,
    }
    assert recorder.calls[2] == ("GET", "/v1.0/Tickets/101", None)
    assert (created.id, created.project, created.status, created.priority) == (
        "101",
        "174",
        "New",
        P.MEDIUM,
    )
    assert created.issue_type == "Standard"


async def test_a_rejected_create_is_invalid_argument_with_autotask_words() -> None:
    instance, _ = provider(tickets())
    with pytest.raises(InvalidArgument) as info:
        await instance.create_ticket(P.Ticket(summary="No due date"))
    assert info.value.reason == "PROVIDER_REJECTED"
    assert "dueDateTime is required." in info.value.message
    nowhere, _ = provider(tickets(), default_project="")
    with pytest.raises(InvalidArgument, match="default_project"):
        await nowhere.create_ticket(P.Ticket(summary="x"))


async def test_patch_sends_only_changes_and_reads_the_ticket_again() -> None:
    instance, recorder = provider(tickets(ITEM))
    change = P.Ticket(id="7701", summary="Printer offline", status="complete")
    patched_ticket = await instance.patch_ticket(change, ["summary", "status"])
    assert patched_ticket.status == "Complete"
    assert [c[:2] for c in recorder.calls] == [
        ("GET", "/v1.0/Tickets/7701"),
        ("GET", "/v1.0/Tickets/entityInformation/fields"),
        ("PATCH", "/v1.0/Tickets"),
        ("GET", "/v1.0/Tickets/7701"),
    ]
    assert recorder.calls[2][2] == {"id": 7701, "status": 5}
    recorder.calls.clear()
    same = await instance.patch_ticket(patched_ticket, EVERY_PATH)
    assert same.status == "Complete"
    assert [c[0] for c in recorder.calls] == ["GET"], "nothing changes: no PATCH"


async def test_a_label_missing_from_the_cached_metadata_re_reads_it() -> None:
    body = json.loads(json.dumps(FIELDS_BODY))
    served = [0]
    store = tickets(ITEM)

    def handle(method: str, path: str, payload: Any) -> tuple[int, Any]:
        if path.endswith("/fields"):
            served[0] += 1
            if served[0] > 1:
                body["fields"][3]["picklistValues"].append(
                    {"value": "12", "label": "Escalated", "isActive": True}
                )
            return 200, body
        return store(method, path, payload)

    instance, _ = provider(handle)
    await instance.get_ticket("7701")
    instance._fields_read_at = -1e9  # the cache is older than a minute
    patched_ticket = await instance.patch_ticket(
        P.Ticket(id="7701", status="Escalated"), ["status"]
    )
    assert served[0] == 2
    assert patched_ticket.status == "Escalated"


def query_handler(all_items: list[dict[str, Any]], seen: list[Any]) -> Handler:
    """POST /Tickets/query honouring the id bound, lowest ids first."""

    def handle(method: str, path: str, body: Any) -> tuple[int, Any]:
        if path.endswith("/fields"):
            return 200, FIELDS_BODY
        assert (method, path) == ("POST", "/v1.0/Tickets/query")
        seen.append(body)
        bound = body["Filter"][-1]
        ok = [
            i
            for i in all_items
            if (i["id"] >= bound["value"] if bound["op"] == "gte" else i["id"] > bound["value"])
        ]
        page = sorted(ok, key=lambda i: i["id"])[: body["MaxRecords"]]
        more = len(ok) > len(page)
        next_url = BASE + "/V1.0/Tickets/query/next?paging=x" if more else None
        return 200, {
            "items": page[::-1],
            "pageDetails": {"count": len(page), "nextPageUrl": next_url},
        }

    return handle


async def test_query_pages_by_id_and_resumes_after_the_last_ticket() -> None:
    items = [{"id": n, "title": f"Batch {n}", "status": 1, "priority": 2} for n in range(1, 8)]
    seen: list[Any] = []
    instance, _ = provider(query_handler(items, seen))
    query = parse_query(["status=New"], [], instance.filter_schema("query_tickets"))
    got = [pair async for pair in instance.query_tickets(query, Page(size_hint=3))]
    assert [t.id for t, _ in got] == [str(n) for n in range(1, 8)]
    assert [b["Filter"][-1] for b in seen] == [
        {"op": "gte", "field": "id", "value": 0},
        {"op": "gt", "field": "id", "value": 3},
        {"op": "gt", "field": "id", "value": 6},
    ]
    assert seen[0] == {
        "MaxRecords": 3,
        "Filter": [
            {"op": "eq", "field": "status", "value": 1},
            {"op": "gte", "field": "id", "value": 0},
        ],
    }
    cursor = got[3][1]
    assert cursor == {"after_id": 4}
    seen.clear()
    rest = [t.id async for t, _ in instance.query_tickets(query, Page(after=cursor))]
    assert rest == ["5", "6", "7"]
    assert seen[0]["Filter"][-1] == {"op": "gt", "field": "id", "value": 4}
    assert seen[0]["MaxRecords"] == 500


async def test_query_drops_loose_like_matches_and_checks_resume_tokens() -> None:
    items = [
        {"id": 1, "title": "printer offline", "status": 1, "priority": 2},
        {"id": 2, "title": "offline printer", "status": 1, "priority": 2},
    ]
    instance, _ = provider(query_handler(items, []))
    query = parse_query(
        ["summary[like]printer*offline"], [], instance.filter_schema("query_tickets")
    )
    assert [t.id async for t, _ in instance.query_tickets(query, Page())] == ["1"]
    with pytest.raises(InvalidArgument) as info:
        async for _ in instance.query_tickets(query, Page(after=[None, 3])):
            pass
    assert info.value.reason == "INVALID_RESUME_TOKEN"


async def test_query_custom_fields_use_the_companys_mapping() -> None:
    seen: list[Any] = []
    instance, _ = provider(query_handler([], seen))
    schema = instance.filter_schema("query_tickets")
    assert "custom_fields.team" in schema.fields
    query = parse_query(["custom_fields.team=Ops", "project=174"], [], schema)
    assert [t async for t in instance.query_tickets(query, Page())] == []
    assert seen[0]["Filter"][0] == {"op": "eq", "field": "Owning Team", "value": "Ops", "udf": True}


async def test_only_write_500s_become_invalid_argument() -> None:
    def broken(method: str, path: str, body: Any) -> tuple[int, Any]:
        if path.endswith("/fields"):
            return 200, FIELDS_BODY
        if method == "GET":
            return 500, {"errors": ["Object reference not set to an instance of an object."]}
        return 500, {"errors": ["Value 77 is not a valid status."]}

    instance, _ = provider(broken)
    with pytest.raises(Unavailable):
        await instance.get_ticket("7701")
    query = parse_query(["status=New"], [], instance.filter_schema("query_tickets"))
    with pytest.raises(InvalidArgument, match="not a valid status"):
        async for _ in instance.query_tickets(query, Page()):
            pass
