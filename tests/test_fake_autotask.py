"""The fake Autotask REST API itself, over real HTTP.

What is asserted here is what a plugin must cope with: header auth with an empty 401,
``{"item": null}`` for a missing ticket, 500 ``{"errors": [...]}`` for every rejected
write or query, integer picklists served by ``entityInformation/fields``, SQL-like null
semantics in filters, next-page URLs that must be POSTed again with the query body, the
request threshold and the thread limit.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from .fakes.autotask import (
    PRIORITIES,
    STATUSES,
    FakeAutotask,
    Ignored,
    Pick,
    at_time,
    parse_at_time,
)

NOW = datetime(2024, 3, 10, 18, 30, 5, tzinfo=UTC)
V = "/atservicesrest/v1.0"
ALL = [{"op": "exist", "field": "id"}]
TICKET = {
    "companyID": 174,
    "title": "Printer on fire",
    "status": 1,
    "priority": 2,
    "dueDateTime": "2024-03-12T17:00:00",
}


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def at() -> AsyncIterator[FakeAutotask]:
    async with FakeAutotask(clock=Clock()) as fake:
        yield fake


@pytest.fixture
async def http(at: FakeAutotask) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=at.root, headers=at.headers()) as session:
        yield session


async def call(
    session: aiohttp.ClientSession, method: str, path: str, **kw: Any
) -> tuple[int, Any, Any]:
    async with session.request(method, path, **kw) as response:
        text = await response.text()
        data: Any = text
        if response.content_type == "application/json" and text:
            data = json.loads(text)
        return response.status, data, response.headers


async def create(http: aiohttp.ClientSession, **fields: Any) -> int:
    status, data, _ = await call(http, "POST", f"{V}/Tickets", json={**TICKET, **fields})
    assert status == 200, data
    return int(data["itemId"])


async def get(http: aiohttp.ClientSession, ticket_id: int) -> Any:
    status, data, _ = await call(http, "GET", f"{V}/Tickets/{ticket_id}")
    assert status == 200, data
    return data["item"]


async def query(http: aiohttp.ClientSession, *filters: Any, **extra: Any) -> Any:
    status, data, _ = await call(
        http, "POST", f"{V}/Tickets/query", json={"filter": list(filters), **extra}
    )
    assert status == 200, data
    return data


async def ids(http: aiohttp.ClientSession, *filters: Any) -> list[int]:
    return [item["id"] for item in (await query(http, *filters))["items"]]


async def rejected(
    http: aiohttp.ClientSession, method: str, path: str, body: Any, status: int = 500
) -> list[str]:
    got, data, _ = await call(http, method, path, json=body)
    assert got == status, data
    assert set(data) == {"errors"}, data
    return list(data["errors"])


# -- zone, auth ---------------------------------------------------------------------------


async def test_zone_information_needs_no_credentials(at: FakeAutotask) -> None:
    async with aiohttp.ClientSession() as bare:
        status, data, _ = await call(
            bare,
            "GET",
            f"{at.root}/ATServicesRest/V1.0/zoneInformation?user=API-USER@fakemsp.example",
        )
        assert status == 200
        assert data == {
            "zoneName": "Fake Zone",
            "url": at.zone_url,
            "webUrl": f"{at.root}/",
            "ci": 30595,
        }
        assert data["url"].endswith("/ATServicesRest/")
        status, data, _ = await call(bare, "GET", f"{at.url}/v1.0/ZoneInformation?user=nobody")
        assert status == 500 and data["errors"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"UserName": "api-user@fakemsp.example", "ApiIntegrationCode": "FAKEINTEGRATIONCODE"},
        {
            "UserName": "api-user@fakemsp.example",
            "Secret": "nope",
            "ApiIntegrationCode": "FAKEINTEGRATIONCODE",
        },
        {"UserName": "who@x", "Secret": "fake-secret", "ApiIntegrationCode": "FAKEINTEGRATIONCODE"},
        {
            "UserName": "api-user@fakemsp.example",
            "Secret": "fake-secret",
            "ApiIntegrationCode": "WRONG",
        },
        {"Authorization": "Basic YXBpOnNlY3JldA=="},
    ],
)
async def test_wrong_credentials_answer_401_with_an_empty_body(
    at: FakeAutotask, headers: dict[str, str]
) -> None:
    async with aiohttp.ClientSession(headers=headers) as session:
        status, data, _ = await call(session, "GET", f"{at.url}/v1.0/Tickets/entityInformation")
    assert (status, data) == (401, "")
    assert at.calls()[-1].user is None


async def test_integration_code_and_username_ignore_case(at: FakeAutotask) -> None:
    headers = {
        "UserName": "API-User@FakeMSP.example",
        "Secret": "fake-secret",
        "ApiIntegrationCode": "fakeintegrationcode",
    }
    async with aiohttp.ClientSession(headers=headers) as session:
        status, _, _ = await call(session, "GET", f"{at.url}/v1.0/Tickets/entityInformation")
    assert status == 200


# -- create, get --------------------------------------------------------------------------


async def test_create_then_get_renders_every_field(
    at: FakeAutotask, http: aiohttp.ClientSession
) -> None:
    ticket_id = await create(
        http,
        description="Smoke everywhere",
        queueID=29682833,
        contactID=30682903,
        issueType=2,
        subIssueType=10,
        userDefinedFields=[{"name": "customer reference", "value": "PO-42"}],
    )
    assert ticket_id == 1001
    item = await get(http, ticket_id)
    assert next(iter(item)) == "id" and list(item)[-1] == "userDefinedFields"
    assert len(item) == 76  # TicketModel: 75 properties + userDefinedFields
    assert item["ticketNumber"] == "T20240310.0001"
    assert item["createDate"] == item["lastActivityDate"] == "2024-03-10T18:30:05Z"
    assert item["dueDateTime"] == "2024-03-12T17:00:00Z"
    assert item["creatorResourceID"] == item["lastActivityResourceID"] == 29682885
    assert item["creatorType"] == 1
    assert item["ticketCategory"] == 2 and item["ticketType"] == 1  # the defaults
    assert item["isVisibleToComanaged"] is False and item["estimatedHours"] == 0.0
    assert item["completedDate"] is None and item["assignedResourceID"] is None
    assert item["userDefinedFields"] == [
        {"name": "Customer Reference", "value": "PO-42"},
        {"name": "Impact Score", "value": None},
        {"name": "Root Cause", "value": None},
        {"name": "Follow-up Date", "value": None},
    ]
    second = await create(http)
    assert (await get(http, second))["ticketNumber"] == "T20240310.0002"
    assert await get(http, 999999) is None


async def test_properties_paths_and_values_are_case_insensitive_and_converted(
    at: FakeAutotask, http: aiohttp.ClientSession
) -> None:
    # As in Autotask's own Postman collection: "QueueID", "id": "0", numbers as strings.
    body = {
        "id": "0",
        "CompanyID": "174",
        "QueueID": 5,
        "DueDateTime": "2030-03-21T00:00:00+02:00",
        "Priority": "2",
        "STATUS": 1,
        "Title": "Case",
        "isVisibleToComanaged": "True",
        "estimatedHours": "1.5",
    }
    status, data, _ = await call(http, "POST", "/ATSERVICESREST/V1.0/tickets/", json=body)
    assert status == 200, data
    item = await get(http, data["itemId"])
    assert (item["companyID"], item["queueID"], item["priority"]) == (174, 5, 2)
    assert item["dueDateTime"] == "2030-03-20T22:00:00Z"
    assert item["isVisibleToComanaged"] is True and item["estimatedHours"] == 1.5
    assert at.ignored == []


async def test_rejected_create_lists_every_problem_in_one_500(
    at: FakeAutotask, http: aiohttp.ClientSession
) -> None:
    errors = await rejected(
        http,
        "POST",
        f"{V}/Tickets",
        {"companyID": 174, "priority": "high", "status": 99, "title": "x" * 256},
    )
    assert errors == [
        "Error converting value \"high\" to type 'System.Int32'. Path 'priority'.",
        "Value of field 'title' exceeds the maximum length of 255.",
        "Required field 'dueDateTime' is missing.",
        "Required field 'title' is missing.",
        "'99' is not a valid value for picklist field 'status'.",
    ]
    assert at.tickets.records == {}


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        (
            {"status": 19},
            "'19' (Awaiting Legacy Review) is an inactive value of picklist field 'status'.",
        ),
        ({"priority": 5}, "'5' (Planning) is an inactive value of picklist field 'priority'."),
        ({"queueID": 7}, "'7' is not a valid value for picklist field 'queueID'."),
        ({"issueType": 3, "subIssueType": 10}, "subIssueType 10 is not a child of issueType 3."),
        ({"subIssueType": 10}, "subIssueType 10 is not a child of issueType None."),
        ({"companyID": 999}, "Company with id 999 was not found."),
        ({"companyID": 176}, "Company 176 is inactive."),
        ({"contactID": 30682905}, "Contact 30682905 does not belong to company 174."),
        ({"contactID": 1}, "Contact with id 1 was not found."),
        (
            {"assignedResourceID": 29683794},
            "When assigning a Resource, you must assign both a assignedResourceID and "
            "assignedResourceRoleID.",
        ),
        (
            {"assignedResourceID": 29683795, "assignedResourceRoleID": 29683397},
            "Resource 29683795 does not have role 29683397.",
        ),
        (
            {"assignedResourceID": 29683796, "assignedResourceRoleID": 29683396},
            "Resource with id 29683796 was not found or is inactive.",
        ),
        (
            {"dueDateTime": "next tuesday"},
            "Error converting value \"next tuesday\" to type 'System.DateTime'. "
            "Path 'dueDateTime'.",
        ),
        (
            {"userDefinedFields": [{"name": "Nope", "value": "x"}]},
            "User-defined field 'Nope' does not exist.",
        ),
        (
            {"userDefinedFields": [{"name": "Root Cause", "value": "9"}]},
            "'9' is not a valid value for user-defined field 'Root Cause'.",
        ),
        (
            {"userDefinedFields": [{"name": "Impact Score", "value": "high"}]},
            "Error converting value \"high\" to type 'System.Double'. Path 'Impact Score'.",
        ),
    ],
)
async def test_ticket_rules(
    http: aiohttp.ClientSession, fields: dict[str, Any], error: str
) -> None:
    assert await rejected(http, "POST", f"{V}/Tickets", {**TICKET, **fields}) == [error]


async def test_a_valid_assignment_and_udf_values_are_stored(http: aiohttp.ClientSession) -> None:
    ticket_id = await create(
        http,
        assignedResourceID=29683794,
        assignedResourceRoleID=29683397,
        userDefinedFields=[
            {"Name": "Impact Score", "Value": 7},
            {"name": "Root Cause", "value": "2"},
            {"name": "Follow-up Date", "value": "2024-04-01T09:00:00+01:00"},
        ],
    )
    item = await get(http, ticket_id)
    assert (item["assignedResourceID"], item["assignedResourceRoleID"]) == (29683794, 29683397)
    assert {u["name"]: u["value"] for u in item["userDefinedFields"]} == {
        "Customer Reference": None,
        "Impact Score": "7",
        "Root Cause": "2",
        "Follow-up Date": "2024-04-01T08:00:00Z",
    }


async def test_read_only_and_unknown_properties_are_dropped_and_noted(
    at: FakeAutotask, http: aiohttp.ClientSession
) -> None:
    ticket_id = await create(
        http, ticketNumber="MINE-1", createDate="2000-01-01T00:00:00", summary="?", id=55
    )
    item = await get(http, ticket_id)
    assert item["ticketNumber"] == "T20240310.0001" and item["id"] == 1001
    assert at.ignored == [
        Ignored("body", "Ticket", "ticketNumber", "read-only"),
        Ignored("body", "Ticket", "createDate", "read-only"),
        Ignored("body", "Ticket", "summary", "unknown field"),
        Ignored("body", "Ticket", "id", "id is assigned by Autotask"),
    ]
    with pytest.raises(AssertionError, match="4 value"):
        at.assert_no_violations()


async def test_impersonation_makes_the_resource_the_actor(at: FakeAutotask) -> None:
    async with aiohttp.ClientSession(
        base_url=at.root, headers={**at.headers(), "ImpersonationResourceId": "29683794"}
    ) as session:
        ticket_id = await create(session)
        assert (await get(session, ticket_id))["creatorResourceID"] == 29683794
    async with aiohttp.ClientSession(
        base_url=at.root, headers={**at.headers(), "ImpersonationResourceId": "29683796"}
    ) as session:
        assert await rejected(session, "POST", f"{V}/Tickets", TICKET) == [
            "ImpersonationResourceId 29683796 is not an active resource."
        ]


# -- update -------------------------------------------------------------------------------


async def test_patch_changes_only_what_it_carries(
    at: FakeAutotask, http: aiohttp.ClientSession
) -> None:
    ticket_id = await create(http, description="old", queueID=5)
    at.advance(61.5)
    status, data, _ = await call(
        http, "PATCH", f"{V}/Tickets", json={"id": ticket_id, "title": "New title", "queueID": None}
    )
    assert (status, data) == (200, {"itemId": ticket_id})
    item = await get(http, ticket_id)
    assert (item["title"], item["description"], item["queueID"]) == ("New title", "old", None)
    assert item["createDate"] == "2024-03-10T18:30:05Z"
    assert item["lastActivityDate"] == "2024-03-10T18:31:06.5Z"

    await call(http, "PATCH", f"{V}/Tickets", json={"id": ticket_id, "status": 5})
    item = await get(http, ticket_id)
    assert item["completedDate"] == "2024-03-10T18:31:06.5Z"
    assert item["completedByResourceID"] == 29682885
    await call(http, "PATCH", f"{V}/Tickets", json={"id": str(ticket_id), "status": 8})
    item = await get(http, ticket_id)
    assert item["completedDate"] is None and item["completedByResourceID"] is None

    await call(
        http,
        "PATCH",
        f"{V}/Tickets",
        json={"id": ticket_id, "userDefinedFields": [{"name": "Customer Reference", "value": "A"}]},
    )
    assert (await get(http, ticket_id))["userDefinedFields"][0]["value"] == "A"


async def test_patch_errors(at: FakeAutotask, http: aiohttp.ClientSession) -> None:
    ticket_id = await create(http)
    hidden = at.seed_ticket(hidden=True)["id"]
    assert await rejected(http, "PATCH", f"{V}/Tickets", {"title": "x"}) == [
        "An update needs the Ticket's id."
    ]
    assert await rejected(http, "PATCH", f"{V}/Tickets", {"id": 4242, "title": "x"}) == [
        "Ticket with id 4242 was not found."
    ]
    assert await rejected(http, "PATCH", f"{V}/Tickets", {"id": hidden, "title": "x"}) == [
        f"Ticket with id {hidden} was not found."
    ]
    assert await rejected(http, "PATCH", f"{V}/Tickets", {"id": ticket_id, "title": ""}) == [
        "Required field 'title' is missing."
    ]
    # Picklist values are checked for the fields written, not for the ones kept.
    at.set_picklist("queueID", [Pick(5, "Client Portal", active=False)])
    await call(http, "PATCH", f"{V}/Tickets", json={"id": ticket_id, "title": "still fine"})
    assert (await get(http, ticket_id))["title"] == "still fine"


async def test_put_nulls_what_it_does_not_carry(http: aiohttp.ClientSession) -> None:
    ticket_id = await create(
        http,
        description="kept?",
        userDefinedFields=[{"name": "Customer Reference", "value": "R"}],
    )
    assert await rejected(http, "PUT", f"{V}/Tickets", {"id": ticket_id, "title": "only"}) == [
        "Required field 'companyID' is missing.",
        "Required field 'dueDateTime' is missing.",
        "Required field 'priority' is missing.",
        "Required field 'status' is missing.",
    ]
    status, _, _ = await call(http, "PUT", f"{V}/Tickets", json={**TICKET, "id": ticket_id})
    assert status == 200
    item = await get(http, ticket_id)
    assert item["description"] is None and item["ticketCategory"] is None
    assert item["userDefinedFields"][0]["value"] is None
    assert item["ticketNumber"] == "T20240310.0001"  # read-only fields survive


# -- queries ------------------------------------------------------------------------------


@pytest.fixture
async def board(at: FakeAutotask) -> dict[str, int]:
    """Five tickets with distinct values (and some nulls) to filter."""
    t = {
        "a": at.seed_ticket(title="Printer jam", priority=1, queueID=5, description="paper"),
        "b": at.seed_ticket(title="printer offline", priority=2, status=8, issueType=2),
        "c": at.seed_ticket(title="VPN down", priority=4, status=5, queueID=8, companyID=175),
        "d": at.seed_ticket(
            title="Laptop slow",
            priority=3,
            dueDateTime="2024-03-20T00:00:00Z",
            userDefinedFields=[{"name": "Impact Score", "value": "12"}],
        ),
        "e": at.seed_ticket(
            title="Phish",
            priority=2,
            queueID=8,
            userDefinedFields=[
                {"name": "Impact Score", "value": "3"},
                {"name": "Customer Reference", "value": "ACME-7"},
            ],
        ),
    }
    return {k: v["id"] for k, v in t.items()}


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"op": "eq", "field": "priority", "value": 2}, "be"),
        ({"op": "noteq", "field": "priority", "value": 2}, "acd"),
        ({"op": "gt", "field": "priority", "value": 2}, "cd"),
        ({"op": "gte", "field": "priority", "value": "2"}, "bcde"),
        ({"op": "lt", "field": "priority", "value": 2}, "a"),
        ({"op": "lte", "field": "priority", "value": 2}, "abe"),
        ({"op": "beginsWith", "field": "title", "value": "PRINTER"}, "ab"),
        ({"op": "endsWith", "field": "title", "value": "DOWN"}, "c"),
        ({"op": "contains", "field": "title", "value": "o"}, "bcd"),
        ({"op": "eq", "field": "title", "value": "vpn DOWN"}, "c"),
        ({"op": "exist", "field": "queueID"}, "ace"),
        ({"op": "notExist", "field": "queueID"}, "bd"),
        ({"op": "in", "field": "queueID", "value": [5, 8]}, "ace"),
        ({"op": "notIn", "field": "queueID", "value": [5]}, "ce"),  # nulls never match
        ({"op": "noteq", "field": "queueID", "value": 5}, "ce"),
        ({"op": "gt", "field": "dueDateTime", "value": "2024-03-19T00:00:00"}, "d"),
        ({"op": "eq", "field": "completedDate", "value": "2024-03-10T18:30:05Z"}, "c"),
        ({"op": "eq", "field": "isVisibleToComanaged", "value": False}, "abcde"),
        ({"op": "eq", "field": "Impact Score", "value": 12, "udf": True}, "d"),
        ({"op": "gt", "field": "impact score", "value": "2.5", "udf": True}, "de"),
        ({"op": "beginswith", "field": "Customer Reference", "value": "acme", "udf": True}, "e"),
        ({"op": "EQ", "field": "COMPANYID", "value": 175}, "c"),
        (
            {
                "op": "or",
                "items": [
                    {"op": "eq", "field": "status", "value": 5},
                    {
                        "op": "and",
                        "items": [
                            {"op": "eq", "field": "priority", "value": 2},
                            {"op": "exist", "field": "issueType"},
                        ],
                    },
                ],
            },
            "bc",
        ),
    ],
)
async def test_filter_operators(
    http: aiohttp.ClientSession, board: dict[str, int], flt: dict[str, Any], expected: str
) -> None:
    assert await ids(http, flt) == [board[k] for k in expected]


async def test_top_level_filters_are_anded(
    http: aiohttp.ClientSession, board: dict[str, int]
) -> None:
    got = await ids(
        http,
        {"op": "eq", "field": "priority", "value": 2},
        {"op": "exist", "field": "queueID"},
    )
    assert got == [board["e"]]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"filter": []}, "A query needs a non-empty filter array."),
        ({"MaxRecords": 10}, "A query needs a non-empty filter array."),
        ({"filter": ALL, "MaxRecords": 501}, "MaxRecords must be between 1 and 500."),
        ({"filter": ALL, "MaxRecords": 0}, "MaxRecords must be between 1 and 500."),
        (
            {"filter": [{"op": "eq", "field": "summary", "value": 1}]},
            "Unable to find summary in the Ticket entity.",
        ),
        (
            {"filter": [{"op": "eq", "field": "creatorType", "value": 1}]},
            "The field creatorType is not queryable.",
        ),
        (
            {"filter": [{"op": "contains", "field": "priority", "value": 1}]},
            "The operator 'contains' is not supported for priority (integer).",
        ),
        (
            {"filter": [{"op": "gt", "field": "isVisibleToComanaged", "value": True}]},
            "The operator 'gt' is not supported for isVisibleToComanaged (boolean).",
        ),
        (
            {"filter": [{"op": "eq", "field": "priority"}]},
            "The 'eq' filter on priority needs a value.",
        ),
        (
            {"filter": [{"op": "eq", "field": "priority", "value": None}]},
            "The 'eq' filter on priority needs a value.",
        ),
        (
            {"filter": [{"op": "in", "field": "priority", "value": 2}]},
            "The 'in' filter on priority needs a non-empty array.",
        ),
        (
            {"filter": [{"op": "eq", "field": "priority", "value": "x"}]},
            "Error converting value \"x\" to type 'System.Int32'. Path 'priority'.",
        ),
        (
            {"filter": [{"op": "like", "field": "title", "value": "x"}]},
            "Unknown filter operator 'like'.",
        ),
        (
            {"filter": [{"op": "or", "items": []}]},
            "The 'or' operator needs a non-empty items array.",
        ),
        (
            {"filter": [{"op": "eq", "field": "Nope", "udf": True, "value": 1}]},
            "Unable to find user-defined field Nope in Ticket.",
        ),
        (
            {
                "filter": [
                    {"op": "exist", "field": "Impact Score", "udf": True},
                    {"op": "exist", "field": "Root Cause", "udf": True},
                ]
            },
            "Only one user-defined field may be queried at a time.",
        ),
        (
            {
                "filter": [
                    {
                        "op": "or",
                        "items": [{"op": "eq", "field": "id", "value": i} for i in range(501)],
                    }
                ]
            },
            "Invalid query syntax. Queries are limited to 500 or fewer 'OR' conditions.",
        ),
        (
            {"filter": ALL, "IncludeFields": ["id", "nope"]},
            "Unable to find nope in the Ticket entity.",
        ),
    ],
)
async def test_query_errors(http: aiohttp.ClientSession, body: dict[str, Any], error: str) -> None:
    assert await rejected(http, "POST", f"{V}/Tickets/query", body) == [error]


async def test_include_fields_and_unknown_query_properties(
    at: FakeAutotask, http: aiohttp.ClientSession, board: dict[str, int]
) -> None:
    data = await query(
        http,
        {"op": "eq", "field": "id", "value": board["e"]},
        IncludeFields=["Title", "impact score"],
        orderBy="id",
    )
    assert data["items"] == [
        {"title": "Phish", "userDefinedFields": [{"name": "Impact Score", "value": "3"}]}
    ]
    assert at.ignored == [Ignored("query", "Ticket", "orderBy", "unknown query property")]


async def test_count_by_post_and_get(http: aiohttp.ClientSession, board: dict[str, int]) -> None:
    body = {"filter": [{"op": "eq", "field": "priority", "value": 2}]}
    status, data, _ = await call(http, "POST", f"{V}/Tickets/query/count", json=body)
    assert (status, data) == (200, {"queryCount": 2})
    status, data, _ = await call(
        http, "GET", f"{V}/Tickets/query/count", params={"search": json.dumps(body)}
    )
    assert (status, data) == (200, {"queryCount": 2})


async def test_hidden_tickets_do_not_exist_for_the_api_user(
    at: FakeAutotask, http: aiohttp.ClientSession
) -> None:
    shown = at.seed_ticket()["id"]
    hidden = at.seed_ticket(hidden=True)["id"]
    assert await get(http, hidden) is None
    assert await ids(http, *ALL) == [shown]
    assert at.ticket(hidden)["id"] == hidden


# -- paging -------------------------------------------------------------------------------


def paging_of(url: str) -> dict[str, Any]:
    return dict(json.loads(parse_qs(urlsplit(url).query)["paging"][0]))


async def test_post_pages_follow_next_page_urls_with_the_same_body(
    at: FakeAutotask, http: aiohttp.ClientSession
) -> None:
    made = [at.seed_ticket(title=f"t{i}")["id"] for i in range(5)]
    body = {"MaxRecords": 2, "filter": ALL}
    status, first, _ = await call(http, "POST", f"{V}/Tickets/query", json=body)
    assert status == 200
    assert [i["id"] for i in first["items"]] == made[:2]
    details = first["pageDetails"]
    assert (details["count"], details["requestCount"], details["prevPageUrl"]) == (2, 2, None)
    nxt = details["nextPageUrl"]
    assert nxt.startswith(f"{at.api_url}Tickets/query/next?paging=%7b%22pageSize%22%3a2")
    assert "search=" not in nxt
    assert paging_of(nxt) == {"pageSize": 2, "previousIds": [-1], "nextIds": [made[2]]}

    # A GET on a POST query's next page is refused, as reported of the real API.
    status, data, _ = await call(http, "GET", nxt)
    assert status == 405 and "does not support http method 'GET'" in data["Message"]

    at.seed_ticket(title="late")  # keyset paging: appears at the end, shifts nothing
    status, second, _ = await call(http, "POST", nxt, json=body)
    assert [i["id"] for i in second["items"]] == made[2:4]
    assert paging_of(second["pageDetails"]["prevPageUrl"]) == {
        "pageSize": 2,
        "previousIds": [],
        "nextIds": [-1],
    }
    status, third, _ = await call(http, "POST", second["pageDetails"]["nextPageUrl"], json=body)
    assert [i["id"] for i in third["items"]] == [made[4], 1006]
    assert third["pageDetails"]["nextPageUrl"] is None
    status, back, _ = await call(http, "POST", third["pageDetails"]["prevPageUrl"], json=body)
    assert [i["id"] for i in back["items"]] == made[2:4]
    assert (
        at.calls("POST", "/tickets/query/next")[0].path == "/ATServicesRest/V1.0/Tickets/query/next"
    )


async def test_get_pages_carry_the_search_along(
    at: FakeAutotask, http: aiohttp.ClientSession
) -> None:
    made = [at.seed_ticket(title=f"t{i}")["id"] for i in range(3)]
    search = json.dumps({"MaxRecords": 2, "filter": [{"op": "gte", "field": "id", "value": 0}]})
    status, first, _ = await call(http, "GET", f"{V}/Tickets/query", params={"search": search})
    assert status == 200 and [i["id"] for i in first["items"]] == made[:2]
    nxt = first["pageDetails"]["nextPageUrl"]
    assert parse_qs(urlsplit(nxt).query)["search"] == [search]
    status, second, _ = await call(http, "GET", nxt)
    assert status == 200 and [i["id"] for i in second["items"]] == made[2:]


async def test_bad_paging_and_search(http: aiohttp.ClientSession) -> None:
    status, data, _ = await call(
        http, "POST", f"{V}/Tickets/query/next", params={"paging": "{}"}, json={"filter": ALL}
    )
    assert (status, data) == (400, {"errors": ["The paging parameter is not valid."]})
    status, data, _ = await call(http, "GET", f"{V}/Tickets/query", params={"search": "{"})
    assert (status, data) == (400, {"errors": ["The search parameter is not valid JSON."]})
    status, data, _ = await call(http, "GET", f"{V}/Tickets/query")
    assert (status, data) == (400, {"errors": ["The search parameter is required."]})


# -- metadata, other entities -------------------------------------------------------------


async def test_field_metadata_serves_the_picklists(http: aiohttp.ClientSession) -> None:
    status, data, _ = await call(http, "GET", f"{V}/Tickets/entityInformation/fields")
    assert status == 200
    fields = {f["name"]: f for f in data["fields"]}
    status_field = fields["status"]
    assert status_field["isPickList"] and status_field["isRequired"]
    assert status_field["dataType"] == "integer"
    values = {p["value"]: p for p in status_field["picklistValues"]}
    assert values["1"]["label"] == "New" and values["5"]["label"] == "Complete"
    assert values["19"]["isActive"] is False
    assert len(values) == len(STATUSES)
    assert [p["label"] for p in fields["priority"]["picklistValues"]] == [
        p.label for p in PRIORITIES
    ]
    sub = fields["subIssueType"]
    assert sub["picklistParentValueField"] == "issueType"
    assert {p["value"]: p["parentValue"] for p in sub["picklistValues"]}["14"] == "4"
    assert (
        fields["companyID"]["isReference"]
        and fields["companyID"]["referenceEntityType"] == "Company"
    )
    assert fields["title"]["length"] == 255 and fields["ticketNumber"]["isReadOnly"]
    assert fields["lastActivityPersonType"]["isQueryable"] is False
    assert fields["description"]["picklistValues"] is None

    status, data, _ = await call(http, "GET", f"{V}/Tickets/entityInformation/userDefinedFields")
    udfs = {f["name"]: f for f in data["fields"]}
    assert udfs["Impact Score"]["type"] == "double"
    assert udfs["Root Cause"]["picklistValues"][0]["label"] == "Hardware failure"

    status, data, _ = await call(http, "GET", f"{V}/Tickets/entityInformation")
    assert data["info"]["canCreate"] and data["info"]["canUpdate"]
    assert data["info"]["canDelete"] is False and data["info"]["hasUserDefinedFields"]


async def test_companies_contacts_resources_are_readable(http: aiohttp.ClientSession) -> None:
    status, data, _ = await call(http, "GET", f"{V}/Companies/174")
    assert data["item"]["companyName"] == "Acme Corporation" and data["item"]["isActive"] is True
    status, data, _ = await call(
        http,
        "POST",
        f"{V}/Contacts/query",
        json={"filter": [{"op": "eq", "field": "CompanyID", "value": 174}]},
    )
    assert [c["emailAddress"] for c in data["items"]] == [
        "wile@acme.example",
        "beep@acme.example",
        "old@acme.example",
    ]
    assert data["items"][2]["isActive"] == 0
    status, data, _ = await call(http, "GET", f"{V}/Resources/29683794")
    assert data["item"]["email"] == "ada@fakemsp.example"
    status, data, _ = await call(http, "POST", f"{V}/Companies", json={"companyName": "X"})
    assert status == 405


async def test_framework_answers(at: FakeAutotask, http: aiohttp.ClientSession) -> None:
    status, data, _ = await call(http, "DELETE", f"{V}/Tickets/1")
    assert (status, data) == (
        405,
        {"Message": "The requested resource does not support http method 'DELETE'."},
    )
    status, data, _ = await call(http, "GET", f"{V}/Tickets")
    assert status == 405
    status, data, _ = await call(http, "GET", f"{V}/Widgets/1")
    assert status == 404 and data["Message"].startswith("No HTTP resource was found")
    status, data, _ = await call(http, "GET", "/api/v2/Tickets")
    assert status == 404
    status, data, _ = await call(http, "POST", f"{V}/Tickets", data="title=x")
    assert status == 415 and "media type" in data["Message"]
    status, data, _ = await call(
        http, "POST", f"{V}/Tickets", data="{", headers={"Content-Type": "application/json"}
    )
    assert (status, data) == (400, {"errors": ["The request body is not valid JSON."]})
    status, data, _ = await call(http, "POST", f"{V}/Tickets", json=[1])
    assert status == 500 and data == {"errors": ["The request body must be a Ticket object."]}


# -- limits -------------------------------------------------------------------------------


async def test_threshold_information_and_the_hourly_threshold(
    at: FakeAutotask, http: aiohttp.ClientSession
) -> None:
    status, data, _ = await call(http, "GET", f"{V}/ThresholdInformation")
    assert data == {
        "externalRequestThreshold": 10000,
        "requestThresholdTimeframe": 60,
        "currentTimeframeRequestCount": 1,
    }
    at.set_threshold(3, window=60, retry_after=30)
    for _ in range(3):
        status, _, _ = await call(http, "GET", f"{V}/Tickets/1")
        assert status == 200
    status, data, headers = await call(http, "GET", f"{V}/Tickets/1")
    assert status == 429
    assert data == {
        "errors": ["API request threshold of 3 requests per 1 minutes has been exceeded."]
    }
    assert headers["Retry-After"] == "30"
    at.advance(61)
    status, data, _ = await call(http, "GET", f"{V}/ThresholdInformation")
    assert status == 200 and data["currentTimeframeRequestCount"] == 1
    at.set_threshold(4, status=503)
    for _ in range(4):
        await call(http, "GET", f"{V}/Tickets/1")
    status, _, headers = await call(http, "GET", f"{V}/Tickets/1")
    assert status == 503 and "Retry-After" not in headers


async def test_latency_is_added_past_half_the_threshold(
    at: FakeAutotask, http: aiohttp.ClientSession
) -> None:
    at.set_threshold(4, latency=(0.15, 0.3))
    took = []
    for _ in range(4):
        start = time.monotonic()
        await call(http, "GET", f"{V}/Tickets/1")
        took.append(time.monotonic() - start)
    assert took[0] < 0.1 and took[1] < 0.1
    assert 0.15 <= took[2] < 0.3 <= took[3]


async def test_thread_limit_per_integration_code_and_endpoint(
    at: FakeAutotask, http: aiohttp.ClientSession
) -> None:
    at.handler_delay = 0.3
    results = await asyncio.gather(
        *(call(http, "GET", f"{V}/Tickets/{i}") for i in range(4)),
        call(http, "GET", f"{V}/Companies/174"),
        call(http, "GET", f"{V}/zoneInformation?user=api-user@fakemsp.example"),
    )
    statuses = sorted(r[0] for r in results[:4])
    assert statuses == [200, 200, 200, 429]
    refused = next(r for r in results[:4] if r[0] == 429)
    assert refused[1] == {"errors": ["API thread threshold of 3 threads has been exceeded."]}
    assert results[4][0] == 200 and results[5][0] == 200
    at.handler_delay = 0.0
    assert at._threads == {
        ("fakeintegrationcode", "tickets"): 0,
        ("fakeintegrationcode", "companies"): 0,
    }


# -- fault switch, request log ------------------------------------------------------------


async def test_fault_switch(at: FakeAutotask, http: aiohttp.ClientSession) -> None:
    fault = at.fail_next(503, retry_after=2, times=2, path="/tickets/query", method="POST")
    for _ in range(2):
        status, data, headers = await call(http, "POST", f"{V}/Tickets/query", json={"filter": ALL})
        assert (status, data, headers["Retry-After"]) == (
            503,
            {"errors": ["Service Unavailable"]},
            "2",
        )
    assert fault.fired == 2 and at.faults == []
    status, _, _ = await call(http, "POST", f"{V}/Tickets/query", json={"filter": ALL})
    assert status == 200

    at.fail_next(401)
    assert (await call(http, "GET", f"{V}/Tickets/1"))[:2] == (401, "")
    at.fail_next(500, path=f"{V}/Tickets")
    assert (await call(http, "GET", f"{V}/Tickets/1"))[:2] == (
        500,
        {"errors": ["An unexpected error occurred."]},
    )
    at.fail_next(malformed=True)
    async with http.get(f"{V}/Tickets/1") as response:
        assert response.status == 200 and response.content_type == "application/json"
        with pytest.raises(json.JSONDecodeError):
            json.loads(await response.text())
    at.fail_next(reset=True, method="POST")  # a GET would be retried by aiohttp itself
    with pytest.raises(aiohttp.ClientConnectionError):
        await call(http, "POST", f"{V}/Tickets", json=TICKET)
    assert at.calls("POST")[-1].status is None and at.tickets.records == {}
    at.fail_next(delay=0.2)
    start = time.monotonic()
    status, data, _ = await call(http, "GET", f"{V}/Tickets/1")
    assert (status, data) == (200, {"item": None}) and time.monotonic() - start >= 0.2
    with pytest.raises(ValueError):
        at.fail_next()


async def test_request_log(at: FakeAutotask, http: aiohttp.ClientSession) -> None:
    await create(http)
    await call(http, "POST", f"{V}/Tickets/query", json={"filter": ALL})
    await call(http, "GET", "/ATServicesRest/V1.0/tickets/1001")
    posts = at.calls("POST")
    assert [str(r) for r in posts] == [
        "POST /atservicesrest/v1.0/Tickets -> 200",
        "POST /atservicesrest/v1.0/Tickets/query -> 200",
    ]
    assert posts[0].json["title"] == "Printer on fire"
    assert posts[0].user == "api-user@fakemsp.example"
    assert posts[0].headers["ApiIntegrationCode"] == "FAKEINTEGRATIONCODE"
    assert len(at.calls(path="/Tickets")) == 3
    assert len(at.calls("GET", "/atservicesrest/v1.0/tickets/")) == 1
    assert at.calls(path="/Tickets/query") == [posts[1]]


# -- helpers ------------------------------------------------------------------------------


def test_time_format_and_parsing() -> None:
    assert at_time(datetime(2024, 3, 10, 18, 30, 5, tzinfo=UTC)) == "2024-03-10T18:30:05Z"
    assert (
        at_time(datetime(2024, 3, 10, 18, 30, 5, 120000, tzinfo=UTC)) == "2024-03-10T18:30:05.12Z"
    )
    assert parse_at_time("2024-03-10") == datetime(2024, 3, 10, tzinfo=UTC)
    assert parse_at_time("2024-03-10T18:30:05.1234567-05:00") == datetime(
        2024, 3, 10, 23, 30, 5, 123000, tzinfo=UTC
    )
    assert parse_at_time("2024-02-30T00:00:00") is None
    assert parse_at_time("yesterday") is None
