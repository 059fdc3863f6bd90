"""The Jira Cloud fake itself, over real HTTP, checked against Atlassian's OpenAPI description.

Every test runs with the ``jira`` fixture, which fails at teardown when any request or
response drifted from ``swagger-v3.v3.json``: so the traffic below doubles as proof that
the fake's answers conform. The description is read from the shared folder; without it
the fake still runs, only the validation is skipped (with a loud warning).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from .conftest import JIRA_SPEC
from .fakes import jql
from .fakes.jira import GONE_SEARCH, UNBOUNDED, FakeJira, adf, adf_text
from .fakes.spec import OpenAPISpec, load_spec

API = "/rest/api/3"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000")


@pytest.fixture
def needs_spec(jira_spec: OpenAPISpec | None) -> OpenAPISpec:
    if jira_spec is None:
        pytest.skip("the Jira OpenAPI description is not available")
    return jira_spec


@pytest.fixture
async def http(jira: FakeJira) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=jira.url, headers=jira.auth_header()) as session:
        yield session


async def call(
    session: aiohttp.ClientSession, method: str, path: str, **kw: Any
) -> tuple[int, Any]:
    async with session.request(method, path, **kw) as response:
        text = await response.text()
        if response.content_type == "application/json" and text:
            return response.status, await response.json()
        return response.status, text


def basic(email: str, token: str) -> dict[str, str]:
    raw = base64.b64encode(f"{email}:{token}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


async def create(session: aiohttp.ClientSession, **fields: Any) -> dict[str, Any]:
    body = {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "s", **fields}
    status, data = await call(session, "POST", f"{API}/issue", json={"fields": body})
    assert status == 201, data
    return dict(data)


async def search_keys(session: aiohttp.ClientSession, query: str) -> list[str]:
    status, data = await call(
        session, "POST", f"{API}/search/jql", json={"jql": query, "fields": ["key"]}
    )
    assert status == 200, data
    return [issue["key"] for issue in data["issues"]]


# -- spec helper ------------------------------------------------------------------------


def test_spec_matches_templates_and_checks_schemas(needs_spec: OpenAPISpec) -> None:
    spec = needs_spec
    found = spec.operation("GET", f"{API}/issue/createmeta/OPS/issuetypes")
    assert found is not None and found[0].operation_id == "getCreateIssueMetaIssueTypes"
    found = spec.operation("GET", f"{API}/issue/OPS-1")
    assert found is not None and found[1] == {"issueIdOrKey": "OPS-1"}
    old = spec.operation("GET", f"{API}/search")
    assert old is not None and old[0].deprecated
    assert spec.operation("GET", f"{API}/no/such/thing") is None

    op, params = spec.operation("GET", f"{API}/project/search") or (None, {})
    assert op is not None
    problems = spec.validate_request(
        op, params, [("maxResults", "500"), ("orderBy", "sideways"), ("bogus", "1")], None
    )
    assert len(problems) == 3 and any("maximum of 100" in p for p in problems)
    bad = {"values": [{"id": "1", "key": "A", "name": "A", "colour": "red"}], "isLast": True}
    assert "'colour' was unexpected" in " ".join(
        spec.validate_response(op, 200, "application/json", bad)
    )
    # readOnly properties are not required in requests: a Comment needs only its body.
    op, params = spec.operation("POST", f"{API}/issue/OPS-1/comment") or (None, {})
    assert op is not None
    assert (
        spec.validate_request(op, params, [], "application/json", {"body": adf("x")}, has_body=True)
        == []
    )
    # nullable: Visibility.identifier may be null.
    vis = {"body": adf("x"), "visibility": {"type": "role", "value": "Admins", "identifier": None}}
    assert spec.validate_request(op, params, [], "application/json", vis, has_body=True) == []
    assert spec.validate_request(op, params, [], "text/plain", "x", has_body=True)


def test_spec_is_loaded_once(needs_spec: OpenAPISpec) -> None:
    assert load_spec(JIRA_SPEC) is needs_spec


# -- auth and permissions ---------------------------------------------------------------


async def test_auth_and_project_permissions(jira: FakeJira, http: aiohttp.ClientSession) -> None:
    async with aiohttp.ClientSession(base_url=jira.url) as anonymous:
        status, body = await call(anonymous, "GET", f"{API}/myself")
        assert status == 401 and body["errorMessages"] and body["errors"] == {}
        wrong = basic("alice@example.com", "not-the-token")
        assert (await call(anonymous, "GET", f"{API}/myself", headers=wrong))[0] == 401
        bob = basic("bob@example.com", "bob-token")
        status, me = await call(anonymous, "GET", f"{API}/myself", headers=bob)
        assert status == 200 and me["emailAddress"] == "bob@example.com"
        status, page = await call(anonymous, "GET", f"{API}/project/search", headers=bob)
        assert [p["key"] for p in page["values"]] == ["OPS"]
        assert (await call(anonymous, "GET", f"{API}/project/SEC", headers=bob))[0] == 403
        sec = jira.seed_issue("SEC", "secret")
        status, body = await call(anonymous, "GET", f"{API}/issue/{sec.key}", headers=bob)
        assert status == 403 and body["errorMessages"]
        fields = {"project": {"key": "SEC"}, "issuetype": {"name": "Task"}, "summary": "x"}
        status, _ = await call(
            anonymous, "POST", f"{API}/issue", json={"fields": fields}, headers=bob
        )
        assert status == 403
        # Search silently leaves out what bob cannot see; naming SEC is an unknown value.
        jira.seed_issue("OPS", "visible")
        post = {"jql": "summary ~ visible OR summary ~ secret", "fields": ["key"]}
        status, found = await call(anonymous, "POST", f"{API}/search/jql", json=post, headers=bob)
        assert [i["key"] for i in found["issues"]] == ["OPS-1"]
        status, body = await call(
            anonymous, "POST", f"{API}/search/jql", json={"jql": "project = SEC"}, headers=bob
        )
        assert (
            status == 400 and "does not exist for the field 'project'" in body["errorMessages"][0]
        )
        jira.forbidden_status = 404
        status, body = await call(anonymous, "GET", f"{API}/issue/{sec.key}", headers=bob)
        assert status == 404 and body["errorMessages"] == [
            "Issue does not exist or you do not have permission to see it."
        ]
    status, me = await call(http, "GET", f"{API}/myself")
    assert me["accountId"] == jira.user("alice@example.com").account_id


# -- projects, fields, create metadata --------------------------------------------------


async def test_project_paging_capped_at_50(jira: FakeJira, http: aiohttp.ClientSession) -> None:
    for n in range(58):
        jira.add_project(f"P{n:02d}", f"Project {n}")
    status, first = await call(http, "GET", f"{API}/project/search", params={"maxResults": "100"})
    assert status == 200
    assert first["maxResults"] == 50 and len(first["values"]) == 50
    assert first["total"] == 60 and first["isLast"] is False and "startAt=50" in first["nextPage"]
    status, second = await call(
        http, "GET", f"{API}/project/search", params={"startAt": "50", "maxResults": "50"}
    )
    assert len(second["values"]) == 10 and second["isLast"] is True and "nextPage" not in second
    keys = [p["key"] for p in first["values"] + second["values"]]
    assert len(set(keys)) == 60 and keys == sorted(keys)
    status, project = await call(http, "GET", f"{API}/project/OPS")
    assert status == 200 and project["name"] == "Operations"
    assert {t["name"] for t in project["issueTypes"]} == {"Task", "Bug", "Sub-task"}
    status, by_id = await call(http, "GET", f"{API}/project/{project['id']}")
    assert by_id["key"] == "OPS"
    status, body = await call(http, "GET", f"{API}/project/NOPE")
    assert status == 404 and "NOPE" in body["errorMessages"][0]


async def test_fields_and_create_metadata(jira: FakeJira, http: aiohttp.ClientSession) -> None:
    status, fields = await call(http, "GET", f"{API}/field")
    by_id = {f["id"]: f for f in fields}
    assert by_id["customfield_10010"]["name"] == "Effort"
    assert by_id["customfield_10010"]["schema"]["type"] == "number"
    assert by_id["customfield_10011"]["clauseNames"] == ["cf[10011]", "Team"]
    assert by_id["customfield_10012"]["schema"]["custom"].endswith(":textarea")
    assert by_id["summary"]["custom"] is False

    status, types = await call(http, "GET", f"{API}/issue/createmeta/OPS/issuetypes")
    assert types["total"] == 3 and [t["name"] for t in types["issueTypes"]] == [
        "Task",
        "Bug",
        "Sub-task",
    ]
    status, page = await call(
        http,
        "GET",
        f"{API}/issue/createmeta/OPS/issuetypes",
        params={"maxResults": "1", "startAt": "1"},
    )
    assert [t["name"] for t in page["issueTypes"]] == ["Bug"] and page["total"] == 3
    task_id = types["issueTypes"][0]["id"]
    sub_id = types["issueTypes"][2]["id"]
    status, meta = await call(http, "GET", f"{API}/issue/createmeta/OPS/issuetypes/{task_id}")
    meta_by_id = {f["fieldId"]: f for f in meta["fields"]}
    assert meta_by_id["summary"]["required"] is True
    assert [v["value"] for v in meta_by_id["customfield_10011"]["allowedValues"]] == [
        "Platform",
        "Security",
        "Support",
    ]
    assert [p["name"] for p in meta_by_id["priority"]["allowedValues"]] == [
        "Highest",
        "High",
        "Medium",
        "Low",
        "Lowest",
    ]
    assert meta_by_id["customfield_10011"]["required"] is False and "parent" not in meta_by_id
    jira.require_field("OPS", "customfield_10011")
    status, meta = await call(http, "GET", f"{API}/issue/createmeta/OPS/issuetypes/{task_id}")
    assert {f["fieldId"]: f for f in meta["fields"]}["customfield_10011"]["required"] is True
    status, body = await call(
        http,
        "POST",
        f"{API}/issue",
        json={"fields": {"project": {"key": "OPS"}, "issuetype": {"id": task_id}, "summary": "x"}},
    )
    assert status == 400 and body["errors"] == {"customfield_10011": "Team is required."}
    status, meta = await call(http, "GET", f"{API}/issue/createmeta/OPS/issuetypes/{sub_id}")
    assert {f["fieldId"]: f for f in meta["fields"]}["parent"]["required"] is True


# -- issues -----------------------------------------------------------------------------


async def test_create_get_edit_delete(jira: FakeJira, http: aiohttp.ClientSession) -> None:
    alice = jira.user("alice@example.com").account_id
    created = await create(
        http,
        summary="Disk full on db-1",
        description=adf("The disk\nis full"),
        priority={"name": "High"},
        assignee={"accountId": alice},
        labels=["infra", "db"],
        duedate="2030-01-31",
        customfield_10010=3,
        customfield_10011={"value": "Platform"},
        customfield_10012=adf("notes"),
    )
    assert created["key"] == "OPS-1" and created["self"].endswith(f"/issue/{created['id']}")
    assert (await create(http))["key"] == "OPS-2"

    status, issue = await call(http, "GET", f"{API}/issue/OPS-1")
    assert status == 200 and issue["id"] == created["id"]
    fields = issue["fields"]
    assert fields["summary"] == "Disk full on db-1"
    assert adf_text(fields["description"]) == "The disk\nis full"
    assert (
        fields["status"]["name"] == "To Do" and fields["status"]["statusCategory"]["key"] == "new"
    )
    assert fields["priority"]["name"] == "High" and fields["assignee"]["accountId"] == alice
    assert fields["labels"] == ["infra", "db"] and fields["duedate"] == "2030-01-31"
    assert TIMESTAMP.fullmatch(fields["created"]) and TIMESTAMP.fullmatch(fields["updated"])
    assert fields["customfield_10010"] == 3
    assert fields["customfield_10011"]["value"] == "Platform"
    assert fields["attachment"] == [] and fields["comment"]["total"] == 0
    assert fields["resolution"] is None and "parent" not in fields

    status, narrow = await call(
        http, "GET", f"{API}/issue/{created['id']}", params={"fields": "summary,status"}
    )
    assert set(narrow["fields"]) == {"summary", "status"} and narrow["key"] == "OPS-1"

    edit = {
        "fields": {"summary": "Disk full on db-2", "assignee": None, "customfield_10010": 5},
        "update": {"labels": [{"add": "urgent"}, {"remove": "db"}]},
    }
    assert (await call(http, "PUT", f"{API}/issue/OPS-1", json=edit))[0] == 204
    stored = jira.issue("OPS-1")
    assert stored.summary == "Disk full on db-2" and stored.assignee is None
    assert stored.labels == ["infra", "urgent"] and stored.custom["customfield_10010"] == 5
    status, body = await call(
        http, "PUT", f"{API}/issue/OPS-1", json={"fields": {"status": {"name": "Done"}}}
    )
    assert status == 400 and body["errors"]["status"].startswith("Field 'status' cannot be set")
    assert jira.issue("OPS-1").status.name == "To Do"
    status, returned = await call(
        http,
        "PUT",
        f"{API}/issue/OPS-1",
        params={"returnIssue": "true"},
        json={"fields": {"priority": {"id": "5"}}},
    )
    assert status == 200 and returned["fields"]["priority"]["name"] == "Lowest"

    assert (await call(http, "DELETE", f"{API}/issue/OPS-1"))[0] == 204
    status, body = await call(http, "GET", f"{API}/issue/OPS-1")
    assert status == 404
    assert body["errorMessages"] == [
        "Issue does not exist or you do not have permission to see it."
    ]


async def test_create_rejects_what_jira_rejects(http: aiohttp.ClientSession) -> None:
    async def errors(**fields: Any) -> dict[str, str]:
        body = {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "s", **fields}
        status, data = await call(http, "POST", f"{API}/issue", json={"fields": body})
        assert status == 400, data
        return dict(data["errors"])

    assert "Atlassian Document" in (await errors(description="plain text"))["description"]
    assert "contains spaces" in (await errors(labels=["two words"]))["labels"]
    assert (await errors(Effort=3)) == {
        "Effort": "Field 'Effort' cannot be set. It is not on the appropriate screen, or unknown."
    }
    assert "Rainbow" in (await errors(customfield_10011={"value": "Rainbow"}))["customfield_10011"]
    assert "number" in (await errors(customfield_10010="three"))["customfield_10010"]
    assert "duedate" in await errors(duedate="31/01/2030")
    assert "priority" in await errors(priority={"name": "Urgent!"})
    assert "assignee" in await errors(assignee={"accountId": "nobody"})
    assert "summary" in await errors(summary="")
    assert "issuetype" in await errors(issuetype={"name": "Epic"})
    assert "project" in await errors(project={"key": "NOPE"})
    assert "parent" in await errors(issuetype={"name": "Sub-task"})
    assert "status" in await errors(status={"name": "Done"})


async def test_subtasks(jira: FakeJira, http: aiohttp.ClientSession) -> None:
    parent = await create(http, summary="parent")
    child = await create(
        http, summary="child", issuetype={"name": "Sub-task"}, parent={"key": parent["key"]}
    )
    status, issue = await call(http, "GET", f"{API}/issue/{child['key']}")
    assert issue["fields"]["parent"]["key"] == parent["key"]
    status, issue = await call(http, "GET", f"{API}/issue/{parent['key']}")
    assert [s["key"] for s in issue["fields"]["subtasks"]] == [child["key"]]
    assert await search_keys(http, f"parent = {parent['key']}") == [child["key"]]
    assert (await call(http, "DELETE", f"{API}/issue/{parent['key']}"))[0] == 400
    status, _ = await call(
        http, "DELETE", f"{API}/issue/{parent['key']}", params={"deleteSubtasks": "true"}
    )
    assert status == 204 and jira.issues == {}


async def test_transitions_follow_the_workflow(jira: FakeJira, http: aiohttp.ClientSession) -> None:
    key = (await create(http))["key"]

    async def available() -> dict[str, str]:
        _, data = await call(http, "GET", f"{API}/issue/{key}/transitions")
        return {t["to"]["name"]: t["id"] for t in data["transitions"]}

    assert await available() == {"In Progress": "21"}
    status, body = await call(
        http, "POST", f"{API}/issue/{key}/transitions", json={"transition": {"id": "31"}}
    )
    assert status == 400 and body["errorMessages"] == [
        "Transition id '31' is not valid for this issue."
    ]
    for target in ("In Progress", "Done"):
        transition = {"transition": {"id": (await available())[target]}}
        status, _ = await call(http, "POST", f"{API}/issue/{key}/transitions", json=transition)
        assert status == 204
    status, issue = await call(
        http, "GET", f"{API}/issue/{key}", params={"fields": "status,resolution"}
    )
    assert (
        issue["fields"]["status"]["name"] == "Done"
        and issue["fields"]["resolution"]["name"] == "Done"
    )
    assert await available() == {"To Do": "11"}
    with_fields = {"transition": {"id": "11"}, "fields": {"resolution": {"name": "Done"}}}
    assert (await call(http, "POST", f"{API}/issue/{key}/transitions", json=with_fields))[0] == 400
    assert (
        await call(
            http, "POST", f"{API}/issue/{key}/transitions", json={"transition": {"id": "11"}}
        )
    )[0] == 204
    assert jira.issue(key).status.name == "To Do" and jira.issue(key).resolved is None


# -- search -----------------------------------------------------------------------------


async def test_search_pages_with_next_page_token(
    jira: FakeJira, http: aiohttp.ClientSession
) -> None:
    for n in range(7):
        jira.seed_issue(summary=f"issue {n}")
    keys: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        params = {"jql": "project = OPS ORDER BY key ASC", "maxResults": "3", "fields": "summary"}
        if token:
            params["nextPageToken"] = token
        status, page = await call(http, "GET", f"{API}/search/jql", params=params)
        assert status == 200 and "total" not in page and "startAt" not in page
        pages += 1
        keys += [i["key"] for i in page["issues"]]
        assert all(set(i["fields"]) == {"summary"} for i in page["issues"])
        if page["isLast"]:
            assert "nextPageToken" not in page
            break
        token = page["nextPageToken"]
    assert pages == 3 and keys == [f"OPS-{n}" for n in range(1, 8)]

    # Without `fields`, only ids come back.
    status, page = await call(http, "POST", f"{API}/search/jql", json={"jql": "project = OPS"})
    assert status == 200 and page["issues"][0] == {"id": str(max(jira.issues))}
    # A token belongs to its query.
    status, first = await call(
        http, "POST", f"{API}/search/jql", json={"jql": "project = OPS", "maxResults": 2}
    )
    status, body = await call(
        http,
        "POST",
        f"{API}/search/jql",
        json={"jql": "project = OPS ORDER BY key", "nextPageToken": first["nextPageToken"]},
    )
    assert status == 400 and "token" in body["errorMessages"][0]
    status, body = await call(
        http, "POST", f"{API}/search/jql", json={"jql": "project = OPS", "nextPageToken": "garbage"}
    )
    assert status == 400 and "token" in body["errorMessages"][0]
    # The token from page 1 continues where page 1 stopped.
    status, second = await call(
        http,
        "POST",
        f"{API}/search/jql",
        json={"jql": "project = OPS", "maxResults": 2, "nextPageToken": first["nextPageToken"]},
    )
    assert status == 200 and not {i["id"] for i in first["issues"]} & {
        i["id"] for i in second["issues"]
    }


async def test_search_max_results_is_capped(jira: FakeJira, http: aiohttp.ClientSession) -> None:
    for n in range(120):
        jira.seed_issue(summary=f"bulk {n}")
    _status, page = await call(
        http, "POST", f"{API}/search/jql", json={"jql": "project = OPS", "maxResults": 1000}
    )
    assert len(page["issues"]) == 100 and page["isLast"] is False
    _, default = await call(http, "GET", f"{API}/search/jql", params={"jql": "project = OPS"})
    assert len(default["issues"]) == 50


async def test_old_search_is_gone(http: aiohttp.ClientSession) -> None:
    status, body = await call(http, "GET", f"{API}/search", params={"jql": "project = OPS"})
    assert status == 410 and body["errorMessages"] == [GONE_SEARCH]
    status, _ = await call(http, "POST", f"{API}/search", json={"jql": "project = OPS"})
    assert status == 410


async def test_unbounded_or_empty_jql_is_400(http: aiohttp.ClientSession) -> None:
    for query in ("", "   ", "ORDER BY created DESC", "order by key"):
        status, body = await call(http, "POST", f"{API}/search/jql", json={"jql": query})
        assert status == 400 and body["errorMessages"] == [UNBOUNDED], query
    status, body = await call(http, "GET", f"{API}/search/jql")
    assert status == 400


async def test_jql_operators(jira: FakeJira, http: aiohttp.ClientSession) -> None:
    alice = jira.user("alice@example.com").account_id
    bob = jira.user("bob@example.com").account_id
    day = datetime(2024, 9, 30, 12, tzinfo=UTC)
    a = jira.seed_issue(
        summary="Disk FULL on db-1",
        assignee={"accountId": alice},
        labels=["infra", "db"],
        priority={"name": "Highest"},
        customfield_10010=5,
        customfield_10011={"value": "Platform"},
        duedate="2024-10-01",
        created=day - timedelta(days=10),
    ).key
    b = jira.seed_issue(
        summary='Phishing "urgent" mail',
        description=adf("User reported a suspicious link"),
        assignee={"accountId": bob},
        labels=["security"],
        priority={"name": "Low"},
        customfield_10010=1,
        customfield_10011={"value": "Security"},
        created=day,
        status="In Progress",
    ).key
    c = jira.seed_issue(summary="Printer jam", created=day + timedelta(hours=1), status="Done").key
    d = jira.seed_issue("SEC", "Disk audit", customfield_10010=2).key

    async def keys(query: str) -> set[str]:
        return set(await search_keys(http, query))

    assert await keys("summary ~ disk") == {a, d}
    assert await keys("summary ~ 'DISK full'") == {a}
    assert await keys('summary ~ "\\"urgent\\""') == {b}
    assert await keys("text ~ suspicious") == {b}
    assert await keys("summary !~ disk") == {b, c}
    assert await keys(f"assignee != {alice}") == {b}  # never the unassigned ones
    assert await keys(f"assignee = {alice} OR assignee = currentUser()") == {a}
    assert await keys('assignee = "alice@example.com"') == {a}
    assert await keys("assignee IS EMPTY") == {c, d}
    assert await keys("assignee is not empty") == {a, b}
    assert await keys("labels != db") == {b}
    assert await keys("labels IN (db, security)") == {a, b}
    assert await keys("labels NOT IN (db)") == {b}
    assert await keys("status = 'In Progress' OR status = Done") == {b, c}
    assert await keys("statusCategory != Done") == {a, b, d}
    assert await keys("priority >= High") == {a}
    assert await keys("priority < Medium") == {b}
    assert await keys('created >= "2024-09-30" AND created < "2024-09-30 12:30"') == {b}
    assert await keys("created < 2024-09-21") == {a}
    assert await keys('duedate <= "2024/10/01"') == {a}
    assert await keys("cf[10010] > 1 AND project = OPS") == {a}
    assert await keys("customfield_10010 >= 2") == {a, d}
    assert await keys('"Team" = Security') == {b}
    assert await keys("cf[10011] in (Platform, Security) AND NOT issuetype = Bug") == {a, b}
    assert await keys(f"key IN ({a}, {c}) AND (labels = infra OR labels IS EMPTY)") == {a, c}
    assert await keys(f"issuekey > {b} AND project = OPS") == {c}
    assert await keys("type = Task and project in (OPS, SEC) and summary ~ jam") == {c}
    assert await keys("resolved IS NOT EMPTY") == {c}
    ordered = await search_keys(http, "project = OPS ORDER BY priority DESC, key ASC")
    assert ordered == [a, c, b]
    ordered = await search_keys(http, "project in (OPS, SEC) ORDER BY cf[10010] ASC")
    assert ordered == [b, d, a, c]  # empty values last

    async def error(query: str) -> str:
        status, body = await call(http, "POST", f"{API}/search/jql", json={"jql": query})
        assert status == 400, (query, body)
        assert body["errors"] == {}
        return str(body["errorMessages"][0])

    assert await error("colour = red") == (
        "Field 'colour' does not exist or you do not have permission to view it."
    )
    assert "operator '='" in await error("summary = disk")
    assert "operator '~'" in await error("status ~ done")
    assert "'Nope' does not exist for the field 'status'" in await error("status = Nope")
    assert "Expecting" in await error("project = OPS AND")
    assert "not been completed" in await error('summary ~ "open')
    assert "Date value" in await error("created > yesterday")
    assert "does not exist for field 'key'" in await error("key = OPS-999")
    assert "reserved JQL character" in await error("assignee = alice@example.com")


def test_jql_parser_directly() -> None:
    query = jql.parse('project = "O\\"PS" and (a ~ b or not c is empty) order by key desc, x')
    assert query.order_by == (("key", True), ("x", False))
    assert query.where is not None
    assert jql.parse("order by key").where is None
    assert jql.text_matches("Disk FULL on db-1", "disk full")
    assert jql.text_matches("Disk FULL on db-1", "ful*")
    assert not jql.text_matches("Disk FULL on db-1", "disk empty")
    now = datetime(2024, 1, 10, tzinfo=UTC)
    assert jql.parse_date_literal("-1w 2d", "created", now) == datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(jql.JqlError, match="illegal JQL escape"):
        jql.parse('summary ~ "\\q"')


# -- comments ---------------------------------------------------------------------------


async def test_comments(jira: FakeJira, http: aiohttp.ClientSession) -> None:
    key = (await create(http))["key"]
    ids = []
    for text in ("first", "second", "third"):
        status, comment = await call(
            http, "POST", f"{API}/issue/{key}/comment", json={"body": adf(text)}
        )
        assert status == 201 and TIMESTAMP.fullmatch(comment["created"])
        ids.append(comment["id"])
    status, page = await call(
        http, "GET", f"{API}/issue/{key}/comment", params={"startAt": "1", "maxResults": "1"}
    )
    assert page["total"] == 3 and page["startAt"] == 1
    assert [adf_text(c["body"]) for c in page["comments"]] == ["second"]
    status, one = await call(http, "GET", f"{API}/issue/{key}/comment/{ids[0]}")
    assert status == 200 and adf_text(one["body"]) == "first"
    assert one["author"]["emailAddress"] == "alice@example.com"
    status, body = await call(http, "POST", f"{API}/issue/{key}/comment", json={"body": "plain"})
    assert status == 400 and "Atlassian Document" in body["errors"]["comment"]
    assert (await call(http, "DELETE", f"{API}/issue/{key}/comment/{ids[1]}"))[0] == 204
    assert (await call(http, "GET", f"{API}/issue/{key}/comment/{ids[1]}"))[0] == 404
    status, issue = await call(http, "GET", f"{API}/issue/{key}", params={"fields": "comment"})
    assert [c["id"] for c in issue["fields"]["comment"]["comments"]] == [ids[0], ids[2]]
    assert await search_keys(http, "comment ~ third") == [key]


# -- attachments ------------------------------------------------------------------------


async def test_attachments_upload_redirect_download_delete(
    jira: FakeJira, http: aiohttp.ClientSession
) -> None:
    key = (await create(http))["key"]
    payload = bytes(range(256)) * (20 * 4096)  # 20 MiB
    digest = hashlib.sha256(payload).hexdigest()

    def form() -> aiohttp.FormData:
        # aiohttp percent-encodes filenames unless told not to; Jira would keep "%20".
        data = aiohttp.FormData(quote_fields=False)
        data.add_field("file", payload, filename="dump file.bin", content_type="application/x-dump")
        return data

    status, body = await call(http, "POST", f"{API}/issue/{key}/attachments", data=form())
    assert status == 403 and body == "XSRF check failed"
    assert jira.attachments == {}

    xsrf = {"X-Atlassian-Token": "no-check"}
    status, uploaded = await call(
        http, "POST", f"{API}/issue/{key}/attachments", data=form(), headers=xsrf
    )
    assert status == 200 and len(uploaded) == 1
    att = uploaded[0]
    assert att["filename"] == "dump file.bin" and att["size"] == len(payload)
    assert att["mimeType"] == "application/x-dump"
    status, issue = await call(http, "GET", f"{API}/issue/{key}", params={"fields": "attachment"})
    assert [a["id"] for a in issue["fields"]["attachment"]] == [att["id"]]
    status, meta = await call(http, "GET", f"{API}/attachment/{att['id']}")
    assert meta["id"] == int(att["id"]) and meta["size"] == len(payload)

    async with http.get(f"{API}/attachment/content/{att['id']}", allow_redirects=False) as resp:
        assert resp.status == 303
        location = resp.headers["Location"]
    assert location.startswith(f"{jira.url}/secure/attachment/{att['id']}/dump%20file.bin?token=")
    async with aiohttp.ClientSession() as anonymous, anonymous.get(location) as resp:
        assert resp.status == 200 and hashlib.sha256(await resp.read()).hexdigest() == digest
    async with http.get(f"{API}/attachment/content/{att['id']}") as resp:  # follows the 303
        assert resp.status == 200 and len(await resp.read()) == len(payload)
    params = {"redirect": "false"}
    async with http.get(f"{API}/attachment/content/{att['id']}", params=params) as resp:
        assert resp.status == 200 and resp.headers.get("Transfer-Encoding") == "chunked"
        hasher = hashlib.sha256()
        async for chunk in resp.content.iter_chunked(1 << 20):
            hasher.update(chunk)
        assert hasher.hexdigest() == digest
    ranged = {"Range": "bytes=256-511"}
    async with http.get(
        f"{API}/attachment/content/{att['id']}", params=params, headers=ranged
    ) as resp:
        assert resp.status == 206 and await resp.read() == bytes(range(256))

    assert (await call(http, "DELETE", f"{API}/attachment/{att['id']}"))[0] == 204
    assert (await call(http, "GET", f"{API}/attachment/{att['id']}"))[0] == 404
    assert jira.issue(key).attachments == [] and jira.attachments == {}


# -- faults -----------------------------------------------------------------------------


async def test_fault_switch(jira: FakeJira, http: aiohttp.ClientSession) -> None:
    jira.fail_next(status=429, retry_after=1, times=2)
    for _ in range(2):
        async with http.get(f"{API}/myself") as resp:
            assert resp.status == 429 and resp.headers["Retry-After"] == "1"
            assert resp.headers["RateLimit-Reason"] == "jira-burst-based"
            assert (await resp.json())["errorMessages"]
    assert (await call(http, "GET", f"{API}/myself"))[0] == 200 and jira.faults == []

    jira.fail_next(status=500, path=f"{API}/search/jql")
    assert (await call(http, "GET", f"{API}/myself"))[0] == 200  # not in scope
    jira.seed_issue()
    assert (await call(http, "POST", f"{API}/search/jql", json={"jql": "project = OPS"}))[0] == 500
    assert (await call(http, "POST", f"{API}/search/jql", json={"jql": "project = OPS"}))[0] == 200

    jira.fail_next(malformed=True)
    async with http.get(f"{API}/myself") as resp:
        assert resp.status == 200 and resp.content_type == "application/json"
        with pytest.raises(ValueError):
            await resp.json()

    jira.fail_next(delay=0.5)
    with pytest.raises(asyncio.TimeoutError):
        await call(http, "GET", f"{API}/myself", timeout=aiohttp.ClientTimeout(total=0.1))
    await asyncio.sleep(0.45)  # let the slow answer finish server-side

    # A POST: aiohttp silently retries an idempotent request once after a disconnect.
    jira.fail_next(reset=True, path=f"{API}/search/jql")
    with pytest.raises(aiohttp.ClientConnectionError):
        await call(http, "POST", f"{API}/search/jql", json={"jql": "project = OPS"})
    assert jira.calls("POST", f"{API}/search/jql")[-1].status is None  # never answered
    assert (await call(http, "POST", f"{API}/search/jql", json={"jql": "project = OPS"}))[0] == 200

    jira.fail_next(status=503, retry_after=2)
    async with http.get(f"{API}/myself") as resp:
        assert resp.status == 503 and resp.headers["Retry-After"] == "2"
    with pytest.raises(ValueError):
        jira.fail_next()


# -- request log and spec violations ----------------------------------------------------


async def test_request_log(jira: FakeJira, http: aiohttp.ClientSession) -> None:
    jira.seed_issue()
    await call(
        http,
        "GET",
        f"{API}/search/jql",
        params=[("jql", "project = OPS"), ("fields", "a"), ("fields", "b")],
    )
    (logged,) = jira.calls("GET", f"{API}/search/jql")
    assert logged.query["jql"] == "project = OPS" and logged.query.getall("fields") == ["a", "b"]
    assert logged.status == 200
    await create(http, summary="logged")
    (posted,) = jira.calls("POST", f"{API}/issue")
    assert posted.json["fields"]["summary"] == "logged" and posted.status == 201


async def test_wrong_requests_are_recorded_as_violations(
    needs_spec: OpenAPISpec, jira: FakeJira, http: aiohttp.ClientSession
) -> None:
    status, _ = await call(http, "POST", f"{API}/issue", json={"fields": [{"summary": "x"}]})
    assert status == 400
    await call(http, "GET", f"{API}/search/jql", params={"jql": "project = OPS", "startAt": "50"})
    await call(http, "GET", f"{API}/project")  # deprecated (and not served)
    await call(http, "GET", f"{API}/issues/OPS-1")  # no such operation
    await call(http, "GET", f"{API}/project/search", params={"maxResults": "500"})
    found = [(v.method, v.path, v.where, v.message) for v in jira.violations]
    jira.violations.clear()  # seen; keep the fixture's teardown check for the rest
    assert (
        "POST",
        f"{API}/issue",
        "request",
        "request body at fields: [{'summary': 'x'}] is not of type 'object'",
    ) in found
    assert any(
        p == f"{API}/search/jql" and "'startAt' is not declared" in m for _, p, _, m in found
    )
    assert any(
        p == f"{API}/project" and w == "operation" and "deprecated" in m for _, p, w, m in found
    )
    assert any(p == f"{API}/issues/OPS-1" and "no such operation" in m for _, p, _, m in found)
    assert any("maximum of 100" in m for *_, m in found)


async def test_correct_traffic_records_no_violation(
    needs_spec: OpenAPISpec, jira: FakeJira, http: aiohttp.ClientSession
) -> None:
    key = (await create(http, labels=["a"], customfield_10011={"id": "10101"}))["key"]
    await call(http, "GET", f"{API}/issue/{key}", params={"expand": "names,schema,transitions"})
    await call(http, "POST", f"{API}/issue/{key}/comment", json={"body": adf("hi")})
    await call(
        http,
        "POST",
        f"{API}/search/jql",
        json={"jql": "project = OPS", "fields": ["*all"], "expand": "names,schema"},
    )
    await call(http, "GET", f"{API}/serverInfo")
    await call(http, "GET", f"{API}/user/search", params={"query": "bob"})
    await call(http, "GET", f"{API}/project/search", params={"maxResults": "100"})
    statuses = [r.status for r in jira.requests]
    assert len(statuses) == 7 and all(s is not None and s < 300 for s in statuses)
    assert jira.violations == []
