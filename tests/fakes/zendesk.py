"""An in-memory Zendesk Support account (REST API v2) on a real socket, for plugin tests.

Usage::

    spec = load_zendesk_spec(SHARED / "specs/zendesk/support-api.yaml")
    async with FakeZendesk(spec=spec) as zd:
        zd.url                                   # http://127.0.0.1:<port>
        zd.headers()                             # basic API-token auth of alice (admin)
        zd.group("Support").id, zd.user("bob@example.com").id, zd.field("effort").id
        ticket = zd.seed_ticket("Printer on fire", priority="urgent", group="Support")
        zd.fail_next(status=429, retry_after=0, path="/api/v2/search")
        ...
        zd.assert_no_violations()                # the plugin spoke the published API

What it imitates is what a ticketing connector touches, written from the official OpenAPI
description (``shared/specs/zendesk/support-api.yaml``, OpenAPI 3.0.3) and Zendesk's
developer docs (security and auth, pagination, rate limits, search reference):

- Auth: ``Authorization: Basic base64("{email}/token:{api_token}")`` for an agent or admin
  and an active API token; ``Authorization: Bearer <oauth token>`` (scopes ``read``,
  ``write``). Password basic auth answers 401 (Zendesk has turned password access to the
  API off). Anything else: 401 ``{"error": "Couldn't authenticate you"}``.
- Tickets: create, show, update (fields, a new comment), delete, list (cursor or offset
  pages), show_many; comments of a ticket; the account's ticket fields.
- Search: ``/api/v2/search`` (offset pages, ``sort_by``/``sort_order``, the 1,000-result
  limit), ``/api/v2/search/export`` (cursor pages, ``filter[type]=ticket``, cursors that
  expire after an hour), ``/api/v2/search/count``, with the query language subset below.
- Error bodies ``{"error", "description"?, "details"?}``; ``X-Rate-Limit`` and
  ``X-Rate-Limit-Remaining`` on every answer (plus ``ratelimit-*`` and
  ``zendesk-ratelimit-tickets-index`` on the ticket list); a live per-account rate limit
  answering 429 with ``Retry-After``; a fault switch (``fail_next``); a request log.

With a spec every request and every JSON answer is checked against it (see
``tests/fakes/spec.py``), after the corrections listed in :data:`ERRATA`. Problems are
collected in ``violations``. Conventions chosen where the documents are silent are listed
on :class:`FakeZendesk`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from .base import Handler, RecordedRequest, RetryFakeServer, RetryFault, SpecViolations, Violation
from .base import json_response as _json
from .spec import OpenAPISpec, read_document

__all__ = [
    "ERRATA",
    "Comment",
    "FakeZendesk",
    "Fault",
    "Group",
    "RecordedRequest",
    "Ticket",
    "TicketField",
    "User",
    "Violation",
    "ZdError",
    "load_zendesk_spec",
    "with_errata",
    "zd_time",
]

_CALLER: ContextVar[Caller] = ContextVar("fake_zendesk_caller")
_BODY: ContextVar[Any] = ContextVar("fake_zendesk_body")

STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
TYPES = ("problem", "incident", "question", "task")
SORT_FIELDS = ("created_at", "updated_at", "priority", "status", "ticket_type")
KEYWORDS = frozenset(
    {
        "type",
        "status",
        "priority",
        "ticket_type",
        "assignee",
        "requester",
        "submitter",
        "assignee_id",
        "requester_id",
        "submitter_id",
        "group_id",
        "problem_id",
        "group",
        "tags",
        "subject",
        "description",
        "created",
        "updated",
        "due_date",
    }
)
SEARCH_LIMIT = 1000  # "The Search API returns up to 1,000 results per query"
OFFSET_LIMIT = 10_000  # offset paging past 10,000 records (100 pages) answers 400
CURSOR_LIFETIME = timedelta(hours=1)  # "The cursor ... expires after one hour"

AUTH_FAILED = {"error": "Couldn't authenticate you"}
FORBIDDEN = {
    "error": "Forbidden",
    "description": "You do not have access to this page. Please contact the account owner "
    "of this help desk for further help.",
}
NOT_FOUND = {"error": "RecordNotFound", "description": "Not found"}
RATE_LIMITED = {
    "error": "APIRateLimitExceeded",
    "description": "Number of allowed API requests per minute exceeded",
}


def zd_time(when: datetime) -> str:
    """Zendesk's timestamp format: ``2009-07-20T22:55:29Z`` (UTC, whole seconds)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(raw: str) -> datetime | None:
    value = raw.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


# -- errata -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Erratum:
    """One correction of the published description: where, the new value, and why."""

    where: tuple[str, ...]  # keys from the document's root
    change: Callable[[Any], Any]
    reason: str


def _nullable(schema: Any) -> Any:
    return {**schema, "nullable": True}


_ANY_VALUE = {
    "nullable": True,
    "anyOf": [
        {"type": "string"},
        {"type": "number"},
        {"type": "boolean"},
        {"type": "array", "items": {"type": "string"}},
    ],
}


def _plus_params(*params: tuple[str, str]) -> Callable[[Any], Any]:
    def change(operation: Any) -> Any:
        have = {p.get("name") for p in operation.get("parameters", []) if isinstance(p, dict)}
        extra = [
            {"name": name, "in": "query", "schema": {"type": kind}}
            for name, kind in params
            if name not in have
        ]
        return {**operation, "parameters": [*operation.get("parameters", []), *extra]}

    return change


_S = ("components", "schemas")
_TICKET = (*_S, "TicketObject", "properties")
_UPDATE = (*_S, "TicketUpdateInput", "properties")
_CURSOR = (("page[size]", "integer"), ("page[after]", "string"), ("page[before]", "string"))
_OFFSET = (("page", "integer"), ("per_page", "integer"))
ERRATA: tuple[Erratum, ...] = (
    *(
        Erratum(
            (*_TICKET, name),
            _nullable,
            f"TicketObject.{name}: the live API answers null for an attribute a ticket lacks "
            "(no assignee, group, priority...); the description declares only due_at "
            "nullable, though satisfaction_rating's own text says 'The value is null for "
            "plan types that don't support CSAT'",
        )
        for name in (
            "assignee_id",
            "group_id",
            "organization_id",
            "priority",
            "type",
            "problem_id",
            "external_id",
            "forum_topic_id",
            "recipient",
            "satisfaction_rating",
        )
    ),
    Erratum(
        (*_TICKET, "custom_fields", "items", "properties", "value"),
        lambda _: _ANY_VALUE,
        "custom field values follow the field's type (CustomFieldObject.type: checkbox "
        "holds booleans, multiselect arrays) and an unset field is null; the description "
        "says string",
    ),
    Erratum(
        (*_UPDATE, "custom_fields", "items"),
        lambda _: {
            "type": "object",
            "properties": {"id": {"type": "integer"}, "value": _ANY_VALUE},
        },
        "TicketUpdateInput.custom_fields items point at CustomFieldObject, the definition "
        "of a ticket field (required key, type, title); tickets are written with "
        "[{id, value}] as TicketObject.custom_fields and the 'Setting custom field values' "
        "guide show",
    ),
    *(
        Erratum(
            (*_UPDATE, name),
            _nullable,
            f"TicketUpdateInput.{name}: null clears it (unassigns the ticket / sets the "
            "type back to '-'), as the agent interface does",
        )
        for name in ("assignee_id", "type")
    ),
    Erratum(
        ("paths", "/api/v2/search", "get"),
        _plus_params(*_OFFSET),
        "ListSearchResults says 'Offset pagination only' and its own example's next_page "
        "carries page=2, but declares neither page nor per_page",
    ),
    Erratum(
        ("paths", "/api/v2/search/export", "get"),
        _plus_params(("page[after]", "string")),
        "ExportSearchResults pages with a cursor its description and example links.next "
        "pass as page[after], which it does not declare",
    ),
    *(
        Erratum(
            ("paths", path, "get"),
            _plus_params(*_CURSOR, *_OFFSET),
            f"{path}: the Pagination guide's cursor (page[size], page[after], page[before]) "
            "and offset (page, per_page) parameters, not declared on the operation",
        )
        for path in ("/api/v2/tickets", "/api/v2/tickets/{ticket_id}/comments")
    ),
)


def _patched(document: Any, where: Sequence[str], change: Callable[[Any], Any]) -> Any:
    """A copy of ``document`` with the node at ``where`` changed; shares everything else."""
    if not where:
        return change(document)
    key, rest = where[0], where[1:]
    return {**document, key: _patched(document[key], rest, change)}


def _with_errata(document: Any) -> Any:
    for erratum in ERRATA:
        try:
            document = _patched(document, erratum.where, erratum.change)
        except (KeyError, TypeError):
            continue  # not Zendesk's description, or a later one without that flaw
    return document


_PATCHED: dict[int, tuple[OpenAPISpec, OpenAPISpec]] = {}
_IS_PATCHED: set[int] = set()


def with_errata(spec: OpenAPISpec) -> OpenAPISpec:
    """``spec`` with :data:`ERRATA` applied; built once per spec object."""
    if id(spec) in _IS_PATCHED:
        return spec
    cached = _PATCHED.get(id(spec))
    if cached is not None and cached[0] is spec:
        return cached[1]
    patched = OpenAPISpec(_with_errata(spec.document), source=f"{spec.source} (+errata)")
    _PATCHED[id(spec)] = (spec, patched)
    _IS_PATCHED.add(id(patched))
    return patched


@lru_cache(maxsize=4)
def _load_patched(path: str, mtime_ns: int) -> OpenAPISpec:
    patched = OpenAPISpec(_with_errata(read_document(path)), source=f"{path} (+errata)")
    _IS_PATCHED.add(id(patched))
    return patched


def load_zendesk_spec(path: str | Path) -> OpenAPISpec | None:
    """Zendesk's description (YAML) with :data:`ERRATA`, parsed once per process; None if
    absent."""
    target = Path(path)
    if not target.is_file():
        return None
    return _load_patched(str(target.resolve()), target.stat().st_mtime_ns)


# -- model ------------------------------------------------------------------------------


@dataclass
class User:
    id: int
    name: str
    email: str
    role: str = "agent"  # "admin" | "agent" | "end-user"
    groups: list[int] = field(default_factory=list)

    @property
    def is_agent(self) -> bool:
        return self.role in ("admin", "agent")


@dataclass
class Group:
    id: int
    name: str


@dataclass
class TicketField:
    id: int
    type: str
    title: str
    options: tuple[str, ...] = ()
    system: bool = False
    position: int = 0


@dataclass
class Comment:
    id: int
    author_id: int
    body: str
    public: bool
    created_at: datetime


@dataclass
class Ticket:
    id: int
    subject: str
    description: str
    status: str
    requester_id: int
    submitter_id: int
    created_at: datetime
    updated_at: datetime
    priority: str | None = None
    type: str | None = None
    assignee_id: int | None = None
    group_id: int | None = None
    problem_id: int | None = None
    due_at: datetime | None = None
    tags: list[str] = field(default_factory=list)
    custom: dict[int, Any] = field(default_factory=dict)
    comments: list[Comment] = field(default_factory=list)
    external_id: str | None = None
    via: str = "api"


@dataclass
class Caller:
    user: User
    can_write: bool = True


@dataclass
class Fault(RetryFault):
    """One entry of the fault switch; see :meth:`FakeZendesk.fail_next`."""

    retry_after: float | None = 1


class ZdError(Exception):
    """Raised in handlers; becomes Zendesk's error body."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = dict(body)


def _invalid(**details: str) -> ZdError:
    """422 RecordInvalid with one problem per attribute."""
    return ZdError(
        422,
        {
            "error": "RecordInvalid",
            "description": "Record validation errors",
            "details": {
                name: [{"description": text, "error": "InvalidValue"}]
                for name, text in details.items()
            },
        },
    )


def _bad_request(description: str, error: str = "InvalidParameter") -> ZdError:
    return ZdError(400, {"error": error, "description": description})


class _UnparsableType:
    pass


_Unparsable: Any = _UnparsableType()


def _token_text(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


# -- search language ---------------------------------------------------------------------

_TERM = re.compile(
    r"(?P<neg>-?)(?:(?P<key>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:|>=|<=|>|<))?"
    r'(?P<value>"[^"]*"|[^\s"]+)'
)
_RELATIVE = re.compile(r"(\d+)(minutes?|hours?|days?|weeks?)")


@dataclass(frozen=True)
class Term:
    negated: bool
    keyword: str | None
    op: str
    value: str
    phrase: bool


def parse_search(query: str) -> list[Term]:
    """The terms of a search query; ZdError 400 for what the fake cannot read."""
    terms: list[Term] = []
    pos = 0
    while True:
        while pos < len(query) and query[pos].isspace():
            pos += 1
        if pos >= len(query):
            return terms
        match = _TERM.match(query, pos)
        if match is None:
            raise _bad_request(f"Invalid search query near {query[pos : pos + 20]!r}", "invalid")
        raw = match["value"]
        phrase = raw.startswith('"')
        terms.append(
            Term(
                negated=bool(match["neg"]),
                keyword=match["key"].lower() if match["key"] else None,
                op=match["op"] or ":",
                value=raw[1:-1] if phrase else raw,
                phrase=phrase,
            )
        )
        pos = match.end()


class FakeZendesk(SpecViolations, RetryFakeServer[Fault, RecordedRequest]):
    """A fake Zendesk Support account. ``async with FakeZendesk(...) as zd`` starts it.

    Defaults (``defaults=True``): users alice@example.com (admin), bob@example.com (agent),
    carol@example.com (end user); groups "Support" (alice, bob; alice's and bob's default)
    and "Billing" (alice); API token ``zd-api-token``; OAuth tokens ``zd-oauth-token``
    (alice, read write) and ``zd-read-token`` (alice, read); the system ticket fields and
    custom fields effort (integer), team (tagger: platform, payments, security), notes
    (text), vip (checkbox), labels (multiselect: red, green, blue), launch (date) and
    score (decimal).

    Conventions where the documents are silent (a plugin may rely on none of them beyond
    what the real API documents, but they are what this fake does):

    - Ids: tickets count from 1; users from 10001, groups 20001, fields 30001, comments
      40001. ``url`` is ``<fake url>/api/v2/tickets/<id>.json``. Times render in UTC,
      whole seconds. Paths work with and without ``.json``.
    - Create: a comment (``body`` or ``html_body``) is required (422 otherwise), becomes
      the description and the first comment (public unless ``public: false``). Status
      defaults to new, or open when an assignee is given. Requester and submitter default
      to the caller. An assignee must be an agent (422); without a group the ticket goes
      to the assignee's first group (a ticket is never assigned outside a group); with a
      group the assignee must be a member (422). Unknown group, requester, submitter or
      problem (or a problem_id on a non-incident, or to a non-problem) → 422.
    - Update: a closed ticket cannot be updated (422); status new is refused once left
      (422); a priority cannot be set back to null (422); solved without an assignee
      assigns the caller when it is an agent (``auto_assign_on_solve``, else 422);
      ``due_at`` on a non-task ticket → 422, and a ticket that stops being a task loses
      its due date; a comment is appended. ``updated_at`` moves on every change.
    - Tags are split on blanks, lower-cased and de-duplicated. Custom field ids that are
      not ticket fields of the account are ignored (as Zendesk does); values are checked
      by type (422): integer and decimal values are stored and answered as strings (as in
      the description's examples), checkbox as booleans, multiselect as arrays of option
      values, tagger as an option value, date as YYYY-MM-DD. Every custom field is listed
      on each ticket, unset ones with value null.
    - Search language (``/search``, ``/search/export``, ``/search/count``): blank-separated
      terms ``[-]keyword(:|<|>|<=|>=)value`` or bare text; a value is a word or a
      "quoted phrase", ``*`` ending a word matches a prefix. Repeated positive ``:`` terms
      of one keyword are ORed, all else ANDed; ``-`` negates (a ticket without the
      attribute does not match the positive term, so it passes the negation). Keywords:
      type, status (ordered new < open < pending < hold < solved < closed), priority
      (low < normal < high < urgent), ticket_type, assignee/requester/submitter (id, email,
      name, ``me``, ``none``), assignee_id, requester_id, submitter_id, group (id, name,
      ``none``), group_id, tags, subject, description, created, updated, due_date
      (ISO dates or times; ``created>2024-01-01`` means after that day; relative
      ``2hours``/``3days``), custom_field_<id>. Text matches words by prefix,
      case-insensitively (a phrase: consecutive words); bare text searches subject,
      description, comments and tags. Any other keyword → 400 and a "fake" violation.
      ``search_lag`` seconds after creation a ticket becomes searchable (0: at once).
    - ``/search``: only tickets; ``type:`` other than ticket matches nothing. Default
      order (relevance) is id descending; ``sort_by`` outside created_at, updated_at,
      priority, status, ticket_type → 400; ``sort_order`` default desc; missing values
      last. ``per_page`` default 100, capped at 100; a page starting at or past 1,000 →
      422. ``count`` is the full count; ``next_page`` is given while more results are
      servable.
    - ``/search/export``: ``filter[type]`` must be ticket (else 400); ``type:`` in the
      query → 400; ordered created_at descending then id ascending (the description's
      example cursor says so); ``page[size]`` default 100, capped at 1000; the cursor
      names the last ticket sent and expires after an hour (400); reusing it with another
      query → 400.
    - ``GET /api/v2/tickets`` and comments: cursor pages (``page[size]`` ≤ 100, by id) when
      any ``page[...]`` is given, else offset pages (``per_page`` default 100, ≤ 100; a page
      starting at or past record 10,000 → 400). ``page[before]`` → 400 (not imitated).
    - Rate limit: ``rate_limit`` requests per ``rate_window`` seconds for the account;
      over it → 429 with ``Retry-After`` (seconds to the window's end). A read-only OAuth
      token writing → 403. An end user's credentials → 403 on every ticket endpoint.
    - ``fail_next(status=...)`` answers with Zendesk's error body for that status; a 429
      carries ``Retry-After: retry_after`` (default 1; None: no header).
    """

    fault_type = Fault
    record_type = RecordedRequest
    malformed_body = '{"ticket": {"id": 1'
    violations_are = "request(s)/response(s) drift from the Zendesk OpenAPI description"

    def __init__(
        self,
        spec: OpenAPISpec | str | Path | None = None,
        *,
        defaults: bool = True,
        rate_limit: int = 700,
        rate_window: float = 60.0,
        search_lag: float = 0.0,
        auto_assign_on_solve: bool = True,
        strict_query: bool = True,
        clock: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(host)
        if isinstance(spec, str | Path):
            spec = load_zendesk_spec(spec)
        self.spec: OpenAPISpec | None = with_errata(spec) if spec is not None else None
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.search_lag = search_lag
        self.auto_assign_on_solve = auto_assign_on_solve
        self.strict_query = strict_query
        self._clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._skew = timedelta()

        self.users: dict[int, User] = {}
        self.groups: dict[int, Group] = {}
        self.fields: dict[int, TicketField] = {}
        self.tickets: dict[int, Ticket] = {}
        self.api_tokens: set[str] = set()
        self.oauth_tokens: dict[str, tuple[int, frozenset[str]]] = {}
        self.violations: list[Violation] = []
        self._window: tuple[datetime, int] | None = None
        self._ids = {
            kind: itertools.count(start)
            for kind, start in (
                ("ticket", 1),
                ("user", 10001),
                ("group", 20001),
                ("field", 30001),
                ("comment", 40001),
            )
        }
        if defaults:
            self._seed_defaults()
        self.app = web.Application(middlewares=[self._middleware])
        self._routes()

    def _seed_defaults(self) -> None:
        support = self.add_group("Support")
        billing = self.add_group("Billing")
        self.add_user("Alice Admin", "alice@example.com", role="admin", groups=[support, billing])
        self.add_user("Bob Agent", "bob@example.com", groups=[support])
        self.add_user("Carol Customer", "carol@example.com", role="end-user")
        self.api_tokens.add("zd-api-token")
        alice = self.user("alice@example.com").id
        self.oauth_tokens["zd-oauth-token"] = (alice, frozenset({"read", "write"}))
        self.oauth_tokens["zd-read-token"] = (alice, frozenset({"read"}))
        for kind, title in (
            ("subject", "Subject"),
            ("description", "Description"),
            ("status", "Status"),
            ("tickettype", "Type"),
            ("priority", "Priority"),
            ("group", "Group"),
            ("assignee", "Assignee"),
        ):
            self.add_field(title, kind, system=True)
        self.add_field("effort", "integer")
        self.add_field("team", "tagger", options=("platform", "payments", "security"))
        self.add_field("notes", "text")
        self.add_field("vip", "checkbox")
        self.add_field("labels", "multiselect", options=("red", "green", "blue"))
        self.add_field("launch", "date")
        self.add_field("score", "decimal")

    # -- setup and inspection -------------------------------------------------------------

    def now(self) -> datetime:
        return (self._clock() + self._skew).replace(microsecond=0)

    def advance(self, seconds: float) -> None:
        self._skew += timedelta(seconds=seconds)

    def add_user(
        self, name: str, email: str, *, role: str = "agent", groups: Iterable[Group] = ()
    ) -> User:
        user = User(next(self._ids["user"]), name, email, role, [g.id for g in groups])
        self.users[user.id] = user
        return user

    def add_group(self, name: str) -> Group:
        group = Group(next(self._ids["group"]), name)
        self.groups[group.id] = group
        return group

    def add_field(
        self, title: str, kind: str, *, options: Iterable[str] = (), system: bool = False
    ) -> TicketField:
        ident = next(self._ids["field"])
        ticket_field = TicketField(ident, kind, title, tuple(options), system, len(self.fields))
        self.fields[ident] = ticket_field
        return ticket_field

    def user(self, ident: str | int) -> User:
        for user in self.users.values():
            if ident in (user.id, str(user.id), user.email, user.name):
                return user
        raise KeyError(ident)

    def group(self, ident: str | int) -> Group:
        for group in self.groups.values():
            if ident in (group.id, str(group.id), group.name):
                return group
        raise KeyError(ident)

    def field(self, ident: str | int) -> TicketField:
        for ticket_field in self.fields.values():
            if ident in (ticket_field.id, str(ticket_field.id), ticket_field.title):
                return ticket_field
        raise KeyError(ident)

    def ticket(self, ident: str | int) -> Ticket:
        return self.tickets[int(ident)]

    def seed_ticket(self, subject: str, description: str = "", **attributes: Any) -> Ticket:
        """A ticket as if created through the API by alice; ``group``/``assignee`` may be
        names, ``created_at`` a datetime."""
        created = attributes.pop("created_at", None)
        data: dict[str, Any] = {"subject": subject, "comment": {"body": description or subject}}
        for key in ("group", "assignee", "requester"):
            if key in attributes:
                value = attributes.pop(key)
                lookup = self.group if key == "group" else self.user
                data[f"{key}_id"] = lookup(value).id
        data.update(attributes)
        ticket = self._create(self.user("alice@example.com"), data)
        if created is not None:
            ticket.created_at = ticket.updated_at = created
        return ticket

    def headers(self, email: str = "alice@example.com", token: str = "zd-api-token") -> dict:
        """Basic API-token auth, for tests that call the fake directly."""
        raw = base64.b64encode(f"{email}/token:{token}".encode()).decode()
        return {"Authorization": f"Basic {raw}", "Accept": "application/json"}

    def set_rate_limit(self, limit: int, *, window: float = 60.0) -> None:
        self.rate_limit, self.rate_window = limit, window
        self._window = None

    # -- plumbing -------------------------------------------------------------------------

    def _routes(self) -> None:
        r = self.app.router
        for path, method, handler in (
            ("/api/v2/tickets", "GET", self._list_tickets),
            ("/api/v2/tickets", "POST", self._create_ticket),
            ("/api/v2/tickets/show_many", "GET", self._show_many),
            ("/api/v2/tickets/{id:\\d+}", "GET", self._get_ticket),
            ("/api/v2/tickets/{id:\\d+}", "PUT", self._update_ticket),
            ("/api/v2/tickets/{id:\\d+}", "DELETE", self._delete_ticket),
            ("/api/v2/tickets/{id:\\d+}/comments", "GET", self._list_comments),
            ("/api/v2/ticket_fields", "GET", self._list_fields),
            ("/api/v2/search", "GET", self._search),
            ("/api/v2/search/count", "GET", self._search_count),
            ("/api/v2/search/export", "GET", self._search_export),
        ):
            r.add_route(method, path, handler)
            r.add_route(method, path + ".json", handler)

    async def _serve(
        self, request: web.Request, handler: Handler, record: RecordedRequest
    ) -> web.StreamResponse:
        body: Any = None
        if request.body_exists:
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = _Unparsable
            record.json = None if body is _Unparsable else body
            if request.content_type != "application/json":
                body = _Unparsable
        op = None
        if self.spec is not None:
            found = self.spec.operation(request.method, request.path.removesuffix(".json"))
            if found is None:
                self._violation(request, None, "operation", "no such operation in the spec")
            else:
                op, path_params = found
                if op.deprecated:
                    self._violation(
                        request, op.operation_id, "operation", f"deprecated: {op.summary}"
                    )
                problems = self.spec.validate_request(
                    op,
                    path_params,
                    request.query.items(),
                    request.content_type if request.body_exists else None,
                    None if body is _Unparsable else body,
                    has_body=request.body_exists,
                    strict_query=self.strict_query,
                )
                for problem in problems:
                    self._violation(request, op.operation_id, "request", problem)
        faulted = await self._fault_answer(request)
        if faulted is None:
            response = await self._handle(request, handler, body)
        else:
            response = faulted
        if op is not None:
            self._check_response(request, op, response, faulted is not None)
        return response

    async def _handle(self, request: web.Request, handler: Handler, body: Any) -> web.Response:
        caller = self._authenticate(request)
        if caller is None:
            return _json(AUTH_FAILED, 401, {"WWW-Authenticate": 'Basic realm="Web Password"'})
        limited, headers = self._count()
        if limited is not None:
            return limited
        try:
            if not caller.user.is_agent:
                raise ZdError(403, FORBIDDEN)
            if request.method != "GET" and not caller.can_write:
                raise ZdError(403, FORBIDDEN)
            if body is _Unparsable:
                raise _bad_request("The request body could not be parsed as JSON", "InvalidJSON")
            _CALLER.set(caller)
            _BODY.set(body)
            response = await handler(request)
        except ZdError as exc:
            response = _json(exc.body, exc.status)
        except web.HTTPNotFound:
            self._violation(request, None, "fake", "FakeZendesk does not implement this path")
            response = _json({"error": "InvalidEndpoint", "description": "Not found"}, 404)
        except web.HTTPMethodNotAllowed:
            self._violation(request, None, "fake", "FakeZendesk does not implement this method")
            response = _json({"error": "InvalidEndpoint", "description": "Not found"}, 405)
        assert isinstance(response, web.Response)
        response.headers.update(headers)
        return response

    def _count(self) -> tuple[web.Response | None, dict[str, str]]:
        now = self.now()
        started, used = self._window or (now, 0)
        if now - started >= timedelta(seconds=self.rate_window):
            started, used = now, 0
        if used >= self.rate_limit:
            wait = started + timedelta(seconds=self.rate_window) - now
            headers = self._rate_headers(0)
            headers["Retry-After"] = str(max(1, int(wait.total_seconds() + 0.999)))
            return _json(RATE_LIMITED, 429, headers), headers
        self._window = (started, used + 1)
        return None, self._rate_headers(self.rate_limit - used - 1)

    def _rate_headers(self, remaining: int) -> dict[str, str]:
        return {"X-Rate-Limit": str(self.rate_limit), "X-Rate-Limit-Remaining": str(remaining)}

    def _fault_headers(self, fault: Fault, status: int, headers: dict[str, str]) -> None:
        if status == 429:
            headers.update(self._rate_headers(0))
            if fault.retry_after is not None:
                headers.setdefault("Retry-After", f"{fault.retry_after:g}")

    def _fault_error(self, status: int, headers: dict[str, str]) -> web.Response:
        known: dict[int, dict[str, Any]] = {
            400: {"error": "InvalidParameter", "description": "Invalid request"},
            401: AUTH_FAILED,
            403: FORBIDDEN,
            404: NOT_FOUND,
            422: {"error": "RecordInvalid", "description": "Record validation errors"},
            429: RATE_LIMITED,
            500: {"error": "InternalError", "description": "Something went wrong"},
            503: {"error": "unavailable", "description": "Service temporarily unavailable"},
        }
        payload = known.get(status, {"error": f"Injected fault {status}"})
        return _json(payload, status, headers)

    def _authenticate(self, request: web.Request) -> Caller | None:
        header = request.headers.get("Authorization", "").strip()
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            name, _, secret = decoded.partition(":")
            if not name.endswith("/token") or secret not in self.api_tokens:
                return None  # password access is off; unknown tokens fail
            email = name.removesuffix("/token").lower()
            user = next((u for u in self.users.values() if u.email.lower() == email), None)
            return Caller(user) if user is not None else None
        if scheme.lower() == "bearer" and credentials.strip() in self.oauth_tokens:
            user_id, scopes = self.oauth_tokens[credentials.strip()]
            return Caller(self.users[user_id], can_write="write" in scopes)
        return None

    # -- rendering ------------------------------------------------------------------------

    def _custom_fields(self) -> list[TicketField]:
        return [f for f in self.fields.values() if not f.system]

    def _ticket_json(self, ticket: Ticket) -> dict[str, Any]:
        custom = [{"id": f.id, "value": ticket.custom.get(f.id)} for f in self._custom_fields()]
        return {
            "url": f"{self.url}/api/v2/tickets/{ticket.id}.json",
            "id": ticket.id,
            "external_id": ticket.external_id,
            "via": {"channel": ticket.via, "source": {"from": {}, "to": {}, "rel": None}},
            "created_at": zd_time(ticket.created_at),
            "updated_at": zd_time(ticket.updated_at),
            "type": ticket.type,
            "subject": ticket.subject,
            "raw_subject": ticket.subject,
            "description": ticket.description,
            "priority": ticket.priority,
            "status": ticket.status,
            "recipient": None,
            "requester_id": ticket.requester_id,
            "submitter_id": ticket.submitter_id,
            "assignee_id": ticket.assignee_id,
            "organization_id": None,
            "group_id": ticket.group_id,
            "collaborator_ids": [],
            "follower_ids": [],
            "email_cc_ids": [],
            "forum_topic_id": None,
            "problem_id": ticket.problem_id,
            "has_incidents": any(t.problem_id == ticket.id for t in self.tickets.values()),
            "is_public": any(c.public for c in ticket.comments),
            "due_at": zd_time(ticket.due_at) if ticket.due_at else None,
            "tags": list(ticket.tags),
            "custom_fields": custom,
            "satisfaction_rating": None,
            "sharing_agreement_ids": [],
            "fields": custom,
            "followup_ids": [],
            "allow_channelback": False,
            "allow_attachments": True,
            "from_messaging_channel": False,
        }

    def _comment_json(self, comment: Comment) -> dict[str, Any]:
        return {
            "id": comment.id,
            "type": "Comment",
            "author_id": comment.author_id,
            "body": comment.body,
            "html_body": f'<div class="zd-comment"><p>{comment.body}</p></div>',
            "plain_body": comment.body,
            "public": comment.public,
            "attachments": [],
            "audit_id": comment.id + 1_000_000,
            "via": {"channel": "api", "source": {"from": {}, "to": {}, "rel": None}},
            "created_at": zd_time(comment.created_at),
            "metadata": {"system": {}, "custom": {}},
        }

    def _field_json(self, item: TicketField) -> dict[str, Any]:
        out: dict[str, Any] = {
            "url": f"{self.url}/api/v2/ticket_fields/{item.id}.json",
            "id": item.id,
            "type": item.type,
            "title": item.title,
            "raw_title": item.title,
            "description": "",
            "raw_description": "",
            "position": item.position,
            "active": True,
            "required": False,
            "collapsed_for_agents": False,
            "regexp_for_validation": None,
            "title_in_portal": item.title,
            "raw_title_in_portal": item.title,
            "visible_in_portal": False,
            "editable_in_portal": False,
            "required_in_portal": False,
            "tag": None,
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "removable": not item.system,
            "agent_description": "",
        }
        if item.options:
            out["custom_field_options"] = [
                {
                    "id": item.id * 100 + i,
                    "name": value.title(),
                    "raw_name": value.title(),
                    "value": value,
                }
                for i, value in enumerate(item.options)
            ]
        return out

    # -- ticket writes --------------------------------------------------------------------

    def _id_of(self, data: Mapping[str, Any], key: str) -> int | None:
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise _invalid(**{key: f"{key} must be an integer"})
        return value

    def _agent(self, user_id: int, what: str = "assignee_id") -> User:
        user = self.users.get(user_id)
        if user is None or not user.is_agent:
            raise _invalid(**{what: "Assignee is not an agent of this account"})
        return user

    def _custom_value(self, item: TicketField, value: Any) -> Any:
        if value is None or value == "":
            return None
        problem = _invalid(custom_fields=f"{item.title}: {value!r} is not valid for {item.type}")
        if item.type == "integer":
            text = str(value).strip() if not isinstance(value, bool) else ""
            if not re.fullmatch(r"-?\d+", text):
                raise problem
            return str(int(text))
        if item.type == "decimal":
            try:
                number = float(value) if not isinstance(value, bool) else None
            except (TypeError, ValueError):
                number = None
            if number is None:
                raise problem
            return f"{number:g}"
        if item.type == "checkbox":
            if not isinstance(value, bool):
                raise problem
            return value
        if item.type == "tagger":
            if value not in item.options:
                raise problem
            return value
        if item.type == "multiselect":
            values = value if isinstance(value, list) else [value]
            if any(v not in item.options for v in values):
                raise problem
            return list(dict.fromkeys(values)) or None
        if item.type == "date":
            if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d\d-\d\d", value):
                raise problem
            return value
        if isinstance(value, dict | list):
            raise problem
        return value if isinstance(value, str) else json.dumps(value)

    def _apply(self, ticket: Ticket, data: Mapping[str, Any], caller: User, new: bool) -> None:
        """Write the attributes of a create/update body onto ``ticket`` (checked)."""
        for key, allowed in (("status", STATUSES), ("priority", PRIORITIES), ("type", TYPES)):
            if data.get(key) is not None and data[key] not in allowed:
                raise _invalid(**{key: f"{key}: {data[key]!r} is not one of {', '.join(allowed)}"})
        if "subject" in data and isinstance(data["subject"], str):
            ticket.subject = data["subject"]
        if "priority" in data:
            if data["priority"] is None and ticket.priority is not None:
                raise _invalid(priority="Priority: cannot be removed once set")
            ticket.priority = data["priority"]
        if "type" in data:
            ticket.type = data["type"]
            if ticket.type != "task":
                ticket.due_at = None
        for key in ("requester_id", "submitter_id"):
            ident = self._id_of(data, key)
            if key in data and (ident is None or ident not in self.users):
                raise _invalid(**{key: f"{key.split('_')[0].title()}: is invalid"})
            if ident is not None and (new or key == "requester_id"):
                setattr(ticket, key, ident)
        if "group_id" in data:
            group = self._id_of(data, "group_id")
            if group is None or group not in self.groups:
                raise _invalid(group_id="Group: is invalid")
            ticket.group_id = group
        if "assignee_id" in data:
            assignee = self._id_of(data, "assignee_id")
            if assignee is not None:
                agent = self._agent(assignee)
                if ticket.group_id is None and agent.groups:
                    ticket.group_id = agent.groups[0]
                if ticket.group_id is not None and ticket.group_id not in agent.groups:
                    raise _invalid(assignee_id="Assignee is not a member of the group")
            ticket.assignee_id = assignee
        if "tags" in data:
            tags = [t.lower() for tag in data["tags"] or () for t in str(tag).split()]
            ticket.tags = list(dict.fromkeys(tags))
        if "due_at" in data:
            due = data["due_at"]
            if due is not None:
                moment = _parse_time(due) if isinstance(due, str) else None
                if moment is None or ticket.type != "task":
                    raise _invalid(due_at="Due date: can only be set on tickets of type task")
                ticket.due_at = moment
            else:
                ticket.due_at = None
        if "problem_id" in data:
            problem = self._id_of(data, "problem_id")
            if problem is not None:
                linked = self.tickets.get(problem)
                if ticket.type != "incident" or linked is None or linked.type != "problem":
                    raise _invalid(problem_id="Problem: must be a problem ticket (on incidents)")
            ticket.problem_id = problem
        for entry in data.get("custom_fields") or ():
            item = self.fields.get(entry.get("id")) if isinstance(entry, dict) else None
            if item is not None and not item.system:  # unknown ids are ignored
                value = self._custom_value(item, entry.get("value"))
                if value is None:
                    ticket.custom.pop(item.id, None)
                else:
                    ticket.custom[item.id] = value
        status = data.get("status")
        if status is not None:
            if status == "new" and not new and ticket.status != "new":
                raise _invalid(status="Status: new is not valid once a ticket has been opened")
            ticket.status = status
        elif ticket.status == "new" and ticket.assignee_id is not None:
            ticket.status = "open"
        if ticket.status in ("solved", "closed") and ticket.assignee_id is None:
            if not (self.auto_assign_on_solve and caller.is_agent):
                raise _invalid(assignee_id="Assignee: is required when solving")
            self._apply(ticket, {"assignee_id": caller.id}, caller, new)

    def _comment(self, data: Mapping[str, Any], caller: User, required: bool) -> Comment | None:
        comment = data.get("comment")
        if not isinstance(comment, dict):
            if required:
                raise _invalid(description="Description: cannot be blank")
            return None
        text = comment.get("body") or comment.get("html_body") or ""
        if not isinstance(text, str) or not text.strip():
            raise _invalid(description="Description: cannot be blank")
        author = comment.get("author_id") if isinstance(comment.get("author_id"), int) else None
        return Comment(
            next(self._ids["comment"]),
            author if author in self.users else caller.id,
            text,
            comment.get("public") is not False,
            self.now(),
        )

    def _create(self, caller: User, data: Mapping[str, Any]) -> Ticket:
        comment = self._comment(data, caller, required=True)
        assert comment is not None
        now = self.now()
        ticket = Ticket(
            id=0,
            subject="",
            description=comment.body,
            status="new",
            requester_id=caller.id,
            submitter_id=caller.id,
            created_at=now,
            updated_at=now,
        )
        self._apply(ticket, data, caller, new=True)
        ticket.id = next(self._ids["ticket"])
        ticket.comments.append(comment)
        self.tickets[ticket.id] = ticket
        return ticket

    def _body_ticket(self, request: web.Request) -> dict[str, Any]:
        body = _BODY.get()
        data = body.get("ticket") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise _bad_request("The request needs a ticket object", "InvalidJSON")
        return data

    def _found(self, request: web.Request) -> Ticket:
        ticket = self.tickets.get(int(request.match_info["id"]))
        if ticket is None:
            raise ZdError(404, NOT_FOUND)
        return ticket

    # -- ticket handlers ------------------------------------------------------------------

    async def _create_ticket(self, request: web.Request) -> web.Response:
        ticket = self._create(_CALLER.get().user, self._body_ticket(request))
        location = f"{self.url}/api/v2/tickets/{ticket.id}.json"
        return _json({"ticket": self._ticket_json(ticket)}, 201, {"Location": location})

    async def _get_ticket(self, request: web.Request) -> web.Response:
        return _json({"ticket": self._ticket_json(self._found(request))})

    async def _update_ticket(self, request: web.Request) -> web.Response:
        ticket = self._found(request)
        data = self._body_ticket(request)
        caller = _CALLER.get().user
        if ticket.status == "closed":
            raise _invalid(status="Status: closed prevents ticket update")
        draft = Ticket(
            **{**ticket.__dict__, "tags": list(ticket.tags), "custom": dict(ticket.custom)}
        )
        comment = self._comment(data, caller, required=False)
        self._apply(draft, data, caller, new=False)
        before = self._ticket_json(ticket)
        ticket.__dict__.update(draft.__dict__)
        if comment is not None:
            ticket.comments.append(comment)
        if comment is not None or self._ticket_json(ticket) != before:
            ticket.updated_at = self.now()
        audit = {
            "id": next(self._ids["comment"]) + 2_000_000,
            "ticket_id": ticket.id,
            "author_id": caller.id,
            "created_at": zd_time(self.now()),
            "events": [
                {"id": i + 1, "type": "Change", "field_name": key, "value": str(value)}
                for i, (key, value) in enumerate(data.items())
                if key != "comment" and isinstance(value, str | int)
            ],
            "via": {"channel": "api"},
            "metadata": {},
        }
        return _json({"ticket": self._ticket_json(ticket), "audit": audit})

    async def _delete_ticket(self, request: web.Request) -> web.Response:
        ticket = self._found(request)
        del self.tickets[ticket.id]
        return web.Response(status=204)

    async def _show_many(self, request: web.Request) -> web.Response:
        raw = request.query.get("ids", "")
        ids = [part.strip() for part in raw.split(",") if part.strip()]
        if not ids or any(not part.isdigit() for part in ids):
            raise _bad_request("ids must be a comma-separated list of ticket ids")
        if len(ids) > 100:
            raise _bad_request("Up to 100 ids can be requested at once")
        found = [self.tickets[int(i)] for i in dict.fromkeys(ids) if int(i) in self.tickets]
        return _json({"tickets": [self._ticket_json(t) for t in found]})

    def _paged(
        self, request: web.Request, items: Sequence[Any], key: str, render: Callable[[Any], Any]
    ) -> tuple[dict[str, Any], bool]:
        """Cursor pages (any page[...] given) or offset pages of ``items`` (ordered by id)."""
        query = request.query
        base = f"{self.url}{request.path}"
        if any(name.startswith("page[") for name in query):
            if "page[before]" in query:
                raise _bad_request("page[before] is not supported by FakeZendesk")
            size = self._positive(query.get("page[size]", "100"), "page[size]", 100)
            after = self._cursor(query.get("page[after]"), "") if "page[after]" in query else None
            start = (
                0
                if after is None
                else next(
                    (i for i, item in enumerate(items) if item.id > int(after["id"])), len(items)
                )
            )
            chunk = items[start : start + size]
            more = start + size < len(items)
            cursor = self._encode({"id": chunk[-1].id, "q": ""}) if chunk else None
            links = {
                "next": f"{base}?{urlencode({'page[size]': size, 'page[after]': cursor})}"
                if more and cursor
                else None,
                "prev": None,
            }
            meta = {"has_more": more, "after_cursor": cursor, "before_cursor": None}
            return {key: [render(i) for i in chunk], "meta": meta, "links": links}, True
        per_page = self._positive(query.get("per_page", "100"), "per_page", 100)
        number = self._positive(query.get("page", "1"), "page", None)
        if (number - 1) * per_page >= OFFSET_LIMIT:
            raise _bad_request(
                f"Offset pagination serves the first {OFFSET_LIMIT} records only; "
                "use cursor pagination",
                "InvalidPaginationParameter",
            )
        chunk = items[(number - 1) * per_page : number * per_page]
        more = number * per_page < len(items)
        next_page = f"{base}?{urlencode({'page': number + 1, 'per_page': per_page})}"
        prev_page = f"{base}?{urlencode({'page': number - 1, 'per_page': per_page})}"
        return {
            key: [render(i) for i in chunk],
            "count": len(items),
            "next_page": next_page if more else None,
            "previous_page": prev_page if number > 1 else None,
        }, False

    async def _list_tickets(self, request: web.Request) -> web.Response:
        items = sorted(self.tickets.values(), key=lambda t: t.id)
        external = request.query.get("external_id")
        if external is not None:
            items = [t for t in items if t.external_id == external]
        payload, _ = self._paged(request, items, "tickets", self._ticket_json)
        remaining = self.rate_limit - (self._window[1] if self._window else 0)
        headers = {
            "ratelimit-limit": str(self.rate_limit),
            "ratelimit-remaining": str(max(remaining, 0)),
            "ratelimit-reset": str(int(self.rate_window)),
            "zendesk-ratelimit-tickets-index": (
                f"total={self.rate_limit}; remaining={max(remaining, 0)}; "
                f"resets={int(self.rate_window)}"
            ),
        }
        return _json(payload, headers=headers)

    async def _list_comments(self, request: web.Request) -> web.Response:
        ticket = self._found(request)
        payload, _ = self._paged(request, ticket.comments, "comments", self._comment_json)
        return _json(payload)

    async def _list_fields(self, request: web.Request) -> web.Response:
        return _json({"ticket_fields": [self._field_json(f) for f in self.fields.values()]})

    # -- search ---------------------------------------------------------------------------

    def _positive(self, raw: str, name: str, cap: int | None) -> int:
        if not raw.isdigit() or int(raw) < 1:
            raise _bad_request(f"{name} must be a positive integer")
        return min(int(raw), cap) if cap else int(raw)

    def _encode(self, data: Mapping[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()

    def _cursor(self, raw: str | None, query: str) -> dict[str, Any]:
        try:
            data = json.loads(base64.urlsafe_b64decode((raw or "").encode()))
        except (ValueError, binascii.Error):
            data = None
        if not isinstance(data, dict) or "id" not in data:
            raise _bad_request("Invalid page[after] cursor", "InvalidPaginationParameter")
        if data.get("q", "") != hashlib.sha256(query.encode()).hexdigest()[:16] and query:
            raise _bad_request("The cursor belongs to another query", "InvalidPaginationParameter")
        expires = data.get("exp")
        if isinstance(expires, int | float) and self.now().timestamp() > expires:
            raise _bad_request("The cursor has expired", "InvalidPaginationParameter")
        return data

    def _searchable(self, terms: Sequence[Term], caller: User) -> list[Ticket]:
        visible = [
            t
            for t in self.tickets.values()
            if t.created_at + timedelta(seconds=self.search_lag) <= self.now()
        ]
        return [t for t in visible if self._matches(t, terms, caller)]

    def _matches(self, ticket: Ticket, terms: Sequence[Term], caller: User) -> bool:
        ors: dict[str, list[Term]] = {}
        for term in terms:
            if not term.negated and term.op == ":" and term.keyword is not None:
                ors.setdefault(term.keyword, []).append(term)
            elif self._test(ticket, term, caller) == term.negated:
                return False
        return all(any(self._test(ticket, t, caller) for t in group) for group in ors.values())

    def _words(self, text: str, term: Term) -> bool:
        tokens = _token_text(text)
        wanted = _token_text(term.value)
        if not wanted:
            return True
        for start in range(len(tokens) - len(wanted) + 1):
            if all(tokens[start + i].startswith(w) for i, w in enumerate(wanted)):
                return True
        return False

    def _when(self, term: Term) -> tuple[datetime, bool]:
        """(the moment, whether it is a whole day) of a date term."""
        value = term.value.strip()
        relative = _RELATIVE.fullmatch(value)
        if relative:
            unit = relative[2].rstrip("s")
            return self.now() - timedelta(**{f"{unit}s": int(relative[1])}), False
        if re.fullmatch(r"\d{4}-\d\d-\d\d", value):
            return datetime.fromisoformat(value).replace(tzinfo=UTC), True
        moment = _parse_time(value)
        if moment is None:
            raise _bad_request(f"Invalid date in search: {value!r}", "invalid")
        return moment, False

    def _compare_time(self, moment: datetime | None, term: Term) -> bool:
        if moment is None:
            return False
        bound, day = self._when(term)
        end = bound + timedelta(days=1) if day else bound
        return {
            ":": bound <= moment < end if day else moment == bound,
            ">": moment >= end if day else moment > bound,
            ">=": moment >= bound,
            "<": moment < bound,
            "<=": moment < end if day else moment <= bound,
        }[term.op]

    def _ordinal(self, value: str | None, term: Term, order: Sequence[str]) -> bool:
        wanted = term.value.lower()
        if term.op == ":":
            return (value or "none") == wanted
        if value is None or wanted not in order:
            return False
        left, right = order.index(value), order.index(wanted)
        return {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[
            term.op
        ]

    def _person(self, user_id: int | None, term: Term, caller: User) -> bool:
        wanted = term.value.lower()
        if wanted == "none":
            return user_id is None
        if user_id is None:
            return False
        if wanted == "me":
            return user_id == caller.id
        user = self.users[user_id]
        return wanted in (str(user.id), user.email.lower(), user.name.lower())

    def _test(self, ticket: Ticket, term: Term, caller: User) -> bool:
        key, value = term.keyword, term.value.lower()
        if key is None:
            texts = [ticket.subject, ticket.description, *(c.body for c in ticket.comments)]
            return any(self._words(t, term) for t in [*texts, " ".join(ticket.tags)])
        if key == "type":
            return value == "ticket"
        if key == "status":
            return self._ordinal(ticket.status, term, STATUSES)
        if key == "priority":
            return self._ordinal(ticket.priority, term, PRIORITIES)
        if key == "ticket_type":
            return (ticket.type or "none") == value
        if key in ("assignee", "requester", "submitter"):
            return self._person(getattr(ticket, f"{key}_id"), term, caller)
        if key in ("assignee_id", "requester_id", "submitter_id", "group_id", "problem_id"):
            have = getattr(ticket, key)
            return value == "none" if have is None else value == str(have)
        if key == "group":
            if ticket.group_id is None:
                return value == "none"
            group = self.groups[ticket.group_id]
            return value in (str(group.id), group.name.lower())
        if key == "tags":
            if value.endswith("*"):
                return any(t.startswith(value[:-1]) for t in ticket.tags)
            return value in ticket.tags
        if key == "subject":
            return self._words(ticket.subject, term)
        if key == "description":
            return self._words(ticket.description, term)
        if key in ("created", "updated", "due_date"):
            attribute = {"created": "created_at", "updated": "updated_at", "due_date": "due_at"}
            return self._compare_time(getattr(ticket, attribute[key]), term)
        if key.startswith("custom_field_") and key[13:].isdigit():
            item = self.fields.get(int(key[13:]))
            stored = ticket.custom.get(item.id) if item is not None else None
            if stored is None:
                return value == "none"
            if isinstance(stored, bool):
                return value == ("true" if stored else "false")
            if isinstance(stored, list):
                return value in stored
            if item is not None and item.type in ("text", "textarea"):
                return self._words(stored, term)
            return str(stored).lower() == value
        raise _bad_request(f"Unsupported search keyword {key!r} (FakeZendesk)", "invalid")

    def _search_terms(self, request: web.Request, export: bool) -> tuple[str, list[Term]]:
        query = request.query.get("query")
        if not query or not query.strip():
            raise _bad_request("The query parameter is required", "invalid")
        terms = parse_search(query)
        for term in terms:
            key = term.keyword
            if (
                key is not None
                and key not in KEYWORDS
                and not re.fullmatch(r"custom_field_\d+", key)
            ):
                message = f"Unsupported search keyword {key!r} (FakeZendesk)"
                self._violation(request, None, "fake", message)
                raise _bad_request(message, "invalid")
        if export and any(t.keyword == "type" for t in terms):
            raise _bad_request(
                "Searches with type in the query string are not supported on export; "
                "use filter[type]",
                "invalid",
            )
        return query, terms

    def _sort_key(self, sort_by: str) -> Callable[[Ticket], Any]:
        def key(ticket: Ticket) -> Any:
            value: Any = {
                "created_at": ticket.created_at,
                "updated_at": ticket.updated_at,
                "priority": PRIORITIES.index(ticket.priority) if ticket.priority else None,
                "status": STATUSES.index(ticket.status),
                "ticket_type": ticket.type,
            }[sort_by]
            return value

        return key

    async def _search(self, request: web.Request) -> web.Response:
        _, terms = self._search_terms(request, export=False)
        found = self._searchable(terms, _CALLER.get().user)
        sort_by = request.query.get("sort_by")
        descending = request.query.get("sort_order", "desc").lower() != "asc"
        if sort_by is None:
            found.sort(key=lambda t: t.id, reverse=True)
        elif sort_by not in SORT_FIELDS:
            raise _bad_request(f"sort_by must be one of {', '.join(SORT_FIELDS)}", "invalid")
        else:
            key = self._sort_key(sort_by)
            present = sorted((t for t in found if key(t) is not None), key=lambda t: (key(t), t.id))
            if descending:
                present.reverse()
            found = present + [t for t in found if key(t) is None]
        per_page = self._positive(request.query.get("per_page", "100"), "per_page", 100)
        number = self._positive(request.query.get("page", "1"), "page", None)
        start = (number - 1) * per_page
        if start >= SEARCH_LIMIT:
            raise ZdError(
                422,
                {
                    "error": "invalid",
                    "description": "Requested response size was greater than Search "
                    "Response Limits (1000 results per query)",
                },
            )
        end = min(start + per_page, SEARCH_LIMIT)
        chunk = found[start:end]
        params = {k: v for k, v in request.query.items() if k not in ("page",)}
        base = f"{self.url}/api/v2/search.json?"
        more = end < min(len(found), SEARCH_LIMIT)
        return _json(
            {
                "results": [{**self._ticket_json(t), "result_type": "ticket"} for t in chunk],
                "facets": None,
                "next_page": base + urlencode({**params, "page": number + 1}) if more else None,
                "previous_page": (
                    base + urlencode({**params, "page": number - 1}) if number > 1 else None
                ),
                "count": len(found),
            }
        )

    async def _search_count(self, request: web.Request) -> web.Response:
        _, terms = self._search_terms(request, export=False)
        found = self._searchable(terms, _CALLER.get().user)
        return _json({"count": len(found)})

    async def _search_export(self, request: web.Request) -> web.Response:
        kind = request.query.get("filter[type]")
        if kind != "ticket":
            raise _bad_request("filter[type] must be ticket (FakeZendesk exports tickets)")
        query, terms = self._search_terms(request, export=True)
        found = self._searchable(terms, _CALLER.get().user)
        found.sort(key=lambda t: (-t.created_at.timestamp(), t.id))
        size = self._positive(request.query.get("page[size]", "100"), "page[size]", 1000)
        digest = hashlib.sha256(query.encode()).hexdigest()[:16]
        start = 0
        if "page[after]" in request.query:
            cursor = self._cursor(request.query["page[after]"], query)
            position = (-float(cursor.get("created", 0)), int(cursor["id"]))
            start = next(
                (i for i, t in enumerate(found) if (-t.created_at.timestamp(), t.id) > position),
                len(found),
            )
        chunk = found[start : start + size]
        more = start + size < len(found)
        after = None
        if chunk:
            expires = (self.now() + CURSOR_LIFETIME).timestamp()
            last = chunk[-1]
            after = self._encode(
                {"created": last.created_at.timestamp(), "id": last.id, "q": digest, "exp": expires}
            )
        link = None
        if more and after:
            params = {"query": query, "filter[type]": "ticket", "page[size]": size}
            params["page[after]"] = after
            link = f"{self.url}/api/v2/search/export.json?{urlencode(params)}"
        return _json(
            {
                "results": [{**self._ticket_json(t), "result_type": "ticket"} for t in chunk],
                "facets": None,
                "meta": {"has_more": more, "after_cursor": after, "before_cursor": None},
                "links": {"next": link, "prev": None},
            }
        )
