"""An in-memory Freshdesk account (REST API v2, tickets) on a real socket, for plugin tests.

Usage::

    async with FakeFreshdesk() as fd:
        fd.url                                   # http://127.0.0.1:<port> (the "domain")
        fd.api_url                               # fd.url + "/api/v2"
        fd.headers()                             # Basic <api key>:X for direct calls
        t = fd.seed_ticket("Printer on fire", requester="rachel@acme.example", priority=3)
        fd.fail_next(status=429, retry_after=2, path="/api/v2/search/tickets")
        ...
        fd.assert_no_violations()                # the plugin touched only what the fake knows

There is no official machine-readable description of Freshdesk's API, so nothing is
validated against a schema: the fake itself enforces the documented request rules (400
with Freshdesk's error body) and records in ``violations`` whatever it does not imitate
(other paths, multipart bodies). Facts come from developers.freshdesk.com/api (v2) as
summarised in ``shared/specs/PROVIDERS.md`` §6; what the documents leave open is chosen and
listed on :class:`FakeFreshdesk` ("Conventions").

Imitated:

- Auth: HTTP Basic with an agent's API key as the user name and any password (``X`` by
  convention). Nothing else (the v2 docs describe no bearer scheme; ``accept_bearer=True``
  also takes ``Authorization: Bearer <api key>``).
- Tickets: ``POST /api/v2/tickets`` (201), ``GET|PUT|DELETE /api/v2/tickets/{id}``,
  ``PUT /api/v2/tickets/{id}/restore``, ``GET /api/v2/tickets`` (filters, order, paging with
  the ``Link`` header), ``GET /api/v2/tickets/{id}/conversations``,
  ``GET /api/v2/search/tickets?query="..."`` (the filter query language).
- Metadata and people (read only): ``GET /api/v2/ticket_fields``, ``/agents``,
  ``/agents/me``, ``/agents/{id}``, ``/contacts``, ``/contacts/{id}``, ``/groups``,
  ``/groups/{id}``, ``/companies``, ``/companies/{id}``.
- Error bodies ``{"description": "Validation failed", "errors": [{field, message, code}]}``
  (400) and ``{"code", "message"}`` (401, 403, 405, 406, 415, 429); 404 has no body.
- Rate limits per account and minute with ``X-Ratelimit-Total``, ``X-Ratelimit-Remaining``,
  ``X-Ratelimit-Used-CurrentRequest`` on every authenticated answer, 429 + ``Retry-After``;
  a fault switch (``fail_next``); a request log (``requests``, ``calls``).
"""

from __future__ import annotations

import base64
import binascii
import html
import itertools
import json
import math
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from .base import Handler, RetryFakeServer, Violations
from .base import RecordedRequest as _RecordedRequest
from .base import RetryFault as Fault
from .base import json_response as _json

__all__ = [
    "API",
    "DEFAULT_STATUSES",
    "DEFAULT_TICKET_TYPES",
    "PRIORITIES",
    "SLA_HOURS",
    "SOURCES",
    "Agent",
    "Company",
    "Contact",
    "Conversation",
    "FakeFreshdesk",
    "Fault",
    "FdError",
    "Group",
    "RecordedRequest",
    "Ticket",
    "TicketField",
    "fd_time",
    "parse_query",
]

API = "/api/v2"

PRIORITIES: dict[int, str] = {1: "Low", 2: "Medium", 3: "High", 4: "Urgent"}
SOURCES: dict[int, str] = {
    1: "Email",
    2: "Portal",
    3: "Phone",
    7: "Chat",
    9: "Feedback Widget",
    10: "Outbound Email",
}
DEFAULT_STATUSES: dict[int, tuple[str, str]] = {
    2: ("Open", "Being Processed"),
    3: ("Pending", "Awaiting your Reply"),
    4: ("Resolved", "This ticket has been Resolved"),
    5: ("Closed", "This ticket has been Closed"),
}
RESOLVED, CLOSED = 4, 5
DEFAULT_TICKET_TYPES = ("Question", "Incident", "Problem", "Feature Request", "Refund")
# (first response, resolution) in calendar hours by priority: the fake's stand-in for the
# account's default SLA policy (the real one is configured per account, in business hours).
SLA_HOURS: dict[int, tuple[int, int]] = {4: (1, 4), 3: (4, 24), 2: (8, 48), 1: (24, 72)}

LIST_WINDOW = timedelta(days=30)  # GET /tickets without updated_since: created in 30 days
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 30
SEARCH_PER_PAGE = 30
SEARCH_MAX_PAGE = 10
QUERY_MAX = 512
SUBJECT_MAX = 255
TAG_MAX = 32
TEXT_MAX = 255
CONVERSATIONS_INCLUDED = 10  # include=conversations embeds up to ten, oldest first

INVALID_FIELD = "Unexpected/invalid field in request"
NOT_LOGGED_IN = ("invalid_credentials", "You have to be logged in to perform this action.")
ACCESS_DENIED = ("access_denied", "You are not authorized to perform this action.")
RATE_LIMITED = ("rate_limit_exceeded", "You have exceeded the limit of requests per minute")
BAD_ACCEPT = ("invalid_accept_header", "Only application/json and */* are supported")
BAD_CONTENT_TYPE = ("invalid_content_type", "Content-Type header should have application/json")
REQUESTER_FIELDS = ("requester_id", "email", "phone", "twitter_id", "facebook_id")
REQUESTER_FIELDS_ALL = (*REQUESTER_FIELDS, "unique_external_id")
REQUESTER_MISSING = (
    "Please fill at least 1 of requester_id, phone, email, twitter_id, facebook_id, "
    "unique_external_id fields"
)

TICKET_WRITE_FIELDS = frozenset(
    {
        "name",
        *REQUESTER_FIELDS_ALL,
        "subject",
        "type",
        "status",
        "priority",
        "description",
        "responder_id",
        "attachments",
        "custom_fields",
        "due_by",
        "fr_due_by",
        "email_config_id",
        "group_id",
        "product_id",
        "source",
        "tags",
        "company_id",
    }
)
TICKET_CREATE_FIELDS = TICKET_WRITE_FIELDS | {"cc_emails"}
VIEW_INCLUDES = ("conversations", "requester", "company", "stats")
LIST_INCLUDES = ("stats", "requester", "description")
LIST_FILTERS = ("new_and_my_open", "watching", "spam", "deleted")
LIST_ORDER_BY = ("created_at", "due_by", "updated_at", "status")
LIST_PARAMS = frozenset(
    {
        "filter",
        "requester_id",
        "email",
        "unique_external_id",
        "company_id",
        "updated_since",
        "order_by",
        "order_type",
        "include",
        "page",
        "per_page",
    }
)
CUSTOM_TYPES = (
    "custom_text",
    "custom_paragraph",
    "custom_number",
    "custom_decimal",
    "custom_checkbox",
    "custom_date",
    "custom_dropdown",
)
SEARCHABLE_CUSTOM = frozenset(set(CUSTOM_TYPES) - {"custom_paragraph"})
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TAG_RE = re.compile(r"<[^>]+>")


def fd_time(when: datetime) -> str:
    """Freshdesk's timestamp format: ``2015-08-18T16:50:00Z`` (UTC, whole seconds)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(raw: str) -> datetime:
    """ISO 8601 (``Z``, offsets or a bare date); naive values are UTC. ValueError if not."""
    value = raw.strip()
    if not value or not value[0].isdigit():
        raise ValueError(raw)
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    when = datetime.fromisoformat(value)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _text_of(markup: str) -> str:
    """``description_text``: the HTML without tags and entities, whitespace collapsed."""
    spaced = re.sub(r"<\s*(br|/p|/div|/li)\s*/?>", "\n", markup, flags=re.IGNORECASE)
    text = html.unescape(TAG_RE.sub("", spaced))
    return "\n".join(" ".join(line.split()) for line in text.splitlines()).strip()


def _type_name(value: Any) -> str:
    """How Freshdesk names a JSON value's type in its datatype_mismatch messages."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Number"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    return "key/value pair"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _one_of(values: Iterable[Any]) -> str:
    return f"It should be one of these values: '{','.join(str(v) for v in values)}'"


def _mismatch(value: Any, expected: str) -> str:
    return f"Value set is of type {_type_name(value)}.It should be a/an {expected}"


# -- errors -----------------------------------------------------------------------------


class FdError(Exception):
    """Raised in handlers; ``body`` None answers without a body (Freshdesk's 404)."""

    def __init__(
        self, status: int, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class FieldError:
    field: str | None
    message: str
    code: str

    def json(self) -> dict[str, str]:
        out = {"field": self.field} if self.field is not None else {}
        return {**out, "message": self.message, "code": self.code}


def _validation(errors: Sequence[FieldError]) -> FdError:
    return FdError(400, {"description": "Validation failed", "errors": [e.json() for e in errors]})


def _invalid(field_name: str | None, message: str, code: str = "invalid_value") -> FdError:
    return _validation([FieldError(field_name, message, code)])


def _coded(status: int, pair: tuple[str, str]) -> FdError:
    return FdError(status, {"code": pair[0], "message": pair[1]})


def _not_found() -> FdError:
    return FdError(404)


# -- model ------------------------------------------------------------------------------


@dataclass
class Agent:
    id: int
    name: str
    email: str
    api_key: str
    ticket_scope: int = 1  # 1 global, 2 group, 3 restricted (assigned to them only)
    group_ids: list[int] = field(default_factory=list)
    occasional: bool = False
    phone: str | None = None
    mobile: str | None = None
    job_title: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime(2024, 1, 1, tzinfo=UTC))


@dataclass
class Contact:
    id: int
    name: str
    email: str | None = None
    phone: str | None = None
    mobile: str | None = None
    twitter_id: str | None = None
    facebook_id: str | None = None
    unique_external_id: str | None = None
    company_id: int | None = None
    created_at: datetime = field(default_factory=lambda: datetime(2024, 1, 1, tzinfo=UTC))


@dataclass
class Group:
    id: int
    name: str
    description: str | None = None
    agent_ids: list[int] = field(default_factory=list)
    created_at: datetime = field(default_factory=lambda: datetime(2024, 1, 1, tzinfo=UTC))


@dataclass
class Company:
    id: int
    name: str
    domains: list[str] = field(default_factory=list)
    created_at: datetime = field(default_factory=lambda: datetime(2024, 1, 1, tzinfo=UTC))


@dataclass
class TicketField:
    id: int
    name: str  # the key in a ticket's custom_fields, and in search queries
    label: str
    type: str  # default_* or custom_*
    position: int
    choices: Any = None
    required_for_agents: bool = False
    required_for_closure: bool = False
    description: str | None = None

    @property
    def default(self) -> bool:
        return self.type.startswith("default_")


@dataclass
class Conversation:
    id: int
    ticket_id: int
    body: str
    user_id: int
    private: bool
    incoming: bool
    created_at: datetime


@dataclass
class Ticket:
    id: int
    subject: str
    description: str
    requester_id: int
    created_at: datetime
    updated_at: datetime
    status: int = 2
    priority: int = 1
    source: int = 2
    type: str | None = None
    responder_id: int | None = None
    group_id: int | None = None
    company_id: int | None = None
    product_id: int | None = None
    email_config_id: int | None = None
    tags: list[str] = field(default_factory=list)
    cc_emails: list[str] = field(default_factory=list)
    custom_fields: dict[str, Any] = field(default_factory=dict)
    due_by: datetime | None = None
    fr_due_by: datetime | None = None
    due_by_set: bool = False  # given explicitly: no longer follows the SLA
    fr_due_by_set: bool = False
    spam: bool = False
    deleted: bool = False
    watchers: set[int] = field(default_factory=set)
    conversations: list[Conversation] = field(default_factory=list)
    status_updated_at: datetime | None = None
    first_responded_at: datetime | None = None
    agent_responded_at: datetime | None = None
    requester_responded_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    reopened_at: datetime | None = None
    pending_since: datetime | None = None


@dataclass
class RecordedRequest(_RecordedRequest):
    credits: int = 0


class _UnparsableType:
    pass


_UNPARSABLE: Any = _UnparsableType()
_CALLER: ContextVar[Agent] = ContextVar("fake_freshdesk_caller")
_BODY: ContextVar[Any] = ContextVar("fake_freshdesk_body")


# -- the filter query language (GET /search/tickets) -------------------------------------


@dataclass(frozen=True)
class Term:
    field: str
    op: str  # ":" equal, ">" at least, "<" at most
    kind: str  # "int" | "number" | "string" | "null" | "bool"
    value: Any


@dataclass(frozen=True)
class Junction:
    op: str  # "AND" | "OR"
    parts: tuple[Node, ...]


Node = Term | Junction

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<lp>\() | (?P<rp>\)) |
      (?P<term>(?P<field>[A-Za-z_][A-Za-z0-9_]*):(?P<op>[<>])?
        (?P<value>'(?:[^'\\]|\\.)*'|-?\d+(?:\.\d+)?(?![\w.])|null\b|true\b|false\b)) |
      (?P<kw>AND|OR)(?![\w:])
    )""",
    re.VERBOSE,
)


class QuerySyntaxError(ValueError):
    pass


def parse_query(text: str) -> Node:
    """The query between the double quotes → an AST; QuerySyntaxError when malformed.

    Grammar: ``expr := and (OR and)*``, ``and := atom (AND atom)*``,
    ``atom := ( expr ) | field:[<>]value``; values are integers, decimals, ``'strings'``
    (``\\'`` escapes a quote), ``null``, ``true``, ``false``. AND binds tighter than OR.
    """
    tokens: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            raise QuerySyntaxError(f"cannot read the query at {text[pos:].strip()[:20]!r}")
        pos = match.end()
        if match.group("lp"):
            tokens.append(("(", None))
        elif match.group("rp"):
            tokens.append((")", None))
        elif match.group("kw"):
            tokens.append((match.group("kw"), None))
        else:
            tokens.append(("term", _term(match)))
    if not tokens:
        raise QuerySyntaxError("the query is empty")
    node, rest = _parse_or(tokens, 0)
    if rest != len(tokens):
        raise QuerySyntaxError(f"unexpected {tokens[rest][0]!r}")
    return node


def _term(match: re.Match[str]) -> Term:
    raw = match.group("value")
    op = match.group("op") or ":"
    if raw.startswith("'"):
        return Term(match.group("field"), op, "string", re.sub(r"\\(.)", r"\1", raw[1:-1]))
    if raw == "null":
        return Term(match.group("field"), op, "null", None)
    if raw in ("true", "false"):
        return Term(match.group("field"), op, "bool", raw == "true")
    if "." in raw:
        return Term(match.group("field"), op, "number", float(raw))
    return Term(match.group("field"), op, "int", int(raw))


def _parse_or(tokens: list[tuple[str, Any]], at: int) -> tuple[Node, int]:
    parts = []
    node, at = _parse_and(tokens, at)
    parts.append(node)
    while at < len(tokens) and tokens[at][0] == "OR":
        node, at = _parse_and(tokens, at + 1)
        parts.append(node)
    return (parts[0] if len(parts) == 1 else Junction("OR", tuple(parts))), at


def _parse_and(tokens: list[tuple[str, Any]], at: int) -> tuple[Node, int]:
    parts = []
    node, at = _parse_atom(tokens, at)
    parts.append(node)
    while at < len(tokens) and tokens[at][0] == "AND":
        node, at = _parse_atom(tokens, at + 1)
        parts.append(node)
    return (parts[0] if len(parts) == 1 else Junction("AND", tuple(parts))), at


def _parse_atom(tokens: list[tuple[str, Any]], at: int) -> tuple[Node, int]:
    if at >= len(tokens):
        raise QuerySyntaxError("the query ends too early")
    kind, value = tokens[at]
    if kind == "term":
        assert isinstance(value, Term)
        return value, at + 1
    if kind == "(":
        node, at = _parse_or(tokens, at + 1)
        if at >= len(tokens) or tokens[at][0] != ")":
            raise QuerySyntaxError("a parenthesis is not closed")
        return node, at + 1
    raise QuerySyntaxError(f"unexpected {kind!r}")


# -- the fake ---------------------------------------------------------------------------


class FakeFreshdesk(Violations, RetryFakeServer[Fault, RecordedRequest]):
    """A fake Freshdesk account. ``async with FakeFreshdesk(...) as fd`` starts it.

    Defaults (``defaults=True``): agents alice@example.com (key ``fd-alice-key``, global
    scope), bob@example.com (``fd-bob-key``, group scope: groups Support) and
    carol@example.com (``fd-carol-key``, restricted: tickets assigned to her); groups
    "Billing" (alice) and "Support" (bob, carol); company "Acme Corp" (acme.example);
    contacts rachel@acme.example (Acme Corp) and sam@example.org; statuses 2-5; types
    Question/Incident/Problem/Feature Request/Refund; custom fields ``cf_category``
    (dropdown Hardware/Software/Network), ``cf_reference`` (text), ``cf_impact_score``
    (number), ``cf_vip`` (checkbox), ``cf_follow_up`` (date), ``cf_cost`` (decimal),
    ``cf_notes`` (paragraph). Agents' and contacts' ids are large (43000000001 up, one
    sequence: an agent is a user too); tickets count from 1; the rest from 43000100001.

    Conventions where the documents are silent (what the fake does; a plugin may rely on
    nothing beyond the documented API):

    - Auth: ``Basic base64(<api key>:<anything>)``; unknown or missing → 401
      ``{"code": "invalid_credentials", "message": ...}``, no rate headers, not counted.
      Bearer → 401 unless ``accept_bearer=True``.
    - Every authenticated answer carries ``X-Ratelimit-Total``, ``X-Ratelimit-Remaining``,
      ``X-Ratelimit-Used-CurrentRequest`` (credits: 1, plus 1 per ``include`` value on
      ``GET /tickets/{id}`` and 2 per value on ``GET /tickets``). The budget is per account
      (all keys) per ``rate_window`` (60 s, fixed window from its first request), default
      400 credits; invalid requests count. A request whose credits do not fit → 429
      ``{"code": "rate_limit_exceeded", "message": ...}`` with ``Retry-After`` (whole
      seconds to the window's end) and the three headers (Remaining = what is left, Used
      0); it costs nothing. ``set_rate_limit(..., create=, update=, list=)`` adds the
      per-endpoint sub-limits (calls of ticket create, update, list per window).
      Authenticated answers also carry ``X-Freshdesk-API-Version: latest=v2; requested=v2``.
    - Bodies: a body must be ``application/json`` (else 415 ``invalid_content_type``;
      multipart/form-data is documented for attachments but not imitated: 415 and a
      violation). Unparsable JSON or a non-object → 400 with one error
      ``{"message": ..., "code": "invalid_json"}`` (no ``field``). ``Accept`` must allow
      application/json (``*/*`` or absent is fine) else 406.
    - 400 bodies list every problem found: unknown body fields or query parameters →
      ``invalid_field`` "Unexpected/invalid field in request"; wrong JSON types →
      ``datatype_mismatch`` "Value set is of type X.It should be a/an Y"; bad values →
      ``invalid_value`` (enumerations: "It should be one of these values: 'a,b'"); absent
      mandatory fields → ``missing_field``. Custom fields are reported as
      ``custom_fields.<name>``. Messages are the fake's wording; ``field`` and ``code``
      are the contract.
    - 404 (unknown ticket/contact/agent/group/company, a non-numeric id, an unknown path)
      has an empty body. A path the fake does not implement is also a violation. A wrong
      method on a known path (e.g. PATCH: Freshdesk updates with PUT) → 405
      ``{"code": "method_not_allowed", ...}`` with ``Allow``, also a violation.
    - Create: ``subject`` (string, at most 255) and ``description`` (HTML string) are
      mandatory, and one of requester_id/email/phone/twitter_id/facebook_id/
      unique_external_id (``phone`` alone for an unknown contact also needs ``name``).
      An unknown email/phone/... creates a contact (``name`` or the email's local part);
      an unknown ``requester_id`` → 400 invalid_value. ``requester_id`` may be an agent.
      Defaults: status 2, priority 1, source 2, type null, company = the requester's.
      ``priority`` 1-4, ``status`` a configured status (2-5 plus ``add_status``),
      ``source`` 1/2/3/7/9/10, ``type`` one of the types; ``group_id``/``responder_id``
      must exist (agent ids); ``tags`` strings of at most 32 characters (kept in order,
      duplicates dropped); ``cc_emails`` valid addresses (create only);
      ``product_id``/``email_config_id`` must name one (the fake has none: always 400
      unless null); ``attachments`` only as ``[]`` in JSON. 201 with the ticket and a
      ``Location`` header.
    - Custom fields: keys must be defined (``GET /ticket_fields`` names); values typed
      (text ≤ 255 chars, paragraph string, number integer, decimal number, checkbox
      boolean, date ``YYYY-MM-DD``, dropdown one of its choices); null clears.
      ``required_for_agents`` fields are mandatory on create; ``required_for_closure``
      ones must have a value when a request sets status Resolved/Closed. Every defined custom
      field appears in ``custom_fields`` (null when unset). Update merges: only the given
      keys change.
    - ``due_by``/``fr_due_by``: ISO 8601 (naive = UTC). Not allowed (400 invalid_value)
      when the resulting status is Resolved or Closed; must not be before the ticket's
      creation (or now, on create); ``fr_due_by`` must not be after ``due_by`` (checked
      against the stored value when only one is given). When not given they follow
      :data:`SLA_HOURS` from ``created_at`` by priority (calendar hours) and are
      recomputed when the priority changes, until set explicitly. ``is_escalated`` (due_by
      passed, not resolved/closed) and ``fr_escalated`` (fr_due_by passed, no first
      response) are computed when rendered.
    - Update (PUT): the create fields except ``cc_emails``; nothing is mandatory; ``{}`` or
      no body → 200 with the ticket unchanged (``updated_at`` kept); otherwise
      ``updated_at`` = now. ``tags`` replace the list. A deleted ticket → 404. Status
      changes stamp ``stats``: status_updated_at; Pending → pending_since; Resolved →
      resolved_at; Closed → closed_at (and resolved_at if unset); from Resolved/Closed to
      Open/Pending → reopened_at.
    - Scope: agents with ticket_scope 2 see tickets of their groups or assigned to them, 3
      only tickets assigned to them; outside it GET/PUT/DELETE → 403 access_denied, lists
      and searches leave them out.
    - ``GET /tickets/{id}``: also deleted (``"deleted": true``) and spam tickets. Includes:
      conversations (up to 10, oldest first), requester ``{id, name, email, mobile,
      phone}``, company ``{id, name}`` (``{}`` without one), stats; anything else → 400.
    - ``GET /tickets``: only tickets created in the last 30 days unless ``updated_since``
      is given (then ``updated_at >= updated_since``, any age); spam and deleted are left
      out unless ``filter=spam|deleted``; ``new_and_my_open`` = Open and unassigned or
      assigned to the caller; ``watching`` = tickets the caller watches. Filters combine
      (AND). ``email``/``unique_external_id`` of nobody → empty list. Order ``created_at``
      (default) | due_by | updated_at | status, ``order_type`` desc (default) | asc, ties by
      id in the same direction. ``page`` ≥ 1, ``per_page`` 1-100 (default 30), else 400.
      ``Link: <url of the next page>; rel="next"`` only when another page has tickets;
      the url is this fake's, with the same query and page+1. No description unless
      ``include=description``.
    - ``GET /search/tickets``: ``query`` mandatory, wrapped in double quotes, at most 512
      characters between them; else 400 on field ``query``. Fields (case sensitive):
      agent_id, group_id, priority, status (integers), tag, type (strings), due_by,
      fr_due_by, created_at, updated_at (dates), and custom fields by their ``cf_`` name
      except paragraphs; others → 400 invalid_field naming the field. ``:>``/``:<`` are
      ≥/≤ and only for numbers and dates. Dates are quoted ``'YYYY-MM-DD'`` (whole UTC
      day: ``:>`` from its start, ``:<`` to its end) or a quoted UTC datetime (instant).
      Strings compare case-insensitively and whole (``tag:'x'``: one of the tags is x).
      ``null`` matches no value (no tags, unassigned...). Keywords AND/OR are upper case;
      AND binds tighter. ``page`` 1-10 else 400; 30 per page (``per_page`` is ignored);
      other parameters → 400. Answer ``{"results": [...], "total": n}``, results as in
      the list (no description), newest created first. Deleted and spam tickets are
      never found; tickets younger than ``search_lag`` seconds are not indexed yet.
    - ``GET /ticket_fields`` (``type`` filter): default fields (requester, subject,
      ticket_type, source, status, priority, group, agent, description, company) then the
      custom ones, by position. Choices: status ``{"2": ["Open", "Being Processed"]}``,
      priority/source ``{"Low": 1}``, ticket_type and dropdowns ``[...]``, group/agent
      ``{"name": id}``.
    - ``/contacts`` lists and shows contacts only (agents → 404 there; use
      ``include=requester``). People lists page like tickets (no 30-day window).
    - ``DELETE /tickets/{id}`` → 204 (deleted); ``PUT /tickets/{id}/restore`` → 204.
    - ``fail_next(status=...)`` answers with Freshdesk's body for that status (400
      validation body, 401/403 code+message, 404 empty, 429 with ``Retry-After`` —
      ``retry_after`` seconds, default 1 — and the X-Ratelimit headers, 500 code+message,
      502/503/504 a plain text gateway page). Faults are served before authentication and
      are not counted against the limit.
    """

    fault_type = Fault
    record_type = RecordedRequest
    malformed_body = '[{"id": 1, "subject": "'
    violations_are = "request(s) the fake Freshdesk does not imitate"

    def __init__(
        self,
        *,
        defaults: bool = True,
        rate_limit: int = 400,
        rate_window: float = 60.0,
        accept_bearer: bool = False,
        search_lag: float = 0.0,
        clock: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(host)
        self.accept_bearer = accept_bearer
        self.search_lag = search_lag
        self._clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._skew = timedelta()

        self.agents: dict[int, Agent] = {}
        self.contacts: dict[int, Contact] = {}
        self.groups: dict[int, Group] = {}
        self.companies: dict[int, Company] = {}
        self.tickets: dict[int, Ticket] = {}
        self.ticket_fields: list[TicketField] = []
        self.statuses: dict[int, tuple[str, str]] = dict(DEFAULT_STATUSES)
        self.ticket_types: list[str] = list(DEFAULT_TICKET_TYPES)
        self.violations: list[str] = []

        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.sub_limits: dict[str, int] = {}
        self._window: tuple[datetime, int, dict[str, int]] | None = None

        self._user_ids = itertools.count(43_000_000_001)
        self._other_ids = itertools.count(43_000_100_001)
        self._ticket_ids = itertools.count(1)
        self._conversation_ids = itertools.count(43_000_900_001)

        self._default_fields()
        if defaults:
            self._seed_defaults()

        self.app = web.Application(middlewares=[self._middleware])
        self._routes()

    def _default_fields(self) -> None:
        for name, label, kind in (
            ("requester", "Search a requester", "default_requester"),
            ("subject", "Subject", "default_subject"),
            ("ticket_type", "Type", "default_ticket_type"),
            ("source", "Source", "default_source"),
            ("status", "Status", "default_status"),
            ("priority", "Priority", "default_priority"),
            ("group", "Group", "default_group"),
            ("agent", "Agent", "default_agent"),
            ("description", "Description", "default_description"),
            ("company", "Company", "default_company"),
        ):
            required = kind in ("default_requester", "default_subject", "default_description")
            self.ticket_fields.append(
                TicketField(
                    next(self._other_ids),
                    name,
                    label,
                    kind,
                    len(self.ticket_fields) + 1,
                    required_for_agents=required,
                )
            )

    def _seed_defaults(self) -> None:
        self.add_agent("alice@example.com", "Alice Admin", api_key="fd-alice-key")
        self.add_agent("bob@example.com", "Bob Builder", api_key="fd-bob-key", ticket_scope=2)
        self.add_agent("carol@example.com", "Carol Agent", api_key="fd-carol-key", ticket_scope=3)
        self.add_group("Billing", agents=["alice@example.com"])
        self.add_group("Support", agents=["bob@example.com", "carol@example.com"])
        self.add_company("Acme Corp", domains=["acme.example"])
        self.add_contact("rachel@acme.example", "Rachel Requester", company="Acme Corp")
        self.add_contact("sam@example.org", "Sam Customer")
        self.add_ticket_field(
            "cf_category", "custom_dropdown", choices=["Hardware", "Software", "Network"]
        )
        self.add_ticket_field("cf_reference", "custom_text")
        self.add_ticket_field("cf_impact_score", "custom_number")
        self.add_ticket_field("cf_vip", "custom_checkbox")
        self.add_ticket_field("cf_follow_up", "custom_date")
        self.add_ticket_field("cf_cost", "custom_decimal")
        self.add_ticket_field("cf_notes", "custom_paragraph")

    # -- time -----------------------------------------------------------------------------

    def now(self) -> datetime:
        return (self._clock() + self._skew).replace(microsecond=0)

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward (rate windows, escalations, the 30-day window)."""
        self._skew += timedelta(seconds=seconds)

    # -- setup ----------------------------------------------------------------------------

    def add_agent(
        self,
        email: str,
        name: str | None = None,
        *,
        api_key: str | None = None,
        ticket_scope: int = 1,
        groups: Iterable[str | int] = (),
        occasional: bool = False,
    ) -> Agent:
        agent = Agent(
            next(self._user_ids),
            name or email.split("@")[0].title(),
            email,
            api_key or f"fd-{secrets.token_hex(8)}",
            ticket_scope=ticket_scope,
            occasional=occasional,
        )
        self.agents[agent.id] = agent
        for ident in groups:
            group = self.group(ident)
            group.agent_ids.append(agent.id)
            agent.group_ids.append(group.id)
        return agent

    def add_contact(
        self,
        email: str | None = None,
        name: str | None = None,
        *,
        phone: str | None = None,
        company: str | int | None = None,
        unique_external_id: str | None = None,
    ) -> Contact:
        label = name or (email.split("@")[0] if email else phone or "Unknown")
        contact = Contact(
            next(self._user_ids),
            label,
            email,
            phone=phone,
            unique_external_id=unique_external_id,
            company_id=self.company(company).id if company is not None else None,
            created_at=self.now(),
        )
        self.contacts[contact.id] = contact
        return contact

    def add_group(
        self, name: str, *, agents: Iterable[str | int] = (), description: str | None = None
    ) -> Group:
        group = Group(next(self._other_ids), name, description)
        self.groups[group.id] = group
        for ident in agents:
            agent = self.agent(ident)
            group.agent_ids.append(agent.id)
            agent.group_ids.append(group.id)
        return group

    def add_company(self, name: str, *, domains: Iterable[str] = ()) -> Company:
        company = Company(next(self._other_ids), name, list(domains))
        self.companies[company.id] = company
        return company

    def add_ticket_field(
        self,
        name: str,
        type: str,
        *,
        label: str | None = None,
        choices: Sequence[str] | None = None,
        required_for_agents: bool = False,
        required_for_closure: bool = False,
    ) -> TicketField:
        """A custom ticket field; ``name`` is its API name (``cf_...``)."""
        if type not in CUSTOM_TYPES:
            raise ValueError(f"{type!r} is not one of {CUSTOM_TYPES}")
        if type == "custom_dropdown" and not choices:
            raise ValueError("a dropdown needs choices")
        spec = TicketField(
            next(self._other_ids),
            name,
            label or name.removeprefix("cf_").replace("_", " ").title(),
            type,
            len(self.ticket_fields) + 1,
            choices=list(choices) if choices else None,
            required_for_agents=required_for_agents,
            required_for_closure=required_for_closure,
        )
        self.ticket_fields.append(spec)
        for ticket in self.tickets.values():
            ticket.custom_fields.setdefault(name, None)
        return spec

    def add_status(self, status_id: int, name: str, customer_label: str | None = None) -> None:
        """A custom status (behaves like Open/Pending: the SLA keeps running)."""
        self.statuses[status_id] = (name, customer_label or name)

    def seed_ticket(
        self,
        subject: str = "Something broke",
        *,
        description: str = "<div>Details about the issue</div>",
        requester: str | int = "rachel@acme.example",
        status: int = 2,
        priority: int = 1,
        source: int = 2,
        type: str | None = None,
        responder: str | int | None = None,
        group: str | int | None = None,
        tags: Iterable[str] = (),
        custom_fields: Mapping[str, Any] | None = None,
        created_at: datetime | timedelta | None = None,
        updated_at: datetime | timedelta | None = None,
        due_by: datetime | None = None,
        fr_due_by: datetime | None = None,
        spam: bool = False,
        deleted: bool = False,
        watchers: Iterable[str | int] = (),
    ) -> Ticket:
        """A ticket as if created earlier; no validation. Times may be ``timedelta`` ago."""
        now = self.now()
        created = now - created_at if isinstance(created_at, timedelta) else created_at or now
        updated = now - updated_at if isinstance(updated_at, timedelta) else updated_at
        requester_id = self._requester_for_seed(requester)
        company = self._user_company(requester_id)
        ticket = Ticket(
            next(self._ticket_ids),
            subject,
            description,
            requester_id,
            created,
            updated or created,
            status=status,
            priority=priority,
            source=source,
            type=type,
            responder_id=self.agent(responder).id if responder is not None else None,
            group_id=self.group(group).id if group is not None else None,
            company_id=company,
            tags=list(dict.fromkeys(tags)),
            custom_fields=self._blank_custom_fields(),
            spam=spam,
            deleted=deleted,
            watchers={self.agent(w).id for w in watchers},
            status_updated_at=created,
        )
        ticket.custom_fields.update(custom_fields or {})
        if due_by is not None:
            ticket.due_by, ticket.due_by_set = due_by, True
        if fr_due_by is not None:
            ticket.fr_due_by, ticket.fr_due_by_set = fr_due_by, True
        self._apply_sla(ticket)
        self._stamp_status(ticket, None, created)
        self.tickets[ticket.id] = ticket
        return ticket

    def add_conversation(
        self,
        ticket: int | Ticket,
        body: str,
        *,
        user: str | int | None = None,
        private: bool = False,
        incoming: bool = False,
        created_at: datetime | None = None,
    ) -> Conversation:
        """A reply or note on a ticket (``user`` an agent or contact; default the requester).

        A public reply by an agent counts as the first response (``stats``)."""
        target = ticket if isinstance(ticket, Ticket) else self.ticket(ticket)
        user_id = self._user_id(user) if user is not None else target.requester_id
        when = created_at or self.now()
        conversation = Conversation(
            next(self._conversation_ids), target.id, body, user_id, private, incoming, when
        )
        target.conversations.append(conversation)
        if user_id in self.agents and not private:
            target.agent_responded_at = when
            target.first_responded_at = target.first_responded_at or when
        elif user_id not in self.agents:
            target.requester_responded_at = when
        return conversation

    def _requester_for_seed(self, ident: str | int) -> int:
        try:
            return self._user_id(ident)
        except KeyError:
            if isinstance(ident, str) and "@" in ident:
                return self.add_contact(ident).id
            raise

    # -- lookups --------------------------------------------------------------------------

    def agent(self, ident: str | int) -> Agent:
        if isinstance(ident, int):
            return self.agents[ident]
        found = next((a for a in self.agents.values() if a.email.lower() == ident.lower()), None)
        if found is None:
            raise KeyError(ident)
        return found

    def contact(self, ident: str | int) -> Contact:
        if isinstance(ident, int):
            return self.contacts[ident]
        found = next(
            (c for c in self.contacts.values() if (c.email or "").lower() == ident.lower()), None
        )
        if found is None:
            raise KeyError(ident)
        return found

    def group(self, ident: str | int) -> Group:
        if isinstance(ident, int):
            return self.groups[ident]
        found = next((g for g in self.groups.values() if g.name == ident), None)
        if found is None:
            raise KeyError(ident)
        return found

    def company(self, ident: str | int) -> Company:
        if isinstance(ident, int):
            return self.companies[ident]
        found = next((c for c in self.companies.values() if c.name == ident), None)
        if found is None:
            raise KeyError(ident)
        return found

    def ticket(self, ident: int) -> Ticket:
        return self.tickets[ident]

    def ticket_field(self, name: str) -> TicketField:
        found = next((f for f in self.ticket_fields if f.name == name), None)
        if found is None:
            raise KeyError(name)
        return found

    def _user_id(self, ident: str | int) -> int:
        if isinstance(ident, int):
            if ident in self.agents or ident in self.contacts:
                return ident
            raise KeyError(ident)
        try:
            return self.agent(ident).id
        except KeyError:
            return self.contact(ident).id

    def _user_company(self, user_id: int) -> int | None:
        contact = self.contacts.get(user_id)
        return contact.company_id if contact is not None else None

    @property
    def custom_fields(self) -> list[TicketField]:
        return [f for f in self.ticket_fields if not f.default]

    def _blank_custom_fields(self) -> dict[str, Any]:
        return {f.name: None for f in self.custom_fields}

    # -- test helpers ---------------------------------------------------------------------

    def headers(self, api_key: str = "fd-alice-key", password: str = "X") -> dict[str, str]:
        """What a well-behaved client sends, for tests that call the fake directly."""
        token = base64.b64encode(f"{api_key}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def set_rate_limit(
        self,
        total: int,
        *,
        window: float = 60.0,
        create: int | None = None,
        update: int | None = None,
        list: int | None = None,
    ) -> None:
        """``total`` credits per ``window`` seconds for the account, plus optional
        sub-limits on ticket create / update / list calls; starts a fresh window."""
        self.rate_limit, self.rate_window = total, window
        self.sub_limits = {
            name: value
            for name, value in (("create", create), ("update", update), ("list", list))
            if value is not None
        }
        self._window = None

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"{self.url}{API}"

    # -- plumbing -------------------------------------------------------------------------

    def _routes(self) -> None:
        r = self.app.router
        r.add_get(f"{API}/tickets", self._list_tickets)
        r.add_post(f"{API}/tickets", self._create_ticket)
        r.add_get(API + "/tickets/{id:\\d+}", self._get_ticket)
        r.add_put(API + "/tickets/{id:\\d+}", self._update_ticket)
        r.add_delete(API + "/tickets/{id:\\d+}", self._delete_ticket)
        r.add_put(API + "/tickets/{id:\\d+}/restore", self._restore_ticket)
        r.add_get(API + "/tickets/{id:\\d+}/conversations", self._list_conversations)
        r.add_get(f"{API}/search/tickets", self._search_tickets)
        r.add_get(f"{API}/ticket_fields", self._list_ticket_fields)
        r.add_get(f"{API}/agents", self._list_agents)
        r.add_get(f"{API}/agents/me", self._me)
        r.add_get(API + "/agents/{id:\\d+}", self._get_agent)
        r.add_get(f"{API}/contacts", self._list_contacts)
        r.add_get(API + "/contacts/{id:\\d+}", self._get_contact)
        r.add_get(f"{API}/groups", self._list_groups)
        r.add_get(API + "/groups/{id:\\d+}", self._get_group)
        r.add_get(f"{API}/companies", self._list_companies)
        r.add_get(API + "/companies/{id:\\d+}", self._get_company)

    def _violation(self, request: web.Request, message: str) -> None:
        self.violations.append(f"{request.method} {request.path_qs}: {message}")

    async def _serve(
        self, request: web.Request, handler: Handler, record: RecordedRequest
    ) -> web.StreamResponse:
        raw = await request.read() if request.body_exists else b""
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = _UNPARSABLE
            else:
                record.json = body
        faulted = await self._fault_answer(request)
        if faulted is not None:
            return faulted
        return await self._handle(request, handler, raw, body, record)

    async def _handle(
        self,
        request: web.Request,
        handler: Handler,
        raw: bytes,
        body: Any,
        record: RecordedRequest,
    ) -> web.StreamResponse:
        caller = self._authenticate(request)
        if caller is None:
            return self._error_response(_coded(401, NOT_LOGGED_IN))
        credits = self._credits(request)
        record.credits = credits
        limited, rate_headers = self._count(credits, self._sub_limit_of(request))
        if limited is not None:
            limited.headers.update(rate_headers)
            return limited
        try:
            self._check_protocol(request, raw, body)
            _CALLER.set(caller)
            _BODY.set(body)
            response = await handler(request)
        except FdError as exc:
            response = self._error_response(exc)
        except web.HTTPNotFound:
            self._violation(request, "FakeFreshdesk does not implement this path")
            response = self._error_response(_not_found())
        except web.HTTPMethodNotAllowed as exc:
            self._violation(request, f"method not allowed (allowed: {sorted(exc.allowed_methods)})")
            allowed = ", ".join(sorted(exc.allowed_methods))
            response = self._error_response(
                FdError(
                    405,
                    {
                        "code": "method_not_allowed",
                        "message": f"{allowed} method(s) allowed. {request.method} not allowed",
                    },
                    {"Allow": allowed},
                )
            )
        response.headers.update(rate_headers)
        response.headers["X-Freshdesk-API-Version"] = "latest=v2; requested=v2"
        return response

    def _check_protocol(self, request: web.Request, raw: bytes, body: Any) -> None:
        accept = request.headers.get("Accept", "").strip()
        if accept and not any(
            part.split(";")[0].strip().lower() in ("application/json", "*/*", "application/*")
            for part in accept.split(",")
        ):
            raise _coded(406, BAD_ACCEPT)
        if not raw:
            return
        if request.content_type != "application/json":
            if request.content_type == "multipart/form-data":
                self._violation(request, "multipart/form-data (attachments) is not imitated")
            raise _coded(415, BAD_CONTENT_TYPE)
        if body is _UNPARSABLE or not isinstance(body, dict):
            raise _validation(
                [FieldError(None, "Request body has invalid json format", "invalid_json")]
            )

    def _error_response(self, exc: FdError) -> web.Response:
        headers = {"X-Request-Id": secrets.token_hex(16), **exc.headers}
        if exc.body is None:
            return web.Response(status=exc.status, headers=headers)
        return _json(exc.body, exc.status, headers)

    def _authenticate(self, request: web.Request) -> Agent | None:
        header = request.headers.get("Authorization", "").strip()
        scheme, _, value = header.partition(" ")
        key: str | None = None
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            key = decoded.partition(":")[0]
        elif scheme.lower() == "bearer" and self.accept_bearer:
            key = value.strip()
        if not key:
            return None
        return next((a for a in self.agents.values() if a.api_key == key), None)

    @staticmethod
    def _credits(request: web.Request) -> int:
        include = [v for v in request.query.get("include", "").split(",") if v.strip()]
        if request.method != "GET" or not include:
            return 1
        if request.path == f"{API}/tickets":
            return 1 + 2 * len(include)
        if re.fullmatch(rf"{API}/tickets/\d+", request.path):
            return 1 + len(include)
        return 1

    @staticmethod
    def _sub_limit_of(request: web.Request) -> str | None:
        if request.path == f"{API}/tickets":
            return {"POST": "create", "GET": "list"}.get(request.method)
        if request.method == "PUT" and re.fullmatch(rf"{API}/tickets/\d+", request.path):
            return "update"
        return None

    def _count(self, credits: int, sub: str | None) -> tuple[web.Response | None, dict[str, str]]:
        now = self.now()
        if self._window is None or now - self._window[0] >= timedelta(seconds=self.rate_window):
            self._window = (now, 0, {})
        started, used, subs = self._window
        left = started + timedelta(seconds=self.rate_window) - now
        retry = max(1, math.ceil(left.total_seconds()))
        over = used + credits > self.rate_limit
        if sub is not None and sub in self.sub_limits:
            over = over or subs.get(sub, 0) + 1 > self.sub_limits[sub]
        if over:
            headers = {**self._rate_headers(self.rate_limit - used, 0), "Retry-After": str(retry)}
            return self._error_response(_coded(429, RATE_LIMITED)), headers
        used += credits
        if sub is not None:
            subs[sub] = subs.get(sub, 0) + 1
        self._window = (started, used, subs)
        return None, self._rate_headers(self.rate_limit - used, credits)

    def _rate_headers(self, remaining: int, used: int) -> dict[str, str]:
        return {
            "X-Ratelimit-Total": str(self.rate_limit),
            "X-Ratelimit-Remaining": str(max(0, remaining)),
            "X-Ratelimit-Used-CurrentRequest": str(used),
        }

    def _fault_headers(self, fault: Fault, status: int, headers: dict[str, str]) -> None:
        if status == 429:
            retry = 1.0 if fault.retry_after is None else fault.retry_after
            headers.setdefault(
                "Retry-After", str(int(retry)) if retry == int(retry) else str(retry)
            )
            for name, value in self._rate_headers(0, 0).items():
                headers.setdefault(name, value)
        elif fault.retry_after is not None:
            headers.setdefault("Retry-After", str(fault.retry_after))

    def _fault_error(self, status: int, headers: dict[str, str]) -> web.Response:
        if status in (502, 503, 504):
            return web.Response(status=status, text=f"{status} Gateway error", headers=headers)
        known: dict[int, FdError] = {
            400: _invalid(None, "Injected validation failure"),
            401: _coded(401, NOT_LOGGED_IN),
            403: _coded(403, ACCESS_DENIED),
            404: _not_found(),
            429: _coded(429, RATE_LIMITED),
            500: _coded(500, ("internal_error", "We're sorry, but something went wrong.")),
        }
        exc = known.get(status, FdError(status, {"code": "error", "message": f"fault {status}"}))
        exc = FdError(exc.status, exc.body, {**exc.headers, **headers})
        return self._error_response(exc)

    # -- rendering ------------------------------------------------------------------------

    def _escalations(self, ticket: Ticket) -> tuple[bool, bool]:
        now = self.now()
        open_ = ticket.status not in (RESOLVED, CLOSED)
        is_escalated = open_ and ticket.due_by is not None and ticket.due_by < now
        fr_escalated = (
            open_
            and ticket.first_responded_at is None
            and ticket.fr_due_by is not None
            and ticket.fr_due_by < now
        )
        return is_escalated, fr_escalated

    def _ticket_json(
        self, ticket: Ticket, *, description: bool = True, include: Iterable[str] = ()
    ) -> dict[str, Any]:
        is_escalated, fr_escalated = self._escalations(ticket)
        custom = self._blank_custom_fields()
        custom.update({k: v for k, v in ticket.custom_fields.items() if k in custom})
        out: dict[str, Any] = {
            "cc_emails": list(ticket.cc_emails),
            "fwd_emails": [],
            "reply_cc_emails": list(ticket.cc_emails),
            "ticket_cc_emails": list(ticket.cc_emails),
            "fr_escalated": fr_escalated,
            "spam": ticket.spam,
            "email_config_id": ticket.email_config_id,
            "group_id": ticket.group_id,
            "priority": ticket.priority,
            "requester_id": ticket.requester_id,
            "responder_id": ticket.responder_id,
            "source": ticket.source,
            "company_id": ticket.company_id,
            "status": ticket.status,
            "subject": ticket.subject,
            "association_type": None,
            "support_email": None,
            "to_emails": None,
            "product_id": ticket.product_id,
            "id": ticket.id,
            "type": ticket.type,
            "due_by": fd_time(ticket.due_by) if ticket.due_by else None,
            "fr_due_by": fd_time(ticket.fr_due_by) if ticket.fr_due_by else None,
            "is_escalated": is_escalated,
            "custom_fields": custom,
            "created_at": fd_time(ticket.created_at),
            "updated_at": fd_time(ticket.updated_at),
            "associated_tickets_count": None,
            "tags": list(ticket.tags),
        }
        if ticket.deleted:
            out["deleted"] = True
        if description:
            out["description"] = ticket.description
            out["description_text"] = _text_of(ticket.description)
            out["attachments"] = []
        for name in include:
            if name == "stats":
                out["stats"] = self._stats_json(ticket)
            elif name == "requester":
                out["requester"] = self._requester_json(ticket.requester_id)
            elif name == "company":
                company = self.companies.get(ticket.company_id or 0)
                out["company"] = {"id": company.id, "name": company.name} if company else {}
            elif name == "conversations":
                ordered = sorted(ticket.conversations, key=lambda c: (c.created_at, c.id))
                out["conversations"] = [
                    self._conversation_json(c) for c in ordered[:CONVERSATIONS_INCLUDED]
                ]
        return out

    @staticmethod
    def _stats_json(ticket: Ticket) -> dict[str, Any]:
        def t(when: datetime | None) -> str | None:
            return fd_time(when) if when else None

        return {
            "agent_responded_at": t(ticket.agent_responded_at),
            "requester_responded_at": t(ticket.requester_responded_at),
            "first_responded_at": t(ticket.first_responded_at),
            "status_updated_at": t(ticket.status_updated_at),
            "reopened_at": t(ticket.reopened_at),
            "resolved_at": t(ticket.resolved_at),
            "closed_at": t(ticket.closed_at),
            "pending_since": t(ticket.pending_since),
        }

    def _requester_json(self, user_id: int) -> dict[str, Any]:
        agent = self.agents.get(user_id)
        if agent is not None:
            return {
                "id": agent.id,
                "name": agent.name,
                "email": agent.email,
                "mobile": agent.mobile,
                "phone": agent.phone,
            }
        contact = self.contacts[user_id]
        return {
            "id": contact.id,
            "name": contact.name,
            "email": contact.email,
            "mobile": contact.mobile,
            "phone": contact.phone,
        }

    def _conversation_json(self, conversation: Conversation) -> dict[str, Any]:
        from_email = None
        if conversation.user_id in self.agents:
            from_email = self.agents[conversation.user_id].email
        elif conversation.user_id in self.contacts:
            from_email = self.contacts[conversation.user_id].email
        return {
            "id": conversation.id,
            "body": conversation.body,
            "body_text": _text_of(conversation.body),
            "incoming": conversation.incoming,
            "private": conversation.private,
            "user_id": conversation.user_id,
            "support_email": None,
            "source": 2 if conversation.private else 0,
            "category": 2,
            "to_emails": [],
            "from_email": from_email,
            "cc_emails": [],
            "bcc_emails": [],
            "attachments": [],
            "ticket_id": conversation.ticket_id,
            "created_at": fd_time(conversation.created_at),
            "updated_at": fd_time(conversation.created_at),
        }

    @staticmethod
    def _agent_json(agent: Agent) -> dict[str, Any]:
        created = fd_time(agent.created_at)
        return {
            "available": True,
            "occasional": agent.occasional,
            "id": agent.id,
            "ticket_scope": agent.ticket_scope,
            "signature": None,
            "group_ids": list(agent.group_ids),
            "role_ids": [],
            "skill_ids": [],
            "available_since": None,
            "contact": {
                "active": True,
                "email": agent.email,
                "job_title": agent.job_title,
                "language": "en",
                "last_login_at": None,
                "mobile": agent.mobile,
                "name": agent.name,
                "phone": agent.phone,
                "time_zone": "Eastern Time (US & Canada)",
                "created_at": created,
                "updated_at": created,
            },
            "created_at": created,
            "updated_at": created,
            "type": "support_agent",
        }

    @staticmethod
    def _contact_json(contact: Contact) -> dict[str, Any]:
        created = fd_time(contact.created_at)
        return {
            "active": True,
            "address": None,
            "company_id": contact.company_id,
            "description": None,
            "email": contact.email,
            "id": contact.id,
            "job_title": None,
            "language": "en",
            "mobile": contact.mobile,
            "name": contact.name,
            "phone": contact.phone,
            "time_zone": "Eastern Time (US & Canada)",
            "twitter_id": contact.twitter_id,
            "facebook_id": contact.facebook_id,
            "unique_external_id": contact.unique_external_id,
            "other_emails": [],
            "other_companies": [],
            "custom_fields": {},
            "tags": [],
            "created_at": created,
            "updated_at": created,
        }

    @staticmethod
    def _group_json(group: Group) -> dict[str, Any]:
        created = fd_time(group.created_at)
        return {
            "id": group.id,
            "name": group.name,
            "description": group.description,
            "escalate_to": None,
            "unassigned_for": None,
            "business_hour_id": None,
            "group_type": "support_agent_group",
            "agent_ids": list(group.agent_ids),
            "auto_ticket_assign": False,
            "created_at": created,
            "updated_at": created,
        }

    @staticmethod
    def _company_json(company: Company) -> dict[str, Any]:
        created = fd_time(company.created_at)
        return {
            "id": company.id,
            "name": company.name,
            "description": None,
            "note": None,
            "domains": list(company.domains),
            "custom_fields": {},
            "health_score": None,
            "account_tier": None,
            "renewal_date": None,
            "industry": None,
            "created_at": created,
            "updated_at": created,
        }

    def _field_json(self, spec: TicketField) -> dict[str, Any]:
        stamp = "2024-01-01T00:00:00Z"
        out: dict[str, Any] = {
            "id": spec.id,
            "name": spec.name,
            "label": spec.label,
            "description": spec.description,
            "position": spec.position,
            "required_for_closure": spec.required_for_closure,
            "required_for_agents": spec.required_for_agents,
            "type": spec.type,
            "default": spec.default,
            "customers_can_edit": spec.type
            in ("default_requester", "default_subject", "default_description"),
            "label_for_customers": spec.label,
            "required_for_customers": spec.required_for_agents,
            "displayed_to_customers": True,
            "created_at": stamp,
            "updated_at": stamp,
        }
        choices = self._choices(spec)
        if choices is not None:
            out["choices"] = choices
        return out

    def _choices(self, spec: TicketField) -> Any:
        if spec.type == "default_status":
            return {str(k): list(v) for k, v in sorted(self.statuses.items())}
        if spec.type == "default_priority":
            return {name: value for value, name in PRIORITIES.items()}
        if spec.type == "default_source":
            return {name: value for value, name in SOURCES.items()}
        if spec.type == "default_ticket_type":
            return list(self.ticket_types)
        if spec.type == "default_group":
            return {g.name: g.id for g in self.groups.values()}
        if spec.type == "default_agent":
            return {a.name: a.id for a in self.agents.values()}
        if spec.type == "custom_dropdown":
            return list(spec.choices or [])
        return None

    # -- request helpers ------------------------------------------------------------------

    @staticmethod
    def _caller(request: web.Request) -> Agent:
        return _CALLER.get()

    @staticmethod
    def _body(request: web.Request) -> dict[str, Any]:
        body = _BODY.get()
        return body if isinstance(body, dict) else {}

    @staticmethod
    def _unknown_params(request: web.Request, allowed: Iterable[str]) -> list[FieldError]:
        known = set(allowed)
        return [
            FieldError(name, INVALID_FIELD, "invalid_field")
            for name in dict.fromkeys(request.query.keys())
            if name not in known
        ]

    @staticmethod
    def _positive(
        request: web.Request, name: str, errors: list[FieldError], *, most: int | None = None
    ) -> int | None:
        raw = request.query.get(name)
        if raw is None:
            return None
        if not raw.isdigit() or int(raw) < 1:
            errors.append(FieldError(name, "It should be a/an Positive Integer", "invalid_value"))
            return None
        if most is not None and int(raw) > most:
            errors.append(
                FieldError(
                    name,
                    f"It should be a/an Positive Integer less than or equal to {most}",
                    "invalid_value",
                )
            )
            return None
        return int(raw)

    def _paging(self, request: web.Request, errors: list[FieldError]) -> tuple[int, int]:
        page = self._positive(request, "page", errors) or 1
        per_page = self._positive(request, "per_page", errors, most=MAX_PER_PAGE)
        return page, per_page or DEFAULT_PER_PAGE

    def _paged(
        self,
        request: web.Request,
        items: Sequence[Any],
        page: int,
        per_page: int,
        render: Callable[[Any], dict[str, Any]],
    ) -> web.Response:
        start = (page - 1) * per_page
        chunk = items[start : start + per_page]
        headers = {}
        if len(items) > start + per_page:
            query = [(k, v) for k, v in request.query.items() if k != "page"]
            query.append(("page", str(page + 1)))
            headers["Link"] = f'<{self.url}{request.path}?{urlencode(query)}>; rel="next"'
        return _json([render(item) for item in chunk], headers=headers)

    @staticmethod
    def _id(request: web.Request) -> int:
        return int(request.match_info["id"])

    def _in_scope(self, agent: Agent, ticket: Ticket) -> bool:
        if agent.ticket_scope == 2:
            return ticket.responder_id == agent.id or ticket.group_id in agent.group_ids
        if agent.ticket_scope == 3:
            return ticket.responder_id == agent.id
        return True

    def _ticket_for(self, request: web.Request) -> Ticket:
        ticket = self.tickets.get(self._id(request))
        if ticket is None:
            raise _not_found()
        if not self._in_scope(self._caller(request), ticket):
            raise _coded(403, ACCESS_DENIED)
        return ticket

    @staticmethod
    def _includes(request: web.Request, allowed: Sequence[str]) -> list[str]:
        raw = request.query.get("include")
        if raw is None:
            return []
        names = [n.strip() for n in raw.split(",")]
        if not names or any(n not in allowed for n in names):
            raise _invalid("include", _one_of(allowed))
        return list(dict.fromkeys(names))

    # -- ticket writes --------------------------------------------------------------------

    def _check_types(self, values: dict[str, Any], errors: list[FieldError]) -> None:
        """Drop (and report) every value of the wrong JSON type."""

        def is_str_list(value: Any) -> bool:
            return isinstance(value, list)

        rules: dict[str, tuple[Callable[[Any], bool], str, bool]] = {
            # name: (check, expected type, null allowed)
            "name": (lambda v: isinstance(v, str), "String", False),
            "email": (lambda v: isinstance(v, str), "String", False),
            "phone": (lambda v: isinstance(v, str), "String", False),
            "twitter_id": (lambda v: isinstance(v, str), "String", False),
            "facebook_id": (lambda v: isinstance(v, str), "String", False),
            "unique_external_id": (lambda v: isinstance(v, str), "String", False),
            "subject": (lambda v: isinstance(v, str), "String", False),
            "description": (lambda v: isinstance(v, str), "String", False),
            "type": (lambda v: isinstance(v, str), "String", True),
            "requester_id": (_is_int, "Positive Integer", False),
            "status": (_is_int, "Integer", False),
            "priority": (_is_int, "Integer", False),
            "source": (_is_int, "Integer", False),
            "responder_id": (_is_int, "Positive Integer", True),
            "group_id": (_is_int, "Positive Integer", True),
            "company_id": (_is_int, "Positive Integer", True),
            "product_id": (_is_int, "Positive Integer", True),
            "email_config_id": (_is_int, "Positive Integer", True),
            "due_by": (lambda v: isinstance(v, str), "date-time", False),
            "fr_due_by": (lambda v: isinstance(v, str), "date-time", False),
            "tags": (is_str_list, "Array", False),
            "cc_emails": (is_str_list, "Array", False),
            "attachments": (is_str_list, "Array", False),
            "custom_fields": (lambda v: isinstance(v, dict), "key/value pair", False),
        }
        for name, (check, expected, nullable) in rules.items():
            if name not in values:
                continue
            value = values[name]
            if (value is None and nullable) or (value is not None and check(value)):
                continue
            errors.append(FieldError(name, _mismatch(value, expected), "datatype_mismatch"))
            del values[name]

    def _check_values(
        self, values: dict[str, Any], ticket: Ticket | None, errors: list[FieldError]
    ) -> None:
        def bad(name: str, message: str, code: str = "invalid_value") -> None:
            errors.append(FieldError(name, message, code))
            values.pop(name, None)

        subject = values.get("subject")
        if isinstance(subject, str) and len(subject) > SUBJECT_MAX:
            bad("subject", f"Has {len(subject)} characters, it can have maximum of 255 characters")
        email = values.get("email")
        if isinstance(email, str) and not EMAIL.match(email):
            bad("email", "It should be in the 'valid email address' format")
        if "priority" in values and values["priority"] not in PRIORITIES:
            bad("priority", _one_of(PRIORITIES))
        if "status" in values and values["status"] not in self.statuses:
            bad("status", _one_of(sorted(self.statuses)))
        if "source" in values and values["source"] not in SOURCES:
            bad("source", _one_of(SOURCES))
        if values.get("type") is not None and values["type"] not in self.ticket_types:
            bad("type", _one_of(self.ticket_types))
        lookups: tuple[tuple[str, Callable[[int], bool], str], ...] = (
            ("requester_id", lambda i: i in self.agents or i in self.contacts, "contact"),
            ("responder_id", lambda i: i in self.agents, "agent"),
            ("group_id", lambda i: i in self.groups, "group"),
            ("company_id", lambda i: i in self.companies, "company"),
            ("product_id", lambda i: False, "product"),
            ("email_config_id", lambda i: False, "email_config"),
        )
        for name, exists, what in lookups:
            if values.get(name) is not None and not exists(values[name]):
                bad(name, f"There is no {what} matching the given {name}")
        if "tags" in values:
            tags = values["tags"]
            if not all(isinstance(t, str) for t in tags):
                bad("tags", "It should contain elements of type String only", "datatype_mismatch")
            elif any(len(t) > TAG_MAX for t in tags):
                bad("tags", "It should only contain elements that have maximum of 32 characters")
        if "cc_emails" in values:
            cc = values["cc_emails"]
            if not all(isinstance(e, str) and EMAIL.match(e) for e in cc):
                bad("cc_emails", "It should contain elements in the 'valid email address' format")
        if values.get("attachments"):
            bad("attachments", "Attachments can only be sent as multipart/form-data")
        for name in ("due_by", "fr_due_by"):
            if name in values:
                try:
                    values[name] = _parse_time(values[name])
                except ValueError:
                    bad(name, "It should be in the 'valid date time' format")
        if "custom_fields" in values:
            values["custom_fields"] = self._check_custom(values["custom_fields"], errors)

    def _check_custom(self, given: dict[str, Any], errors: list[FieldError]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in given.items():
            where = f"custom_fields.{name}"
            spec = next((f for f in self.custom_fields if f.name == name), None)
            if spec is None:
                errors.append(FieldError(where, INVALID_FIELD, "invalid_field"))
                continue
            problem = None if value is None else self._custom_problem(spec, value)
            if problem is not None:
                errors.append(FieldError(where, *problem))
                continue
            out[name] = value
        return out

    @staticmethod
    def _custom_problem(spec: TicketField, value: Any) -> tuple[str, str] | None:
        kind = spec.type
        if kind in ("custom_text", "custom_paragraph", "custom_dropdown", "custom_date"):
            if not isinstance(value, str):
                return _mismatch(value, "String"), "datatype_mismatch"
            if kind == "custom_text" and len(value) > TEXT_MAX:
                return (
                    f"Has {len(value)} characters, it can have maximum of {TEXT_MAX} characters",
                    "invalid_value",
                )
            if kind == "custom_dropdown" and value not in (spec.choices or []):
                return _one_of(spec.choices or []), "invalid_value"
            if kind == "custom_date":
                try:
                    date.fromisoformat(value)
                except ValueError:
                    return "It should be in the 'valid date' format (YYYY-MM-DD)", "invalid_value"
            return None
        if kind == "custom_number" and not _is_int(value):
            return _mismatch(value, "Integer"), "datatype_mismatch"
        if kind == "custom_decimal" and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            return _mismatch(value, "Number"), "datatype_mismatch"
        if kind == "custom_checkbox" and not isinstance(value, bool):
            return _mismatch(value, "Boolean"), "datatype_mismatch"
        return None

    def _check_rules(
        self, values: dict[str, Any], ticket: Ticket | None, errors: list[FieldError]
    ) -> None:
        """Rules across fields: mandatory ones, due dates, closure requirements."""
        creating = ticket is None
        if creating:
            for name in ("subject", "description"):
                if name not in values and not any(e.field == name for e in errors):
                    errors.append(FieldError(name, "It should be a/an String", "missing_field"))
            if not any(values.get(n) for n in REQUESTER_FIELDS_ALL) and not any(
                e.field in REQUESTER_FIELDS_ALL for e in errors
            ):
                errors.append(FieldError("requester_id", REQUESTER_MISSING, "missing_field"))
            phone_only = values.get("phone") and not any(
                values.get(n) for n in REQUESTER_FIELDS_ALL if n != "phone"
            )
            if (
                phone_only
                and not values.get("name")
                and self._contact_by("phone", values["phone"]) is None
            ):
                errors.append(FieldError("name", "It should be a/an String", "missing_field"))
            for spec in self.custom_fields:
                given = values.get("custom_fields", {})
                if spec.required_for_agents and given.get(spec.name) is None:
                    where = f"custom_fields.{spec.name}"
                    if not any(e.field == where for e in errors):
                        errors.append(FieldError(where, "It should be set", "missing_field"))
        status = values.get("status", ticket.status if ticket else 2)
        now = self.now()
        base = ticket.created_at if ticket else now
        for name in ("due_by", "fr_due_by"):
            if name not in values:
                continue
            if status in (RESOLVED, CLOSED):
                errors.append(
                    FieldError(
                        name,
                        f"{name} can't be set for a Resolved or Closed ticket",
                        "invalid_value",
                    )
                )
            elif values[name] < base:
                errors.append(
                    FieldError(
                        name,
                        "It should be a date-time after the ticket's creation",
                        "invalid_value",
                    )
                )
        due = values.get("due_by") or (ticket.due_by if ticket and ticket.due_by_set else None)
        first = values.get("fr_due_by") or (
            ticket.fr_due_by if ticket and ticket.fr_due_by_set else None
        )
        if (
            due is not None
            and first is not None
            and first > due
            and ("due_by" in values or "fr_due_by" in values)
            and not any(e.field in ("due_by", "fr_due_by") for e in errors)
        ):
            name = "fr_due_by" if "fr_due_by" in values else "due_by"
            errors.append(FieldError(name, "fr_due_by should not be after due_by", "invalid_value"))
        if "status" in values and status in (RESOLVED, CLOSED):
            merged = dict(ticket.custom_fields) if ticket else {}
            merged.update(values.get("custom_fields", {}))
            for spec in self.custom_fields:
                where = f"custom_fields.{spec.name}"
                missing = spec.required_for_closure and merged.get(spec.name) is None
                if missing and not any(e.field == where for e in errors):
                    errors.append(
                        FieldError(where, "It should be set to resolve or close", "missing_field")
                    )

    def _contact_by(self, attribute: str, value: str) -> Contact | None:
        return next((c for c in self.contacts.values() if getattr(c, attribute) == value), None)

    def _resolve_requester(self, values: dict[str, Any]) -> int | None:
        """The requester named by the request; creates a contact for unknown identifiers."""
        if values.get("requester_id") is not None:
            return int(values["requester_id"])
        email = values.get("email")
        if email:
            for agent in self.agents.values():
                if agent.email.lower() == email.lower():
                    return agent.id
            found = next(
                (c for c in self.contacts.values() if (c.email or "").lower() == email.lower()),
                None,
            )
            if found is None:
                found = self.add_contact(email, values.get("name"))
            return found.id
        for attribute in ("unique_external_id", "twitter_id", "facebook_id", "phone"):
            raw = values.get(attribute)
            if not raw:
                continue
            found = self._contact_by(attribute, raw)
            if found is None:
                found = self.add_contact(name=values.get("name") or raw)
                setattr(found, attribute, raw)
            return found.id
        return None

    def _validated(self, body: dict[str, Any], ticket: Ticket | None) -> dict[str, Any]:
        allowed = TICKET_CREATE_FIELDS if ticket is None else TICKET_WRITE_FIELDS
        errors = [
            FieldError(key, INVALID_FIELD, "invalid_field") for key in body if key not in allowed
        ]
        values = {k: v for k, v in body.items() if k in allowed}
        self._check_types(values, errors)
        self._check_values(values, ticket, errors)
        self._check_rules(values, ticket, errors)
        if errors:
            raise _validation(errors)
        return values

    def _apply_sla(self, ticket: Ticket) -> None:
        """Due dates that follow the SLA (those not set explicitly) from the priority."""
        first, resolve = SLA_HOURS[ticket.priority]
        if not ticket.fr_due_by_set:
            ticket.fr_due_by = ticket.created_at + timedelta(hours=first)
        if not ticket.due_by_set:
            ticket.due_by = ticket.created_at + timedelta(hours=resolve)
        assert ticket.due_by is not None and ticket.fr_due_by is not None
        if ticket.fr_due_by > ticket.due_by:
            if ticket.due_by_set:
                ticket.fr_due_by = ticket.due_by
            else:
                ticket.due_by = ticket.fr_due_by

    @staticmethod
    def _stamp_status(ticket: Ticket, previous: int | None, when: datetime) -> None:
        if previous == ticket.status:
            return
        ticket.status_updated_at = when
        ticket.pending_since = when if ticket.status == 3 else None
        if ticket.status == RESOLVED:
            ticket.resolved_at = when
        elif ticket.status == CLOSED:
            ticket.closed_at = when
            ticket.resolved_at = ticket.resolved_at or when
        elif previous in (RESOLVED, CLOSED):
            ticket.reopened_at = when

    def _apply(self, ticket: Ticket, values: dict[str, Any]) -> None:
        previous_status, previous_priority = ticket.status, ticket.priority
        requester = self._resolve_requester(values)
        if requester is not None and requester != ticket.requester_id:
            ticket.requester_id = requester
            if "company_id" not in values:
                ticket.company_id = self._user_company(requester)
        simple = (
            "subject",
            "description",
            "status",
            "priority",
            "source",
            "type",
            "responder_id",
            "group_id",
            "company_id",
            "product_id",
            "email_config_id",
        )
        for name in simple:
            if name in values:
                setattr(ticket, name, values[name])
        if "tags" in values:
            ticket.tags = list(dict.fromkeys(values["tags"]))
        if "cc_emails" in values:
            ticket.cc_emails = list(values["cc_emails"])
        if "custom_fields" in values:
            ticket.custom_fields.update(values["custom_fields"])
        if "due_by" in values:
            ticket.due_by, ticket.due_by_set = values["due_by"], True
        if "fr_due_by" in values:
            ticket.fr_due_by, ticket.fr_due_by_set = values["fr_due_by"], True
        if ticket.priority != previous_priority or "due_by" in values or "fr_due_by" in values:
            self._apply_sla(ticket)
        self._stamp_status(ticket, previous_status, self.now())

    # -- ticket handlers ------------------------------------------------------------------

    async def _create_ticket(self, request: web.Request) -> web.StreamResponse:
        values = self._validated(self._body(request), None)
        now = self.now()
        ticket = Ticket(
            next(self._ticket_ids),
            "",
            "",
            0,
            now,
            now,
            custom_fields=self._blank_custom_fields(),
            status_updated_at=now,
        )
        self._apply(ticket, values)
        if "company_id" not in values:
            ticket.company_id = self._user_company(ticket.requester_id)
        self._apply_sla(ticket)
        ticket.status_updated_at = now
        self.tickets[ticket.id] = ticket
        return _json(
            self._ticket_json(ticket),
            201,
            {"Location": f"{self.url}{API}/tickets/{ticket.id}"},
        )

    async def _get_ticket(self, request: web.Request) -> web.StreamResponse:
        errors = self._unknown_params(request, ("include",))
        if errors:
            raise _validation(errors)
        include = self._includes(request, VIEW_INCLUDES)
        ticket = self._ticket_for(request)
        return _json(self._ticket_json(ticket, include=include))

    async def _update_ticket(self, request: web.Request) -> web.StreamResponse:
        ticket = self._ticket_for(request)
        if ticket.deleted:
            raise _not_found()
        body = self._body(request)
        if body:
            values = self._validated(body, ticket)
            self._apply(ticket, values)
            ticket.updated_at = self.now()
        return _json(self._ticket_json(ticket))

    async def _delete_ticket(self, request: web.Request) -> web.StreamResponse:
        ticket = self._ticket_for(request)
        if ticket.deleted:
            raise _not_found()
        ticket.deleted = True
        ticket.updated_at = self.now()
        return web.Response(status=204)

    async def _restore_ticket(self, request: web.Request) -> web.StreamResponse:
        ticket = self._ticket_for(request)
        if not ticket.deleted:
            raise _not_found()
        ticket.deleted = False
        ticket.updated_at = self.now()
        return web.Response(status=204)

    async def _list_conversations(self, request: web.Request) -> web.StreamResponse:
        errors = self._unknown_params(request, ("page", "per_page"))
        page, per_page = self._paging(request, errors)
        if errors:
            raise _validation(errors)
        ticket = self._ticket_for(request)
        ordered = sorted(ticket.conversations, key=lambda c: (c.created_at, c.id))
        return self._paged(request, ordered, page, per_page, self._conversation_json)

    # -- lists and search -----------------------------------------------------------------

    def _visible(self, agent: Agent) -> list[Ticket]:
        return [t for t in self.tickets.values() if self._in_scope(agent, t)]

    async def _list_tickets(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        errors = self._unknown_params(request, LIST_PARAMS)
        page, per_page = self._paging(request, errors)
        view = q.get("filter")
        if view is not None and view not in LIST_FILTERS:
            errors.append(FieldError("filter", _one_of(LIST_FILTERS), "invalid_value"))
        ids: dict[str, int] = {}
        for name in ("requester_id", "company_id"):
            value = self._positive(request, name, errors)
            if value is not None:
                ids[name] = value
        since: datetime | None = None
        if "updated_since" in q:
            try:
                since = _parse_time(q["updated_since"])
            except ValueError:
                errors.append(
                    FieldError(
                        "updated_since",
                        "It should be in the 'valid date time' format",
                        "invalid_value",
                    )
                )
        order_by = q.get("order_by", "created_at")
        if order_by not in LIST_ORDER_BY:
            errors.append(FieldError("order_by", _one_of(LIST_ORDER_BY), "invalid_value"))
        order_type = q.get("order_type", "desc")
        if order_type not in ("asc", "desc"):
            errors.append(FieldError("order_type", _one_of(("asc", "desc")), "invalid_value"))
        include: list[str] = []
        try:
            include = self._includes(request, LIST_INCLUDES)
        except FdError as exc:
            errors.extend(
                FieldError(e["field"], e["message"], e["code"]) for e in exc.body["errors"]
            )
        if errors:
            raise _validation(errors)

        caller = self._caller(request)
        now = self.now()
        requester_ids: set[int] | None = None
        if "email" in q:
            wanted = q["email"].lower()
            requester_ids = {a.id for a in self.agents.values() if a.email.lower() == wanted}
            requester_ids |= {
                c.id for c in self.contacts.values() if (c.email or "").lower() == wanted
            }
        if "unique_external_id" in q:
            matched = {
                c.id
                for c in self.contacts.values()
                if c.unique_external_id == q["unique_external_id"]
            }
            requester_ids = matched if requester_ids is None else requester_ids & matched

        def keep(t: Ticket) -> bool:
            if view == "spam":
                if not t.spam or t.deleted:
                    return False
            elif view == "deleted":
                if not t.deleted:
                    return False
            elif t.spam or t.deleted:
                return False
            if view == "new_and_my_open" and not (
                t.status == 2 and t.responder_id in (None, caller.id)
            ):
                return False
            if view == "watching" and caller.id not in t.watchers:
                return False
            if "requester_id" in ids and t.requester_id != ids["requester_id"]:
                return False
            if "company_id" in ids and t.company_id != ids["company_id"]:
                return False
            if requester_ids is not None and t.requester_id not in requester_ids:
                return False
            if since is not None:
                return t.updated_at >= since
            return t.created_at >= now - LIST_WINDOW

        found = [t for t in self._visible(caller) if keep(t)]
        reverse = order_type == "desc"

        def key(t: Ticket) -> tuple[Any, ...]:
            value: Any = getattr(t, order_by)
            if value is None:  # due_by is always set here; kept for safety
                value = datetime.min.replace(tzinfo=UTC)
            return (value, t.id)

        found.sort(key=key, reverse=reverse)
        with_description = "description" in include
        embeds = [n for n in include if n != "description"]
        return self._paged(
            request,
            found,
            page,
            per_page,
            lambda t: self._ticket_json(t, description=with_description, include=embeds),
        )

    async def _search_tickets(self, request: web.Request) -> web.StreamResponse:
        errors = self._unknown_params(request, ("query", "page", "per_page"))
        page = self._positive(request, "page", errors, most=SEARCH_MAX_PAGE) or 1
        raw = request.query.get("query")
        node: Node | None = None
        if raw is None:
            errors.append(FieldError("query", "It should be a/an String", "missing_field"))
        elif len(raw) < 2 or not (raw.startswith('"') and raw.endswith('"')):
            errors.append(
                FieldError("query", "It should be enclosed in double quotes", "invalid_value")
            )
        elif len(raw) - 2 > QUERY_MAX:
            errors.append(
                FieldError(
                    "query",
                    f"Has {len(raw) - 2} characters, it can have maximum of {QUERY_MAX} characters",
                    "invalid_value",
                )
            )
        elif '"' in raw[1:-1]:
            errors.append(
                FieldError("query", "It should not contain double quotes", "invalid_value")
            )
        else:
            try:
                node = parse_query(raw[1:-1])
            except QuerySyntaxError as exc:
                errors.append(FieldError("query", f"Invalid query: {exc}", "invalid_value"))
        predicate: Callable[[Ticket], bool] | None = None
        if node is not None:
            predicate = self._compile(node, errors)
        if errors or predicate is None:
            raise _validation(errors)
        indexed_before = self.now() - timedelta(seconds=self.search_lag)
        found = [
            t
            for t in self._visible(self._caller(request))
            if not t.deleted
            and not t.spam
            and (self.search_lag <= 0 or t.created_at <= indexed_before)
            and predicate(t)
        ]
        found.sort(key=lambda t: (t.created_at, t.id), reverse=True)
        start = (page - 1) * SEARCH_PER_PAGE
        return _json(
            {
                "results": [
                    self._ticket_json(t, description=False)
                    for t in found[start : start + SEARCH_PER_PAGE]
                ],
                "total": len(found),
            }
        )

    def _compile(self, node: Node, errors: list[FieldError]) -> Callable[[Ticket], bool]:
        if isinstance(node, Junction):
            parts = [self._compile(p, errors) for p in node.parts]
            if node.op == "AND":
                return lambda t: all(p(t) for p in parts)
            return lambda t: any(p(t) for p in parts)
        return self._compile_term(node, errors)

    def _compile_term(self, term: Term, errors: list[FieldError]) -> Callable[[Ticket], bool]:
        never: Callable[[Ticket], bool] = lambda t: False  # noqa: E731
        name = term.field
        getter: Callable[[Ticket], Any]
        kind: str
        choices: Sequence[Any] | None = None
        standard: dict[str, tuple[str, str]] = {
            "agent_id": ("int", "responder_id"),
            "group_id": ("int", "group_id"),
            "priority": ("int", "priority"),
            "status": ("int", "status"),
            "tag": ("tags", "tags"),
            "type": ("string", "type"),
            "due_by": ("datetime", "due_by"),
            "fr_due_by": ("datetime", "fr_due_by"),
            "created_at": ("datetime", "created_at"),
            "updated_at": ("datetime", "updated_at"),
        }
        if name in standard:
            kind, attribute = standard[name]
            getter = _attribute_getter(attribute)
            if name == "priority":
                choices = list(PRIORITIES)
            elif name == "status":
                choices = sorted(self.statuses)
            elif name == "type":
                choices = self.ticket_types
        else:
            spec = next((f for f in self.custom_fields if f.name == name), None)
            if spec is None or spec.type not in SEARCHABLE_CUSTOM:
                errors.append(FieldError(name, INVALID_FIELD, "invalid_field"))
                return never
            kind = {
                "custom_text": "string",
                "custom_dropdown": "string",
                "custom_number": "int",
                "custom_decimal": "number",
                "custom_checkbox": "bool",
                "custom_date": "date",
            }[spec.type]
            choices = spec.choices if spec.type == "custom_dropdown" else None
            getter = _custom_getter(name)

        def bad(message: str, code: str = "invalid_value") -> Callable[[Ticket], bool]:
            errors.append(FieldError(name, message, code))
            return never

        ordered = kind in ("int", "number", "datetime", "date")
        if term.op != ":" and (not ordered or term.kind == "null"):
            return bad("':>' and ':<' can only be used with number and date fields")
        if term.kind == "null":
            return lambda t: getter(t) in (None, [], "")
        if kind in ("int", "number"):
            numeric = term.kind == "int" or (kind == "number" and term.kind == "number")
            if not numeric:
                expected = "Integer" if kind == "int" else "Number"
                return bad(_mismatch(term.value, expected), "datatype_mismatch")
            if choices is not None and term.op == ":" and term.value not in choices:
                return bad(_one_of(choices))
            return _compare(getter, term.op, term.value)
        if kind == "bool":
            if term.kind != "bool":
                return bad(_mismatch(term.value, "Boolean"), "datatype_mismatch")
            return lambda t: bool(getter(t)) == term.value
        if term.kind != "string":
            return bad(_mismatch(term.value, "String"), "datatype_mismatch")
        wanted = str(term.value)
        if kind in ("datetime", "date"):
            return self._compile_date(getter, term.op, wanted, kind, bad)
        if choices is not None and wanted.lower() not in {str(c).lower() for c in choices}:
            return bad(_one_of(choices))
        if kind == "tags":
            return lambda t: wanted.lower() in {tag.lower() for tag in t.tags}
        return lambda t: isinstance(getter(t), str) and getter(t).lower() == wanted.lower()

    @staticmethod
    def _compile_date(
        getter: Callable[[Ticket], Any],
        op: str,
        wanted: str,
        kind: str,
        bad: Callable[[str], Callable[[Ticket], bool]],
    ) -> Callable[[Ticket], bool]:
        day: date | None = None
        instant: datetime | None = None
        try:
            if re.fullmatch(r"\d{4}-\d\d-\d\d", wanted):
                day = date.fromisoformat(wanted)
            elif kind == "datetime" and "T" in wanted:
                instant = _parse_time(wanted)
            else:
                raise ValueError(wanted)
        except ValueError:
            return bad("It should be in the 'YYYY-MM-DD' format")

        def value_of(t: Ticket) -> datetime | date | None:
            raw = getter(t)
            if raw is None:
                return None
            if isinstance(raw, str):  # custom date fields are stored as YYYY-MM-DD
                return date.fromisoformat(raw)
            assert isinstance(raw, datetime)
            return raw

        def matches(t: Ticket) -> bool:
            value = value_of(t)
            if value is None:
                return False
            if instant is not None:
                assert isinstance(value, datetime)
                return _ordered(value, op, instant)
            assert day is not None
            as_day = value.astimezone(UTC).date() if isinstance(value, datetime) else value
            return _ordered(as_day, op, day)

        return matches

    async def _list_ticket_fields(self, request: web.Request) -> web.StreamResponse:
        errors = self._unknown_params(request, ("type",))
        kinds = sorted({f.type for f in self.ticket_fields} | set(CUSTOM_TYPES))
        wanted = request.query.get("type")
        if wanted is not None and wanted not in kinds:
            errors.append(FieldError("type", _one_of(kinds), "invalid_value"))
        if errors:
            raise _validation(errors)
        fields = sorted(self.ticket_fields, key=lambda f: f.position)
        return _json([self._field_json(f) for f in fields if wanted in (None, f.type)])

    # -- people ---------------------------------------------------------------------------

    def _people(
        self,
        request: web.Request,
        items: Iterable[Any],
        filters: Mapping[str, Callable[[Any, str], bool]],
        render: Callable[[Any], dict[str, Any]],
    ) -> web.Response:
        errors = self._unknown_params(request, {"page", "per_page", *filters})
        page, per_page = self._paging(request, errors)
        if errors:
            raise _validation(errors)
        found = [
            item
            for item in items
            if all(
                check(item, request.query[name])
                for name, check in filters.items()
                if name in request.query
            )
        ]
        found.sort(key=lambda item: item.id)
        return self._paged(request, found, page, per_page, render)

    async def _list_agents(self, request: web.Request) -> web.StreamResponse:
        filters: dict[str, Callable[[Any, str], bool]] = {
            "email": lambda a, v: a.email.lower() == v.lower(),
            "phone": lambda a, v: a.phone == v,
            "mobile": lambda a, v: a.mobile == v,
            "state": lambda a, v: ("occasional" if a.occasional else "fulltime") == v,
        }
        return self._people(request, self.agents.values(), filters, self._agent_json)

    async def _me(self, request: web.Request) -> web.StreamResponse:
        return _json(self._agent_json(self._caller(request)))

    async def _get_agent(self, request: web.Request) -> web.StreamResponse:
        agent = self.agents.get(self._id(request))
        if agent is None:
            raise _not_found()
        return _json(self._agent_json(agent))

    async def _list_contacts(self, request: web.Request) -> web.StreamResponse:
        def since(contact: Contact, raw: str) -> bool:
            try:
                return contact.created_at >= _parse_time(raw)
            except ValueError as exc:
                raise _invalid(
                    "_updated_since", "It should be in the 'valid date time' format"
                ) from exc

        filters: dict[str, Callable[[Any, str], bool]] = {
            "email": lambda c, v: (c.email or "").lower() == v.lower(),
            "phone": lambda c, v: c.phone == v,
            "mobile": lambda c, v: c.mobile == v,
            "company_id": lambda c, v: str(c.company_id) == v,
            "_updated_since": since,
        }
        return self._people(request, self.contacts.values(), filters, self._contact_json)

    async def _get_contact(self, request: web.Request) -> web.StreamResponse:
        contact = self.contacts.get(self._id(request))
        if contact is None:
            raise _not_found()
        return _json(self._contact_json(contact))

    async def _list_groups(self, request: web.Request) -> web.StreamResponse:
        return self._people(request, self.groups.values(), {}, self._group_json)

    async def _get_group(self, request: web.Request) -> web.StreamResponse:
        group = self.groups.get(self._id(request))
        if group is None:
            raise _not_found()
        return _json(self._group_json(group))

    async def _list_companies(self, request: web.Request) -> web.StreamResponse:
        return self._people(request, self.companies.values(), {}, self._company_json)

    async def _get_company(self, request: web.Request) -> web.StreamResponse:
        company = self.companies.get(self._id(request))
        if company is None:
            raise _not_found()
        return _json(self._company_json(company))


def _ordered(value: Any, op: str, wanted: Any) -> bool:
    if op == ">":
        return bool(value >= wanted)
    if op == "<":
        return bool(value <= wanted)
    return bool(value == wanted)


def _compare(getter: Callable[[Ticket], Any], op: str, wanted: Any) -> Callable[[Ticket], bool]:
    def matches(ticket: Ticket) -> bool:
        value = getter(ticket)
        return value is not None and _ordered(value, op, wanted)

    return matches


def _attribute_getter(attribute: str) -> Callable[[Ticket], Any]:
    def get(ticket: Ticket) -> Any:
        return getattr(ticket, attribute)

    return get


def _custom_getter(name: str) -> Callable[[Ticket], Any]:
    def get(ticket: Ticket) -> Any:
        return ticket.custom_fields.get(name)

    return get
