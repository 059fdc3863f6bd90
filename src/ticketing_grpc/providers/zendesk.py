"""ticketing_zendesk: Zendesk Support through its REST API (https://{subdomain}.zendesk.com).

Tickets are Zendesk tickets, projects are groups; how fields map is in
zendesk_mapping, how filters become Zendesk search queries is below (and in
`ticket_search`).

Auth
    basic: `{email}/token` and an API token (`/token` is appended to a user
    name without it: Zendesk no longer takes passwords on the API); token: an
    OAuth access token, sent as `Authorization: Bearer`.

Requests (paths without `.json`, as the OpenAPI description has them)
    ===============  ====================================================
    operator         calls
    ===============  ====================================================
    create_ticket    [GET /api/v2/ticket_fields], POST /api/v2/tickets
    get_ticket       GET /api/v2/tickets/{id}
    patch_ticket     GET /api/v2/tickets/{id}, [GET /api/v2/ticket_fields],
                     [PUT /api/v2/tickets/{id}] (only what changes is sent)
    query_tickets    one of, by what the query needs:
                     - an id filter: GET /api/v2/tickets/show_many?ids=
                       (100 ids a request)
                     - an order: GET /api/v2/search?query=type:ticket ...
                       &sort_by&sort_order&page&per_page
                     - other filters: GET /api/v2/search/export?query=...
                       &filter[type]=ticket&page[size]&page[after]
                     - no filter: GET /api/v2/tickets?page[size]&page[after]
    ===============  ====================================================

    The account's ticket fields (GET /api/v2/ticket_fields, unpaginated:
    every field) are read once per provider instance, and only when the
    integration maps custom fields: they give each field's type (how values
    are written and read) and prove a mapped field id exists (Zendesk drops
    unknown ids silently); an id missing from the cache re-reads it, at most
    once a minute.

Paging
    Everything streams through paging.paginate. Cursor endpoints (export,
    ticket list) page with page[size] <= 100 and page[after]; the page token
    is the after_cursor that fetched the page (Zendesk's export cursors
    expire after an hour, so a resume token is good for about that long).
    The search endpoint pages by offset: the token is [page, per_page], and
    Zendesk serves only the first 1,000 results of a search (422 beyond),
    so an ordered query that needs more ends with INVALID_ARGUMENT (reason
    PROVIDER_PAGING_LIMIT) asking for a narrower filter; unordered queries
    use the export endpoint, which has no such limit. On resume the named
    page is fetched at least as long as the position it holds.

    Zendesk indexes new and changed tickets for search within a few minutes,
    so a search (and export) may miss what was just written; id filters and
    the unfiltered list read tickets directly.

Filters (query_tickets), as Zendesk search terms
    ===================  ==================================================
    id eq/in             GET /api/v2/tickets/show_many (the search has no id
                         keyword); the other conditions are checked on the
                         tickets read
    summary eq           subject:"<text>" (Zendesk matches words and phrases,
                         so this finds a superset; exact equality is checked
                         on each result). A quote or backslash in the text is
                         searched as a blank.
    status, issue_type   status:, ticket_type: (eq/in as repeated terms, which
                         Zendesk ORs; neq/not in as -status:...). Values are
                         matched case-insensitively and must be Zendesk's.
    priority             priority: (CRITICAL, MODERATE and PLANNING match no
                         ticket: none reads as them)
    assignee, contact,   assignee_id:, requester_id:, submitter_id:, group_id:
    creator, project     (user and group ids, numeric)
    tags                 tags:
    created_at,          created>= / created<=, updated>=/<= (widened by a
    updated_at           second, exact bounds checked on each result)
    due_date             due_date>= / due_date<= (dates, widened by a day)
    custom_fields.<n>    custom_field_<id>:"<value>" (eq/in; the field id of
                         the mapping for the one project filtered on, else `*`)
    order                created_at or updated_at, asc/desc (sort_by and
                         sort_order of GET /api/v2/search), one key
    ===================  ==================================================

    Every condition is re-checked on each ticket read, so Zendesk's loose
    matching (words, stems, ORed repeats) only ever widens the request, and a
    missing value matches neq/not in as the contract says (-assignee_id:7
    keeps unassigned tickets). Anything else (like, ranges on ids or
    statuses, ordering by other fields) cannot be expressed and is refused.

Errors
    Statuses map through the shared HTTP layer (429 honours Retry-After);
    the message carries Zendesk's `{"error", "description", "details"}`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from google.protobuf import json_format
from ticketing.v1 import ticket_pb2

from ..errors import InvalidArgument, NotFound, Unavailable
from ..matching import apply
from ..query import Condition, FieldSpec, FieldType, Op, Query, QuerySchema, field
from .base import Cursor, Page, Provider, ProviderContext
from .http import ProviderHTTP, auth_from_credential
from .paging import paginate, parse_cursor
from .zendesk_mapping import (
    BLANK_OR_QUOTE,
    ID_ATTRIBUTES,
    PRIORITY_NAMES,
    STATUSES,
    TYPES,
    FieldInfo,
    choice,
    create_body,
    error_text,
    field_id,
    format_time,
    numeric_id,
    text_of,
    ticket_from_zendesk,
    update_body,
    valid_tags,
    zendesk_priority,
    zendesk_priority_name,
)

__all__ = [
    "TICKET_SCHEMA",
    "TicketSearch",
    "ZendeskProvider",
    "custom_field_specs",
    "ticket_record",
    "ticket_search",
    "zendesk_error_text",
]

API = "/api/v2"
JSON: Mapping[str, str] = {"Accept": "application/json"}
PAGE = 100
"""The largest page asked for (cursor pages and search pages alike)."""
SEARCH_LIMIT = 1000
"""GET /api/v2/search serves this many results of a query at most."""
SHOW_MANY = 100
"""Ids per GET /api/v2/tickets/show_many."""
FIELDS_REFRESH = 60.0

zendesk_error_text = error_text
"""The error text of a Zendesk error body (for ProviderHTTP)."""

Fetch = Callable[[Any], Awaitable[tuple[list[Any], Any]]]

_EQUALITY = frozenset({Op.EQ, Op.IN})
_SETS = frozenset({Op.EQ, Op.NEQ, Op.IN, Op.NOT_IN})
_BOUNDS = frozenset({Op.GT, Op.GTE, Op.LT, Op.LTE})
_LOWER = frozenset({Op.GT, Op.GTE})
_NEGATED = frozenset({Op.NEQ, Op.NOT_IN})

TICKET_SCHEMA = QuerySchema.of(
    field("id", FieldType.STRING, _EQUALITY, orderable=False),
    field("summary", FieldType.STRING, {Op.EQ}, orderable=False),
    field("status", FieldType.STRING, _SETS, orderable=False),
    field("priority", FieldType.ENUM, _SETS, orderable=False, enum_values=PRIORITY_NAMES),
    field("issue_type", FieldType.STRING, _SETS, orderable=False),
    field("assignee", FieldType.STRING, _SETS, orderable=False),
    field("contact", FieldType.STRING, _SETS, orderable=False),
    field("creator", FieldType.STRING, _SETS, orderable=False),
    field("project", FieldType.STRING, _SETS, orderable=False),
    field("tags", FieldType.LIST, _SETS, orderable=False),
    field("created_at", FieldType.DATETIME, _BOUNDS),
    field("updated_at", FieldType.DATETIME, _BOUNDS),
    field("due_date", FieldType.DATETIME, _BOUNDS, orderable=False),
)
"""What query_tickets accepts (custom fields are added per integration)."""

_TIME_KEYWORDS: Mapping[str, str] = {
    "created_at": "created",
    "updated_at": "updated",
    "due_date": "due_date",
}
WIDEN = timedelta(seconds=1)


def custom_field_specs(names: Iterable[str]) -> list[FieldSpec]:
    return [field(f"custom_fields.{n}", FieldType.ANY, _EQUALITY, orderable=False) for n in names]


# -- filters: Zendesk search queries ---------------------------------------------------


def _phrase(value: Any) -> str:
    """A search phrase: blanks collapsed, quotes and backslashes searched as blanks."""
    text = " ".join(BLANK_OR_QUOTE.sub(" ", text_of(value)).split())
    return f'"{text}"' if text else ""


def _time_bound(keyword: str, condition: Condition) -> str:
    moment = condition.values[0]
    assert isinstance(moment, datetime)
    lower = condition.op in _LOWER
    if keyword == "due_date":
        day = (moment - timedelta(days=1) if lower else moment + timedelta(days=1)).date()
        return f"{keyword}{'>=' if lower else '<='}{day.isoformat()}"
    widened = moment - WIDEN if lower else moment + WIDEN
    return f"{keyword}{'>=' if lower else '<='}{format_time(widened)}"


def _unexpected(condition: Condition) -> InvalidArgument:
    return InvalidArgument(
        f"query_tickets: Zendesk search cannot express {condition.field}[{condition.op.value}]",
        reason="INVALID_FILTER",
    )


@dataclass(frozen=True)
class TicketSearch:
    """How to find the tickets of a query: search terms or ids, and the re-check."""

    terms: tuple[str, ...]
    """Zendesk search terms (without type:ticket), ANDed."""
    check: Query
    schema: QuerySchema
    sort: tuple[str, str] | None = None
    """(sort_by, sort_order) when the query has an order."""
    ids: tuple[int, ...] | None = None
    """Set when the filter names ticket ids (read with show_many)."""
    empty: bool = False
    """No ticket can match: nothing needs to be requested."""

    def keep(self, record: Mapping[str, Any]) -> bool:
        return not self.empty and bool(apply(self.check, [record], self.schema))

    def select(self, records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """The records that match, in the query's order (then by id)."""
        return [] if self.empty else apply(self.check, list(records), self.schema)


def ticket_search(query: Query, *, schema: QuerySchema, custom: Mapping[str, str]) -> TicketSearch:
    """The Zendesk search for a query_tickets query (`custom`: name -> field id text)."""
    terms: list[str] = []
    check: list[Condition] = []
    ids: list[int] | None = None
    empty = False
    for condition in query.conditions:
        spec = schema.fields.get(condition.field)
        if spec is None or condition.op not in spec.ops:
            raise _unexpected(condition)
        name, op, values = condition.field, condition.op, condition.values
        sign = "-" if op in _NEGATED else ""
        if name == "id":
            wanted = [numeric_id(str(v), "id") for v in values]
            ids = wanted if ids is None else [i for i in ids if i in wanted]
            empty = empty or not ids
            condition = Condition(name, op, tuple(str(i) for i in wanted))
        elif name == "summary":
            phrase = _phrase(values[0])
            if phrase:
                terms.append(f"subject:{phrase}")
        elif name in ("status", "issue_type"):
            allowed = STATUSES if name == "status" else TYPES
            keyword = "status" if name == "status" else "ticket_type"
            folded = tuple(choice(str(v), allowed, name) for v in values)
            condition = Condition(name, op, folded)
            terms += [f"{sign}{keyword}:{v}" for v in dict.fromkeys(folded)]
        elif name == "priority":
            readable = [z for z in map(_readable_priority, values) if z]
            empty = empty or (not readable and not sign)
            terms += [f"{sign}priority:{z}" for z in dict.fromkeys(readable)]
        elif name in ID_ATTRIBUTES:
            numbers = [numeric_id(str(v), name) for v in values]
            terms += [f"{sign}{ID_ATTRIBUTES[name]}:{n}" for n in dict.fromkeys(numbers)]
        elif name == "tags":
            folded = tuple(valid_tags([str(v).lower() for v in values]))
            condition = Condition(name, op, folded)
            terms += [f"{sign}tags:{t}" for t in folded]
        elif name in _TIME_KEYWORDS:
            terms.append(_time_bound(_TIME_KEYWORDS[name], condition))
        elif name.startswith("custom_fields."):
            label = name.partition(".")[2]
            if label not in custom:
                raise InvalidArgument(
                    f"query_tickets: custom field {label!r} is not mapped for this project",
                    reason="UNMAPPED_CUSTOM_FIELD",
                )
            ident = field_id(label, custom[label])
            terms += [f"custom_field_{ident}:{p}" for p in dict.fromkeys(map(_phrase, values)) if p]
        else:
            raise _unexpected(condition)
        check.append(condition)
    if len(query.order) > 1:
        raise InvalidArgument(
            "query_tickets: Zendesk search orders by one key only", reason="INVALID_ORDER"
        )
    sort = None
    for key in query.order:
        if key.field not in ("created_at", "updated_at"):
            raise InvalidArgument(
                f"query_tickets: Zendesk cannot order tickets by {key.field} here "
                "(created_at or updated_at)",
                reason="INVALID_ORDER",
            )
        sort = (key.field, "desc" if key.descending else "asc")
    return TicketSearch(
        terms=tuple(dict.fromkeys(terms)),
        check=Query(tuple(check), tuple(query.order)),
        schema=schema,
        sort=sort,
        ids=None if ids is None else tuple(dict.fromkeys(ids)),
        empty=empty,
    )


def _readable_priority(name: Any) -> str | None:
    """The Zendesk priority that reads back as the Priority `name`, if any."""
    wanted = int(ticket_pb2.Priority.Value(str(name)))
    zendesk = zendesk_priority_name(wanted)
    return zendesk if zendesk and zendesk_priority(zendesk) == wanted else None


def ticket_record(ticket: ticket_pb2.Ticket) -> dict[str, Any]:
    """The fields filters are checked against (a read ticket, as the model shows it)."""
    record: dict[str, Any] = {
        "id": ticket.id,
        "summary": ticket.summary,
        "status": ticket.status.lower(),
        "priority": (
            ticket_pb2.Priority.Name(ticket.priority)  # type: ignore[arg-type]
            if ticket.priority
            else None
        ),
        "issue_type": ticket.issue_type.lower() or None,
        "assignee": ticket.assignee or None,
        "contact": ticket.contact or None,
        "creator": ticket.creator or None,
        "project": ticket.project or None,
        "tags": [t.lower() for t in ticket.tags],
        "created_at": ticket.created_at.ToJsonString() if ticket.HasField("created_at") else None,
        "updated_at": ticket.updated_at.ToJsonString() if ticket.HasField("updated_at") else None,
        "due_date": ticket.due_date.ToJsonString() if ticket.HasField("due_date") else None,
    }
    for name, value in json_format.MessageToDict(ticket.custom_fields).items():
        record[f"custom_fields.{name}"] = value
    return record


def _items(result: Any, key: str) -> list[dict[str, Any]]:
    listed = result.get(key) if isinstance(result, dict) else None
    return [item for item in listed or () if isinstance(item, dict)]


def _bad_token(what: str) -> InvalidArgument:
    return InvalidArgument(
        f"the resume token does not name a Zendesk {what}", reason="INVALID_RESUME_TOKEN"
    )


def _account(url: str) -> str:
    account = url.strip().rstrip("/")
    for suffix in ("/api/v2", "/api"):
        if account.endswith(suffix):
            account = account[: -len(suffix)]
    return account


class ZendeskProvider(Provider):
    id = "ticketing_zendesk"
    display_name = "Zendesk"
    filter_schemas = {"query_tickets": TICKET_SCHEMA}

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        config = context.integration.zendesk
        self.account = _account(str(config.url))
        if not self.account:
            raise InvalidArgument("zendesk.url (https://<subdomain>.zendesk.com) is required")
        credential = type(config.credential)()
        credential.CopyFrom(config.credential)
        kind = credential.WhichOneof("credential")
        if kind not in ("basic", "token"):
            raise InvalidArgument(
                "zendesk.credential must be basic ({email}/token and an API token) "
                "or token (an OAuth access token)",
                reason="INVALID_CREDENTIAL",
            )
        if kind == "basic" and not credential.basic.username.endswith("/token"):
            credential.basic.username = f"{credential.basic.username}/token"
        self.http = ProviderHTTP(
            self.id,
            self.account,
            auth_from_credential(credential),
            allow_private=context.allow_private_urls,
            error_text=error_text,
        )
        self._fields: dict[int, FieldInfo] | None = None
        self._fields_read = 0.0

    async def close(self) -> None:
        await self.http.close()

    def filter_schema(self, operator: str) -> QuerySchema:
        schema = super().filter_schema(operator)
        if operator != "query_tickets":
            return schema
        return schema.with_fields(custom_field_specs(sorted(self.context.custom_fields.names())))

    # -- requests ----------------------------------------------------------------------

    async def _call(
        self, method: str, path: str, params: Sequence[tuple[str, Any]] = (), body: Any = None
    ) -> Any:
        response = await self.http.request(
            method, f"{API}{path}", params=list(params), json=body, headers=JSON
        )
        return response.json()

    def _wrapped(self, result: Any, key: str, what: str) -> dict[str, Any]:
        item = result.get(key) if isinstance(result, dict) else None
        if not isinstance(item, dict):
            raise Unavailable(
                f"Zendesk answered {what} without the {key}",
                reason="PROVIDER_BAD_RESPONSE",
                metadata={"provider": self.id},
            )
        return item

    # -- custom fields -----------------------------------------------------------------

    def _custom(self, project: str) -> Mapping[str, str]:
        return self.context.custom_fields.for_project(project or "*")

    async def _field_infos(self, wanted: Iterable[tuple[str, int]] = ()) -> dict[int, FieldInfo]:
        """The account's ticket fields by id (none read when nothing is mapped); each
        (name, id) of `wanted` must be among them."""
        if not self.context.custom_fields.names():
            return {}
        wanted = list(wanted)
        stale = time.monotonic() - self._fields_read >= FIELDS_REFRESH
        if self._fields is None or (stale and any(i not in self._fields for _, i in wanted)):
            listed = _items(await self._call("GET", "/ticket_fields"), "ticket_fields")
            infos = (FieldInfo.from_zendesk(item) for item in listed)
            self._fields = {info.id: info for info in infos if info is not None}
            self._fields_read = time.monotonic()
        for name, ident in wanted:
            if ident not in self._fields:
                raise InvalidArgument(
                    f"custom field {name!r} maps to Zendesk ticket field {ident}, "
                    "which this account does not have",
                    reason="UNKNOWN_CUSTOM_FIELD",
                )
        return self._fields

    async def _fields_for(
        self, custom: Mapping[str, str], names: Iterable[str]
    ) -> dict[int, FieldInfo]:
        wanted = [(n, field_id(n, custom[n])) for n in dict.fromkeys(names) if n in custom]
        return await self._field_infos(wanted)

    def _ticket(self, raw: Mapping[str, Any], fields: Mapping[int, FieldInfo]) -> ticket_pb2.Ticket:
        group = raw.get("group_id")
        custom = self._custom("" if group is None else str(group))
        return ticket_from_zendesk(raw, account=self.account, custom=custom, fields=fields)

    # -- tickets -----------------------------------------------------------------------

    async def _read(self, ticket_id: str) -> dict[str, Any]:
        text = ticket_id.strip()
        if not text.isdigit() or not text.isascii():
            raise NotFound(
                f"Zendesk has no ticket {ticket_id!r} (ticket ids are numbers)",
                metadata={"provider": self.id},
            )
        path = f"/tickets/{int(text)}"
        return self._wrapped(await self._call("GET", path), "ticket", f"GET {API}{path}")

    async def create_ticket(self, ticket: ticket_pb2.Ticket) -> ticket_pb2.Ticket:
        custom = self._custom(ticket.project)
        fields = await self._fields_for(custom, ticket.custom_fields.keys())
        body = create_body(ticket, custom=custom, fields=fields)
        result = await self._call("POST", "/tickets", body=body)
        return self._ticket(self._wrapped(result, "ticket", f"POST {API}/tickets"), fields)

    async def get_ticket(self, ticket_id: str) -> ticket_pb2.Ticket:
        raw = await self._read(ticket_id)
        return self._ticket(raw, await self._field_infos())

    async def patch_ticket(
        self, ticket: ticket_pb2.Ticket, paths: Sequence[str]
    ) -> ticket_pb2.Ticket:
        raw = await self._read(ticket.id)
        fields = await self._field_infos()
        current = self._ticket(raw, fields)
        project = ticket.project if "project" in paths else current.project
        custom = self._custom(project)
        names: list[str] = []
        for path in paths:
            head, _, name = path.partition(".")
            if head == "custom_fields":
                names += [name] if name else [*ticket.custom_fields.keys(), *custom]
        if names:
            fields = await self._fields_for(custom, names)
        body = update_body(ticket, paths, current, custom=custom, fields=fields)
        if body is None:
            return current
        path = f"/tickets/{raw.get('id', ticket.id)}"
        result = await self._call("PUT", path, body=body)
        return self._ticket(self._wrapped(result, "ticket", f"PUT {API}{path}"), fields)

    # -- queries -----------------------------------------------------------------------

    async def query_tickets(
        self, query: Query, page: Page
    ) -> AsyncIterator[tuple[ticket_pb2.Ticket, Cursor]]:
        projects = {
            str(c.values[0]) for c in query.conditions if c.field == "project" and c.op is Op.EQ
        }
        custom = self._custom(projects.pop() if len(projects) == 1 else "*")
        search = ticket_search(query, schema=self.filter_schema("query_tickets"), custom=custom)
        used = [c.field.partition(".")[2] for c in query.conditions]
        fields = await self._fields_for(custom, [n for n in used if n])
        if search.empty:
            return
        size = max(1, min(page.size_hint or page.limit or PAGE, PAGE))
        if search.ids is not None:
            fetch = self._by_ids(search, fields)
        elif search.sort is not None:
            fetch = self._search_pages(search, size, page.after)
        elif search.terms:
            params = [("query", " ".join(search.terms)), ("filter[type]", "ticket")]
            fetch = self._cursor_pages("/search/export", "results", params, size, page.after)
        else:
            fetch = self._cursor_pages("/tickets", "tickets", [], size, page.after)
        async with aclosing(paginate(fetch, page.after)) as items:
            async for raw, cursor in items:
                ticket = raw if isinstance(raw, ticket_pb2.Ticket) else self._ticket(raw, fields)
                if search.ids is not None or search.keep(ticket_record(ticket)):
                    yield ticket, cursor

    def _by_ids(self, search: TicketSearch, fields: Mapping[int, FieldInfo]) -> Fetch:
        """One page: every named ticket that exists and matches, in the query's order."""

        async def fetch(token: Any) -> tuple[list[Any], Any]:
            if token is not None:
                raise _bad_token("position in this query")
            ids = list(search.ids or ())
            found: list[ticket_pb2.Ticket] = []
            for start in range(0, len(ids), SHOW_MANY):
                chunk = ",".join(str(i) for i in ids[start : start + SHOW_MANY])
                result = await self._call("GET", "/tickets/show_many", [("ids", chunk)])
                found += [self._ticket(raw, fields) for raw in _items(result, "tickets")]
            by_id = {t.id: t for t in found}
            chosen = search.select(ticket_record(t) for t in by_id.values())
            return [by_id[str(record["id"])] for record in chosen], None

        return fetch

    def _cursor_pages(
        self,
        path: str,
        key: str,
        params: Sequence[tuple[str, str]],
        size: int,
        after: Cursor | None,
    ) -> Fetch:
        """A page fetcher for Zendesk's cursor pagination (page token = after_cursor)."""
        first, skip = parse_cursor(after)

        async def fetch(token: Any) -> tuple[list[Any], Any]:
            if token is not None and (not isinstance(token, str) or not token):
                raise _bad_token("page")
            count = min(max(size, skip + 1) if token == first else size, PAGE)
            query: list[tuple[str, Any]] = [*params, ("page[size]", count)]
            if token is not None:
                query.append(("page[after]", token))
            result = await self._call("GET", path, query)
            meta = result.get("meta") if isinstance(result, dict) else None
            cursor = meta.get("after_cursor") if isinstance(meta, dict) else None
            more = isinstance(meta, dict) and meta.get("has_more") is True
            following = cursor if more and isinstance(cursor, str) and cursor else None
            return _items(result, key), following

        return fetch

    def _search_pages(self, search: TicketSearch, size: int, after: Cursor | None) -> Fetch:
        """A page fetcher for GET /api/v2/search (page token = [page, per_page])."""
        first, skip = parse_cursor(after)
        sort_by, sort_order = search.sort or ("created_at", "asc")
        query = " ".join(("type:ticket", *search.terms))

        async def fetch(token: Any) -> tuple[list[Any], Any]:
            if token is None:
                number, per_page = 1, min(max(size, skip + 1) if first is None else size, PAGE)
            elif (
                isinstance(token, list)
                and len(token) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in token)
                and token[1] <= PAGE
            ):
                number, per_page = token
            else:
                raise _bad_token("search page")
            if token == first and skip >= per_page:
                raise _bad_token("search page")
            if (number - 1) * per_page >= SEARCH_LIMIT:
                raise InvalidArgument(
                    f"Zendesk serves only the first {SEARCH_LIMIT} results of a search; "
                    "narrow the filter, or drop the order (unordered queries are exported "
                    "without that limit)",
                    reason="PROVIDER_PAGING_LIMIT",
                    metadata={"provider": self.id},
                )
            params = [
                ("query", query),
                ("sort_by", sort_by),
                ("sort_order", sort_order),
                ("page", number),
                ("per_page", per_page),
            ]
            result = await self._call("GET", "/search", params)
            items = [
                item
                for item in _items(result, "results")
                if item.get("result_type", "ticket") == "ticket"
            ]
            served = (number - 1) * per_page + len(_items(result, "results"))
            count = result.get("count") if isinstance(result, dict) else None
            more = isinstance(result, dict) and bool(result.get("next_page"))
            # Past the limit Zendesk may just stop naming a next page: `count` tells.
            cut = isinstance(count, int) and count > served >= SEARCH_LIMIT
            return items, [number + 1, per_page] if more or cut else None

        return fetch
