"""An in-memory Torq public API (OAuth tokens, cases, case timeline) on a real socket.

Usage::

    async with FakeTorq() as torq:
        torq.url                          # http://127.0.0.1:<port> (API base; paths /v1alpha/...)
        torq.token_url                    # <url>/v1/auth/token
        torq.headers()                    # a bearer header for direct calls
        case = torq.seed_case("Phishing", severity="high")
        torq.fail_next(429, retry_after=0, path="/v1alpha/cases")
        torq.expire_tokens()              # the next API call with an old token: 302
        torq.assert_no_violations()

Torq publishes no machine-readable API description, so nothing is validated against a
spec. What the fake imitates comes from the pages at developers.torq.io/apidocs; the
class docstring says which parts are documented and which the fake had to choose. A
request to a path or method the fake does not know, or following the expired-token
redirect, is recorded in ``violations`` (``assert_no_violations()``).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import web

from .base import Fault as _Fault
from .base import Handler, RetryFakeServer, Violations
from .base import RecordedRequest as _RecordedRequest
from .base import json_response as _json

__all__ = [
    "CUSTOM_FIELD_TYPES",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_STATES",
    "DEFAULT_USER",
    "MASK_FIELDS",
    "SEVERITIES",
    "VISIBILITIES",
    "AccessToken",
    "ApiClient",
    "Case",
    "Entry",
    "FakeTorq",
    "Fault",
    "RecordedRequest",
    "TorqError",
    "Violation",
    "torq_time",
]

_CLIENT: ContextVar[ApiClient] = ContextVar("fake_torq_client")
_BODY: ContextVar[Any] = ContextVar("fake_torq_body")

DEFAULT_CLIENT_ID = "torq-client-id"
DEFAULT_CLIENT_SECRET = "torq-client-secret"
DEFAULT_USER = "automation@acme.test"
SEVERITIES = ("informational", "low", "medium", "high", "critical")
DEFAULT_STATES = ("new", "in progress", "on hold", "resolved", "closed")
DONE_STATES = frozenset({"resolved", "closed"})
VISIBILITIES = ("VISIBILITY_ID_INTERNAL", "VISIBILITY_ID_PUBLIC")
CUSTOM_FIELD_TYPES = (
    "TYPE_SHORT_TEXT",
    "TYPE_NUMBER",
    "TYPE_BOOLEAN",
    "TYPE_TIMESTAMP",
    "TYPE_LIST_SINGLE_SELECT",
)
MASK_FIELDS = {
    "title": "title",
    "description": "description",
    "reporter": "reporter",
    "state": "state",
    "severity": "severity",
    "assignee": "assignee",
    "category": "category",
    "sla": "sla",
    "tags": "tags",
    "custom_fields": "custom_fields",
    "resolutionSummary": "resolution_summary",
    "review": "review",
}
"""Update-mask values of "Update a case" -> the case field each names."""
RELATIVE = {
    "RELATIVE_LAST_15_MIN": timedelta(minutes=15),
    "RELATIVE_LAST_1_HOUR": timedelta(hours=1),
    "RELATIVE_LAST_4_HOURS": timedelta(hours=4),
    "RELATIVE_LAST_1_DAY": timedelta(days=1),
    "RELATIVE_LAST_2_DAYS": timedelta(days=2),
    "RELATIVE_LAST_7_DAYS": timedelta(days=7),
    "RELATIVE_LAST_14_DAYS": timedelta(days=14),
    "RELATIVE_LAST_30_DAYS": timedelta(days=30),
    "RELATIVE_LAST_90_DAYS": timedelta(days=90),
    "RELATIVE_LAST_1_MONTH": timedelta(days=30),
}
PAGE_DEFAULT, PAGE_MAX = 50, 100
GRPC_CODE = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 500: 13, 502: 14, 503: 14, 504: 4}
_CASE_INPUT = frozenset(
    {"title", "description", "state", "severity", "assignee", "reporter", "sla", "category"}
    | {"tags", "custom_fields"}
)
_CASE_OUTPUT = frozenset({"id", "pretty_id", "created_at", "updated_at", "tasks"})
_CUSTOM_ITEM = frozenset({"key", "value", "type", "case_id", "constraints"})
_FILTERS = frozenset(
    {"states", "severities", "assignees", "created_at", "categories", "tags", "custom_fields"}
)


def torq_time(when: datetime) -> str:
    """RFC 3339 in UTC with microseconds (the overview: ``2022-03-09T08:40:18.490771179Z``)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(raw: Any, where: str) -> datetime:
    if not isinstance(raw, str):
        raise TorqError(400, f"{where}: expected an RFC 3339 timestamp")
    value = raw.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    if "." in value:  # Python takes at most microseconds
        head, _, tail = value.partition(".")
        digits = "".join(itertools.takewhile(str.isdigit, tail))
        value = f"{head}.{digits[:6].ljust(6, '0')}{tail[len(digits) :]}"
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise TorqError(400, f"{where}: {raw!r} is not an RFC 3339 timestamp") from None
    if when.tzinfo is None:
        raise TorqError(400, f"{where}: {raw!r} has no time zone")
    return when.astimezone(UTC)


# -- state ------------------------------------------------------------------------------


@dataclass
class ApiClient:
    """An API key (client id and secret) of a user of the workspace."""

    client_id: str
    secret: str
    email: str = DEFAULT_USER
    read_only: bool = False


@dataclass
class AccessToken:
    value: str
    client_id: str
    expires_at: datetime
    revoked: bool = False


@dataclass
class Case:
    id: int
    title: str
    created_at: datetime
    updated_at: datetime
    description: str = ""
    state: str = "new"
    severity: str = "medium"
    assignee: str = ""
    reporter: str = ""
    reporter_kind: str = "USER"
    category: str = ""
    tags: list[str] = field(default_factory=list)
    custom_fields: list[dict[str, Any]] = field(default_factory=list)
    sla: int = 0
    end_time: datetime | None = None
    resolution_summary: dict[str, Any] | None = None
    review: dict[str, Any] | None = None


@dataclass
class Entry:
    """A timeline entry: a comment, or the record of a creation or update."""

    id: str
    case_id: int
    timestamp: datetime
    actor: str
    kind: str  # "comment" | "case_created" | "case_updated"
    text: str = ""
    visibility: str = "VISIBILITY_ID_INTERNAL"
    updated_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Fault(_Fault):
    """One entry of the fault switch; see :meth:`FakeTorq.fail_next`."""

    retry_after: str | None = "1"  # the Retry-After value; a number n is kept as f"{n:g}"

    def __post_init__(self) -> None:
        given: Any = self.retry_after
        if isinstance(given, float | int):
            self.retry_after = f"{given:g}"


@dataclass
class RecordedRequest(_RecordedRequest):
    form: dict[str, str] | None = None


@dataclass(frozen=True)
class Violation:
    method: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}: {self.message}"


class TorqError(Exception):
    """Raised in handlers; becomes ``{"code", "message", "details"}`` with that status."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(status, message)
        self.status, self.message = status, message
        self.headers = dict(headers or {})


def _error_body(status: int, message: str) -> dict[str, Any]:
    return {"code": GRPC_CODE.get(status, 2), "message": message, "details": []}


def _email(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise TorqError(400, f"{where}: expected an email address")
    if value and ("@" not in value or value.strip() != value):
        raise TorqError(400, f"{where}: {value!r} is not an email address")
    return value


def _only(data: Any, allowed: Iterable[str], where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TorqError(400, f"{where}: expected a JSON object")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise TorqError(400, f"{where}: unknown field {unknown[0]!r}")
    return data


def _page_size(raw: Any) -> int:
    if raw is None or raw == "" or raw == 0:
        return PAGE_DEFAULT
    try:
        size = int(raw)
    except (TypeError, ValueError):
        raise TorqError(400, f"pageSize: {raw!r} is not a number") from None
    if size < 0:
        raise TorqError(400, "pageSize must not be negative")
    return min(size or PAGE_DEFAULT, PAGE_MAX)


class FakeTorq(Violations, RetryFakeServer[Fault, RecordedRequest]):
    """A fake Torq workspace. ``async with FakeTorq(...) as torq`` starts it.

    Default API client ``torq-client-id`` / ``torq-client-secret`` of user
    ``automation@acme.test``; states new, in progress, on hold, resolved, closed (plus
    ``custom_states``).

    Documented, and imitated as documented:

    - ``POST /v1/auth/token`` with HTTP basic ``client_id:client_secret`` and the form
      ``grant_type=client_credentials`` → ``{"access_token", "expires_in": 3600,
      "token_type": "Bearer"}``; API calls take ``Authorization: Bearer <token>``.
    - An expired bearer token → 302 (the Errors page); a token that is not valid → 401; a
      read-only client writing → 403 ("the role ... doesn't have permission"); an unknown
      case → 404.
    - ``POST /v1alpha/cases/query`` with ``filters`` states, severities, assignees,
      created_at {start_time, end_time, relative}, categories, tags, custom_fields
      [{key, value, values}]. Documented filters whose JSON name the docs do not show
      (free text, SLA, observables, resolution) are unknown fields here (400).
    - ``PATCH /v1alpha/cases/{case.id}`` with ``{"case": {...}}``: only the fields present
      change; the field-mask values title, description, reporter, state, severity,
      assignee, category, sla, tags, custom_fields, resolutionSummary, review.
    - ``POST /v1alpha/cases/{case_id}/timeline`` with ``{text, visibility: {id}}``
      (visibility defaults to VISIBILITY_ID_INTERNAL) → ``{"comment_event": {id, case_id,
      timestamp, added_by: {kind, user: {email}}, ...}}``.
    - Values: state names (default five, case-insensitive, plus custom ones), severities
      informational..critical, custom field types TYPE_*, times RFC 3339; ``pageSize``
      default 50, at most 100, and ``pageToken`` (the Pagination page); 50 requests per
      second (overview).

    Chosen where the documents are silent (plugins may rely on none of this beyond what
    Torq documents):

    - Paths not documented: ``POST /v1alpha/cases`` (body: the flat fields of the
      documented bulk-create item, no deduplication_key; ``sla`` a string of seconds),
      ``GET /v1alpha/cases/{id}``, ``GET /v1alpha/cases/{id}/timeline`` (query
      ``pageSize``/``pageToken``, answer ``{"events", "next_page_token"}``, oldest
      first), ``PATCH`` and ``DELETE /v1alpha/cases/{id}/timeline/{entry}`` (comments
      only; other entries → 400). Case answers are ``{"case": {...}}``, DELETE ``{}``.
    - The query body takes ``pageSize``/``pageToken`` beside ``filters`` and answers
      ``{"cases", "next_page_token"}`` (empty when last), newest case first; a token is
      bound to the filters it was issued for (another request → 400). A pageSize above
      100 is capped. created_at bounds: start inclusive, end exclusive.
    - Update mask: an ``update_mask`` string in the body (comma-separated); masked
      fields absent from ``case`` are cleared (title, state, severity and reporter
      cannot be: 400). Without a mask the fields present change.
    - Case JSON: id, pretty_id ``#<id>``, title, description, state {value}, severity
      {value}, assignee, reporter {kind, user {email}}, category, tags, custom_fields
      [{key, value, type}] (value a JSON string/number/bool by type), sla {value,
      start_time, end_time}, tasks {pending}, resolution_summary, review, created_at,
      updated_at; every field present, empty ones as "" / [] / null (grpc-gateway's
      EmitUnpopulated). New cases: state new, severity medium, reporter the caller.
      Entering resolved/closed sets sla.end_time; leaving clears it.
    - Timeline entries: comments carry ``comment: {text, visibility: {id},
      updated_at}``; creation ``case_created: {case}``, updates ``case_updated:
      {update_mask}``. Entry ids are UUIDs; the author is the API client's user.
    - Errors: grpc-gateway's ``{"code", "message", "details": []}``; token endpoint
      errors OAuth's ``{"error", "error_description"}`` (401 invalid_client, 400
      unsupported_grant_type/invalid_request). Unknown body fields → 400. The 302 goes
      to ``/login`` (following it is a violation).
    - Rate limit: over ``rate_limit`` requests per ``rate_window`` seconds per client →
      429 with ``Retry-After`` (seconds) and code 8.
    - ``fail_next(status=...)`` answers with Torq's error body; 429 carries ``Retry-After:
      retry_after`` (default 1; None: no header); 302 goes to ``/login``; ``body``
      replaces the body (``""``: none).
    """

    fault_type = Fault
    record_type = RecordedRequest
    malformed_body = '{"cases": [{"id": 1'
    violations_are = "request(s) off the Torq API"

    def __init__(
        self,
        *,
        clients: Iterable[ApiClient] | None = None,
        token_lifetime: int = 3600,
        rate_limit: int = 50,
        rate_window: float = 1.0,
        custom_states: Iterable[str] = (),
        prefix: str = "/v1alpha",
        clock: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(host)
        self.prefix = "/" + prefix.strip("/")
        self.token_lifetime = token_lifetime
        self.rate_limit, self.rate_window = rate_limit, rate_window
        self.states = list(DEFAULT_STATES) + [s.strip().lower() for s in custom_states]
        self._clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._last = datetime.min.replace(tzinfo=UTC)
        self.clients: dict[str, ApiClient] = {}
        self.tokens: dict[str, AccessToken] = {}
        self.tokens_issued = 0
        """Tokens granted through POST /v1/auth/token."""
        self.cases: dict[int, Case] = {}
        self.entries: dict[int, list[Entry]] = {}
        self.violations: list[Violation] = []
        self._windows: dict[str, tuple[float, int]] = {}
        self._ids = itertools.count(1)
        for client in clients or [ApiClient(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)]:
            self.clients[client.client_id] = client
        self.app = web.Application(middlewares=[self._middleware])
        self._routes()

    # -- test helpers ---------------------------------------------------------------------

    def now(self) -> datetime:
        return self._clock()

    def _stamp(self) -> datetime:
        """Now, strictly later than any earlier stamp (so creation order is time order)."""
        moment = max(self.now(), self._last + timedelta(microseconds=1))
        self._last = moment
        return moment

    def add_client(
        self, client_id: str, secret: str, *, email: str = DEFAULT_USER, read_only: bool = False
    ) -> ApiClient:
        client = ApiClient(client_id, secret, email, read_only)
        self.clients[client_id] = client
        return client

    def issue_token(self, client_id: str = DEFAULT_CLIENT_ID, lifetime: int | None = None) -> str:
        """A valid token for a client without the HTTP exchange (not counted)."""
        value = str(uuid.uuid4())
        expires = self.now() + timedelta(
            seconds=self.token_lifetime if lifetime is None else lifetime
        )
        self.tokens[value] = AccessToken(value, client_id, expires)
        return value

    def headers(self, client_id: str = DEFAULT_CLIENT_ID) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issue_token(client_id)}"}

    def expire_tokens(self) -> None:
        """Every token issued so far expires now (the next call with one answers 302)."""
        for token in self.tokens.values():
            token.expires_at = min(token.expires_at, self.now() - timedelta(seconds=1))

    def revoke_tokens(self) -> None:
        """Every token issued so far stops being valid (the next call answers 401)."""
        for token in self.tokens.values():
            token.revoked = True

    def seed_case(self, title: str, *, actor: str = DEFAULT_USER, **fields: Any) -> Case:
        """A case as if created in Torq (fields: Case attributes)."""
        now = self._stamp()
        case = Case(id=next(self._ids), title=title, created_at=now, updated_at=now)
        case.reporter = actor
        for name, value in fields.items():
            if not hasattr(case, name):
                raise TypeError(f"Case has no field {name!r}")
            setattr(case, name, value)
        self.cases[case.id] = case
        snapshot = {"case": self._case_json(case)}
        self.entries[case.id] = [self._entry(case.id, actor, "case_created", details=snapshot)]
        return case

    def case(self, case_id: int | str) -> Case:
        return self.cases[int(str(case_id).removeprefix("#"))]

    def timeline(self, case_id: int | str) -> list[Entry]:
        return self.entries[self.case(case_id).id]

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def token_url(self) -> str:
        return f"{self.url}/v1/auth/token"

    # -- plumbing -------------------------------------------------------------------------

    def _routes(self) -> None:
        r, p = self.app.router, self.prefix
        r.add_post("/v1/auth/token", self._token)
        r.add_get("/login", self._login)
        r.add_post(f"{p}/cases/query", self._query_cases)
        r.add_post(f"{p}/cases", self._create_case)
        r.add_get(f"{p}/cases/{{id}}", self._get_case)
        r.add_patch(f"{p}/cases/{{id}}", self._update_case)
        r.add_post(f"{p}/cases/{{id}}/timeline", self._add_comment)
        r.add_get(f"{p}/cases/{{id}}/timeline", self._list_timeline)
        r.add_patch(f"{p}/cases/{{id}}/timeline/{{entry}}", self._edit_comment)
        r.add_delete(f"{p}/cases/{{id}}/timeline/{{entry}}", self._delete_comment)

    def _violation(self, request: web.Request, message: str) -> None:
        self.violations.append(Violation(request.method, request.path, message))

    async def _serve(
        self, request: web.Request, handler: Handler, record: RecordedRequest
    ) -> web.StreamResponse:
        raw = await request.read() if request.body_exists else b""
        if request.content_type == "application/json" and raw:
            try:
                record.json = json.loads(raw)
            except ValueError:
                record.json = None
        elif request.content_type == "application/x-www-form-urlencoded":
            form = await request.post()
            record.form = {k: str(v) for k, v in form.items()}
        return await self._answer(request, handler, raw)

    async def _answer(self, request: web.Request, handler: Handler, raw: bytes) -> web.Response:
        faulted = await self._fault_answer(request)
        if faulted is not None:
            return faulted
        failure = request.match_info.http_exception
        if failure is not None:
            self._violation(request, f"FakeTorq has no such operation ({failure.status})")
            return _json(_error_body(failure.status, failure.reason), failure.status)
        try:
            if request.path in ("/v1/auth/token", "/login"):
                return await handler(request)  # type: ignore[return-value]
            client = self._authenticate(request)
            self._count(client)
            if request.method != "GET" and client.read_only:
                raise TorqError(403, "the API key's role does not permit this action")
            _CLIENT.set(client)
            _BODY.set(self._parse_body(request, raw))
            response = await handler(request)
        except TorqError as exc:
            return _json(_error_body(exc.status, exc.message), exc.status, exc.headers)
        assert isinstance(response, web.Response)
        return response

    def _parse_body(self, request: web.Request, raw: bytes) -> Any:
        if request.method not in ("POST", "PATCH"):
            return None
        if request.content_type != "application/json":
            raise TorqError(400, "the request body must be application/json")
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            raise TorqError(400, "the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise TorqError(400, "the request body must be a JSON object")
        return body

    def _authenticate(self, request: web.Request) -> ApiClient:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        token = self.tokens.get(value.strip()) if scheme.lower() == "bearer" else None
        if token is None or token.revoked or token.client_id not in self.clients:
            raise TorqError(401, "the bearer token is not valid")
        if self.now() >= token.expires_at:
            raise TorqError(302, "the bearer token expired", headers={"Location": "/login"})
        return self.clients[token.client_id]

    def _count(self, client: ApiClient) -> None:
        now = time.monotonic()
        started, used = self._windows.get(client.client_id, (now, 0))
        if now - started >= self.rate_window:
            started, used = now, 0
        if used >= self.rate_limit:
            wait = max(1, round(started + self.rate_window - now + 0.5))
            raise TorqError(
                429,
                f"rate limit exceeded: at most {self.rate_limit} requests per "
                f"{self.rate_window:g} s",
                headers={"Retry-After": str(wait)},
            )
        self._windows[client.client_id] = (started, used + 1)

    def _fault_headers(self, fault: Fault, status: int, headers: dict[str, str]) -> None:
        if status == 429 and fault.retry_after is not None:
            headers.setdefault("Retry-After", fault.retry_after)
        if status == 302:
            headers.setdefault("Location", "/login")

    def _fault_error(self, status: int, headers: dict[str, str]) -> web.Response:
        messages = {
            302: "the bearer token expired",
            401: "the bearer token is not valid",
            403: "the API key's role does not permit this action",
            404: "not found",
            429: "rate limit exceeded",
            502: "bad gateway",
        }
        message = messages.get(status, f"injected fault {status}")
        return _json(_error_body(status, message), status, headers)

    # -- JSON -----------------------------------------------------------------------------

    def _case_json(self, case: Case) -> dict[str, Any]:
        sla: dict[str, Any] = {"value": str(case.sla), "start_time": torq_time(case.created_at)}
        sla["end_time"] = torq_time(case.end_time) if case.end_time else None
        return {
            "id": case.id,
            "pretty_id": f"#{case.id}",
            "title": case.title,
            "description": case.description,
            "state": {"value": case.state},
            "severity": {"value": case.severity},
            "assignee": case.assignee,
            "reporter": {"kind": case.reporter_kind, "user": {"email": case.reporter}},
            "sla": sla,
            "category": case.category,
            "tasks": {"pending": "0"},
            "resolution_summary": case.resolution_summary,
            "review": case.review,
            "tags": list(case.tags),
            "custom_fields": [dict(item) for item in case.custom_fields],
            "created_at": torq_time(case.created_at),
            "updated_at": torq_time(case.updated_at),
        }

    def _entry(
        self,
        case_id: int,
        actor: str,
        kind: str,
        *,
        text: str = "",
        visibility: str = "",
        details: dict[str, Any] | None = None,
    ) -> Entry:
        return Entry(
            id=str(uuid.uuid4()),
            case_id=case_id,
            timestamp=self._stamp(),
            actor=actor,
            kind=kind,
            text=text,
            visibility=visibility or VISIBILITIES[0],
            details=details or {},
        )

    def _entry_json(self, entry: Entry) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": entry.id,
            "case_id": entry.case_id,
            "timestamp": torq_time(entry.timestamp),
            "added_by": {"kind": "USER", "user": {"email": entry.actor}},
        }
        if entry.kind == "comment":
            out["comment"] = {
                "text": entry.text,
                "visibility": {"id": entry.visibility},
                "updated_at": torq_time(entry.updated_at or entry.timestamp),
            }
        else:
            out[entry.kind] = entry.details
        return out

    # -- validation -----------------------------------------------------------------------

    def _state(self, value: Any, where: str) -> str:
        name = _only(value, {"value"}, where).get("value")
        if not isinstance(name, str) or name.strip().lower() not in self.states:
            raise TorqError(400, f"{where}.value: unknown state {name!r}")
        return name.strip().lower()

    @staticmethod
    def _severity(value: Any, where: str) -> str:
        name = _only(value, {"value"}, where).get("value")
        if not isinstance(name, str) or name.strip().lower() not in SEVERITIES:
            raise TorqError(400, f"{where}.value: severity must be one of {', '.join(SEVERITIES)}")
        return name.strip().lower()

    @staticmethod
    def _reporter(value: Any, where: str) -> str:
        user = _only(value, {"user", "kind"}, where).get("user")
        email = _only(user, {"email"}, f"{where}.user").get("email")
        if not email:
            raise TorqError(400, f"{where}.user.email is required")
        return _email(email, f"{where}.user.email")

    @staticmethod
    def _seconds(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TorqError(400, f"{where}: expected an int64 (a string of seconds)")
        try:
            seconds = int(value)
        except ValueError:
            raise TorqError(400, f"{where}: {value!r} is not a number of seconds") from None
        if seconds < 0:
            raise TorqError(400, f"{where} must not be negative")
        return seconds

    @staticmethod
    def _tags(value: Any, where: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(t, str) and t for t in value):
            raise TorqError(400, f"{where}: expected a list of non-empty strings")
        return list(dict.fromkeys(value))

    @staticmethod
    def _custom_fields(value: Any, where: str) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise TorqError(400, f"{where}: expected a list")
        out: dict[str, dict[str, Any]] = {}
        for i, raw in enumerate(value):
            item = _only(raw, _CUSTOM_ITEM, f"{where}[{i}]")
            key, kind, data = item.get("key"), item.get("type"), item.get("value")
            if not isinstance(key, str) or not key:
                raise TorqError(400, f"{where}[{i}].key is required")
            if kind not in CUSTOM_FIELD_TYPES:
                raise TorqError(400, f"{where}[{i}].type: one of {', '.join(CUSTOM_FIELD_TYPES)}")
            ok = {
                "TYPE_NUMBER": isinstance(data, int | float) and not isinstance(data, bool),
                "TYPE_BOOLEAN": isinstance(data, bool),
            }.get(kind, isinstance(data, str))
            if kind == "TYPE_TIMESTAMP" and ok:
                _parse_time(data, f"{where}[{i}].value")
            if not ok:
                raise TorqError(400, f"{where}[{i}].value does not fit {kind}")
            if key in out:
                raise TorqError(400, f"{where}: custom field {key!r} given twice")
            out[key] = {"key": key, "value": data, "type": kind}
        return list(out.values())

    def _find(self, request: web.Request) -> Case:
        raw = request.match_info["id"]
        if not raw.isdigit():
            raise TorqError(400, f"type mismatch, parameter: case.id, value {raw!r}")
        case = self.cases.get(int(raw))
        if case is None:
            raise TorqError(404, f"case {raw} not found")
        return case

    def _set_state(self, case: Case, state: str) -> None:
        case.state = state
        if state in DONE_STATES:
            case.end_time = case.end_time or self.now()
        else:
            case.end_time = None

    # -- auth -----------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        client: ApiClient | None = None
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user = password = ""
            found = self.clients.get(unquote_plus(user))
            if found is not None and found.secret == unquote_plus(password):
                client = found
        if client is None:
            body = {"error": "invalid_client", "error_description": "client authentication failed"}
            return _json(body, 401, {"WWW-Authenticate": 'Basic realm="torq"'})
        if request.content_type != "application/x-www-form-urlencoded":
            body = {"error": "invalid_request", "error_description": "expected a form body"}
            return _json(body, 400)
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            body = {"error": "unsupported_grant_type", "error_description": "client_credentials"}
            return _json(body, 400)
        value = self.issue_token(client.client_id)
        self.tokens_issued += 1
        return _json(
            {"access_token": value, "expires_in": self.token_lifetime, "token_type": "Bearer"}
        )

    async def _login(self, request: web.Request) -> web.Response:
        self._violation(request, "followed the expired-token redirect instead of a new token")
        return _json(_error_body(401, "log in"), 401)

    # -- cases ----------------------------------------------------------------------------

    def _apply(self, case: Case, field_name: str, value: Any, where: str) -> None:
        """Set one input field of a case from its JSON (create and update)."""
        if field_name == "title":
            if not isinstance(value, str) or not value.strip():
                raise TorqError(400, f"{where}.title is required")
            case.title = value
        elif field_name in ("description", "category"):
            if not isinstance(value, str):
                raise TorqError(400, f"{where}.{field_name}: expected a string")
            setattr(case, field_name, value)
        elif field_name == "state":
            self._set_state(case, self._state(value, f"{where}.state"))
        elif field_name == "severity":
            case.severity = self._severity(value, f"{where}.severity")
        elif field_name == "assignee":
            case.assignee = _email(value, f"{where}.assignee")
        elif field_name == "reporter":
            case.reporter, case.reporter_kind = self._reporter(value, f"{where}.reporter"), "USER"
        elif field_name == "tags":
            case.tags = self._tags(value, f"{where}.tags")
        elif field_name == "custom_fields":
            case.custom_fields = self._custom_fields(value, f"{where}.custom_fields")
        elif field_name == "sla":
            if isinstance(value, dict):  # v1Sla on update
                value = _only(value, {"value", "start_time", "end_time"}, f"{where}.sla")
                value = value.get("value", "0")
            case.sla = self._seconds(value, f"{where}.sla")
        elif field_name in ("resolution_summary", "review"):
            if value is not None and not isinstance(value, dict):
                raise TorqError(400, f"{where}.{field_name}: expected an object")
            setattr(case, field_name, value)
        else:  # pragma: no cover - callers pass known fields only
            raise TorqError(400, f"{where}: unknown field {field_name!r}")

    async def _create_case(self, request: web.Request) -> web.Response:
        body = _only(_BODY.get(), _CASE_INPUT, "case")
        client = _CLIENT.get()
        if not isinstance(body.get("title"), str) or not body["title"].strip():
            raise TorqError(400, "case.title is required")
        now = self._stamp()
        case = Case(id=0, title=body["title"], created_at=now, updated_at=now)
        case.reporter = client.email
        for name, value in body.items():
            self._apply(case, name, value, "case")
        case.id = next(self._ids)
        self.cases[case.id] = case
        snapshot = {"case": self._case_json(case)}
        self.entries[case.id] = [
            self._entry(case.id, client.email, "case_created", details=snapshot)
        ]
        return _json({"case": self._case_json(case)})

    async def _get_case(self, request: web.Request) -> web.Response:
        return _json({"case": self._case_json(self._find(request))})

    async def _update_case(self, request: web.Request) -> web.Response:
        case = self._find(request)
        body = _only(_BODY.get(), {"case", "update_mask"}, "request")
        change = _only(body.get("case"), {*MASK_FIELDS.values(), *_CASE_OUTPUT}, "case")
        mask_text = body.get("update_mask")
        if mask_text is not None and not isinstance(mask_text, str):
            raise TorqError(400, "update_mask: expected a comma-separated string")
        if mask_text:
            names = [m.strip() for m in mask_text.split(",") if m.strip()]
            unknown = [m for m in names if m not in MASK_FIELDS]
            if unknown:
                raise TorqError(400, f"update_mask: unknown field {unknown[0]!r}")
            fields = [MASK_FIELDS[m] for m in names]
        else:
            fields = [k for k in change if k not in _CASE_OUTPUT]
        cleared: dict[str, Any] = {"description": "", "category": "", "assignee": ""}
        cleared |= {"tags": [], "sla": "0"}
        cleared |= {"custom_fields": [], "resolution_summary": None, "review": None}
        for name in fields:
            if name in change:
                self._apply(case, name, change[name], "case")
            elif name in cleared:
                self._apply(case, name, cleared[name], "case")
            else:
                raise TorqError(400, f"case.{name} cannot be cleared")
        case.updated_at = self._stamp()
        details = {"update_mask": ",".join(fields)}
        client = _CLIENT.get()
        self.entries[case.id].append(
            self._entry(case.id, client.email, "case_updated", details=details)
        )
        return _json({"case": self._case_json(case)})

    def _matches(self, case: Case, filters: Mapping[str, Any]) -> bool:
        if filters.get("states") and case.state not in filters["states"]:
            return False
        if filters.get("severities") and case.severity not in filters["severities"]:
            return False
        if filters.get("assignees") and case.assignee not in filters["assignees"]:
            return False
        if filters.get("categories") and case.category not in filters["categories"]:
            return False
        if filters.get("tags") and not set(case.tags) & set(filters["tags"]):
            return False
        start, end = filters.get("start"), filters.get("end")
        if (start is not None and case.created_at < start) or (
            end is not None and case.created_at >= end
        ):
            return False
        values = {item["key"]: item["value"] for item in case.custom_fields}
        for key, wanted in filters.get("custom_fields", ()):
            if key not in values or not any(_same(values[key], w) for w in wanted):
                return False
        return True

    def _filters(self, raw: Any) -> dict[str, Any]:
        data = _only(raw if raw is not None else {}, _FILTERS, "filters")
        out: dict[str, Any] = {}
        if "states" in data:
            out["states"] = [self._state(s, "filters.states[]") for s in data["states"] or ()]
        if "severities" in data:
            out["severities"] = [
                self._severity(s, "filters.severities[]") for s in data["severities"] or ()
            ]
        for name in ("assignees", "categories", "tags"):
            if name in data:
                values = data[name] or []
                if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                    raise TorqError(400, f"filters.{name}: expected a list of strings")
                out[name] = values
        if "created_at" in data:
            window = _only(data["created_at"], {"start_time", "end_time", "relative"}, "created_at")
            if window.get("start_time"):
                out["start"] = _parse_time(window["start_time"], "filters.created_at.start_time")
            if window.get("end_time"):
                out["end"] = _parse_time(window["end_time"], "filters.created_at.end_time")
            relative = window.get("relative")
            if relative and relative != "RELATIVE_UNSPECIFIED":
                if relative not in RELATIVE:
                    raise TorqError(400, f"filters.created_at.relative: unknown {relative!r}")
                out["start"] = self.now() - RELATIVE[relative]
        if "custom_fields" in data:
            items = data["custom_fields"] or []
            if not isinstance(items, list):
                raise TorqError(400, "filters.custom_fields: expected a list")
            pairs = []
            for i, raw_item in enumerate(items):
                item = _only(raw_item, {"key", "value", "values"}, f"filters.custom_fields[{i}]")
                wanted = list(item.get("values") or []) + (
                    [item["value"]] if item.get("value") is not None else []
                )
                if not isinstance(item.get("key"), str) or not wanted:
                    raise TorqError(400, f"filters.custom_fields[{i}]: key and value(s) needed")
                pairs.append((item["key"], wanted))
            out["custom_fields"] = pairs
        return out

    async def _query_cases(self, request: web.Request) -> web.Response:
        body = _only(_BODY.get(), {"filters", "pageSize", "pageToken"}, "request")
        filters = self._filters(body.get("filters"))
        size = _page_size(body.get("pageSize"))
        scope = hashlib.sha1(
            json.dumps(body.get("filters") or {}, sort_keys=True).encode()
        ).hexdigest()[:12]
        offset = _read_token(body.get("pageToken"), scope)
        found = [c for c in self.cases.values() if self._matches(c, filters)]
        found.sort(key=lambda c: (c.created_at, c.id), reverse=True)
        chunk = found[offset : offset + size]
        more = offset + size < len(found)
        return _json(
            {
                "cases": [self._case_json(c) for c in chunk],
                "next_page_token": _make_token(offset + size, scope) if more else "",
            }
        )

    # -- timeline -------------------------------------------------------------------------

    def _comment(self, request: web.Request) -> tuple[Case, Entry]:
        case = self._find(request)
        ident = request.match_info["entry"]
        entry = next((e for e in self.entries[case.id] if e.id == ident), None)
        if entry is None:
            raise TorqError(404, f"timeline entry {ident} not found in case {case.id}")
        if entry.kind != "comment":
            raise TorqError(400, "only timeline comments can be changed or deleted")
        return case, entry

    @staticmethod
    def _visibility(value: Any) -> str:
        ident = _only(value, {"id"}, "visibility").get("id") or VISIBILITIES[0]
        if ident not in VISIBILITIES:
            raise TorqError(400, f"visibility.id: one of {', '.join(VISIBILITIES)}")
        return str(ident)

    async def _add_comment(self, request: web.Request) -> web.Response:
        case = self._find(request)
        body = _only(_BODY.get(), {"text", "visibility"}, "request")
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise TorqError(400, "text is required")
        visibility = self._visibility(body.get("visibility") or {})
        client = _CLIENT.get()
        entry = self._entry(case.id, client.email, "comment", text=text, visibility=visibility)
        self.entries[case.id].append(entry)
        case.updated_at = entry.timestamp
        return _json({"comment_event": self._entry_json(entry)})

    async def _list_timeline(self, request: web.Request) -> web.Response:
        case = self._find(request)
        unknown = sorted(set(request.query) - {"pageSize", "pageToken"})
        if unknown:
            raise TorqError(400, f"unknown query parameter {unknown[0]!r}")
        size = _page_size(request.query.get("pageSize"))
        offset = _read_token(request.query.get("pageToken"), f"timeline-{case.id}")
        entries = self.entries[case.id]
        chunk = entries[offset : offset + size]
        more = offset + size < len(entries)
        token = _make_token(offset + size, f"timeline-{case.id}") if more else ""
        return _json({"events": [self._entry_json(e) for e in chunk], "next_page_token": token})

    async def _edit_comment(self, request: web.Request) -> web.Response:
        _, entry = self._comment(request)
        body = _only(_BODY.get(), {"text", "visibility"}, "request")
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise TorqError(400, "text is required")
        if body.get("visibility") is not None:
            entry.visibility = self._visibility(body["visibility"])
        entry.text, entry.updated_at = text, self._stamp()
        return _json({"comment_event": self._entry_json(entry)})

    async def _delete_comment(self, request: web.Request) -> web.Response:
        case, entry = self._comment(request)
        self.entries[case.id].remove(entry)
        return _json({})


def _same(value: Any, wanted: Any) -> bool:
    """A custom field value against a filter value (compared as text; numbers as numbers)."""
    if isinstance(value, bool):
        return str(wanted).strip().lower() == ("true" if value else "false")
    if isinstance(value, int | float):
        try:
            return float(value) == float(wanted)
        except (TypeError, ValueError):
            return False
    return str(value) == str(wanted)


def _make_token(offset: int, scope: str) -> str:
    raw = json.dumps({"o": offset, "s": scope}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_token(token: Any, scope: str) -> int:
    if token is None or token == "":
        return 0
    try:
        padded = str(token) + "=" * (-len(str(token)) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded))
        offset = data["o"]
        same = data["s"] == scope
    except (ValueError, KeyError, TypeError):
        raise TorqError(400, "invalid page token") from None
    if not same or not isinstance(offset, int) or offset < 0:
        raise TorqError(400, "the page token does not belong to this request")
    return offset
