"""Freshdesk mapping, filter translation and the provider's requests, without a server.

Freshdesk publishes no machine-readable description: the fixtures follow the
ticket shapes of the API v2 reference (developers.freshdesk.com/api, "View a
Ticket", "View a Ticket with Association", "Filter Tickets"). Provider tests
replace `ProviderHTTP.request` with a recorder that answers from them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import pytest
from google.protobuf import json_format, timestamp_pb2
from multidict import CIMultiDict, CIMultiDictProxy
from ticketing.v1 import integrations_pb2, ticket_pb2

from ticketing_grpc.customfields import CustomFields
from ticketing_grpc.errors import InvalidArgument, NotFound
from ticketing_grpc.providers.base import Page, ProviderContext
from ticketing_grpc.providers.freshdesk import FreshdeskProvider, account_url
from ticketing_grpc.providers.freshdesk_mapping import (
    TICKET_SCHEMA,
    create_body,
    custom_field_spec,
    error_text,
    fd_priority,
    fd_priority_code,
    html_to_text,
    next_page,
    status_code,
    status_label,
    text_to_html,
    ticket_from_fd,
    ticket_search,
    update_body,
)
from ticketing_grpc.providers.http import Response, error_for_status
from ticketing_grpc.providers.registry import build_registry, operators_of
from ticketing_grpc.query import Query, SortKey, parse_query

from .conftest import ROOT

P = ticket_pb2
BASE = "https://acme.freshdesk.com"
KEY = "fd-api-key-0123456789abcdef"
PATHS = {"sector": "cf_sector", "locked": "cf_locked"}


def fd_ticket(**changes: Any) -> dict[str, Any]:
    """A ticket as "View a Ticket" shows it (with include=requester)."""
    item: dict[str, Any] = {
        "cc_emails": ["user@cc.com"],
        "fwd_emails": [],
        "reply_cc_emails": ["user@cc.com"],
        "email_config_id": None,
        "fr_escalated": False,
        "group_id": 156,
        "priority": 3,
        "requester_id": 6007738334,
        "responder_id": 6001263404,
        "source": 2,
        "spam": False,
        "status": 2,
        "subject": "Printer on fire",
        "company_id": 1,
        "id": 20,
        "type": "Problem",
        "to_emails": None,
        "product_id": None,
        "created_at": "2015-08-24T11:56:51Z",
        "updated_at": "2015-08-24T11:59:05Z",
        "due_by": "2015-08-27T11:30:00Z",
        "fr_due_by": "2015-08-25T11:30:00Z",
        "is_escalated": False,
        "association_type": None,
        "description_text": "Not given.",
        "structured_description": {
            "description_contents": [{"type": "text", "data": {"content": "Not given."}}]
        },
        "description": "<div>Not given.</div>",
        "custom_fields": {"cf_sector": "finance", "cf_locked": True, "cf_other": 7, "cf_x": None},
        "tags": ["printer", "fire"],
        "requester": {
            "email": "rachel@example.com",
            "id": 6007738334,
            "mobile": None,
            "name": "Rachel",
            "phone": None,
        },
        "attachments": [],
    }
    item.update(changes)
    return item


def plain(message: Any) -> dict[str, Any]:
    return dict(json_format.MessageToDict(message))


def ts(text: str) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.fromisoformat(text.replace("Z", "+00:00")))
    return stamp


SCHEMA = TICKET_SCHEMA.with_fields(custom_field_spec(n) for n in PATHS)


def search(*filters: str, order: tuple[str, ...] = ()) -> Any:
    return ticket_search(parse_query(list(filters), list(order), SCHEMA), custom_paths=PATHS)


# --- reading ---------------------------------------------------------------------------


def test_a_ticket_reads_into_every_mapped_field() -> None:
    ticket = ticket_from_fd(fd_ticket(), base_url=BASE, custom_paths=PATHS)
    assert (ticket.id, ticket.summary, ticket.description) == (
        "20",
        "Printer on fire",
        "Not given.",
    )
    assert (ticket.status, ticket.priority, ticket.issue_type) == ("Open", P.HIGH, "Problem")
    assert (ticket.contact, ticket.assignee, ticket.project) == ("6007738334", "6001263404", "156")
    assert list(ticket.tags) == ["printer", "fire"]
    assert ticket.due_date == ts("2015-08-27T11:30:00Z")
    assert ticket.created_at == ts("2015-08-24T11:56:51Z")
    assert ticket.updated_at == ts("2015-08-24T11:59:05Z")
    assert ticket.url == f"{BASE}/a/tickets/20"
    assert plain(ticket.custom_fields) == {"sector": "finance", "locked": True}
    assert not ticket.parent and not ticket.creator and not ticket.HasField("completion_date")


def test_unmapped_keeps_the_other_non_empty_attributes() -> None:
    rest = plain(ticket_from_fd(fd_ticket(), base_url=BASE, custom_paths=PATHS).unmapped)
    assert rest["requester"]["email"] == "rachel@example.com"
    assert rest["custom_fields"] == {"cf_other": 7}  # unmapped ones only, nulls dropped
    assert rest["source"] == 2 and rest["fr_due_by"] == "2015-08-25T11:30:00Z"
    assert rest["cc_emails"] == ["user@cc.com"] and rest["spam"] is False
    for gone in ("subject", "description_text", "structured_description", "status", "tags"):
        assert gone not in rest
    for empty in ("email_config_id", "fwd_emails", "attachments", "to_emails"):
        assert empty not in rest


def test_a_child_ticket_names_its_parent() -> None:
    child = fd_ticket(association_type=2, associated_tickets_list=[11])
    assert ticket_from_fd(child, base_url=BASE).parent == "11"
    parent = fd_ticket(association_type=1, associated_tickets_list=[10, 11])
    assert ticket_from_fd(parent, base_url=BASE).parent == ""


def test_description_text_is_used_without_a_description() -> None:
    listed = fd_ticket(description=None, description_text="Plain <text>")
    assert ticket_from_fd(listed, base_url=BASE).description == "Plain <text>"


@pytest.mark.parametrize(
    ("code", "label"), [(2, "Open"), (3, "Pending"), (4, "Resolved"), (5, "Closed"), (6, "6")]
)
def test_status_labels(code: int, label: str) -> None:
    assert status_label(code) == label
    assert status_code(label) == code
    assert status_code(label.upper() if code < 6 else label) == code


def test_an_unknown_status_label_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="Open, Pending, Resolved, Closed"):
        status_code("Waiting on customer")


def test_priorities_both_ways() -> None:
    assert [fd_priority(c) for c in (4, 3, 2, 1, 9, None)] == [
        P.URGENT,
        P.HIGH,
        P.MEDIUM,
        P.LOW,
        P.PRIORITY_UNSPECIFIED,
        P.PRIORITY_UNSPECIFIED,
    ]
    written = {p: fd_priority_code(p) for p in P.Priority.values()}
    assert written == {0: None, P.URGENT: 4, P.CRITICAL: 4, P.HIGH: 3, P.MEDIUM: 2} | {
        P.MODERATE: 2,
        P.LOW: 1,
        P.PLANNING: 1,
    }


# --- description -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "One line",
        "Hello <world> & co\n\nSecond para\nline two",
        "Spaces  inside and\n    indented",
        "a\n\n\n\nb",
    ],
)
def test_written_text_reads_back(text: str) -> None:
    assert html_to_text(text_to_html(text)) == text.replace("\n\n\n\n", "\n\n")


def test_text_is_escaped_paragraphs() -> None:
    assert text_to_html("a <b>\n\nc\nd") == "<p>a &lt;b&gt;</p><p>c<br>d</p>"
    assert text_to_html("  \n ") == ""


def test_html_reads_as_text() -> None:
    markup = (
        "<div>First <b>bold</b>\n  line</div><div>Second&nbsp;&amp; more</div>"
        "<ul><li>one</li><li>two</li></ul><script>x()</script><p>Last<br><br>after</p>"
    )
    assert html_to_text(markup) == (
        "First bold line\nSecond & more\n\n- one\n- two\n\nLast\n\nafter"
    )


# --- writing ---------------------------------------------------------------------------


def full_ticket() -> ticket_pb2.Ticket:
    ticket = P.Ticket(
        summary="Printer on fire",
        description="It burns",
        status="pending",
        priority=P.CRITICAL,
        issue_type="Incident",
        contact="rachel@example.com",
        assignee="6001263404",
        project="156",
        parent="11",
        tags=["printer"],
        due_date=ts("2024-05-20T10:30:00Z"),
    )
    ticket.custom_fields.update({"sector": "finance", "locked": True})
    return ticket


def test_create_body_writes_every_field() -> None:
    body = create_body(full_ticket(), custom_paths=PATHS)
    assert body == {
        "subject": "Printer on fire",
        "description": "<p>It burns</p>",
        "email": "rachel@example.com",
        "status": 3,
        "priority": 4,
        "type": "Incident",
        "responder_id": 6001263404,
        "group_id": 156,
        "parent_id": 11,
        "tags": ["printer"],
        "due_by": "2024-05-20T10:30:00Z",
        "custom_fields": {"cf_sector": "finance", "cf_locked": True},
    }


def test_create_body_falls_back_to_the_defaults() -> None:
    body = create_body(P.Ticket(summary="S"), default_contact="42", default_type="Question")
    assert body == {"subject": "S", "description": "", "requester_id": 42, "type": "Question"}
    given = create_body(P.Ticket(summary="S", contact="7", issue_type="Bug"), default_type="Q")
    assert (given["requester_id"], given["type"]) == (7, "Bug")


@pytest.mark.parametrize(
    ("ticket", "message"),
    [
        (P.Ticket(summary="S"), "needs a requester"),
        (P.Ticket(summary="S", contact="Rachel"), "neither a Freshdesk requester id"),
        (P.Ticket(summary="S", contact="1", creator="bob"), "no creator"),
        (P.Ticket(summary="S", contact="1", completion_date=ts("2024-01-01T00:00:00Z")), "itself"),
        (P.Ticket(summary="S", contact="1", assignee="bob"), "agent id"),
        (P.Ticket(summary="S", contact="1", project="Support"), "group id"),
        (P.Ticket(summary="S", contact="1", status="Waiting"), "not a Freshdesk status"),
    ],
)
def test_create_body_refuses(ticket: ticket_pb2.Ticket, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        create_body(ticket)


def test_unmapped_custom_fields_are_refused_and_numbers_become_integers() -> None:
    ticket = P.Ticket(summary="S", contact="1")
    ticket.custom_fields.update({"nope": 1})
    with pytest.raises(InvalidArgument, match="'nope' is not mapped"):
        create_body(ticket, custom_paths=PATHS)
    ticket = P.Ticket(summary="S", contact="1")
    ticket.custom_fields.update({"sector": 7, "locked": 1.5})
    body = create_body(ticket, custom_paths=PATHS)
    assert body["custom_fields"] == {"cf_sector": 7, "cf_locked": 1.5}
    assert isinstance(body["custom_fields"]["cf_sector"], int)


def current_ticket(**changes: Any) -> ticket_pb2.Ticket:
    return ticket_from_fd(fd_ticket(**changes), base_url=BASE, custom_paths=PATHS)


def test_update_body_writes_only_the_masked_fields() -> None:
    change = full_ticket()
    assert update_body(change, ["summary", "priority"], current_ticket()) == {
        "subject": "Printer on fire",
        "priority": 4,
    }
    body = update_body(
        change, ["status", "contact", "tags", "due_date", "parent"], current_ticket()
    )
    assert body == {
        "status": 3,
        "email": "rachel@example.com",
        "tags": ["printer"],
        "due_by": "2024-05-20T10:30:00Z",
        "parent_id": 11,
    }


def test_update_body_clears_what_freshdesk_can_clear() -> None:
    empty = P.Ticket(id="20")
    body = update_body(
        empty, ["assignee", "project", "issue_type", "tags", "description"], current_ticket()
    )
    assert body == {
        "responder_id": None,
        "group_id": None,
        "type": None,
        "tags": [],
        "description": "",
    }
    custom = P.Ticket(id="20")
    custom.custom_fields.update({"sector": "ops"})
    assert update_body(custom, ["custom_fields"], current_ticket(), custom_paths=PATHS) == {
        "custom_fields": {"cf_sector": "ops", "cf_locked": None}
    }
    assert update_body(custom, ["custom_fields.locked"], current_ticket(), custom_paths=PATHS) == {
        "custom_fields": {"cf_locked": None}
    }


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("priority", "cannot be cleared"),
        ("status", "always has a status"),
        ("contact", "always has a requester"),
        ("due_date", "cannot be cleared"),
        ("parent", "cannot be unlinked"),
    ],
)
def test_update_body_refuses_clearing(path: str, message: str) -> None:
    current = current_ticket(association_type=2, associated_tickets_list=[11])
    with pytest.raises(InvalidArgument, match=message):
        update_body(P.Ticket(id="20"), [path], current)


def test_update_body_skips_what_does_not_change() -> None:
    unchanged = P.Ticket(id="20", parent="11")
    current = current_ticket(association_type=2, associated_tickets_list=[11], due_by=None)
    assert (
        update_body(unchanged, ["parent", "creator", "completion_date", "due_date"], current)
        is None
    )
    with pytest.raises(InvalidArgument, match="no creator"):
        update_body(P.Ticket(creator="bob"), ["creator"], current)


# --- filters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "query"),
    [
        (("status=open",), "status:2"),
        (("status[in]Pending,6",), "(status:3 OR status:6)"),
        (("status[neq]Open",), "(status:<1 OR status:>3)"),
        (("status[not in]2,4",), "(status:<1 OR status:3 OR status:>5)"),
        (("priority=HIGH",), "priority:3"),
        (("priority[in]URGENT,CRITICAL",), "priority:4"),
        (("priority[lte]HIGH",), "(priority:1 OR priority:2 OR priority:3)"),
        (("priority[neq]LOW",), "(priority:2 OR priority:3 OR priority:4)"),
        (("project=156",), "group_id:156"),
        (("project[in]1,",), "group_id:1"),
        (("project=",), "group_id:null"),
        (("project[neq]5",), "(group_id:<4 OR group_id:>6 OR group_id:null)"),
        (("project[neq]",), "group_id:>0"),
        (
            ("assignee[not in]0,3,4,10",),
            "((agent_id:>1 AND agent_id:<2) OR (agent_id:>5 AND agent_id:<9)"
            " OR agent_id:>11 OR agent_id:null)",
        ),
        (("assignee[not in]1",), "(agent_id:0 OR agent_id:>2 OR agent_id:null)"),
        (("issue_type[in]Question,",), "type:'Question'"),
        (("issue_type=",), "type:null"),
        (("tags=vip", "status=Open"), "tag:'vip' AND status:2"),
        (("created_at[gt]2024-05-01T10:00:00Z",), "created_at:>'2024-04-30'"),
        (
            ("updated_at[lt]2024-05-01", "updated_at[gte]2024-04-01"),
            "updated_at:<'2024-05-02' AND updated_at:>'2024-03-31'",
        ),
        (("due_date[lte]2024-05-03T23:59:59+02:00",), "due_by:<'2024-05-04'"),
        (("custom_fields.sector=finance",), "cf_sector:'finance'"),
        (
            ("custom_fields.sector[in]7,true,'12'",),
            "(cf_sector:7 OR cf_sector:true OR cf_sector:'12')",
        ),
        (("custom_fields.locked=",), "cf_locked:null"),
    ],
)
def test_filters_become_a_filter_query(filters: tuple[str, ...], query: str) -> None:
    found = search(*filters)
    assert (found.kind, found.query, found.empty) == ("search", query, False)


def test_a_filter_nothing_can_match_sends_nothing() -> None:
    assert search("priority[lt]PLANNING").empty
    assert search("priority[gt]URGENT", "status=Open").empty
    assert search("id=abc").empty


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (("tags=it's",), "quote"),
        (('issue_type=a"b',), "quote"),
        (("project=Support",), "group id"),
        (("status=Waiting",), "not a Freshdesk status"),
        (("contact=Rachel",), "neither a requester id"),
        (("contact=1", "contact=2"), "give contact once"),
        (("status=Open",) * 2 + (f"tags[in]{','.join(f'tag{i:03}' for i in range(60))}",), "512"),
    ],
)
def test_filters_freshdesk_cannot_express_are_refused(
    filters: tuple[str, ...], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=message):
        search(*filters)


def test_fields_without_a_filter_are_not_in_the_schema() -> None:
    for name in ("summary", "description", "creator", "parent", "completion_date"):
        assert name not in SCHEMA.fields
    assert SCHEMA.fields["created_at"].orderable and not SCHEMA.fields["status"].orderable


def test_a_custom_field_mapped_differently_per_project_is_refused() -> None:
    query = parse_query(["custom_fields.sector=x"], [], SCHEMA)
    with pytest.raises(InvalidArgument, match="no single Freshdesk field"):
        ticket_search(query, custom_paths={})


def test_two_order_keys_or_an_unsupported_one_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="one field"):
        search(order=("created_at", "updated_at"))
    with pytest.raises(InvalidArgument, match="cannot order"):
        ticket_search(Query(order=(SortKey("priority"),)))


def test_no_filter_lists_everything_oldest_first() -> None:
    found = search()
    assert found.kind == "list"
    assert found.params == (
        ("updated_since", "1970-01-01T00:00:00Z"),
        ("order_by", "created_at"),
        ("order_type", "asc"),
    )


def test_an_updated_at_lower_bound_and_an_order_are_sent_to_the_list() -> None:
    found = search("updated_at[gt]2024-05-01T10:00:00.5Z", order=("due_date[desc]",))
    assert found.params == (
        ("updated_since", "2024-05-01T10:00:00Z"),
        ("order_by", "due_by"),
        ("order_type", "desc"),
    )
    assert not found.keep(fd_ticket(updated_at="2024-05-01T10:00:00Z"))
    assert found.keep(fd_ticket(updated_at="2024-05-01T10:00:01Z"))


def test_a_contact_lists_the_requesters_tickets_and_rechecks_the_rest() -> None:
    by_id = search("contact=6007738334", "status=Open")
    assert by_id.kind == "list" and by_id.params[0] == ("requester_id", "6007738334")
    assert by_id.keep(fd_ticket()) and not by_id.keep(fd_ticket(status=3))
    assert not by_id.keep(fd_ticket(requester_id=1))
    by_email = search("contact=rachel@example.com")
    assert by_email.params[0] == ("email", "rachel@example.com")
    assert by_email.keep(fd_ticket(requester_id=1))  # Freshdesk matched the email


def test_every_condition_is_rechecked_exactly() -> None:
    found = search("created_at[gt]2015-08-24T11:56:51Z", "project[neq]5")
    assert found.kind == "search"
    assert not found.keep(fd_ticket())  # same second: not after it
    assert found.keep(fd_ticket(created_at="2015-08-24T11:56:52Z"))
    assert found.keep(fd_ticket(created_at="2015-08-24T11:56:52Z", group_id=None))
    assert not found.keep(fd_ticket(created_at="2015-08-24T11:56:52Z", group_id=5))
    custom = search("custom_fields.sector[in]'7',x")
    assert custom.keep(fd_ticket(custom_fields={"cf_sector": "7"}))
    assert custom.keep(fd_ticket(custom_fields={"cf_sector": 7}))
    assert not custom.keep(fd_ticket(custom_fields={"cf_sector": "'7'"}))


def test_ids_are_read_one_by_one_and_sorted_here() -> None:
    found = search("id[in]30,20,abc", "status=Open", order=("created_at[desc]",))
    assert (found.kind, found.ids) == ("ids", ("20", "30"))
    items = [
        fd_ticket(id=20, created_at="2024-01-01T00:00:00Z"),
        fd_ticket(id=30, created_at="2024-02-01T00:00:00Z"),
        fd_ticket(id=40, status=4),
    ]
    assert [i["id"] for i in found.select(items)] == [30, 20]


def test_next_page_follows_the_link_header() -> None:
    link = f'<{BASE}/api/v2/tickets?filter=all_tickets&page=3>;rel="next"'
    assert next_page(link, 2) == 3
    assert next_page(f"< {BASE}/api/v2/tickets?page=x >; rel=next", 2) == 3
    assert next_page(f'<{BASE}/api/v2/tickets?page=1>; rel="prev"', 2) is None
    assert next_page(None, 2) is None


def test_error_text() -> None:
    body = {
        "description": "Validation failed",
        "errors": [
            {"field": "email", "message": "It should be a valid email", "code": "invalid_value"},
            {"field": "subject", "message": "Mandatory attribute missing", "code": "missing_field"},
        ],
    }
    assert error_text(400, json.dumps(body).encode()) == (
        "Validation failed: email: It should be a valid email (invalid_value); "
        "subject: Mandatory attribute missing (missing_field)"
    )
    login = {"code": "invalid_credentials", "message": "You have to be logged in."}
    assert error_text(401, json.dumps(login).encode()) == (
        "You have to be logged in. (invalid_credentials)"
    )
    assert error_text(502, b"<html><body>Bad gateway</body></html>") == "Bad gateway"


# --- the provider's requests (recorded, answered from the fixtures) --------------------

Handler = Callable[[str, str, list[tuple[str, Any]], Any], tuple[int, Any, Mapping[str, str]]]


class Recorder:
    """Stands in for ProviderHTTP.request: records each call, answers from a handler."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.calls: list[tuple[str, str, list[tuple[str, Any]], Any]] = []

    async def __call__(
        self, method: str, path: str, *, params: Any = None, json: Any = None, **_: Any
    ) -> Response:
        listed = list(params or [])
        self.calls.append((method, path, listed, json))
        status, payload, headers = self.handler(method, path, listed, json)
        body = b"" if payload is None else dumps(payload)
        if status >= 400:
            raise error_for_status("ticketing_freshdesk", status, error_text(status, body))
        return Response(
            status, CIMultiDictProxy(CIMultiDict(headers)), body, BASE + path, "ticketing_freshdesk"
        )


def dumps(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def provider(
    handler: Handler, credential: integrations_pb2.Credential | None = None, **config: Any
) -> tuple[FreshdeskProvider, Recorder]:
    settings: dict[str, Any] = {
        "url": BASE,
        "credential": credential
        or integrations_pb2.Credential(
            basic=integrations_pb2.BasicCredential(username=KEY, secret="X")
        ),
        "default_contact": "support@acme.example",
    }
    settings.update(config)
    integration = integrations_pb2.Integration(
        name="fd", freshdesk=integrations_pb2.FreshdeskConfig(**settings)
    )
    mappings = [
        integrations_pb2.CustomFieldMapping(project_id="*", name=n, provider_field_path=p)
        for n, p in PATHS.items()
    ]
    context = ProviderContext(
        integration_id="int-1",
        integration=integration,
        custom_fields=CustomFields.from_mappings(mappings),
        store=None,  # type: ignore[arg-type]
        events=None,  # type: ignore[arg-type]
    )
    instance = FreshdeskProvider(context)
    recorder = Recorder(handler)
    instance.http.request = recorder  # type: ignore[method-assign]
    return instance, recorder


def never(method: str, path: str, params: Any, body: Any) -> tuple[int, Any, Mapping[str, str]]:
    raise AssertionError(f"no request expected, got {method} {path}")


async def collect(stream: Any) -> list[Any]:
    return [item async for item in stream]


def test_provider_registers_with_the_matrix_capabilities() -> None:
    build_registry([FreshdeskProvider])
    with open(ROOT / "tests" / "data" / "capabilities.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = tuple(r["operator"] for r in rows if r["ticketing_freshdesk"] == "yes")
    assert operators_of(FreshdeskProvider) == expected


async def test_the_api_key_is_the_basic_user_name() -> None:
    instance, _ = provider(never)
    token = integrations_pb2.Credential(token=integrations_pb2.TokenCredential(secret=KEY))
    other, _ = provider(never, token, url=f"{BASE}/api/v2/")
    for one in (instance, other):
        headers = await one.http.auth.headers(one.http)
        assert headers == {"Authorization": "Basic ZmQtYXBpLWtleS0wMTIzNDU2Nzg5YWJjZGVmOlg="}
    assert str(other.http.base_url) == BASE
    assert account_url(" https://x.freshdesk.com/ ") == "https://x.freshdesk.com"
    with pytest.raises(InvalidArgument, match=r"freshdesk\.url"):
        provider(never, url="")
    with pytest.raises(InvalidArgument, match="credential"):
        provider(never, integrations_pb2.Credential())


def test_custom_fields_join_the_filter_schema() -> None:
    instance, _ = provider(never)
    schema = instance.filter_schema("query_tickets")
    assert {"custom_fields.sector", "custom_fields.locked"} <= set(schema.fields)


async def test_create_posts_the_ticket() -> None:
    def answer(method: str, path: str, params: Any, body: Any) -> Any:
        return 201, fd_ticket(id=21, subject=body["subject"], requester_id=129), {}

    instance, recorder = provider(answer)
    created = await instance.create_ticket(P.Ticket(summary="New", priority=P.LOW))
    assert recorder.calls == [
        (
            "POST",
            "/api/v2/tickets",
            [],
            {"subject": "New", "description": "", "email": "support@acme.example", "priority": 1},
        )
    ]
    assert (created.id, created.contact, created.url) == ("21", "129", f"{BASE}/a/tickets/21")


async def test_get_embeds_the_requester_and_a_non_numeric_id_is_not_found() -> None:
    instance, recorder = provider(lambda *_: (200, fd_ticket(), {}))
    got = await instance.get_ticket("20")
    assert recorder.calls == [("GET", "/api/v2/tickets/20", [("include", "requester")], None)]
    assert plain(got.unmapped)["requester"]["name"] == "Rachel"
    quiet, _ = provider(never)
    with pytest.raises(NotFound):
        await quiet.get_ticket("NOPE-1")
    missing, _ = provider(lambda *_: (404, None, {}))
    with pytest.raises(NotFound):
        await missing.get_ticket("999999")


async def test_patch_reads_then_puts_the_masked_fields() -> None:
    def answer(method: str, path: str, params: Any, body: Any) -> Any:
        if method == "GET":
            return 200, fd_ticket(association_type=2, associated_tickets_list=[11]), {}
        return 200, fd_ticket(subject=body["subject"], status=body["status"]), {}

    instance, recorder = provider(answer)
    change = P.Ticket(id="20", summary="After", status="Resolved", description="ignored")
    patched = await instance.patch_ticket(change, ["summary", "status"])
    assert [c[:2] for c in recorder.calls] == [
        ("GET", "/api/v2/tickets/20"),
        ("PUT", "/api/v2/tickets/20"),
    ]
    assert recorder.calls[1][3] == {"subject": "After", "status": 4}
    assert (patched.summary, patched.status, patched.description) == (
        "After",
        "Resolved",
        "Not given.",
    )
    assert patched.parent == "11"  # kept from the read: the update's answer omits it
    unchanged = await instance.patch_ticket(P.Ticket(id="20", parent="11"), ["parent"])
    assert unchanged.id == "20" and len(recorder.calls) == 3  # GET only


def search_pages(total: int) -> Handler:
    def answer(method: str, path: str, params: Any, body: Any) -> Any:
        page = int(dict(params)["page"])
        first = (page - 1) * 30
        results = [fd_ticket(id=i + 1) for i in range(first, min(first + 30, total))]
        return 200, {"total": total, "results": results}, {}

    return answer


async def test_a_filter_pages_through_the_filter_api() -> None:
    instance, recorder = provider(search_pages(65))
    query = parse_query(
        ["status=Open", "tags=printer"], [], instance.filter_schema("query_tickets")
    )
    found = await collect(instance.query_tickets(query, Page()))
    assert len(found) == 65
    assert [c[2] for c in recorder.calls] == [
        [("query", "\"status:2 AND tag:'printer'\""), ("page", str(n))] for n in (1, 2, 3)
    ]
    assert {c[1] for c in recorder.calls} == {"/api/v2/search/tickets"}
    ticket, cursor = found[40]
    resumed = await collect(instance.query_tickets(query, Page(after=cursor)))
    assert resumed[0][0].id == str(int(ticket.id) + 1) and len(resumed) == 24


async def test_a_filter_beyond_300_matches_ends_with_a_clear_error() -> None:
    instance, recorder = provider(search_pages(400))
    query = parse_query(["status=Open"], [], instance.filter_schema("query_tickets"))
    seen = []
    with pytest.raises(InvalidArgument, match="first 300 matches and this query has 400") as info:
        async for item in instance.query_tickets(query, Page()):
            seen.append(item)
    assert info.value.reason == "PROVIDER_PAGING_LIMIT"
    assert len(seen) == 300 and len(recorder.calls) == 10
    ordered = parse_query(["status=Open"], ["created_at"], instance.filter_schema("query_tickets"))
    first, _ = provider(search_pages(400))
    with pytest.raises(InvalidArgument, match="400"):
        await collect(first.query_tickets(ordered, Page()))


async def test_an_ordered_filter_is_sorted_here() -> None:
    def answer(method: str, path: str, params: Any, body: Any) -> Any:
        results = [fd_ticket(id=i, created_at=f"2024-01-0{9 - i}T00:00:00Z") for i in (1, 2, 3)]
        return 200, {"total": 3, "results": results}, {}

    instance, _ = provider(answer)
    query = parse_query(["status=Open"], ["created_at"], instance.filter_schema("query_tickets"))
    found = await collect(instance.query_tickets(query, Page()))
    assert [t.id for t, _ in found] == ["3", "2", "1"]


async def test_the_list_follows_link_headers() -> None:
    def answer(method: str, path: str, params: Any, body: Any) -> Any:
        page = int(dict(params)["page"])
        link = {"Link": f'<{BASE}/api/v2/tickets?page={page + 1}>; rel="next"'} if page < 2 else {}
        return 200, [fd_ticket(id=page * 100 + i) for i in range(3)], link

    instance, recorder = provider(answer)
    found = await collect(instance.query_tickets(Query(), Page()))
    assert [t.id for t, _ in found] == ["100", "101", "102", "200", "201", "202"]
    assert recorder.calls[0] == (
        "GET",
        "/api/v2/tickets",
        [
            ("updated_since", "1970-01-01T00:00:00Z"),
            ("order_by", "created_at"),
            ("order_type", "asc"),
            ("include", "description"),
            ("per_page", "100"),
            ("page", "1"),
        ],
        None,
    )
    resumed = await collect(instance.query_tickets(Query(), Page(after=found[3][1])))
    assert [t.id for t, _ in resumed] == ["201", "202"]


async def test_ids_are_fetched_one_by_one() -> None:
    def answer(method: str, path: str, params: Any, body: Any) -> Any:
        return (404, None, {}) if path.endswith("/7") else (200, fd_ticket(id=5), {})

    instance, recorder = provider(answer)
    query = parse_query(["id[in]5,7"], [], instance.filter_schema("query_tickets"))
    found = await collect(instance.query_tickets(query, Page()))
    assert [t.id for t, _ in found] == ["5"]
    assert [c[1] for c in recorder.calls] == ["/api/v2/tickets/5", "/api/v2/tickets/7"]


async def test_a_query_that_matches_nothing_sends_nothing() -> None:
    instance, _ = provider(never)
    query = parse_query(["priority[lt]PLANNING"], [], instance.filter_schema("query_tickets"))
    assert await collect(instance.query_tickets(query, Page())) == []
