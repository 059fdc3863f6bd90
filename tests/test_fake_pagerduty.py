"""The PagerDuty fake itself, over real HTTP, checked against PagerDuty's OpenAPI description.

Every test runs with a fake that fails at teardown when any request or response drifted
from ``openapiv3.json`` (plus the fake's documented ``ERRATA``): so the traffic below doubles
as proof that the fake's answers conform. The description is read from the shared folder;
without it the fake still runs, only the validation is skipped (with a loud warning).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from .conftest import PAGERDUTY_SPEC
from .fakes.pagerduty import (
    ACCEPT,
    ERRATA,
    FakePagerDuty,
    load_pagerduty_spec,
    pd_time,
    with_errata,
)
from .fakes.spec import OpenAPISpec, load_spec

# A Wednesday in the tenth weekly turn of "Platform Primary" (alice, bob from 2024-01-01):
# bob is on call from Monday 2024-03-04 to Monday 2024-03-11.
NOW = datetime(2024, 3, 6, 12, 0, tzinfo=UTC)
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@dataclass
class Answer:
    status: int
    data: Any
    headers: Any


@pytest.fixture
def needs_spec(pagerduty_spec: OpenAPISpec | None) -> OpenAPISpec:
    if pagerduty_spec is None:
        pytest.skip("the PagerDuty OpenAPI description is not available")
    return pagerduty_spec


@pytest.fixture
async def pd(pagerduty_spec: OpenAPISpec | None) -> AsyncIterator[FakePagerDuty]:
    """Like the ``pagerduty`` fixture, with the clock stopped at ``NOW``."""
    async with FakePagerDuty(spec=pagerduty_spec, clock=lambda: NOW) as fake:
        yield fake
    fake.assert_no_violations()


async def call(fake: FakePagerDuty, method: str, path: str, **kw: Any) -> Answer:
    headers = kw.pop("headers", None)
    if headers is None:
        headers = fake.headers()
    async with (
        aiohttp.ClientSession(base_url=fake.url) as session,
        session.request(method, path, headers=headers, **kw) as response,
    ):
        text = await response.text()
        data: Any = text
        if response.content_type == "application/json" and text:
            data = await response.json()
        return Answer(response.status, data, response.headers)


async def create(fake: FakePagerDuty, title: str = "Disk full", **fields: Any) -> dict[str, Any]:
    body = {
        "incident": {
            "type": "incident",
            "title": title,
            "service": {"id": fake.service("Checkout API").id, "type": "service_reference"},
            **fields,
        }
    }
    answer = await call(fake, "POST", "/incidents", json=body)
    assert answer.status == 201, answer.data
    return dict(answer.data["incident"])


async def update(
    fake: FakePagerDuty, incident_id: str, *, from_email: str = "alice@example.com", **fields: Any
) -> Answer:
    body = {"incident": {"type": "incident_reference", **fields}}
    headers = fake.headers(from_email=from_email)
    return await call(fake, "PUT", f"/incidents/{incident_id}", json=body, headers=headers)


async def list_ids(fake: FakePagerDuty, path: str, key: str, params: Any = ()) -> list[str]:
    answer = await call(fake, "GET", path, params=list(params))
    assert answer.status == 200, answer.data
    return [item["id"] for item in answer.data[key]]


def error(answer: Answer) -> tuple[int, int]:
    assert set(answer.data) == {"error"}, answer.data
    return answer.status, answer.data["error"]["code"]


# -- the description ----------------------------------------------------------------------


def test_spec_is_loaded_once_with_errata_that_still_apply(needs_spec: OpenAPISpec) -> None:
    started = time.perf_counter()
    assert load_pagerduty_spec(PAGERDUTY_SPEC) is needs_spec
    raw = load_spec(PAGERDUTY_SPEC)
    assert raw is not None
    patched = with_errata(raw)
    assert with_errata(raw) is patched and with_errata(patched) is patched
    assert time.perf_counter() - started < 2.0

    found = needs_spec.operation("GET", "/incidents/Q123/notes")
    assert found is not None and found[0].operation_id == "listIncidentNotes"
    assert found[1] == {"id": "Q123"}
    assert needs_spec.operation("GET", "/incidents/Q1/attachments") is None

    # Every erratum still points at something in the published description...
    for erratum in ERRATA:
        node: Any = raw.document
        for key in erratum.where:
            node = node[int(key)] if isinstance(node, list) else node[key]
    # ...and makes a difference: the documented string details, null resolved_at.
    op, params = raw.operation("POST", "/incidents") or (None, {})
    assert op is not None
    body = {
        "incident": {
            "type": "incident",
            "title": "t",
            "service": {"id": "PS1", "type": "service_reference"},
            "body": {"type": "incident_body", "details": "free text"},
        }
    }
    assert raw.validate_request(op, params, [], "application/json", body, has_body=True)
    patched_op = needs_spec.operation("POST", "/incidents")
    assert patched_op is not None
    assert not needs_spec.validate_request(
        patched_op[0], params, [], "application/json", body, has_body=True
    )
    # Repeated statuses[] (declared with a scalar schema) is checked value by value.
    listing = needs_spec.operation("GET", "/incidents")
    assert listing is not None
    good = [("statuses[]", "triggered"), ("statuses[]", "resolved")]
    assert not needs_spec.validate_request(listing[0], {}, good, None)
    bad = needs_spec.validate_request(listing[0], {}, [("statuses[]", "open")], None)
    assert bad and "statuses[]" in bad[0]


# -- auth and headers ---------------------------------------------------------------------


async def test_auth_keys_schemes_and_read_only(pagerduty: FakePagerDuty) -> None:
    missing = await call(pagerduty, "GET", "/services", headers={"Accept": ACCEPT})
    assert error(missing) == (401, 2006)
    wrong = await call(pagerduty, "GET", "/services", headers=pagerduty.headers("nope"))
    assert error(wrong) == (401, 2006)
    oauth_as_token = await call(
        pagerduty, "GET", "/services", headers=pagerduty.headers("pd-oauth-token")
    )
    assert oauth_as_token.status == 401

    ok = await call(pagerduty, "GET", "/services")
    assert ok.status == 200 and ok.headers["ratelimit-limit"] == "960"
    bearer = await call(
        pagerduty, "GET", "/services", headers={"Authorization": "Bearer pd-oauth-token"}
    )
    assert bearer.status == 200

    me = await call(pagerduty, "GET", "/users/me", headers=pagerduty.headers("pd-alice-key"))
    assert me.status == 200 and me.data["user"]["email"] == "alice@example.com"
    account_me = await call(pagerduty, "GET", "/users/me")
    assert account_me.status == 400

    read_only = pagerduty.headers("pd-readonly-key")
    service = {"id": pagerduty.service("Payments").id, "type": "service_reference"}
    body = {"incident": {"type": "incident", "title": "t", "service": service}}
    denied = await call(pagerduty, "POST", "/incidents", json=body, headers=read_only)
    assert error(denied) == (403, 2010)
    assert (await call(pagerduty, "GET", "/incidents", headers=read_only)).status == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/incidents", {"incident": {"type": "incident", "title": "t"}}),
        ("PUT", "/incidents/{id}", {"incident": {"type": "incident_reference"}}),
        ("POST", "/incidents/{id}/notes", {"note": {"content": "c"}}),
    ],
)
async def test_from_header_is_required_on_writes(
    pagerduty: FakePagerDuty, method: str, path: str, body: dict[str, Any]
) -> None:
    incident = pagerduty.seed_incident()
    target = path.format(id=incident.id)
    if path == "/incidents":
        service = {"id": incident.service, "type": "service_reference"}
        body = {"incident": {**body["incident"], "service": service}}
    missing = await call(
        pagerduty, method, target, json=body, headers=pagerduty.headers(from_email=None)
    )
    assert error(missing) == (400, 2016)
    assert '"From" header' in missing.data["error"]["message"]
    stranger = pagerduty.headers(from_email="mallory@example.com")
    unknown = await call(pagerduty, method, target, json=body, headers=stranger)
    assert error(unknown) == (400, 1008)
    ok = await call(pagerduty, method, target, json=body)
    assert ok.status in (200, 201), ok.data
    # Reads never need it.
    no_from = pagerduty.headers(from_email=None)
    assert (
        await call(pagerduty, "GET", f"/incidents/{incident.id}", headers=no_from)
    ).status == 200


# -- incidents ------------------------------------------------------------------------------


async def test_create_and_get_incident(pd: FakePagerDuty) -> None:
    p2 = pd.priority("P2")
    created = await create(
        pd,
        priority={"id": p2.id, "type": "priority_reference"},
        body={"type": "incident_body", "details": "/var is at 99%"},
        incident_key="disk-web-1",
    )
    assert created["type"] == "incident" and created["status"] == "triggered"
    assert created["incident_number"] == 1 and created["summary"] == "[#1] Disk full"
    assert created["urgency"] == "high"  # the service's default
    assert created["priority"]["id"] == p2.id and created["priority"]["summary"] == "P2"
    assert created["priority"]["type"] == "priority_reference"
    assert created["service"]["summary"] == "Checkout API"
    assert created["service"]["type"] == "service_reference"
    assert created["incident_key"] == "disk-web-1"
    assert created["created_at"] == created["updated_at"] == pd_time(NOW)
    assert TIMESTAMP.fullmatch(created["created_at"])
    assert created["resolved_at"] is None
    assert created["self"] == f"{pd.url}/incidents/{created['id']}"
    assert created["html_url"].endswith(f"/incidents/{created['id']}")
    # Assigned through the policy: level 1 is the schedule, bob's turn this week.
    assert created["assigned_via"] == "escalation_policy"
    assert [a["assignee"]["summary"] for a in created["assignments"]] == ["Bob Builder"]
    assert created["escalation_policy"]["summary"] == "Platform Escalation"
    assert "body" not in created

    got = await call(pd, "GET", f"/incidents/{created['id']}")
    assert got.status == 200 and got.data["incident"]["title"] == "Disk full"
    assert "body" not in got.data["incident"]
    with_body = await call(pd, "GET", f"/incidents/{created['id']}", params={"include[]": "body"})
    assert with_body.data["incident"]["body"] == {
        "type": "incident_body",
        "details": "/var is at 99%",
    }
    expanded = await call(
        pd,
        "GET",
        f"/incidents/{created['id']}",
        params=[("include[]", "services"), ("include[]", "assignees"), ("include[]", "priorities")],
    )
    inc = expanded.data["incident"]
    assert inc["service"]["type"] == "service" and inc["service"]["name"] == "Checkout API"
    assert inc["assignments"][0]["assignee"]["email"] == "bob@example.com"
    assert inc["priority"]["type"] == "priority" and inc["priority"]["name"] == "P2"

    # Direct assignment, low urgency, no priority (null), a generated incident_key.
    bob = pd.user("bob@example.com")
    direct = await create(
        pd,
        "Cert expiring",
        urgency="low",
        assignments=[
            {"assignee": {"id": pd.user("carol@example.com").id, "type": "user_reference"}}
        ],
    )
    assert direct["assigned_via"] == "direct_assignment"
    assert [a["assignee"]["id"] for a in direct["assignments"]] != [bob.id]
    assert direct["urgency"] == "low" and direct["priority"] is None
    assert re.fullmatch(r"[0-9a-f]{32}", direct["incident_key"])
    assert direct["incident_number"] == 2

    missing = await call(pd, "GET", "/incidents/Q404")
    assert error(missing) == (404, 2100) and missing.data["error"]["message"] == "Not Found"


async def test_create_rejects_what_pagerduty_rejects(pd: FakePagerDuty) -> None:
    service = {"id": pd.service("Payments").id, "type": "service_reference"}

    async def post(**fields: Any) -> Answer:
        body = {"incident": {"type": "incident", "title": "t", "service": service, **fields}}
        return await call(pd, "POST", "/incidents", json=body)

    await post(incident_key="dup")
    duplicate = await post(incident_key="dup")
    assert error(duplicate) == (400, 2001)
    assert "dedup key" in duplicate.data["error"]["errors"][0]
    unknown_service = await post(service={"id": "PS99999", "type": "service_reference"})
    assert error(unknown_service) == (400, 2001)
    bad_priority = await post(priority={"id": "PP99999", "type": "priority_reference"})
    assert error(bad_priority) == (400, 1020)
    nobody = await post(assignments=[{"assignee": {"id": "PU99999", "type": "user_reference"}}])
    assert error(nobody) == (400, 1007)
    policy = {"id": "PE99999", "type": "escalation_policy_reference"}
    assert error(await post(escalation_policy=policy)) == (400, 1014)
    # Once the first "dup" incident is resolved the key may be used again.
    first = next(i for i in pd.incidents.values() if i.incident_key == "dup")
    assert (await update(pd, first.id, status="resolved")).status == 200
    assert (await post(incident_key="dup")).status == 201


async def test_incident_lifecycle(pd: FakePagerDuty) -> None:
    incident = await create(pd)
    ident = incident["id"]
    alice = pd.user("alice@example.com")

    pd.advance(60)
    acked = await update(pd, ident, status="acknowledged")
    assert acked.status == 200
    data = acked.data["incident"]
    assert data["status"] == "acknowledged"
    assert [a["acknowledger"]["id"] for a in data["acknowledgements"]] == [alice.id]
    assert data["last_status_change_by"]["id"] == alice.id
    assert data["updated_at"] == pd_time(NOW + timedelta(seconds=60)) != data["created_at"]
    assert (
        await update(pd, ident, status="acknowledged", from_email="bob@example.com")
    ).status == 200
    assert len(pd.incident(ident).acknowledgements) == 2
    assert error(await update(pd, ident, status="triggered")) == (400, 1003)

    renamed = await update(pd, ident, title="Disk full on web-1", urgency="low", priority="P1")
    assert renamed.data["incident"]["title"] == "Disk full on web-1"
    assert renamed.data["incident"]["urgency"] == "low"
    assert renamed.data["incident"]["priority"]["summary"] == "P1"
    assert error(await update(pd, ident, priority="P9")) == (400, 1020)

    escalated = await update(pd, ident, escalation_level=2)
    assignees = [a["assignee"]["id"] for a in escalated.data["incident"]["assignments"]]
    assert assignees == [alice.id] and pd.incident(ident).escalation_level == 2
    assert error(await update(pd, ident, escalation_level=3)) == (400, 1006)
    carol = pd.user("carol@example.com")
    reassigned = await update(
        pd, ident, assignments=[{"assignee": {"id": carol.id, "type": "user_reference"}}]
    )
    assert reassigned.data["incident"]["assigned_via"] == "direct_assignment"
    assert [a["assignee"]["id"] for a in reassigned.data["incident"]["assignments"]] == [carol.id]

    resolved = await update(pd, ident, status="resolved", resolution="Rotated the logs")
    data = resolved.data["incident"]
    assert data["status"] == "resolved" and data["resolved_at"] == pd_time(pd.now())
    assert data["assignments"] == [] and data["acknowledgements"] == []
    assert pd.incident(ident).resolution == "Rotated the logs"
    assert (await call(pd, "GET", f"/incidents/{ident}/notes")).data["notes"] == []
    assert error(await update(pd, ident, status="resolved")) == (400, 1001)
    assert error(await update(pd, ident, priority="P2")) == (400, 1001)
    assert error(await update(pd, ident, escalation_level=1)) == (400, 1001)

    # Documented: acknowledging (or triggering) a resolved incident reopens it.
    reopened = await update(pd, ident, status="acknowledged", from_email="bob@example.com")
    data = reopened.data["incident"]
    assert data["status"] == "acknowledged" and data["resolved_at"] is None
    assert [a["assignee"]["summary"] for a in data["assignments"]] == ["Bob Builder"]
    await update(pd, ident, status="resolved")
    retriggered = await update(pd, ident, status="triggered")
    assert retriggered.data["incident"]["status"] == "triggered"
    assert retriggered.data["incident"]["assigned_via"] == "escalation_policy"
    await update(pd, ident, status="resolved")
    pd.allow_reopen = False
    assert error(await update(pd, ident, status="acknowledged")) == (400, 1001)

    assert error(await update(pd, "Q404", status="resolved")) == (404, 2100)


async def test_list_incidents_filters_window_and_order(pd: FakePagerDuty) -> None:
    a = pd.seed_incident("a", service="Checkout API", assignees=["bob@example.com"])
    pd.advance(60)
    b = pd.seed_incident("b", service="Payments", status="acknowledged", urgency="low")
    pd.advance(60)
    c = pd.seed_incident("c", service="Checkout API", status="resolved")
    pd.advance(60)
    old = pd.seed_incident("old", urgency="low", created=NOW - timedelta(days=40))
    keyed = pd.seed_incident("keyed", service="Payments", incident_key="k-1")

    async def ids(*params: tuple[str, str]) -> list[str]:
        return await list_ids(pd, "/incidents", "incidents", params)

    assert await ids() == [a.id, b.id, c.id, keyed.id]  # default: last 30 days, oldest first
    assert await ids(("date_range", "all")) == [old.id, a.id, b.id, c.id, keyed.id]
    assert await ids(("sort_by", "created_at:desc")) == [keyed.id, c.id, b.id, a.id]
    assert await ids(("statuses[]", "triggered"), ("statuses[]", "acknowledged")) == [
        a.id,
        b.id,
        keyed.id,
    ]
    assert await ids(("urgencies[]", "low"), ("date_range", "all")) == [old.id, b.id]
    payments = pd.service("Payments").id
    assert await ids(("service_ids[]", payments)) == [b.id, keyed.id]
    bob = pd.user("bob@example.com").id  # on call this week; c is resolved: no assignees
    assert await ids(("user_ids[]", bob)) == [a.id, b.id, keyed.id]
    assert await ids(("incident_key", "k-1")) == [keyed.id]
    assert await ids(("team_ids[]", pd.team("Platform").id), ("statuses[]", "resolved")) == [c.id]
    since = pd_time(NOW - timedelta(days=45))
    until = pd_time(NOW - timedelta(days=35))
    assert await ids(("since", since), ("until", until)) == [old.id]

    reversed_range = await call(pd, "GET", "/incidents", params={"since": until, "until": since})
    assert error(reversed_range) == (400, 2004)
    too_long = await call(
        pd, "GET", "/incidents", params={"since": "2023-01-01T00:00:00Z", "until": pd_time(NOW)}
    )
    assert error(too_long) == (400, 2005)
    garbage = await call(pd, "GET", "/incidents", params={"since": "yesterday"})
    assert error(garbage) == (400, 2004)


async def test_incident_paging(pd: FakePagerDuty) -> None:
    seeded = [pd.seed_incident(f"i{n}") for n in range(7)]
    first = await call(pd, "GET", "/incidents", params={"limit": "3"})
    assert [i["id"] for i in first.data["incidents"]] == [i.id for i in seeded[:3]]
    assert (first.data["limit"], first.data["offset"], first.data["more"]) == (3, 0, True)
    assert first.data["total"] is None
    last = await call(
        pd, "GET", "/incidents", params={"limit": "3", "offset": "6", "total": "true"}
    )
    assert [i["id"] for i in last.data["incidents"]] == [seeded[6].id]
    assert (last.data["more"], last.data["total"]) == (False, 7)
    capped = await call(pd, "GET", "/incidents", params={"limit": "500"})
    assert capped.data["limit"] == 100 and len(capped.data["incidents"]) == 7
    too_deep = await call(pd, "GET", "/incidents", params={"limit": "100", "offset": "9901"})
    assert error(too_deep) == (400, 2001)
    at_edge = await call(pd, "GET", "/incidents", params={"limit": "100", "offset": "9900"})
    assert at_edge.status == 200 and at_edge.data["incidents"] == []


# -- notes ----------------------------------------------------------------------------------


async def test_notes(pd: FakePagerDuty) -> None:
    incident = pd.seed_incident()
    path = f"/incidents/{incident.id}/notes"
    first = await call(pd, "POST", path, json={"note": {"content": "Looking into it"}})
    assert first.status == 201
    note = first.data["note"]
    assert note["content"] == "Looking into it" and note["created_at"] == pd_time(NOW)
    assert note["user"]["id"] == pd.user("alice@example.com").id
    assert note["user"]["type"] == "user_reference"
    assert note["channel"] == {"summary": "The PagerDuty website or APIs"}
    pd.advance(5)
    bob = pd.headers(from_email="bob@example.com")
    await call(pd, "POST", path, json={"note": {"content": "Rotated logs"}}, headers=bob)
    listed = await call(pd, "GET", path)
    assert set(listed.data) == {"notes"}  # not paginated
    assert [(n["content"], n["user"]["summary"]) for n in listed.data["notes"]] == [
        ("Looking into it", "Alice Admin"),
        ("Rotated logs", "Bob Builder"),
    ]
    assert pd.incident(incident.id).updated_at == NOW + timedelta(seconds=5)
    empty = await call(pd, "POST", path, json={"note": {"content": "  "}})
    assert error(empty) == (400, 2001)
    assert error(await call(pd, "GET", "/incidents/Q404/notes")) == (404, 2100)
    pd.note_status = 200  # what the description declares
    assert (await call(pd, "POST", path, json={"note": {"content": "x"}})).status == 200


# -- services, priorities, users, teams, schedules ---------------------------------------


async def test_services(pd: FakePagerDuty) -> None:
    search = pd.add_service("Search", escalation_policy="Platform Escalation", urgency="low")
    assert await list_ids(pd, "/services", "services") == [
        pd.service("Checkout API").id,
        pd.service("Payments").id,
        search.id,
    ]
    assert await list_ids(pd, "/services", "services", [("query", "pay")]) == [
        pd.service("Payments").id
    ]
    desc = await list_ids(pd, "/services", "services", [("sort_by", "name:desc")])
    assert desc[0] == search.id
    paged = await call(
        pd, "GET", "/services", params={"limit": "2", "offset": "1", "total": "true"}
    )
    assert len(paged.data["services"]) == 2
    assert (paged.data["more"], paged.data["total"]) == (False, 3)
    team = pd.team("Platform").id
    assert search.id not in await list_ids(pd, "/services", "services", [("team_ids[]", team)])

    got = await call(pd, "GET", f"/services/{search.id}")
    service = got.data["service"]
    assert service["name"] == "Search" and service["type"] == "service"
    assert service["escalation_policy"]["type"] == "escalation_policy_reference"
    assert service["incident_urgency_rule"] == {"type": "constant", "urgency": "low"}
    assert "/service-directory/" in service["html_url"]
    full = await call(
        pd, "GET", f"/services/{search.id}", params={"include[]": "escalation_policies"}
    )
    assert full.data["service"]["escalation_policy"]["type"] == "escalation_policy"
    assert full.data["service"]["escalation_policy"]["escalation_rules"]
    assert error(await call(pd, "GET", "/services/PS99999")) == (404, 2100)


async def test_priorities(pagerduty: FakePagerDuty, pagerduty_spec: OpenAPISpec | None) -> None:
    answer = await call(pagerduty, "GET", "/priorities")
    priorities = answer.data["priorities"]
    assert [p["name"] for p in priorities] == ["P1", "P2", "P3", "P4", "P5"]
    assert all(p["type"] == "priority" and p["summary"] == p["name"] for p in priorities)
    assert all(p["description"] and p["id"].startswith("P") for p in priorities)
    async with FakePagerDuty(spec=pagerduty_spec, priorities=()) as bare:
        assert (await call(bare, "GET", "/priorities")).data["priorities"] == []
        bare.assert_no_violations()


async def test_users_teams_schedules(pd: FakePagerDuty) -> None:
    bob = pd.user("bob@example.com")
    assert await list_ids(pd, "/users", "users", [("query", "builder")]) == [bob.id]
    assert await list_ids(pd, "/users", "users", [("query", "carol@")]) == [
        pd.user("carol@example.com").id
    ]
    user = (await call(pd, "GET", f"/users/{bob.id}", params={"include[]": "teams"})).data["user"]
    assert user["email"] == "bob@example.com" and user["teams"][0]["type"] == "team"
    assert error(await call(pd, "GET", "/users/PU99999")) == (404, 2100)
    team = pd.team("Platform")
    assert await list_ids(pd, "/teams", "teams") == [team.id]
    assert (await call(pd, "GET", f"/teams/{team.id}")).data["team"]["name"] == "Platform"

    schedule = pd.schedule("Platform Primary")
    assert await list_ids(pd, "/schedules", "schedules", [("query", "primary")]) == [schedule.id]
    detail = await call(
        pd,
        "GET",
        f"/schedules/{schedule.id}",
        params={"since": pd_time(NOW), "until": pd_time(NOW + timedelta(days=7))},
    )
    data = detail.data["schedule"]
    assert data["schedule_layers"][0]["rotation_turn_length_seconds"] == 7 * 24 * 3600
    entries = data["final_schedule"]["rendered_schedule_entries"]
    assert [(e["user"]["summary"], e["start"]) for e in entries] == [
        ("Bob Builder", "2024-03-04T00:00:00Z"),
        ("Alice Admin", "2024-03-11T00:00:00Z"),
    ]


# -- escalation policies and on-calls -----------------------------------------------------


async def test_escalation_policies(pd: FakePagerDuty) -> None:
    pd.add_team("Data")
    pd.add_schedule("DB rotation", ["carol@example.com"], teams=["Data"])
    db = pd.add_escalation_policy(
        "Database Escalation",
        rules=[(15, ["schedule:DB rotation"]), (30, ["bob@example.com", "schedule:DB rotation"])],
        teams=["Data"],
    )
    platform = pd.policy("Platform Escalation")

    async def ids(*params: tuple[str, str]) -> list[str]:
        return await list_ids(pd, "/escalation_policies", "escalation_policies", params)

    assert await ids() == [db.id, platform.id]
    assert await ids(("sort_by", "name:desc")) == [platform.id, db.id]
    assert await ids(("query", "DATA")) == [db.id]
    assert await ids(("user_ids[]", pd.user("carol@example.com").id)) == [db.id]  # via schedule
    assert await ids(("user_ids[]", pd.user("alice@example.com").id)) == [platform.id]
    assert await ids(("team_ids[]", pd.team("Data").id)) == [db.id]
    paged = await call(pd, "GET", "/escalation_policies", params={"limit": "1", "total": "true"})
    assert (paged.data["more"], paged.data["total"], paged.data["limit"]) == (True, 2, 1)

    got = (await call(pd, "GET", f"/escalation_policies/{db.id}")).data["escalation_policy"]
    assert got["name"] == "Database Escalation" and got["num_loops"] == 0
    rules = got["escalation_rules"]
    assert [r["escalation_delay_in_minutes"] for r in rules] == [15, 30]
    assert all(r["id"] for r in rules)
    assert [(t["type"], t["summary"]) for t in rules[1]["targets"]] == [
        ("user_reference", "Bob Builder"),
        ("schedule_reference", "DB rotation"),
    ]
    assert got["teams"][0]["summary"] == "Data"
    expanded = await call(
        pd,
        "GET",
        f"/escalation_policies/{db.id}",
        params=[("include[]", "targets"), ("include[]", "services")],
    )
    targets = expanded.data["escalation_policy"]["escalation_rules"][1]["targets"]
    assert [t["type"] for t in targets] == ["user", "schedule"]
    assert targets[0]["email"] == "bob@example.com"
    assert error(await call(pd, "GET", "/escalation_policies/PE99999")) == (404, 2100)


async def test_oncalls(pd: FakePagerDuty) -> None:
    policy = pd.policy("Platform Escalation")
    schedule = pd.schedule("Platform Primary")
    alice, bob = pd.user("alice@example.com"), pd.user("bob@example.com")

    now = (await call(pd, "GET", "/oncalls")).data
    assert now["more"] is False
    assert [
        (o["escalation_level"], o["user"]["id"], o["schedule"] and o["schedule"]["id"], o["start"])
        for o in now["oncalls"]
    ] == [(1, bob.id, schedule.id, "2024-03-04T00:00:00Z"), (2, alice.id, None, None)]
    scheduled, permanent = now["oncalls"]
    assert scheduled["end"] == "2024-03-11T00:00:00Z"
    assert scheduled["escalation_policy"]["type"] == "escalation_policy_reference"
    assert scheduled["user"]["type"] == "user_reference"
    assert permanent["end"] is None and permanent["schedule"] is None

    included = await call(
        pd,
        "GET",
        "/oncalls",
        params=[("include[]", v) for v in ("users", "schedules", "escalation_policies")],
    )
    first = included.data["oncalls"][0]
    assert first["user"]["type"] == "user" and first["user"]["email"] == "bob@example.com"
    assert first["schedule"]["type"] == "schedule" and first["schedule"]["time_zone"]
    assert first["escalation_policy"]["escalation_rules"]
    assert included.data["oncalls"][1]["schedule"] is None

    window = [("since", pd_time(NOW)), ("until", pd_time(NOW + timedelta(days=14)))]
    spread = (await call(pd, "GET", "/oncalls", params=window)).data["oncalls"]
    assert [(o["escalation_level"], o["user"]["summary"], o["start"]) for o in spread] == [
        (1, "Bob Builder", "2024-03-04T00:00:00Z"),
        (1, "Alice Admin", "2024-03-11T00:00:00Z"),
        (1, "Bob Builder", "2024-03-18T00:00:00Z"),
        (2, "Alice Admin", None),
    ]
    earliest = (await call(pd, "GET", "/oncalls", params=[*window, ("earliest", "true")])).data
    assert [(o["escalation_level"], o["user"]["summary"]) for o in earliest["oncalls"]] == [
        (1, "Bob Builder"),
        (1, "Alice Admin"),
        (2, "Alice Admin"),
    ]

    def levels(data: dict[str, Any]) -> list[int]:
        return [o["escalation_level"] for o in data["oncalls"]]

    by_schedule = await call(pd, "GET", "/oncalls", params={"schedule_ids[]": schedule.id})
    assert levels(by_schedule.data) == [1]
    direct_only = await call(pd, "GET", "/oncalls", params={"schedule_ids[]": "null"})
    assert levels(direct_only.data) == [2]
    by_user = await call(pd, "GET", "/oncalls", params={"user_ids[]": alice.id})
    assert levels(by_user.data) == [2]
    other = pd.add_escalation_policy("Other", rules=[(5, ["carol@example.com"])])
    by_policy = await call(pd, "GET", "/oncalls", params={"escalation_policy_ids[]": other.id})
    assert [o["user"]["summary"] for o in by_policy.data["oncalls"]] == ["Carol Responder"]

    pd.set_oncall(
        "carol@example.com",
        policy.id,
        level=1,
        start=NOW - timedelta(hours=1),
        end=NOW + timedelta(hours=1),
    )
    with_override = await call(
        pd, "GET", "/oncalls", params={"escalation_policy_ids[]": policy.id, "total": "true"}
    )
    assert with_override.data["total"] == 3
    assert "Carol Responder" in [o["user"]["summary"] for o in with_override.data["oncalls"]]
    # ... and new incidents are assigned to everyone on call at level 1.
    incident = pd.seed_incident(service="Payments")
    assert {u for u, _ in incident.assignments} == {bob.id, pd.user("carol@example.com").id}

    backwards = await call(
        pd, "GET", "/oncalls", params={"since": window[1][1], "until": window[0][1]}
    )
    assert error(backwards) == (400, 2001)


# -- faults, rate limits, log ---------------------------------------------------------------


async def test_fault_switch(pagerduty: FakePagerDuty) -> None:
    pagerduty.fail_next(status=429, path="/incidents", ratelimit_reset=7)
    limited = await call(pagerduty, "GET", "/incidents")
    assert limited.status == 429
    assert limited.data == {"error": {"message": "Rate Limit Exceeded", "code": 2020}}
    assert (limited.headers["ratelimit-remaining"], limited.headers["ratelimit-reset"]) == (
        "0",
        "7",
    )
    assert (await call(pagerduty, "GET", "/incidents")).status == 200

    pagerduty.fail_next(status=429, rate_headers=False, body="")
    bare = await call(pagerduty, "GET", "/services")
    assert bare.status == 429 and bare.data == "" and "ratelimit-reset" not in bare.headers

    pagerduty.fail_next(status=503, path="/incidents", times=2)
    assert (await call(pagerduty, "GET", "/services")).status == 200  # other paths unaffected
    assert (await call(pagerduty, "GET", "/incidents")).status == 503
    assert (await call(pagerduty, "GET", "/incidents/Q1")).status == 503
    assert (await call(pagerduty, "GET", "/incidents")).status == 200

    pagerduty.fail_next(status=500, method="POST")
    assert (await call(pagerduty, "GET", "/priorities")).status == 200
    incident = pagerduty.seed_incident()
    failed = await call(
        pagerduty, "POST", f"/incidents/{incident.id}/notes", json={"note": {"content": "x"}}
    )
    assert error(failed) == (500, 2000)
    assert pagerduty.incident(incident.id).notes == []

    pagerduty.fail_next(malformed=True, path="/oncalls")
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{pagerduty.url}/oncalls", headers=pagerduty.headers()) as response,
    ):
        assert response.status == 200
        with pytest.raises(ValueError):
            await response.json()

    pagerduty.fail_next(delay=0.2, path="/teams")
    started = time.perf_counter()
    assert (await call(pagerduty, "GET", "/teams")).status == 200
    assert time.perf_counter() - started >= 0.2

    # A POST: aiohttp silently retries an idempotent request once after a disconnect.
    pagerduty.fail_next(reset=True, method="POST")
    with pytest.raises(aiohttp.ClientConnectionError):
        await call(
            pagerduty, "POST", f"/incidents/{incident.id}/notes", json={"note": {"content": "lost"}}
        )
    assert pagerduty.calls("POST")[-1].status is None  # never answered
    assert pagerduty.incident(incident.id).notes == []
    assert pagerduty.faults == []
    with pytest.raises(ValueError):
        pagerduty.fail_next()


async def test_live_rate_limit(pd: FakePagerDuty) -> None:
    pd.set_rate_limit(2)
    first = await call(pd, "GET", "/teams")
    assert (first.headers["ratelimit-limit"], first.headers["ratelimit-remaining"]) == ("2", "1")
    await call(pd, "GET", "/teams")
    limited = await call(pd, "GET", "/teams")
    assert error(limited) == (429, 2020) and limited.headers["ratelimit-reset"] == "60"
    other_key = await call(pd, "GET", "/teams", headers=pd.headers("pd-alice-key"))
    assert other_key.status == 200  # counted per credential
    pd.advance(60)
    assert (await call(pd, "GET", "/teams")).status == 200


async def test_request_log(pagerduty: FakePagerDuty) -> None:
    await create(pagerduty, "Logged")
    await call(pagerduty, "GET", "/incidents", params=[("statuses[]", "triggered")])
    [posted] = pagerduty.calls("POST", "/incidents")
    assert posted.json["incident"]["title"] == "Logged" and posted.status == 201
    assert posted.headers["From"] == "alice@example.com"
    assert posted.headers["Accept"] == ACCEPT
    [listed] = pagerduty.calls("GET", "/incidents")
    assert listed.query.getall("statuses[]") == ["triggered"]
    assert "statuses[]=triggered" in str(listed)


# -- drift from the description -------------------------------------------------------------


async def test_wrong_requests_are_recorded_as_violations(
    pagerduty: FakePagerDuty, needs_spec: OpenAPISpec
) -> None:
    pd = pagerduty
    incident = pd.seed_incident()

    bad_status = await call(pd, "GET", "/incidents", params={"statuses[]": "open"})
    assert error(bad_status) == (400, 2001)
    await call(pd, "GET", "/incidents", params={"state": "triggered"})
    attachments = await call(pd, "GET", f"/incidents/{incident.id}/attachments")
    assert error(attachments) == (404, 2100)  # PagerDuty has no attachments
    untyped = {"incident": {"title": "t", "service": {"id": incident.service}}}
    assert (await call(pd, "POST", "/incidents", json=untyped)).status == 400
    old = {**pd.headers(), "Accept": "application/vnd.pagerduty+json;version=1"}
    assert (await call(pd, "GET", "/teams", headers=old)).status == 200

    found = [(v.method, v.operation, v.where) for v in pd.violations]
    messages = "\n".join(str(v) for v in pd.violations)
    assert ("GET", "listIncidents", "request") in found
    assert "'open' is not one of" in messages
    assert "query parameter 'state' is not declared" in messages
    assert ("GET", None, "operation") in found and "attachments" in messages
    assert ("POST", "createIncident", "request") in found
    assert "'type' is a required property" in messages
    assert "version 1" in messages
    with pytest.raises(AssertionError, match="drift from the PagerDuty"):
        pd.assert_no_violations()
    pd.violations.clear()


async def test_correct_traffic_records_no_violation(
    pd: FakePagerDuty, needs_spec: OpenAPISpec
) -> None:
    """A tour of what a connector does, with every include[] the fake expands."""
    incident = await create(
        pd, body={"type": "incident_body", "details": "free text"}, urgency="low"
    )
    ident = incident["id"]
    await call(pd, "POST", f"/incidents/{ident}/notes", json={"note": {"content": "n"}})
    await update(
        pd,
        ident,
        status="acknowledged",
        priority={"id": pd.priority("P3").id, "type": "priority_reference"},
    )
    every = (
        "acknowledgers",
        "assignees",
        "escalation_policies",
        "priorities",
        "services",
        "teams",
        "users",
        "body",
    )
    await call(pd, "GET", f"/incidents/{ident}", params=[("include[]", v) for v in every])
    await call(
        pd,
        "GET",
        "/incidents",
        params=[
            ("statuses[]", "acknowledged"),
            ("urgencies[]", "low"),
            ("sort_by", "created_at:desc,incident_number:asc"),
            ("total", "true"),
            *[("include[]", v) for v in every],
        ],
    )
    await update(pd, ident, status="resolved", resolution="done")
    await call(pd, "GET", f"/incidents/{ident}/notes")
    await call(pd, "GET", "/users/me", headers=pd.headers("pd-alice-key"))
    await call(pd, "GET", "/users", params=[("include[]", "teams"), ("total", "true")])
    await call(
        pd,
        "GET",
        "/services",
        params=[("include[]", "escalation_policies"), ("include[]", "teams")],
    )
    await call(
        pd,
        "GET",
        "/escalation_policies",
        params=[("include[]", "targets"), ("include[]", "services"), ("include[]", "teams")],
    )
    await call(pd, "GET", "/schedules")
    await call(pd, "GET", f"/schedules/{pd.schedule('Platform Primary').id}")
    await call(
        pd,
        "GET",
        "/oncalls",
        params=[("include[]", v) for v in ("users", "schedules", "escalation_policies")],
    )
    await call(pd, "GET", "/priorities")
    await call(pd, "GET", "/teams")
    assert all(r.status is not None and r.status < 300 for r in pd.requests), [
        str(r) for r in pd.requests
    ]
    assert pd.violations == []


async def test_fake_without_spec_still_works() -> None:
    async with FakePagerDuty() as bare:
        assert bare.spec is None
        created = await create(bare)
        assert created["status"] == "triggered"
        await call(bare, "GET", "/incidents", params={"statuses[]": "open"})
        assert bare.violations == []  # nothing to check against


def test_seed_helpers_refuse_what_the_api_refuses(pagerduty: FakePagerDuty) -> None:
    pagerduty.seed_incident(service="Payments", incident_key="x")
    with pytest.raises(ValueError, match="Invalid Input Provided"):
        pagerduty.seed_incident(service="Payments", incident_key="x")
    with pytest.raises(KeyError):
        pagerduty.seed_incident(service="Nope")
    with pytest.raises(KeyError):
        pagerduty.seed_incident(priority="P9")
    resolved = pagerduty.seed_incident(status="resolved", created=NOW)
    assert resolved.status == "resolved" and resolved.assignments == []
    assert resolved.created_at == resolved.resolved_at == NOW


async def test_concurrent_requests_do_not_mix_callers(pagerduty: FakePagerDuty) -> None:
    incident = pagerduty.seed_incident()
    path = f"/incidents/{incident.id}/notes"
    senders = ["alice@example.com", "bob@example.com", "carol@example.com"] * 3
    await asyncio.gather(
        *(
            call(
                pagerduty,
                "POST",
                path,
                json={"note": {"content": who}},
                headers=pagerduty.headers(from_email=who),
            )
            for who in senders
        )
    )
    notes = pagerduty.incident(incident.id).notes
    assert len(notes) == 9
    assert all(pagerduty.users[n.user].email == n.content for n in notes)
