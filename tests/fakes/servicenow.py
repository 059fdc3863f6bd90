"""An in-memory ServiceNow instance (Table API, OAuth, Attachment API) on a real socket.

Usage::

    async with FakeServiceNow() as sn:
        sn.url                                   # http://127.0.0.1:<port>
        inc = sn.seed("incident", short_description="Printer on fire", impact="1")
        sn.fail_next(status=429, retry_after=2, path="/api/now/table/incident")
        sn.acl_hidden.add(inc["sys_id"])         # the page-shorter-than-limit trap
        ...
        assert sn.ignored_fields == []           # the plugin wrote/queried only real columns

What it imitates is what a ticketing plugin touches, written from the Table API, Attachment
API, rate-limiting and response-code references (``shared/specs/servicenow/``):

- Auth: Basic ``user_name:password`` and Bearer tokens from ``POST /oauth_token.do``
  (``client_credentials``, ``password``, ``refresh_token`` grants). Defaults: ``admin`` /
  ``admin-pass`` (role admin, America/Los_Angeles, US date format), ``itil`` / ``itil-pass``
  (writes task tables but not SIR), ``reader`` / ``reader-pass`` (reads only: 403 on
  writes), and users who cannot log in (``abel.tuter``, ``beth.anglin``, ``david.miller``).
  OAuth client ``fake-client-id`` / ``fake-client-secret`` acts as ``admin``.
- Tables: ``task`` ← ``incident`` (ITSM) and ``task`` ← ``sn_si_incident`` (SIR, its own
  state codes), ``sys_user``, and the read-only metadata tables ``sys_db_object``,
  ``sys_dictionary``, ``sys_choice`` generated from the schema, plus ``sys_journal_field``
  and ``sys_attachment``. Records live once and are visible from their class and every
  table it extends (``GET /api/now/table/task`` lists incidents and SIR incidents too).
- Record CRUD on ``/api/now/table``, ``/api/now/v1/table`` and ``/api/now/v2/table``
  with ``sysparm_query`` (see ``tests/fakes/snquery.py``), ``sysparm_fields`` (dot-walks
  too), ``sysparm_limit``/``sysparm_offset`` with ``Link`` and ``X-Total-Count``,
  ``sysparm_display_value`` (false/true/all), ``sysparm_exclude_reference_link``,
  ``sysparm_input_display_value``, ``sysparm_no_count``,
  ``sysparm_suppress_pagination_header``, name=value filter pairs, ``X-no-response-body``.
- Journal fields (``comments``, ``work_notes``): a write appends a ``sys_journal_field``
  row and the field reads back ``""``; with display values it shows the journal text.
- Business rules: numbering (INC/SIR/TASK + 7 digits), opened_at/opened_by, default
  state, priority from impact x urgency, closed_at/resolved_at/active on state changes,
  sys_created_*/sys_updated_*/sys_mod_count.
- Attachments (binary ``POST /api/now/attachment/file``, list, meta, download, delete).
- Error bodies ``{"error": {"message", "detail"}, "status": "failure"}``; a fault switch
  (``fail_next``), a live per-user rate limit (``set_rate_limit``), a request log.

The conventions chosen where the references are silent are listed on :class:`FakeServiceNow`.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import math
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from . import snquery
from .base import Handler, RetryFakeServer, seconds
from .base import RecordedRequest as _RecordedRequest
from .base import RetryFault as Fault
from .base import json_response as _json

__all__ = [
    "DEFAULT_INCIDENT_STATES",
    "DEFAULT_SIR_STATES",
    "PRIORITIES",
    "PRIORITY_MATRIX",
    "Choice",
    "Column",
    "FakeServiceNow",
    "Fault",
    "Ignored",
    "OAuthClient",
    "RecordedRequest",
    "Table",
    "Token",
    "User",
    "sn_time",
]

Record = dict[str, str]

NOT_FOUND = ("No Record found", "Record doesn't exist or ACL restricts the record retrieval")
NOT_FOUND_V1 = (
    "No Record found",
    "Records matching query not found. Check query parameter or offset parameter",
)
NOT_AUTHENTICATED = ("User Not Authenticated", "Required to provide Auth information")
ACL_FAILED = "Operation Failed"
ACL_DETAIL = "ACL Exception {} Failed due to security constraints"
BAD_URI = "Requested URI does not represent any resource"
RATE_LIMITED = "Rate limit exceeded"
RATE_DETAIL = "Rate limit of {} requests per hour for Table API exceeded"

DEFAULT_INCIDENT_STATES = (
    ("1", "New"),
    ("2", "In Progress"),
    ("3", "On Hold"),
    ("6", "Resolved"),
    ("7", "Closed"),
    ("8", "Canceled"),
)
DEFAULT_SIR_STATES = (
    ("10", "Draft"),
    ("16", "Analysis"),
    ("18", "Contain"),
    ("19", "Eradicate"),
    ("20", "Recover"),
    ("100", "Review"),
    ("3", "Closed"),
    ("7", "Cancelled"),
)
TASK_STATES = (
    ("-5", "Pending"),
    ("1", "Open"),
    ("2", "Work in Progress"),
    ("3", "Closed Complete"),
    ("4", "Closed Incomplete"),
    ("7", "Closed Skipped"),
)
PRIORITIES = (
    ("1", "1 - Critical"),
    ("2", "2 - High"),
    ("3", "3 - Moderate"),
    ("4", "4 - Low"),
    ("5", "5 - Planning"),
)
IMPACTS = (("1", "1 - High"), ("2", "2 - Medium"), ("3", "3 - Low"))
URGENCIES = IMPACTS
# impact x urgency → priority (PROVIDERS.md §2, from ServiceNow's priority lookup rules).
PRIORITY_MATRIX = {
    ("1", "1"): "1",
    ("1", "2"): "2",
    ("1", "3"): "3",
    ("2", "1"): "2",
    ("2", "2"): "3",
    ("2", "3"): "4",
    ("3", "1"): "3",
    ("3", "2"): "4",
    ("3", "3"): "5",
}
INCIDENT_CATEGORIES = (
    ("inquiry", "Inquiry / Help"),
    ("software", "Software"),
    ("hardware", "Hardware"),
    ("network", "Network"),
    ("database", "Database"),
)
SIR_CATEGORIES = (
    ("malware", "Malware"),
    ("phishing", "Phishing"),
    ("unauthorized_access", "Unauthorized access"),
    ("denial_of_service", "Denial of service"),
)
BUSINESS_CRITICALITY = (
    ("1", "1 - Critical"),
    ("2", "2 - High"),
    ("3", "3 - Medium"),
    ("4", "4 - Low"),
)
JOURNAL_TYPES = {"journal_input", "journal"}
NUMBER_TYPES = {"integer", "decimal", "float", "longint"}
DATE_TYPES = {"glide_date_time", "glide_date"}
META_TABLES = ("sys_db_object", "sys_dictionary", "sys_choice", "sys_user")
STANDARD_FORMAT = "%Y-%m-%d %H:%M:%S"
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def sn_time(when: datetime) -> str:
    """ServiceNow's stored date-time: UTC ``YYYY-MM-DD HH:MM:SS``."""
    return when.astimezone(UTC).strftime(STANDARD_FORMAT)


def _sys_id(seed: str | None = None) -> str:
    if seed is None:
        return uuid.uuid4().hex
    return uuid.uuid5(uuid.NAMESPACE_URL, "servicenow-fake:" + seed).hex


# -- model ------------------------------------------------------------------------------


@dataclass
class Column:
    table: str  # the table that defines it
    element: str
    label: str
    type: str  # sys_dictionary internal_type: string, integer, boolean, reference, ...
    reference: str = ""  # referenced table for type "reference"
    reference_key: str = "sys_id"  # "name" for sys_dictionary's name-keyed references
    max_length: int = 40
    mandatory: bool = False
    read_only: bool = False
    display: bool = False  # the table's display column
    choice: int = 0  # 0 none, 1 dropdown with -- None --, 3 dropdown without
    default: str = ""
    sys_id: str = ""

    def __post_init__(self) -> None:
        if not self.sys_id:
            self.sys_id = _sys_id(f"dict:{self.table}.{self.element}")

    @property
    def kind(self) -> str:
        if self.type in NUMBER_TYPES:
            return "number"
        if self.type == "boolean":
            return "boolean"
        if self.type in DATE_TYPES:
            return "datetime"
        if self.type == "reference":
            return "reference"
        return "string"


@dataclass
class Choice:
    table: str  # sys_choice.name
    element: str
    value: str
    label: str
    sequence: int = 0
    inactive: bool = False
    sys_id: str = ""

    def __post_init__(self) -> None:
        if not self.sys_id:
            self.sys_id = _sys_id(f"choice:{self.table}.{self.element}={self.value}")


@dataclass
class Table:
    name: str
    label: str
    super_class: str | None = None
    prefix: str | None = None  # number prefix; None: inherit
    default_state: str | None = None
    closed_states: frozenset[str] | None = None  # None: inherit
    resolved_states: frozenset[str] | None = None
    write_roles: frozenset[str] | None = None  # None: inherit; admin may always write
    api_writable: bool = True  # False: metadata tables, 403 on any write
    sys_id: str = ""

    def __post_init__(self) -> None:
        if not self.sys_id:
            self.sys_id = _sys_id(f"table:{self.name}")


@dataclass
class User:
    sys_id: str
    user_name: str
    name: str
    email: str
    password: str | None  # None: cannot log in
    roles: set[str]
    time_zone: str = "UTC"
    date_format: str = STANDARD_FORMAT  # strftime format for date-time display values
    active: bool = True

    @property
    def first_name(self) -> str:
        return self.name.split(" ", 1)[0]

    @property
    def last_name(self) -> str:
        return self.name.split(" ", 1)[1] if " " in self.name else ""


@dataclass
class OAuthClient:
    client_id: str
    client_secret: str
    user_name: str  # whom a client_credentials token acts as
    lifetime: int = 1800  # seconds (ServiceNow's default access token lifespan)


@dataclass
class Token:
    access_token: str
    user_name: str
    client_id: str
    scope: str
    expires_at: datetime
    refresh_token: str | None = None


@dataclass
class Ignored:
    """A field ServiceNow would silently ignore, noted for tests."""

    where: str  # "query" | "body" | "fields" | "orderby"
    table: str
    name: str
    reason: str = "unknown field"


@dataclass
class RateLimit:
    limit: int
    window: float
    rule_sys_id: str
    counts: dict[str, int] = field(default_factory=dict)
    window_start: datetime | None = None


@dataclass
class RecordedRequest(_RecordedRequest):
    form: dict[str, str] | None = None
    body: bytes = b""
    user: str | None = None  # who it authenticated as


class SnError(Exception):
    """Raised inside handlers; becomes ServiceNow's error body."""

    def __init__(self, status: int, message: str, detail: str | None = None) -> None:
        super().__init__(status, message, detail)
        self.status = status
        self.message = message
        self.detail = detail


class _Unparsable:
    pass


_UNPARSABLE = _Unparsable()
# What the middleware learnt about a request, for its handler.
BODY_KEY = web.RequestKey("servicenow_body", object)
FORM_KEY = web.RequestKey("servicenow_form", dict)
RAW_KEY = web.RequestKey("servicenow_raw", bytes)
USER_KEY = web.RequestKey("servicenow_user", User)


def _error_body(message: str, detail: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "detail": detail}, "status": "failure"}


def _flag(params: Mapping[str, str], name: str) -> bool:
    return params.get(name, "").strip().lower() == "true"


def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SnError(400, f"Invalid value for {name}: {raw}", None) from None


DEFAULT_USERS: tuple[tuple[str, str | None, str, set[str], str, str], ...] = (
    ("admin", "admin-pass", "System Administrator", {"admin"}, "America/Los_Angeles", "us"),
    ("itil", "itil-pass", "ITIL User", {"itil"}, "UTC", "iso"),
    ("reader", "reader-pass", "Read Only", {"snc_read_only"}, "Europe/Berlin", "de"),
    ("abel.tuter", None, "Abel Tuter", {"itil"}, "UTC", "iso"),
    ("beth.anglin", None, "Beth Anglin", {"itil"}, "UTC", "iso"),
    ("david.miller", None, "David Miller", set(), "UTC", "iso"),
)
DATE_FORMATS = {
    "iso": STANDARD_FORMAT,
    "us": "%m/%d/%Y %I:%M:%S %p",
    "de": "%d.%m.%Y %H:%M:%S",
}


class FakeServiceNow(RetryFakeServer[Fault, RecordedRequest]):
    """A fake ServiceNow instance. ``async with FakeServiceNow() as sn`` starts it.

    Conventions where the references are silent (check a plugin against these):

    - ``!=``/``NOT IN``/``NOT LIKE`` skip empty values (boolean ``!=`` excepted), see
      ``snquery``; ``=`` is case-sensitive, ``LIKE`` and friends are not.
    - A query without ORDERBY returns records in insertion order (a real instance
      promises no order: page with an ORDERBY).
    - ``acl_hidden`` sys_ids are hidden from every user, admin included: they count in
      ``X-Total-Count`` and take room in the ``sysparm_limit`` window (the limit is
      applied before ACLs, as documented) but are left out of ``result``; GET/PATCH/DELETE
      of one answers 404.
    - ``Link`` is sent on every list answer (unless suppressed): ``first`` and ``last``
      always, ``prev`` when offset > 0, ``next`` when more rows exist. With
      ``sysparm_no_count=true`` there is no ``X-Total-Count`` and no ``last``, and ``next``
      is given whenever the window was full (so it may lead to an empty page).
    - ``/api/now/v1/table/{t}`` answers 404 when the page has no result; unversioned and
      v2 answer 200 ``{"result": []}``.
    - Reference values: ``{"link", "value"}``; with display values ``{"display_value",
      "link"}``; with ``all`` ``{"display_value", "link", "value"}``; empty ones ``""`` (or
      ``{"display_value": "", "value": ""}`` with ``all``); excluding links makes them plain
      strings (sys_id, or display value).
    - Display values: choice labels (looked up on the table, then the tables it extends:
      the first table with choices for the element wins), reference display columns,
      date-times in the user's time zone and format (admin: America/Los_Angeles,
      ``MM/DD/YYYY hh:mm:ss AM``), integers with thousands separators, ``sys_class_name`` as
      the table label, journal fields as the journal text (newest first).
    - Writes: unknown columns, ``sys_*`` columns and non-scalar values are ignored (noted
      in ``ignored_fields``). Strings longer than the column's max_length are truncated
      (noted, reason "truncated"). Without ``sysparm_input_display_value`` values are
      stored as given — a label in ``state`` or a name in a reference is stored verbatim
      (garbage, a dangling reference); with it, choice labels (case-insensitive) become
      values, reference display values become sys_ids (unknown: ignored, noted) and dates
      are read in the user's zone and format (or as ``YYYY-MM-DD HH:MM:SS`` in that zone).
      Dates without it must be ``YYYY-MM-DD HH:MM:SS`` or ``YYYY-MM-DD`` (UTC); anything
      else (ISO ``T``/``Z``) is ignored (noted). Mandatory columns are not enforced (only
      the UI enforces them).
    - Priority: when a write carries impact and/or urgency the priority is recomputed from
      the matrix (impact/urgency win over a priority in the same body); a priority written
      alone is stored as given. New task records default to impact 3, urgency 3.
    - State rules: entering a closed state (incident 7/8, SIR 3/7, task 3/4/7) sets
      ``closed_at`` (unless written) and ``active=false``; leaving it sets ``active=true``
      (closed_at is kept); entering incident Resolved (6) sets ``resolved_at``.
    - PUT behaves like PATCH (partial update). Metadata tables (sys_db_object,
      sys_dictionary, sys_choice, sys_user) answer 403 to writes, even for admin.
      ``sys_journal_field`` rows may be deleted by admin only.
    - ``sys_dictionary`` has one row per column defined *on* the table plus the table's
      own ``collection`` row (empty element); ``internal_type`` and ``reference`` are
      name-keyed references (``{"link": .../sys_glide_object/name=string, "value":
      "string"}``). ``sys_db_object.super_class`` references the parent by sys_id.
    - ``/oauth_token.do`` failures use the OAuth shape ``{"error": ..., "error_description":
      ...}`` (401 ``access_denied`` for bad client or user credentials, 400 for an
      unsupported grant); the Table API answers 401 with the ServiceNow body and
      ``WWW-Authenticate`` for a missing, wrong or expired credential.
    - ``fail_next(status=...)`` answers with ServiceNow's error body (429 adds
      ``Retry-After`` — ``retry_after`` seconds, default 1 — and
      ``X-RateLimit-Limit/Reset/Rule``).
    """

    fault_type = Fault
    record_type = RecordedRequest
    malformed_body = '{"result": [{"sys_id": "'

    def __init__(
        self,
        *,
        users: Iterable[tuple[str, str | None, str, set[str], str, str]] | None = DEFAULT_USERS,
        incident_states: Iterable[tuple[str, str]] = DEFAULT_INCIDENT_STATES,
        sir_states: Iterable[tuple[str, str]] = DEFAULT_SIR_STATES,
        sir_closed_states: Iterable[str] = ("3", "7"),
        sir_default_state: str = "10",
        token_lifetime: int = 1800,
        clock: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(host)
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._skew = timedelta()
        self.token_lifetime = token_lifetime

        self.tables: dict[str, Table] = {}
        self.columns: dict[str, dict[str, Column]] = {}  # table → own columns, in order
        self.choices: list[Choice] = []
        self.users: dict[str, User] = {}  # by user_name
        self.records: dict[
            str, Record
        ] = {}  # stored records by sys_id (incl. journal, attachments)
        self.attachment_data: dict[str, bytes] = {}
        self.oauth_clients: dict[str, OAuthClient] = {}
        self.tokens: dict[str, Token] = {}
        self.refresh_tokens: dict[str, Token] = {}

        self.acl_hidden: set[str] = set()
        self.ignored_fields: list[Ignored] = []
        self.rate_limit: RateLimit | None = None

        self._numbers: dict[str, itertools.count[int]] = {}
        self._created = sn_time(EPOCH)

        self._define_schema(list(incident_states), list(sir_states), sir_closed_states)
        self.tables["sn_si_incident"].default_state = sir_default_state
        for user_name, password, name, roles, tz, fmt in users or ():
            self.add_user(
                user_name,
                password,
                name=name,
                roles=roles,
                time_zone=tz,
                date_format=DATE_FORMATS.get(fmt, fmt),
            )
        self.add_oauth_client("fake-client-id", "fake-client-secret", user_name="admin")

        self.app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024**2)
        self._routes()

    # -- schema ---------------------------------------------------------------------------

    def _define_schema(
        self,
        incident_states: list[tuple[str, str]],
        sir_states: list[tuple[str, str]],
        sir_closed: Iterable[str],
    ) -> None:
        C = Column
        self._table(Table("sys_db_object", "Table", api_writable=False))
        self._columns(
            "sys_db_object",
            C("sys_db_object", "sys_id", "Sys ID", "GUID", max_length=32),
            C("sys_db_object", "name", "Name", "string", max_length=80, display=True),
            C("sys_db_object", "label", "Label", "string", max_length=80),
            C("sys_db_object", "super_class", "Extends table", "reference", "sys_db_object"),
            C("sys_db_object", "is_extendable", "Extensible", "boolean"),
            *self._sys_columns("sys_db_object"),
        )
        self._table(Table("sys_dictionary", "Dictionary Entry", api_writable=False))
        self._columns(
            "sys_dictionary",
            C("sys_dictionary", "sys_id", "Sys ID", "GUID", max_length=32),
            C("sys_dictionary", "name", "Table", "string", max_length=80),
            C("sys_dictionary", "element", "Column name", "string", max_length=80),
            C("sys_dictionary", "column_label", "Column label", "string", max_length=80),
            C(
                "sys_dictionary",
                "internal_type",
                "Type",
                "reference",
                "sys_glide_object",
                reference_key="name",
            ),
            C(
                "sys_dictionary",
                "reference",
                "Reference",
                "reference",
                "sys_db_object",
                reference_key="name",
            ),
            C("sys_dictionary", "max_length", "Max length", "integer"),
            C("sys_dictionary", "mandatory", "Mandatory", "boolean"),
            C("sys_dictionary", "read_only", "Read only", "boolean"),
            C("sys_dictionary", "active", "Active", "boolean"),
            C("sys_dictionary", "choice", "Choice", "integer"),
            C("sys_dictionary", "default_value", "Default value", "string", max_length=512),
            C("sys_dictionary", "display", "Display", "boolean"),
            *self._sys_columns("sys_dictionary"),
        )
        self._table(Table("sys_choice", "Choice", api_writable=False))
        self._columns(
            "sys_choice",
            C("sys_choice", "sys_id", "Sys ID", "GUID", max_length=32),
            C("sys_choice", "name", "Table", "string", max_length=80),
            C("sys_choice", "element", "Element", "string", max_length=80),
            C("sys_choice", "value", "Value", "string"),
            C("sys_choice", "label", "Label", "string", max_length=100, display=True),
            C("sys_choice", "sequence", "Sequence", "integer"),
            C("sys_choice", "inactive", "Inactive", "boolean"),
            C("sys_choice", "language", "Language", "string"),
            C("sys_choice", "dependent_value", "Dependent value", "string"),
            *self._sys_columns("sys_choice"),
        )
        self._table(Table("sys_user", "User", api_writable=False))
        self._columns(
            "sys_user",
            C("sys_user", "sys_id", "Sys ID", "GUID", max_length=32),
            C("sys_user", "user_name", "User ID", "string", max_length=40),
            C("sys_user", "name", "Name", "string", max_length=151, display=True),
            C("sys_user", "first_name", "First name", "string", max_length=50),
            C("sys_user", "last_name", "Last name", "string", max_length=50),
            C("sys_user", "email", "Email", "string", max_length=100),
            C("sys_user", "active", "Active", "boolean"),
            C("sys_user", "time_zone", "Time zone", "string"),
            *self._sys_columns("sys_user"),
        )
        self._table(Table("sys_journal_field", "Journal Entry", api_writable=False))
        self._columns(
            "sys_journal_field",
            C("sys_journal_field", "sys_id", "Sys ID", "GUID", max_length=32),
            C("sys_journal_field", "element", "Element", "string"),
            C("sys_journal_field", "element_id", "Element ID", "GUID", max_length=32),
            C("sys_journal_field", "name", "Name", "string", max_length=80),
            C("sys_journal_field", "value", "Value", "string", max_length=4000, display=True),
            C("sys_journal_field", "sys_class_name", "Class", "sys_class_name", max_length=80),
            C("sys_journal_field", "sys_created_on", "Created", "glide_date_time"),
            C("sys_journal_field", "sys_created_by", "Created by", "string"),
        )
        self._table(Table("sys_attachment", "Attachment", api_writable=False))
        self._columns(
            "sys_attachment",
            C("sys_attachment", "sys_id", "Sys ID", "GUID", max_length=32),
            C("sys_attachment", "file_name", "File name", "string", max_length=100, display=True),
            C("sys_attachment", "content_type", "Content type", "string", max_length=100),
            C("sys_attachment", "size_bytes", "Size bytes", "string"),
            C("sys_attachment", "size_compressed", "Size compressed", "string"),
            C("sys_attachment", "compressed", "Compressed", "boolean"),
            C("sys_attachment", "table_name", "Table name", "string", max_length=80),
            C("sys_attachment", "table_sys_id", "Table sys ID", "string", max_length=32),
            *self._sys_columns("sys_attachment"),
        )

        self._table(
            Table(
                "task",
                "Task",
                prefix="TASK",
                default_state="1",
                closed_states=frozenset({"3", "4", "7"}),
                resolved_states=frozenset(),
                write_roles=frozenset({"itil"}),
            )
        )
        self._columns(
            "task",
            C("task", "number", "Number", "string", display=True, read_only=True),
            C("task", "short_description", "Short description", "string", max_length=160),
            C("task", "description", "Description", "string", max_length=4000),
            C("task", "state", "State", "integer", choice=3, default="1"),
            C("task", "priority", "Priority", "integer", choice=1, default="5"),
            C("task", "impact", "Impact", "integer", choice=3, default="3"),
            C("task", "urgency", "Urgency", "integer", choice=3, default="3"),
            C("task", "active", "Active", "boolean", default="true"),
            C("task", "assigned_to", "Assigned to", "reference", "sys_user", max_length=32),
            C("task", "opened_by", "Opened by", "reference", "sys_user", max_length=32),
            C("task", "opened_at", "Opened", "glide_date_time"),
            C("task", "closed_at", "Closed", "glide_date_time"),
            C("task", "due_date", "Due date", "glide_date_time"),
            C("task", "parent", "Parent", "reference", "task", max_length=32),
            C("task", "comments", "Additional comments", "journal_input", max_length=4000),
            C("task", "work_notes", "Work notes", "journal_input", max_length=4000),
            C("task", "sys_id", "Sys ID", "GUID", max_length=32),
            *self._sys_columns("task"),
            C("task", "sys_mod_count", "Updates", "integer"),
        )
        self.columns["task"]["short_description"].mandatory = True
        self._choices("task", "state", TASK_STATES)
        self._choices("task", "priority", PRIORITIES)
        self._choices("task", "impact", IMPACTS)
        self._choices("task", "urgency", URGENCIES)

        self._table(
            Table(
                "incident",
                "Incident",
                super_class="task",
                prefix="INC",
                default_state=incident_states[0][0] if incident_states else "1",
                closed_states=frozenset({"7", "8"}),
                resolved_states=frozenset({"6"}),
            )
        )
        self._columns(
            "incident",
            C("incident", "caller_id", "Caller", "reference", "sys_user", max_length=32),
            C("incident", "category", "Category", "string", choice=1, default="inquiry"),
            C("incident", "subcategory", "Subcategory", "string"),
            C("incident", "resolved_at", "Resolved", "glide_date_time"),
        )
        self._choices("incident", "state", incident_states)
        self._choices("incident", "category", INCIDENT_CATEGORIES)

        self._table(
            Table(
                "sn_si_incident",
                "Security Incident",
                super_class="task",
                prefix="SIR",
                closed_states=frozenset(sir_closed),
                resolved_states=frozenset(),
                write_roles=frozenset({"sn_si.analyst"}),
            )
        )
        self._columns(
            "sn_si_incident",
            C("sn_si_incident", "category", "Category", "string", choice=1),
            C("sn_si_incident", "business_criticality", "Business criticality", "integer"),
            C("sn_si_incident", "risk_score", "Risk score", "integer"),
        )
        self.columns["sn_si_incident"]["business_criticality"].choice = 1
        self._choices("sn_si_incident", "state", sir_states)
        self._choices("sn_si_incident", "category", SIR_CATEGORIES)
        self._choices("sn_si_incident", "business_criticality", BUSINESS_CRITICALITY)

    @staticmethod
    def _sys_columns(table: str) -> tuple[Column, ...]:
        return (
            Column(table, "sys_class_name", "Class", "sys_class_name", max_length=80),
            Column(table, "sys_created_on", "Created", "glide_date_time"),
            Column(table, "sys_created_by", "Created by", "string"),
            Column(table, "sys_updated_on", "Updated", "glide_date_time"),
            Column(table, "sys_updated_by", "Updated by", "string"),
        )

    def _table(self, table: Table) -> Table:
        self.tables[table.name] = table
        self.columns.setdefault(table.name, {})
        return table

    def _columns(self, table: str, *columns: Column) -> None:
        for column in columns:
            self.columns[table][column.element] = column

    def _choices(self, table: str, element: str, values: Iterable[tuple[str, str]]) -> None:
        for seq, (value, label) in enumerate(values):
            self.choices.append(Choice(table, element, value, label, sequence=seq * 100))

    # -- setup ----------------------------------------------------------------------------

    def add_user(
        self,
        user_name: str,
        password: str | None = None,
        *,
        name: str | None = None,
        email: str | None = None,
        roles: Iterable[str] = ("itil",),
        time_zone: str = "UTC",
        date_format: str = STANDARD_FORMAT,
        sys_id: str | None = None,
    ) -> User:
        """A sys_user row; with a password it can log in (Basic or OAuth password grant)."""
        user = User(
            sys_id=sys_id or _sys_id(f"user:{user_name}"),
            user_name=user_name,
            name=name or user_name.replace(".", " ").title(),
            email=email or f"{user_name}@example.com",
            password=password,
            roles=set(roles),
            time_zone=time_zone,
            date_format=DATE_FORMATS.get(date_format, date_format),
        )
        self.users[user_name] = user
        return user

    def user(self, user_name: str) -> User:
        return self.users[user_name]

    def add_oauth_client(
        self, client_id: str, client_secret: str, *, user_name: str = "admin", lifetime: int = 0
    ) -> OAuthClient:
        client = OAuthClient(client_id, client_secret, user_name, lifetime or self.token_lifetime)
        self.oauth_clients[client_id] = client
        return client

    def issue_token(self, user_name: str = "admin", *, lifetime: int | None = None) -> str:
        """A Bearer token for a user without the HTTP round trip."""
        return self._new_token(
            user_name, "fake-client-id", "useraccount", lifetime or self.token_lifetime
        ).access_token

    def expire_tokens(self) -> None:
        """Every access token issued so far expires now (refresh tokens still work)."""
        past = self.now() - timedelta(seconds=1)
        for token in self.tokens.values():
            token.expires_at = past

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward (tokens, rate-limit windows, timestamps)."""
        self._skew += timedelta(seconds=seconds)

    def now(self) -> datetime:
        return self.clock() + self._skew

    def add_table(
        self,
        name: str,
        *,
        extends: str | None = "incident",
        label: str | None = None,
        fields: Mapping[str, str | Mapping[str, Any]] | None = None,
        prefix: str | None = None,
    ) -> Table:
        """A table extending another (default ``incident``); ``fields`` maps column → type,
        or column → keyword arguments of :meth:`add_column`."""
        if extends is not None and extends not in self.tables:
            raise KeyError(extends)
        table = self._table(
            Table(name, label or name.replace("_", " ").title(), super_class=extends, prefix=prefix)
        )
        if extends is None:
            self._columns(
                name,
                Column(name, "sys_id", "Sys ID", "GUID", max_length=32),
                *self._sys_columns(name),
            )
        for column, spec in (fields or {}).items():
            if isinstance(spec, str):
                self.add_column(name, column, spec)
            else:
                self.add_column(name, column, **dict(spec))
        return table

    def add_column(
        self,
        table: str,
        name: str,
        type: str = "string",
        label: str | None = None,
        choices: Iterable[tuple[str, str]] | Mapping[str, str] | None = None,
        *,
        reference: str = "",
        max_length: int | None = None,
        mandatory: bool = False,
        default: str = "",
    ) -> Column:
        """A column (``u_*`` by convention) on a table; ``choices`` (value, label) fill
        sys_choice for it on that table."""
        if table not in self.tables:
            raise KeyError(table)
        pairs = list(choices.items() if isinstance(choices, Mapping) else choices or ())
        column = Column(
            table,
            name,
            label or name.removeprefix("u_").replace("_", " ").capitalize(),
            type,
            reference=reference,
            max_length=max_length or (32 if type == "reference" else 40),
            mandatory=mandatory,
            choice=1 if pairs else 0,
            default=default,
        )
        self.columns[table][name] = column
        if pairs:
            self._choices(table, name, pairs)
        return column

    def add_choice(
        self,
        table: str,
        element: str,
        value: str,
        label: str,
        *,
        sequence: int | None = None,
        inactive: bool = False,
    ) -> Choice:
        choice = Choice(
            table,
            element,
            value,
            label,
            sequence=sequence if sequence is not None else 100 * len(self.choices),
            inactive=inactive,
        )
        self.choices.append(choice)
        return choice

    def auth_header(self, user_name: str = "admin") -> dict[str, str]:
        """``Authorization: Basic`` for a configured user."""
        user = self.users[user_name]
        raw = f"{user.user_name}:{user.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def bearer_header(self, user_name: str = "admin") -> dict[str, str]:
        return {"Authorization": "Bearer " + self.issue_token(user_name)}

    def set_rate_limit(self, limit: int, *, window: float = 3600.0) -> RateLimit:
        """A live rule: each user may make ``limit`` API requests per ``window`` seconds;
        beyond that 429 with Retry-After until the window ends (see :meth:`advance`)."""
        self.rate_limit = RateLimit(limit, window, _sys_id(f"rate:{limit}:{window}"))
        return self.rate_limit

    def clear_rate_limit(self) -> None:
        self.rate_limit = None

    def seed(
        self,
        table: str = "incident",
        *,
        as_user: str = "admin",
        created: datetime | None = None,
        **fields: Any,
    ) -> Record:
        """Insert a record without HTTP, through the same rules as ``POST`` (raw values).
        ``created`` backdates sys_created_on/sys_updated_on/opened_at (and journal rows)."""
        when = created or self.now()
        return self._insert(self.tables[table], fields, self.users[as_user], False, when)

    def record(self, sys_id: str) -> Record:
        return self.records[sys_id]

    def records_of(self, table: str) -> list[Record]:
        return list(self._rows(table))

    def journal(self, sys_id: str, element: str | None = None) -> list[Record]:
        """Journal rows of a record, oldest first."""
        return [
            r
            for r in self.records.values()
            if r["sys_class_name"] == "sys_journal_field"
            and r["element_id"] == sys_id
            and (element is None or r["element"] == element)
        ]

    def ui_link(self, table: str, sys_id: str) -> str:
        """The record's form URL as an instance shows it (not served by the fake)."""
        return f"{self.url}/{table}.do?sys_id={sys_id}"

    # -- schema helpers -------------------------------------------------------------------

    def chain(self, table: str) -> list[str]:
        """The table and the tables it extends, nearest first (``incident``, ``task``)."""
        out: list[str] = []
        current: str | None = table
        while current is not None and current in self.tables and current not in out:
            out.append(current)
            current = self.tables[current].super_class
        return out

    def _is_a(self, cls: str, table: str) -> bool:
        return table in self.chain(cls)

    def column(self, table: str, element: str) -> Column | None:
        for name in self.chain(table):
            found = self.columns.get(name, {}).get(element)
            if found is not None:
                return found
        return None

    def columns_of(self, table: str) -> list[Column]:
        """Every column of a table, inherited ones included (the root's first)."""
        seen: dict[str, Column] = {}
        for name in reversed(self.chain(table)):
            for element, column in self.columns.get(name, {}).items():
                seen[element] = column
        return list(seen.values())

    def _inherit(self, table: str, attr: str) -> Any:
        for name in self.chain(table):
            value = getattr(self.tables[name], attr)
            if value is not None:
                return value
        return None

    def choices_for(self, table: str, element: str) -> list[Choice]:
        """Choices of a column: the nearest table in the chain that has any wins."""
        for name in self.chain(table):
            found = [c for c in self.choices if c.table == name and c.element == element]
            if found:
                return sorted(found, key=lambda c: c.sequence)
        return []

    def _display_column(self, table: str) -> Column | None:
        for column in self.columns_of(table):
            if column.display:
                return column
        return None

    # -- rows -----------------------------------------------------------------------------

    def _meta_rows(self, table: str) -> Iterator[Record]:
        stamp = {"sys_created_on": self._created, "sys_updated_on": self._created}
        sys = {"sys_created_by": "system", "sys_updated_by": "system"}
        if table == "sys_db_object":
            for t in self.tables.values():
                parent = self.tables.get(t.super_class) if t.super_class else None
                yield {
                    "sys_id": t.sys_id,
                    "name": t.name,
                    "label": t.label,
                    "super_class": parent.sys_id if parent else "",
                    "is_extendable": "true",
                    "sys_class_name": "sys_db_object",
                    **stamp,
                    **sys,
                }
        elif table == "sys_dictionary":
            for t in self.tables.values():
                yield {
                    "sys_id": _sys_id(f"dict:{t.name}"),
                    "name": t.name,
                    "element": "",
                    "column_label": t.label,
                    "internal_type": "collection",
                    "reference": "",
                    "max_length": "40",
                    "mandatory": "false",
                    "read_only": "false",
                    "active": "true",
                    "choice": "",
                    "default_value": "",
                    "display": "false",
                    "sys_class_name": "sys_dictionary",
                    **stamp,
                    **sys,
                }
                for c in self.columns[t.name].values():
                    yield {
                        "sys_id": c.sys_id,
                        "name": t.name,
                        "element": c.element,
                        "column_label": c.label,
                        "internal_type": c.type,
                        "reference": c.reference,
                        "max_length": str(c.max_length),
                        "mandatory": str(c.mandatory).lower(),
                        "read_only": str(c.read_only).lower(),
                        "active": "true",
                        "choice": str(c.choice) if c.choice else "",
                        "default_value": c.default,
                        "display": str(c.display).lower(),
                        "sys_class_name": "sys_dictionary",
                        **stamp,
                        **sys,
                    }
        elif table == "sys_choice":
            for ch in self.choices:
                yield {
                    "sys_id": ch.sys_id,
                    "name": ch.table,
                    "element": ch.element,
                    "value": ch.value,
                    "label": ch.label,
                    "sequence": str(ch.sequence),
                    "inactive": str(ch.inactive).lower(),
                    "language": "en",
                    "dependent_value": "",
                    "sys_class_name": "sys_choice",
                    **stamp,
                    **sys,
                }
        elif table == "sys_user":
            for u in self.users.values():
                yield {
                    "sys_id": u.sys_id,
                    "user_name": u.user_name,
                    "name": u.name,
                    "first_name": u.first_name,
                    "last_name": u.last_name,
                    "email": u.email,
                    "active": str(u.active).lower(),
                    "time_zone": u.time_zone,
                    "sys_class_name": "sys_user",
                    **stamp,
                    **sys,
                }

    def _rows(self, table: str) -> Iterator[Record]:
        if table in META_TABLES:
            yield from self._meta_rows(table)
            return
        for record in self.records.values():
            if self._is_a(record["sys_class_name"], table):
                yield record

    def _find(self, table: str, sys_id: str) -> Record | None:
        if not sys_id:
            return None
        if table in META_TABLES:
            return next((r for r in self._meta_rows(table) if r["sys_id"] == sys_id), None)
        record = self.records.get(sys_id)
        if record is None or not self._is_a(record["sys_class_name"], table):
            return None
        return record

    def _find_by_key(self, table: str, key: str, value: str) -> Record | None:
        if key == "sys_id":
            return self._find(table, value)
        return next((r for r in self._rows(table) if r.get(key) == value), None)

    # -- display values -------------------------------------------------------------------

    def _local(self, raw: str, user: User, date_only: bool = False) -> str:
        if date_only:
            try:
                day = datetime.strptime(raw[:10], "%Y-%m-%d")
            except ValueError:
                return raw
            return day.strftime(user.date_format.split(" ", 1)[0])
        try:
            when = datetime.strptime(raw, STANDARD_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            try:
                when = datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
            except ValueError:
                return raw
        return when.astimezone(ZoneInfo(user.time_zone)).strftime(user.date_format)

    def _journal_text(self, sys_id: str, element: str, user: User) -> str:
        label = "Additional comments" if element == "comments" else "Work notes"
        entries = []
        for row in reversed(self.journal(sys_id, element)):
            who = self.users.get(row["sys_created_by"])
            name = who.name if who else row["sys_created_by"]
            when = self._local(row["sys_created_on"], user)
            entries.append(f"{when} - {name} ({label})\n{row['value']}\n\n")
        return "".join(entries)

    def display_value(self, table: str, column: Column, record: Record, user: User) -> str:
        raw = record.get(column.element, "")
        if column.type in JOURNAL_TYPES:
            return self._journal_text(record.get("sys_id", ""), column.element, user)
        if raw == "":
            return ""
        choices = self.choices_for(table, column.element)
        if choices:
            return next((c.label for c in choices if c.value == raw), raw)
        if column.type == "reference":
            if column.reference_key != "sys_id":
                return raw
            target = self._find(column.reference, raw)
            shown = self._display_column(column.reference)
            return target.get(shown.element, "") if target and shown else ""
        if column.type == "glide_date_time":
            return self._local(raw, user)
        if column.type == "glide_date":
            return self._local(raw, user, date_only=True)
        if column.type in NUMBER_TYPES:
            try:
                return f"{int(raw):,}"
            except ValueError:
                return raw
        if column.type == "sys_class_name":
            found = self.tables.get(raw)
            return found.label if found else raw
        return raw

    def _link(self, base: str, column: Column, raw: str) -> str:
        if column.reference_key != "sys_id":
            return f"{base}/api/now/table/{column.reference}/{column.reference_key}={raw}"
        return f"{base}/api/now/table/{column.reference}/{raw}"

    def _render_value(
        self,
        table: str,
        column: Column,
        record: Record,
        user: User,
        mode: str,
        exclude_link: bool,
        base: str,
    ) -> Any:
        raw = "" if column.type in JOURNAL_TYPES else record.get(column.element, "")
        if column.type == "reference":
            if raw == "":
                return {"display_value": "", "value": ""} if mode == "all" else ""
            link = None if exclude_link else self._link(base, column, raw)
            if mode == "false":
                return raw if link is None else {"link": link, "value": raw}
            shown = self.display_value(table, column, record, user)
            if mode == "true":
                return shown if link is None else {"display_value": shown, "link": link}
            out: dict[str, str] = {"display_value": shown}
            if link is not None:
                out["link"] = link
            out["value"] = raw
            return out
        if mode == "false":
            return raw
        shown = self.display_value(table, column, record, user)
        if mode == "true":
            return shown
        return {"display_value": shown, "value": raw}

    def _walk(self, table: str, path: str) -> list[Column] | None:
        """Columns along a dotted path (``assigned_to.user_name``), or None."""
        columns: list[Column] = []
        current = table
        parts = path.split(".")
        for i, part in enumerate(parts):
            column = self.column(current, part)
            if column is None:
                return None
            columns.append(column)
            if i < len(parts) - 1:
                if column.type != "reference" or column.reference not in self.tables:
                    return None
                current = column.reference
        return columns

    def _follow(self, columns: list[Column], record: Record | None) -> Record | None:
        """The record that holds the last column of a walked path."""
        for column in columns[:-1]:
            if record is None:
                return None
            record = self._find_by_key(
                column.reference, column.reference_key, record.get(column.element, "")
            )
        return record

    def render(
        self,
        table: str,
        record: Record,
        user: User,
        params: Mapping[str, str],
        base: str,
    ) -> dict[str, Any]:
        mode = params.get("sysparm_display_value", "false").strip().lower()
        if mode not in ("true", "false", "all"):
            mode = "false"
        exclude = _flag(params, "sysparm_exclude_reference_link")
        wanted = [f.strip() for f in params.get("sysparm_fields", "").split(",") if f.strip()]
        out: dict[str, Any] = {}
        if not wanted:
            for column in self.columns_of(table):
                out[column.element] = self._render_value(
                    table, column, record, user, mode, exclude, base
                )
            return out
        for path in wanted:
            columns = self._walk(table, path)
            if columns is None:
                self._ignore("fields", table, path)
                continue
            holder = self._follow(columns, record)
            last = columns[-1]
            holder_table = columns[-2].reference if len(columns) > 1 else table
            out[path] = self._render_value(
                holder_table, last, holder or {}, user, mode, exclude, base
            )
        return out

    def _ignore(self, where: str, table: str, name: str, reason: str = "unknown field") -> None:
        self.ignored_fields.append(Ignored(where, table, name, reason))

    # -- queries --------------------------------------------------------------------------

    def _spec(self, table: str, path: str, user: User) -> snquery.FieldSpec | None:
        columns = self._walk(table, path)
        if columns is None:
            return None
        last = columns[-1]
        holder_table = columns[-2].reference if len(columns) > 1 else table

        def get(record: Record) -> str:
            holder = self._follow(columns, record)
            if holder is None or last.type in JOURNAL_TYPES:
                return ""
            return holder.get(last.element, "")

        def display(record: Record) -> str:
            holder = self._follow(columns, record)
            return self.display_value(holder_table, last, holder, user) if holder else ""

        return snquery.FieldSpec(last.kind, get, display if last.type == "reference" else None)

    def query(self, table: str, encoded: str, user: User) -> snquery.Compiled:
        compiled = snquery.compile_query(encoded, lambda path: self._spec(table, path, user))
        for name in compiled.ignored:
            self._ignore("query", table, name)
        for term in compiled.invalid:
            self._ignore("query", table, term, "not a condition")
        return compiled

    # -- writes ---------------------------------------------------------------------------

    def _coerce(
        self, table: str, column: Column, text: str, user: User, display_input: bool
    ) -> str | None:
        """The stored value for a written one, or None when ServiceNow would ignore it."""
        if column.type == "reference":
            if not display_input or text == "":
                return text
            if self._find(column.reference, text) is not None:
                return text
            shown = self._display_column(column.reference)
            if shown is not None:
                matches = [r for r in self._rows(column.reference) if r.get(shown.element) == text]
                if matches:
                    return matches[0]["sys_id"]
            self._ignore("body", table, column.element, "no record with that display value")
            return None
        if column.type in DATE_TYPES:
            if text == "":
                return ""
            fmt = "%Y-%m-%d" if column.type == "glide_date" else STANDARD_FORMAT
            if display_input:
                zone = ZoneInfo(user.time_zone)
                formats = [user.date_format, STANDARD_FORMAT, "%Y-%m-%d"]
                if column.type == "glide_date":
                    formats = [user.date_format.split(" ", 1)[0], "%Y-%m-%d"]
                for candidate in formats:
                    try:
                        local = datetime.strptime(text, candidate)
                    except ValueError:
                        continue
                    if column.type == "glide_date":
                        return local.strftime(fmt)
                    return sn_time(local.replace(tzinfo=zone))
            else:
                for candidate in (STANDARD_FORMAT, "%Y-%m-%d"):
                    try:
                        return datetime.strptime(text, candidate).strftime(fmt)
                    except ValueError:
                        continue
            self._ignore("body", table, column.element, "not a date-time")
            return None
        if column.type == "boolean":
            return "true" if text.strip().lower() in ("true", "1") else "false"
        choices = self.choices_for(table, column.element)
        if choices:
            if display_input:
                for choice in choices:
                    if choice.label.lower() == text.lower():
                        return choice.value
            return text
        if column.type in NUMBER_TYPES and text != "":
            try:
                float(text)
            except ValueError:
                self._ignore("body", table, column.element, "not a number")
                return None
        if column.max_length and len(text) > column.max_length and column.kind == "string":
            self._ignore("body", table, column.element, f"truncated to {column.max_length}")
            return text[: column.max_length]
        return text

    def _changes(
        self, table: str, body: Mapping[str, Any], user: User, display_input: bool
    ) -> tuple[dict[str, str], list[tuple[str, str]]]:
        changes: dict[str, str] = {}
        journal: list[tuple[str, str]] = []
        for key, value in body.items():
            column = self.column(table, key)
            if column is None:
                self._ignore("body", table, key)
                continue
            if key.startswith("sys_"):
                self._ignore("body", table, key, "system field")
                continue
            if value is None:
                text = ""
            elif isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, int | float):
                text = str(value)
            elif isinstance(value, str):
                text = value
            else:
                self._ignore("body", table, key, "not a scalar")
                continue
            if column.type in JOURNAL_TYPES:
                if text.strip():
                    journal.append((key, text))
                continue
            stored = self._coerce(table, column, text, user, display_input)
            if stored is not None:
                changes[key] = stored
        return changes, journal

    def _rules(
        self,
        table: str,
        record: Record,
        changes: dict[str, str],
        before: Record,
        when: str,
    ) -> None:
        """Business rules of the task family, applied after ``changes`` were stored."""
        if not self._is_a(table, "task"):
            return
        if "impact" in changes or "urgency" in changes:
            key = (record.get("impact", ""), record.get("urgency", ""))
            if key in PRIORITY_MATRIX:
                record["priority"] = PRIORITY_MATRIX[key]
        closed = self._inherit(table, "closed_states") or frozenset()
        resolved = self._inherit(table, "resolved_states") or frozenset()
        state, old = record.get("state", ""), before.get("state", "")
        if state != old or not before:
            if state in closed:
                if "closed_at" not in changes and not record.get("closed_at"):
                    record["closed_at"] = when
                record["active"] = "false"
            elif old in closed:
                record["active"] = "true"
            if (
                state in resolved
                and self.column(table, "resolved_at") is not None
                and "resolved_at" not in changes
                and not record.get("resolved_at")
            ):
                record["resolved_at"] = when

    def _add_journal(
        self, table: str, record: Record, element: str, value: str, user: User, when: str
    ) -> Record:
        row = {
            "sys_id": _sys_id(),
            "element": element,
            "element_id": record["sys_id"],
            "name": table,
            "value": value,
            "sys_class_name": "sys_journal_field",
            "sys_created_on": when,
            "sys_created_by": user.user_name,
        }
        self.records[row["sys_id"]] = row
        return row

    def _next_number(self, table: str) -> str:
        prefix = self._inherit(table, "prefix") or table.upper()[:4]
        counter = self._numbers.setdefault(prefix, itertools.count(10001))
        return f"{prefix}{next(counter):07d}"

    def _insert(
        self,
        table: Table,
        body: Mapping[str, Any],
        user: User,
        display_input: bool,
        when_dt: datetime | None = None,
    ) -> Record:
        when = sn_time(when_dt or self.now())
        changes, journal = self._changes(table.name, body, user, display_input)
        record: Record = {c.element: c.default for c in self.columns_of(table.name)}
        record.update(
            sys_id=_sys_id(),
            sys_class_name=table.name,
            sys_created_on=when,
            sys_created_by=user.user_name,
            sys_updated_on=when,
            sys_updated_by=user.user_name,
        )
        if self._is_a(table.name, "task"):
            record.update(
                number=self._next_number(table.name),
                state=self._inherit(table.name, "default_state") or "1",
                opened_at=when,
                opened_by=user.sys_id,
                sys_mod_count="0",
            )
        record.update(changes)  # a priority written alone stands (no impact/urgency given)
        self._rules(table.name, record, changes, {}, when)
        self.records[record["sys_id"]] = record
        for element, value in journal:
            self._add_journal(table.name, record, element, value, user, when)
        return record

    def _update(
        self, table: str, record: Record, body: Mapping[str, Any], user: User, display_input: bool
    ) -> Record:
        when = sn_time(self.now())
        changes, journal = self._changes(table, body, user, display_input)
        before = dict(record)
        record.update(changes)
        self._rules(record["sys_class_name"], record, changes, before, when)
        if changes or journal:
            record["sys_updated_on"] = when
            record["sys_updated_by"] = user.user_name
            if "sys_mod_count" in record:
                record["sys_mod_count"] = str(int(record["sys_mod_count"] or 0) + 1)
        for element, value in journal:
            self._add_journal(record["sys_class_name"], record, element, value, user, when)
        return record

    # -- auth -----------------------------------------------------------------------------

    def _new_token(self, user_name: str, client_id: str, scope: str, lifetime: int) -> Token:
        token = Token(
            access_token=secrets.token_urlsafe(48),
            user_name=user_name,
            client_id=client_id,
            scope=scope,
            expires_at=self.now() + timedelta(seconds=lifetime),
            refresh_token=secrets.token_urlsafe(48),
        )
        self.tokens[token.access_token] = token
        assert token.refresh_token is not None
        self.refresh_tokens[token.refresh_token] = token
        return token

    def _authenticate(self, request: web.Request) -> User | None:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                raw = base64.b64decode(value.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            name, _, password = raw.partition(":")
            user = self.users.get(name)
            if (
                user is None
                or not user.active
                or user.password is None
                or not secrets.compare_digest(user.password, password)
            ):
                return None
            return user
        if scheme.lower() == "bearer":
            token = self.tokens.get(value.strip())
            if token is None or token.expires_at <= self.now():
                return None
            found = self.users.get(token.user_name)
            return found if found is not None and found.active else None
        return None

    def _can_write(self, user: User, table: str) -> bool:
        if not self.tables[table].api_writable:
            return False
        if "admin" in user.roles:
            return True
        roles = self._inherit(table, "write_roles") or frozenset()
        return bool(roles & user.roles)

    # -- plumbing -------------------------------------------------------------------------

    def _routes(self) -> None:
        r = self.app.router
        r.add_post("/oauth_token.do", self._token)
        for prefix in ("/api/now", "/api/now/v1", "/api/now/v2"):
            r.add_get(f"{prefix}/table/{{table}}", self._list)
            r.add_post(f"{prefix}/table/{{table}}", self._create)
            r.add_get(f"{prefix}/table/{{table}}/{{sys_id}}", self._get)
            r.add_patch(f"{prefix}/table/{{table}}/{{sys_id}}", self._patch)
            r.add_put(f"{prefix}/table/{{table}}/{{sys_id}}", self._patch)
            r.add_delete(f"{prefix}/table/{{table}}/{{sys_id}}", self._delete)
        for prefix in ("/api/now", "/api/now/v1"):
            r.add_post(f"{prefix}/attachment/file", self._upload)
            r.add_get(f"{prefix}/attachment", self._attachments)
            r.add_get(f"{prefix}/attachment/{{sys_id}}/file", self._download)
            r.add_get(f"{prefix}/attachment/{{sys_id}}", self._attachment_meta)
            r.add_delete(f"{prefix}/attachment/{{sys_id}}", self._delete_attachment)

    async def _serve(
        self, request: web.Request, handler: Handler, record: RecordedRequest
    ) -> web.StreamResponse:
        raw = await request.read() if request.body_exists else b""
        record.body = raw
        body: Any = None
        if request.content_type == "application/x-www-form-urlencoded":
            record.form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        elif raw and "/table/" in request.path:
            try:
                body = json.loads(raw)
            except ValueError:
                body = _UNPARSABLE
            record.json = None if body is _UNPARSABLE else body
        request[BODY_KEY] = body
        request[FORM_KEY] = record.form or {}
        request[RAW_KEY] = raw
        return await self._answer(request, handler, record)

    async def _answer(
        self, request: web.Request, handler: Handler, record: RecordedRequest
    ) -> web.StreamResponse:
        faulted = await self._fault_answer(request)
        if faulted is not None:
            return faulted
        api = request.path.startswith("/api/")
        limit_headers: dict[str, str] = {}
        if api:
            user = self._authenticate(request)
            if user is None:
                return _json(
                    _error_body(*NOT_AUTHENTICATED),
                    401,
                    {"WWW-Authenticate": 'BASIC realm="Service-now"'},
                )
            request[USER_KEY] = user
            record.user = user.user_name
            if self.rate_limit is not None:
                denied, limit_headers = self._count(user)
                if denied is not None:
                    return denied
            accept = request.headers.get("Accept", "")
            if (
                accept
                and not request.path.endswith("/file")
                and not any(t in accept for t in ("application/json", "*/*", "application/*"))
            ):
                return _json(
                    _error_body("Not acceptable", f"Cannot produce a response as {accept}"),
                    406,
                    limit_headers,
                )
        try:
            if request[BODY_KEY] is _UNPARSABLE:
                raise SnError(
                    400, "Exception while reading request", "The payload is not valid JSON."
                )
            response = await handler(request)
        except SnError as exc:
            response = _json(_error_body(exc.message, exc.detail), exc.status)
        except web.HTTPNotFound:
            response = _json(_error_body(BAD_URI, None), 400)
        except web.HTTPMethodNotAllowed:
            response = _json(
                _error_body("Method not Supported", "The HTTP method is not supported"), 405
            )
        for key, value in limit_headers.items():
            response.headers.setdefault(key, value)
        return response

    def _count(self, user: User) -> tuple[web.Response | None, dict[str, str]]:
        rule = self.rate_limit
        assert rule is not None
        now = self.now()
        if rule.window_start is None or now >= rule.window_start + timedelta(seconds=rule.window):
            rule.window_start = now
            rule.counts.clear()
        reset_at = rule.window_start + timedelta(seconds=rule.window)
        headers = {
            "X-RateLimit-Limit": str(rule.limit),
            "X-RateLimit-Reset": str(int(reset_at.timestamp())),
            "X-RateLimit-Rule": rule.rule_sys_id,
        }
        count = rule.counts.get(user.user_name, 0) + 1
        rule.counts[user.user_name] = count
        if count > rule.limit:
            wait = max(1, math.ceil((reset_at - now).total_seconds()))
            return _json(
                _error_body(RATE_LIMITED, RATE_DETAIL.format(rule.limit)),
                429,
                {**headers, "Retry-After": str(wait)},
            ), headers
        return None, headers

    def _fault_headers(self, fault: Fault, status: int, headers: dict[str, str]) -> None:
        retry = fault.retry_after
        if status == 429:
            retry = 1 if retry is None else retry
            reset_at = self.now() + timedelta(seconds=retry)
            headers.setdefault("X-RateLimit-Limit", "100")
            headers.setdefault("X-RateLimit-Reset", str(math.ceil(reset_at.timestamp())))
            headers.setdefault("X-RateLimit-Rule", _sys_id("rate:fault"))
        if retry is not None:
            headers.setdefault("Retry-After", seconds(retry))

    def _fault_error(self, status: int, headers: dict[str, str]) -> web.Response:
        detail: str | None = None
        if status == 429:
            message, detail = RATE_LIMITED, RATE_DETAIL.format(100)
        elif status == 500:
            message = "Internal server error"
        elif status == 503:
            message = "Service Unavailable"
        elif status == 401:
            message, detail = NOT_AUTHENTICATED
        elif status == 403:
            message, detail = ACL_FAILED, ACL_DETAIL.format("Read")
        elif status == 404:
            message, detail = NOT_FOUND
        else:
            message = f"Injected fault {status}"
        return _json(_error_body(message, detail), status, headers)

    @staticmethod
    def _base(request: web.Request) -> str:
        return f"{request.scheme}://{request.host}"

    def _table_of(self, request: web.Request) -> Table:
        name = request.match_info["table"]
        table = self.tables.get(name)
        if table is None:
            raise SnError(400, f"Invalid table {name}", None)
        return table

    def _visible(self, table: str, sys_id: str) -> Record:
        record = self._find(table, sys_id)
        if record is None or sys_id in self.acl_hidden:
            raise SnError(404, *NOT_FOUND)
        return record

    def _writable(self, request: web.Request, table: Table, action: str) -> User:
        user: User = request[USER_KEY]
        if not self._can_write(user, table.name):
            raise SnError(403, ACL_FAILED, ACL_DETAIL.format(action))
        return user

    def _object_body(self, request: web.Request) -> Mapping[str, Any]:
        body = request[BODY_KEY]
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise SnError(
                400, "Exception while reading request", "The payload is not a JSON object."
            )
        return body

    def _written(
        self, request: web.Request, table: str, record: Record, status: int
    ) -> web.Response:
        headers: dict[str, str] = {}
        if status == 201:
            headers["Location"] = f"{self._base(request)}/api/now/table/{table}/{record['sys_id']}"
        if request.headers.get("X-no-response-body", "").lower() == "true":
            return web.Response(status=status, headers=headers)
        data = self.render(table, record, request[USER_KEY], request.query, self._base(request))
        return _json({"result": data}, status, headers)

    # -- token endpoint -------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.StreamResponse:
        form: dict[str, str] = request[FORM_KEY]
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic ") and not client_id:
            try:
                raw = base64.b64decode(header[6:].strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raw = ""
            client_id, _, client_secret = raw.partition(":")

        def denied() -> web.Response:
            return _json({"error_description": "access_denied", "error": "server_error"}, 401)

        client = self.oauth_clients.get(client_id)
        if client is None or not secrets.compare_digest(client.client_secret, client_secret):
            return denied()
        grant = form.get("grant_type", "")
        scope = form.get("scope", "") or "useraccount"
        if grant == "client_credentials":
            user_name = client.user_name
        elif grant == "password":
            user = self.users.get(form.get("username", ""))
            if (
                user is None
                or user.password is None
                or not secrets.compare_digest(user.password, form.get("password", ""))
            ):
                return denied()
            user_name = user.user_name
        elif grant == "refresh_token":
            old = self.refresh_tokens.get(form.get("refresh_token", ""))
            if old is None or old.client_id != client.client_id:
                return denied()
            user_name, scope = old.user_name, old.scope
        else:
            return _json(
                {
                    "error_description": f"unsupported grant_type {grant!r}",
                    "error": "unsupported_grant_type",
                },
                400,
            )
        token = self._new_token(user_name, client.client_id, scope, client.lifetime)
        data: dict[str, Any] = {
            "access_token": token.access_token,
            "scope": token.scope,
            "token_type": "Bearer",
            "expires_in": client.lifetime,
        }
        if grant != "client_credentials":
            data["refresh_token"] = token.refresh_token
        return _json(data)

    # -- table API ------------------------------------------------------------------------

    async def _list(self, request: web.Request) -> web.StreamResponse:
        table = self._table_of(request)
        user: User = request[USER_KEY]
        params = request.query
        limit = _int_param(params, "sysparm_limit", 10000)
        offset = max(0, _int_param(params, "sysparm_offset", 0))
        if limit < 1:
            limit = 10000
        compiled = self.query(table.name, params.get("sysparm_query", ""), user)
        # name=value pairs filter too, unless sysparm_query is given (they are exclusive)
        pairs = [] if "sysparm_query" in params else list(params.items())
        pairs = [(k, v) for k, v in pairs if not k.startswith("sysparm_")]
        filters: list[Callable[[Record], bool]] = []
        for key, value in pairs:
            column = self.column(table.name, key)
            if column is None:
                self._ignore("query", table.name, key)
                continue
            filters.append(self._pair_filter(table.name, column, value, user))
        rows = [
            r
            for r in self._rows(table.name)
            if compiled.predicate(r) and all(f(r) for f in filters)
        ]
        matches = compiled.sort(rows)
        total = len(matches)
        window = matches[offset : offset + limit]
        base = self._base(request)
        result = [
            self.render(table.name, r, user, params, base)
            for r in window
            if r["sys_id"] not in self.acl_hidden
        ]
        no_count = _flag(params, "sysparm_no_count")
        headers: dict[str, str] = {}
        if not no_count:
            headers["X-Total-Count"] = str(total)
        if not _flag(params, "sysparm_suppress_pagination_header"):
            headers["Link"] = self._link_header(
                request, offset, limit, total, len(window), no_count
            )
        if request.path.startswith("/api/now/v1/") and not result:
            return _json(_error_body(*NOT_FOUND_V1), 404, headers)
        return _json({"result": result}, 200, headers)

    def _pair_filter(
        self, table: str, column: Column, value: str, user: User
    ) -> Callable[[Record], bool]:
        def test(record: Record) -> bool:
            raw = record.get(column.element, "")
            return raw == value or self.display_value(table, column, record, user) == value

        return test

    def _link_header(
        self,
        request: web.Request,
        offset: int,
        limit: int,
        total: int,
        window: int,
        no_count: bool,
    ) -> str:
        base = f"{self._base(request)}{request.path}"
        kept = [
            (k, v) for k, v in request.query.items() if k not in ("sysparm_offset", "sysparm_limit")
        ]

        def url(at: int) -> str:
            pairs = [*kept, ("sysparm_offset", str(at)), ("sysparm_limit", str(limit))]
            return f"<{base}?{urlencode(pairs, quote_via=quote)}>"

        links = [f'{url(0)};rel="first"']
        if offset > 0:
            links.append(f'{url(max(0, offset - limit))};rel="prev"')
        more = window == limit if no_count else offset + limit < total
        if more:
            links.append(f'{url(offset + limit)};rel="next"')
        if not no_count:
            last = max(0, (total - 1) // limit * limit) if total else 0
            links.append(f'{url(last)};rel="last"')
        return ",".join(links)

    async def _get(self, request: web.Request) -> web.StreamResponse:
        table = self._table_of(request)
        record = self._visible(table.name, request.match_info["sys_id"])
        data = self.render(
            table.name, record, request[USER_KEY], request.query, self._base(request)
        )
        return _json({"result": data})

    async def _create(self, request: web.Request) -> web.StreamResponse:
        table = self._table_of(request)
        user = self._writable(request, table, "Insert")
        body = self._object_body(request)
        display_input = _flag(request.query, "sysparm_input_display_value")
        record = self._insert(table, body, user, display_input)
        return self._written(request, table.name, record, 201)

    async def _patch(self, request: web.Request) -> web.StreamResponse:
        table = self._table_of(request)
        record = self._visible(table.name, request.match_info["sys_id"])
        user = self._writable(request, table, "Update")
        body = self._object_body(request)
        display_input = _flag(request.query, "sysparm_input_display_value")
        self._update(table.name, record, body, user, display_input)
        return self._written(request, table.name, record, 200)

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        table = self._table_of(request)
        record = self._visible(table.name, request.match_info["sys_id"])
        user: User = request[USER_KEY]
        allowed = (
            "admin" in user.roles
            if table.name == "sys_journal_field"
            else self._can_write(user, table.name)
        )
        if not allowed:
            raise SnError(403, ACL_FAILED, ACL_DETAIL.format("Delete"))
        del self.records[record["sys_id"]]
        self.attachment_data.pop(record["sys_id"], None)
        return web.Response(status=204)

    # -- attachment API -------------------------------------------------------------------

    def _attachment_json(self, row: Record, base: str) -> dict[str, str]:
        return {
            "table_sys_id": row["table_sys_id"],
            "size_bytes": row["size_bytes"],
            "download_link": f"{base}/api/now/attachment/{row['sys_id']}/file",
            "sys_updated_on": row["sys_updated_on"],
            "sys_id": row["sys_id"],
            "image_height": "",
            "sys_created_on": row["sys_created_on"],
            "file_name": row["file_name"],
            "sys_created_by": row["sys_created_by"],
            "compressed": row["compressed"],
            "average_image_color": "",
            "sys_updated_by": row["sys_updated_by"],
            "sys_tags": "",
            "table_name": row["table_name"],
            "image_width": "",
            "sys_mod_count": "0",
            "content_type": row["content_type"],
            "size_compressed": row["size_compressed"],
        }

    def _attachment(self, sys_id: str) -> Record:
        row = self._find("sys_attachment", sys_id)
        if row is None or row["table_sys_id"] in self.acl_hidden:
            raise SnError(404, *NOT_FOUND)
        return row

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        params = request.query
        for name in ("table_name", "table_sys_id", "file_name"):
            if not params.get(name):
                raise SnError(400, f"Missing parameter: {name}", None)
        if "Content-Type" not in request.headers:
            raise SnError(400, "Missing header: Content-Type", None)
        table = self.tables.get(params["table_name"])
        if table is None:
            raise SnError(400, f"Invalid table {params['table_name']}", None)
        target = self._find(table.name, params["table_sys_id"])
        if target is None or target["sys_id"] in self.acl_hidden:
            raise SnError(404, *NOT_FOUND)
        user = self._writable(request, table, "Insert")
        data: bytes = request[RAW_KEY]
        when = sn_time(self.now())
        row: Record = {
            "sys_id": _sys_id(),
            "file_name": params["file_name"],
            "content_type": request.headers["Content-Type"],
            "size_bytes": str(len(data)),
            "size_compressed": str(len(data)),
            "compressed": "false",
            "table_name": table.name,
            "table_sys_id": target["sys_id"],
            "sys_class_name": "sys_attachment",
            "sys_created_on": when,
            "sys_created_by": user.user_name,
            "sys_updated_on": when,
            "sys_updated_by": user.user_name,
        }
        self.records[row["sys_id"]] = row
        self.attachment_data[row["sys_id"]] = bytes(data)
        base = self._base(request)
        return _json(
            {"result": self._attachment_json(row, base)},
            201,
            {"Location": f"{base}/api/now/attachment/{row['sys_id']}"},
        )

    async def _attachments(self, request: web.Request) -> web.StreamResponse:
        params = request.query
        limit = _int_param(params, "sysparm_limit", 1000)
        offset = max(0, _int_param(params, "sysparm_offset", 0))
        compiled = self.query("sys_attachment", params.get("sysparm_query", ""), request[USER_KEY])
        rows = compiled.sort(
            r
            for r in self._rows("sys_attachment")
            if compiled.predicate(r) and r["table_sys_id"] not in self.acl_hidden
        )
        base = self._base(request)
        page = rows[offset : offset + max(1, limit)]
        return _json({"result": [self._attachment_json(r, base) for r in page]})

    async def _attachment_meta(self, request: web.Request) -> web.StreamResponse:
        row = self._attachment(request.match_info["sys_id"])
        return _json({"result": self._attachment_json(row, self._base(request))})

    async def _download(self, request: web.Request) -> web.StreamResponse:
        row = self._attachment(request.match_info["sys_id"])
        meta = self._attachment_json(row, self._base(request))
        return web.Response(
            body=self.attachment_data.get(row["sys_id"], b""),
            headers={
                "Content-Type": row["content_type"] or "application/octet-stream",
                "X-Attachment-Metadata": json.dumps(meta),
            },
        )

    async def _delete_attachment(self, request: web.Request) -> web.StreamResponse:
        row = self._attachment(request.match_info["sys_id"])
        table = self.tables.get(row["table_name"])
        if table is None or not self._can_write(request[USER_KEY], table.name):
            raise SnError(403, ACL_FAILED, ACL_DETAIL.format("Delete"))
        del self.records[row["sys_id"]]
        self.attachment_data.pop(row["sys_id"], None)
        return web.Response(status=204)
