"""The Torq fake itself, over real HTTP.

Torq publishes no machine-readable API description, so these tests hold the fake to the
documented behaviour (developers.torq.io/apidocs) and to the conventions its docstring
lists; every fake fails at teardown when a request left the API it imitates.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from .fakes.torq import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_USER,
    FakeTorq,
    torq_time,
)

API = "/v1alpha"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


@dataclass
class Answer:
    status: int
    data: Any
    headers: Any


@pytest.fixture
async def torq() -> AsyncIterator[FakeTorq]:
    async with FakeTorq() as fake:
        yield fake
    fake.assert_no_violations()


async def call(fake: FakeTorq, method: str, path: str, **kw: Any) -> Answer:
    headers = kw.pop("headers", None)
    if headers is None:
        headers = fake.headers()
    async with (
        aiohttp.ClientSession(base_url=fake.url) as session,
        session.request(method, path, headers=headers, allow_redirects=False, **kw) as response,
    ):
        text = await response.text()
        data: Any = text
        if response.content_type == "application/json" and text:
            try:
                data = await response.json()
            except ValueError:
                data = text
        return Answer(response.status, data, response.headers)


def basic(client_id: str = DEFAULT_CLIENT_ID, secret: str = DEFAULT_CLIENT_SECRET) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


async def create(fake: FakeTorq, title: str = "Phishing", **fields: Any) -> dict[str, Any]:
    answer = await call(fake, "POST", f"{API}/cases", json={"title": title, **fields})
    assert answer.status == 200, answer.data
    case: dict[str, Any] = answer.data["case"]
    return case


# -- tokens -------------------------------------------------------------------------------


async def test_token_issued_for_basic_client_credentials(torq: FakeTorq) -> None:
    answer = await call(
        torq,
        "POST",
        "/v1/auth/token",
        headers={"Authorization": basic()},
        data={"grant_type": "client_credentials"},
    )
    assert answer.status == 200
    assert answer.data["expires_in"] == 3600 and answer.data["token_type"] == "Bearer"
    token = answer.data["access_token"]
    assert torq.tokens_issued == 1
    listed = await call(
        torq, "POST", f"{API}/cases/query", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert listed.status == 200 and listed.data == {"cases": [], "next_page_token": ""}


@pytest.mark.parametrize(
    ("headers", "form", "status", "error"),
    [
        ({}, {"grant_type": "client_credentials"}, 401, "invalid_client"),
        (
            {"Authorization": basic(secret="wrong")},
            {"grant_type": "client_credentials"},
            401,
            "invalid_client",
        ),
        ({"Authorization": basic()}, {"grant_type": "password"}, 400, "unsupported_grant_type"),
    ],
)
async def test_token_refusals(
    torq: FakeTorq, headers: dict[str, str], form: dict[str, str], status: int, error: str
) -> None:
    answer = await call(torq, "POST", "/v1/auth/token", headers=headers, data=form)
    assert (answer.status, answer.data["error"]) == (status, error)
    assert torq.tokens_issued == 0


async def test_expired_token_redirects_and_bad_token_is_401(torq: FakeTorq) -> None:
    headers = torq.headers()
    torq.expire_tokens()
    expired = await call(torq, "GET", f"{API}/cases/1", headers=headers)
    assert expired.status == 302 and expired.headers["Location"] == "/login"
    assert expired.data["code"] == 16 or expired.data["message"]
    bad = await call(torq, "GET", f"{API}/cases/1", headers={"Authorization": "Bearer nope"})
    assert bad.status == 401 and bad.data["code"] == 16
    none = await call(torq, "GET", f"{API}/cases/1", headers={})
    assert none.status == 401
    fresh = torq.headers()
    torq.revoke_tokens()
    assert (await call(torq, "GET", f"{API}/cases/1", headers=fresh)).status == 401


async def test_following_the_expiry_redirect_is_a_violation() -> None:
    async with FakeTorq() as fake:
        await call(fake, "GET", "/login", headers={})
        assert len(fake.violations) == 1
        with pytest.raises(AssertionError, match="expired-token redirect"):
            fake.assert_no_violations()


async def test_read_only_client_cannot_write(torq: FakeTorq) -> None:
    torq.add_client("viewer", "s3cret", read_only=True)
    headers = torq.headers("viewer")
    denied = await call(torq, "POST", f"{API}/cases", json={"title": "x"}, headers=headers)
    assert denied.status == 403 and denied.data["code"] == 7
    assert (await call(torq, "POST", f"{API}/cases/query", json={}, headers=headers)).status == 403
    assert torq.cases == {}


# -- cases --------------------------------------------------------------------------------


async def test_create_and_get_case(torq: FakeTorq) -> None:
    case = await create(
        torq,
        "Compromised device",
        description="**malware**",
        severity={"value": "High"},
        state={"value": "In Progress"},
        assignee="john@acme.test",
        reporter={"user": {"email": "jane@acme.test"}},
        category="malware",
        tags=["user", "phishing"],
        sla="86400",
        custom_fields=[{"key": "score", "value": 7, "type": "TYPE_NUMBER"}],
    )
    assert case["id"] == 1 and case["pretty_id"] == "#1"
    assert case["severity"] == {"value": "high"} and case["state"] == {"value": "in progress"}
    assert case["reporter"] == {"kind": "USER", "user": {"email": "jane@acme.test"}}
    assert case["sla"]["value"] == "86400" and case["sla"]["end_time"] is None
    assert (
        TIMESTAMP.fullmatch(case["created_at"]) and case["sla"]["start_time"] == case["created_at"]
    )
    got = await call(torq, "GET", f"{API}/cases/1")
    assert got.data == {"case": case}
    (created,) = torq.timeline(1)
    assert created.kind == "case_created" and created.actor == DEFAULT_USER


async def test_create_defaults_and_refusals(torq: FakeTorq) -> None:
    case = await create(torq)
    assert case["state"] == {"value": "new"} and case["severity"] == {"value": "medium"}
    assert case["reporter"]["user"]["email"] == DEFAULT_USER
    assert case["assignee"] == "" and case["tags"] == [] and case["resolution_summary"] is None
    bad = [
        {},
        {"title": ""},
        {"title": "x", "severity": {"value": "urgent"}},
        {"title": "x", "state": {"value": "pending"}},
        {"title": "x", "deduplication_key": "k"},
        {"title": "x", "assignee": "not-an-email"},
        {"title": "x", "sla": "-1"},
        {"title": "x", "custom_fields": [{"key": "a", "value": "1", "type": "TYPE_NUMBER"}]},
        {"title": "x", "custom_fields": [{"key": "a", "value": "1", "type": "TYPE_UNSPECIFIED"}]},
    ]
    for body in bad:
        answer = await call(torq, "POST", f"{API}/cases", json=body)
        assert answer.status == 400 and answer.data["code"] == 3, body
    assert len(torq.cases) == 1
    text = await call(torq, "POST", f"{API}/cases", data="title=x")
    assert text.status == 400


async def test_custom_states_are_accepted() -> None:
    async with FakeTorq(custom_states=["Awaiting Vendor"]) as fake:
        case = await create(fake, state={"value": "awaiting vendor"})
        assert case["state"] == {"value": "awaiting vendor"}


async def test_unknown_case_and_bad_id(torq: FakeTorq) -> None:
    missing = await call(torq, "GET", f"{API}/cases/99")
    assert missing.status == 404 and missing.data["code"] == 5 and missing.data["details"] == []
    bad = await call(torq, "GET", f"{API}/cases/abc")
    assert bad.status == 400


async def test_patch_changes_present_fields_or_the_mask(torq: FakeTorq) -> None:
    await create(torq, "Before", description="keep", assignee="a@acme.test", tags=["t"])
    plain = await call(torq, "PATCH", f"{API}/cases/1", json={"case": {"title": "After"}})
    assert plain.status == 200
    assert plain.data["case"]["title"] == "After" and plain.data["case"]["description"] == "keep"
    masked = await call(
        torq,
        "PATCH",
        f"{API}/cases/1",
        json={"case": {"state": {"value": "resolved"}}, "update_mask": "state,assignee,tags"},
    )
    case = masked.data["case"]
    assert case["state"] == {"value": "resolved"} and case["assignee"] == "" and case["tags"] == []
    assert TIMESTAMP.fullmatch(case["sla"]["end_time"])
    reopened = await call(
        torq, "PATCH", f"{API}/cases/1", json={"case": {"state": {"value": "in progress"}}}
    )
    assert reopened.data["case"]["sla"]["end_time"] is None
    assert [e.kind for e in torq.timeline(1)] == ["case_created"] + ["case_updated"] * 3
    assert torq.timeline(1)[2].details == {"update_mask": "state,assignee,tags"}
    for body in (
        {"case": {}, "update_mask": "title"},
        {"case": {}, "update_mask": "nope"},
        {"case": {"unknown": 1}},
        {"case": {"title": "x"}, "extra": 1},
    ):
        assert (await call(torq, "PATCH", f"{API}/cases/1", json=body)).status == 400, body
    sla = await call(torq, "PATCH", f"{API}/cases/1", json={"case": {"sla": {"value": "3600"}}})
    assert sla.data["case"]["sla"]["value"] == "3600"


# -- query and paging ---------------------------------------------------------------------


async def test_query_filters(torq: FakeTorq) -> None:
    torq.seed_case("a", severity="high", state="new", tags=["x"], assignee="a@acme.test")
    torq.seed_case("b", severity="low", state="closed", category="malware")
    torq.seed_case(
        "c",
        severity="high",
        custom_fields=[{"key": "score", "value": 5, "type": "TYPE_NUMBER"}],
    )

    async def titles(filters: dict[str, Any]) -> list[str]:
        answer = await call(torq, "POST", f"{API}/cases/query", json={"filters": filters})
        assert answer.status == 200, answer.data
        return [c["title"] for c in answer.data["cases"]]

    assert await titles({}) == ["c", "b", "a"]  # newest first
    assert await titles({"severities": [{"value": "high"}]}) == ["c", "a"]
    assert await titles({"states": [{"value": "Closed"}, {"value": "on hold"}]}) == ["b"]
    assert await titles({"assignees": ["a@acme.test"]}) == ["a"]
    assert await titles({"categories": ["malware"]}) == ["b"]
    assert await titles({"tags": ["x", "y"]}) == ["a"]
    assert await titles({"custom_fields": [{"key": "score", "values": ["5"]}]}) == ["c"]
    second = torq.case(2).created_at
    window = {"start_time": torq_time(second), "end_time": torq_time(torq.case(3).created_at)}
    assert await titles({"created_at": window}) == ["b"]  # start inclusive, end exclusive
    assert await titles({"created_at": {"relative": "RELATIVE_LAST_1_HOUR"}}) == ["c", "b", "a"]
    for bad in ({"text": "x"}, {"severities": [{"value": "urgent"}]}, {"tags": "x"}):
        answer = await call(torq, "POST", f"{API}/cases/query", json={"filters": bad})
        assert answer.status == 400, bad


async def test_query_pages_with_tokens_bound_to_the_filters(torq: FakeTorq) -> None:
    for i in range(5):
        torq.seed_case(f"case {i}")
    body: dict[str, Any] = {"filters": {}, "pageSize": 2}
    seen: list[int] = []
    tokens = []
    while True:
        answer = await call(torq, "POST", f"{API}/cases/query", json=body)
        seen += [c["id"] for c in answer.data["cases"]]
        token = answer.data["next_page_token"]
        if not token:
            break
        tokens.append(token)
        body["pageToken"] = token
    assert seen == [5, 4, 3, 2, 1] and len(tokens) == 2
    other = {"filters": {"tags": ["x"]}, "pageToken": tokens[0]}
    assert (await call(torq, "POST", f"{API}/cases/query", json=other)).status == 400
    garbage = {"filters": {}, "pageToken": "%%%"}
    assert (await call(torq, "POST", f"{API}/cases/query", json=garbage)).status == 400
    capped = await call(torq, "POST", f"{API}/cases/query", json={"pageSize": 1000})
    assert len(capped.data["cases"]) == 5
    snake = await call(torq, "POST", f"{API}/cases/query", json={"page_size": 2})
    assert snake.status == 400  # the fake takes the documented names only


async def test_default_page_size_is_50(torq: FakeTorq) -> None:
    for i in range(51):
        torq.seed_case(f"c{i}")
    answer = await call(torq, "POST", f"{API}/cases/query", json={})
    assert len(answer.data["cases"]) == 50 and answer.data["next_page_token"]


# -- timeline -----------------------------------------------------------------------------


async def test_timeline_comments(torq: FakeTorq) -> None:
    torq.seed_case("with comments")
    added = await call(
        torq,
        "POST",
        f"{API}/cases/1/timeline",
        json={"text": "public", "visibility": {"id": "VISIBILITY_ID_PUBLIC"}},
    )
    event = added.data["comment_event"]
    assert event["case_id"] == 1 and event["added_by"] == {
        "kind": "USER",
        "user": {"email": DEFAULT_USER},
    }
    assert event["comment"]["visibility"] == {"id": "VISIBILITY_ID_PUBLIC"}
    internal = await call(torq, "POST", f"{API}/cases/1/timeline", json={"text": "internal"})
    assert internal.data["comment_event"]["comment"]["visibility"]["id"] == "VISIBILITY_ID_INTERNAL"
    listed = await call(torq, "GET", f"{API}/cases/1/timeline", params={"pageSize": "2"})
    assert [
        next(k for k in e if k in ("comment", "case_created")) for e in listed.data["events"]
    ] == [
        "case_created",
        "comment",
    ]
    rest = await call(
        torq,
        "GET",
        f"{API}/cases/1/timeline",
        params={"pageToken": listed.data["next_page_token"]},
    )
    assert [e["comment"]["text"] for e in rest.data["events"]] == ["internal"]
    assert rest.data["next_page_token"] == ""
    edited = await call(
        torq, "PATCH", f"{API}/cases/1/timeline/{event['id']}", json={"text": "edited"}
    )
    assert edited.data["comment_event"]["comment"]["text"] == "edited"
    assert edited.data["comment_event"]["comment"]["updated_at"] > event["timestamp"]
    created_entry = torq.timeline(1)[0].id
    refused = await call(torq, "DELETE", f"{API}/cases/1/timeline/{created_entry}")
    assert refused.status == 400
    gone = await call(torq, "DELETE", f"{API}/cases/1/timeline/{event['id']}")
    assert gone.status == 200 and gone.data == {}
    again = await call(torq, "DELETE", f"{API}/cases/1/timeline/{event['id']}")
    assert again.status == 404
    assert [e.text for e in torq.timeline(1) if e.kind == "comment"] == ["internal"]
    for body in ({"text": ""}, {"text": "x", "visibility": {"id": "SECRET"}}, {"body": "x"}):
        assert (await call(torq, "POST", f"{API}/cases/1/timeline", json=body)).status == 400
    assert (await call(torq, "POST", f"{API}/cases/9/timeline", json={"text": "x"})).status == 404
    odd = await call(torq, "GET", f"{API}/cases/1/timeline", params={"page_size": "2"})
    assert odd.status == 400


# -- faults, limits, violations ------------------------------------------------------------


async def test_fault_switch(torq: FakeTorq) -> None:
    torq.seed_case("x")
    torq.fail_next(429, retry_after=2, path=f"{API}/cases")
    limited = await call(torq, "GET", f"{API}/cases/1")
    assert limited.status == 429 and limited.headers["Retry-After"] == "2"
    assert limited.data["code"] == 8
    torq.fail_next(302, method="GET")
    assert (await call(torq, "GET", f"{API}/cases/1")).headers["Location"] == "/login"
    torq.fail_next(malformed=True)
    broken = await call(torq, "GET", f"{API}/cases/1")
    assert broken.status == 200 and isinstance(broken.data, str)
    torq.fail_next(502, times=2)
    assert [(await call(torq, "GET", f"{API}/cases/1")).status for _ in range(3)] == [502, 502, 200]
    torq.fail_next(reset=True, method="POST")
    with pytest.raises(aiohttp.ClientConnectionError):
        await call(torq, "POST", f"{API}/cases/1/timeline", json={"text": "lost"})
    assert torq.calls("POST")[-1].status is None  # never answered
    assert [e.kind for e in torq.timeline(1)] == ["case_created"]
    with pytest.raises(ValueError):
        torq.fail_next()


async def test_live_rate_limit_answers_429_with_retry_after() -> None:
    async with FakeTorq(rate_limit=3, rate_window=60) as fake:
        headers = fake.headers()
        statuses = [
            (await call(fake, "POST", f"{API}/cases/query", json={}, headers=headers)).status
            for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        last = fake.calls("POST", f"{API}/cases/query")[-1]
        assert last.status == 429
        answer = await call(fake, "POST", f"{API}/cases/query", json={}, headers=headers)
        assert int(answer.headers["Retry-After"]) >= 1


async def test_rate_window_resets() -> None:
    async with FakeTorq(rate_limit=1, rate_window=0.2) as fake:
        headers = fake.headers()
        assert (
            await call(fake, "POST", f"{API}/cases/query", json={}, headers=headers)
        ).status == 200
        assert (
            await call(fake, "POST", f"{API}/cases/query", json={}, headers=headers)
        ).status == 429
        await asyncio.sleep(0.25)
        assert (
            await call(fake, "POST", f"{API}/cases/query", json={}, headers=headers)
        ).status == 200


async def test_unknown_paths_are_violations() -> None:
    async with FakeTorq() as fake:
        answer = await call(fake, "GET", f"{API}/cases/1/attachments")
        assert answer.status == 404
        assert (await call(fake, "PUT", f"{API}/cases/1")).status == 405
        assert len(fake.violations) == 2
        with pytest.raises(AssertionError, match="2 request"):
            fake.assert_no_violations()


async def test_prefix_and_clock_are_configurable() -> None:
    moment = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    async with FakeTorq(prefix="/public/v1alpha", clock=lambda: moment) as fake:
        answer = await call(fake, "POST", "/public/v1alpha/cases", json={"title": "x"})
        assert answer.data["case"]["created_at"] == "2024-05-01T12:00:00.000000Z"
        second = fake.seed_case("y")
        first = fake.case(answer.data["case"]["id"])
        assert moment == first.created_at < second.created_at < moment + timedelta(seconds=1)
        fake.assert_no_violations()
