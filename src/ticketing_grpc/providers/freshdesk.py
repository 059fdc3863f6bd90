"""ticketing_freshdesk: Freshdesk through API v2 (https://{domain}.freshdesk.com/api/v2).

Tickets only: create, get, patch and query. How fields and filters map is in
freshdesk_mapping.

Requests
    Every request authenticates with HTTP basic: the API key as user name and
    `X` as password (a `basic` credential: its username is the key, its secret
    the password, `X` when empty; a `token` credential: the key). Bodies are
    JSON.

    ===============  =================================================================
    operator         calls
    ===============  =================================================================
    create_ticket    POST /api/v2/tickets
    get_ticket       GET /api/v2/tickets/{id}?include=requester
    patch_ticket     GET /api/v2/tickets/{id}, then PUT /api/v2/tickets/{id} (only
                     when the mask leaves something to write)
    query_tickets    one of:
                     GET /api/v2/tickets/{id} per id of an id filter;
                     GET /api/v2/search/tickets?query="<query>"&page=N (N = 1..10);
                     GET /api/v2/tickets?[requester_id=N|email=E&]updated_since=T
                     &order_by=F&order_type=asc|desc&include=description
                     &per_page=100&page=N
    ===============  =================================================================

    A ticket id that is not a number is NOT_FOUND without a request (Freshdesk
    ticket ids are numbers).

Paging
    Through paging.paginate; the page token is the page number. The filter
    API answers `{total, results}` with 30 results a page and serves pages 1
    to 10 only: a stream that needs page 11 ends with INVALID_ARGUMENT
    (reason PROVIDER_PAGING_LIMIT) asking for a narrower filter; an ordered
    filter query reads all its matches first, so one with more than 300
    fails before anything is returned. The list pages with page/per_page
    (100) and says there is a next page in its Link header (rel="next"); it
    serves at most 300 pages, past which the stream ends the same way.
    Tickets a condition rejects on re-check are skipped after paging, so a
    resume token names a position in Freshdesk's own page.

Errors
    Statuses map through the shared HTTP layer (429 with Retry-After is
    retried there); the message carries Freshdesk's
    `{"description", "errors": [{"field", "message", "code"}]}`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import Any

from ticketing.v1 import integrations_pb2, ticket_pb2

from ..errors import InvalidArgument, NotFound, Unavailable
from ..query import Op, Query, QuerySchema
from .base import Cursor, Page, Provider, ProviderContext
from .freshdesk_mapping import (
    TICKET_SCHEMA,
    TicketSearch,
    create_body,
    custom_field_spec,
    error_text,
    id_text,
    next_page,
    ticket_from_fd,
    ticket_search,
    update_body,
)
from .http import BasicAuth, ProviderHTTP, Response
from .paging import paginate

__all__ = ["FreshdeskProvider", "freshdesk_auth", "freshdesk_error_text"]

API = "/api/v2"
SEARCH_PAGE = 30
"""Results a page of the filter API (fixed)."""
SEARCH_PAGES = 10
"""The filter API serves pages 1..10."""
LIST_PAGE = 100
"""The largest per_page of the list."""
LIST_PAGES = 300
"""The list serves at most 300 pages."""

freshdesk_error_text = error_text
"""The error text of a Freshdesk error body (for ProviderHTTP)."""

Fetch = Callable[[Any], Awaitable[tuple[list[Any], Any]]]


def freshdesk_auth(credential: integrations_pb2.Credential) -> BasicAuth:
    """Basic auth with the API key as user name (see the module docstring)."""
    kind = credential.WhichOneof("credential")
    if kind == "basic" and credential.basic.username:
        return BasicAuth(credential.basic.username, credential.basic.secret or "X")
    if kind == "token" and credential.token.secret:
        return BasicAuth(credential.token.secret, "X")
    raise InvalidArgument(
        "freshdesk.credential must be basic (the API key as username) or a token (the API key)",
        reason="INVALID_CREDENTIAL",
    )


def account_url(url: str) -> str:
    """The account's URL (https://acme.freshdesk.com), without a trailing /api/v2."""
    base = url.strip().rstrip("/").removesuffix(API).rstrip("/")
    if not base:
        raise InvalidArgument(
            "freshdesk.url is required (https://<domain>.freshdesk.com)", reason="INVALID_URL"
        )
    return base


def _page_number(token: Any) -> int:
    if token is None:
        return 1
    if isinstance(token, int) and not isinstance(token, bool) and token >= 1:
        return token
    raise InvalidArgument(
        "the resume token does not name a Freshdesk page", reason="INVALID_RESUME_TOKEN"
    )


def _object(result: Any, what: str) -> dict[str, Any]:
    if not isinstance(result, dict) or result.get("id") is None:
        raise Unavailable(
            f"Freshdesk answered {what} without a ticket",
            reason="PROVIDER_BAD_RESPONSE",
            metadata={"provider": FreshdeskProvider.id},
        )
    return result


def _dicts(items: Any) -> list[dict[str, Any]]:
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


class FreshdeskProvider(Provider):
    id = "ticketing_freshdesk"
    display_name = "Freshdesk"
    filter_schemas = {"query_tickets": TICKET_SCHEMA}

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        config = context.integration.freshdesk
        self.base_url = account_url(str(config.url))
        self.default_contact = str(config.default_contact)
        self.default_type = str(config.default_type)
        self.http = ProviderHTTP(
            self.id,
            self.base_url,
            freshdesk_auth(config.credential),
            allow_private=context.allow_private_urls,
            error_text=error_text,
        )

    async def close(self) -> None:
        await self.http.close()

    def filter_schema(self, operator: str) -> QuerySchema:
        schema = super().filter_schema(operator)
        if operator != "query_tickets":
            return schema
        names = sorted(self.context.custom_fields.names())
        return schema.with_fields(custom_field_spec(n) for n in names)

    # -- requests ----------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        params: Sequence[tuple[str, str]] = (),
        body: Any = None,
    ) -> Response:
        return await self.http.request(
            method, path, params=list(params), json=body, headers={"Accept": "application/json"}
        )

    def _paths(self, project: str) -> Mapping[str, str]:
        """Custom field name -> Freshdesk name for tickets of a group."""
        return self.context.custom_fields.for_project(project or "*")

    def _query_paths(self, query: Query) -> Mapping[str, str]:
        """The custom field names a query may use: those of its group when it names
        one, else those mapped for every group or to one Freshdesk field only."""
        groups = {
            str(c.values[0]) for c in query.conditions if c.field == "project" and c.op is Op.EQ
        }
        if len(groups) == 1:
            return self._paths(next(iter(groups)))
        paths = dict(self._paths("*"))
        seen: dict[str, set[str]] = {}
        for fields in self.context.custom_fields.by_project.values():
            for name, path in fields.items():
                seen.setdefault(name, set()).add(path)
        for name, found in seen.items():
            if name not in paths and len(found) == 1:
                paths[name] = next(iter(found))
        return paths

    def _ticket_pb(self, fd: Mapping[str, Any]) -> ticket_pb2.Ticket:
        project = id_text(fd.get("group_id"))
        return ticket_from_fd(fd, base_url=self.base_url, custom_paths=self._paths(project))

    def _ticket_path(self, ticket_id: str) -> str:
        value = ticket_id.strip()
        if not value.isascii() or not value.isdigit():
            raise NotFound(
                f"Freshdesk has no ticket {ticket_id!r} (ticket ids are numbers)",
                reason="PROVIDER_NOT_FOUND",
                metadata={"provider": self.id},
            )
        return f"{API}/tickets/{int(value)}"

    async def _ticket(self, ticket_id: str, include: str = "") -> dict[str, Any]:
        path = self._ticket_path(ticket_id)
        params = [("include", include)] if include else []
        response = await self._call("GET", path, params)
        return _object(response.json(), f"GET {path}")

    # -- tickets -----------------------------------------------------------------------

    async def create_ticket(self, ticket: ticket_pb2.Ticket) -> ticket_pb2.Ticket:
        body = create_body(
            ticket,
            default_contact=self.default_contact,
            default_type=self.default_type,
            custom_paths=self._paths(ticket.project),
        )
        response = await self._call("POST", f"{API}/tickets", body=body)
        return self._ticket_pb(_object(response.json(), f"POST {API}/tickets"))

    async def get_ticket(self, ticket_id: str) -> ticket_pb2.Ticket:
        return self._ticket_pb(await self._ticket(ticket_id, include="requester"))

    async def patch_ticket(
        self, ticket: ticket_pb2.Ticket, paths: Sequence[str]
    ) -> ticket_pb2.Ticket:
        current = self._ticket_pb(await self._ticket(ticket.id))
        project = ticket.project if "project" in paths else current.project
        body = update_body(ticket, paths, current, custom_paths=self._paths(project))
        if body is None:
            return current
        path = self._ticket_path(current.id or ticket.id)
        response = await self._call("PUT", path, body=body)
        updated = self._ticket_pb(_object(response.json(), f"PUT {path}"))
        if not updated.parent and current.parent and "parent" not in paths:
            updated.parent = current.parent  # the update's answer may omit associations
        return updated

    async def query_tickets(
        self, query: Query, page: Page
    ) -> AsyncIterator[tuple[ticket_pb2.Ticket, Cursor]]:
        search = ticket_search(query, custom_paths=self._query_paths(query))
        if search.empty:
            return
        if search.kind == "ids":
            fetch = self._whole(self._by_id, search)
        elif search.kind == "list":
            fetch = self._list_pages(search)
        elif search.ordered:
            fetch = self._whole(self._all_matches, search)
        else:
            fetch = self._search_pages(search)
        lazily = search.kind == "list" or (search.kind == "search" and not search.ordered)
        async with aclosing(paginate(fetch, page.after)) as items:
            async for item, cursor in items:
                if not lazily or search.keep(item):
                    yield self._ticket_pb(item), cursor

    # -- the three ways of reading tickets -----------------------------------------------

    def _whole(
        self,
        read: Callable[[TicketSearch], Awaitable[list[dict[str, Any]]]],
        search: TicketSearch,
    ) -> Fetch:
        """One page: every match, filtered and ordered here (the token is None)."""

        async def fetch(token: Any) -> tuple[list[Any], Any]:
            if token is not None:
                raise InvalidArgument(
                    "the resume token does not name a position in this query",
                    reason="INVALID_RESUME_TOKEN",
                )
            return search.select(await read(search)), None

        return fetch

    async def _by_id(self, search: TicketSearch) -> list[dict[str, Any]]:
        found = []
        for ticket_id in search.ids:
            try:
                found.append(await self._ticket(ticket_id))
            except NotFound:
                continue
        return found

    async def _search_page(self, search: TicketSearch, page: int) -> tuple[list[Any], int]:
        response = await self._call(
            "GET",
            f"{API}/search/tickets",
            [("query", f'"{search.query}"'), ("page", str(page))],
        )
        result = response.json()
        if not isinstance(result, dict) or not isinstance(result.get("results"), list):
            raise Unavailable(
                "Freshdesk answered the filter API without results",
                reason="PROVIDER_BAD_RESPONSE",
                metadata={"provider": self.id},
            )
        total = result.get("total")
        items = _dicts(result["results"])
        if not isinstance(total, int) or isinstance(total, bool):
            total = (page - 1) * SEARCH_PAGE + len(items)
        return items, total

    def _paging_limit(self, total: int) -> InvalidArgument:
        return InvalidArgument(
            f"Freshdesk's filter API serves only the first {SEARCH_PAGE * SEARCH_PAGES} "
            f"matches and this query has {total}; narrow the filter (for example with "
            "a created_at or updated_at range)",
            reason="PROVIDER_PAGING_LIMIT",
            metadata={"provider": self.id},
        )

    def _search_pages(self, search: TicketSearch) -> Fetch:
        total = 0

        async def fetch(token: Any) -> tuple[list[Any], Any]:
            nonlocal total
            page = _page_number(token)
            if page > SEARCH_PAGES:
                raise self._paging_limit(total)
            items, total = await self._search_page(search, page)
            more = bool(items) and page * SEARCH_PAGE < total
            return items, page + 1 if more else None

        return fetch

    async def _all_matches(self, search: TicketSearch) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            items, total = await self._search_page(search, page)
            if total > SEARCH_PAGE * SEARCH_PAGES:
                raise self._paging_limit(total)
            found += items
            if not items or page * SEARCH_PAGE >= total or page >= SEARCH_PAGES:
                return found
            page += 1

    def _list_pages(self, search: TicketSearch) -> Fetch:
        async def fetch(token: Any) -> tuple[list[Any], Any]:
            page = _page_number(token)
            if page > LIST_PAGES:
                raise InvalidArgument(
                    f"Freshdesk lists at most {LIST_PAGES} pages of {LIST_PAGE} tickets; "
                    "narrow the query (for example with updated_at[gte])",
                    reason="PROVIDER_PAGING_LIMIT",
                    metadata={"provider": self.id},
                )
            params = [
                *search.params,
                ("include", "description"),
                ("per_page", str(LIST_PAGE)),
                ("page", str(page)),
            ]
            response = await self._call("GET", f"{API}/tickets", params)
            result = response.json()
            if not isinstance(result, list):
                raise Unavailable(
                    "Freshdesk answered the ticket list without a list",
                    reason="PROVIDER_BAD_RESPONSE",
                    metadata={"provider": self.id},
                )
            return _dicts(result), next_page(response.headers.get("Link"), page)

        return fetch
