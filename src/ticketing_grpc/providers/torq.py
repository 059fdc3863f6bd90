"""ticketing_torq: Torq cases through Torq's public REST API (v1alpha).

Tickets are cases; comments are public timeline comments and notes internal
ones (see torq_mapping for every field, filter and the reasons). There is no
official machine-readable description of this API: what follows comes from
the pages at developers.torq.io/apidocs, and every convention chosen where
they are silent is marked *chosen*.

Base URL and authentication
    `torq.url` is the API base: https://api.torq.io, or https://api.eu.torq.io
    for the EU region (documented). Paths are `/v1alpha/...` appended to it;
    a URL whose path already ends in `/v1alpha` (a third-party client uses
    https://api.torq.io/public/v1alpha) is used as it is, so the prefix is
    configurable through the URL.

    OAuth 2.0 client credentials (documented): POST the token endpoint with HTTP
    basic `client_id:client_secret` and the form `grant_type=client_credentials`;
    the answer's `access_token` is sent as `Authorization: Bearer`. It lives an
    hour (`expires_in` 3600) and is cached until shortly before it expires
    (http_auth.OAuth2ClientCredentials). token_url defaults to
    https://auth.torq.io/v1/auth/token, https://auth.eu.torq.io/v1/auth/token for
    an *.eu.torq.io base, and `/v1/auth/token` on the base's own origin for any
    other host (*chosen*: a gateway or test double serving both).

    Torq answers 302 when the bearer token expired (documented on the Errors
    page). API calls therefore do not follow redirects: a 302 drops the cached
    token and the call is sent once more with a new one; a second 302 is
    UNAUTHENTICATED (reason PROVIDER_TOKEN_EXPIRED). A 401 (token not valid)
    does the same through the shared HTTP layer.

    ===================  =======================================================
    operator             calls
    ===================  =======================================================
    create_ticket        POST /v1alpha/cases (*chosen*: exists per the overview,
                         request shape not documented)
    get_ticket           GET /v1alpha/cases/{id} (*chosen*, likewise)
    patch_ticket         GET /v1alpha/cases/{id}, PATCH /v1alpha/cases/{id}
                         (documented) when something changes
    query_tickets        POST /v1alpha/cases/query (documented filters)
    create_comment       POST /v1alpha/cases/{id}/timeline (documented),
    create_note          visibility VISIBILITY_ID_PUBLIC / VISIBILITY_ID_INTERNAL
    list_comments        GET /v1alpha/cases/{id}/timeline (*chosen*: the "List
    list_notes           case timeline events" workflow step exists, the REST
                         listing is not documented)
    delete_comment       DELETE /v1alpha/cases/{id}/timeline/{entry id} (*chosen*)
    delete_note
    patch_note           PATCH /v1alpha/cases/{id}/timeline/{entry id} with
                         {"text"} (*chosen*); a title-only patch lists the
                         timeline to return the note
    ===================  =======================================================

    Comment and note ids both name timeline entries. Torq documents no way to
    read one entry, so delete_comment/delete_note and patch_note do not check
    the entry's visibility first: deleting a note through delete_comment
    deletes it.

    Answers: a case comes wrapped as {"case": {...}} or bare (*chosen*: both are
    read); a PATCH answer without a case is followed by a GET. A timeline
    comment comes as {"comment_event": {...}} (documented for the POST).

Paging
    The documented List convention: `pageSize` (default 50, at most 100) and
    `pageToken`, a non-empty next token meaning another page. For the query the
    two go into the JSON body next to `filters`, for the timeline into the query
    string (*chosen*). The next token is read from `next_page_token`
    (*chosen*; also `nextPageToken`, `page_token` or `pageToken`, as the
    Pagination page names it). The page token of paging.paginate is
    [Torq's token, page size], so a resumed page is asked for with the size it
    had. Entries a filter rejects on re-check (or timeline entries of the other
    kind) are skipped after paging, so resume tokens name positions in Torq's
    own pages.

Errors and limits
    Documented statuses: 302 expired token, 401, 403, 404, 409, 502; a body shape
    is not documented (torq_mapping.error_text reads the usual ones). At most
    50 requests per second (documented); the throttling answer is not
    documented: a 429 is retried by the shared layer, honouring Retry-After.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote as urlquote

from ticketing.v1 import ticket_pb2
from yarl import URL

from ..errors import InvalidArgument, NotFound, Unauthenticated, Unavailable
from ..query import Query, QuerySchema
from .base import Cursor, Page, Provider, ProviderContext
from .http import OK, OAuth2ClientCredentials, ProviderHTTP
from .paging import paginate, parse_cursor
from .torq_mapping import (
    PROJECT,
    TICKET_SCHEMA,
    VISIBILITY_INTERNAL,
    VISIBILITY_PUBLIC,
    case_id,
    case_search,
    comment_body,
    comment_entry,
    comment_from_event,
    create_body,
    custom_field_specs,
    error_text,
    note_from_event,
    ticket_from_case,
    update_body,
)

__all__ = ["TorqProvider", "api_base", "default_token_url"]

DEFAULT_URL = "https://api.torq.io"
API_PREFIX = "/v1alpha"
TOKEN_PATH = "/v1/auth/token"
PAGE = 100
"""The largest page (documented maximum of pageSize)."""
DEFAULT_PAGE = 50
"""Torq's default pageSize."""
EXPIRED = 302
"""Torq's answer to an expired bearer token."""
_ANSWERS = frozenset([*OK, EXPIRED])
_NEXT_TOKEN_KEYS = ("next_page_token", "nextPageToken", "page_token", "pageToken")

Fetch = Callable[[Any], Awaitable[tuple[list[Any], Any]]]


def api_base(url: str) -> str:
    """The API root for a configured URL: `/v1alpha` appended unless it ends the path."""
    base = (url or DEFAULT_URL).rstrip("/")
    return base if base.endswith(API_PREFIX) else base + API_PREFIX


def default_token_url(url: str) -> str:
    """Torq's token endpoint for an API base URL (see the module docstring)."""
    parsed = URL(url or DEFAULT_URL)
    host = (parsed.host or "").lower()
    if host == "eu.torq.io" or host.endswith(".eu.torq.io"):
        return "https://auth.eu.torq.io" + TOKEN_PATH
    if host == "torq.io" or host.endswith(".torq.io"):
        return "https://auth.torq.io" + TOKEN_PATH
    return str(parsed.origin()) + TOKEN_PATH


def _seg(value: str | int) -> str:
    return urlquote(str(value), safe="")


def _items(result: Any, key: str) -> list[dict[str, Any]]:
    listed = result.get(key) if isinstance(result, dict) else None
    return [item for item in listed or () if isinstance(item, dict)]


def _next_token(result: Any) -> str | None:
    if not isinstance(result, dict):
        return None
    for key in _NEXT_TOKEN_KEYS:
        value = result.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _bad(what: str) -> Unavailable:
    return Unavailable(
        f"Torq answered {what} without the expected object",
        reason="PROVIDER_BAD_RESPONSE",
        metadata={"provider": TorqProvider.id},
    )


def _case(result: Any) -> dict[str, Any] | None:
    """The case of an answer: {"case": {...}} or the bare case."""
    if isinstance(result, dict):
        inner = result.get("case")
        if isinstance(inner, dict):
            return inner
        if "id" in result and "title" in result:
            return result
    return None


def _event(result: Any, what: str) -> dict[str, Any]:
    inner = result.get("comment_event") if isinstance(result, dict) else None
    if isinstance(inner, dict):
        return inner
    if isinstance(result, dict) and "id" in result:
        return result
    raise _bad(what)


def _no_creator(creator: str, what: str) -> None:
    if creator.strip():
        raise InvalidArgument(
            f"{what}.creator cannot be set: Torq records the API key's user as the author",
            reason="UNSUPPORTED_FIELD",
        )


class TorqProvider(Provider):
    id = "ticketing_torq"
    display_name = "Torq"
    filter_schemas = {"query_tickets": TICKET_SCHEMA}

    def __init__(self, context: ProviderContext) -> None:
        super().__init__(context)
        config = context.integration.torq
        url = str(config.url or DEFAULT_URL)
        credential = config.credential
        if credential.WhichOneof("credential") != "oauth_client":
            raise InvalidArgument(
                "torq.credential must be oauth_client (a Torq API key's client id and secret)",
                reason="INVALID_CREDENTIAL",
            )
        oauth = credential.oauth_client
        if not oauth.client_id or not oauth.client_secret:
            raise InvalidArgument(
                "torq.credential.oauth_client needs client_id and client_secret",
                reason="INVALID_CREDENTIAL",
            )
        self.auth = OAuth2ClientCredentials(
            oauth.token_url or default_token_url(url),
            oauth.client_id,
            oauth.client_secret,
            tuple(oauth.scopes),
            client_auth="basic",
        )
        self.http = ProviderHTTP(
            self.id,
            api_base(url),
            self.auth,
            allow_private=context.allow_private_urls,
            error_text=error_text,
        )
        self.default_creator = str(config.default_creator).strip()
        self.default_issue_type = str(config.default_issue_type).strip()

    async def close(self) -> None:
        await self.http.close()

    def filter_schema(self, operator: str) -> QuerySchema:
        schema = super().filter_schema(operator)
        if operator != "query_tickets":
            return schema
        return schema.with_fields(custom_field_specs(self._custom()))

    def _custom(self) -> Mapping[str, str]:
        return self.context.custom_fields.for_project(PROJECT)

    # -- requests ----------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        body: Any = None,
    ) -> Any:
        """One API call; a 302 (expired token) gets a new token and one more try."""
        for _ in range(2):
            response = await self.http.request(
                method,
                path,
                params=list(params),
                json=body,
                headers={"Accept": "application/json"},
                ok=_ANSWERS,
                allow_redirects=False,
            )
            if response.status != EXPIRED:
                return response.json()
            self.auth.invalidate()
        raise Unauthenticated(
            f"Torq kept answering 302 (bearer token expired) to {method} {path}",
            reason="PROVIDER_TOKEN_EXPIRED",
            metadata={"provider": self.id, "http_status": str(EXPIRED)},
        )

    def _fetcher(
        self, call: Callable[[str | None, int], Awaitable[Any]], key: str, page: Page
    ) -> Fetch:
        """A page fetcher for a pageSize/pageToken list; its page token is [Torq's, size]."""
        size = max(1, min(page.size_hint or page.limit or DEFAULT_PAGE, PAGE))
        first, skip = parse_cursor(page.after)

        async def fetch(token: Any) -> tuple[list[Any], Any]:
            if token is None:  # the first page: long enough for a resumed position on it
                torq_token = None
                wanted = min(max(size, skip + 1), PAGE) if first is None else size
            elif (
                isinstance(token, list)
                and len(token) == 2
                and isinstance(token[0], str)
                and isinstance(token[1], int)
                and 0 < token[1] <= PAGE
            ):
                torq_token, wanted = token
            else:
                raise InvalidArgument(
                    "the resume token does not name a Torq page", reason="INVALID_RESUME_TOKEN"
                )
            result = await call(torq_token, wanted)
            following = _next_token(result)
            return _items(result, key), [following, wanted] if following else None

        return fetch

    # -- tickets -----------------------------------------------------------------------

    async def _get_case(self, ticket_id: str) -> dict[str, Any]:
        number = case_id(ticket_id)
        case = _case(await self._call("GET", f"cases/{number}"))
        if case is None:
            raise _bad(f"GET /cases/{number}")
        return case

    async def create_ticket(self, ticket: ticket_pb2.Ticket) -> ticket_pb2.Ticket:
        custom = self._custom()
        body = create_body(
            ticket,
            creator=ticket.creator.strip() or self.default_creator,
            issue_type=ticket.issue_type.strip() or self.default_issue_type,
            custom=custom,
            now=datetime.now(UTC),
        )
        result = await self._call("POST", "cases", body=body)
        case = _case(result)
        if case is None:
            number = result.get("id") if isinstance(result, dict) else None
            if number is None:
                raise _bad("POST /cases")
            case = await self._get_case(str(number))
        return ticket_from_case(case, custom)

    async def get_ticket(self, ticket_id: str) -> ticket_pb2.Ticket:
        return ticket_from_case(await self._get_case(ticket_id), self._custom())

    async def patch_ticket(
        self, ticket: ticket_pb2.Ticket, paths: Sequence[str]
    ) -> ticket_pb2.Ticket:
        custom = self._custom()
        current = await self._get_case(ticket.id)
        body = update_body(ticket, paths, current, custom)
        if body is None:
            return ticket_from_case(current, custom)
        number = case_id(ticket.id)
        case = _case(await self._call("PATCH", f"cases/{number}", body=body))
        if case is None:
            case = await self._get_case(ticket.id)
        return ticket_from_case(case, custom)

    async def query_tickets(
        self, query: Query, page: Page
    ) -> AsyncIterator[tuple[ticket_pb2.Ticket, Cursor]]:
        custom = self._custom()
        search = case_search(query, custom)
        if search.empty:
            return

        async def call(token: str | None, size: int) -> Any:
            body: dict[str, Any] = {"filters": search.filters, "pageSize": size}
            if token:
                body["pageToken"] = token
            return await self._call("POST", "cases/query", body=body)

        fetch = self._fetcher(call, "cases", page)
        async with aclosing(paginate(fetch, page.after)) as items:
            async for case, cursor in items:
                if search.keep(case):
                    yield ticket_from_case(case, custom), cursor

    # -- timeline comments (comments and notes) ------------------------------------------

    async def _add(self, ticket_id: str, text: str, visibility: str) -> dict[str, Any]:
        number = case_id(ticket_id)
        path = f"cases/{number}/timeline"
        return _event(await self._call("POST", path, body=comment_body(text, visibility)), path)

    async def _timeline(
        self, ticket_id: str, page: Page, visibility: str
    ) -> AsyncIterator[tuple[dict[str, Any], Cursor]]:
        number = case_id(ticket_id)

        async def call(token: str | None, size: int) -> Any:
            params = [("pageSize", str(size))]
            if token:
                params.append(("pageToken", token))
            return await self._call("GET", f"cases/{number}/timeline", params=params)

        fetch = self._fetcher(call, "events", page)
        async with aclosing(paginate(fetch, page.after)) as items:
            async for event, cursor in items:
                entry = comment_entry(event)
                if entry is not None and entry[1] == visibility:
                    yield event, cursor

    async def _remove(self, ticket_id: str, entry_id: str) -> None:
        number = case_id(ticket_id)
        await self._call("DELETE", f"cases/{number}/timeline/{_seg(entry_id)}")

    async def create_comment(self, comment: ticket_pb2.Comment) -> ticket_pb2.Comment:
        _no_creator(comment.creator, "comment")
        event = await self._add(comment.ticket_id, comment.content, VISIBILITY_PUBLIC)
        return comment_from_event(event, comment.ticket_id, comment.content)

    async def delete_comment(self, ticket_id: str, comment_id: str) -> None:
        await self._remove(ticket_id, comment_id)

    async def list_comments(
        self, ticket_id: str, page: Page
    ) -> AsyncIterator[tuple[ticket_pb2.Comment, Cursor]]:
        async for event, cursor in self._timeline(ticket_id, page, VISIBILITY_PUBLIC):
            yield comment_from_event(event, ticket_id), cursor

    async def create_note(self, note: ticket_pb2.Note) -> ticket_pb2.Note:
        _no_creator(note.creator, "note")
        if note.title.strip():
            raise InvalidArgument(
                "note.title cannot be set: a Torq timeline comment has no title",
                reason="UNSUPPORTED_FIELD",
            )
        event = await self._add(note.ticket_id, note.content, VISIBILITY_INTERNAL)
        return note_from_event(event, note.ticket_id, note.content)

    async def delete_note(self, ticket_id: str, note_id: str) -> None:
        await self._remove(ticket_id, note_id)

    async def list_notes(
        self, ticket_id: str, page: Page
    ) -> AsyncIterator[tuple[ticket_pb2.Note, Cursor]]:
        async for event, cursor in self._timeline(ticket_id, page, VISIBILITY_INTERNAL):
            yield note_from_event(event, ticket_id), cursor

    async def patch_note(self, note: ticket_pb2.Note, paths: Sequence[str]) -> ticket_pb2.Note:
        if "title" in paths and note.title.strip():
            raise InvalidArgument(
                "note.title cannot be set: a Torq timeline comment has no title",
                reason="UNSUPPORTED_FIELD",
            )
        number = case_id(note.ticket_id)
        if "content" in paths:
            path = f"cases/{number}/timeline/{_seg(note.id)}"
            result = await self._call("PATCH", path, body={"text": note.content})
            return note_from_event(_event(result, path), note.ticket_id, note.content)
        async for event, _ in self._timeline(note.ticket_id, Page(), VISIBILITY_INTERNAL):
            if str(event.get("id", "")) == note.id:
                return note_from_event(event, note.ticket_id)
        raise NotFound(
            f"Torq case {number} has no note {note.id!r}",
            reason="PROVIDER_NOT_FOUND",
            metadata={"provider": self.id},
        )
