"""The fake Freshdesk account itself, over real HTTP.

There is no official machine-readable description of Freshdesk's API v2, so what is
asserted here is the documented behaviour a plugin must cope with (Basic auth with the API
key, the validation error body, the 30-day window of ``GET /tickets``, ``Link`` paging, the
filter query language and its 10 x 30 result cap, rate-limit headers and 429s) and the
conventions the fake chose where the documents are silent (see ``FakeFreshdesk``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from .fakes.freshdesk import (
    API,
    FakeFreshdesk,
    Junction,
    QuerySyntaxError,
    Term,
    fd_time,
    parse_query,
)

NOW = datetime(2024, 3, 6, 12, 0, tzinfo=UTC)
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Answer:
    status: int
    data: Any
    headers: Any
    text: str


@pytest.fixture
async def fd() -> AsyncIterator[FakeFreshdesk]:
    async with FakeFreshdesk(clock=Clock()) as fake:
        yield fake
    fake.assert_no_violations()


async def call(
    fake: FakeFreshdesk, method: str, path: str, *, key: str = "fd-alice-key", **kw: Any
) -> Answer:
    headers = kw.pop("headers", None)
    if headers is None:
        headers = fake.headers(key)
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, fake.url + path, headers=headers, **kw) as response,
    ):
        text = await response.text()
        data: Any = text
        if response.content_type == "application/json" and text:
            try:
                data = json.loads(text)
            except ValueError:
                data = text  # a malformed body (fault switch)
        return Answer(response.status, data, response.headers, text)


def search_path(query: str, **params: Any) -> str:
    extra = "".join(f"&{k}={v}" for k, v in params.items())
    return f"{API}/search/tickets?query={quote(chr(34) + query + chr(34))}{extra}"


def errors_of(answer: Answer) -> set[tuple[str | None, str]]:
    assert answer.status == 400, answer.text
    assert answer.data["description"] == "Validation failed"
    return {(e.get("field"), e["code"]) for e in answer.data["errors"]}


async def create(fake: FakeFreshdesk, **fields: Any) -> dict[str, Any]:
    body = {
        "subject": "Printer on fire",
        "description": "<div>It is <b>really</b> on fire</div>",
        "email": "rachel@acme.example",
        **fields,
    }
    body = {k: v for k, v in body.items() if v is not None}  # None: leave the field out
    answer = await call(fake, "POST", f"{API}/tickets", json=body)
    assert answer.status == 201, answer.text
    result: dict[str, Any] = answer.data
    return result


# -- auth and protocol --------------------------------------------------------------------


async def test_basic_auth_with_the_api_key_and_any_password(fd: FakeFreshdesk) -> None:
    ok = await call(fd, "GET", f"{API}/tickets")
    assert ok.status == 200 and ok.data == []
    other = await call(fd, "GET", f"{API}/tickets", headers=fd.headers("fd-alice-key", "secret"))
    assert other.status == 200

    for headers in (
        {},
        fd.headers("wrong-key"),
        {"Authorization": "Bearer fd-alice-key"},
        {"Authorization": "Basic !!notbase64"},
    ):
        denied = await call(fd, "GET", f"{API}/tickets", headers=headers)
        assert denied.status == 401
        assert denied.data == {
            "code": "invalid_credentials",
            "message": "You have to be logged in to perform this action.",
        }
        assert "X-Ratelimit-Total" not in denied.headers


async def test_bearer_only_when_enabled() -> None:
    async with FakeFreshdesk(clock=Clock(), accept_bearer=True) as fake:
        answer = await call(
            fake, "GET", f"{API}/agents/me", headers={"Authorization": "Bearer fd-bob-key"}
        )
        assert answer.status == 200 and answer.data["contact"]["email"] == "bob@example.com"


async def test_protocol_errors(fd: FakeFreshdesk) -> None:
    wrong_type = await call(
        fd,
        "POST",
        f"{API}/tickets",
        data=b"subject=x",
        headers={**fd.headers(), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert wrong_type.status == 415 and wrong_type.data["code"] == "invalid_content_type"

    broken = await call(
        fd,
        "POST",
        f"{API}/tickets",
        data=b"{not json",
        headers={**fd.headers(), "Content-Type": "application/json"},
    )
    assert broken.status == 400
    assert broken.data["errors"] == [
        {"message": "Request body has invalid json format", "code": "invalid_json"}
    ]
    array = await call(fd, "POST", f"{API}/tickets", json=[{"subject": "x"}])
    assert errors_of(array) == {(None, "invalid_json")}

    xml = await call(fd, "GET", f"{API}/tickets", headers={**fd.headers(), "Accept": "text/xml"})
    assert xml.status == 406
    fine = await call(
        fd,
        "GET",
        f"{API}/tickets",
        headers={**fd.headers(), "Accept": "application/json, text/plain"},
    )
    assert fine.status == 200


async def test_unknown_paths_and_methods_are_violations() -> None:
    async with FakeFreshdesk(clock=Clock()) as fake:
        missing = await call(fake, "GET", f"{API}/nothing/here")
        assert missing.status == 404 and missing.text == ""
        patch = await call(fake, "PATCH", f"{API}/tickets/1", json={"status": 4})
        assert patch.status == 405
        assert "PUT" in patch.headers["Allow"] and patch.data["code"] == "method_not_allowed"
        assert len(fake.violations) == 2
        with pytest.raises(AssertionError, match="2 request"):
            fake.assert_no_violations()


# -- create -------------------------------------------------------------------------------


async def test_create_returns_the_ticket_as_freshdesk_renders_it(fd: FakeFreshdesk) -> None:
    answer = await call(
        fd,
        "POST",
        f"{API}/tickets",
        json={
            "subject": "Printer on fire",
            "description": "<div>Flames &amp; smoke<br>since 9am</div>",
            "email": "new.person@example.net",
            "name": "New Person",
            "priority": 4,
            "status": 3,
            "source": 3,
            "type": "Incident",
            "tags": ["printer", "fire", "printer"],
            "custom_fields": {"cf_category": "Hardware", "cf_vip": True, "cf_cost": 12.5},
            "group_id": fd.group("Billing").id,
            "responder_id": fd.agent("alice@example.com").id,
            "cc_emails": ["boss@example.net"],
        },
    )
    assert answer.status == 201, answer.text
    ticket = answer.data
    assert answer.headers["Location"].endswith(f"{API}/tickets/{ticket['id']}")
    assert ticket["id"] == 1
    assert ticket["description"] == "<div>Flames &amp; smoke<br>since 9am</div>"
    assert ticket["description_text"] == "Flames & smoke\nsince 9am"
    assert ticket["tags"] == ["printer", "fire"]
    assert (ticket["priority"], ticket["status"], ticket["source"]) == (4, 3, 3)
    assert ticket["custom_fields"] == {
        "cf_category": "Hardware",
        "cf_reference": None,
        "cf_impact_score": None,
        "cf_vip": True,
        "cf_follow_up": None,
        "cf_cost": 12.5,
        "cf_notes": None,
    }
    assert ticket["created_at"] == ticket["updated_at"] == fd_time(NOW)
    # Urgent: first response in 1 hour, resolution in 4 (the fake's stand-in SLA)
    assert ticket["fr_due_by"] == fd_time(NOW + timedelta(hours=1))
    assert ticket["due_by"] == fd_time(NOW + timedelta(hours=4))
    assert ticket["is_escalated"] is False and ticket["fr_escalated"] is False
    assert ticket["cc_emails"] == ["boss@example.net"]
    assert "deleted" not in ticket
    contact = fd.contact("new.person@example.net")
    assert ticket["requester_id"] == contact.id and contact.name == "New Person"
    assert contact.id > 2**32  # Freshdesk user ids do not fit in 32 bits

    again = await call(fd, "GET", f"{API}/tickets/{ticket['id']}")
    assert again.status == 200 and again.data == ticket


async def test_create_defaults_and_requester_company(fd: FakeFreshdesk) -> None:
    ticket = await create(fd)
    assert (ticket["status"], ticket["priority"], ticket["source"], ticket["type"]) == (
        2,
        1,
        2,
        None,
    )
    assert ticket["company_id"] == fd.company("Acme Corp").id
    assert ticket["requester_id"] == fd.contact("rachel@acme.example").id
    by_id = await create(fd, email=None, requester_id=fd.agent("bob@example.com").id)
    assert by_id["requester_id"] == fd.agent("bob@example.com").id
    assert by_id["company_id"] is None


async def test_create_validation_lists_every_problem(fd: FakeFreshdesk) -> None:
    empty = await call(fd, "POST", f"{API}/tickets", json={})
    assert errors_of(empty) == {
        ("subject", "missing_field"),
        ("description", "missing_field"),
        ("requester_id", "missing_field"),
    }

    bad = await call(
        fd,
        "POST",
        f"{API}/tickets",
        json={
            "subject": "x" * 256,
            "description": "<p>d</p>",
            "email": "not-an-email",
            "priority": 5,
            "status": 9,
            "source": 4,
            "type": "Complaint",
            "tags": ["t" * 33],
            "group_id": 1,
            "responder_id": fd.contact("sam@example.org").id,
            "product_id": 7,
            "unknown": 1,
            "id": 5,
            "custom_fields": {
                "cf_category": "Furniture",
                "cf_vip": "yes",
                "cf_impact_score": 1.5,
                "cf_follow_up": "next week",
                "cf_missing": 1,
            },
        },
    )
    assert errors_of(bad) == {
        ("subject", "invalid_value"),
        ("email", "invalid_value"),
        ("priority", "invalid_value"),
        ("status", "invalid_value"),
        ("source", "invalid_value"),
        ("type", "invalid_value"),
        ("tags", "invalid_value"),
        ("group_id", "invalid_value"),
        ("responder_id", "invalid_value"),
        ("product_id", "invalid_value"),
        ("unknown", "invalid_field"),
        ("id", "invalid_field"),
        ("custom_fields.cf_category", "invalid_value"),
        ("custom_fields.cf_vip", "datatype_mismatch"),
        ("custom_fields.cf_impact_score", "datatype_mismatch"),
        ("custom_fields.cf_follow_up", "invalid_value"),
        ("custom_fields.cf_missing", "invalid_field"),
    }
    messages = {e["field"]: e["message"] for e in bad.data["errors"]}
    assert messages["priority"] == "It should be one of these values: '1,2,3,4'"
    assert messages["unknown"] == "Unexpected/invalid field in request"
    assert messages["custom_fields.cf_vip"] == (
        "Value set is of type String.It should be a/an Boolean"
    )

    types = await call(
        fd,
        "POST",
        f"{API}/tickets",
        json={"subject": 1, "description": "d", "requester_id": "12", "priority": "3", "tags": "a"},
    )
    assert errors_of(types) == {
        ("subject", "datatype_mismatch"),
        ("requester_id", "datatype_mismatch"),
        ("priority", "datatype_mismatch"),
        ("tags", "datatype_mismatch"),
    }
    assert fd.tickets == {}


async def test_create_requesters(fd: FakeFreshdesk) -> None:
    unknown = await call(
        fd,
        "POST",
        f"{API}/tickets",
        json={"subject": "s", "description": "d", "requester_id": 99},
    )
    assert errors_of(unknown) == {("requester_id", "invalid_value")}
    phone = await call(
        fd, "POST", f"{API}/tickets", json={"subject": "s", "description": "d", "phone": "555"}
    )
    assert errors_of(phone) == {("name", "missing_field")}
    named = await create(fd, email=None, phone="555", name="Phone Caller")
    assert fd.contacts[named["requester_id"]].name == "Phone Caller"
    again = await create(fd, email=None, phone="555")
    assert again["requester_id"] == named["requester_id"]


async def test_required_custom_fields(fd: FakeFreshdesk) -> None:
    fd.add_ticket_field("cf_customer_ref", "custom_text", required_for_agents=True)
    fd.add_ticket_field("cf_root_cause", "custom_text", required_for_closure=True)
    missing = await call(
        fd,
        "POST",
        f"{API}/tickets",
        json={"subject": "s", "description": "d", "email": "sam@example.org"},
    )
    assert errors_of(missing) == {("custom_fields.cf_customer_ref", "missing_field")}
    ticket = await create(fd, custom_fields={"cf_customer_ref": "R-1"})
    close = await call(fd, "PUT", f"{API}/tickets/{ticket['id']}", json={"status": 5})
    assert errors_of(close) == {("custom_fields.cf_root_cause", "missing_field")}
    closed = await call(
        fd,
        "PUT",
        f"{API}/tickets/{ticket['id']}",
        json={"status": 5, "custom_fields": {"cf_root_cause": "toner"}},
    )
    assert closed.status == 200 and closed.data["status"] == 5


async def test_due_dates(fd: FakeFreshdesk) -> None:
    later = NOW + timedelta(days=2)
    ticket = await create(fd, due_by=fd_time(later), fr_due_by=fd_time(NOW + timedelta(hours=2)))
    assert ticket["due_by"] == fd_time(later)
    assert ticket["fr_due_by"] == fd_time(NOW + timedelta(hours=2))

    inverted = await call(
        fd,
        "POST",
        f"{API}/tickets",
        json={
            "subject": "s",
            "description": "d",
            "email": "sam@example.org",
            "due_by": fd_time(NOW + timedelta(hours=1)),
            "fr_due_by": fd_time(NOW + timedelta(hours=3)),
        },
    )
    assert errors_of(inverted) == {("fr_due_by", "invalid_value")}
    past = await call(
        fd,
        "POST",
        f"{API}/tickets",
        json={
            "subject": "s",
            "description": "d",
            "email": "sam@example.org",
            "due_by": fd_time(NOW - timedelta(hours=1)),
        },
    )
    assert errors_of(past) == {("due_by", "invalid_value")}
    closed = await call(
        fd,
        "POST",
        f"{API}/tickets",
        json={
            "subject": "s",
            "description": "d",
            "email": "sam@example.org",
            "status": 4,
            "due_by": fd_time(later),
        },
    )
    assert errors_of(closed) == {("due_by", "invalid_value")}
    garbage = await call(fd, "PUT", f"{API}/tickets/{ticket['id']}", json={"due_by": "soon"})
    assert errors_of(garbage) == {("due_by", "invalid_value")}
    # only fr_due_by given: checked against the stored, explicit due_by
    late_first = await call(
        fd,
        "PUT",
        f"{API}/tickets/{ticket['id']}",
        json={"fr_due_by": fd_time(later + timedelta(hours=1))},
    )
    assert errors_of(late_first) == {("fr_due_by", "invalid_value")}

    # due dates that were not set follow the priority; explicit ones stay
    sla = await create(fd)
    assert sla["due_by"] == fd_time(NOW + timedelta(hours=72))
    raised = await call(fd, "PUT", f"{API}/tickets/{sla['id']}", json={"priority": 3})
    assert raised.data["due_by"] == fd_time(NOW + timedelta(hours=24))
    assert raised.data["fr_due_by"] == fd_time(NOW + timedelta(hours=4))
    kept = await call(fd, "PUT", f"{API}/tickets/{ticket['id']}", json={"priority": 4})
    assert kept.data["due_by"] == fd_time(later)


async def test_escalation_flags_follow_the_clock(fd: FakeFreshdesk) -> None:
    ticket = await create(fd, priority=4)
    fd.advance(2 * 3600)
    answer = await call(fd, "GET", f"{API}/tickets/{ticket['id']}")
    assert answer.data["fr_escalated"] is True and answer.data["is_escalated"] is False
    fd.advance(3 * 3600)
    answer = await call(fd, "GET", f"{API}/tickets/{ticket['id']}")
    assert answer.data["is_escalated"] is True


# -- get, update, delete ------------------------------------------------------------------


async def test_get_with_includes_costs_credits(fd: FakeFreshdesk) -> None:
    ticket = fd.seed_ticket("Broken", requester="rachel@acme.example")
    for n in range(12):
        fd.add_conversation(
            ticket,
            f"<p>reply {n}</p>",
            user="alice@example.com",
            created_at=NOW + timedelta(minutes=n),
        )
    plain = await call(fd, "GET", f"{API}/tickets/{ticket.id}")
    assert plain.headers["X-Ratelimit-Used-CurrentRequest"] == "1"
    assert not {"requester", "stats", "company", "conversations"} & set(plain.data)

    full = await call(
        fd, "GET", f"{API}/tickets/{ticket.id}?include=requester,company,stats,conversations"
    )
    assert full.status == 200
    assert full.headers["X-Ratelimit-Used-CurrentRequest"] == "5"
    rachel = fd.contact("rachel@acme.example")
    assert full.data["requester"] == {
        "id": rachel.id,
        "name": "Rachel Requester",
        "email": "rachel@acme.example",
        "mobile": None,
        "phone": None,
    }
    assert full.data["company"] == {"id": fd.company("Acme Corp").id, "name": "Acme Corp"}
    assert full.data["stats"]["first_responded_at"] == fd_time(NOW)
    bodies = [c["body_text"] for c in full.data["conversations"]]
    assert bodies == [f"reply {n}" for n in range(10)]

    bad = await call(fd, "GET", f"{API}/tickets/{ticket.id}?include=watchers")
    assert errors_of(bad) == {("include", "invalid_value")}
    stray = await call(fd, "GET", f"{API}/tickets/{ticket.id}?expand=all")
    assert errors_of(stray) == {("expand", "invalid_field")}


async def test_missing_tickets_are_404_without_a_body(fd: FakeFreshdesk) -> None:
    for method, path in (
        ("GET", f"{API}/tickets/4242"),
        ("PUT", f"{API}/tickets/4242"),
        ("DELETE", f"{API}/tickets/4242"),
        ("GET", f"{API}/tickets/abc"),
    ):
        answer = await call(fd, method, path, json={"status": 2} if method == "PUT" else None)
        assert answer.status == 404 and answer.text == "", (method, path)
        if path.endswith("abc"):
            fd.violations.clear()  # a non-numeric id matches no route: recorded as such


async def test_update(fd: FakeFreshdesk) -> None:
    ticket = await create(
        fd, tags=["a", "b"], custom_fields={"cf_category": "Hardware", "cf_reference": "R1"}
    )
    fd.advance(60)
    answer = await call(
        fd,
        "PUT",
        f"{API}/tickets/{ticket['id']}",
        json={
            "subject": "Printer fixed",
            "tags": ["c"],
            "custom_fields": {"cf_reference": None, "cf_impact_score": 3},
            "responder_id": fd.agent("bob@example.com").id,
            "status": 4,
        },
    )
    assert answer.status == 200, answer.text
    updated = answer.data
    assert updated["subject"] == "Printer fixed"
    assert updated["tags"] == ["c"]
    assert updated["custom_fields"]["cf_category"] == "Hardware"
    assert updated["custom_fields"]["cf_reference"] is None
    assert updated["custom_fields"]["cf_impact_score"] == 3
    assert updated["updated_at"] == fd_time(NOW + timedelta(seconds=60))
    assert updated["created_at"] == fd_time(NOW)
    stats = (await call(fd, "GET", f"{API}/tickets/{ticket['id']}?include=stats")).data["stats"]
    assert stats["resolved_at"] == fd_time(NOW + timedelta(seconds=60))

    fd.advance(60)
    reopened = await call(fd, "PUT", f"{API}/tickets/{ticket['id']}", json={"status": 2})
    assert reopened.status == 200
    stats = (await call(fd, "GET", f"{API}/tickets/{ticket['id']}?include=stats")).data["stats"]
    assert stats["reopened_at"] == fd_time(NOW + timedelta(seconds=120))

    fd.advance(60)
    unchanged = await call(fd, "PUT", f"{API}/tickets/{ticket['id']}", json={})
    assert unchanged.status == 200
    assert unchanged.data["updated_at"] == fd_time(NOW + timedelta(seconds=120))

    cc = await call(fd, "PUT", f"{API}/tickets/{ticket['id']}", json={"cc_emails": ["a@b.cd"]})
    assert errors_of(cc) == {("cc_emails", "invalid_field")}

    moved = await call(
        fd, "PUT", f"{API}/tickets/{ticket['id']}", json={"email": "someone@new.example"}
    )
    assert moved.data["requester_id"] == fd.contact("someone@new.example").id
    assert moved.data["company_id"] is None


async def test_delete_and_restore(fd: FakeFreshdesk) -> None:
    ticket = await create(fd)
    gone = await call(fd, "DELETE", f"{API}/tickets/{ticket['id']}")
    assert gone.status == 204
    shown = await call(fd, "GET", f"{API}/tickets/{ticket['id']}")
    assert shown.status == 200 and shown.data["deleted"] is True
    blocked = await call(fd, "PUT", f"{API}/tickets/{ticket['id']}", json={"priority": 2})
    assert blocked.status == 404
    listed = await call(fd, "GET", f"{API}/tickets?filter=deleted")
    assert [t["id"] for t in listed.data] == [ticket["id"]]
    assert (await call(fd, "PUT", f"{API}/tickets/{ticket['id']}/restore")).status == 204
    assert "deleted" not in (await call(fd, "GET", f"{API}/tickets/{ticket['id']}")).data


async def test_ticket_scope(fd: FakeFreshdesk) -> None:
    carol = fd.agent("carol@example.com")
    mine = fd.seed_ticket("Mine", responder="carol@example.com")
    support = fd.seed_ticket("Support queue", group="Support")
    other = fd.seed_ticket("Billing queue", group="Billing")
    denied = await call(fd, "GET", f"{API}/tickets/{other.id}", key="fd-carol-key")
    assert denied.status == 403
    assert denied.data == {
        "code": "access_denied",
        "message": "You are not authorized to perform this action.",
    }
    assert (await call(fd, "GET", f"{API}/tickets/{mine.id}", key="fd-carol-key")).status == 200
    carol_sees = await call(fd, "GET", f"{API}/tickets", key="fd-carol-key")
    assert [t["id"] for t in carol_sees.data] == [mine.id]
    bob_sees = await call(fd, "GET", f"{API}/tickets", key="fd-bob-key")
    assert {t["id"] for t in bob_sees.data} == {support.id}
    assert carol.ticket_scope == 3
    found = await call(fd, "GET", search_path("status:2"), key="fd-carol-key")
    assert found.data["total"] == 1


# -- list ---------------------------------------------------------------------------------


async def test_list_window_filters_and_order(fd: FakeFreshdesk) -> None:
    old = fd.seed_ticket("Old", created_at=timedelta(days=40), updated_at=timedelta(days=1))
    older = fd.seed_ticket("Older", created_at=timedelta(days=50), updated_at=timedelta(days=45))
    recent = fd.seed_ticket("Recent", created_at=timedelta(days=2), priority=4)
    newest = fd.seed_ticket("Newest", created_at=timedelta(hours=1), requester="sam@example.org")
    fd.seed_ticket("Spam", created_at=timedelta(hours=2), spam=True)
    fd.seed_ticket("Trash", created_at=timedelta(hours=3), deleted=True)

    default = await call(fd, "GET", f"{API}/tickets")
    assert [t["id"] for t in default.data] == [newest.id, recent.id]
    assert "description" not in default.data[0]
    assert default.headers["X-Ratelimit-Used-CurrentRequest"] == "1"

    since = fd_time(NOW - timedelta(days=3))
    updated = await call(fd, "GET", f"{API}/tickets?updated_since={since}&order_type=asc")
    assert [t["id"] for t in updated.data] == [old.id, recent.id, newest.id]
    assert older.id not in [t["id"] for t in updated.data]

    by_requester = await call(
        fd, "GET", f"{API}/tickets?requester_id={fd.contact('sam@example.org').id}"
    )
    assert [t["id"] for t in by_requester.data] == [newest.id]
    by_email = await call(fd, "GET", f"{API}/tickets?email=SAM%40example.org")
    assert [t["id"] for t in by_email.data] == [newest.id]
    nobody = await call(fd, "GET", f"{API}/tickets?email=nobody%40example.org")
    assert nobody.status == 200 and nobody.data == []
    by_company = await call(fd, "GET", f"{API}/tickets?company_id={fd.company('Acme Corp').id}")
    assert [t["id"] for t in by_company.data] == [recent.id]
    spam = await call(fd, "GET", f"{API}/tickets?filter=spam")
    assert [t["subject"] for t in spam.data] == ["Spam"]

    by_due = await call(fd, "GET", f"{API}/tickets?order_by=due_by&order_type=asc")
    assert [t["id"] for t in by_due.data] == [recent.id, newest.id]

    with_description = await call(fd, "GET", f"{API}/tickets?include=description,stats")
    assert with_description.data[0]["description_text"] == "Details about the issue"
    assert "stats" in with_description.data[0]
    assert with_description.headers["X-Ratelimit-Used-CurrentRequest"] == "5"


async def test_list_views_for_the_caller(fd: FakeFreshdesk) -> None:
    unassigned = fd.seed_ticket("Unassigned")
    mine = fd.seed_ticket("Mine", responder="alice@example.com")
    fd.seed_ticket("Bob's", responder="bob@example.com")
    fd.seed_ticket("Pending", status=3)
    watched = fd.seed_ticket("Watched", status=4, watchers=["alice@example.com"])
    new_and_mine = await call(fd, "GET", f"{API}/tickets?filter=new_and_my_open")
    assert {t["id"] for t in new_and_mine.data} == {unassigned.id, mine.id}
    watching = await call(fd, "GET", f"{API}/tickets?filter=watching")
    assert [t["id"] for t in watching.data] == [watched.id]


async def test_list_paging_with_the_link_header(fd: FakeFreshdesk) -> None:
    for n in range(7):
        fd.seed_ticket(f"T{n}", created_at=timedelta(minutes=10 - n))
    seen: list[int] = []
    path: str | None = f"{API}/tickets?per_page=3&order_type=asc"
    pages = 0
    while path is not None:
        answer = await call(fd, "GET", path)
        assert answer.status == 200
        seen += [t["id"] for t in answer.data]
        pages += 1
        link = answer.headers.get("Link")
        if link is None:
            path = None
        else:
            match = re.fullmatch(r'<(.+)>; rel="next"', link)
            assert match is not None, link
            assert match.group(1).startswith(fd.url)
            path = match.group(1)[len(fd.url) :]
    assert seen == sorted(fd.tickets) and pages == 3

    exact = await call(fd, "GET", f"{API}/tickets?per_page=7")
    assert len(exact.data) == 7 and "Link" not in exact.headers
    beyond = await call(fd, "GET", f"{API}/tickets?per_page=7&page=2")
    assert beyond.data == []

    bad = await call(
        fd, "GET", f"{API}/tickets?per_page=101&page=0&filter=all&order_by=id&order_type=up&x=1"
    )
    assert errors_of(bad) == {
        ("per_page", "invalid_value"),
        ("page", "invalid_value"),
        ("filter", "invalid_value"),
        ("order_by", "invalid_value"),
        ("order_type", "invalid_value"),
        ("x", "invalid_field"),
    }


# -- search -------------------------------------------------------------------------------


def test_parse_query() -> None:
    node = parse_query("(priority:3 OR status:2) AND tag:'x y' OR cf_vip:true")
    assert isinstance(node, Junction) and node.op == "OR"
    first = node.parts[0]
    assert isinstance(first, Junction) and first.op == "AND"
    assert node.parts[1] == Term("cf_vip", ":", "bool", True)
    assert parse_query("created_at:>'2024-01-01'") == Term(
        "created_at", ">", "string", "2024-01-01"
    )
    assert parse_query(r"tag:'it\'s'") == Term("tag", ":", "string", "it's")
    assert parse_query("agent_id:null") == Term("agent_id", ":", "null", None)
    assert parse_query("cf_cost:<2.5") == Term("cf_cost", "<", "number", 2.5)
    for broken in (
        "",
        "priority:",
        "priority:3 AND",
        "(status:2",
        "status:2)",
        "priority 3",
        "priority:3 and status:2",
        "priority:3status:2",
        "tag:x",
    ):
        with pytest.raises(QuerySyntaxError):
            parse_query(broken)


async def test_search_language(fd: FakeFreshdesk) -> None:
    a = fd.seed_ticket(
        "A",
        priority=3,
        tags=["VIP", "printer"],
        type="Incident",
        responder="alice@example.com",
        custom_fields={"cf_category": "Hardware", "cf_impact_score": 7, "cf_vip": True},
        created_at=datetime(2024, 3, 1, 23, 30, tzinfo=UTC),
    )
    b = fd.seed_ticket(
        "B",
        priority=1,
        status=3,
        group="Billing",
        custom_fields={"cf_follow_up": "2024-03-10", "cf_cost": 2.5},
        created_at=datetime(2024, 3, 2, 8, 0, tzinfo=UTC),
    )
    c = fd.seed_ticket(
        "C", priority=4, tags=["printer"], created_at=datetime(2024, 3, 3, tzinfo=UTC)
    )
    fd.seed_ticket("Spam", priority=3, spam=True)
    fd.seed_ticket("Deleted", priority=3, deleted=True)

    async def ids(query: str) -> list[int]:
        answer = await call(fd, "GET", search_path(query))
        assert answer.status == 200, (query, answer.text)
        assert answer.data["total"] == len(answer.data["results"])
        return [t["id"] for t in answer.data["results"]]

    assert await ids("priority:3") == [a.id]
    # :> and :< include the value itself (>= and <=)
    assert await ids("priority:>3 OR status:3") == [c.id, b.id, a.id]
    assert await ids("priority:>4") == [c.id]
    assert await ids("priority:<2") == [b.id]
    assert await ids("tag:'printer'") == [c.id, a.id]
    assert await ids("tag:'vip'") == [a.id]
    assert await ids("tag:null") == [b.id]
    assert await ids("agent_id:null AND group_id:null") == [c.id]
    assert await ids(f"agent_id:{fd.agent('alice@example.com').id}") == [a.id]
    assert await ids("type:'incident'") == [a.id]
    assert await ids("(priority:3 OR priority:4) AND tag:'printer'") == [c.id, a.id]
    assert await ids("priority:1 OR priority:3 AND tag:'nothing'") == [b.id]
    assert await ids("created_at:'2024-03-01'") == [a.id]
    assert await ids("created_at:>'2024-03-02' AND created_at:<'2024-03-02'") == [b.id]
    assert await ids("created_at:>'2024-03-01T23:45:00Z'") == [c.id, b.id]
    assert await ids("cf_category:'Hardware'") == [a.id]
    assert await ids("cf_impact_score:>5") == [a.id]
    assert await ids("cf_vip:true") == [a.id]
    assert await ids("cf_follow_up:>'2024-03-09'") == [b.id]
    assert await ids("cf_cost:<3") == [b.id]
    assert await ids("cf_reference:null AND priority:4") == [c.id]

    first = (await call(fd, "GET", search_path("priority:3"))).data["results"][0]
    assert "description" not in first and first["custom_fields"]["cf_vip"] is True


async def test_search_validation(fd: FakeFreshdesk) -> None:
    async def problems(path: str) -> set[tuple[str | None, str]]:
        return errors_of(await call(fd, "GET", path))

    assert await problems(f"{API}/search/tickets") == {("query", "missing_field")}
    assert await problems(f"{API}/search/tickets?query=priority:3") == {("query", "invalid_value")}
    assert await problems(f"{API}/search/tickets?query='priority:3'") == {
        ("query", "invalid_value")
    }
    long_query = " OR ".join(["priority:3"] * 40)
    assert len(long_query) > 512
    assert await problems(search_path(long_query)) == {("query", "invalid_value")}
    assert await problems(search_path("priority:3 AND")) == {("query", "invalid_value")}
    assert await problems(search_path("subject:'x'")) == {("subject", "invalid_field")}
    assert await problems(search_path("Priority:3")) == {("Priority", "invalid_field")}
    assert await problems(search_path("cf_notes:'x'")) == {("cf_notes", "invalid_field")}
    assert await problems(search_path("priority:'3'")) == {("priority", "datatype_mismatch")}
    assert await problems(search_path("priority:9")) == {("priority", "invalid_value")}
    assert await problems(search_path("tag:>'a'")) == {("tag", "invalid_value")}
    assert await problems(search_path("created_at:'yesterday'")) == {
        ("created_at", "invalid_value")
    }
    assert await problems(search_path("cf_category:'Furniture'")) == {
        ("cf_category", "invalid_value")
    }
    assert await problems(search_path("priority:3", page=11)) == {("page", "invalid_value")}
    assert await problems(search_path("priority:3", order_by="created_at")) == {
        ("order_by", "invalid_field")
    }
    ok = await call(fd, "GET", search_path("priority:3", per_page=100))
    assert ok.status == 200


async def test_search_pages_cap_at_300(fd: FakeFreshdesk) -> None:
    for n in range(305):
        fd.seed_ticket(f"T{n}", priority=2, created_at=timedelta(minutes=n))
    first = await call(fd, "GET", search_path("priority:2"))
    assert first.data["total"] == 305 and len(first.data["results"]) == 30
    assert first.data["results"][0]["subject"] == "T0"  # newest first
    tenth = await call(fd, "GET", search_path("priority:2", page=10))
    assert len(tenth.data["results"]) == 30
    assert tenth.data["results"][-1]["subject"] == "T299"
    assert "Link" not in tenth.headers


async def test_search_lag() -> None:
    async with FakeFreshdesk(clock=Clock(), search_lag=120) as fake:
        fake.seed_ticket("Fresh", priority=4)
        assert (await call(fake, "GET", search_path("priority:4"))).data["total"] == 0
        fake.advance(120)
        assert (await call(fake, "GET", search_path("priority:4"))).data["total"] == 1


# -- metadata and people ------------------------------------------------------------------


async def test_ticket_fields(fd: FakeFreshdesk) -> None:
    answer = await call(fd, "GET", f"{API}/ticket_fields")
    assert answer.status == 200
    by_name = {f["name"]: f for f in answer.data}
    assert [f["position"] for f in answer.data] == sorted(f["position"] for f in answer.data)
    assert by_name["status"]["choices"] == {
        "2": ["Open", "Being Processed"],
        "3": ["Pending", "Awaiting your Reply"],
        "4": ["Resolved", "This ticket has been Resolved"],
        "5": ["Closed", "This ticket has been Closed"],
    }
    assert by_name["priority"]["choices"] == {"Low": 1, "Medium": 2, "High": 3, "Urgent": 4}
    assert by_name["source"]["choices"]["Chat"] == 7
    assert "Incident" in by_name["ticket_type"]["choices"]
    assert by_name["group"]["choices"]["Billing"] == fd.group("Billing").id
    assert by_name["cf_category"]["type"] == "custom_dropdown"
    assert by_name["cf_category"]["choices"] == ["Hardware", "Software", "Network"]
    assert by_name["cf_category"]["default"] is False and by_name["subject"]["default"] is True
    assert by_name["cf_notes"]["type"] == "custom_paragraph"

    fd.add_status(6, "Waiting on Customer")
    only = await call(fd, "GET", f"{API}/ticket_fields?type=default_status")
    assert [f["name"] for f in only.data] == ["status"]
    assert only.data[0]["choices"]["6"] == ["Waiting on Customer", "Waiting on Customer"]
    created = await create(fd, status=6)
    assert created["status"] == 6
    assert errors_of(await call(fd, "GET", f"{API}/ticket_fields?type=weird")) == {
        ("type", "invalid_value")
    }


async def test_people(fd: FakeFreshdesk) -> None:
    me = await call(fd, "GET", f"{API}/agents/me", key="fd-bob-key")
    assert me.data["contact"]["email"] == "bob@example.com"
    assert me.data["group_ids"] == [fd.group("Support").id]
    by_email = await call(fd, "GET", f"{API}/agents?email=carol%40example.com")
    assert [a["id"] for a in by_email.data] == [fd.agent("carol@example.com").id]
    agent = await call(fd, "GET", f"{API}/agents/{fd.agent('alice@example.com').id}")
    assert agent.data["contact"]["name"] == "Alice Admin"

    contacts = await call(fd, "GET", f"{API}/contacts?email=rachel%40acme.example")
    assert [c["name"] for c in contacts.data] == ["Rachel Requester"]
    assert contacts.data[0]["company_id"] == fd.company("Acme Corp").id
    as_contact = await call(fd, "GET", f"{API}/contacts/{fd.agent('alice@example.com').id}")
    assert as_contact.status == 404

    groups = await call(fd, "GET", f"{API}/groups?per_page=1")
    assert len(groups.data) == 1 and 'rel="next"' in groups.headers["Link"]
    group = await call(fd, "GET", f"{API}/groups/{fd.group('Support').id}")
    assert len(group.data["agent_ids"]) == 2
    company = await call(fd, "GET", f"{API}/companies/{fd.company('Acme Corp').id}")
    assert company.data["domains"] == ["acme.example"]
    assert (await call(fd, "GET", f"{API}/companies/1")).status == 404
    conversations = await call(fd, "GET", f"{API}/tickets/{fd.seed_ticket().id}/conversations")
    assert conversations.status == 200 and conversations.data == []


# -- rate limits, faults, log -------------------------------------------------------------


async def test_rate_limit_per_account(fd: FakeFreshdesk) -> None:
    fd.set_rate_limit(4)
    first = await call(fd, "GET", f"{API}/tickets")
    assert first.headers["X-Ratelimit-Total"] == "4"
    assert first.headers["X-Ratelimit-Remaining"] == "3"
    assert first.headers["X-Ratelimit-Used-CurrentRequest"] == "1"
    invalid = await call(fd, "GET", f"{API}/tickets?per_page=500", key="fd-bob-key")
    assert invalid.status == 400 and invalid.headers["X-Ratelimit-Remaining"] == "2"
    fd.advance(15)
    await call(fd, "GET", f"{API}/ticket_fields")
    await call(fd, "GET", f"{API}/agents/me")
    limited = await call(fd, "GET", f"{API}/tickets", key="fd-carol-key")
    assert limited.status == 429
    assert limited.headers["Retry-After"] == "45"
    assert limited.headers["X-Ratelimit-Remaining"] == "0"
    assert limited.data["code"] == "rate_limit_exceeded"
    fd.advance(45)
    assert (await call(fd, "GET", f"{API}/tickets")).status == 200


async def test_rate_sub_limits_and_include_credits(fd: FakeFreshdesk) -> None:
    fd.set_rate_limit(10, create=1)
    await create(fd)
    second = await call(
        fd,
        "POST",
        f"{API}/tickets",
        json={"subject": "s", "description": "d", "email": "sam@example.org"},
    )
    assert second.status == 429 and "Retry-After" in second.headers
    heavy = await call(fd, "GET", f"{API}/tickets?include=stats,requester,description")
    assert heavy.headers["X-Ratelimit-Used-CurrentRequest"] == "7"
    too_heavy = await call(fd, "GET", f"{API}/tickets?include=stats")
    assert too_heavy.status == 429


async def test_fault_switch(fd: FakeFreshdesk) -> None:
    fd.fail_next(429, retry_after=7, path=f"{API}/search")
    limited = await call(fd, "GET", search_path("priority:1"))
    assert limited.status == 429 and limited.headers["Retry-After"] == "7"
    assert limited.headers["X-Ratelimit-Remaining"] == "0"
    assert (await call(fd, "GET", search_path("priority:1"))).status == 200

    fd.fail_next(500, times=2, method="GET")
    assert (await call(fd, "GET", f"{API}/tickets")).status == 500
    assert (await call(fd, "GET", f"{API}/tickets")).data["code"] == "internal_error"
    assert (await call(fd, "GET", f"{API}/tickets")).status == 200

    fd.fail_next(404)
    missing = await call(fd, "GET", f"{API}/tickets")
    assert missing.status == 404 and missing.text == ""
    fd.fail_next(503)
    assert (await call(fd, "GET", f"{API}/tickets")).status == 503

    fd.fail_next(malformed=True)
    broken = await call(fd, "GET", f"{API}/tickets")
    assert broken.status == 200 and broken.headers["Content-Type"].startswith("application/json")
    assert isinstance(broken.data, str)

    # a POST: aiohttp itself retries an idempotent request once after a disconnect
    fd.fail_next(reset=True, method="POST")
    with pytest.raises(aiohttp.ClientConnectionError):
        await create(fd)
    assert fd.calls("POST")[-1].status is None  # never answered
    assert fd.tickets == {} and fd.faults == []

    fd.fail_next(delay=0.2)
    started = asyncio.get_running_loop().time()
    assert (await call(fd, "GET", f"{API}/tickets")).status == 200
    assert asyncio.get_running_loop().time() - started >= 0.2

    with pytest.raises(ValueError):
        fd.fail_next()


async def test_request_log(fd: FakeFreshdesk) -> None:
    ticket = await create(fd)
    await call(fd, "PUT", f"{API}/tickets/{ticket['id']}", json={"priority": 2})
    await call(fd, "GET", f"{API}/tickets/{ticket['id']}?include=stats")
    puts = fd.calls("PUT", f"{API}/tickets")
    assert len(puts) == 1 and puts[0].json == {"priority": 2} and puts[0].status == 200
    gets = fd.calls("get", f"{API}/tickets/")
    assert gets[0].query["include"] == "stats" and gets[0].credits == 2
    auth = fd.calls("POST")[0].headers["Authorization"]
    assert base64.b64decode(auth.split()[1]).decode() == "fd-alice-key:X"
    assert str(puts[0]) == f"PUT {API}/tickets/{ticket['id']} -> 200"
    assert TIMESTAMP.fullmatch(ticket["created_at"])
