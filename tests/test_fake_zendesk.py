"""The Zendesk fake itself, over real HTTP, checked against Zendesk's OpenAPI description.

Every test runs with a fake that fails at teardown when any request or response drifted
from ``support-api.yaml`` (plus the fake's documented ``ERRATA``): so the traffic below
doubles as proof that the fake's answers conform. The description is read from the shared
folder; without it the fake still runs, only the validation is skipped (with a warning).
"""

from __future__ import annotations

import asyncio
import base64
import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from .conftest import SHARED
from .fakes.spec import OpenAPISpec, load_spec
from .fakes.zendesk import ERRATA, FakeZendesk, load_zendesk_spec, parse_search, with_errata

ZENDESK_SPEC = SHARED / "specs" / "zendesk" / "support-api.yaml"
NOW = datetime(2024, 3, 6, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def zendesk_spec() -> OpenAPISpec | None:
    spec = load_zendesk_spec(ZENDESK_SPEC)
    if spec is None:
        message = (
            f"\n{'!' * 78}\n  Zendesk OpenAPI description not found at {ZENDESK_SPEC}\n"
            "  FakeZendesk runs WITHOUT spec validation.\n"
            f"  Set TICKETING_SHARED_DIR to the shared folder.\n{'!' * 78}"
        )
        warnings.warn(message, stacklevel=1)
        print(message)
    return spec


@pytest.fixture
def needs_spec(zendesk_spec: OpenAPISpec | None) -> OpenAPISpec:
    if zendesk_spec is None:
        pytest.skip("the Zendesk OpenAPI description is not available")
    return zendesk_spec


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def zd(zendesk_spec: OpenAPISpec | None) -> AsyncIterator[FakeZendesk]:
    """A fake account with the clock stopped at NOW (``zd.advance`` moves it)."""
    async with FakeZendesk(spec=zendesk_spec, clock=Clock()) as fake:
        yield fake
    fake.assert_no_violations()


@dataclass
class Answer:
    status: int
    data: Any
    headers: Any


async def call(fake: FakeZendesk, method: str, path: str, **kw: Any) -> Answer:
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
            try:
                data = await response.json()
            except ValueError:
                data = text
        return Answer(response.status, data, response.headers)


async def create(fake: FakeZendesk, subject: str = "Printer on fire", **fields: Any) -> Any:
    ticket = {"subject": subject, "comment": {"body": fields.pop("body", "It smokes.")}}
    answer = await call(fake, "POST", "/api/v2/tickets", json={"ticket": {**ticket, **fields}})
    assert answer.status == 201, answer.data
    return answer.data["ticket"]


async def search(fake: FakeZendesk, query: str, **params: Any) -> Answer:
    return await call(fake, "GET", "/api/v2/search", params={"query": query, **params})


def ids(results: list[dict[str, Any]]) -> list[int]:
    return [r["id"] for r in results]


# -- the description ---------------------------------------------------------------------


def test_yaml_description_loads_and_every_erratum_applies(needs_spec: OpenAPISpec) -> None:
    raw = load_spec(ZENDESK_SPEC)
    assert raw is not None and raw.document["openapi"].startswith("3.0")
    assert load_spec(ZENDESK_SPEC) is raw, "parsed once per process"
    assert with_errata(raw) is with_errata(raw) is not raw
    for erratum in ERRATA:
        before: Any = raw.document
        after: Any = needs_spec.document
        for key in erratum.where:
            before, after = before[key], after[key]
        assert before != after, f"erratum no longer applies: {erratum.reason}"
    op, _ = needs_spec.operation("GET", "/api/v2/search") or (None, None)
    assert op is not None and ("query", "page") in op.params


def test_search_parser() -> None:
    terms = parse_search('type:ticket -status:solved subject:"a b" created>=2024-01-01 word')
    assert [(t.negated, t.keyword, t.op, t.value, t.phrase) for t in terms] == [
        (False, "type", ":", "ticket", False),
        (True, "status", ":", "solved", False),
        (False, "subject", ":", "a b", True),
        (False, "created", ">=", "2024-01-01", False),
        (False, None, ":", "word", False),
    ]


# -- auth --------------------------------------------------------------------------------


async def test_auth_schemes(zd: FakeZendesk) -> None:
    assert (await call(zd, "GET", "/api/v2/ticket_fields")).status == 200
    password = base64.b64encode(b"alice@example.com:secret").decode()
    denied = await call(
        zd, "GET", "/api/v2/ticket_fields", headers={"Authorization": f"Basic {password}"}
    )
    assert denied.status == 401 and denied.data == {"error": "Couldn't authenticate you"}
    wrong = await call(zd, "GET", "/api/v2/tickets", headers=zd.headers(token="nope"))
    assert wrong.status == 401
    bearer = {"Authorization": "Bearer zd-oauth-token"}
    assert (await call(zd, "GET", "/api/v2/tickets", headers=bearer)).status == 200
    read_only = {"Authorization": "Bearer zd-read-token"}
    body = {"ticket": {"subject": "x", "comment": {"body": "y"}}}
    refused = await call(zd, "POST", "/api/v2/tickets", headers=read_only, json=body)
    assert refused.status == 403 and refused.data["error"] == "Forbidden"
    end_user = zd.headers(email="carol@example.com")
    assert (await call(zd, "GET", "/api/v2/tickets", headers=end_user)).status == 403


# -- tickets -----------------------------------------------------------------------------


async def test_create_applies_zendesk_rules(zd: FakeZendesk) -> None:
    plain = await create(zd, body="The smoke is very colorful.")
    assert plain["status"] == "new" and plain["description"] == "The smoke is very colorful."
    alice = zd.user("alice@example.com").id
    assert plain["requester_id"] == alice == plain["submitter_id"]
    assert plain["priority"] is None and plain["assignee_id"] is None
    bob = zd.user("bob@example.com")
    assigned = await create(zd, assignee_id=bob.id, priority="high", tags=["Urgent", "a b"])
    assert assigned["status"] == "open", "assigning a new ticket opens it"
    assert assigned["group_id"] == zd.group("Support").id, "the assignee's group"
    assert assigned["tags"] == ["urgent", "a", "b"]
    comments = await call(zd, "GET", f"/api/v2/tickets/{plain['id']}/comments")
    assert [c["body"] for c in comments.data["comments"]] == ["The smoke is very colorful."]


async def test_create_refusals(zd: FakeZendesk) -> None:
    no_comment = await call(zd, "POST", "/api/v2/tickets", json={"ticket": {"subject": "x"}})
    assert no_comment.status == 422 and no_comment.data["error"] == "RecordInvalid"
    assert "description" in no_comment.data["details"]
    zd.violations.clear()  # TicketCreateInput requires comment: the fake saw the drift too
    billing = zd.group("Billing").id
    bob = zd.user("bob@example.com").id
    body = {"subject": "x", "comment": {"body": "y"}, "group_id": billing, "assignee_id": bob}
    outsider = await call(zd, "POST", "/api/v2/tickets", json={"ticket": body})
    assert outsider.status == 422 and "assignee_id" in outsider.data["details"]
    due = {"subject": "x", "comment": {"body": "y"}, "due_at": "2024-04-01T00:00:00Z"}
    not_task = await call(zd, "POST", "/api/v2/tickets", json={"ticket": due})
    assert not_task.status == 422 and "due_at" in not_task.data["details"]
    task = await create(zd, type="task", due_at="2024-04-01T10:00:00Z")
    assert task["due_at"] == "2024-04-01T10:00:00Z"


async def test_update_rules(zd: FakeZendesk) -> None:
    ticket = await create(zd, priority="low")
    path = f"/api/v2/tickets/{ticket['id']}"
    cleared = await call(zd, "PUT", path, json={"ticket": {"priority": None}})
    assert cleared.status == 422
    zd.violations.clear()  # priority is not nullable in the description either
    solved = await call(
        zd, "PUT", path, json={"ticket": {"status": "solved", "comment": {"body": "Done"}}}
    )
    assert solved.status == 200 and solved.data["ticket"]["status"] == "solved"
    assert solved.data["ticket"]["assignee_id"] == zd.user("alice@example.com").id
    assert solved.data["audit"]["ticket_id"] == ticket["id"]
    back = await call(zd, "PUT", path, json={"ticket": {"status": "new"}})
    assert back.status == 422
    await call(zd, "PUT", path, json={"ticket": {"status": "closed"}})
    closed = await call(zd, "PUT", path, json={"ticket": {"subject": "again"}})
    assert closed.status == 422 and "closed" in str(closed.data["details"])
    comments = await call(zd, "GET", f"{path}/comments")
    assert [c["body"] for c in comments.data["comments"]] == ["It smokes.", "Done"]
    missing = await call(zd, "GET", "/api/v2/tickets/999")
    assert missing.status == 404
    assert missing.data == {"error": "RecordNotFound", "description": "Not found"}
    assert (await call(zd, "DELETE", path)).status == 204
    assert (await call(zd, "GET", path)).status == 404


async def test_custom_fields_are_typed(zd: FakeZendesk) -> None:
    effort, vip, team = zd.field("effort").id, zd.field("vip").id, zd.field("team").id
    labels = zd.field("labels").id
    ticket = await create(
        zd,
        custom_fields=[
            {"id": effort, "value": 5},
            {"id": vip, "value": True},
            {"id": team, "value": "payments"},
            {"id": labels, "value": ["red", "blue"]},
            {"id": 999999, "value": "ignored"},
        ],
    )
    values = {f["id"]: f["value"] for f in ticket["custom_fields"]}
    assert values[effort] == "5" and values[vip] is True and values[team] == "payments"
    assert values[labels] == ["red", "blue"] and 999999 not in values
    assert values[zd.field("notes").id] is None
    bad = await call(
        zd,
        "PUT",
        f"/api/v2/tickets/{ticket['id']}",
        json={"ticket": {"custom_fields": [{"id": team, "value": "nope"}]}},
    )
    assert bad.status == 422
    fields = await call(zd, "GET", "/api/v2/ticket_fields")
    by_title = {f["title"]: f for f in fields.data["ticket_fields"]}
    assert by_title["team"]["type"] == "tagger"
    assert [o["value"] for o in by_title["team"]["custom_field_options"]] == [
        "platform",
        "payments",
        "security",
    ]


async def test_show_many_and_list_paging(zd: FakeZendesk) -> None:
    made = [await create(zd, f"t{i}") for i in range(5)]
    many = await call(
        zd,
        "GET",
        "/api/v2/tickets/show_many",
        params={"ids": f"{made[1]['id']},{made[3]['id']},77"},
    )
    assert ids(many.data["tickets"]) == [made[1]["id"], made[3]["id"]]
    first = await call(zd, "GET", "/api/v2/tickets", params={"page[size]": "2"})
    assert ids(first.data["tickets"]) == ids(made[:2]) and first.data["meta"]["has_more"]
    assert "ratelimit-remaining" in first.headers and "zendesk-ratelimit-tickets-index" in (
        first.headers
    )
    cursor = first.data["meta"]["after_cursor"]
    rest = await call(
        zd, "GET", "/api/v2/tickets", params={"page[size]": "10", "page[after]": cursor}
    )
    assert ids(rest.data["tickets"]) == ids(made[2:]) and not rest.data["meta"]["has_more"]
    offset = await call(zd, "GET", "/api/v2/tickets", params={"per_page": "2", "page": "3"})
    assert ids(offset.data["tickets"]) == ids(made[4:]) and offset.data["count"] == 5
    assert offset.data["next_page"] is None and offset.data["previous_page"]
    deep = await call(zd, "GET", "/api/v2/tickets", params={"per_page": "100", "page": "101"})
    assert deep.status == 400 and deep.data["error"] == "InvalidPaginationParameter"


# -- search ------------------------------------------------------------------------------


async def test_search_language(zd: FakeZendesk) -> None:
    bob = zd.user("bob@example.com").id
    a = await create(zd, "Payment failed at checkout", priority="high", tags=["billing"])
    zd.advance(60)
    b = await create(zd, "Login broken", assignee_id=bob, priority="low")
    zd.advance(60)
    c = await create(zd, "Checkout slow", status="pending", type="incident")

    async def found(query: str) -> list[int]:
        answer = await search(zd, f"type:ticket {query}", sort_by="created_at", sort_order="asc")
        assert answer.status == 200, answer.data
        return ids(answer.data["results"])

    assert await found("status:new status:open") == [a["id"], b["id"]], "repeats are ORed"
    assert await found("-status:pending") == [a["id"], b["id"]]
    assert await found(f"assignee_id:{bob}") == [b["id"]]
    assert await found(f"-assignee_id:{bob}") == [a["id"], c["id"]], "no assignee passes"
    assert await found("assignee:none") == [a["id"], c["id"]]
    assert await found("priority>=high") == [a["id"]]
    assert await found("tags:billing") == [a["id"]]
    assert await found('subject:"payment fail"') == [a["id"]], "words match by prefix"
    assert await found("checkout") == [a["id"], c["id"]]
    assert await found("ticket_type:incident") == [c["id"]]
    assert await found("created>=2024-03-06T12:01:00Z") == [b["id"], c["id"]]
    assert await found("created<2024-03-06T12:01:00Z") == [a["id"]]
    assert await found("created>2024-03-05") == [a["id"], b["id"], c["id"]]
    desc = await search(zd, "type:ticket", sort_by="created_at", sort_order="desc")
    assert ids(desc.data["results"]) == [c["id"], b["id"], a["id"]]
    assert desc.data["results"][0]["result_type"] == "ticket"
    count = await call(zd, "GET", "/api/v2/search/count", params={"query": "status<pending"})
    assert count.data == {"count": 2}


async def test_search_pages_and_limit(zd: FakeZendesk) -> None:
    made = [await create(zd, f"paged {i}") for i in range(5)]
    page = await search(zd, "type:ticket paged", sort_by="created_at", per_page=2, page=2)
    assert ids(page.data["results"]) == ids(made)[::-1][2:4]
    assert page.data["count"] == 5 and "page=3" in page.data["next_page"]
    assert "page=1" in page.data["previous_page"]
    past = await search(zd, "type:ticket", per_page=100, page=11)
    assert past.status == 422, "the 1,000-result limit"
    bad_sort = await search(zd, "type:ticket", sort_by="subject")
    assert bad_sort.status == 400


async def test_search_lag_and_unknown_keywords(zendesk_spec: OpenAPISpec | None) -> None:
    async with FakeZendesk(spec=zendesk_spec, clock=Clock(), search_lag=30) as fake:
        await create(fake, "fresh")
        assert (await search(fake, "type:ticket fresh")).data["count"] == 0
        fake.advance(31)
        assert (await search(fake, "type:ticket fresh")).data["count"] == 1
        unknown = await search(fake, "type:ticket colour:red")
        assert unknown.status == 400 and "colour" in unknown.data["description"]
        assert [v.where for v in fake.violations] == ["fake"]


async def test_export_cursor_pages(zd: FakeZendesk) -> None:
    made = []
    for i in range(5):
        made.append(await create(zd, f"exported {i}"))
        zd.advance(1)
    params = {"query": "exported", "filter[type]": "ticket", "page[size]": "2"}
    first = await call(zd, "GET", "/api/v2/search/export", params=params)
    assert ids(first.data["results"]) == ids(made)[::-1][:2], "newest first"
    meta = first.data["meta"]
    assert meta["has_more"] and "page%5Bafter%5D" in first.data["links"]["next"]
    seen = ids(first.data["results"])
    cursor = meta["after_cursor"]
    while cursor:
        answer = await call(
            zd, "GET", "/api/v2/search/export", params={**params, "page[after]": cursor}
        )
        seen += ids(answer.data["results"])
        cursor = answer.data["meta"]["after_cursor"] if answer.data["meta"]["has_more"] else None
    assert seen == ids(made)[::-1]
    other = await call(
        zd,
        "GET",
        "/api/v2/search/export",
        params={**params, "query": "x", "page[after]": meta["after_cursor"]},
    )
    assert other.status == 400
    zd.advance(3601)
    expired = await call(
        zd, "GET", "/api/v2/search/export", params={**params, "page[after]": meta["after_cursor"]}
    )
    assert expired.status == 400 and "expired" in expired.data["description"]
    typed = await call(
        zd, "GET", "/api/v2/search/export", params={**params, "query": "type:ticket x"}
    )
    assert typed.status == 400
    no_type = await call(zd, "GET", "/api/v2/search/export", params={"query": "x"})
    assert no_type.status == 400


# -- faults, rate limits, validation -----------------------------------------------------


async def test_faults_and_rate_limits(zd: FakeZendesk) -> None:
    zd.fail_next(429, retry_after=7, path="/api/v2/search")
    limited = await search(zd, "type:ticket")
    assert limited.status == 429 and limited.headers["Retry-After"] == "7"
    assert limited.data["error"] == "APIRateLimitExceeded"
    assert (await search(zd, "type:ticket")).status == 200
    zd.fail_next(malformed=True, path="/api/v2/tickets")
    broken = await call(zd, "GET", "/api/v2/tickets")
    assert broken.status == 200 and isinstance(broken.data, str)
    # A POST: aiohttp silently retries an idempotent request once after a disconnect.
    zd.fail_next(reset=True, method="POST")
    with pytest.raises(aiohttp.ClientConnectionError):
        await create(zd, "lost")
    assert zd.calls("POST")[-1].status is None and zd.tickets == {}
    zd.set_rate_limit(2)
    first = await call(zd, "GET", "/api/v2/tickets")
    assert first.headers["X-Rate-Limit"] == "2" and first.headers["X-Rate-Limit-Remaining"] == "1"
    await call(zd, "GET", "/api/v2/tickets")
    over = await call(zd, "GET", "/api/v2/tickets")
    assert over.status == 429 and int(over.headers["Retry-After"]) >= 1
    zd.advance(61)
    assert (await call(zd, "GET", "/api/v2/tickets")).status == 200


async def test_drift_is_recorded(zd: FakeZendesk) -> None:
    body = {"ticket": {"subject": "x", "comment": {"body": "y"}, "priority": "p1"}}
    answer = await call(zd, "POST", "/api/v2/tickets", json=body)
    assert answer.status == 422
    if zd.spec is not None:
        assert any("priority" in v.message for v in zd.violations)
    zd.violations.clear()
    await call(zd, "GET", "/api/v2/tickets", params={"sort": "id"})
    if zd.spec is not None:
        assert any("'sort' is not declared" in v.message for v in zd.violations)
    zd.violations.clear()
    await asyncio.sleep(0)
