"""An in-memory Jira Cloud (REST v3) on a real socket, for plugin tests.

Usage::

    async with FakeJira(spec=load_spec(SHARED / "specs/jira/swagger-v3.v3.json")) as jira:
        jira.url                     # http://127.0.0.1:<port>
        jira.add_user("carol@example.com", "carol-token", projects={"OPS"})
        jira.fail_next(status=429, retry_after=1)
        ...
        assert jira.violations == []  # the plugin spoke the published API

What it imitates is what a ticketing plugin touches: Basic auth, projects, fields and
create metadata, issues (create/get/edit/delete/transitions), enhanced JQL search
(``/rest/api/3/search/jql`` with ``nextPageToken``; the old ``/rest/api/3/search`` is 410),
comments, attachments (multipart upload, 303 to a media URL, streamed download), Jira's
error bodies, plus a fault switch and a request log. With a spec, every ``/rest/...``
request and JSON response is checked against it (see ``tests/fakes/spec.py``) and problems
are collected in ``violations``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import re
import secrets
import uuid
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import BodyPartReader, web

from . import jql
from .base import Handler, RecordedRequest, RetryFakeServer, SpecViolations, Violation, seconds
from .base import RetryFault as Fault
from .base import json_response as _json
from .spec import OpenAPISpec, load_spec

__all__ = [
    "DEFAULT_USERS",
    "Attachment",
    "Comment",
    "CustomField",
    "FakeJira",
    "Fault",
    "Issue",
    "Project",
    "RecordedRequest",
    "User",
    "Violation",
    "adf",
    "adf_text",
]

# Set by the middleware for the handler it calls (same task): who asks, and the JSON body.
_USER: ContextVar[User] = ContextVar("fake_jira_user")
_BODY: ContextVar[Any] = ContextVar("fake_jira_body")

NOT_FOUND_ISSUE = "Issue does not exist or you do not have permission to see it."
CANNOT_SET = "Field '{}' cannot be set. It is not on the appropriate screen, or unknown."
NOT_ADF = "Operation value must be an Atlassian Document (see the Atlassian Document Format)."
ISSUE_EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"
GONE_SEARCH = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at "
    "https://developer.atlassian.com/changelog/#CHANGE-2046"
)
UNBOUNDED = (
    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
)
# Operations the fake answers 410 on purpose: calling them is not recorded as a violation.
GONE = {("GET", "/rest/api/3/search"), ("POST", "/rest/api/3/search")}


# -- documents --------------------------------------------------------------------------


def adf(text: str) -> dict[str, Any]:
    """A minimal Atlassian Document: one paragraph per line of ``text``."""
    return {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": line}] if line else []}
            for line in text.split("\n")
        ],
    }


def adf_text(doc: Any) -> str:
    """The plain text of an Atlassian Document (paragraphs joined by newlines)."""
    if not isinstance(doc, dict):
        return ""
    if doc.get("type") == "text":
        return str(doc.get("text", ""))
    parts = [adf_text(child) for child in doc.get("content", []) or []]
    sep = "\n" if doc.get("type") in ("doc", "bulletList", "orderedList", "listItem") else ""
    return sep.join(parts)


def _is_adf(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("type") == "doc"
        and value.get("version") == 1
        and isinstance(value.get("content"), list)
        and all(isinstance(node, dict) and "type" in node for node in value["content"])
    )


def jira_time(when: datetime) -> str:
    """Jira's timestamp format: ``2024-09-30T12:26:34.123+0000``."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}+0000"


# -- model ------------------------------------------------------------------------------


@dataclass
class User:
    email: str
    token: str
    account_id: str
    display_name: str
    projects: set[str] | None = None  # project keys this user may use; None: all
    active: bool = True


@dataclass
class Project:
    id: str
    key: str
    name: str
    next_number: int = 1
    lead: str | None = None  # account id


@dataclass(frozen=True)
class IssueType:
    id: str
    name: str
    subtask: bool
    description: str
    hierarchy_level: int


@dataclass(frozen=True)
class Status:
    id: str
    name: str
    category_id: int
    category_key: str
    category_name: str
    color: str
    order: int


@dataclass(frozen=True)
class Priority:
    id: str
    name: str
    rank: int  # higher is more urgent


@dataclass(frozen=True)
class Transition:
    id: str
    name: str
    to: str  # status id


@dataclass
class CustomField:
    id: str  # customfield_10010
    name: str
    kind: str  # number | option | textarea | text | date
    options: list[tuple[str, str]] = field(default_factory=list)  # (id, value)

    @property
    def number(self) -> int:
        return int(self.id.rsplit("_", 1)[1])


@dataclass
class Comment:
    id: int
    issue_id: int
    author: str
    body: dict[str, Any]
    created: datetime
    updated: datetime
    update_author: str
    visibility: dict[str, Any] | None = None


@dataclass
class Attachment:
    id: int
    issue_id: int
    filename: str
    mime_type: str
    data: bytearray
    author: str
    created: datetime
    token: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class Issue:
    id: int
    key: str
    project: Project
    issuetype: IssueType
    summary: str
    status: Status
    reporter: str
    creator: str
    created: datetime
    updated: datetime
    status_changed: datetime
    description: dict[str, Any] | None = None
    priority: Priority | None = None
    assignee: str | None = None
    labels: list[str] = field(default_factory=list)
    duedate: date | None = None
    parent_id: int | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    resolved: datetime | None = None
    comments: list[Comment] = field(default_factory=list)
    attachments: list[int] = field(default_factory=list)

    @property
    def number(self) -> int:
        return int(self.key.rsplit("-", 1)[1])


class JiraError(Exception):
    """Raised inside handlers; becomes Jira's ``{errorMessages, errors}`` body."""

    def __init__(
        self,
        status: int,
        messages: Iterable[str] = (),
        errors: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, list(messages), errors)
        self.status = status
        self.messages = list(messages)
        self.errors = dict(errors or {})


def _account_id(email: str) -> str:
    return "712020:" + str(uuid.uuid5(uuid.NAMESPACE_URL, "mailto:" + email.lower()))


DEFAULT_USERS = (
    ("alice@example.com", "alice-token", "Alice Admin", None),
    ("bob@example.com", "bob-token", "Bob Builder", {"OPS"}),
)
DEFAULT_PROJECTS = (("OPS", "Operations"), ("SEC", "Security"))

ISSUE_TYPES = (
    IssueType("10001", "Task", False, "A small, distinct piece of work.", 0),
    IssueType("10002", "Bug", False, "A problem or error.", 0),
    IssueType("10003", "Sub-task", True, "A small piece of work that's part of a larger task.", -1),
)
STATUSES = (
    Status("10000", "To Do", 2, "new", "To Do", "blue-gray", 1),
    Status("3", "In Progress", 4, "indeterminate", "In Progress", "yellow", 2),
    Status("10001", "Done", 3, "done", "Done", "green", 3),
)
TRANSITIONS: dict[str, tuple[Transition, ...]] = {  # from status id → available transitions
    "10000": (Transition("21", "In Progress", "3"),),
    "3": (Transition("31", "Done", "10001"),),
    "10001": (Transition("11", "To Do", "10000"),),
}
PRIORITIES = (
    Priority("1", "Highest", 5),
    Priority("2", "High", 4),
    Priority("3", "Medium", 3),
    Priority("4", "Low", 2),
    Priority("5", "Lowest", 1),
)
DEFAULT_PRIORITY = "3"
CUSTOM_FIELDS = (
    CustomField("customfield_10010", "Effort", "number"),
    CustomField(
        "customfield_10011",
        "Team",
        "option",
        [("10100", "Platform"), ("10101", "Security"), ("10102", "Support")],
    ),
    CustomField("customfield_10012", "Notes", "textarea"),
)
CUSTOM_TYPES = {
    "number": ("number", "com.atlassian.jira.plugin.system.customfieldtypes:float"),
    "option": ("option", "com.atlassian.jira.plugin.system.customfieldtypes:select"),
    "textarea": ("string", "com.atlassian.jira.plugin.system.customfieldtypes:textarea"),
    "text": ("string", "com.atlassian.jira.plugin.system.customfieldtypes:textfield"),
    "date": ("date", "com.atlassian.jira.plugin.system.customfieldtypes:datepicker"),
}


@dataclass(frozen=True)
class SystemField:
    id: str
    name: str
    type: str | None  # JsonTypeBean.type; None: no schema (parent)
    clauses: tuple[str, ...]
    items: str | None = None
    navigable: bool = True
    orderable: bool = True

    @property
    def schema(self) -> dict[str, Any] | None:
        if self.type is None:
            return None
        schema: dict[str, Any] = {"type": self.type, "system": self.id}
        if self.items:
            schema["items"] = self.items
        return schema


SF = SystemField
SYSTEM_FIELDS = (
    SF("summary", "Summary", "string", ("summary",)),
    SF("description", "Description", "string", ("description",)),
    SF("status", "Status", "status", ("status",), orderable=False),
    SF("priority", "Priority", "priority", ("priority",)),
    SF("assignee", "Assignee", "user", ("assignee",)),
    SF("reporter", "Reporter", "user", ("reporter",)),
    SF("creator", "Creator", "user", ("creator",), orderable=False),
    SF("project", "Project", "project", ("project",), orderable=False),
    SF("issuetype", "Issue Type", "issuetype", ("issuetype", "type")),
    SF("labels", "Labels", "array", ("labels",), items="string"),
    SF("duedate", "Due date", "date", ("due", "duedate")),
    SF("created", "Created", "datetime", ("created", "createdDate"), orderable=False),
    SF("updated", "Updated", "datetime", ("updated", "updatedDate"), orderable=False),
    SF("resolution", "Resolution", "resolution", ("resolution",)),
    SF("resolutiondate", "Resolved", "datetime", ("resolved", "resolutiondate"), orderable=False),
    SF(
        "statuscategorychangedate",
        "Status Category Changed",
        "datetime",
        ("statusCategoryChangedDate",),
        orderable=False,
    ),
    SF("parent", "Parent", None, ("parent",)),
    SF("subtasks", "Sub-tasks", "array", ("subtasks",), items="issuelinks", orderable=False),
    SF("attachment", "Attachment", "array", ("attachments",), items="attachment", navigable=False),
    SF("comment", "Comment", "comments-page", ("comment",), navigable=False),
)
_KEY_RE = re.compile(r"([A-Za-z][A-Za-z0-9_]*)-(\d+)")
_LABEL_BAD = re.compile(r"\s")


def _error_body(
    messages: Iterable[str] = (), errors: dict[str, str] | None = None
) -> dict[str, Any]:
    return {"errorMessages": list(messages), "errors": dict(errors or {})}


def _fields_param(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        if isinstance(value, str):
            out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


class FakeJira(SpecViolations, RetryFakeServer[Fault, RecordedRequest]):
    """A fake Jira Cloud site. ``async with FakeJira(...) as jira`` starts it.

    ``fail_next(status=...)`` answers with a Jira error body (429 adds ``Retry-After`` —
    ``retry_after`` seconds, default 1 — and the ``X-RateLimit-*`` headers).
    """

    fault_type = Fault
    record_type = RecordedRequest
    malformed_body = '{"issues": [{"id": "100'
    violations_are = "request(s)/response(s) drift from the Jira OpenAPI description"
    undeclared = "status {} is not declared"

    def __init__(
        self,
        spec: OpenAPISpec | str | Path | None = None,
        *,
        users: Iterable[tuple[str, str, str, set[str] | None]] | None = DEFAULT_USERS,
        projects: Iterable[tuple[str, str]] = DEFAULT_PROJECTS,
        custom_fields: Iterable[CustomField] = CUSTOM_FIELDS,
        forbidden_status: int = 403,
        project_page_cap: int = 50,
        search_page_cap: int = 100,
        max_attachment_size: int = 100 * 1024 * 1024,
        strict_query: bool = True,
        clock: Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(host)
        self.spec: OpenAPISpec | None = load_spec(spec) if isinstance(spec, str | Path) else spec
        self.forbidden_status = forbidden_status
        self.project_page_cap = project_page_cap
        self.search_page_cap = search_page_cap
        self.max_attachment_size = max_attachment_size
        self.strict_query = strict_query
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))

        self.users: dict[str, User] = {}
        self.projects: dict[str, Project] = {}
        self.issues: dict[int, Issue] = {}
        self.attachments: dict[int, Attachment] = {}
        self.custom_fields: dict[str, CustomField] = {cf.id: cf for cf in custom_fields}
        self.required_fields: dict[str, set[str]] = {}  # project key → extra required ids
        self.violations: list[Violation] = []

        self._ids = itertools.count(10001)
        self._comment_ids = itertools.count(10100)
        self._attachment_ids = itertools.count(10200)
        self._project_ids = itertools.count(10000)
        for email, token, name, allowed in users or ():
            self.add_user(email, token, display_name=name, projects=allowed)
        for key, name in projects:
            self.add_project(key, name)

        self.app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024**2)
        self._routes()

    # -- setup ----------------------------------------------------------------------------

    def add_user(
        self,
        email: str,
        token: str,
        *,
        display_name: str | None = None,
        projects: Iterable[str] | None = None,
        account_id: str | None = None,
    ) -> User:
        """A user who can log in with Basic ``email:token``; ``projects`` limits access."""
        user = User(
            email=email,
            token=token,
            account_id=account_id or _account_id(email),
            display_name=display_name or email.split("@")[0].title(),
            projects=None if projects is None else {p.upper() for p in projects},
        )
        self.users[email.lower()] = user
        return user

    def user(self, email: str) -> User:
        return self.users[email.lower()]

    def add_project(self, key: str, name: str) -> Project:
        project = Project(str(next(self._project_ids)), key.upper(), name)
        lead = next(iter(self.users.values()), None)
        project.lead = lead.account_id if lead else None
        self.projects[project.key] = project
        return project

    def grant(self, email: str, *project_keys: str) -> None:
        user = self.user(email)
        if user.projects is not None:
            user.projects.update(k.upper() for k in project_keys)

    def revoke(self, email: str, *project_keys: str) -> None:
        user = self.user(email)
        if user.projects is None:
            user.projects = set(self.projects)
        user.projects.difference_update(k.upper() for k in project_keys)

    def require_field(self, project_key: str, field_id: str) -> None:
        """Make a custom field required on create in one project."""
        self.required_fields.setdefault(project_key.upper(), set()).add(field_id)

    def auth_header(self, email: str = "alice@example.com") -> dict[str, str]:
        """``Authorization`` for a configured user, for tests that call the fake directly."""
        user = self.user(email)
        raw = f"{user.email}:{user.token}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    def seed_issue(
        self,
        project: str = "OPS",
        summary: str = "Seeded issue",
        *,
        issuetype: str = "Task",
        status: str | None = None,
        created: datetime | None = None,
        as_user: str = "alice@example.com",
        **fields: Any,
    ) -> Issue:
        """Create an issue without HTTP, through the same checks as ``POST /issue``.

        ``fields`` take REST shapes (``priority={"name": "High"}``, ``labels=[...]``,
        ``customfield_10011={"value": "Platform"}``). ``status`` (a name) bypasses the
        workflow; ``created`` backdates ``created``/``updated``.
        """
        body = {
            "fields": {
                "project": {"key": project},
                "issuetype": {"name": issuetype},
                "summary": summary,
                **fields,
            }
        }
        try:
            issue = self._create(self.user(as_user), body)
        except JiraError as exc:
            raise ValueError(f"seed_issue refused: {exc.messages} {exc.errors}") from None
        if created is not None:
            issue.created = issue.updated = issue.status_changed = created
        if status is not None:
            issue.status = next(s for s in STATUSES if s.name.lower() == status.lower())
            issue.resolved = issue.updated if issue.status.category_key == "done" else None
        return issue

    def issue(self, id_or_key: str | int) -> Issue:
        found = self._find_issue(str(id_or_key))
        if found is None:
            raise KeyError(id_or_key)
        return found

    # -- plumbing -------------------------------------------------------------------------

    def _routes(self) -> None:
        r = self.app.router
        api = "/rest/api/3"
        r.add_get(f"{api}/myself", self._myself)
        r.add_get(f"{api}/serverInfo", self._server_info)
        r.add_get(f"{api}/user", self._get_user)
        r.add_get(f"{api}/user/search", self._user_search)
        r.add_get(f"{api}/project/search", self._project_search)
        r.add_get(f"{api}/project/{{key}}", self._get_project)
        r.add_get(f"{api}/field", self._fields)
        r.add_get(f"{api}/issue/createmeta/{{project}}/issuetypes", self._createmeta_types)
        r.add_get(
            f"{api}/issue/createmeta/{{project}}/issuetypes/{{type}}", self._createmeta_fields
        )
        r.add_post(f"{api}/issue", self._create_issue)
        r.add_get(f"{api}/issue/{{key}}", self._get_issue)
        r.add_put(f"{api}/issue/{{key}}", self._edit_issue)
        r.add_delete(f"{api}/issue/{{key}}", self._delete_issue)
        r.add_get(f"{api}/issue/{{key}}/transitions", self._get_transitions)
        r.add_post(f"{api}/issue/{{key}}/transitions", self._do_transition)
        r.add_get(f"{api}/issue/{{key}}/comment", self._list_comments)
        r.add_post(f"{api}/issue/{{key}}/comment", self._add_comment)
        r.add_get(f"{api}/issue/{{key}}/comment/{{id}}", self._get_comment)
        r.add_put(f"{api}/issue/{{key}}/comment/{{id}}", self._update_comment)
        r.add_delete(f"{api}/issue/{{key}}/comment/{{id}}", self._delete_comment)
        r.add_post(f"{api}/issue/{{key}}/attachments", self._upload)
        r.add_get(f"{api}/attachment/content/{{id}}", self._attachment_content)
        r.add_get(f"{api}/attachment/{{id}}", self._attachment_meta)
        r.add_delete(f"{api}/attachment/{{id}}", self._delete_attachment)
        r.add_get(f"{api}/search/jql", self._search)
        r.add_post(f"{api}/search/jql", self._search)
        r.add_get(f"{api}/search", self._gone)
        r.add_post(f"{api}/search", self._gone)
        r.add_get("/secure/attachment/{id}/{filename}", self._media)

    async def _serve(
        self, request: web.Request, handler: Handler, record: RecordedRequest
    ) -> web.StreamResponse:
        api = request.path.startswith("/rest/")
        body: Any = None
        if api and request.body_exists and request.content_type == "application/json":
            raw = await request.read()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = _Unparsable
            record.json = None if body is _Unparsable else body
        op = None
        gone = False
        if api and self.spec is not None:
            found = self.spec.operation(request.method, request.path)
            if found is None:
                self._violation(
                    request, None, "operation", "no such operation in the API description"
                )
            else:
                op, path_params = found
                gone = (op.method, op.template) in GONE
                if op.deprecated and not gone:
                    self._violation(
                        request, op.operation_id, "operation", f"deprecated: {op.summary}"
                    )
                if not gone:
                    if body is _Unparsable:
                        problems = ["request body is not valid JSON"]
                    else:
                        problems = self.spec.validate_request(
                            op,
                            path_params,
                            request.query.items(),
                            request.content_type if request.body_exists else None,
                            body,
                            has_body=request.body_exists,
                            strict_query=self.strict_query,
                        )
                    for problem in problems:
                        self._violation(request, op.operation_id, "request", problem)
        faulted = await self._fault_answer(request)
        if faulted is None:
            response = await self._handle(request, handler, body, api)
        else:
            response = faulted
        if op is not None and not gone:
            self._check_response(request, op, response, faulted is not None)
        return response

    async def _handle(
        self, request: web.Request, handler: Handler, body: Any, api: bool
    ) -> web.StreamResponse:
        if api:
            user = self._authenticate(request)
            if user is None:
                return _json(
                    _error_body(["Client must be authenticated to access this resource."]),
                    401,
                )
            _USER.set(user)
        if body is _Unparsable:
            return _json(_error_body(["Unexpected character in the request body: not JSON."]), 400)
        _BODY.set(body)
        try:
            return await handler(request)
        except _BadParam as exc:
            return _json(_error_body([str(exc)]), 400)
        except JiraError as exc:
            return _json(_error_body(exc.messages, exc.errors), exc.status)
        except web.HTTPNotFound:
            if api:
                self._violation(request, None, "fake", "FakeJira does not implement this path")
            return _json(_error_body(["Not found."]), 404)
        except web.HTTPMethodNotAllowed:
            if api:
                self._violation(request, None, "fake", "FakeJira does not implement this method")
            return _json(_error_body(["Method not allowed."]), 405)

    def _fault_headers(self, fault: Fault, status: int, headers: dict[str, str]) -> None:
        retry = fault.retry_after
        if status == 429:
            retry = 1 if retry is None else retry
            reset_at = self.clock() + timedelta(seconds=retry)
            headers.setdefault("X-RateLimit-Limit", "350")
            headers.setdefault("X-RateLimit-Remaining", "0")
            headers.setdefault("X-RateLimit-Reset", reset_at.strftime("%Y-%m-%dT%H:%M:%SZ"))
            headers.setdefault("RateLimit-Reason", "jira-burst-based")
        if retry is not None:
            headers.setdefault("Retry-After", seconds(retry))

    def _fault_error(self, status: int, headers: dict[str, str]) -> web.Response:
        if status == 429:
            message = "Rate limit exceeded."
        elif status >= 500:
            message = "Internal server error" if status == 500 else "Service Unavailable"
        else:
            message = f"Injected fault {status}."
        return _json(_error_body([message]), status, headers)

    def _authenticate(self, request: web.Request) -> User | None:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            email, _, token = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user = self.users.get(email.lower())
        if user is None or not user.active or not secrets.compare_digest(user.token, token):
            return None
        return user

    # -- helpers --------------------------------------------------------------------------

    def _user_of(self, request: web.Request) -> User:
        return _USER.get()

    def _can(self, user: User, project: Project) -> bool:
        return user.projects is None or project.key in user.projects

    def _visible_projects(self, user: User) -> list[Project]:
        return [p for p in self.projects.values() if self._can(user, p)]

    def _find_project(self, id_or_key: str) -> Project | None:
        for project in self.projects.values():
            if project.id == id_or_key or project.key == id_or_key.upper():
                return project
        return None

    def _find_issue(self, id_or_key: str) -> Issue | None:
        if id_or_key.isdigit():
            return self.issues.get(int(id_or_key))
        wanted = id_or_key.upper()
        return next((i for i in self.issues.values() if i.key == wanted), None)

    def _issue_for(self, request: web.Request, *, write: bool = False) -> Issue:
        issue = self._find_issue(request.match_info["key"])
        if issue is None:
            raise JiraError(404, [NOT_FOUND_ISSUE])
        if not self._can(self._user_of(request), issue.project):
            if self.forbidden_status == 404:
                raise JiraError(404, [NOT_FOUND_ISSUE])
            verb = "edit" if write else "see"
            raise JiraError(
                self.forbidden_status, [f"You do not have permission to {verb} this issue."]
            )
        return issue

    def _find_user(self, account_id: str) -> User | None:
        return next((u for u in self.users.values() if u.account_id == account_id), None)

    def _base(self, request: web.Request) -> str:
        return f"{request.scheme}://{request.host}"

    def _avatars(self, base: str, kind: str, ident: str) -> dict[str, str]:
        return {
            f"{n}x{n}": f"{base}/secure/{kind}avatar?size={n}&id={ident}" for n in (16, 24, 32, 48)
        }

    def _user_json(self, base: str, account_id: str | None) -> dict[str, Any] | None:
        if account_id is None:
            return None
        user = self._find_user(account_id)
        return {
            "self": f"{base}/rest/api/3/user?accountId={account_id}",
            "accountId": account_id,
            "accountType": "atlassian",
            "emailAddress": user.email if user else "",
            "avatarUrls": self._avatars(base, "user", account_id),
            "displayName": user.display_name if user else "Former user",
            "active": bool(user and user.active),
            "timeZone": "Etc/UTC",
        }

    def _project_json(self, base: str, project: Project, full: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
            "self": f"{base}/rest/api/3/project/{project.id}",
            "id": project.id,
            "key": project.key,
            "name": project.name,
            "avatarUrls": self._avatars(base, "project", project.id),
            "projectTypeKey": "software",
            "simplified": False,
            "style": "classic",
            "isPrivate": False,
            "properties": {},
        }
        if full:
            data["description"] = ""
            data["assigneeType"] = "UNASSIGNED"
            data["issueTypes"] = [self._issuetype_json(base, t) for t in ISSUE_TYPES]
            lead = self._user_json(base, project.lead)
            if lead is not None:
                data["lead"] = lead
        return data

    def _issuetype_json(self, base: str, itype: IssueType) -> dict[str, Any]:
        return {
            "self": f"{base}/rest/api/3/issuetype/{itype.id}",
            "id": itype.id,
            "description": itype.description,
            "iconUrl": f"{base}/images/icons/issuetypes/{itype.name.lower()}.png",
            "name": itype.name,
            "subtask": itype.subtask,
            "hierarchyLevel": itype.hierarchy_level,
        }

    def _status_json(self, base: str, status: Status) -> dict[str, Any]:
        return {
            "self": f"{base}/rest/api/3/status/{status.id}",
            "description": "",
            "iconUrl": f"{base}/images/icons/statuses/generic.png",
            "name": status.name,
            "id": status.id,
            "statusCategory": {
                "self": f"{base}/rest/api/3/statuscategory/{status.category_id}",
                "id": status.category_id,
                "key": status.category_key,
                "colorName": status.color,
                "name": status.category_name,
            },
        }

    def _priority_json(self, base: str, priority: Priority) -> dict[str, Any]:
        return {
            "self": f"{base}/rest/api/3/priority/{priority.id}",
            "iconUrl": f"{base}/images/icons/priorities/{priority.name.lower()}.svg",
            "name": priority.name,
            "id": priority.id,
        }

    def _option_json(self, base: str, option_id: str, value: str) -> dict[str, Any]:
        return {
            "self": f"{base}/rest/api/3/customFieldOption/{option_id}",
            "value": value,
            "id": option_id,
        }

    def _attachment_json(
        self, base: str, att: Attachment, metadata: bool = False
    ) -> dict[str, Any]:
        data: dict[str, Any] = {
            "self": f"{base}/rest/api/3/attachment/{att.id}",
            "id": att.id if metadata else str(att.id),
            "filename": att.filename,
            "author": self._user_json(base, att.author),
            "created": jira_time(att.created),
            "size": att.size,
            "mimeType": att.mime_type,
            "content": f"{base}/rest/api/3/attachment/content/{att.id}",
        }
        if metadata:
            data["properties"] = {}
        return data

    def _comment_json(self, base: str, comment: Comment) -> dict[str, Any]:
        data: dict[str, Any] = {
            "self": f"{base}/rest/api/3/issue/{comment.issue_id}/comment/{comment.id}",
            "id": str(comment.id),
            "author": self._user_json(base, comment.author),
            "body": comment.body,
            "updateAuthor": self._user_json(base, comment.update_author),
            "created": jira_time(comment.created),
            "updated": jira_time(comment.updated),
            "jsdPublic": True,
        }
        if comment.visibility is not None:
            data["visibility"] = comment.visibility
        return data

    def _status(self, status_id: str) -> Status:
        return next(s for s in STATUSES if s.id == status_id)

    def _resolution_json(self, base: str) -> dict[str, Any]:
        return {
            "self": f"{base}/rest/api/3/resolution/10000",
            "id": "10000",
            "description": "Work has been completed on this issue.",
            "name": "Done",
        }

    def _all_field_ids(self) -> list[str]:
        return [f.id for f in SYSTEM_FIELDS] + list(self.custom_fields)

    def _navigable_ids(self) -> list[str]:
        return [f.id for f in SYSTEM_FIELDS if f.navigable] + list(self.custom_fields)

    def _field_schema(self, field_id: str) -> dict[str, Any] | None:
        for sf in SYSTEM_FIELDS:
            if sf.id == field_id:
                return sf.schema
        cf = self.custom_fields.get(field_id)
        if cf is None:
            return None
        kind, custom = CUSTOM_TYPES[cf.kind]
        return {"type": kind, "custom": custom, "customId": cf.number}

    def _field_name(self, field_id: str) -> str:
        for sf in SYSTEM_FIELDS:
            if sf.id == field_id:
                return sf.name
        cf = self.custom_fields.get(field_id)
        return cf.name if cf else field_id

    def _selected_fields(self, tokens: list[str], default: str) -> list[str]:
        tokens = tokens or [default]
        base: list[str] | None = None
        include: list[str] = []
        exclude: set[str] = set()
        for token in tokens:
            if token == "*all":
                base = self._all_field_ids()
            elif token == "*navigable":
                base = self._navigable_ids()
            elif token.startswith("-"):
                exclude.add(token[1:])
            else:
                include.append(token)
        if base is None and exclude and not include:
            base = self._navigable_ids()
        known = set(self._all_field_ids())
        chosen = [f for f in (base or []) + include if f in known and f not in exclude]
        return list(dict.fromkeys(chosen))

    def _field_value(self, base: str, issue: Issue, field_id: str) -> Any:
        if field_id == "summary":
            return issue.summary
        if field_id == "description":
            return issue.description
        if field_id == "status":
            return self._status_json(base, issue.status)
        if field_id == "priority":
            return self._priority_json(base, issue.priority) if issue.priority else None
        if field_id in ("assignee", "reporter", "creator"):
            return self._user_json(base, getattr(issue, field_id))
        if field_id == "project":
            return self._project_json(base, issue.project)
        if field_id == "issuetype":
            return self._issuetype_json(base, issue.issuetype)
        if field_id == "labels":
            return list(issue.labels)
        if field_id == "duedate":
            return issue.duedate.isoformat() if issue.duedate else None
        if field_id == "created":
            return jira_time(issue.created)
        if field_id == "updated":
            return jira_time(issue.updated)
        if field_id == "statuscategorychangedate":
            return jira_time(issue.status_changed)
        if field_id == "resolution":
            return self._resolution_json(base) if issue.resolved else None
        if field_id == "resolutiondate":
            return jira_time(issue.resolved) if issue.resolved else None
        if field_id == "parent":
            parent = self.issues.get(issue.parent_id) if issue.parent_id else None
            return self._issue_ref(base, parent) if parent else None
        if field_id == "subtasks":
            return [
                self._issue_ref(base, sub)
                for sub in self.issues.values()
                if sub.parent_id == issue.id
            ]
        if field_id == "attachment":
            return [
                self._attachment_json(base, self.attachments[a])
                for a in issue.attachments
                if a in self.attachments
            ]
        if field_id == "comment":
            return {
                "comments": [self._comment_json(base, c) for c in issue.comments],
                "self": f"{base}/rest/api/3/issue/{issue.id}/comment",
                "maxResults": len(issue.comments),
                "total": len(issue.comments),
                "startAt": 0,
            }
        cf = self.custom_fields.get(field_id)
        if cf is not None:
            value = issue.custom.get(field_id)
            if value is not None and cf.kind == "option":
                label = dict(cf.options).get(value, value)
                return self._option_json(base, value, label)
            return value
        return None

    def _issue_ref(self, base: str, issue: Issue) -> dict[str, Any]:
        return {
            "id": str(issue.id),
            "key": issue.key,
            "self": f"{base}/rest/api/3/issue/{issue.id}",
            "fields": {
                "summary": issue.summary,
                "status": self._status_json(base, issue.status),
                "priority": self._priority_json(base, issue.priority) if issue.priority else None,
                "issuetype": self._issuetype_json(base, issue.issuetype),
            },
        }

    def _issue_json(
        self, base: str, issue: Issue, field_ids: list[str], expand: set[str]
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for field_id in field_ids:
            value = self._field_value(base, issue, field_id)
            if field_id == "parent" and value is None:
                continue
            fields[field_id] = value
        data: dict[str, Any] = {
            "expand": ISSUE_EXPAND,
            "id": str(issue.id),
            "self": f"{base}/rest/api/3/issue/{issue.id}",
            "key": issue.key,
            "fields": fields,
        }
        if "names" in expand:
            data["names"] = {fid: self._field_name(fid) for fid in fields}
        if "schema" in expand:
            data["schema"] = {
                fid: schema for fid in fields if (schema := self._field_schema(fid)) is not None
            }
        if "transitions" in expand:
            data["transitions"] = [
                self._transition_json(base, t) for t in TRANSITIONS[issue.status.id]
            ]
        return data

    def _transition_json(self, base: str, transition: Transition) -> dict[str, Any]:
        return {
            "id": transition.id,
            "name": transition.name,
            "to": self._status_json(base, self._status(transition.to)),
            "hasScreen": False,
            "isGlobal": False,
            "isInitial": False,
            "isAvailable": True,
            "isConditional": False,
            "isLooped": False,
        }

    # -- users, server --------------------------------------------------------------------

    async def _myself(self, request: web.Request) -> web.StreamResponse:
        user = self._user_of(request)
        return _json(self._user_json(self._base(request), user.account_id))

    async def _server_info(self, request: web.Request) -> web.StreamResponse:
        base = self._base(request)
        return _json(
            {
                "baseUrl": base,
                "displayUrl": base,
                "version": "1001.0.0-SNAPSHOT",
                "versionNumbers": [1001, 0, 0],
                "deploymentType": "Cloud",
                "buildNumber": 100280,
                "serverTime": jira_time(self.clock()),
                "serverTitle": "Fake Jira",
            }
        )

    async def _get_user(self, request: web.Request) -> web.StreamResponse:
        account_id = request.query.get("accountId", "")
        user = self._find_user(account_id)
        if user is None:
            raise JiraError(
                404, ["Specified user does not exist or you do not have required permissions"]
            )
        return _json(self._user_json(self._base(request), user.account_id))

    async def _user_search(self, request: web.Request) -> web.StreamResponse:
        query = (request.query.get("query") or "").lower()
        account_id = request.query.get("accountId")
        if not query and not account_id:
            raise JiraError(400, ["One of 'query' or 'accountId' must be specified."])
        found = [
            u
            for u in self.users.values()
            if (account_id and u.account_id == account_id)
            or (query and (query in u.email.lower() or query in u.display_name.lower()))
        ]
        start = _int(request, "startAt", 0)
        size = _int(request, "maxResults", 50)
        base = self._base(request)
        return _json([self._user_json(base, u.account_id) for u in found[start : start + size]])

    # -- projects and metadata ------------------------------------------------------------

    async def _project_search(self, request: web.Request) -> web.StreamResponse:
        user = self._user_of(request)
        base = self._base(request)
        q = request.query
        projects = self._visible_projects(user)
        if text := (q.get("query") or "").lower():
            projects = [p for p in projects if text in p.key.lower() or text in p.name.lower()]
        keys = {k.upper() for k in _fields_param(q.getall("keys", []))}
        if keys:
            projects = [p for p in projects if p.key in keys]
        order = q.get("orderBy", "key")
        attr = "name" if order.lstrip("+-") == "name" else "key"
        projects.sort(key=lambda p: getattr(p, attr).lower(), reverse=order.startswith("-"))
        start = max(_int(request, "startAt", 0), 0)
        size = min(max(_int(request, "maxResults", 50), 0), self.project_page_cap)
        page = projects[start : start + size]
        is_last = start + len(page) >= len(projects)
        data: dict[str, Any] = {
            "self": f"{base}{request.path_qs}",
            "maxResults": size,
            "startAt": start,
            "total": len(projects),
            "isLast": is_last,
            "values": [self._project_json(base, p) for p in page],
        }
        if not is_last:
            data["nextPage"] = f"{base}{request.path}?startAt={start + size}&maxResults={size}"
        return _json(data)

    def _project_for(self, request: web.Request, id_or_key: str) -> Project:
        project = self._find_project(id_or_key)
        user = self._user_of(request)
        if project is None or (not self._can(user, project) and self.forbidden_status == 404):
            raise JiraError(404, [f"No project could be found with key '{id_or_key}'."])
        if not self._can(user, project):
            raise JiraError(
                self.forbidden_status,
                [f"You do not have permission to view project '{project.key}'."],
            )
        return project

    async def _get_project(self, request: web.Request) -> web.StreamResponse:
        project = self._project_for(request, request.match_info["key"])
        return _json(self._project_json(self._base(request), project, full=True))

    async def _fields(self, request: web.Request) -> web.StreamResponse:
        out: list[dict[str, Any]] = []
        for sf in SYSTEM_FIELDS:
            entry: dict[str, Any] = {
                "id": sf.id,
                "key": sf.id,
                "name": sf.name,
                "custom": False,
                "orderable": sf.orderable,
                "navigable": sf.navigable,
                "searchable": True,
                "clauseNames": list(sf.clauses),
            }
            if sf.schema is not None:
                entry["schema"] = sf.schema
            out.append(entry)
        for cf in self.custom_fields.values():
            out.append(
                {
                    "id": cf.id,
                    "key": cf.id,
                    "name": cf.name,
                    "custom": True,
                    "orderable": True,
                    "navigable": True,
                    "searchable": True,
                    "clauseNames": [f"cf[{cf.number}]", cf.name],
                    "schema": self._field_schema(cf.id),
                }
            )
        return _json(out)

    @staticmethod
    def _page_args(request: web.Request, default: int, cap: int) -> tuple[int, int]:
        start = max(_int(request, "startAt", 0), 0)
        size = _int(request, "maxResults", default)
        if size > cap:
            raise JiraError(400, [f"Parameter 'maxResults' must not exceed the limit '{cap}'"])
        return start, max(size, 0)

    async def _createmeta_types(self, request: web.Request) -> web.StreamResponse:
        self._project_for(request, request.match_info["project"])
        start, size = self._page_args(request, 50, 200)
        base = self._base(request)
        types = [self._issuetype_json(base, t) for t in ISSUE_TYPES]
        return _json(
            {
                "issueTypes": types[start : start + size],
                "maxResults": size,
                "startAt": start,
                "total": len(types),
            }
        )

    def _create_fields(self, base: str, project: Project, itype: IssueType) -> list[dict[str, Any]]:
        required_extra = self.required_fields.get(project.key, set())

        def entry(fid: str, required: bool, **extra: Any) -> dict[str, Any]:
            schema = self._field_schema(fid)
            assert schema is not None or fid == "parent"
            data: dict[str, Any] = {
                "required": required,
                "schema": schema or {"type": "issuelink", "system": "parent"},
                "name": self._field_name(fid),
                "key": fid,
                "fieldId": fid,
                "hasDefaultValue": False,
                "operations": ["set"],
            }
            data.update(extra)
            return data

        out = [
            entry("summary", True),
            entry("issuetype", True, allowedValues=[self._issuetype_json(base, itype)]),
            entry("project", True, allowedValues=[self._project_json(base, project)]),
            entry("description", False),
            entry(
                "reporter",
                True,
                hasDefaultValue=True,
                autoCompleteUrl=f"{base}/rest/api/3/user/search?query=",
            ),
            entry("assignee", False, autoCompleteUrl=f"{base}/rest/api/3/user/search?query="),
            entry(
                "priority",
                False,
                allowedValues=[self._priority_json(base, p) for p in PRIORITIES],
                hasDefaultValue=True,
                defaultValue=self._priority_json(base, self._priority(DEFAULT_PRIORITY)),
            ),
            entry(
                "labels",
                False,
                operations=["add", "set", "remove"],
                autoCompleteUrl=f"{base}/rest/api/1.0/labels/suggest?query=",
            ),
            entry("duedate", False),
        ]
        if itype.subtask:
            out.append(entry("parent", True))
        for cf in self.custom_fields.values():
            extra: dict[str, Any] = {}
            if cf.kind == "option":
                extra["allowedValues"] = [self._option_json(base, oid, v) for oid, v in cf.options]
            out.append(entry(cf.id, cf.id in required_extra, **extra))
        return out

    async def _createmeta_fields(self, request: web.Request) -> web.StreamResponse:
        project = self._project_for(request, request.match_info["project"])
        type_id = request.match_info["type"]
        itype = next((t for t in ISSUE_TYPES if t.id == type_id), None)
        if itype is None:
            raise JiraError(404, [f"Issue type with id '{type_id}' does not exist."])
        start, size = self._page_args(request, 50, 200)
        fields = self._create_fields(self._base(request), project, itype)
        return _json(
            {
                "fields": fields[start : start + size],
                "maxResults": size,
                "startAt": start,
                "total": len(fields),
            }
        )

    # -- issues ---------------------------------------------------------------------------

    def _priority(self, ident: str) -> Priority:
        return next(p for p in PRIORITIES if p.id == ident)

    def _parse_fields(
        self,
        user: User,
        fields: dict[str, Any],
        update: dict[str, Any],
        issue: Issue | None,
        project: Project,
        itype: IssueType,
    ) -> tuple[dict[str, Any], dict[str, str], list[dict[str, Any]]]:
        """Validate ``fields``/``update`` → (changes, errors, comments to add)."""
        changes: dict[str, Any] = {}
        errors: dict[str, str] = {}
        new_comments: list[dict[str, Any]] = []
        settable = {
            "summary",
            "description",
            "priority",
            "assignee",
            "reporter",
            "labels",
            "duedate",
            "parent",
            *self.custom_fields,
        }
        if issue is None:
            settable |= {"project", "issuetype"}
        else:
            settable.add("issuetype")

        for name, value in fields.items():
            if name in ("project", "issuetype") and name in settable:
                continue  # resolved by the caller
            if name not in settable:
                errors[name] = CANNOT_SET.format(name)
                continue
            self._set_value(user, name, value, changes, errors, itype)

        for name, operations in update.items():
            if name == "comment" and isinstance(operations, list):
                for op in operations:
                    body = op.get("add", {}).get("body") if isinstance(op, dict) else None
                    if _is_adf(body) and isinstance(body, dict):
                        new_comments.append(body)
                    else:
                        errors["comment"] = NOT_ADF
                continue
            if name not in settable or name in ("project", "issuetype"):
                errors[name] = CANNOT_SET.format(name)
                continue
            if not isinstance(operations, list):
                errors[name] = "Operations must be a list."
                continue
            if name in fields:
                errors[name] = f"Field '{name}' cannot be set in both 'fields' and 'update'."
                continue
            labels = list(changes.get("labels", issue.labels if issue else []))
            for op in operations:
                if not isinstance(op, dict) or len(op) != 1:
                    errors[name] = "Each operation must have exactly one verb."
                    break
                verb, value = next(iter(op.items()))
                if name == "labels" and verb in ("add", "remove"):
                    if not isinstance(value, str) or _LABEL_BAD.search(value):
                        errors["labels"] = f"The label '{value}' contains spaces which is invalid."
                        break
                    if verb == "add" and value not in labels:
                        labels.append(value)
                    if verb == "remove" and value in labels:
                        labels.remove(value)
                    changes["labels"] = labels
                elif verb == "set":
                    self._set_value(user, name, value, changes, errors, itype)
                    labels = list(changes.get("labels", labels))
                else:
                    errors[name] = f"The operation '{verb}' is not supported by the field '{name}'."
                    break
        return changes, errors, new_comments

    def _set_value(
        self,
        user: User,
        name: str,
        value: Any,
        changes: dict[str, Any],
        errors: dict[str, str],
        itype: IssueType,
    ) -> None:
        if name == "summary":
            if not isinstance(value, str) or not value.strip():
                errors[name] = "You must specify a summary of the issue."
            elif "\n" in value or "\r" in value:
                errors[name] = "The summary is invalid because it contains newline characters."
            elif len(value) > 255:
                errors[name] = "Summary must be less than 255 characters."
            else:
                changes[name] = value
        elif name == "description":
            if value is not None and not _is_adf(value):
                errors[name] = NOT_ADF
            else:
                changes[name] = value
        elif name == "priority":
            prio = None
            if isinstance(value, dict):
                if "id" in value:
                    prio = next((p for p in PRIORITIES if p.id == str(value["id"])), None)
                elif "name" in value:
                    prio = next((p for p in PRIORITIES if p.name == value["name"]), None)
            if prio is None:
                errors[name] = "Specify the Priority (id or name) in the string format"
            else:
                changes[name] = prio
        elif name in ("assignee", "reporter"):
            if value is None and name == "assignee":
                changes[name] = None
            elif isinstance(value, dict) and isinstance(value.get("accountId"), str):
                if self._find_user(value["accountId"]) is None:
                    errors[name] = (
                        "Specified user does not exist or you do not have required permissions"
                    )
                else:
                    changes[name] = value["accountId"]
            else:
                errors[name] = f'Specify a valid value for {name}: {{"accountId": "..."}}'
        elif name == "labels":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                errors[name] = "Labels must be a list of strings."
            elif bad := next((v for v in value if _LABEL_BAD.search(v) or not v), None):
                errors[name] = f"The label '{bad}' contains spaces which is invalid."
            else:
                changes[name] = list(dict.fromkeys(value))
        elif name == "duedate":
            if value is None:
                changes[name] = None
            else:
                try:
                    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                        raise ValueError
                    changes[name] = date.fromisoformat(value)
                except ValueError:
                    errors[name] = f"Error parsing date string: {value}"
        elif name == "parent":
            parent = None
            if isinstance(value, dict):
                ident = value.get("key") or value.get("id")
                parent = self._find_issue(str(ident)) if ident is not None else None
            if parent is None:
                errors[name] = "Could not find issue by id or key."
            elif not itype.subtask or parent.issuetype.subtask:
                errors[name] = "Given parent issue does not belong to appropriate hierarchy."
            elif not self._can(user, parent.project):
                errors[name] = "Could not find issue by id or key."
            else:
                changes[name] = parent.id
        elif name in self.custom_fields:
            self._set_custom(self.custom_fields[name], value, changes, errors)

    def _set_custom(
        self, cf: CustomField, value: Any, changes: dict[str, Any], errors: dict[str, str]
    ) -> None:
        if value is None:
            changes[cf.id] = None
        elif cf.kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                errors[cf.id] = "Operation value must be a number"
            else:
                changes[cf.id] = value
        elif cf.kind == "option":
            chosen = None
            if isinstance(value, dict):
                if "id" in value:
                    chosen = next((o for o in cf.options if o[0] == str(value["id"])), None)
                    if chosen is None:
                        errors[cf.id] = f"Option id '{value['id']}' is not valid"
                        return
                elif "value" in value:
                    chosen = next((o for o in cf.options if o[1] == value["value"]), None)
                    if chosen is None:
                        errors[cf.id] = f"Option value '{value['value']}' is not valid"
                        return
            if chosen is None:
                errors[cf.id] = "Specify a valid 'id' or 'name' for " + cf.name
            else:
                changes[cf.id] = chosen[0]
        elif cf.kind == "textarea":
            if not _is_adf(value):
                errors[cf.id] = NOT_ADF
            else:
                changes[cf.id] = value
        elif cf.kind == "text":
            if not isinstance(value, str):
                errors[cf.id] = "Operation value must be a string"
            elif len(value) > 255:
                errors[cf.id] = "Text fields cannot be longer than 255 characters."
            else:
                changes[cf.id] = value
        elif cf.kind == "date":
            try:
                changes[cf.id] = date.fromisoformat(str(value)).isoformat()
            except ValueError:
                errors[cf.id] = f"Error parsing date string: {value}"

    def _apply(self, issue: Issue, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            if name == "parent":
                issue.parent_id = value
            elif name in self.custom_fields:
                if value is None:
                    issue.custom.pop(name, None)
                else:
                    issue.custom[name] = value
            else:
                setattr(issue, name, value)

    def _body(self, request: web.Request) -> dict[str, Any]:
        body = _BODY.get(None)
        if request.content_type != "application/json":
            raise JiraError(415, ["Unsupported Media Type"])
        if not isinstance(body, dict):
            raise JiraError(
                400, ["Can not deserialize the request body: a JSON object is expected."]
            )
        return body

    def _fields_and_update(self, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        fields = body.get("fields", {})
        update = body.get("update", {})
        if fields is None:
            fields = {}
        if not isinstance(fields, dict):
            raise JiraError(400, ["Can not deserialize 'fields': a JSON object is expected."])
        if update is None:
            update = {}
        if not isinstance(update, dict):
            raise JiraError(400, ["Can not deserialize 'update': a JSON object is expected."])
        return fields, update

    async def _create_issue(self, request: web.Request) -> web.StreamResponse:
        issue = self._create(self._user_of(request), self._body(request))
        base = self._base(request)
        return _json(
            {"id": str(issue.id), "key": issue.key, "self": f"{base}/rest/api/3/issue/{issue.id}"},
            201,
        )

    def _create(self, user: User, body: dict[str, Any]) -> Issue:
        fields, update = self._fields_and_update(body)
        errors: dict[str, str] = {}
        project: Project | None = None
        ref = fields.get("project")
        if isinstance(ref, dict) and ("key" in ref or "id" in ref):
            project = self._find_project(str(ref.get("key") or ref.get("id")))
        if project is None:
            errors["project"] = "Specify a valid project ID or key"
        elif not self._can(user, project):
            raise JiraError(
                self.forbidden_status,
                ["You do not have permission to create issues in this project."],
            )
        itype: IssueType | None = None
        ref = fields.get("issuetype")
        if ref is None:
            errors["issuetype"] = "Specify an issue type"
        elif isinstance(ref, dict):
            if "id" in ref:
                itype = next((t for t in ISSUE_TYPES if t.id == str(ref["id"])), None)
            elif "name" in ref:
                itype = next((t for t in ISSUE_TYPES if t.name == ref["name"]), None)
        if itype is None and "issuetype" not in errors:
            errors["issuetype"] = "Specify a valid issue type"
        if project is None or itype is None:
            raise JiraError(400, [], errors)
        changes, more, comments = self._parse_fields(user, fields, update, None, project, itype)
        errors.update(more)
        if "summary" not in changes and "summary" not in errors:
            errors["summary"] = "You must specify a summary of the issue."
        if itype.subtask and "parent" not in changes and "parent" not in errors:
            errors["parent"] = "Parent issue must be specified for a sub-task."
        for fid in sorted(self.required_fields.get(project.key, ())):
            if changes.get(fid) is None and fid not in errors:
                errors[fid] = f"{self._field_name(fid)} is required."
        if errors:
            raise JiraError(400, [], errors)
        now = self.clock()
        issue = Issue(
            id=next(self._ids),
            key=f"{project.key}-{project.next_number}",
            project=project,
            issuetype=itype,
            summary=changes["summary"],
            status=STATUSES[0],
            reporter=user.account_id,
            creator=user.account_id,
            created=now,
            updated=now,
            status_changed=now,
            priority=self._priority(DEFAULT_PRIORITY),
        )
        project.next_number += 1
        self._apply(issue, changes)
        self.issues[issue.id] = issue
        for comment_body in comments:
            self._new_comment(issue, user, comment_body, None)
        return issue

    async def _get_issue(self, request: web.Request) -> web.StreamResponse:
        issue = self._issue_for(request)
        field_ids = self._selected_fields(_fields_param(request.query.getall("fields", [])), "*all")
        expand = set(_fields_param(request.query.getall("expand", [])))
        return _json(self._issue_json(self._base(request), issue, field_ids, expand))

    async def _edit_issue(self, request: web.Request) -> web.StreamResponse:
        issue = self._issue_for(request, write=True)
        user = self._user_of(request)
        body = self._body(request)
        fields, update = self._fields_and_update(body)
        if not fields and not update and "transition" not in body:
            raise JiraError(400, ["No fields or update operations were specified."])
        itype = issue.issuetype
        if "issuetype" in fields:
            ref = fields["issuetype"]
            found = None
            if isinstance(ref, dict):
                found = next(
                    (
                        t
                        for t in ISSUE_TYPES
                        if t.id == str(ref.get("id")) or t.name == ref.get("name")
                    ),
                    None,
                )
            if found is None or found.subtask != issue.issuetype.subtask:
                raise JiraError(400, [], {"issuetype": "Specify a valid issue type"})
            itype = found
        changes, errors, comments = self._parse_fields(
            user, fields, update, issue, issue.project, itype
        )
        if "transition" in body:
            errors["transition"] = "Transitions cannot be combined with an edit in this fake."
        if errors:
            raise JiraError(400, [], errors)
        if "issuetype" in fields:
            issue.issuetype = itype
        self._apply(issue, changes)
        for comment_body in comments:
            self._new_comment(issue, user, comment_body, None)
        issue.updated = self.clock()
        if request.query.get("returnIssue") == "true":
            expand = set(_fields_param(request.query.getall("expand", [])))
            return _json(
                self._issue_json(self._base(request), issue, self._all_field_ids(), expand)
            )
        return web.Response(status=204)

    async def _delete_issue(self, request: web.Request) -> web.StreamResponse:
        issue = self._issue_for(request, write=True)
        subtasks = [i for i in self.issues.values() if i.parent_id == issue.id]
        if subtasks and request.query.get("deleteSubtasks") != "true":
            raise JiraError(
                400,
                ["The issue has subtasks; set deleteSubtasks=true to delete them with it."],
            )
        for doomed in [*subtasks, issue]:
            for att in doomed.attachments:
                self.attachments.pop(att, None)
            del self.issues[doomed.id]
        return web.Response(status=204)

    async def _get_transitions(self, request: web.Request) -> web.StreamResponse:
        issue = self._issue_for(request)
        base = self._base(request)
        transitions = TRANSITIONS[issue.status.id]
        if wanted := request.query.get("transitionId"):
            transitions = tuple(t for t in transitions if t.id == wanted)
        return _json(
            {
                "expand": "transitions",
                "transitions": [self._transition_json(base, t) for t in transitions],
            }
        )

    async def _do_transition(self, request: web.Request) -> web.StreamResponse:
        issue = self._issue_for(request, write=True)
        body = self._body(request)
        ref = body.get("transition")
        wanted = str(ref.get("id")) if isinstance(ref, dict) and ref.get("id") is not None else None
        if wanted is None:
            raise JiraError(400, ["Missing 'transition' identifier"])
        transition = next((t for t in TRANSITIONS[issue.status.id] if t.id == wanted), None)
        if transition is None:
            raise JiraError(400, [f"Transition id '{wanted}' is not valid for this issue."])
        fields, update = self._fields_and_update(body)
        errors = {name: CANNOT_SET.format(name) for name in [*fields, *update]}
        if errors:
            raise JiraError(400, [], errors)
        now = self.clock()
        target = self._status(transition.to)
        if target.category_key != issue.status.category_key:
            issue.status_changed = now
        issue.status = target
        issue.resolved = now if target.category_key == "done" else None
        issue.updated = now
        return web.Response(status=204)

    # -- comments -------------------------------------------------------------------------

    def _new_comment(
        self, issue: Issue, user: User, body: dict[str, Any], visibility: dict[str, Any] | None
    ) -> Comment:
        now = self.clock()
        comment = Comment(
            id=next(self._comment_ids),
            issue_id=issue.id,
            author=user.account_id,
            body=body,
            created=now,
            updated=now,
            update_author=user.account_id,
            visibility=visibility,
        )
        issue.comments.append(comment)
        issue.updated = now
        return comment

    def _comment_body(self, body: dict[str, Any]) -> dict[str, Any]:
        content = body.get("body")
        if not _is_adf(content):
            raise JiraError(400, [], {"comment": NOT_ADF})
        if not adf_text(content).strip():
            raise JiraError(400, [], {"comment": "Comment body can not be empty!"})
        assert isinstance(content, dict)
        return content

    async def _list_comments(self, request: web.Request) -> web.StreamResponse:
        issue = self._issue_for(request)
        start = max(_int(request, "startAt", 0), 0)
        size = min(max(_int(request, "maxResults", 100), 0), 100)
        comments = list(issue.comments)
        if request.query.get("orderBy", "created").startswith("-"):
            comments.reverse()
        base = self._base(request)
        return _json(
            {
                "comments": [self._comment_json(base, c) for c in comments[start : start + size]],
                "startAt": start,
                "maxResults": size,
                "total": len(comments),
            }
        )

    async def _add_comment(self, request: web.Request) -> web.StreamResponse:
        issue = self._issue_for(request, write=True)
        body = self._body(request)
        visibility = body.get("visibility")
        comment = self._new_comment(
            issue, self._user_of(request), self._comment_body(body), visibility
        )
        return _json(self._comment_json(self._base(request), comment), 201)

    def _comment_for(self, request: web.Request, issue: Issue) -> Comment:
        wanted = request.match_info["id"]
        comment = next((c for c in issue.comments if str(c.id) == wanted), None)
        if comment is None:
            raise JiraError(404, [f"Can not find a comment for the id: {wanted}."])
        return comment

    async def _get_comment(self, request: web.Request) -> web.StreamResponse:
        issue = self._issue_for(request)
        return _json(self._comment_json(self._base(request), self._comment_for(request, issue)))

    async def _update_comment(self, request: web.Request) -> web.StreamResponse:
        issue = self._issue_for(request, write=True)
        comment = self._comment_for(request, issue)
        comment.body = self._comment_body(self._body(request))
        comment.updated = issue.updated = self.clock()
        comment.update_author = self._user_of(request).account_id
        return _json(self._comment_json(self._base(request), comment))

    async def _delete_comment(self, request: web.Request) -> web.StreamResponse:
        issue = self._issue_for(request, write=True)
        comment = self._comment_for(request, issue)
        issue.comments.remove(comment)
        issue.updated = self.clock()
        return web.Response(status=204)

    # -- attachments ----------------------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("X-Atlassian-Token", "").lower() != "no-check":
            return web.Response(status=403, text="XSRF check failed", content_type="text/plain")
        issue = self._issue_for(request, write=True)
        if not request.content_type.startswith("multipart/"):
            raise JiraError(
                415, ["Unsupported Media Type: attachments must be multipart/form-data."]
            )
        reader = await request.multipart()
        user = self._user_of(request)
        created: list[Attachment] = []
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader) or part.name != "file":
                if isinstance(part, BodyPartReader):
                    await part.release()
                continue
            data = bytearray()
            while chunk := await part.read_chunk(256 * 1024):
                data += chunk
                if len(data) > self.max_attachment_size:
                    raise JiraError(413, ["The attachment is too large."])
            mime = part.headers.get("Content-Type", "application/octet-stream").split(";")[0]
            created.append(
                Attachment(
                    id=next(self._attachment_ids),
                    issue_id=issue.id,
                    filename=part.filename or "attachment",
                    mime_type=mime,
                    data=data,
                    author=user.account_id,
                    created=self.clock(),
                )
            )
        if not created:
            raise JiraError(400, ["No file was attached: the multipart part must be named 'file'."])
        for att in created:
            self.attachments[att.id] = att
            issue.attachments.append(att.id)
        issue.updated = self.clock()
        base = self._base(request)
        return _json([self._attachment_json(base, a) for a in created])

    def _attachment_for(self, request: web.Request) -> Attachment:
        wanted = request.match_info["id"]
        att = self.attachments.get(int(wanted)) if wanted.isdigit() else None
        if att is None or att.issue_id not in self.issues:
            raise JiraError(404, [f"The attachment with id '{wanted}' does not exist"])
        issue = self.issues[att.issue_id]
        if not self._can(self._user_of(request), issue.project):
            raise JiraError(
                self.forbidden_status, ["You do not have permission to view this attachment."]
            )
        return att

    async def _attachment_meta(self, request: web.Request) -> web.StreamResponse:
        att = self._attachment_for(request)
        return _json(self._attachment_json(self._base(request), att, metadata=True))

    async def _delete_attachment(self, request: web.Request) -> web.StreamResponse:
        att = self._attachment_for(request)
        del self.attachments[att.id]
        issue = self.issues[att.issue_id]
        issue.attachments.remove(att.id)
        issue.updated = self.clock()
        return web.Response(status=204)

    async def _attachment_content(self, request: web.Request) -> web.StreamResponse:
        att = self._attachment_for(request)
        if request.query.get("redirect", "true").lower() != "false":
            location = f"/secure/attachment/{att.id}/{quote(att.filename)}?token={att.token}"
            return web.Response(status=303, headers={"Location": self._base(request) + location})
        return await self._stream(request, att)

    async def _media(self, request: web.Request) -> web.StreamResponse:
        wanted = request.match_info["id"]
        att = self.attachments.get(int(wanted)) if wanted.isdigit() else None
        if att is None or not secrets.compare_digest(request.query.get("token", ""), att.token):
            return web.Response(status=404, text="Not found")
        return await self._stream(request, att)

    async def _stream(self, request: web.Request, att: Attachment) -> web.StreamResponse:
        start, end, status = 0, att.size, 200
        headers = {
            "Content-Type": att.mime_type,
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(att.filename)}",
            "Accept-Ranges": "bytes",
        }
        if ranged := request.headers.get("Range"):
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", ranged.strip())
            if not m or (not m.group(1) and not m.group(2)):
                raise JiraError(400, ["Malformed Range header."])
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)) + 1, att.size) if m.group(2) else att.size
            else:
                start = max(att.size - int(m.group(2)), 0)
            if start >= att.size or start >= end:
                return web.Response(status=416, headers={"Content-Range": f"bytes */{att.size}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{att.size}"
        response = web.StreamResponse(status=status, headers=headers)
        response.enable_chunked_encoding()
        await response.prepare(request)
        view = memoryview(att.data)
        step = 256 * 1024
        for offset in range(start, end, step):
            await response.write(view[offset : min(offset + step, end)])
        await response.write_eof()
        return response

    # -- search ---------------------------------------------------------------------------

    async def _gone(self, request: web.Request) -> web.StreamResponse:
        return _json(_error_body([GONE_SEARCH]), 410)

    def _jql_fields(self, user: User) -> Callable[[str], jql.JqlField | None]:
        visible = self._visible_projects(user)

        def unknown(field_name: str, value: Any) -> jql.JqlError:
            return jql.JqlError(f"The value '{value}' does not exist for the field '{field_name}'.")

        def project(value: Any) -> str:
            text = str(value)
            for p in visible:
                if text.upper() == p.key or text == p.id or text.lower() == p.name.lower():
                    return p.id
            raise unknown("project", value)

        def issue_key(field_name: str) -> Callable[[Any], Any]:
            def resolve(value: Any) -> tuple[str, int]:
                text = str(value)
                found = (
                    self._find_issue(text) if text.isdigit() or _KEY_RE.fullmatch(text) else None
                )
                if found is None:
                    if text.isdigit() or _KEY_RE.fullmatch(text):
                        raise jql.JqlError(
                            f"An issue with key '{text}' does not exist for field '{field_name}'."
                        )
                    raise jql.JqlError(
                        f"The issue key '{text}' for field '{field_name}' is invalid."
                    )
                return (found.project.key, found.number)

            return resolve

        def parent(value: Any) -> int:
            found = self._find_issue(str(value))
            if found is None:
                raise jql.JqlError(
                    f"An issue with key '{value}' does not exist for field 'parent'."
                )
            return found.id

        def by_name(
            field_name: str, items: Iterable[Any], attr: str = "id"
        ) -> Callable[[Any], Any]:
            table = list(items)

            def resolve(value: Any) -> Any:
                text = str(value).lower()
                for item in table:
                    if text in (str(item.id).lower(), item.name.lower()):
                        return getattr(item, attr)
                raise unknown(field_name, value)

            return resolve

        def status_category(value: Any) -> str:
            text = str(value).lower()
            for s in STATUSES:
                if text in (s.category_key, s.category_name.lower(), str(s.category_id)):
                    return s.category_key
            raise unknown("statusCategory", value)

        def person(field_name: str) -> Callable[[Any], str]:
            def resolve(value: Any) -> str:
                text = str(value)
                for u in self.users.values():
                    if text == u.account_id or text.lower() == u.email.lower():
                        return u.account_id
                raise unknown(field_name, value)

            return resolve

        def display(account_id: str | None) -> str | None:
            found = self._find_user(account_id) if account_id else None
            return found.display_name if found else account_id

        def everything(issue: Issue) -> str:
            parts = [issue.summary, adf_text(issue.description)]
            parts += [adf_text(c.body) for c in issue.comments]
            parts += [
                adf_text(issue.custom.get(cf.id))
                if cf.kind == "textarea"
                else str(issue.custom.get(cf.id) or "")
                for cf in self.custom_fields.values()
                if cf.kind in ("textarea", "text")
            ]
            return "\n".join(p for p in parts if p)

        TEXT, EXACT, ORDERED = jql.TEXT, jql.EXACT, jql.ORDERED
        F = jql.JqlField
        key_field = F("key", ORDERED, lambda i: (i.project.key, i.number), issue_key("key"))
        table: dict[str, jql.JqlField] = {
            "project": F(
                "project", EXACT, lambda i: i.project.id, project, sort_get=lambda i: i.project.key
            ),
            "key": key_field,
            "issuekey": key_field,
            "id": key_field,
            "summary": F("summary", TEXT, lambda i: i.summary),
            "description": F(
                "description", TEXT, lambda i: adf_text(i.description) or None, sortable=False
            ),
            "comment": F(
                "comment", TEXT, lambda i: [adf_text(c.body) for c in i.comments], sortable=False
            ),
            "text": F("text", TEXT, everything, sortable=False),
            "status": F(
                "status",
                EXACT,
                lambda i: i.status.id,
                by_name("status", STATUSES),
                sort_get=lambda i: i.status.order,
            ),
            "statuscategory": F(
                "statusCategory",
                EXACT,
                lambda i: i.status.category_key,
                status_category,
                sort_get=lambda i: i.status.order,
            ),
            "priority": F(
                "priority",
                ORDERED,
                lambda i: i.priority.rank if i.priority else None,
                by_name("priority", PRIORITIES, "rank"),
            ),
            "issuetype": F(
                "issuetype",
                EXACT,
                lambda i: i.issuetype.id,
                by_name("issuetype", ISSUE_TYPES),
                sort_get=lambda i: i.issuetype.name,
            ),
            "parent": F("parent", EXACT, lambda i: i.parent_id, parent),
            "labels": F("labels", EXACT, lambda i: i.labels, lambda v: str(v)),
            "attachments": F(
                "attachments", EXACT, lambda i: i.attachments, lambda v: str(v), sortable=False
            ),
            "created": F("created", jql.DATETIME, lambda i: i.created),
            "updated": F("updated", jql.DATETIME, lambda i: i.updated),
            "resolutiondate": F("resolved", jql.DATETIME, lambda i: i.resolved),
            "statuscategorychangeddate": F(
                "statusCategoryChangedDate", jql.DATETIME, lambda i: i.status_changed
            ),
            "duedate": F("duedate", jql.DATE, lambda i: i.duedate),
        }
        table["type"] = table["issuetype"]
        table["resolved"] = table["resolutiondate"]
        table["createddate"] = table["created"]
        table["updateddate"] = table["updated"]
        table["due"] = table["duedate"]
        for role in ("assignee", "reporter", "creator"):
            table[role] = jql.JqlField(
                role,
                EXACT,
                (lambda r: lambda i: getattr(i, r))(role),
                person(role),
                sort_get=(lambda r: lambda i: display(getattr(i, r)))(role),
            )
        for cf in self.custom_fields.values():
            getter = (lambda fid: lambda i: i.custom.get(fid))(cf.id)
            if cf.kind == "number":
                entry = F(cf.name, jql.NUMBER, getter)
            elif cf.kind == "option":
                entry = F(
                    cf.name, EXACT, getter, by_name(cf.name, [_Opt(o, v) for o, v in cf.options])
                )
            elif cf.kind == "date":
                entry = F(
                    cf.name,
                    jql.DATE,
                    (
                        lambda fid: (
                            lambda i: (
                                date.fromisoformat(i.custom[fid]) if i.custom.get(fid) else None
                            )
                        )
                    )(cf.id),
                )
            elif cf.kind == "textarea":
                entry = F(
                    cf.name,
                    TEXT,
                    (lambda fid: lambda i: adf_text(i.custom.get(fid)) or None)(cf.id),
                    sortable=False,
                )
            else:
                entry = F(cf.name, TEXT, getter)
            for alias in (f"cf[{cf.number}]", cf.id, cf.name):
                table[alias.lower()] = entry

        return lambda name: table.get(name.lower())

    async def _search(self, request: web.Request) -> web.StreamResponse:
        user = self._user_of(request)
        if request.method == "POST":
            body = self._body(request)
            text = body.get("jql")
            token = body.get("nextPageToken")
            max_results = body.get("maxResults", 50)
            fields = _fields_param(body.get("fields") or [])
            expand = set(_fields_param([body.get("expand") or ""]))
        else:
            q = request.query
            text = q.get("jql")
            token = q.get("nextPageToken")
            max_results = _int(request, "maxResults", 50)
            fields = _fields_param(q.getall("fields", []))
            expand = set(_fields_param(q.getall("expand", [])))
        if not isinstance(text, str) or not text.strip():
            raise JiraError(400, [UNBOUNDED])
        if not isinstance(max_results, int) or max_results < 1:
            raise JiraError(400, ["maxResults must be greater than 0."])
        try:
            query = jql.parse(text)
            if query.where is None:
                raise JiraError(400, [UNBOUNDED])
            compiled = jql.compile_query(
                query,
                self._jql_fields(user),
                now=self.clock(),
                current_user=user.account_id,
            )
        except jql.JqlError as exc:
            raise JiraError(400, [str(exc)]) from None
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        offset = 0
        if token:
            try:
                decoded = json.loads(base64.urlsafe_b64decode(token.encode() + b"=="))
                offset, query_digest = int(decoded["o"]), decoded["q"]
            except (ValueError, KeyError, TypeError, binascii.Error):
                raise JiraError(
                    400, ["The provided next page token is invalid or expired."]
                ) from None
            if query_digest != digest:
                raise JiraError(
                    400, ["The provided next page token does not belong to this query."]
                )
        size = min(max_results, self.search_page_cap)
        candidates = sorted(
            (i for i in self.issues.values() if self._can(user, i.project)),
            key=lambda i: i.id,
            reverse=True,
        )
        matches = compiled.sort([i for i in candidates if compiled.predicate(i)])
        page = matches[offset : offset + size]
        base = self._base(request)
        field_ids = self._selected_fields(fields, "id")
        ids_only = (fields or ["id"]) == ["id"]
        issues = [
            {"id": str(i.id)} if ids_only else self._issue_json(base, i, field_ids, expand)
            for i in page
        ]
        data: dict[str, Any] = {"issues": issues, "isLast": offset + len(page) >= len(matches)}
        if not data["isLast"]:
            raw = json.dumps({"o": offset + len(page), "q": digest}).encode()
            data["nextPageToken"] = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        if "names" in expand:
            data["names"] = {fid: self._field_name(fid) for fid in field_ids}
        if "schema" in expand:
            data["schema"] = {
                fid: schema for fid in field_ids if (schema := self._field_schema(fid)) is not None
            }
        return _json(data)


@dataclass(frozen=True)
class _Opt:
    id: str
    name: str


class _BadParam(ValueError):
    pass


def _int(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise _BadParam(f"The value '{raw}' of parameter '{name}' is not a number.") from None


class _UnparsableType:
    pass


_Unparsable: Any = _UnparsableType()
