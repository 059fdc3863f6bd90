"""ticketing_pagerduty: PagerDuty through REST API v2 (https://api.pagerduty.com).

Tickets are incidents, comments are incident notes, projects are services;
escalation policies and on-call shifts come from their own endpoints. How
fields and filters map is in pagerduty_mapping.

Requests
    Every request sends `Authorization: Token token=<REST API key>`,
    `Accept: application/vnd.pagerduty+json;version=2` and
    `Content-Type: application/json` (the description declares both as
    required on every operation, GETs included).

    POST /incidents, PUT /incidents/{id} and POST /incidents/{id}/notes
    also need `From: <email of a user of the account>`: ticket.creator (on
    create) or comment.creator when given, else the integration's
    default_creator. With neither, the call is INVALID_ARGUMENT before
    anything is sent.

    ===========================================  ==================================
    operator                                     calls
    ===========================================  ==================================
    create_ticket                                [GET /priorities], POST /incidents,
                                                 [PUT /incidents/{id} for a status]
    get_ticket                                   GET /incidents/{id}?include[]=body
    patch_ticket                                 GET /incidents/{id}, [GET /priorities],
                                                 [PUT /incidents/{id}]
    query_tickets                                GET /incidents?include[]=body, or by id
                                                 per id of an id filter
    create_comment                               POST /incidents/{id}/notes
    list_comments                                GET /incidents/{id}/notes
    list_projects                                GET /services
    query_escalation_policies                    GET /escalation_policies
    list_on_call                                 GET /oncalls?include[]=users
    ===========================================  ==================================

    The account's priorities (GET /priorities, every page) are read once
    per provider instance, when a priority is first written; an account
    without priorities (an empty list, or 402 for a plan without the
    ability) has none.

Paging
    Lists use PagerDuty's classic paging (limit, offset, more) through
    paging.paginate; the page token is the offset, the page size at most
    100. PagerDuty serves at most the first 10,000 records of a list
    (offset + limit <= 10000): a stream that would need more ends with
    INVALID_ARGUMENT (reason PROVIDER_PAGING_LIMIT) asking for a narrower
    filter. Notes are not paginated: one request, the cursor is the
    position in it. Items a filter condition rejects on re-check (see
    pagerduty_mapping) are skipped after paging, so resume tokens always
    name a position in PagerDuty's own page.

Errors
    Statuses map through the shared HTTP layer; the message carries
    PagerDuty's `{"error": {"message", "code", "errors"}}`. A 402 (a
    missing account ability) is INVALID_ARGUMENT (PROVIDER_REJECTED).
    PagerDuty's 429 carries `ratelimit-reset` rather than Retry-After, so it
    is retried with the layer's backoff.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import Any
from urllib.parse import quote as urlquote

from ticketing.v1 import ticket_pb2

from ..errors import InvalidArgument, NotFound, TicketingError, Unavailable
from ..query import Query
from .base import Cursor, Page, Provider, ProviderContext
from .http import BearerAuth, ProviderHTTP
from .pagerduty_mapping import (
    ESCALATION_POLICY_SCHEMA,
    ON_CALL_SCHEMA,
    TICKET_SCHEMA,
    ListSearch,
    comment_from_note,
    create_body,
    error_text,
    escalation_policy_from_pd,
    escalation_policy_search,
    incident_search,
    on_call_from_pd,
    on_call_search,
    project_from_service,
    ticket_from_incident,
    update_body,
    writes_priority,
)
from .paging import paginate, parse_cursor

__all__ = ["PagerDutyProvider", "pagerduty_error_text"]

DEFAULT_URL = "https://api.pagerduty.com"
INCLUDE_BODY = ("include[]", "body")
"""Incidents carry their description (`body`) only when asked for it."""

HEADERS: Mapping[str, str] = {
    "Accept": "application/vnd.pagerduty+json;version=2",
    "Content-Type": "application/json",
}
PAGE = 100
"""The largest page PagerDuty serves (incidents: 100; the others follow the same rule)."""
MAX_RECORDS = 10_000
"""offset + limit may not exceed this (PagerDuty answers 400 beyond)."""

pagerduty_error_text = error_text
"""The error text of a PagerDuty error body (for ProviderHTTP)."""

Fetch = Callable[[Any], Awaitable[tuple[list[Any], Any]]]


def _seg(value: str) -> str:
    return urlquote(value, safe="")


def _items(result: Any, key: str) -> list[dict[str, Any]]:
    listed = result.get(key) if isinstance(result, dict) else None
    return [item for item in listed or () if isinstance(item, dict)]


def _wrapped(result: Any, key: str, what: str) -> dict[str, Any]:
    item = result.get(key) if isinstance(result, dict) else None
    if not isinstance(item, dict):
        raise Unavailable(
            f"PagerDuty answered {what} without the {key}",
            reason="PROVIDER_BAD_RESPONSE",
            metadata={"provider": PagerDutyProvider.id},
        )
    return item


class PagerDutyProvider(Provider):
    id = "ticketing_pagerduty"
    display_name = "PagerDuty"
    filter_schemas = {
        "query_tickets": TICKET_SCHEMA,
        "query_escalation_policies": ESCALATION_POLICY_SCHEMA,
        "list_on_call": ON_CALL_SCHEMA,
    }

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        config = context.integration.pagerduty
        self.base_url = str(config.url or DEFAULT_URL).rstrip("/")
        self.default_service = str(config.default_project)
        self.default_from = str(config.default_creator)
        credential = config.credential
        if credential.WhichOneof("credential") != "token" or not credential.token.secret:
            raise InvalidArgument(
                "pagerduty.credential must be a token (a REST API key)",
                reason="INVALID_CREDENTIAL",
            )
        self.http = ProviderHTTP(
            self.id,
            self.base_url,
            BearerAuth(credential.token.secret, prefix="Token token="),
            allow_private=context.allow_private_urls,
            error_text=error_text,
        )
        self._priorities: list[dict[str, Any]] | None = None

    async def close(self) -> None:
        await self.http.close()

    # -- requests ----------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        params: Sequence[tuple[str, Any]] = (),
        body: Any = None,
        sender: str | None = None,
    ) -> Any:
        headers = dict(HEADERS)
        if sender is not None:
            headers["From"] = sender
        response = await self.http.request(
            method, path, params=list(params), json=body, headers=headers
        )
        return response.json()

    def _from(self, given: str, what: str, alternative: str = "") -> str:
        """The From email: the model's own creator when set, else default_creator."""
        sender = given.strip() or self.default_from.strip()
        if not sender:
            also = f" (or set {alternative})" if alternative else ""
            raise InvalidArgument(
                f"pagerduty.default_creator is required for {what}{also}: PagerDuty needs "
                "a From header with the email of a user of the account",
                reason="MISSING_FROM",
            )
        return sender

    def _pages(
        self,
        path: str,
        key: str,
        params: Sequence[tuple[str, str]],
        size: int,
        after: Cursor | None,
    ) -> Fetch:
        """A page fetcher for limit/offset/more (page token = offset).

        The page a resume token names is fetched at least as long as the
        position it holds, so a smaller page size on resume loses nothing.
        """
        first, skip = parse_cursor(after)

        async def fetch(token: Any) -> tuple[list[Any], Any]:
            if token is None:
                offset = 0
            elif isinstance(token, int) and not isinstance(token, bool) and token >= 0:
                offset = token
            else:
                raise InvalidArgument(
                    "the resume token does not name a PagerDuty page",
                    reason="INVALID_RESUME_TOKEN",
                )
            if offset >= MAX_RECORDS:
                raise InvalidArgument(
                    f"PagerDuty serves only the first {MAX_RECORDS} records of a list "
                    f"({path}); narrow the filter to see the rest",
                    reason="PROVIDER_PAGING_LIMIT",
                    metadata={"provider": self.id},
                )
            limit = max(size, skip + 1) if token == first else size
            limit = max(1, min(limit, PAGE, MAX_RECORDS - offset))
            result = await self._call(
                "GET", path, [*params, ("limit", str(limit)), ("offset", str(offset))]
            )
            items = _items(result, key)
            more = isinstance(result, dict) and result.get("more") is True
            echoed = result.get("limit") if isinstance(result, dict) else None
            if not isinstance(echoed, int) or isinstance(echoed, bool) or not 0 < echoed <= limit:
                echoed = limit
            return items, offset + echoed if more else None

        return fetch

    async def _list(
        self,
        path: str,
        key: str,
        params: Sequence[tuple[str, str]],
        page: Page,
        search: ListSearch | None = None,
    ) -> AsyncIterator[tuple[dict[str, Any], Cursor]]:
        if search is not None and search.empty:
            return
        size = min(page.size_hint or page.limit or PAGE, PAGE)
        fetch = self._pages(path, key, params, size, page.after)
        async with aclosing(paginate(fetch, page.after)) as items:
            async for item, cursor in items:
                if search is None or search.keep(item):
                    yield item, cursor

    async def _account_priorities(self) -> list[dict[str, Any]]:
        """The account's priorities, most severe first; [] when it has none."""
        if self._priorities is None:
            try:
                found = [
                    item
                    async for item, _ in self._list("/priorities", "priorities", (), Page(), None)
                ]
            except TicketingError as error:
                if error.metadata.get("http_status") != "402":
                    raise
                found = []  # the plan has no priorities
            self._priorities = found
        return self._priorities

    # -- tickets -----------------------------------------------------------------------

    async def _incident(self, incident_id: str) -> dict[str, Any]:
        path = f"/incidents/{_seg(incident_id)}"
        result = await self._call("GET", path, params=[INCLUDE_BODY])
        return _wrapped(result, "incident", f"GET /incidents/{incident_id}")

    async def create_ticket(self, ticket: ticket_pb2.Ticket) -> ticket_pb2.Ticket:
        sender = self._from(ticket.creator, "creating an incident", "ticket.creator")
        service = ticket.project or self.default_service
        probe = ticket_pb2.Ticket()
        probe.CopyFrom(ticket)
        probe.priority = ticket_pb2.PRIORITY_UNSPECIFIED
        create_body(probe, service=service)  # the rest is checked before any request
        needs = ticket.priority != ticket_pb2.PRIORITY_UNSPECIFIED
        body = create_body(
            ticket,
            service=service,
            priorities=await self._account_priorities() if needs else None,
        )
        result = await self._call("POST", "/incidents", body=body, sender=sender)
        incident = _wrapped(result, "incident", "POST /incidents")
        status = ticket.status.strip().lower()
        if status and status != str(incident.get("status", "")):
            update = {"incident": {"type": "incident_reference", "status": status}}
            path = f"/incidents/{_seg(str(incident.get('id', '')))}"
            result = await self._call("PUT", path, body=update, sender=sender)
            incident = _wrapped(result, "incident", f"PUT {path}")
        created = ticket_from_incident(incident, creator=sender)
        if not created.description and ticket.description:
            created.description = ticket.description  # written, though not echoed
        return created

    async def get_ticket(self, ticket_id: str) -> ticket_pb2.Ticket:
        return ticket_from_incident(await self._incident(ticket_id))

    async def patch_ticket(
        self, ticket: ticket_pb2.Ticket, paths: Sequence[str]
    ) -> ticket_pb2.Ticket:
        sender = self._from("", "updating an incident")
        current = ticket_from_incident(await self._incident(ticket.id))
        probe = ticket_pb2.Ticket()
        probe.CopyFrom(ticket)
        probe.priority = current.priority
        body = update_body(probe, paths, current)  # the rest is checked before writing
        if writes_priority(ticket, paths, current):
            body = update_body(ticket, paths, current, priorities=await self._account_priorities())
        elif "priority" in paths:
            body = update_body(ticket, paths, current)  # clearing: refused there
        if body is None:
            return current
        path = f"/incidents/{_seg(current.id or ticket.id)}"
        result = await self._call("PUT", path, body=body, sender=sender)
        updated = ticket_from_incident(_wrapped(result, "incident", f"PUT {path}"))
        if not updated.description:
            updated.description = current.description
        return updated

    async def query_tickets(
        self, query: Query, page: Page
    ) -> AsyncIterator[tuple[ticket_pb2.Ticket, Cursor]]:
        search = incident_search(query)
        if search.ids is None:
            async for item, cursor in self._list(
                "/incidents", "incidents", [*search.params, INCLUDE_BODY], page, search
            ):
                yield ticket_from_incident(item), cursor
            return

        async def by_id(token: Any) -> tuple[list[Any], Any]:
            if token is not None:
                raise InvalidArgument(
                    "the resume token does not name a position in this query",
                    reason="INVALID_RESUME_TOKEN",
                )
            found: list[dict[str, Any]] = []
            for incident_id in search.ids or ():
                try:
                    found.append(await self._incident(incident_id))
                except NotFound:
                    continue
            return search.select(found), None

        if search.empty:
            return
        async with aclosing(paginate(by_id, page.after)) as items:
            async for item, cursor in items:
                yield ticket_from_incident(item), cursor

    # -- comments (incident notes) -----------------------------------------------------

    async def create_comment(self, comment: ticket_pb2.Comment) -> ticket_pb2.Comment:
        sender = self._from(comment.creator, "adding a note to an incident", "comment.creator")
        path = f"/incidents/{_seg(comment.ticket_id)}/notes"
        result = await self._call(
            "POST", path, body={"note": {"content": comment.content}}, sender=sender
        )
        return comment_from_note(_wrapped(result, "note", f"POST {path}"), comment.ticket_id)

    async def list_comments(
        self, ticket_id: str, page: Page
    ) -> AsyncIterator[tuple[ticket_pb2.Comment, Cursor]]:
        path = f"/incidents/{_seg(ticket_id)}/notes"

        async def fetch(token: Any) -> tuple[list[Any], Any]:
            if token is not None:
                raise InvalidArgument(
                    "the resume token does not name a PagerDuty note",
                    reason="INVALID_RESUME_TOKEN",
                )
            return _items(await self._call("GET", path), "notes"), None

        async with aclosing(paginate(fetch, page.after)) as items:
            async for note, cursor in items:
                yield comment_from_note(note, ticket_id), cursor

    # -- services, escalation policies, on-call ------------------------------------------

    async def list_projects(self, page: Page) -> AsyncIterator[tuple[ticket_pb2.Project, Cursor]]:
        async for item, cursor in self._list("/services", "services", (), page):
            yield project_from_service(item), cursor

    async def query_escalation_policies(
        self, query: Query, page: Page
    ) -> AsyncIterator[tuple[ticket_pb2.EscalationPolicy, Cursor]]:
        search = escalation_policy_search(query)
        async for item, cursor in self._list(
            "/escalation_policies", "escalation_policies", search.params, page, search
        ):
            yield escalation_policy_from_pd(item), cursor

    async def list_on_call(self, query: Query, page: Page) -> AsyncIterator[ticket_pb2.OnCall]:
        search = on_call_search(query)
        params = [("include[]", "users"), *search.params]
        async for item, _ in self._list("/oncalls", "oncalls", params, page, search):
            yield on_call_from_pd(item)
