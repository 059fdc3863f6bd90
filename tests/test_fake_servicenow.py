"""The fake ServiceNow instance itself, over real HTTP.

What is asserted here is the behaviour a plugin must cope with (the traps of issue 5):
display values vs values, reference shapes, journal fields that read back empty, silently
ignored unknown fields, short pages that are not the end, the metadata walk through
``sys_db_object``, OAuth expiry and ServiceNow's error bodies.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from .fakes import snquery
from .fakes.servicenow import (
    DEFAULT_SIR_STATES,
    PRIORITIES,
    FakeServiceNow,
    Ignored,
    sn_time,
)

T = "/api/now/table"
SYS_ID = re.compile(r"[0-9a-f]{32}")
FIXED = datetime(2024, 3, 10, 18, 30, 5, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = FIXED) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def sn() -> AsyncIterator[FakeServiceNow]:
    async with FakeServiceNow(clock=Clock()) as fake:
        yield fake


@pytest.fixture
async def http(sn: FakeServiceNow) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=sn.url, headers=sn.auth_header()) as session:
        yield session


async def call(
    session: aiohttp.ClientSession, method: str, path: str, **kw: Any
) -> tuple[int, Any, Any]:
    async with session.request(method, path, **kw) as response:
        text = await response.text()
        data: Any = text
        if response.content_type == "application/json" and text:
            data = await response.json()
        return response.status, data, response.headers


async def rows(http: aiohttp.ClientSession, table: str, query: str, **params: str) -> list[Any]:
    status, data, _ = await call(
        http, "GET", f"{T}/{table}", params={"sysparm_query": query, **params}
    )
    assert status == 200, data
    return list(data["result"])


async def numbers(http: aiohttp.ClientSession, query: str, table: str = "incident") -> list[str]:
    found = await rows(http, table, query, sysparm_fields="number")
    return [r["number"] for r in found]


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def links(header: str) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]+)>;rel="(\w+)"', header)}


# -- records ----------------------------------------------------------------------------


async def test_crud_round_trip(sn: FakeServiceNow, http: aiohttp.ClientSession) -> None:
    admin = sn.user("admin")
    status, data, headers = await call(
        http, "POST", f"{T}/incident", json={"short_description": "Mail down", "urgency": 1}
    )
    assert status == 201, data
    rec = data["result"]
    assert SYS_ID.fullmatch(rec["sys_id"])
    assert headers["Location"] == f"{sn.url}{T}/incident/{rec['sys_id']}"
    assert rec["number"] == "INC0010001"
    assert rec["state"] == "1" and rec["active"] == "true"
    assert (rec["impact"], rec["urgency"], rec["priority"]) == ("3", "1", "3")  # matrix
    assert rec["opened_at"] == rec["sys_created_on"] == "2024-03-10 18:30:05"
    assert rec["opened_by"]["value"] == admin.sys_id
    assert rec["sys_class_name"] == "incident"
    assert all(isinstance(v, str | dict) for v in rec.values())

    sys_id = rec["sys_id"]
    status, data, _ = await call(http, "GET", f"{T}/incident/{sys_id}")
    assert status == 200 and data["result"]["short_description"] == "Mail down"

    status, data, _ = await call(
        http, "PATCH", f"{T}/incident/{sys_id}", json={"description": "all of it", "impact": "1"}
    )
    assert status == 200
    assert data["result"]["description"] == "all of it"
    assert data["result"]["priority"] == "1"
    assert data["result"]["sys_mod_count"] == "1"
    status, data, _ = await call(http, "PUT", f"{T}/incident/{sys_id}", json={"urgency": "3"})
    assert status == 200
    assert data["result"]["description"] == "all of it"  # PUT is a partial update too
    assert data["result"]["priority"] == "3"

    status, body, _ = await call(http, "DELETE", f"{T}/incident/{sys_id}")
    assert (status, body) == (204, "")
    status, data, _ = await call(http, "GET", f"{T}/incident/{sys_id}")
    assert status == 404
    assert data == {
        "error": {
            "message": "No Record found",
            "detail": "Record doesn't exist or ACL restricts the record retrieval",
        },
        "status": "failure",
    }
    status, data, _ = await call(http, "PATCH", f"{T}/incident/{sys_id}", json={"urgency": "1"})
    assert status == 404


async def test_records_are_visible_from_the_tables_they_extend(
    sn: FakeServiceNow, http: aiohttp.ClientSession
) -> None:
    inc = sn.seed("incident", short_description="i")
    sir = sn.seed("sn_si_incident", short_description="s")
    assert sir["number"] == "SIR0010001" and sir["state"] == "10"  # Draft
    found = await rows(http, "task", "ORDERBYnumber", sysparm_fields="number,sys_class_name")
    assert found == [
        {"number": inc["number"], "sys_class_name": "incident"},
        {"number": sir["number"], "sys_class_name": "sn_si_incident"},
    ]
    # the incident table does not see SIR records, nor by sys_id
    assert await numbers(http, "") == [inc["number"]]
    status, _, _ = await call(http, "GET", f"{T}/incident/{sir['sys_id']}")
    assert status == 404
    status, data, _ = await call(http, "GET", f"{T}/task/{inc['sys_id']}")
    assert status == 200 and "caller_id" not in data["result"]  # task's columns only


async def test_unknown_table_and_uri(http: aiohttp.ClientSession) -> None:
    status, data, _ = await call(http, "GET", f"{T}/u_nope")
    assert status == 400 and data["error"]["message"] == "Invalid table u_nope"
    status, data, _ = await call(http, "GET", "/api/now/v9/table/incident")
    assert status == 400 and data["status"] == "failure"


async def test_v1_answers_404_on_empty_list_v2_and_default_200(
    sn: FakeServiceNow, http: aiohttp.ClientSession
) -> None:
    query = {"sysparm_query": "short_description=nothing"}
    status, data, _ = await call(http, "GET", "/api/now/v1/table/incident", params=query)
    assert status == 404
    assert data["status"] == "failure" and data["error"]["message"] == "No Record found"
    for prefix in ("/api/now/v2/table", T):
        status, data, headers = await call(http, "GET", f"{prefix}/incident", params=query)
        assert (status, data) == (200, {"result": []})
        assert headers["X-Total-Count"] == "0"
    sn.seed(short_description="nothing")
    status, data, _ = await call(http, "GET", "/api/now/v1/table/incident", params=query)
    assert status == 200 and len(data["result"]) == 1


# -- values and display values ----------------------------------------------------------


async def test_display_value_modes_and_reference_shapes(
    sn: FakeServiceNow, http: aiohttp.ClientSession
) -> None:
    beth = sn.user("beth.anglin")
    inc = sn.seed(
        short_description="VPN",
        state="2",
        assigned_to=beth.sys_id,
        due_date="2024-07-04 23:15:00",
    )
    fields = "state,assigned_to,caller_id,due_date,priority,sys_class_name,sys_mod_count"
    path = f"{T}/incident/{inc['sys_id']}"
    link = f"{sn.url}{T}/sys_user/{beth.sys_id}"

    _, data, _ = await call(http, "GET", path, params={"sysparm_fields": fields})
    assert data["result"] == {
        "state": "2",
        "assigned_to": {"link": link, "value": beth.sys_id},
        "caller_id": "",
        "due_date": "2024-07-04 23:15:00",
        "priority": "5",
        "sys_class_name": "incident",
        "sys_mod_count": "0",
    }
    params = {"sysparm_fields": fields, "sysparm_display_value": "true"}
    _, data, _ = await call(http, "GET", path, params=params)
    assert data["result"] == {
        "state": "In Progress",
        "assigned_to": {"display_value": "Beth Anglin", "link": link},
        "caller_id": "",
        "due_date": "07/04/2024 04:15:00 PM",  # admin: America/Los_Angeles, US format
        "priority": "5 - Planning",
        "sys_class_name": "Incident",
        "sys_mod_count": "0",
    }
    params = {"sysparm_fields": fields, "sysparm_display_value": "all"}
    _, data, _ = await call(http, "GET", path, params=params)
    result = data["result"]
    assert result["state"] == {"display_value": "In Progress", "value": "2"}
    assert result["assigned_to"] == {
        "display_value": "Beth Anglin",
        "link": link,
        "value": beth.sys_id,
    }
    assert result["caller_id"] == {"display_value": "", "value": ""}
    assert result["due_date"] == {
        "display_value": "07/04/2024 04:15:00 PM",
        "value": "2024-07-04 23:15:00",
    }
    params = {
        "sysparm_fields": "assigned_to",
        "sysparm_display_value": "true",
        "sysparm_exclude_reference_link": "true",
    }
    _, data, _ = await call(http, "GET", path, params=params)
    assert data["result"] == {"assigned_to": "Beth Anglin"}
    params = {"sysparm_fields": "assigned_to", "sysparm_exclude_reference_link": "true"}
    _, data, _ = await call(http, "GET", path, params=params)
    assert data["result"] == {"assigned_to": beth.sys_id}


async def test_display_dates_follow_each_users_zone_and_format(
    sn: FakeServiceNow, http: aiohttp.ClientSession
) -> None:
    inc = sn.seed(short_description="x", due_date="2024-01-15 08:00:00")
    params = {"sysparm_fields": "due_date", "sysparm_display_value": "true"}
    path = f"{T}/incident/{inc['sys_id']}"
    _, admin_view, _ = await call(http, "GET", path, params=params)
    _, reader_view, _ = await call(
        http, "GET", path, params=params, headers=basic("reader", "reader-pass")
    )
    assert admin_view["result"]["due_date"] == "01/15/2024 12:00:00 AM"
    assert reader_view["result"]["due_date"] == "15.01.2024 09:00:00"  # Europe/Berlin


async def test_sysparm_fields_dot_walk_and_unknown_fields(
    sn: FakeServiceNow, http: aiohttp.ClientSession
) -> None:
    inc = sn.seed(short_description="x", caller_id=sn.user("abel.tuter").sys_id)
    params = {"sysparm_fields": "number, caller_id.user_name,u_missing,caller_id.nope"}
    _, data, _ = await call(http, "GET", f"{T}/incident/{inc['sys_id']}", params=params)
    assert data["result"] == {"number": inc["number"], "caller_id.user_name": "abel.tuter"}
    assert {(i.where, i.name) for i in sn.ignored_fields} == {
        ("fields", "u_missing"),
        ("fields", "caller_id.nope"),
    }


async def test_unknown_and_system_fields_in_a_write_are_ignored_silently(
    sn: FakeServiceNow, http: aiohttp.ClientSession
) -> None:
    body = {
        "short_description": "ok",
        "u_not_a_column": "lost",
        "sys_created_on": "2000-01-01 00:00:00",
        "description": {"nested": True},
    }
    status, data, _ = await call(http, "POST", f"{T}/incident", json=body)
    assert status == 201
    rec = data["result"]
    assert "u_not_a_column" not in rec
    assert rec["sys_created_on"] == "2024-03-10 18:30:05"
    assert rec["description"] == ""
    assert sn.ignored_fields == [
        Ignored("body", "incident", "u_not_a_column", "unknown field"),
        Ignored("body", "incident", "sys_created_on", "system field"),
        Ignored("body", "incident", "description", "not a scalar"),
    ]


async def test_input_display_value(sn: FakeServiceNow, http: aiohttp.ClientSession) -> None:
    beth = sn.user("beth.anglin")
    # without the flag: the label is stored verbatim (garbage), the name dangles
    body = {"short_description": "x", "state": "In Progress", "assigned_to": "Beth Anglin"}
    _, data, _ = await call(http, "POST", f"{T}/incident", json=body)
    raw = sn.record(data["result"]["sys_id"])
    assert raw["state"] == "In Progress"
    assert raw["assigned_to"] == "Beth Anglin"
    params = {"sysparm_display_value": "true", "sysparm_fields": "state,assigned_to"}
    _, shown, _ = await call(http, "GET", f"{T}/incident/{raw['sys_id']}", params=params)
    assert shown["result"]["state"] == "In Progress"  # unknown value shows as is
    assert shown["result"]["assigned_to"]["display_value"] == ""  # dangling reference

    # with it: labels → values, display names → sys_ids, dates in the user's zone/format
    body = {
        "short_description": "y",
        "state": "on hold",
        "assigned_to": "Beth Anglin",
        "due_date": "07/04/2024 04:15:00 PM",
        "caller_id": "Nobody Here",
    }
    params = {"sysparm_input_display_value": "true"}
    _, data, _ = await call(http, "POST", f"{T}/incident", json=body, params=params)
    rec = sn.record(data["result"]["sys_id"])
    assert rec["state"] == "3"
    assert rec["assigned_to"] == beth.sys_id
    assert rec["due_date"] == "2024-07-04 23:15:00"
    assert rec["caller_id"] == ""
    assert Ignored("body", "incident", "caller_id", "no record with that display value") in (
        sn.ignored_fields
    )


async def test_dates_are_written_in_utc_standard_format(
    sn: FakeServiceNow, http: aiohttp.ClientSession
) -> None:
    body = {"short_description": "x", "due_date": "2024-05-01", "closed_at": "2024-05-01T10:00Z"}
    _, data, _ = await call(http, "POST", f"{T}/incident", json=body)
    assert data["result"]["due_date"] == "2024-05-01 00:00:00"
    assert data["result"]["closed_at"] == ""  # ISO 8601 is not a ServiceNow date-time
    assert Ignored("body", "incident", "closed_at", "not a date-time") in sn.ignored_fields


async def test_long_strings_are_truncated(sn: FakeServiceNow, http: aiohttp.ClientSession) -> None:
    _, data, _ = await call(http, "POST", f"{T}/incident", json={"short_description": "a" * 200})
    assert data["result"]["short_description"] == "a" * 160
    assert sn.ignored_fields[-1].reason == "truncated to 160"


async def test_priority_and_state_rules(sn: FakeServiceNow, http: aiohttp.ClientSession) -> None:
    for impact, urgency, priority in (("1", "1", "1"), ("2", "3", "4"), ("3", "2", "4")):
        rec = sn.seed(short_description="p", impact=impact, urgency=urgency)
        assert rec["priority"] == priority
    alone = sn.seed(short_description="p", priority="2")
    assert (alone["impact"], alone["urgency"], alone["priority"]) == ("3", "3", "2")
    both = sn.seed(short_description="p", priority="1", impact="3", urgency="3")
    assert both["priority"] == "5"  # impact/urgency win

    inc = sn.seed(short_description="s")
    path = f"{T}/incident/{inc['sys_id']}"
    await call(http, "PATCH", path, json={"state": "6"})
    assert inc["resolved_at"] == "2024-03-10 18:30:05" and inc["closed_at"] == ""
    await call(http, "PATCH", path, json={"state": "7"})
    assert inc["closed_at"] == "2024-03-10 18:30:05" and inc["active"] == "false"
    await call(http, "PATCH", path, json={"state": "2"})
    assert inc["active"] == "true"

    sir = sn.seed("sn_si_incident", short_description="s")
    _, data, _ = await call(
        http,
        "PATCH",
        f"{T}/sn_si_incident/{sir['sys_id']}",
        json={"state": "3"},
        params={"sysparm_display_value": "all", "sysparm_fields": "state,active"},
    )
    assert data["result"] == {
        "state": {"display_value": "Closed", "value": "3"},  # 3 is On Hold on incident
        "active": {"display_value": "false", "value": "false"},
    }


# -- journal fields ---------------------------------------------------------------------


async def test_journal_writes_land_in_sys_journal_field(
    sn: FakeServiceNow, http: aiohttp.ClientSession
) -> None:
    inc = sn.seed(short_description="j")
    path = f"{T}/incident/{inc['sys_id']}"
    _, data, _ = await call(http, "PATCH", path, json={"comments": "first"})
    assert data["result"]["comments"] == ""  # reads back empty
    sn.advance(60)
    await call(http, "PATCH", path, json={"comments": "second", "work_notes": "internal"})
    await call(http, "PATCH", path, json={"comments": "   "})  # blank: no entry
    _, data, _ = await call(http, "GET", path, params={"sysparm_fields": "comments,work_notes"})
    assert data["result"] == {"comments": "", "work_notes": ""}

    entries = await rows(
        http,
        "sys_journal_field",
        f"element_id={inc['sys_id']}^element=comments^ORDERBYsys_created_on",
    )
    assert [e["value"] for e in entries] == ["first", "second"]
    first = entries[0]
    assert first["name"] == "incident" and first["element"] == "comments"
    assert first["sys_created_by"] == "admin"
    assert first["sys_created_on"] == "2024-03-10 18:30:05"
    assert entries[1]["sys_created_on"] == "2024-03-10 18:31:05"
    notes = await rows(http, "sys_journal_field", f"element_id={inc['sys_id']}^element=work_notes")
    assert [n["value"] for n in notes] == ["internal"]

    params = {"sysparm_display_value": "true", "sysparm_fields": "comments"}
    _, data, _ = await call(http, "GET", path, params=params)
    assert data["result"]["comments"] == (
        "03/10/2024 11:31:05 AM - System Administrator (Additional comments)\nsecond\n\n"
        "03/10/2024 11:30:05 AM - System Administrator (Additional comments)\nfirst\n\n"
    )

    # deletion: admin only
    reader = basic("reader", "reader-pass")
    status, data, _ = await call(
        http, "DELETE", f"{T}/sys_journal_field/{first['sys_id']}", headers=reader
    )
    assert status == 403 and data["error"]["message"] == "Operation Failed"
    status, _, _ = await call(http, "DELETE", f"{T}/sys_journal_field/{first['sys_id']}")
    assert status == 204
    assert [e["value"] for e in sn.journal(inc["sys_id"], "comments")] == ["second"]


async def test_journal_on_create_and_no_writes_through_table_api(
    sn: FakeServiceNow, http: aiohttp.ClientSession
) -> None:
    body = {"short_description": "x", "work_notes": "created with a note"}
    _, data, _ = await call(http, "POST", f"{T}/incident", json=body)
    assert [e["value"] for e in sn.journal(data["result"]["sys_id"])] == ["created with a note"]
    status, data, _ = await call(
        http, "POST", f"{T}/sys_journal_field", json={"element_id": "x", "value": "y"}
    )
    assert status == 403


# -- encoded queries --------------------------------------------------------------------


@pytest.fixture
def incidents(sn: FakeServiceNow) -> list[dict[str, str]]:
    abel, beth = sn.user("abel.tuter"), sn.user("beth.anglin")
    return [
        sn.seed(
            short_description="Email down",
            category="software",
            impact="1",
            urgency="1",
            assigned_to=abel.sys_id,
            created=datetime(2024, 1, 1, 10, 0, tzinfo=UTC),
        ),
        sn.seed(
            short_description="Printer jam",
            category="hardware",
            state="2",
            assigned_to=beth.sys_id,
            created=datetime(2024, 2, 1, 10, 0, tzinfo=UTC),
        ),
        sn.seed(
            short_description="Caret ^ in title",
            category="",
            state="6",
            created=datetime(2024, 3, 1, 10, 0, tzinfo=UTC),
        ),
        sn.seed(
            short_description="email bounce",
            category="network",
            state="7",
            impact="2",
            assigned_to=abel.sys_id,
            created=datetime(2024, 3, 5, 10, 0, tzinfo=UTC),
        ),
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("category=software", [1]),
        ("category!=software", [2, 4]),  # != never matches an empty value
        ("categoryINsoftware,network", [1, 4]),
        ("categoryNOT INsoftware,network", [2]),
        ("categoryISEMPTY", [3]),
        ("categoryISNOTEMPTY", [1, 2, 4]),
        ("short_descriptionLIKEemail", [1, 4]),  # case-insensitive
        ("short_descriptionNOT LIKEemail", [2, 3]),
        ("short_descriptionSTARTSWITHPrinter", [2]),
        ("short_descriptionENDSWITHbounce", [4]),
        ("short_description=Email down", [1]),
        ("short_description=email down", []),  # = is exact
        ("state>=6", [3, 4]),
        ("state<2", [1]),
        ("state>2^state<7", [3]),
        ("priority<=2", [1]),
        ("stateBETWEEN2@6", [2, 3]),
        ("sys_created_on>2024-02-01 10:00:00", [3, 4]),
        ("sys_created_on>=2024-02-01 10:00:00", [2, 3, 4]),
        ("sys_created_on<2024-02-01", [1]),
        ("active=false", [4]),
        ("active!=true", [4]),
        ("category=software^ORcategory=hardware", [1, 2]),
        ("state=1^category=software^ORcategory=hardware", [1]),
        ("category=software^NQstate=7", [1, 4]),
        ("assigned_toISEMPTY", [3]),
        ("assigned_to.user_name=abel.tuter", [1, 4]),
        ("assigned_toLIKEanglin", [2]),  # reference text operators use the display value
        ("short_description=Caret ^^ in title", [3]),
        ("short_descriptionLIKE^^", [3]),
        ("categoryANYTHING", [1, 2, 3, 4]),
    ],
)
async def test_encoded_query_operators(
    http: aiohttp.ClientSession,
    incidents: list[dict[str, str]],
    query: str,
    expected: list[int],
) -> None:
    found = await numbers(http, query + "^ORDERBYnumber")
    assert found == [incidents[i - 1]["number"] for i in expected]


async def test_reference_equality_is_by_sys_id(
    sn: FakeServiceNow, http: aiohttp.ClientSession, incidents: list[dict[str, str]]
) -> None:
    abel = sn.user("abel.tuter")
    assert await numbers(http, f"assigned_to={abel.sys_id}^ORDERBYnumber") == [
        incidents[0]["number"],
        incidents[3]["number"],
    ]
    assert await numbers(http, "assigned_to=Abel Tuter") == []
    assert await numbers(http, f"assigned_to!={abel.sys_id}") == [incidents[1]["number"]]


async def test_orderby_and_orderbydesc(
    http: aiohttp.ClientSession, incidents: list[dict[str, str]]
) -> None:
    n = [i["number"] for i in incidents]
    assert await numbers(http, "ORDERBYDESCsys_created_on") == [n[3], n[2], n[1], n[0]]
    # several keys; empty values first ascending; numeric, not lexicographic, for state
    assert await numbers(http, "ORDERBYimpact^ORDERBYDESCnumber") == [n[0], n[3], n[2], n[1]]
    assert await numbers(http, "ORDERBYcategory") == [n[2], n[1], n[3], n[0]]
    assert await numbers(http, "active=true^ORDERBYDESCstate") == [n[2], n[1], n[0]]
    # references sort by display value: Abel, Abel, Beth; empty first
    assert await numbers(http, "ORDERBYassigned_to^ORDERBYnumber") == [n[2], n[0], n[3], n[1]]


async def test_unknown_fields_in_a_query_are_dropped_and_return_more(
    sn: FakeServiceNow, http: aiohttp.ClientSession, incidents: list[dict[str, str]]
) -> None:
    found = await numbers(http, "u_typo=1^category=software^ORDERBYu_nothing")
    assert found == [incidents[0]["number"]]
    assert await numbers(http, "u_typo=1") == [i["number"] for i in incidents]
    assert await numbers(http, "category*soft") == [i["number"] for i in incidents]
    assert [(i.where, i.name, i.reason) for i in sn.ignored_fields] == [
        ("query", "u_typo", "unknown field"),
        ("query", "u_nothing", "unknown field"),
        ("query", "u_typo", "unknown field"),
        ("query", "category*soft", "not a condition"),
    ]


async def test_name_value_pair_filters(
    http: aiohttp.ClientSession, incidents: list[dict[str, str]]
) -> None:
    status, data, _ = await call(
        http, "GET", f"{T}/incident", params={"state": "Closed", "sysparm_fields": "number"}
    )
    assert status == 200 and data["result"] == [{"number": incidents[3]["number"]}]


def test_snquery_parse_and_escape() -> None:
    assert snquery.split_terms("a=x^^y^b=1") == ["a=x^y", "b=1"]
    assert snquery.escape("a^b") == "a^^b"
    q = snquery.parse("a=1^b=2^ORc=3^NQd!=4^ORDERBYe^ORDERBYDESCf^EQ")
    assert [[[c.text for c in alts] for alts in group] for group in q.groups] == [
        [["a=1"], ["b=2", "c=3"]],
        [["d!=4"]],
    ]
    assert q.order == [snquery.OrderBy("e"), snquery.OrderBy("f", True)]
    assert snquery.parse("stateNOT IN1,2").groups[0][0][0] == snquery.Condition(
        "state", "NOT IN", "1,2", "stateNOT IN1,2"
    )
    assert snquery.parse("nonsense!!").invalid == ["nonsense!!"]


# -- paging -----------------------------------------------------------------------------


async def test_paging_with_link_and_total_count(
    sn: FakeServiceNow, http: aiohttp.ClientSession
) -> None:
    made = [sn.seed(short_description=f"n{i}")["number"] for i in range(5)]
    params = {"sysparm_query": "ORDERBYnumber", "sysparm_limit": "2", "sysparm_fields": "number"}
    status, data, headers = await call(http, "GET", f"{T}/incident", params=params)
    assert status == 200 and headers["X-Total-Count"] == "5"
    rels = links(headers["Link"])
    assert set(rels) == {"first", "next", "last"}
    assert rels["next"].startswith(f"{sn.url}{T}/incident?")
    assert "sysparm_query=ORDERBYnumber" in rels["next"] and "sysparm_offset=2" in rels["next"]
    assert "sysparm_offset=4" in rels["last"]
    seen = [r["number"] for r in data["result"]]
    async with aiohttp.ClientSession(headers=sn.auth_header()) as plain:
        while "next" in rels:
            _, data, headers = await call(plain, "GET", rels["next"])
            seen += [r["number"] for r in data["result"]]
            rels = links(headers["Link"])
    assert seen == made
    assert set(rels) == {"first", "prev", "last"}

    status, data, headers = await call(
        http,
        "GET",
        f"{T}/incident",
        params={**params, "sysparm_no_count": "true", "sysparm_offset": "3"},
    )
    assert "X-Total-Count" not in headers
    # no count: no "last", and "next" because the window was full (offset 5 will be empty)
    assert set(links(headers["Link"])) == {"first", "prev", "next"}
    status, data, headers = await call(
        http,
        "GET",
        f"{T}/incident",
        params={**params, "sysparm_suppress_pagination_header": "true"},
    )
    assert "Link" not in headers and headers["X-Total-Count"] == "5"


async def test_no_count_gives_next_whenever_the_window_was_full(
    sn: FakeServiceNow, http: aiohttp.ClientSession
) -> None:
    for i in range(4):
        sn.seed(short_description=f"n{i}")
    params = {"sysparm_limit": "2", "sysparm_no_count": "true", "sysparm_offset": "2"}
    _, data, headers = await call(http, "GET", f"{T}/incident", params=params)
    assert len(data["result"]) == 2
    assert "next" in links(headers["Link"])  # it cannot know: the next page is empty
    _, data, headers = await call(
        http, "GET", f"{T}/incident", params={**params, "sysparm_offset": "4"}
    )
    assert data["result"] == [] and "next" not in links(headers["Link"])


async def test_short_page_is_not_the_end_when_acls_hide_records(
    sn: FakeServiceNow, http: aiohttp.ClientSession
) -> None:
    made = [sn.seed(short_description=f"n{i}") for i in range(5)]
    sn.acl_hidden.update({made[0]["sys_id"], made[1]["sys_id"]})
    params = {"sysparm_query": "ORDERBYnumber", "sysparm_limit": "2"}
    _, data, headers = await call(http, "GET", f"{T}/incident", params=params)
    assert data["result"] == []  # the whole first window was hidden
    assert headers["X-Total-Count"] == "5"
    assert "next" in links(headers["Link"])
    _, data, headers = await call(
        http, "GET", f"{T}/incident", params={**params, "sysparm_offset": "2"}
    )
    assert [r["number"] for r in data["result"]] == [made[2]["number"], made[3]["number"]]
    status, _, _ = await call(http, "GET", f"{T}/incident/{made[0]['sys_id']}")
    assert status == 404
    # v1 treats a fully hidden page as no result
    status, _, _ = await call(http, "GET", "/api/now/v1/table/incident", params=params)
    assert status == 404


# -- metadata ---------------------------------------------------------------------------


async def test_dictionary_lists_own_columns_and_sys_db_object_gives_the_parent(
    http: aiohttp.ClientSession,
) -> None:
    own = await rows(http, "sys_dictionary", "name=incident")
    elements = {r["element"] for r in own}
    assert {"caller_id", "category", "subcategory", ""} <= elements
    assert "state" not in elements and "short_description" not in elements
    caller = next(r for r in own if r["element"] == "caller_id")
    assert caller["column_label"] == "Caller"
    assert caller["internal_type"]["value"] == "reference"
    assert caller["reference"]["value"] == "sys_user"
    collection = next(r for r in own if r["element"] == "")
    assert collection["internal_type"]["value"] == "collection"

    chain = []
    table = "incident"
    while table:
        (obj,) = await rows(http, "sys_db_object", f"name={table}")
        chain.append(obj["name"])
        parent = obj["super_class"]
        if not parent:
            break
        status, data, _ = await call(http, "GET", f"{T}/sys_db_object/{parent['value']}")
        assert status == 200
        table = data["result"]["name"]
    assert chain == ["incident", "task"]

    both = await rows(http, "sys_dictionary", "nameINincident,task^elementISNOTEMPTY")
    by_element = {r["element"]: r for r in both}
    state = by_element["state"]
    assert state["name"] == "task"
    assert state["internal_type"]["value"] == "integer" and state["choice"] == "3"
    assert by_element["short_description"]["max_length"] == "160"
    assert by_element["comments"]["internal_type"]["value"] == "journal_input"
    assert by_element["assigned_to"]["reference"]["value"] == "sys_user"


async def test_sir_extends_task_not_incident(http: aiohttp.ClientSession) -> None:
    (obj,) = await rows(http, "sys_db_object", "name=sn_si_incident")
    (task,) = await rows(http, "sys_db_object", "name=task")
    assert obj["super_class"]["value"] == task["sys_id"]
    own = {r["element"] for r in await rows(http, "sys_dictionary", "name=sn_si_incident")}
    assert {"business_criticality", "risk_score", "category"} <= own
    assert "caller_id" not in own


async def test_choices_per_table(http: aiohttp.ClientSession) -> None:
    inc = await rows(
        http, "sys_choice", "name=incident^element=state^inactive=false^ORDERBYsequence"
    )
    assert [(c["value"], c["label"]) for c in inc] == [
        ("1", "New"),
        ("2", "In Progress"),
        ("3", "On Hold"),
        ("6", "Resolved"),
        ("7", "Closed"),
        ("8", "Canceled"),
    ]
    assert set(inc[0]) >= {"name", "element", "value", "label", "sequence", "inactive"}
    sir = await rows(http, "sys_choice", "name=sn_si_incident^element=state^ORDERBYsequence")
    assert [(c["value"], c["label"]) for c in sir] == list(DEFAULT_SIR_STATES)
    # priority choices live on task: a plugin must walk the chain for choices too
    assert await rows(http, "sys_choice", "name=incident^element=priority") == []
    prio = await rows(http, "sys_choice", "name=task^element=priority^ORDERBYsequence")
    assert [c["label"] for c in prio] == [label for _, label in PRIORITIES]


async def test_custom_table_and_columns(sn: FakeServiceNow, http: aiohttp.ClientSession) -> None:
    sn.add_table("u_incident_ext", fields={"u_team": "string"})
    sn.add_column(
        "u_incident_ext", "u_tier", "integer", "Tier", choices=[("1", "Gold"), ("2", "Silver")]
    )
    sn.add_column("incident", "u_effort", "decimal", "Effort")
    status, data, _ = await call(
        http,
        "POST",
        f"{T}/u_incident_ext",
        json={"short_description": "x", "u_team": "blue", "u_tier": "Silver", "u_effort": 2.5},
        params={"sysparm_input_display_value": "true"},
    )
    assert status == 201
    rec = data["result"]
    assert rec["number"].startswith("INC")
    assert (rec["u_team"], rec["u_tier"], rec["u_effort"]) == ("blue", "2", "2.5")
    assert await numbers(http, "u_tier=2", table="u_incident_ext") == [rec["number"]]
    assert await numbers(http, "", table="incident") == [rec["number"]]
    own = {r["element"] for r in await rows(http, "sys_dictionary", "name=u_incident_ext")}
    assert own == {"", "u_team", "u_tier"}
    (obj,) = await rows(http, "sys_db_object", "name=u_incident_ext")
    (parent,) = await rows(http, "sys_db_object", "name=incident")
    assert obj["super_class"]["value"] == parent["sys_id"]
    tiers = await rows(http, "sys_choice", "name=u_incident_ext^element=u_tier")
    assert {c["label"] for c in tiers} == {"Gold", "Silver"}


async def test_users(sn: FakeServiceNow, http: aiohttp.ClientSession) -> None:
    found = await rows(http, "sys_user", "user_name=beth.anglin")
    assert found[0]["name"] == "Beth Anglin" and found[0]["sys_id"] == sn.user("beth.anglin").sys_id
    assert "password" not in found[0]
    status, _, _ = await call(http, "POST", f"{T}/sys_user", json={"user_name": "x"})
    assert status == 403


# -- auth -------------------------------------------------------------------------------


async def test_basic_auth_failures_use_the_documented_body(sn: FakeServiceNow) -> None:
    async with aiohttp.ClientSession(base_url=sn.url) as anon:
        for headers in (
            {},
            basic("admin", "wrong"),
            basic("abel.tuter", ""),
            {"Authorization": "Bearer nope"},
        ):
            status, data, resp_headers = await call(anon, "GET", f"{T}/incident", headers=headers)
            assert status == 401
            assert data == {
                "error": {
                    "message": "User Not Authenticated",
                    "detail": "Required to provide Auth information",
                },
                "status": "failure",
            }
            assert "WWW-Authenticate" in resp_headers


async def test_reader_gets_403_acl_on_writes(sn: FakeServiceNow) -> None:
    inc = sn.seed(short_description="x")
    async with aiohttp.ClientSession(base_url=sn.url, headers=basic("reader", "reader-pass")) as r:
        status, _, _ = await call(r, "GET", f"{T}/incident/{inc['sys_id']}")
        assert status == 200
        for method, path, action in (
            ("POST", f"{T}/incident", "Insert"),
            ("PATCH", f"{T}/incident/{inc['sys_id']}", "Update"),
            ("DELETE", f"{T}/incident/{inc['sys_id']}", "Delete"),
        ):
            status, data, _ = await call(r, method, path, json={"short_description": "y"})
            assert status == 403
            assert data == {
                "error": {
                    "message": "Operation Failed",
                    "detail": f"ACL Exception {action} Failed due to security constraints",
                },
                "status": "failure",
            }
    assert inc["short_description"] == "x"
    # itil writes incidents but not security incidents
    async with aiohttp.ClientSession(base_url=sn.url, headers=basic("itil", "itil-pass")) as i:
        status, _, _ = await call(i, "POST", f"{T}/incident", json={"short_description": "ok"})
        assert status == 201
        status, _, _ = await call(
            i, "POST", f"{T}/sn_si_incident", json={"short_description": "no"}
        )
        assert status == 403


async def test_oauth_client_credentials_and_expiry(sn: FakeServiceNow) -> None:
    async with aiohttp.ClientSession(base_url=sn.url) as s:
        form = {
            "grant_type": "client_credentials",
            "client_id": "fake-client-id",
            "client_secret": "fake-client-secret",
            "scope": "useraccount",
        }
        status, data, _ = await call(s, "POST", "/oauth_token.do", data=form)
        assert status == 200, data
        assert data["token_type"] == "Bearer" and data["expires_in"] == 1800
        assert data["scope"] == "useraccount" and "refresh_token" not in data
        bearer = {"Authorization": f"Bearer {data['access_token']}"}
        status, data, _ = await call(
            s, "POST", f"{T}/incident", json={"short_description": "via oauth"}, headers=bearer
        )
        assert status == 201
        assert data["result"]["sys_created_by"] == "admin"
        assert sn.requests[-1].user == "admin"

        sn.advance(1799)
        status, _, _ = await call(s, "GET", f"{T}/incident", headers=bearer)
        assert status == 200
        sn.advance(1)
        status, data, _ = await call(s, "GET", f"{T}/incident", headers=bearer)
        assert status == 401 and data["error"]["message"] == "User Not Authenticated"

        # client authentication with HTTP Basic works as well
        status, data, _ = await call(
            s,
            "POST",
            "/oauth_token.do",
            data={"grant_type": "client_credentials"},
            headers=basic("fake-client-id", "fake-client-secret"),
        )
        assert status == 200
        fresh = {"Authorization": f"Bearer {data['access_token']}"}
        status, _, _ = await call(s, "GET", f"{T}/incident", headers=fresh)
        assert status == 200
        sn.expire_tokens()
        status, _, _ = await call(s, "GET", f"{T}/incident", headers=fresh)
        assert status == 401


async def test_oauth_password_and_refresh_grants_and_refusals(sn: FakeServiceNow) -> None:
    client = {"client_id": "fake-client-id", "client_secret": "fake-client-secret"}
    async with aiohttp.ClientSession(base_url=sn.url) as s:
        form = {"grant_type": "password", "username": "reader", "password": "reader-pass", **client}
        status, data, _ = await call(s, "POST", "/oauth_token.do", data=form)
        assert status == 200 and data["refresh_token"]
        bearer = {"Authorization": f"Bearer {data['access_token']}"}
        status, _, _ = await call(s, "POST", f"{T}/incident", json={}, headers=bearer)
        assert status == 403  # acts as reader

        sn.expire_tokens()
        refresh = {"grant_type": "refresh_token", "refresh_token": data["refresh_token"], **client}
        status, data, _ = await call(s, "POST", "/oauth_token.do", data=refresh)
        assert status == 200
        status, _, _ = await call(
            s, "GET", f"{T}/incident", headers={"Authorization": f"Bearer {data['access_token']}"}
        )
        assert status == 200

        bad_secret = {"grant_type": "client_credentials", "client_id": "fake-client-id"}
        status, data, _ = await call(
            s, "POST", "/oauth_token.do", data={**bad_secret, "client_secret": "x"}
        )
        assert (status, data) == (
            401,
            {"error_description": "access_denied", "error": "server_error"},
        )
        status, _, _ = await call(s, "POST", "/oauth_token.do", data={**form, "password": "wrong"})
        assert status == 401
        status, data, _ = await call(
            s, "POST", "/oauth_token.do", data={"grant_type": "magic", **client}
        )
        assert status == 400 and data["error"] == "unsupported_grant_type"


# -- faults, rate limits, request log ---------------------------------------------------


async def test_fault_429_with_rate_limit_headers(
    sn: FakeServiceNow, http: aiohttp.ClientSession
) -> None:
    sn.fail_next(status=429, retry_after=2, path=f"{T}/incident")
    status, _, _ = await call(http, "GET", f"{T}/sys_user")  # another path: unaffected
    assert status == 200
    status, data, headers = await call(http, "GET", f"{T}/incident")
    assert status == 429
    assert data == {
        "error": {
            "message": "Rate limit exceeded",
            "detail": "Rate limit of 100 requests per hour for Table API exceeded",
        },
        "status": "failure",
    }
    assert headers["Retry-After"] == "2"
    assert headers["X-RateLimit-Limit"] == "100"
    assert int(headers["X-RateLimit-Reset"]) == int(FIXED.timestamp()) + 2
    assert SYS_ID.fullmatch(headers["X-RateLimit-Rule"])
    status, _, _ = await call(http, "GET", f"{T}/incident")
    assert status == 200  # once only


async def test_other_faults(sn: FakeServiceNow, http: aiohttp.ClientSession) -> None:
    sn.fail_next(status=503, retry_after=1, times=2, method="POST")
    for _ in range(2):
        status, data, headers = await call(http, "POST", f"{T}/incident", json={})
        assert status == 503 and data["status"] == "failure" and headers["Retry-After"] == "1"
    sn.fail_next(status=500)
    status, data, _ = await call(http, "GET", f"{T}/incident")
    assert status == 500 and data["error"]["message"] == "Internal server error"
    sn.fail_next(malformed=True)
    async with http.get(f"{T}/incident") as response:
        assert response.status == 200
        with pytest.raises(ValueError):
            await response.json()
    sn.fail_next(reset=True, method="POST")
    with pytest.raises(aiohttp.ClientConnectionError):
        await call(http, "POST", f"{T}/incident", json={"short_description": "lost"})
    assert sn.calls("POST")[-1].status is None  # never answered
    assert sn.records_of("incident") == []
    sn.fail_next(delay=0.05)
    started = asyncio.get_running_loop().time()
    status, _, _ = await call(http, "GET", f"{T}/incident")
    assert status == 200 and asyncio.get_running_loop().time() - started >= 0.05
    with pytest.raises(ValueError):
        sn.fail_next()
    status, data, _ = await call(
        http,
        "POST",
        f"{T}/incident",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert status == 400 and data["error"]["message"] == "Exception while reading request"
    status, data, _ = await call(http, "POST", f"{T}/incident", json=[1, 2])
    assert status == 400


async def test_live_rate_limit(sn: FakeServiceNow, http: aiohttp.ClientSession) -> None:
    rule = sn.set_rate_limit(2, window=60)
    for _ in range(2):
        status, _, headers = await call(http, "GET", f"{T}/incident")
        assert status == 200 and headers["X-RateLimit-Limit"] == "2"
        assert headers["X-RateLimit-Rule"] == rule.rule_sys_id
    sn.advance(15)
    status, data, headers = await call(http, "GET", f"{T}/incident")
    assert status == 429 and headers["Retry-After"] == "45"
    assert data["error"]["detail"] == "Rate limit of 2 requests per hour for Table API exceeded"
    # per user: another user still has room
    status, _, _ = await call(http, "GET", f"{T}/incident", headers=basic("reader", "reader-pass"))
    assert status == 200
    sn.advance(45)
    status, _, _ = await call(http, "GET", f"{T}/incident")
    assert status == 200


async def test_request_log(sn: FakeServiceNow, http: aiohttp.ClientSession) -> None:
    await call(http, "POST", f"{T}/incident", json={"short_description": "logged"})
    await call(http, "GET", f"{T}/incident", params={"sysparm_query": "active=true"})
    posts = sn.calls("post", f"{T}/incident")
    assert len(posts) == 1 and posts[0].json == {"short_description": "logged"}
    assert posts[0].status == 201 and posts[0].user == "admin"
    (get,) = sn.calls("GET", T)
    assert get.query["sysparm_query"] == "active=true"
    assert str(get).startswith(f"GET {T}/incident?sysparm_query=active=true -> 200")


# -- attachments ------------------------------------------------------------------------


async def test_attachments(sn: FakeServiceNow, http: aiohttp.ClientSession) -> None:
    inc = sn.seed(short_description="a")
    params = {"table_name": "incident", "table_sys_id": inc["sys_id"], "file_name": "log.txt"}
    status, data, headers = await call(
        http,
        "POST",
        "/api/now/attachment/file",
        params=params,
        data=b"hello\x00world",
        headers={"Content-Type": "text/plain"},
    )
    assert status == 201, data
    meta = data["result"]
    assert meta["size_bytes"] == "11" and meta["content_type"] == "text/plain"
    assert headers["Location"].endswith(meta["sys_id"])
    listed = await call(
        http,
        "GET",
        "/api/now/attachment",
        params={"sysparm_query": f"table_name=incident^table_sys_id={inc['sys_id']}"},
    )
    assert [a["file_name"] for a in listed[1]["result"]] == ["log.txt"]
    async with http.get(meta["download_link"]) as response:
        assert response.status == 200 and await response.read() == b"hello\x00world"
        assert response.headers["Content-Type"].startswith("text/plain")
    status, _, _ = await call(http, "GET", f"/api/now/attachment/{meta['sys_id']}")
    assert status == 200
    status, _, _ = await call(http, "DELETE", f"/api/now/attachment/{meta['sys_id']}")
    assert status == 204
    status, _, _ = await call(http, "GET", f"/api/now/attachment/{meta['sys_id']}")
    assert status == 404
    status, data, _ = await call(
        http,
        "POST",
        "/api/now/attachment/file",
        params={**params, "table_sys_id": "0" * 32},
        data=b"x",
    )
    assert status == 404
    status, data, _ = await call(
        http, "POST", "/api/now/attachment/file", params={"table_name": "incident"}, data=b"x"
    )
    assert status == 400


def test_sn_time_is_utc() -> None:
    local = datetime(2024, 1, 1, 9, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
    assert sn_time(local) == "2024-01-01 17:00:00"
