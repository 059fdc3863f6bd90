"""An in-memory PagerDuty REST API v2 on a real socket, for plugin tests.

Usage::

    spec = load_pagerduty_spec(SHARED / "specs/pagerduty/openapiv3.json")
    async with FakePagerDuty(spec=spec) as pd:
        pd.url                                   # http://127.0.0.1:<port>
        pd.headers()                             # Authorization/Accept/From for direct calls
        svc = pd.add_service("Search", escalation_policy="Platform Escalation")
        inc = pd.seed_incident("Disk full", service="Search", priority="P2")
        pd.fail_next(status=429, path="/incidents")
        ...
        pd.assert_no_violations()                # the plugin spoke the published API

What it imitates is what a ticketing connector touches, written from the official OpenAPI
description (``shared/specs/pagerduty/openapiv3.json``) and PagerDuty's developer docs
(authentication, versioning, pagination, errors, rate limits):

- Auth: ``Authorization: Token token=<key>`` (API keys: account-level, user-level,
  read-only) and ``Authorization: Bearer <token>`` (OAuth tokens). The ``From`` header
  (a known user's email) is required on ``POST /incidents``, ``PUT /incidents/{id}`` and
  ``POST /incidents/{id}/notes``.
- Users (``/users``, ``/users/{id}``, ``/users/me``), teams, services, priorities,
  escalation policies (rules with user/schedule targets), schedules (rotations), on-calls
  (derived from the policies' rules and the schedules' rotations, plus explicit entries).
- Incidents: create, get, update (acknowledge, resolve, reopen, reassign, escalate,
  re-prioritise), list with the documented filters and classic pagination; notes.
- No attachments: PagerDuty has none, and any such path is a violation and a 404.
- Error bodies ``{"error": {"message", "code", "errors"?}}``, ``ratelimit-*`` headers on
  every answer, a live per-key rate limit, a fault switch (``fail_next``), a request log.

With a spec every request and every JSON answer is checked against it (see
``tests/fakes/spec.py``), after the few corrections listed in :data:`ERRATA` (places where
the description contradicts its own examples or descriptions). Problems are collected in
``violations``. The conventions chosen where the documents are silent are listed on
:class:`FakePagerDuty`.
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

from aiohttp import web

from .base import FakeServer, Handler, RecordedRequest, SpecViolations, Violation
from .base import Fault as _Fault
from .base import json_response as _json
from .spec import OpenAPISpec

__all__ = [
    "DEFAULT_PRIORITIES",
    "DEFAULT_USERS",
    "ERRATA",
    "ApiKey",
    "EscalationPolicy",
    "EscalationRule",
    "FakePagerDuty",
    "Fault",
    "Incident",
    "Note",
    "OnCall",
    "PdError",
    "Priority",
    "RecordedRequest",
    "Schedule",
    "Service",
    "Team",
    "User",
    "Violation",
    "load_pagerduty_spec",
    "pd_time",
    "with_errata",
]

_CALLER: ContextVar[ApiKey] = ContextVar("fake_pagerduty_caller")
_BODY: ContextVar[Any] = ContextVar("fake_pagerduty_body")

ACCEPT = "application/vnd.pagerduty+json;version=2"
NOTE_CHANNEL = "The PagerDuty website or APIs"
MAX_NOTES = 2000  # "A maximum of 2000 notes can be added to an incident."
PAGE_WINDOW = 10_000  # offset + limit may not exceed this (09-Pagination.md)

# (message, code) of the answers the fake gives; codes from docs/REST-API/14-Errors.md.
AUTH_FAILED = ("Authentication failed", 2006)
NOT_FOUND = ("Not Found", 2100)
INVALID_INPUT = ("Invalid Input Provided", 2001)
ACCESS_DENIED = ("Access Denied", 2010)
RATE_LIMITED = ("Rate Limit Exceeded", 2020)
# Observed from the live API (go-pagerduty#32, pdpyras#78): 400 with code 2016.
FROM_MISSING = (
    'You must specify a user\'s email address in the "From" header to perform this action',
    2016,
)
REQUESTER_NOT_FOUND = ("Requester User Not Found", 1008)
ALREADY_RESOLVED = ("Incident Already Resolved", 1001)
INVALID_STATUS = ("Invalid Status Provided", 1003)
CANNOT_ESCALATE = ("Cannot Escalate", 1006)
ASSIGNEE_NOT_FOUND = ("Assigned To User Not Found", 1007)
POLICY_NOT_FOUND = ("Escalation Policy Not Found", 1014)
INVALID_PRIORITY = ("Invalid Priority", 1020)
INVALID_TIMES = ("Invalid time values in 'since' and/or 'until' parameters", 2004)
INVALID_RANGE = ("Invalid Query Date Range", 2005)
ACCOUNT_TOKEN_ME = (
    "Because this request was made using an account-level access token, we were unable to "
    "determine the user's identity. Please use a user-level token.",
    2001,
)
DEDUP_CONFLICT = "Open incident with matching dedup key already exists on this service"


def pd_time(when: datetime) -> str:
    """PagerDuty's timestamp format: ``2015-10-06T21:30:42Z`` (UTC, whole seconds)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(raw: str) -> datetime:
    """ISO 8601 (``Z``, offsets, or a bare date); naive values are UTC (the account zone)."""
    value = raw.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    when = datetime.fromisoformat(value)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


# -- errata -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Erratum:
    """One correction of the published description: where, the new value, and why."""

    where: tuple[str, ...]  # keys from the document's root
    change: Callable[[Any], Any]
    reason: str


def _nullable(schema: Any) -> Any:
    return {**schema, "nullable": True}


def _any_of(*extra: Any) -> Callable[[Any], Any]:
    def change(schema: Any) -> Any:
        return {"anyOf": [schema, *extra]}

    return change


def _plus_enum(*values: str) -> Callable[[Any], Any]:
    def change(param: Any) -> Any:
        schema = dict(param["schema"])
        schema["enum"] = [*schema["enum"], *(v for v in values if v not in schema["enum"])]
        return {**param, "schema": schema}

    return change


def _also_201(responses: Any) -> Any:
    return {**responses, "201": responses["200"]}


_S = ("components", "schemas")
_P = ("components", "parameters")
_REF = "#/components/schemas/"
ERRATA: tuple[Erratum, ...] = (
    Erratum(
        (*_S, "IncidentBody", "properties", "details"),
        lambda schema: {"anyOf": [{"type": "string"}, schema]},
        "createIncident's own request example sends body.details as a string "
        "(the schema says object); the live API takes and returns a string",
    ),
    Erratum(
        (*_S, "Incident", "allOf", "1", "properties", "resolved_at"),
        _nullable,
        'its description says "or `null` if the incident is not resolved", and the '
        "createIncident/getIncident examples carry null",
    ),
    Erratum(
        (*_S, "Incident", "allOf", "1", "properties", "priority"),
        _nullable,
        "the live API sends priority: null for an incident without one (known from the "
        "live API, not from the documents at hand)",
    ),
    Erratum(
        (*_S, "Oncall", "properties", "start"),
        _nullable,
        'its description: "If `null`, the on-call is a permanent user on-call"',
    ),
    Erratum(
        (*_S, "Oncall", "properties", "end"),
        _nullable,
        'its description: "If `null`, the user does not go off-call"',
    ),
    Erratum(
        (*_S, "Oncall", "properties", "schedule"),
        lambda schema: {"anyOf": [schema, {"$ref": _REF + "Schedule"}], "nullable": True},
        "a direct user target has no schedule (null); include[]=schedules returns the full "
        "schedule (listOnCalls' include[] parameter)",
    ),
    Erratum(
        (*_S, "Oncall", "properties", "user"),
        _any_of({"$ref": _REF + "User"}),
        "include[]=users returns the full user (listOnCalls' include[] parameter)",
    ),
    Erratum(
        (*_S, "Oncall", "properties", "escalation_policy"),
        _any_of({"$ref": _REF + "EscalationPolicy"}),
        "include[]=escalation_policies returns the full policy (listOnCalls' include[])",
    ),
    *(
        Erratum(
            (*_S, schema, "allOf", "1", "properties", *prop),
            _any_of({"$ref": _REF + full}),
            f"{schema}.{prop[0]}: include[]={value} returns full {full} objects in place of "
            "the references (docs/REST-API/13-Includes.md; the endpoints' include[] enums)",
        )
        for schema, prop, full, value in (
            ("Service", ("escalation_policy",), "EscalationPolicy", "escalation_policies"),
            ("Service", ("teams", "items"), "Team", "teams"),
            ("User", ("teams", "items"), "Team", "teams"),
            ("EscalationPolicy", ("services", "items"), "Service", "services"),
            ("EscalationPolicy", ("teams", "items"), "Team", "teams"),
        )
    ),
    Erratum(
        (*_P, "include_incidents"),
        _plus_enum("body"),
        "Incident.body is documented as 'Only returned if the include[]=body query "
        "parameter is provided', but the include[] enum omits body",
    ),
    Erratum(
        (*_P, "include_incident"),
        _plus_enum("body"),
        "as above, for getIncident",
    ),
    Erratum(
        ("paths", "/incidents/{id}/notes", "post", "responses"),
        _also_201,
        "createIncidentNote declares only 200 while the other creates (createIncident, "
        "createService, createUser...) declare 201 Created (14-Errors.md: 201 = 'a new "
        "resource was created'); the fake answers FakePagerDuty(note_status=...), 201 by "
        "default, so a client must accept both",
    ),
)


def _patched(document: Any, where: Sequence[str], change: Callable[[Any], Any]) -> Any:
    """A copy of ``document`` with the node at ``where`` changed; shares everything else."""
    if not where:
        return change(document)
    key, rest = where[0], where[1:]
    if isinstance(document, list):
        index = int(key)
        copy = list(document)
        copy[index] = _patched(document[index], rest, change)
        return copy
    return {**document, key: _patched(document[key], rest, change)}


def _with_errata(document: Any) -> Any:
    for erratum in ERRATA:
        try:
            document = _patched(document, erratum.where, erratum.change)
        except (KeyError, IndexError, TypeError, ValueError):
            continue  # not PagerDuty's description, or a later one without that flaw
    return document


_PATCHED: dict[int, tuple[OpenAPISpec, OpenAPISpec]] = {}  # id(raw) → (raw, patched)
_IS_PATCHED: dict[int, OpenAPISpec] = {}


def with_errata(spec: OpenAPISpec) -> OpenAPISpec:
    """``spec`` with :data:`ERRATA` applied (those that apply); built once per spec object."""
    if id(spec) in _IS_PATCHED:
        return spec
    cached = _PATCHED.get(id(spec))
    if cached is not None and cached[0] is spec:
        return cached[1]
    patched = OpenAPISpec(_with_errata(spec.document), source=f"{spec.source} (+errata)")
    _PATCHED[id(spec)] = (spec, patched)
    _IS_PATCHED[id(patched)] = patched
    return patched


@lru_cache(maxsize=4)
def _load_patched(path: str, mtime_ns: int) -> OpenAPISpec:
    with open(path, "rb") as handle:
        document: Any = json.load(handle)
    patched = OpenAPISpec(_with_errata(document), source=f"{path} (+errata)")
    _IS_PATCHED[id(patched)] = patched
    return patched


def load_pagerduty_spec(path: str | Path) -> OpenAPISpec | None:
    """PagerDuty's description with :data:`ERRATA`, parsed once per process; None if absent."""
    target = Path(path)
    if not target.is_file():
        return None
    return _load_patched(str(target.resolve()), target.stat().st_mtime_ns)


# -- model ------------------------------------------------------------------------------


@dataclass
class User:
    id: str
    email: str
    name: str
    role: str = "user"
    time_zone: str = "Etc/UTC"
    job_title: str | None = None
    description: str = ""
    color: str = "purple"


@dataclass
class Team:
    id: str
    name: str
    description: str = ""
    members: list[str] = field(default_factory=list)  # user ids


@dataclass(frozen=True)
class Priority:
    id: str
    name: str
    description: str


@dataclass(frozen=True)
class Target:
    kind: str  # "user" | "schedule"
    id: str


@dataclass
class EscalationRule:
    id: str
    delay: int  # escalation_delay_in_minutes
    targets: list[Target]


@dataclass
class EscalationPolicy:
    id: str
    name: str
    rules: list[EscalationRule]
    teams: list[str] = field(default_factory=list)
    num_loops: int = 0
    description: str = ""
    on_call_handoff_notifications: str = "if_has_services"


@dataclass
class Schedule:
    """A single rotation: ``users`` take turns of ``turn`` each, counted from ``start``."""

    id: str
    name: str
    users: list[str]
    start: datetime
    turn: timedelta
    time_zone: str = "Etc/UTC"
    description: str = ""
    teams: list[str] = field(default_factory=list)

    def shifts(
        self, since: datetime, until: datetime, cap: int = 1000
    ) -> list[tuple[str, datetime, datetime]]:
        """(user id, start, end) of every turn overlapping ``[since, until]``."""
        if not self.users or until < self.start:
            return []
        index = max(0, int((since - self.start) / self.turn))
        out: list[tuple[str, datetime, datetime]] = []
        while len(out) < cap:
            begin = self.start + self.turn * index
            end = begin + self.turn
            if begin > until or (begin == until and since < until):
                break
            if end > since:
                out.append((self.users[index % len(self.users)], begin, end))
            index += 1
        return out


@dataclass
class Service:
    id: str
    name: str
    escalation_policy: str  # policy id
    created_at: datetime
    teams: list[str] = field(default_factory=list)
    description: str = ""
    urgency: str = "high"  # incident_urgency_rule: constant
    status: str = "active"
    auto_resolve_timeout: int | None = 14400
    acknowledgement_timeout: int | None = 1800


@dataclass
class OnCall:
    """One on-call entry; ``start``/``end`` None: permanent, ``schedule`` None: direct."""

    policy: str
    level: int
    user: str
    schedule: str | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass
class Note:
    id: str
    incident_id: str
    user: str
    content: str
    created_at: datetime


@dataclass
class Incident:
    id: str
    number: int
    title: str
    service: str
    escalation_policy: str
    urgency: str
    incident_key: str
    created_at: datetime
    updated_at: datetime
    last_status_change_at: datetime
    last_status_change_by: str | None  # user id
    status: str = "triggered"
    priority: str | None = None  # priority id
    details: Any = None
    assignments: list[tuple[str, datetime]] = field(default_factory=list)
    assigned_via: str = "escalation_policy"
    acknowledgements: list[tuple[str, datetime]] = field(default_factory=list)
    escalation_level: int = 1
    resolved_at: datetime | None = None
    resolution: str | None = None  # PUT's "resolution": kept here, not a note
    notes: list[Note] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return f"[#{self.number}] {self.title}"


@dataclass
class ApiKey:
    """A credential: ``user`` None is an account-level key (or an app's OAuth token)."""

    token: str
    user: str | None = None  # user id
    read_only: bool = False
    scheme: str = "token"  # "token" (Token token=...) | "bearer" (OAuth)


@dataclass
class Fault(_Fault):
    """One entry of the fault switch; see :meth:`FakePagerDuty.fail_next`."""

    rate_headers: bool = True
    ratelimit_reset: int = 20


class PdError(Exception):
    """Raised in handlers; becomes ``{"error": {"message", "code", "errors"?}}``."""

    def __init__(
        self, status: int, error: tuple[str, int], errors: Iterable[str] | None = None
    ) -> None:
        super().__init__(status, error, errors)
        self.status = status
        self.message, self.code = error
        self.errors = list(errors) if errors is not None else None


def _error_body(message: str, code: int, errors: list[str] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "code": code}
    if errors is not None:
        error["errors"] = errors
    return {"error": error}


def _invalid(*errors: str) -> PdError:
    return PdError(400, INVALID_INPUT, list(errors))


class _UnparsableType:
    pass


_Unparsable: Any = _UnparsableType()

DEFAULT_USERS = (
    ("alice@example.com", "Alice Admin", "admin"),
    ("bob@example.com", "Bob Builder", "user"),
    ("carol@example.com", "Carol Responder", "limited_user"),
)
DEFAULT_PRIORITIES = (
    ("P1", "Critical issue that warrants public notification and liaison with executive teams"),
    ("P2", "Critical system issue actively impacting many customers' ability to use the product"),
    ("P3", "Stability or minor customer-impacting issues that require immediate attention"),
    ("P4", "Minor issues requiring action, but not affecting customer ability to use the product"),
    ("P5", "Cosmetic issues or bugs, not affecting customer ability to use the product"),
)
ROTATION_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
INCIDENT_SORT_FIELDS = ("incident_number", "created_at", "resolved_at", "urgency")
STATUSES = ("triggered", "acknowledged", "resolved")
URGENCIES = ("high", "low")


class FakePagerDuty(SpecViolations, FakeServer[Fault, RecordedRequest]):
    """A fake PagerDuty account. ``async with FakePagerDuty(...) as pd`` starts it.

    Defaults (``defaults=True``): users alice (admin), bob, carol; API keys
    ``pd-account-key`` (account-level), ``pd-readonly-key`` (account-level, read-only),
    ``pd-alice-key`` (alice's user key) and OAuth bearer ``pd-oauth-token``; team
    "Platform" (alice, bob); schedule "Platform Primary" (alice then bob, weekly turns from
    Monday 2024-01-01T00:00Z); policy "Platform Escalation" (level 1: the schedule after 30
    minutes; level 2: alice directly); services "Checkout API" and "Payments" on that
    policy and team; priorities P1..P5.

    Conventions where the documents are silent (plugins may rely on none of them beyond
    what the real API documents, but they are what this fake does):

    - IDs: ``P`` + a kind letter + 5 digits (``PU00001`` users, ``PT…`` teams, ``PS…``
      services, ``PE…`` policies, ``PR…`` rules, ``PC…`` schedules, ``PP…`` priorities,
      ``PN…`` notes); incidents ``Q`` + 13 digits. ``self`` is ``<fake url>/<plural>/<id>``,
      ``html_url`` ``<html_base>/<plural>/<id>`` (services: ``/service-directory/<id>``).
    - Times render in UTC (``pd_time``) whatever ``time_zone`` asks; ``since``/``until``
      take ISO 8601 (naive = UTC).
    - Lists: ``limit`` default 25, larger values are capped at 100 (echoed capped); limit
      < 1 or offset < 0 → 400 2001; ``offset + limit > 10000`` → 400 2001. ``total`` is
      null unless ``total=true``. Users/teams/services/policies/schedules sort by name.
    - ``GET /incidents``: window ``[since, until)`` on created_at; ``until`` defaults to
      now (inclusive), ``since`` to ``until`` - 30 days; > 183 days → 400 2005; ``until`` before
      ``since`` or unparsable → 400 2004; ``date_range=all`` drops the window. Default
      order ``created_at:asc`` (ties by number); ``sort_by`` takes up to two of
      incident_number/created_at/resolved_at/urgency with ``:asc``/``:desc``, anything else
      → 400 2001. Unknown ``statuses[]``/``urgencies[]`` values → 400 2001.
      ``user_ids[]`` matches current assignees (resolved incidents have none);
      ``team_ids[]`` matches incidents whose service is on one of the teams.
    - Create: assignments given → ``direct_assignment``; else the given (or the service's)
      policy's level-1 on-calls now (``escalation_policy``), possibly none. ``urgency``
      defaults to the service's (high). ``incident_key`` is generated (32 hex) when absent;
      an open incident with the same key on the same service → 400 2001. Unknown service
      → 400 2001; unknown priority → 400 1020; unknown assignee → 400 1007; unknown
      policy → 400 1014; both assignments and escalation_policy → 400 2001. ``body`` is
      rendered only with ``include[]=body`` (as documented), never on create/update.
    - Update: acknowledge triggered/acknowledged (re-ack refreshes the acknowledgement);
      resolve → assignments cleared, ``resolved_at`` set, ``resolution`` kept on the
      model (documented to go to the resolve log entry, not the notes); resolving a
      resolved incident → 400 1001; acknowledging or triggering a resolved one reopens it
      (documented; ``allow_reopen=False`` answers 400 1001 instead); acknowledged →
      triggered → 400 1003; reassign/escalate/re-prioritise a resolved incident → 400
      1001; ``escalation_level`` outside the policy's rules → 400 1006; priority may be a
      reference or a name (the first priority with that name). Every change bumps
      ``updated_at``; so does a new note.
    - Notes: oldest first; user is the ``From`` user; empty content → 400 2001; answer
      status ``note_status`` (201 by default; the description declares 200).
    - On-calls: level N is rule N; a user target is permanent (start/end/schedule null), a
      schedule target yields one entry per turn overlapping ``[since, until]`` (both
      default to now); ``set_oncall`` entries are added as given. Order: policy name,
      level, start (permanent first). ``until`` before ``since`` → 400 2001.
      ``schedule_ids[]=null`` selects the permanent (direct) entries.
    - Escalation policies ``user_ids[]``: a user targeted directly or through a schedule
      they rotate in. ``query`` is a case-insensitive substring of the name.
    - ``GET /users/me`` with an account-level key → 400 2001.
    - A read-only key writing → 403 2010. The rate limit counts per credential over a
      ``rate_window``-second window; over it → 429 2020 with ``ratelimit-*`` headers.
    """

    fault_type = Fault
    record_type = RecordedRequest
    malformed_body = '{"incidents": [{"id": "Q00'
    violations_are = "request(s)/response(s) drift from the PagerDuty OpenAPI description"

    def __init__(
        self,
        spec: OpenAPISpec | str | Path | None = None,
        *,
        defaults: bool = True,
        priorities: Iterable[tuple[str, str]] = DEFAULT_PRIORITIES,
        note_status: int = 201,
        allow_reopen: bool = True,
        strict_query: bool = True,
        rate_limit: int = 960,
        rate_window: float = 60.0,
        clock: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
        html_base: str = "https://acme.pagerduty.test",
    ) -> None:
        super().__init__(host)
        if isinstance(spec, str | Path):
            spec = load_pagerduty_spec(spec)
        self.spec: OpenAPISpec | None = with_errata(spec) if spec is not None else None
        self.html_base = html_base.rstrip("/")
        self.note_status = note_status
        self.allow_reopen = allow_reopen
        self.strict_query = strict_query
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self._clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._skew = timedelta()

        self.users: dict[str, User] = {}
        self.teams: dict[str, Team] = {}
        self.priorities: dict[str, Priority] = {}
        self.policies: dict[str, EscalationPolicy] = {}
        self.schedules: dict[str, Schedule] = {}
        self.services: dict[str, Service] = {}
        self.incidents: dict[str, Incident] = {}
        self.extra_oncalls: list[OnCall] = []
        self.api_keys: dict[tuple[str, str], ApiKey] = {}
        self.violations: list[Violation] = []
        self._windows: dict[str, tuple[datetime, int]] = {}
        self._seq: dict[str, itertools.count[int]] = {}
        self._numbers = itertools.count(1)

        for name, description in priorities:
            self.add_priority(name, description)
        if defaults:
            self._seed_defaults()

        self.app = web.Application(middlewares=[self._middleware])
        self._routes()

    def _seed_defaults(self) -> None:
        for email, name, role in DEFAULT_USERS:
            self.add_user(email, name, role=role)
        self.add_api_key("pd-account-key")
        self.add_api_key("pd-readonly-key", read_only=True)
        self.add_api_key("pd-alice-key", user="alice@example.com")
        self.add_api_key("pd-oauth-token", scheme="bearer")
        self.add_team("Platform", members=["alice@example.com", "bob@example.com"])
        self.add_schedule(
            "Platform Primary", ["alice@example.com", "bob@example.com"], teams=["Platform"]
        )
        self.add_escalation_policy(
            "Platform Escalation",
            rules=[(30, ["schedule:Platform Primary"]), (30, ["alice@example.com"])],
            teams=["Platform"],
        )
        self.add_service(
            "Checkout API", escalation_policy="Platform Escalation", teams=["Platform"]
        )
        self.add_service("Payments", escalation_policy="Platform Escalation", teams=["Platform"])

    # -- ids and time -------------------------------------------------------------------

    def _id(self, letter: str) -> str:
        counter = self._seq.setdefault(letter, itertools.count(1))
        return f"P{letter}{next(counter):05d}"

    def now(self) -> datetime:
        return self._clock() + self._skew

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward (on-call turns, windows, rate limits)."""
        self._skew += timedelta(seconds=seconds)

    # -- setup ------------------------------------------------------------------------------

    def add_user(
        self,
        email: str,
        name: str | None = None,
        *,
        role: str = "user",
        time_zone: str = "Etc/UTC",
        job_title: str | None = None,
        teams: Iterable[str] = (),
    ) -> User:
        user = User(
            self._id("U"),
            email,
            name or email.split("@")[0].title(),
            role=role,
            time_zone=time_zone,
            job_title=job_title,
        )
        self.users[user.id] = user
        for team in teams:
            self.team(team).members.append(user.id)
        return user

    def add_api_key(
        self,
        token: str,
        *,
        user: str | None = None,
        read_only: bool = False,
        scheme: str = "token",
    ) -> ApiKey:
        """A credential; ``user`` (email or id) makes it a user-level key."""
        key = ApiKey(token, self.user(user).id if user else None, read_only, scheme)
        self.api_keys[(scheme, token)] = key
        return key

    def add_team(self, name: str, *, members: Iterable[str] = (), description: str = "") -> Team:
        team = Team(self._id("T"), name, description, [self.user(m).id for m in members])
        self.teams[team.id] = team
        return team

    def add_priority(self, name: str, description: str = "") -> Priority:
        priority = Priority(self._id("P"), name, description)
        self.priorities[priority.id] = priority
        return priority

    def add_schedule(
        self,
        name: str,
        users: Iterable[str],
        *,
        start: datetime = ROTATION_EPOCH,
        rotation: timedelta = timedelta(weeks=1),
        time_zone: str = "Etc/UTC",
        teams: Iterable[str] = (),
        description: str = "",
    ) -> Schedule:
        """A rotation: ``users`` (emails or ids) take turns of ``rotation`` from ``start``."""
        schedule = Schedule(
            self._id("C"),
            name,
            [self.user(u).id for u in users],
            start,
            rotation,
            time_zone,
            description,
            [self.team(t).id for t in teams],
        )
        self.schedules[schedule.id] = schedule
        return schedule

    def add_escalation_policy(
        self,
        name: str,
        rules: Iterable[tuple[int, Iterable[str]]],
        *,
        teams: Iterable[str] = (),
        num_loops: int = 0,
        description: str = "",
    ) -> EscalationPolicy:
        """``rules``: (delay in minutes, targets); a target is a user email/id or
        ``"schedule:<name or id>"``."""
        built = []
        for delay, targets in rules:
            resolved = []
            for target in targets:
                if target.startswith("schedule:"):
                    resolved.append(Target("schedule", self.schedule(target[9:]).id))
                else:
                    resolved.append(Target("user", self.user(target).id))
            built.append(EscalationRule(self._id("R"), delay, resolved))
        policy = EscalationPolicy(
            self._id("E"),
            name,
            built,
            [self.team(t).id for t in teams],
            num_loops,
            description,
        )
        self.policies[policy.id] = policy
        return policy

    def add_service(
        self,
        name: str,
        *,
        escalation_policy: str,
        teams: Iterable[str] = (),
        urgency: str = "high",
        description: str = "",
    ) -> Service:
        service = Service(
            self._id("S"),
            name,
            self.policy(escalation_policy).id,
            self.now(),
            [self.team(t).id for t in teams],
            description,
            urgency,
        )
        self.services[service.id] = service
        return service

    def set_oncall(
        self,
        user: str,
        escalation_policy: str,
        *,
        level: int = 1,
        schedule: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> OnCall:
        """An explicit on-call entry (an override, a permanent extra responder...)."""
        entry = OnCall(
            self.policy(escalation_policy).id,
            level,
            self.user(user).id,
            self.schedule(schedule).id if schedule else None,
            start,
            end,
        )
        self.extra_oncalls.append(entry)
        return entry

    def clear_oncalls(self) -> None:
        self.extra_oncalls.clear()

    def seed_incident(
        self,
        title: str = "Seeded incident",
        *,
        service: str | None = None,
        status: str = "triggered",
        urgency: str | None = None,
        priority: str | None = None,
        assignees: Iterable[str] | None = None,
        incident_key: str | None = None,
        details: Any = None,
        created: datetime | None = None,
        as_user: str = "alice@example.com",
    ) -> Incident:
        """An incident made through the same checks as ``POST /incidents``; ``status``
        acknowledged/resolved is applied afterwards, ``created`` backdates it."""
        body: dict[str, Any] = {"type": "incident", "title": title}
        target = self.service(service) if service else next(iter(self.services.values()))
        body["service"] = {"id": target.id, "type": "service_reference"}
        if urgency:
            body["urgency"] = urgency
        if priority:
            body["priority"] = {"id": self.priority(priority).id, "type": "priority_reference"}
        if assignees is not None:
            body["assignments"] = [
                {"assignee": {"id": self.user(a).id, "type": "user_reference"}} for a in assignees
            ]
        if incident_key:
            body["incident_key"] = incident_key
        if details is not None:
            body["body"] = {"type": "incident_body", "details": details}
        user = self.user(as_user)
        try:
            incident = self._create(user, {"incident": body})
            if status != "triggered":
                self._update(incident, user, {"type": "incident_reference", "status": status})
        except PdError as exc:
            raise ValueError(f"seed_incident refused: {exc.message} {exc.errors}") from None
        if created is not None:
            for attr in ("created_at", "updated_at", "last_status_change_at"):
                setattr(incident, attr, created)
            incident.assignments = [(u, created) for u, _ in incident.assignments]
            incident.acknowledgements = [(u, created) for u, _ in incident.acknowledgements]
            if incident.resolved_at is not None:
                incident.resolved_at = created
        return incident

    # -- lookups (by id, email or name) --------------------------------------------------

    def user(self, ident: str) -> User:
        found = self.users.get(ident) or next(
            (u for u in self.users.values() if u.email.lower() == ident.lower()), None
        )
        if found is None:
            raise KeyError(ident)
        return found

    def team(self, ident: str) -> Team:
        return _by_id_or_name(self.teams, ident)

    def priority(self, ident: str) -> Priority:
        return _by_id_or_name(self.priorities, ident)

    def policy(self, ident: str) -> EscalationPolicy:
        return _by_id_or_name(self.policies, ident)

    def schedule(self, ident: str) -> Schedule:
        return _by_id_or_name(self.schedules, ident)

    def service(self, ident: str) -> Service:
        return _by_id_or_name(self.services, ident)

    def incident(self, ident: str | int) -> Incident:
        if isinstance(ident, int) or ident.isdigit():
            found = next((i for i in self.incidents.values() if i.number == int(ident)), None)
        else:
            found = self.incidents.get(ident)
        if found is None:
            raise KeyError(ident)
        return found

    # -- test helpers ---------------------------------------------------------------------

    def headers(
        self, token: str = "pd-account-key", *, from_email: str | None = "alice@example.com"
    ) -> dict[str, str]:
        """What a well-behaved client sends, for tests that call the fake directly."""
        out = {"Authorization": f"Token token={token}", "Accept": ACCEPT}
        if from_email:
            out["From"] = from_email
        return out

    def fail_next(
        self,
        status: int | None = None,
        *,
        times: int = 1,
        malformed: bool = False,
        delay: float | None = None,
        reset: bool = False,
        path: str | None = None,
        method: str | None = None,
        body: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        rate_headers: bool = True,
        ratelimit_reset: int = 20,
    ) -> Fault:
        """Queue a fault for the next ``times`` matching requests (``path`` is a prefix).

        - ``status``: answer it with PagerDuty's error body for that status; 429 carries
          ``ratelimit-limit/remaining/reset`` (``ratelimit_reset`` seconds) unless
          ``rate_headers=False`` ("a 429 may arrive without those headers"); ``body``
          replaces the body (``""``: none).
        - ``malformed``: 200 (or ``status``) with ``Content-Type: application/json`` and a
          body that is not JSON.
        - ``delay``: sleep first; alone it only slows the real answer down.
        - ``reset``: close the connection without an answer.
        """
        return self._add_fault(
            status,
            times=times,
            malformed=malformed,
            delay=delay,
            reset=reset,
            path=path,
            method=method,
            body=body,
            headers=headers,
            rate_headers=rate_headers,
            ratelimit_reset=ratelimit_reset,
        )

    # -- plumbing -------------------------------------------------------------------------

    def _routes(self) -> None:
        r = self.app.router
        r.add_get("/users", self._list_users)
        r.add_get("/users/me", self._me)
        r.add_get("/users/{id}", self._get_user)
        r.add_get("/teams", self._list_teams)
        r.add_get("/teams/{id}", self._get_team)
        r.add_get("/services", self._list_services)
        r.add_get("/services/{id}", self._get_service)
        r.add_get("/priorities", self._list_priorities)
        r.add_get("/escalation_policies", self._list_policies)
        r.add_get("/escalation_policies/{id}", self._get_policy)
        r.add_get("/schedules", self._list_schedules)
        r.add_get("/schedules/{id}", self._get_schedule)
        r.add_get("/oncalls", self._list_oncalls)
        r.add_get("/incidents", self._list_incidents)
        r.add_post("/incidents", self._create_incident)
        r.add_get("/incidents/{id}", self._get_incident)
        r.add_put("/incidents/{id}", self._update_incident)
        r.add_get("/incidents/{id}/notes", self._list_notes)
        r.add_post("/incidents/{id}/notes", self._create_note)

    async def _serve(
        self, request: web.Request, handler: Handler, record: RecordedRequest
    ) -> web.StreamResponse:
        body: Any = None
        if request.body_exists:
            raw = await request.read()
            if request.content_type == "application/json":
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = _Unparsable
                record.json = None if body is _Unparsable else body
            else:
                body = _Unparsable
        op = None
        if self.spec is not None:
            found = self.spec.operation(request.method, request.path)
            if found is None:
                self._violation(
                    request, None, "operation", "no such operation in the API description"
                )
            else:
                op, path_params = found
                if op.deprecated:
                    self._violation(
                        request, op.operation_id, "operation", f"deprecated: {op.summary}"
                    )
                if body is _Unparsable and request.content_type == "application/json":
                    problems = ["request body is not valid JSON"]
                else:
                    problems = self.spec.validate_request(
                        op,
                        path_params,
                        request.query.items(),
                        request.content_type if request.body_exists else None,
                        None if body is _Unparsable else body,
                        has_body=request.body_exists,
                        strict_query=self.strict_query,
                    )
                accept = request.headers.get("Accept", "")
                version = re.search(r"application/vnd\.pagerduty\+json;\s*version=(\w+)", accept)
                if version and version.group(1) != "2":
                    problems.append(f"Accept asks for API version {version.group(1)}, not 2")
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
            return _json(_error_body(*AUTH_FAILED), 401)
        limited, rate_headers = self._count(caller)
        if limited is not None:
            return limited
        try:
            if request.method != "GET" and caller.read_only:
                raise PdError(403, ACCESS_DENIED, ["The API key is read-only"])
            if body is _Unparsable:
                raise _invalid("The request body could not be parsed as JSON")
            _CALLER.set(caller)
            _BODY.set(body)
            response = await handler(request)
        except PdError as exc:
            response = _json(_error_body(exc.message, exc.code, exc.errors), exc.status)
        except web.HTTPNotFound:
            self._violation(request, None, "fake", "FakePagerDuty does not implement this path")
            response = _json(_error_body(*NOT_FOUND), 404)
        except web.HTTPMethodNotAllowed:
            self._violation(request, None, "fake", "FakePagerDuty does not implement this method")
            response = _json(_error_body("Method Not Allowed", 2000), 405)
        assert isinstance(response, web.Response)
        response.headers.update(rate_headers)
        return response

    def _count(self, caller: ApiKey) -> tuple[web.Response | None, dict[str, str]]:
        now = self.now()
        key = f"{caller.scheme}:{caller.token}"
        started, used = self._windows.get(key, (now, 0))
        if now - started >= timedelta(seconds=self.rate_window):
            started, used = now, 0
        reset = max(1, int((started + timedelta(seconds=self.rate_window) - now).total_seconds()))
        if used >= self.rate_limit:
            headers = self._rate_headers(0, reset)
            return _json(_error_body(*RATE_LIMITED), 429, headers), headers
        used += 1
        self._windows[key] = (started, used)
        return None, self._rate_headers(self.rate_limit - used, reset)

    def _rate_headers(self, remaining: int, reset: int) -> dict[str, str]:
        return {
            "ratelimit-limit": str(self.rate_limit),
            "ratelimit-remaining": str(remaining),
            "ratelimit-reset": str(reset),
        }

    def set_rate_limit(self, limit: int, *, window: float = 60.0) -> None:
        """A live limit per credential (``limit`` requests per ``window`` seconds)."""
        self.rate_limit, self.rate_window = limit, window
        self._windows.clear()

    def _fault_headers(self, fault: Fault, status: int, headers: dict[str, str]) -> None:
        if status == 429 and fault.rate_headers:
            for name, value in self._rate_headers(0, fault.ratelimit_reset).items():
                headers.setdefault(name, value)

    def _fault_error(self, status: int, headers: dict[str, str]) -> web.Response:
        known = {
            400: INVALID_INPUT,
            401: AUTH_FAILED,
            403: ACCESS_DENIED,
            404: NOT_FOUND,
            429: RATE_LIMITED,
            500: ("An internal error has occurred. PagerDuty team has been notified.", 2000),
        }
        message, code = known.get(status, (f"Injected fault {status}", 2000))
        if status in (502, 503, 504):
            message = "Service Unavailable"
        return _json(_error_body(message, code), status, headers)

    def _authenticate(self, request: web.Request) -> ApiKey | None:
        header = request.headers.get("Authorization", "").strip()
        match = re.fullmatch(r"Token\s+token=\"?([^\s\"]+)\"?", header, flags=re.IGNORECASE)
        if match:
            return self.api_keys.get(("token", match.group(1)))
        match = re.fullmatch(r"Bearer\s+(\S+)", header, flags=re.IGNORECASE)
        if match:
            return self.api_keys.get(("bearer", match.group(1)))
        return None

    def _requester(self, request: web.Request) -> User:
        """The ``From`` user, required on the incident writes."""
        raw = request.headers.get("From", "").strip()
        if not raw:
            raise PdError(400, FROM_MISSING)
        user = next((u for u in self.users.values() if u.email.lower() == raw.lower()), None)
        if user is None:
            raise PdError(400, REQUESTER_NOT_FOUND)
        return user

    # -- rendering ------------------------------------------------------------------------

    def _self(self, plural: str, ident: str) -> str:
        return f"{self.url}/{plural}/{ident}"

    def _html(self, plural: str, ident: str) -> str:
        path = "service-directory" if plural == "services" else plural
        return f"{self.html_base}/{path}/{ident}"

    def _ref(self, kind: str, plural: str, ident: str, summary: str) -> dict[str, Any]:
        return {
            "id": ident,
            "type": f"{kind}_reference",
            "summary": summary,
            "self": self._self(plural, ident),
            "html_url": self._html(plural, ident),
        }

    def _user_ref(self, user_id: str) -> dict[str, Any]:
        return self._ref("user", "users", user_id, self.users[user_id].name)

    def _team_ref(self, team_id: str) -> dict[str, Any]:
        return self._ref("team", "teams", team_id, self.teams[team_id].name)

    def _service_ref(self, service_id: str) -> dict[str, Any]:
        return self._ref("service", "services", service_id, self.services[service_id].name)

    def _policy_ref(self, policy_id: str) -> dict[str, Any]:
        name = self.policies[policy_id].name
        return self._ref("escalation_policy", "escalation_policies", policy_id, name)

    def _schedule_ref(self, schedule_id: str) -> dict[str, Any]:
        return self._ref("schedule", "schedules", schedule_id, self.schedules[schedule_id].name)

    def _priority_ref(self, priority_id: str) -> dict[str, Any]:
        priority = self.priorities[priority_id]
        return {
            "id": priority.id,
            "type": "priority_reference",
            "summary": priority.name,
            "self": self._self("priorities", priority.id),
            "html_url": None,
        }

    def _user_json(self, user: User, include: AbstractSet[str] = frozenset()) -> dict[str, Any]:
        teams = [t for t in self.teams.values() if user.id in t.members]
        return {
            "id": user.id,
            "type": "user",
            "summary": user.name,
            "self": self._self("users", user.id),
            "html_url": self._html("users", user.id),
            "name": user.name,
            "email": user.email,
            "time_zone": user.time_zone,
            "color": user.color,
            "role": user.role,
            "avatar_url": f"https://secure.gravatar.test/avatar/{user.id.lower()}.png",
            "description": user.description,
            "invitation_sent": False,
            "job_title": user.job_title or "",
            "teams": [
                self._team_json(t) if "teams" in include else self._team_ref(t.id) for t in teams
            ],
            "contact_methods": [],
            "notification_rules": [],
        }

    def _team_json(self, team: Team) -> dict[str, Any]:
        return {
            "id": team.id,
            "type": "team",
            "summary": team.name,
            "self": self._self("teams", team.id),
            "html_url": self._html("teams", team.id),
            "name": team.name,
            "description": team.description,
            "default_role": "manager",
        }

    def _priority_json(self, priority: Priority) -> dict[str, Any]:
        return {
            "id": priority.id,
            "type": "priority",
            "summary": priority.name,
            "self": self._self("priorities", priority.id),
            "html_url": None,
            "name": priority.name,
            "description": priority.description,
        }

    def _service_json(
        self, service: Service, include: AbstractSet[str] = frozenset()
    ) -> dict[str, Any]:
        policy = self.policies[service.escalation_policy]
        last = max(
            (i.created_at for i in self.incidents.values() if i.service == service.id),
            default=None,
        )
        data: dict[str, Any] = {
            "id": service.id,
            "type": "service",
            "summary": service.name,
            "self": self._self("services", service.id),
            "html_url": self._html("services", service.id),
            "name": service.name,
            "description": service.description,
            "auto_resolve_timeout": service.auto_resolve_timeout,
            "acknowledgement_timeout": service.acknowledgement_timeout,
            "created_at": pd_time(service.created_at),
            "status": service.status,
            "escalation_policy": (
                self._policy_json(policy)
                if "escalation_policies" in include
                else self._policy_ref(policy.id)
            ),
            "teams": [
                self._team_json(self.teams[t]) if "teams" in include else self._team_ref(t)
                for t in service.teams
            ],
            "integrations": [],
            "incident_urgency_rule": {"type": "constant", "urgency": service.urgency},
        }
        if last is not None:
            data["last_incident_timestamp"] = pd_time(last)
        return data

    def _target_json(self, target: Target, expand: bool) -> dict[str, Any]:
        if target.kind == "user":
            if expand:
                return self._user_json(self.users[target.id])
            return self._user_ref(target.id)
        if expand:
            return self._schedule_json(self.schedules[target.id])
        return self._schedule_ref(target.id)

    def _policy_json(
        self, policy: EscalationPolicy, include: AbstractSet[str] = frozenset()
    ) -> dict[str, Any]:
        services = [s for s in self.services.values() if s.escalation_policy == policy.id]
        return {
            "id": policy.id,
            "type": "escalation_policy",
            "summary": policy.name,
            "self": self._self("escalation_policies", policy.id),
            "html_url": self._html("escalation_policies", policy.id),
            "name": policy.name,
            "description": policy.description,
            "num_loops": policy.num_loops,
            "on_call_handoff_notifications": policy.on_call_handoff_notifications,
            "escalation_rules": [
                {
                    "id": rule.id,
                    "escalation_delay_in_minutes": rule.delay,
                    "targets": [self._target_json(t, "targets" in include) for t in rule.targets],
                }
                for rule in policy.rules
            ],
            "services": [
                self._service_json(s) if "services" in include else self._service_ref(s.id)
                for s in services
            ],
            "teams": [
                self._team_json(self.teams[t]) if "teams" in include else self._team_ref(t)
                for t in policy.teams
            ],
        }

    def _schedule_json(self, schedule: Schedule, detail: bool = False) -> dict[str, Any]:
        policies = [
            p
            for p in self.policies.values()
            if any(t == Target("schedule", schedule.id) for r in p.rules for t in r.targets)
        ]
        data: dict[str, Any] = {
            "id": schedule.id,
            "type": "schedule",
            "summary": schedule.name,
            "self": self._self("schedules", schedule.id),
            "html_url": self._html("schedules", schedule.id),
            "name": schedule.name,
            "description": schedule.description,
            "time_zone": schedule.time_zone,
            "escalation_policies": [self._policy_ref(p.id) for p in policies],
            "users": [self._user_ref(u) for u in dict.fromkeys(schedule.users)],
            "teams": [self._team_ref(t) for t in schedule.teams],
        }
        if detail:
            data["schedule_layers"] = [
                {
                    "id": schedule.id.replace("PC", "PL", 1),
                    "name": "Layer 1",
                    "start": pd_time(schedule.start),
                    "rotation_virtual_start": pd_time(schedule.start),
                    "rotation_turn_length_seconds": int(schedule.turn.total_seconds()),
                    "users": [{"user": self._user_ref(u)} for u in schedule.users],
                    "restrictions": [],
                }
            ]
        return data

    def _incident_json(
        self, incident: Incident, include: AbstractSet[str] = frozenset()
    ) -> dict[str, Any]:
        def person(user_id: str, expand: bool) -> dict[str, Any]:
            return self._user_json(self.users[user_id]) if expand else self._user_ref(user_id)

        service = self.services[incident.service]
        policy = self.policies[incident.escalation_policy]
        assignees = bool({"assignees", "users"} & include)
        acknowledgers = bool({"acknowledgers", "users"} & include)
        data: dict[str, Any] = {
            "id": incident.id,
            "type": "incident",
            "summary": incident.summary,
            "self": self._self("incidents", incident.id),
            "html_url": self._html("incidents", incident.id),
            "incident_number": incident.number,
            "title": incident.title,
            "created_at": pd_time(incident.created_at),
            "updated_at": pd_time(incident.updated_at),
            "status": incident.status,
            "incident_key": incident.incident_key,
            "service": (
                self._service_json(service)
                if "services" in include
                else self._service_ref(service.id)
            ),
            "assignments": [
                {"at": pd_time(at), "assignee": person(uid, assignees)}
                for uid, at in incident.assignments
            ],
            "assigned_via": incident.assigned_via,
            "last_status_change_at": pd_time(incident.last_status_change_at),
            "resolved_at": pd_time(incident.resolved_at) if incident.resolved_at else None,
            "alert_counts": {"all": 0, "triggered": 0, "resolved": 0},
            "is_mergeable": incident.status != "resolved",
            "escalation_policy": (
                self._policy_json(policy)
                if "escalation_policies" in include
                else self._policy_ref(policy.id)
            ),
            "teams": [
                self._team_json(self.teams[t]) if "teams" in include else self._team_ref(t)
                for t in service.teams
            ],
            "pending_actions": [],
            "acknowledgements": [
                {"at": pd_time(at), "acknowledger": person(uid, acknowledgers)}
                for uid, at in incident.acknowledgements
            ],
            "priority": None,
            "urgency": incident.urgency,
        }
        changed_by = incident.last_status_change_by
        data["last_status_change_by"] = (  # the service until a user changes the status
            self._user_ref(changed_by) if changed_by else self._service_ref(service.id)
        )
        if incident.priority is not None:
            priority = self.priorities[incident.priority]
            data["priority"] = (
                self._priority_json(priority)
                if "priorities" in include
                else self._priority_ref(priority.id)
            )
        if "body" in include:
            data["body"] = {"type": "incident_body", "details": incident.details or ""}
        return data

    def _note_json(self, note: Note) -> dict[str, Any]:
        return {
            "id": note.id,
            "user": self._user_ref(note.user),
            "channel": {"summary": NOTE_CHANNEL},
            "content": note.content,
            "created_at": pd_time(note.created_at),
            "updated_at": pd_time(note.created_at),
        }

    # -- request helpers ------------------------------------------------------------------

    @staticmethod
    def _list_param(request: web.Request, name: str) -> list[str]:
        """``name[]`` values (repeated); a bare ``name`` is accepted as well."""
        values = request.query.getall(f"{name}[]", []) + request.query.getall(name, [])
        return [v for v in values if v != ""]

    @staticmethod
    def _include(request: web.Request) -> set[str]:
        return set(FakePagerDuty._list_param(request, "include"))

    @staticmethod
    def _int(request: web.Request, name: str, default: int) -> int:
        raw = request.query.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise _invalid(f"{name} must be an integer") from None

    def _page(
        self, request: web.Request, key: str, items: Sequence[dict[str, Any]], cap: int = 100
    ) -> dict[str, Any]:
        limit = min(self._int(request, "limit", 25), cap)
        offset = self._int(request, "offset", 0)
        if limit < 1 or offset < 0:
            raise _invalid("limit must be positive and offset not negative")
        if offset + limit > PAGE_WINDOW:
            raise _invalid(f"Offset + limit must not exceed {PAGE_WINDOW}")
        page = list(items[offset : offset + limit])
        want_total = request.query.get("total", "").lower() == "true"
        return {
            key: page,
            "limit": limit,
            "offset": offset,
            "more": offset + len(page) < len(items),
            "total": len(items) if want_total else None,
        }

    @staticmethod
    def _query_match(request: web.Request, *texts: str) -> bool:
        query = request.query.get("query", "").strip().lower()
        return not query or any(query in text.lower() for text in texts)

    def _sort_by_name(self, request: web.Request) -> bool:
        """True for descending; ``sort_by`` is name / name:asc / name:desc."""
        sort = request.query.get("sort_by", "name")
        if sort not in ("name", "name:asc", "name:desc"):
            raise _invalid(f"Invalid sort_by {sort!r}")
        return sort == "name:desc"

    def _body(self) -> dict[str, Any]:
        body = _BODY.get()
        if not isinstance(body, dict):
            raise _invalid("The request body must be a JSON object")
        return body

    # -- users, teams, priorities, services -----------------------------------------------

    async def _list_users(self, request: web.Request) -> web.StreamResponse:
        teams = set(self._list_param(request, "team_ids"))
        include = self._include(request)
        users = sorted(self.users.values(), key=lambda u: u.name.lower())
        found = [
            self._user_json(u, include)
            for u in users
            if self._query_match(request, u.name, u.email)
            and (not teams or any(u.id in self.teams[t].members for t in teams if t in self.teams))
        ]
        return _json(self._page(request, "users", found))

    async def _me(self, request: web.Request) -> web.StreamResponse:
        caller = _CALLER.get()
        if caller.user is None:
            raise PdError(400, ACCOUNT_TOKEN_ME)
        return _json({"user": self._user_json(self.users[caller.user], self._include(request))})

    async def _get_user(self, request: web.Request) -> web.StreamResponse:
        user = self.users.get(request.match_info["id"])
        if user is None:
            raise PdError(404, NOT_FOUND)
        return _json({"user": self._user_json(user, self._include(request))})

    async def _list_teams(self, request: web.Request) -> web.StreamResponse:
        teams = sorted(self.teams.values(), key=lambda t: t.name.lower())
        found = [self._team_json(t) for t in teams if self._query_match(request, t.name)]
        return _json(self._page(request, "teams", found))

    async def _get_team(self, request: web.Request) -> web.StreamResponse:
        team = self.teams.get(request.match_info["id"])
        if team is None:
            raise PdError(404, NOT_FOUND)
        return _json({"team": self._team_json(team)})

    async def _list_priorities(self, request: web.Request) -> web.StreamResponse:
        found = [self._priority_json(p) for p in self.priorities.values()]
        return _json(self._page(request, "priorities", found))

    async def _list_services(self, request: web.Request) -> web.StreamResponse:
        teams = set(self._list_param(request, "team_ids"))
        include = self._include(request)
        name = request.query.get("name")
        descending = self._sort_by_name(request)
        services = sorted(self.services.values(), key=lambda s: s.name.lower(), reverse=descending)
        found = [
            self._service_json(s, include)
            for s in services
            if self._query_match(request, s.name)
            and (name is None or s.name == name)
            and (not teams or teams & set(s.teams))
        ]
        return _json(self._page(request, "services", found))

    async def _get_service(self, request: web.Request) -> web.StreamResponse:
        service = self.services.get(request.match_info["id"])
        if service is None:
            raise PdError(404, NOT_FOUND)
        return _json({"service": self._service_json(service, self._include(request))})

    # -- escalation policies, schedules, on-calls ----------------------------------------

    def _policy_users(self, policy: EscalationPolicy) -> set[str]:
        users: set[str] = set()
        for rule in policy.rules:
            for target in rule.targets:
                if target.kind == "user":
                    users.add(target.id)
                else:
                    users.update(self.schedules[target.id].users)
        return users

    async def _list_policies(self, request: web.Request) -> web.StreamResponse:
        users = set(self._list_param(request, "user_ids"))
        teams = set(self._list_param(request, "team_ids"))
        include = self._include(request)
        descending = self._sort_by_name(request)
        policies = sorted(self.policies.values(), key=lambda p: p.name.lower(), reverse=descending)
        found = [
            self._policy_json(p, include)
            for p in policies
            if self._query_match(request, p.name)
            and (not users or users & self._policy_users(p))
            and (not teams or teams & set(p.teams))
        ]
        return _json(self._page(request, "escalation_policies", found))

    async def _get_policy(self, request: web.Request) -> web.StreamResponse:
        policy = self.policies.get(request.match_info["id"])
        if policy is None:
            raise PdError(404, NOT_FOUND)
        return _json({"escalation_policy": self._policy_json(policy, self._include(request))})

    async def _list_schedules(self, request: web.Request) -> web.StreamResponse:
        schedules = sorted(self.schedules.values(), key=lambda s: s.name.lower())
        teams = set(self._list_param(request, "team_ids"))
        found = [
            self._schedule_json(s)
            for s in schedules
            if self._query_match(request, s.name) and (not teams or teams & set(s.teams))
        ]
        return _json(self._page(request, "schedules", found))

    async def _get_schedule(self, request: web.Request) -> web.StreamResponse:
        schedule = self.schedules.get(request.match_info["id"])
        if schedule is None:
            raise PdError(404, NOT_FOUND)
        data = self._schedule_json(schedule, detail=True)
        if "since" in request.query or "until" in request.query:
            since, until = self._oncall_window(request)
            entries = [
                {"user": self._user_ref(u), "start": pd_time(s), "end": pd_time(e)}
                for u, s, e in schedule.shifts(since, until)
            ]
            data["final_schedule"] = {
                "name": "Final Schedule",
                "rendered_schedule_entries": entries,
            }
        return _json({"schedule": data})

    def _oncall_window(self, request: web.Request) -> tuple[datetime, datetime]:
        now = self.now()
        try:
            since = _parse_time(request.query["since"]) if "since" in request.query else now
            until = _parse_time(request.query["until"]) if "until" in request.query else now
        except ValueError:
            raise PdError(400, INVALID_TIMES) from None
        if "since" in request.query and "until" not in request.query:
            until = max(until, since)
        if "until" in request.query and "since" not in request.query:
            since = min(since, until)
        if until < since:
            raise _invalid("until must not be before since")
        return since, until

    def oncalls(self, since: datetime, until: datetime) -> list[OnCall]:
        """The on-call entries overlapping ``[since, until]`` (rules, rotations, extras)."""
        out: list[OnCall] = []
        for policy in self.policies.values():
            for level, rule in enumerate(policy.rules, 1):
                for target in rule.targets:
                    if target.kind == "user":
                        out.append(OnCall(policy.id, level, target.id))
                        continue
                    for user, start, end in self.schedules[target.id].shifts(since, until):
                        out.append(OnCall(policy.id, level, user, target.id, start, end))
        for extra in self.extra_oncalls:
            if (extra.start is None or extra.start <= until) and (
                extra.end is None or extra.end > since
            ):
                out.append(extra)
        return out

    def oncall_users(self, policy_id: str, level: int, at: datetime | None = None) -> list[str]:
        """User ids on call for ``level`` of a policy at ``at`` (now), in rule order."""
        when = at or self.now()
        entries = self.oncalls(when, when)
        return list(
            dict.fromkeys(e.user for e in entries if (e.policy, e.level) == (policy_id, level))
        )

    async def _list_oncalls(self, request: web.Request) -> web.StreamResponse:
        since, until = self._oncall_window(request)
        include = self._include(request)
        policies = set(self._list_param(request, "escalation_policy_ids"))
        schedules = set(self._list_param(request, "schedule_ids"))
        users = set(self._list_param(request, "user_ids"))
        earliest = request.query.get("earliest", "").lower() == "true"
        entries = [
            e
            for e in self.oncalls(since, until)
            if (not policies or e.policy in policies)
            and (not schedules or (e.schedule or "null") in schedules)
            and (not users or e.user in users)
        ]
        far = datetime.min.replace(tzinfo=UTC)
        entries.sort(
            key=lambda e: (self.policies[e.policy].name.lower(), e.level, e.start or far, e.user)
        )
        if earliest:
            seen: set[tuple[str, int, str]] = set()
            first = []
            for entry in entries:
                if (entry.policy, entry.level, entry.user) not in seen:
                    seen.add((entry.policy, entry.level, entry.user))
                    first.append(entry)
            entries = first
        rendered = [self._oncall_json(e, include) for e in entries]
        return _json(self._page(request, "oncalls", rendered))

    def _oncall_json(self, entry: OnCall, include: set[str]) -> dict[str, Any]:
        policy = self.policies[entry.policy]
        schedule: dict[str, Any] | None = None
        if entry.schedule is not None:
            schedule = (
                self._schedule_json(self.schedules[entry.schedule])
                if "schedules" in include
                else self._schedule_ref(entry.schedule)
            )
        return {
            "escalation_policy": (
                self._policy_json(policy)
                if "escalation_policies" in include
                else self._policy_ref(policy.id)
            ),
            "escalation_level": entry.level,
            "schedule": schedule,
            "user": (
                self._user_json(self.users[entry.user])
                if "users" in include
                else self._user_ref(entry.user)
            ),
            "start": pd_time(entry.start) if entry.start else None,
            "end": pd_time(entry.end) if entry.end else None,
        }

    # -- incidents ------------------------------------------------------------------------

    def _incident_for(self, request: web.Request) -> Incident:
        incident = self.incidents.get(request.match_info["id"])
        if incident is None:
            raise PdError(404, NOT_FOUND)
        return incident

    def _reference(self, value: Any, kind: str, label: str) -> str:
        if not isinstance(value, dict) or not isinstance(value.get("id"), str):
            raise _invalid(f"{label} must be a {kind} reference with an id")
        if value.get("type") not in (kind, f"{kind}_reference"):
            raise _invalid(f"{label} type must be {kind}_reference")
        return str(value["id"])

    def _priority_from(self, value: Any) -> str:
        if isinstance(value, str):
            found = next((p for p in self.priorities.values() if p.name == value), None)
        else:
            found = self.priorities.get(self._reference(value, "priority", "priority"))
        if found is None:
            raise PdError(400, INVALID_PRIORITY)
        return found.id

    def _assignees_from(self, value: Any) -> list[str]:
        if not isinstance(value, list) or not value:
            raise _invalid("assignments must be a non-empty array")
        out = []
        for item in value:
            assignee = item.get("assignee") if isinstance(item, dict) else None
            user_id = self._reference(assignee, "user", "assignee")
            if user_id not in self.users:
                raise PdError(400, ASSIGNEE_NOT_FOUND)
            out.append(user_id)
        return list(dict.fromkeys(out))

    def _policy_from(self, value: Any) -> str:
        policy_id = self._reference(value, "escalation_policy", "escalation_policy")
        if policy_id not in self.policies:
            raise PdError(400, POLICY_NOT_FOUND)
        return policy_id

    @staticmethod
    def _urgency(value: Any) -> str:
        if value not in URGENCIES:
            raise _invalid("urgency must be high or low")
        return str(value)

    def _create(self, user: User, body: dict[str, Any]) -> Incident:
        data = body.get("incident")
        if not isinstance(data, dict):
            raise _invalid("incident is required")
        if data.get("type") != "incident":
            raise _invalid("incident type must be 'incident'")
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            raise _invalid("Title cannot be empty")
        service_id = self._reference(data.get("service"), "service", "service")
        service = self.services.get(service_id)
        if service is None:
            raise _invalid("Service not found")
        if "assignments" in data and "escalation_policy" in data:
            raise _invalid("Cannot specify both assignments and an escalation_policy")
        priority = self._priority_from(data["priority"]) if "priority" in data else None
        urgency = self._urgency(data["urgency"]) if "urgency" in data else service.urgency
        key = data.get("incident_key")
        if key is not None and not isinstance(key, str):
            raise _invalid("incident_key must be a string")
        if key and any(
            i.incident_key == key and i.service == service.id and i.status != "resolved"
            for i in self.incidents.values()
        ):
            raise _invalid(DEDUP_CONFLICT)
        details: Any = None
        if "body" in data:
            body_data = data["body"]
            if not isinstance(body_data, dict) or body_data.get("type") != "incident_body":
                raise _invalid("body must be an incident_body")
            details = body_data.get("details")
        now = self.now()
        number = next(self._numbers)
        policy_id = service.escalation_policy
        if "escalation_policy" in data:
            policy_id = self._policy_from(data["escalation_policy"])
        incident = Incident(
            id=f"Q{number:013d}",
            number=number,
            title=title,
            service=service.id,
            escalation_policy=policy_id,
            urgency=urgency,
            incident_key=key or secrets.token_hex(16),
            created_at=now,
            updated_at=now,
            last_status_change_at=now,
            last_status_change_by=None,
            priority=priority,
            details=details,
        )
        if "assignments" in data:
            incident.assignments = [(u, now) for u in self._assignees_from(data["assignments"])]
            incident.assigned_via = "direct_assignment"
        else:
            incident.assignments = [(u, now) for u in self.oncall_users(policy_id, 1, now)]
        self.incidents[incident.id] = incident
        return incident

    def _assign_by_policy(self, incident: Incident, level: int, now: datetime) -> None:
        incident.escalation_level = level
        incident.assignments = [
            (u, now) for u in self.oncall_users(incident.escalation_policy, level, now)
        ]
        incident.assigned_via = "escalation_policy"

    def _update(self, incident: Incident, user: User, data: dict[str, Any]) -> None:
        """Check everything first, then change: a refused update changes nothing."""
        if data.get("type") not in ("incident", "incident_reference"):
            raise _invalid("incident type must be 'incident' or 'incident_reference'")
        was = incident.status
        status = data.get("status", was)
        if "status" in data:
            if status not in STATUSES:
                raise PdError(400, INVALID_STATUS)
            if was == "resolved" and (status == "resolved" or not self.allow_reopen):
                raise PdError(400, ALREADY_RESOLVED)
            if was == "acknowledged" and status == "triggered":
                raise PdError(400, INVALID_STATUS)
        reassigning = {"assignments", "escalation_level", "escalation_policy"} & set(data)
        if status == "resolved" and reassigning:
            if was == "resolved":
                raise PdError(400, ALREADY_RESOLVED)
            raise _invalid("An incident cannot be reassigned while it is resolved")
        if was == "resolved" == status and {"priority", "urgency"} & set(data):
            raise PdError(400, ALREADY_RESOLVED)
        title = data.get("title", incident.title)
        if not isinstance(title, str) or not title.strip():
            raise _invalid("Title cannot be empty")
        urgency = self._urgency(data["urgency"]) if "urgency" in data else incident.urgency
        priority = self._priority_from(data["priority"]) if "priority" in data else None
        service = incident.service
        if "service" in data:
            service = self._reference(data["service"], "service", "service")
            if service not in self.services:
                raise _invalid("Service not found")
        policy = incident.escalation_policy
        if "escalation_policy" in data:
            policy = self._policy_from(data["escalation_policy"])
        level = data.get("escalation_level", 1)
        if "escalation_level" in data and (
            not isinstance(level, int)
            or isinstance(level, bool)
            or not 1 <= level <= len(self.policies[policy].rules)
        ):
            raise PdError(400, CANNOT_ESCALATE)
        assignees = self._assignees_from(data["assignments"]) if "assignments" in data else None

        now = self.now()
        changed = status != was or status == "acknowledged"
        if status == "acknowledged":  # (re-)acknowledge; from resolved: reopen to the caller
            incident.acknowledgements = [
                (u, at) for u, at in incident.acknowledgements if u != user.id
            ] + [(user.id, now)]
            if was == "resolved" and not reassigning:
                incident.assignments = [(user.id, now)]
                incident.assigned_via = "direct_assignment"
        elif status == "resolved" and was != "resolved":
            incident.assignments = []
            incident.acknowledgements = []
            incident.resolved_at = now
            if isinstance(data.get("resolution"), str):
                incident.resolution = data["resolution"]
        elif status == "triggered" and was == "resolved" and not reassigning:
            self._assign_by_policy(incident, 1, now)
        if status != "resolved":
            incident.resolved_at = None
        if status == "triggered":
            incident.acknowledgements = []
        if status != was:
            incident.status = status
            incident.last_status_change_at = now
            incident.last_status_change_by = user.id
        if "escalation_policy" in data or "escalation_level" in data:
            incident.escalation_policy = policy
            self._assign_by_policy(incident, level, now)
        if assignees is not None:
            incident.assignments = [(u, now) for u in assignees]
            incident.assigned_via = "direct_assignment"
        if priority is not None:
            incident.priority = priority
        for name, value in (("title", title), ("urgency", urgency), ("service", service)):
            if getattr(incident, name) != value:
                setattr(incident, name, value)
                changed = True
        if changed or reassigning or priority is not None:
            incident.updated_at = now

    async def _list_incidents(self, request: web.Request) -> web.StreamResponse:
        statuses = set(self._list_param(request, "statuses"))
        urgencies = set(self._list_param(request, "urgencies"))
        if statuses - set(STATUSES) or urgencies - set(URGENCIES):
            raise _invalid("Invalid statuses[] or urgencies[] value")
        services = set(self._list_param(request, "service_ids"))
        teams = set(self._list_param(request, "team_ids"))
        users = set(self._list_param(request, "user_ids"))
        key = request.query.get("incident_key")
        window = self._incident_window(request)
        order = self._incident_order(request)
        found = [
            i
            for i in self.incidents.values()
            if (not statuses or i.status in statuses)
            and (not urgencies or i.urgency in urgencies)
            and (not services or i.service in services)
            and (not teams or teams & set(self.services[i.service].teams))
            and (not users or users & {u for u, _ in i.assignments})
            and (key is None or i.incident_key == key)
            and (window is None or window[0] <= i.created_at < window[1])
        ]
        for field_name, descending in reversed(order):
            found.sort(key=_incident_sort_key(field_name), reverse=descending)
        include = self._include(request)
        rendered = [self._incident_json(i, include) for i in found]
        return _json(self._page(request, "incidents", rendered))

    def _incident_window(self, request: web.Request) -> tuple[datetime, datetime] | None:
        if request.query.get("date_range") == "all":
            return None
        try:
            until = _parse_time(request.query["until"]) if "until" in request.query else None
            since = _parse_time(request.query["since"]) if "since" in request.query else None
        except ValueError:
            raise PdError(400, INVALID_TIMES) from None
        if until is None:  # "now", inclusive: what was just created is listed
            until = self.now() + timedelta(microseconds=1)
        since = since or until - timedelta(days=30)
        if until < since:
            raise PdError(400, INVALID_TIMES)
        if until - since > timedelta(days=183):
            raise PdError(400, INVALID_RANGE, ["The date range may not exceed 6 months"])
        return since, until

    @staticmethod
    def _incident_order(request: web.Request) -> list[tuple[str, bool]]:
        raw = ",".join(request.query.getall("sort_by", [])) or "created_at:asc"
        order = []
        for part in (p.strip() for p in raw.split(",") if p.strip()):
            name, _, direction = part.partition(":")
            if name not in INCIDENT_SORT_FIELDS or direction not in ("", "asc", "desc"):
                raise _invalid(f"Invalid sort_by {part!r}")
            order.append((name, direction == "desc"))
        if len(order) > 2:
            raise _invalid("sort_by takes at most two fields")
        return [*order, ("incident_number", order[0][1])]

    async def _create_incident(self, request: web.Request) -> web.StreamResponse:
        user = self._requester(request)
        incident = self._create(user, self._body())
        return _json({"incident": self._incident_json(incident)}, 201)

    async def _get_incident(self, request: web.Request) -> web.StreamResponse:
        incident = self._incident_for(request)
        return _json({"incident": self._incident_json(incident, self._include(request))})

    async def _update_incident(self, request: web.Request) -> web.StreamResponse:
        user = self._requester(request)
        incident = self._incident_for(request)
        data = self._body().get("incident")
        if not isinstance(data, dict):
            raise _invalid("incident is required")
        self._update(incident, user, data)
        return _json({"incident": self._incident_json(incident)})

    async def _list_notes(self, request: web.Request) -> web.StreamResponse:
        incident = self._incident_for(request)
        return _json({"notes": [self._note_json(n) for n in incident.notes]})

    async def _create_note(self, request: web.Request) -> web.StreamResponse:
        user = self._requester(request)
        incident = self._incident_for(request)
        note = self._body().get("note")
        content = note.get("content") if isinstance(note, dict) else None
        if not isinstance(content, str) or not content.strip():
            raise _invalid("Content cannot be empty")
        if len(incident.notes) >= MAX_NOTES:
            raise _invalid(f"An incident may have at most {MAX_NOTES} notes")
        now = self.now()
        created = Note(self._id("N"), incident.id, user.id, content, now)
        incident.notes.append(created)
        incident.updated_at = now
        return _json({"note": self._note_json(created)}, self.note_status)


class _HasName(Protocol):
    @property
    def name(self) -> str: ...


_Named = TypeVar("_Named", bound=_HasName)


def _by_id_or_name(table: Mapping[str, _Named], ident: str) -> _Named:
    found = table.get(ident) or next(
        (item for item in table.values() if item.name.lower() == ident.lower()), None
    )
    if found is None:
        raise KeyError(ident)
    return found


def _incident_sort_key(name: str) -> Callable[[Incident], Any]:
    if name == "incident_number":
        return lambda i: i.number
    if name == "created_at":
        return lambda i: i.created_at
    if name == "resolved_at":
        far = datetime.max.replace(tzinfo=UTC)
        return lambda i: i.resolved_at or far
    return lambda i: URGENCIES.index(i.urgency)
