"""Freshdesk API v2 JSON <-> the common model, and query_tickets filters turned
into Freshdesk requests (pure functions, no I/O).

Tickets
    ==================  =========================================================
    Ticket              Freshdesk ticket
    ==================  =========================================================
    id                  id (a number, as a string)
    summary             subject
    description         description (HTML), see below; description_text when
                        the answer has no description
    status              status as a label: 2 Open, 3 Pending, 4 Resolved,
                        5 Closed; any other number (an account's custom
                        status) as its number. Written from a label (any case)
                        or a number.
    priority            priority: 4 URGENT, 3 HIGH, 2 MEDIUM, 1 LOW; written
                        URGENT/CRITICAL 4, HIGH 3, MEDIUM/MODERATE 2,
                        LOW/PLANNING 1. It cannot be cleared.
    issue_type          type (create: the integration's default_type when empty)
    contact             requester_id, as a string. Written as requester_id when
                        the value is a number, as email when it holds an `@`
                        (Freshdesk adds an unknown email as a new contact);
                        create uses default_contact when empty. The embedded
                        `requester` (email, name, ...) stays in unmapped when
                        the answer has it (get_ticket asks for it).
    assignee            responder_id (an agent id); empty unassigns
    project             group_id (a group id; Freshdesk has no projects, and
                        groups are how tickets are divided between teams);
                        empty removes the group
    parent              the parent ticket of a child ticket (association_type 2,
                        associated_tickets_list[0]); written as parent_id, which
                        makes the ticket a child. It cannot be unlinked.
    tags                tags (a write replaces the list)
    due_date            due_by. Freshdesk sets it from the SLA; it can be
                        written but not cleared.
    custom_fields       custom_fields[<provider_field_path>] (the cf_... name)
                        by the integration's custom_field_mappings
    created_at          created_at
    updated_at          updated_at
    url                 {account url}/a/tickets/{id}
    unmapped            every other non-empty attribute, and the custom fields
                        no mapping names (as `custom_fields`)
    ==================  =========================================================

    creator and completion_date have no counterpart: writing a value is
    INVALID_ARGUMENT (reads leave them empty).

Description
    Freshdesk keeps HTML. Text is written as HTML-escaped paragraphs: a blank
    line separates paragraphs (`<p>`), a single newline is `<br>`, and a run of
    blanks keeps its width (`&nbsp;`). Markdown is not interpreted. Reading
    turns HTML back into text: `<p>`, headings, lists, tables and `<pre>` start
    a paragraph, `<div>`, `<li>` (as `- item`) and `<tr>` a line, `<br>` a
    line break; other markup is dropped, entities are decoded and whitespace
    collapses as a browser would. What this module writes reads back as the
    text written (outer blank lines, trailing blanks of a line and several
    blank lines in a row aside).

Filters (query_tickets)
    Freshdesk's filter API (GET /api/v2/search/tickets?query="...") knows
    agent_id, group_id, priority, status, tag, type, due_by, fr_due_by,
    created_at, updated_at and custom fields; `:` (equals), `:>` (>=), `:<`
    (<=), null, AND, OR and parentheses, strings in single quotes (there is no
    escape, so a value with a quote is refused), numbers bare, at most 512
    characters, 30 results a page, at most 10 pages. It has no NOT and no text
    search, so summary and description cannot be filtered, and `neq`/`not in`
    exist only for numeric fields (as the ranges around the values).

    ==================  =========================================================
    filter              request
    ==================  =========================================================
    id eq/in            GET /api/v2/tickets/{id} per id
    contact eq          GET /api/v2/tickets?requester_id=N (a number) or
                        ?email=... (the filter API has no requester field)
    status eq/in/neq/   status:N (labels become numbers); neq/not in as ranges
      not in
    priority (all but   priority:N for the codes whose Priority satisfies the
      like)             condition (Priority order as in the enum), so CRITICAL,
                        MODERATE and PLANNING, which no code reads as, match
                        nothing
    project, assignee   group_id, agent_id; an empty value is null; neq/not in
      eq/in/neq/not in  as ranges OR null (a missing value matches them)
    issue_type eq/in    type:'x' (empty: type:null)
    tags eq/in          tag:'x'
    created_at,         created_at/updated_at/due_by :> / :< a date (the API
      updated_at,       compares days), one day wider on each side since the
      due_date          day's time zone is not documented
      gt/gte/lt/lte
    custom_fields.<n>   <cf name>:value, eq/in: true/false and numbers bare, an
      eq/in             empty value null, other text (or a value written in
                        single quotes) quoted
    ==================  =========================================================

    Without conditions, or with only updated_at lower bounds, tickets are
    listed (GET /api/v2/tickets, updated_since = the bound, else 1970-01-01:
    the list otherwise holds only the last 30 days). A contact condition
    lists that requester's tickets the same way. Every condition is re-checked
    on each ticket read (dates exactly, the rest with the contract's matching
    rules), except a contact given as an email, which the answer cannot show.

    Order: one key among created_at, updated_at, due_date. The list orders on
    Freshdesk (order_by/order_type; created_at ascending when no order is
    given, so tickets created while paging land on pages not read yet). The
    filter API has no order: its matches (300 at most) are read and sorted
    here.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from types import MappingProxyType
from typing import Any

from google.protobuf import json_format, struct_pb2, timestamp_pb2
from ticketing.v1 import ticket_pb2
from yarl import URL

from ..errors import InvalidArgument
from ..matching import apply, matches
from ..priorities import BY_URGENCY
from ..query import Condition, FieldSpec, FieldType, Op, Query, QuerySchema, SortKey, parse_datetime
from ..query import field as spec
from .http_errors import body_excerpt

STATUS_LABELS: Mapping[int, str] = MappingProxyType(
    {2: "Open", 3: "Pending", 4: "Resolved", 5: "Closed"}
)
_STATUS_CODES: Mapping[str, int] = MappingProxyType(
    {label.casefold(): code for code, label in STATUS_LABELS.items()}
)
_FROM_FD: Mapping[int, int] = MappingProxyType(
    {4: ticket_pb2.URGENT, 3: ticket_pb2.HIGH, 2: ticket_pb2.MEDIUM, 1: ticket_pb2.LOW}
)
_TO_FD: Mapping[int, int] = MappingProxyType(
    {
        p: code
        for code, names in (
            (4, "URGENT CRITICAL"),
            (3, "HIGH"),
            (2, "MEDIUM MODERATE"),
            (1, "LOW PLANNING"),
        )
        for p in map(ticket_pb2.Priority.Value, names.split())
    }
)
PRIORITY_NAMES: tuple[str, ...] = BY_URGENCY
FD_PRIORITIES = (1, 2, 3, 4)

MAX_QUERY = 512
"""The longest filter query Freshdesk takes (counted here with its double quotes)."""
EPOCH = "1970-01-01T00:00:00Z"
"""updated_since when a list has no lower bound (the list is otherwise 30 days deep)."""
WIDEN = timedelta(days=1)

_EQ = frozenset({Op.EQ, Op.IN})
_EQ_NEQ = _EQ | {Op.NEQ, Op.NOT_IN}
_RANGE = frozenset({Op.GT, Op.GTE, Op.LT, Op.LTE})
_NEGATED: Mapping[Op, Op] = MappingProxyType(
    {Op.NEQ: Op.EQ, Op.NOT_IN: Op.IN, Op.NOT_LIKE: Op.LIKE}
)

TICKET_SCHEMA = QuerySchema.of(
    spec("id", FieldType.STRING, _EQ, orderable=False),
    spec("status", FieldType.STRING, _EQ_NEQ, orderable=False),
    spec("priority", FieldType.ENUM, _EQ_NEQ | _RANGE, False, PRIORITY_NAMES),
    spec("project", FieldType.STRING, _EQ_NEQ, orderable=False),
    spec("assignee", FieldType.STRING, _EQ_NEQ, orderable=False),
    spec("contact", FieldType.STRING, {Op.EQ}, orderable=False),
    spec("issue_type", FieldType.STRING, _EQ, orderable=False),
    spec("tags", FieldType.STRING, _EQ, orderable=False),
    spec("created_at", FieldType.DATETIME, _RANGE),
    spec("updated_at", FieldType.DATETIME, _RANGE),
    spec("due_date", FieldType.DATETIME, _RANGE),
)
"""What query_tickets accepts (custom fields are added per integration)."""

SEARCH_FIELDS: Mapping[str, str] = MappingProxyType(
    {"status": "status", "priority": "priority", "project": "group_id", "assignee": "agent_id"}
    | {"issue_type": "type", "tags": "tag", "created_at": "created_at"}
    | {"updated_at": "updated_at", "due_date": "due_by"}
)
"""Filter field -> the filter API's field."""
ORDER_FIELDS: Mapping[str, str] = MappingProxyType(
    {"created_at": "created_at", "updated_at": "updated_at", "due_date": "due_by"}
)
"""Order field -> the list's order_by."""

_MAPPED = frozenset(
    [
        "id",
        "subject",
        "description",
        "description_text",
        "structured_description",
        "status",
        "priority",
        "type",
        "requester_id",
        "responder_id",
        "group_id",
        "tags",
        "due_by",
        "created_at",
        "updated_at",
        "custom_fields",
    ]
)
_DIGITS = re.compile(r"[0-9]+")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def custom_field_spec(name: str) -> FieldSpec:
    """The filter field of a mapped custom field."""
    return spec(f"custom_fields.{name}", FieldType.ANY, _EQ, orderable=False)


# -- values --------------------------------------------------------------------------


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return int(value.strip())
    return None


def id_text(value: Any) -> str:
    """An id from JSON (a number, or text) as text; "" when absent."""
    number = _int(value)
    if number is not None:
        return str(number)
    return value if isinstance(value, str) else ""


def _text(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return ""
    return value if isinstance(value, str) else str(value)


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def id_number(value: str, what: str, kind: str) -> int:
    """A Freshdesk id given as text; INVALID_ARGUMENT unless it is a number."""
    if not _DIGITS.fullmatch(value.strip()):
        raise InvalidArgument(f"{what} must be a Freshdesk {kind} (a number), not {value!r}")
    return int(value.strip())


def status_label(code: Any) -> str:
    """The label of a status number; another number as itself; "" when absent."""
    number = _int(code)
    if number is None:
        return _text(code)
    return STATUS_LABELS.get(number, str(number))


def status_code(text: str, what: str = "ticket.status") -> int:
    """The number for a status label (any case) or number."""
    value = text.strip()
    if _DIGITS.fullmatch(value):
        return int(value)
    code = _STATUS_CODES.get(value.casefold())
    if code is None:
        labels = ", ".join(STATUS_LABELS.values())
        raise InvalidArgument(
            f"{what} {text!r} is not a Freshdesk status: {labels}, or a status number",
            reason="UNKNOWN_STATUS",
        )
    return code


def fd_priority(code: Any) -> int:
    """The Priority of a Freshdesk priority number; PRIORITY_UNSPECIFIED otherwise."""
    number = _int(code)
    return _FROM_FD.get(number, ticket_pb2.PRIORITY_UNSPECIFIED) if number is not None else 0


def fd_priority_code(priority: int) -> int | None:
    """The Freshdesk priority number to write; None for UNSPECIFIED."""
    return _TO_FD.get(priority)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _format_ts(stamp: timestamp_pb2.Timestamp) -> str:
    return format_time(stamp.ToDatetime(tzinfo=UTC))


def _set_time(target: timestamp_pb2.Timestamp, raw: Any) -> None:
    moment = parse_datetime(raw) if isinstance(raw, str) and raw else None
    if moment is not None:
        target.FromDatetime(moment)


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def _plain(struct: struct_pb2.Struct) -> dict[str, Any]:
    return dict(json_format.MessageToDict(struct))


# -- description ---------------------------------------------------------------------

_PARAGRAPHS = re.compile(r"\n[ \t]*\n\s*")
_HARD_SPACE = re.compile(r"(?:(?<= )|^) ")
_BLANKS = re.compile(r"[ \t\n\r\f\v]+")
_PARAGRAPH_TAGS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "blockquote", "pre", "table", "hr"}
)
_LINE_TAGS = frozenset({"div", "li", "tr", "dt", "dd", "section", "article", "header", "footer"})
_HIDDEN_TAGS = frozenset({"script", "style", "head", "title"})


def text_to_html(text: str) -> str:
    """Text as HTML-escaped paragraphs (see the module docstring)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        return ""
    paragraphs = [p for p in _PARAGRAPHS.split(text.strip("\n")) if p.strip()]
    return "".join(
        "<p>"
        + "<br>".join(
            _HARD_SPACE.sub("&nbsp;", html.escape(line, quote=False)) for line in p.split("\n")
        )
        + "</p>"
        for p in paragraphs
    )


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.pending = 0
        self.hidden = 0
        self.pre = 0
        self.bullet = False

    def _break(self, lines: int) -> None:
        self.pending = max(self.pending, lines)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden += 1
        elif tag == "br":
            self.pending += 1
        elif tag in _PARAGRAPH_TAGS:
            self._break(2)
            self.pre += tag == "pre"
        elif tag in _LINE_TAGS:
            self._break(1)
            self.bullet = self.bullet or tag == "li"

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _PARAGRAPH_TAGS:
            self._break(2)
            self.pre = max(0, self.pre - (tag == "pre"))
        elif tag in _LINE_TAGS:
            self._break(1)

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        text = data if self.pre else _BLANKS.sub(" ", data)
        at_line_start = not self.out or self.pending > 0 or self.out[-1].endswith("\n")
        if at_line_start and not self.pre:
            text = text.lstrip(" ")
        if not text:
            return
        if self.pending and self.out:
            self.out[-1] = self.out[-1].rstrip(" ")
            self.out.append("\n" * self.pending)
        self.pending = 0
        if self.bullet:
            self.out.append("- ")
            self.bullet = False
        self.out.append(text)


def html_to_text(markup: str) -> str:
    """HTML as text (see the module docstring)."""
    parser = _TextParser()
    parser.feed(markup)
    parser.close()
    return "".join(parser.out).replace("\xa0", " ").strip("\n").rstrip(" ")


def description_of(fd: Mapping[str, Any]) -> str:
    markup = fd.get("description")
    if isinstance(markup, str):
        return html_to_text(markup)
    return _text(fd.get("description_text"))


# -- tickets -------------------------------------------------------------------------


def ticket_url(base_url: str, ticket_id: str) -> str:
    return f"{base_url.rstrip('/')}/a/tickets/{ticket_id}"


def parent_of(fd: Mapping[str, Any]) -> str:
    """The parent of a child ticket (association_type 2); "" otherwise."""
    listed = fd.get("associated_tickets_list")
    if _int(fd.get("association_type")) == 2 and isinstance(listed, list) and listed:
        return id_text(listed[0])
    return ""


def ticket_from_fd(
    fd: Mapping[str, Any], *, base_url: str, custom_paths: Mapping[str, str] | None = None
) -> ticket_pb2.Ticket:
    """A Freshdesk ticket as a Ticket; `custom_paths` maps custom field names to
    Freshdesk names (cf_...)."""
    custom_paths = custom_paths or {}
    ticket_id = id_text(fd.get("id"))
    ticket = ticket_pb2.Ticket(
        id=ticket_id,
        summary=_text(fd.get("subject")),
        description=description_of(fd),
        status=status_label(fd.get("status")),
        priority=fd_priority(fd.get("priority")),  # type: ignore[arg-type]
        issue_type=_text(fd.get("type")),
        contact=id_text(fd.get("requester_id")),
        assignee=id_text(fd.get("responder_id")),
        project=id_text(fd.get("group_id")),
        parent=parent_of(fd),
        tags=[_text(t) for t in fd.get("tags") or () if _text(t)],
        url=ticket_url(base_url, ticket_id) if ticket_id else "",
    )
    _set_time(ticket.due_date, fd.get("due_by"))
    _set_time(ticket.created_at, fd.get("created_at"))
    _set_time(ticket.updated_at, fd.get("updated_at"))
    custom = _obj(fd.get("custom_fields"))
    mapped = {n: custom[p] for n, p in custom_paths.items() if custom.get(p) is not None}
    if mapped:
        ticket.custom_fields.update(mapped)
    rest = {k: v for k, v in fd.items() if k not in _MAPPED and _present(v)}
    used = set(custom_paths.values())
    others = {k: v for k, v in custom.items() if k not in used and v is not None}
    if others:
        rest["custom_fields"] = others
    if rest:
        ticket.unmapped.update(rest)
    return ticket


def requester_fields(contact: str, what: str) -> dict[str, Any]:
    """requester_id for a number, email for an address."""
    value = contact.strip()
    if _DIGITS.fullmatch(value):
        return {"requester_id": int(value)}
    if "@" in value:
        return {"email": value}
    raise InvalidArgument(
        f"{what} {contact!r} is neither a Freshdesk requester id (a number) nor an email"
    )


def custom_values(values: Mapping[str, Any], custom_paths: Mapping[str, str]) -> dict[str, Any]:
    """custom_fields for a write: Freshdesk name -> value (None clears)."""
    unknown = sorted(set(values) - set(custom_paths))
    if unknown:
        mapped = ", ".join(sorted(custom_paths)) or "none"
        raise InvalidArgument(
            f"custom field {unknown[0]!r} is not mapped for Freshdesk (mapped: {mapped})",
            reason="UNMAPPED_CUSTOM_FIELD",
        )
    out: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if value is not None and not isinstance(value, str | bool | int | float):
            raise InvalidArgument(
                f"custom field {name!r} takes a string, number or boolean on Freshdesk"
            )
        out[custom_paths[name]] = value
    return out


def _refuse_unmapped(ticket: ticket_pb2.Ticket, path: str) -> None:
    if path == "creator" and ticket.creator:
        raise InvalidArgument(
            "Freshdesk keeps no creator apart from the requester (ticket.creator); "
            "use ticket.contact"
        )
    if path == "completion_date" and ticket.HasField("completion_date"):
        raise InvalidArgument(
            "Freshdesk sets the completion time itself (ticket.completion_date); "
            "set the status to Resolved or Closed"
        )


def create_body(
    ticket: ticket_pb2.Ticket,
    *,
    default_contact: str = "",
    default_type: str = "",
    custom_paths: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The POST /api/v2/tickets body; INVALID_ARGUMENT for what cannot be written."""
    _refuse_unmapped(ticket, "creator")
    _refuse_unmapped(ticket, "completion_date")
    # Freshdesk requires a description on create; an empty one is sent as such.
    body: dict[str, Any] = {
        "subject": ticket.summary,
        "description": text_to_html(ticket.description),
    }
    if ticket.contact.strip():
        body |= requester_fields(ticket.contact, "ticket.contact")
    elif default_contact.strip():
        body |= requester_fields(default_contact, "freshdesk.default_contact")
    else:
        raise InvalidArgument(
            "a Freshdesk ticket needs a requester: set ticket.contact (an email or a "
            "requester id) or the integration's default_contact",
            reason="MISSING_CONTACT",
        )
    if ticket.status.strip():
        body["status"] = status_code(ticket.status)
    code = fd_priority_code(ticket.priority)
    if code is not None:
        body["priority"] = code
    issue_type = ticket.issue_type if ticket.issue_type.strip() else default_type
    if issue_type.strip():
        body["type"] = issue_type
    if ticket.assignee.strip():
        body["responder_id"] = id_number(ticket.assignee, "ticket.assignee", "agent id")
    if ticket.project.strip():
        body["group_id"] = id_number(ticket.project, "ticket.project", "group id")
    if ticket.parent.strip():
        body["parent_id"] = id_number(ticket.parent, "ticket.parent", "ticket id")
    if ticket.tags:
        body["tags"] = list(ticket.tags)
    if ticket.HasField("due_date"):
        body["due_by"] = _format_ts(ticket.due_date)
    wanted = _plain(ticket.custom_fields)
    if wanted:
        body["custom_fields"] = custom_values(wanted, custom_paths or {})
    return body


def update_body(
    ticket: ticket_pb2.Ticket,
    paths: Sequence[str],
    current: ticket_pb2.Ticket,
    *,
    custom_paths: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """The PUT /api/v2/tickets/{id} body for the masked fields; None when there is
    nothing to send. `current` is the ticket as read before the write."""
    custom_paths = custom_paths or {}
    body: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    wanted = _plain(ticket.custom_fields)
    for path in paths:
        head, _, name = path.partition(".")
        if head == "custom_fields":
            if name:
                custom[name] = wanted.get(name)
            else:
                custom |= {n: None for n in custom_paths} | wanted
        elif path == "summary":
            body["subject"] = ticket.summary
        elif path == "description":
            body["description"] = text_to_html(ticket.description)
        elif path == "status":
            if not ticket.status.strip():
                raise InvalidArgument("a Freshdesk ticket always has a status (ticket.status)")
            body["status"] = status_code(ticket.status)
        elif path == "priority":
            code = fd_priority_code(ticket.priority)
            if code is None:
                raise InvalidArgument("a Freshdesk ticket priority cannot be cleared")
            body["priority"] = code
        elif path == "issue_type":
            body["type"] = ticket.issue_type if ticket.issue_type.strip() else None
        elif path == "contact":
            if not ticket.contact.strip():
                raise InvalidArgument("a Freshdesk ticket always has a requester (ticket.contact)")
            body |= requester_fields(ticket.contact, "ticket.contact")
        elif path == "assignee":
            assignee = ticket.assignee.strip()
            body["responder_id"] = (
                id_number(assignee, "ticket.assignee", "agent id") if assignee else None
            )
        elif path == "project":
            project = ticket.project.strip()
            body["group_id"] = id_number(project, "ticket.project", "group id") if project else None
        elif path == "tags":
            body["tags"] = list(ticket.tags)
        elif path == "due_date":
            if ticket.HasField("due_date"):
                body["due_by"] = _format_ts(ticket.due_date)
            elif current.HasField("due_date"):
                raise InvalidArgument(
                    "Freshdesk computes due_by from the SLA; ticket.due_date cannot be cleared"
                )
        elif path == "parent":
            if ticket.parent.strip() == current.parent:
                continue
            if not ticket.parent.strip():
                raise InvalidArgument("a Freshdesk child ticket cannot be unlinked (ticket.parent)")
            body["parent_id"] = id_number(ticket.parent, "ticket.parent", "ticket id")
        elif path in ("creator", "completion_date"):
            _refuse_unmapped(ticket, path)
        else:
            raise InvalidArgument(f"ticket.{path} cannot be written to Freshdesk")
    if custom:
        body["custom_fields"] = custom_values(custom, custom_paths)
    return body or None


# -- filters -------------------------------------------------------------------------


def ticket_record(fd: Mapping[str, Any], custom_paths: Mapping[str, str]) -> dict[str, Any]:
    """The fields filters are re-checked against (missing text is "", as the
    filter API's null)."""
    custom = _obj(fd.get("custom_fields"))
    priority = fd_priority(fd.get("priority"))
    number = _int(fd.get("id"))
    return {
        "id": id_text(fd.get("id")),
        "_num": number if number is not None else -1,
        "status": status_label(fd.get("status")),
        "priority": ticket_pb2.Priority.Name(priority) if priority else "",  # type: ignore[arg-type]
        "project": id_text(fd.get("group_id")),
        "assignee": id_text(fd.get("responder_id")),
        "contact": id_text(fd.get("requester_id")),
        "issue_type": _text(fd.get("type")),
        "tags": [_text(t) for t in fd.get("tags") or ()],
        "created_at": fd.get("created_at"),
        "updated_at": fd.get("updated_at"),
        "due_date": fd.get("due_by"),
        "custom_fields": {
            n: "" if custom.get(p) is None else custom[p] for n, p in custom_paths.items()
        },
    }


@dataclass(frozen=True)
class TicketSearch:
    """How to read the tickets of a query, and how to re-check them."""

    kind: str
    """"ids" (GET each), "list" (GET /api/v2/tickets) or "search" (the filter API)."""
    check: Query
    """Conditions re-checked on every ticket read, and the order (applied here
    for "ids" and for an ordered "search")."""
    custom_paths: Mapping[str, str] = field(default_factory=dict)
    ids: tuple[str, ...] = ()
    params: tuple[tuple[str, str], ...] = ()
    """The list's parameters (without include, per_page and page)."""
    query: str = ""
    """The filter API's query, without its double quotes."""
    empty: bool = False
    """Nothing can match: no request is needed."""

    @property
    def ordered(self) -> bool:
        return bool(self.check.order)

    def keep(self, fd: Mapping[str, Any]) -> bool:
        record = ticket_record(fd, self.custom_paths)
        return not self.empty and matches(self.check, record, TICKET_SCHEMA)

    def select(self, items: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """The tickets that match, in the query's order (then by id)."""
        if self.empty:
            return []
        unique = {id_text(i.get("id")): i for i in items}
        records = [{**ticket_record(i, self.custom_paths), "_item": i} for i in unique.values()]
        chosen = apply(self.check, records, TICKET_SCHEMA, id_field="_num")
        return [r["_item"] for r in chosen]


def _quoted(value: str, what: str) -> str:
    if any(c in value for c in "'\"\\"):
        raise InvalidArgument(
            f"{what}: Freshdesk's filter syntax cannot express a value with a quote or "
            f"backslash ({value!r})",
            reason="INVALID_FILTER",
        )
    return f"'{value}'"


def _any(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def _numbers_except(name: str, excluded: Iterable[int], with_null: bool) -> str:
    """Every non-negative integer but `excluded` (and null when `with_null`),
    with the inclusive :> and :< of the filter API."""
    parts: list[str] = []
    low = 0
    for number in sorted(set(excluded)):
        high = number - 1  # the gap [low, high] below this number
        if low == high:
            parts.append(f"{name}:{low}")
        elif low == 0 and high > 0:
            parts.append(f"{name}:<{high}")
        elif low < high:
            parts.append(f"({name}:>{low} AND {name}:<{high})")
        low = number + 1
    parts.append(f"{name}:>{low}")
    if with_null:
        parts.append(f"{name}:null")
    return _any(parts)


def _priority_codes(op: Op, values: Sequence[Any]) -> list[int]:
    """The Freshdesk priorities whose Priority satisfies the positive `op`."""
    names = [str(v) for v in values]
    index = {name: PRIORITY_NAMES.index(name) for name in names}
    out = []
    for code in FD_PRIORITIES:
        mine = PRIORITY_NAMES.index(ticket_pb2.Priority.Name(_FROM_FD[code]))  # type: ignore[arg-type]
        first = index[names[0]]
        ok = {
            Op.EQ: mine in index.values(),
            Op.IN: mine in index.values(),
            Op.GT: mine > first,
            Op.GTE: mine >= first,
            Op.LT: mine < first,
            Op.LTE: mine <= first,
        }[op]
        if ok:
            out.append(code)
    return out


def _custom_literal(value: str, what: str) -> str:
    text = value.strip()
    if len(text) >= 2 and text.startswith("'") and text.endswith("'"):
        return _quoted(text[1:-1], what)
    if text == "":
        return "null"
    if text.lower() in ("true", "false"):
        return text.lower()
    if _NUMBER.fullmatch(text):
        return text
    return _quoted(value, what)


def _clause(condition: Condition, custom_paths: Mapping[str, str]) -> str | None:
    """The filter API clause for one condition; None when nothing can match."""
    name, op, values = condition.field, condition.op, condition.values
    what = f"filter {name}"
    negated = op in _NEGATED
    if name == "priority":
        codes = _priority_codes(_NEGATED.get(op, op), values)
        if negated:
            codes = [c for c in FD_PRIORITIES if c not in codes]
        return _any([f"priority:{c}" for c in codes]) if codes else None
    if name.startswith("custom_fields."):
        target = custom_paths[name.removeprefix("custom_fields.")]
        return _any([f"{target}:{_custom_literal(str(v), what)}" for v in values])
    target = SEARCH_FIELDS[name]
    if name in ("created_at", "updated_at", "due_date"):
        moment = values[0]
        if not isinstance(moment, datetime):
            raise InvalidArgument(f"{what} needs a date or time", reason="INVALID_FILTER")
        day = moment.astimezone(UTC).date()
        if op in (Op.GT, Op.GTE):
            return f"{target}:>'{(day - WIDEN).isoformat()}'"
        return f"{target}:<'{(day + WIDEN).isoformat()}'"
    if name in ("issue_type", "tags"):
        texts = [str(v) for v in values]
        if name == "tags" and any(not t.strip() for t in texts):
            raise InvalidArgument("filter tags needs a tag", reason="INVALID_FILTER")
        return _any([f"{target}:null" if not t else f"{target}:{_quoted(t, what)}" for t in texts])
    # status, project, assignee: numbers (values are normalised already)
    texts = [str(v) for v in values]
    numbers = (
        [status_code(t, what) for t in texts] if name == "status" else [int(t) for t in texts if t]
    )
    nullable = name != "status"
    if negated:
        return _numbers_except(target, numbers, with_null=nullable and "" not in texts)
    parts = [f"{target}:{n}" for n in numbers]
    if nullable and "" in texts:
        parts.append(f"{target}:null")
    return _any(parts)


def _normalised(condition: Condition, custom_paths: Mapping[str, str]) -> Condition:
    """The condition with values as the re-check sees them (status labels,
    canonical ids, custom values without their quotes)."""
    name, values = condition.field, condition.values
    if name.startswith("custom_fields."):
        custom = name.removeprefix("custom_fields.")
        if custom not in custom_paths:
            mapped = ", ".join(sorted(custom_paths)) or "none"
            raise InvalidArgument(
                f"custom field {custom!r} has no single Freshdesk field for this query "
                f"(mapped: {mapped}); filter on project too",
                reason="UNMAPPED_CUSTOM_FIELD",
            )
        texts = [str(v).strip() for v in values]
        unquoted = [t[1:-1] if len(t) >= 2 and t[0] == t[-1] == "'" else t for t in texts]
        return Condition(name, condition.op, tuple(unquoted))
    if name == "status":
        labels = [status_label(status_code(str(v), f"filter {name}")) for v in values]
        return Condition(name, condition.op, tuple(labels))
    if name in ("project", "assignee", "id"):
        kind = {"project": "group id", "assignee": "agent id", "id": "ticket id"}[name]
        ids = [str(v).strip() for v in values]
        if name == "id":
            return Condition(name, condition.op, tuple(ids))
        canonical = [str(id_number(i, f"filter {name}", kind)) if i else "" for i in ids]
        return Condition(name, condition.op, tuple(canonical))
    if name == "contact":
        text = str(values[0]).strip()
        if _DIGITS.fullmatch(text):
            return Condition(name, condition.op, (str(int(text)),))
        if "@" not in text:
            raise InvalidArgument(
                f"filter contact {text!r} is neither a requester id nor an email",
                reason="INVALID_FILTER",
            )
        return Condition(name, condition.op, (text,))
    return condition


def ticket_search(query: Query, *, custom_paths: Mapping[str, str] | None = None) -> TicketSearch:
    """How to read the tickets of a query_tickets query (see the module docstring)."""
    custom_paths = custom_paths or {}
    for condition in query.conditions:
        known = TICKET_SCHEMA.fields.get(condition.field)
        if condition.field.startswith("custom_fields."):
            known = custom_field_spec(condition.field.removeprefix("custom_fields."))
        if known is None or condition.op not in known.ops:
            raise InvalidArgument(
                f"query_tickets: Freshdesk cannot filter {condition.field} "
                f"with {condition.op.value}",
                reason="INVALID_FILTER",
            )
    if len(query.order) > 1:
        raise InvalidArgument(
            "query_tickets: Freshdesk orders tickets by one field", reason="INVALID_ORDER"
        )
    for key in query.order:
        if key.field not in ORDER_FIELDS:
            raise InvalidArgument(
                f"query_tickets: Freshdesk cannot order tickets by {key.field} "
                f"(orderable: {', '.join(ORDER_FIELDS)})",
                reason="INVALID_ORDER",
            )
    conditions = [_normalised(c, custom_paths) for c in query.conditions]
    order = tuple(query.order)
    by_id = [c for c in conditions if c.field == "id"]
    if by_id:
        ids = set(map(str, by_id[0].values))
        for condition in by_id[1:]:
            ids &= set(map(str, condition.values))
        wanted = tuple(sorted(i for i in ids if _DIGITS.fullmatch(i)))
        return TicketSearch(
            "ids", Query(tuple(conditions), order), custom_paths, ids=wanted, empty=not wanted
        )
    contacts = [c for c in conditions if c.field == "contact"]
    lower = [c for c in conditions if c.field == "updated_at" and c.op in (Op.GT, Op.GTE)]
    if contacts or len(lower) == len(conditions):
        if len(contacts) > 1:
            raise InvalidArgument(
                "query_tickets: give contact once (Freshdesk lists one requester's tickets)",
                reason="INVALID_FILTER",
            )
        return _list_search(conditions, contacts, lower, order, custom_paths)
    # Custom values keep their quotes here (a quoted value is sent as text).
    sent = [
        raw if raw.field.startswith("custom_fields.") else normal
        for raw, normal in zip(query.conditions, conditions, strict=True)
    ]
    clauses = [_clause(c, custom_paths) for c in sent]
    text = " AND ".join(c for c in clauses if c is not None)
    if len(text) + 2 > MAX_QUERY:
        raise InvalidArgument(
            f"query_tickets: the Freshdesk filter would be {len(text) + 2} characters long; "
            f"Freshdesk takes at most {MAX_QUERY}",
            reason="FILTER_TOO_LONG",
        )
    return TicketSearch(
        "search",
        Query(tuple(conditions), order),
        custom_paths,
        query=text,
        empty=any(c is None for c in clauses),
    )


def _list_search(
    conditions: Sequence[Condition],
    contacts: Sequence[Condition],
    lower: Sequence[Condition],
    order: tuple[SortKey, ...],
    custom_paths: Mapping[str, str],
) -> TicketSearch:
    params: list[tuple[str, str]] = []
    check = list(conditions)
    if contacts:
        value = str(contacts[0].values[0])
        if _DIGITS.fullmatch(value):
            params.append(("requester_id", value))
        else:
            params.append(("email", value))
            check.remove(contacts[0])  # the answer shows the requester's id only
    bounds = [c.values[0] for c in lower if isinstance(c.values[0], datetime)]
    params.append(("updated_since", format_time(max(bounds)) if bounds else EPOCH))
    key = order[0] if order else SortKey("created_at")
    params.append(("order_by", ORDER_FIELDS[key.field]))
    params.append(("order_type", "desc" if key.descending else "asc"))
    # The list is ordered by Freshdesk: the re-check only filters.
    return TicketSearch("list", Query(tuple(check)), custom_paths, params=tuple(params))


# -- paging and errors -----------------------------------------------------------------

_LINK = re.compile(r"<\s*([^>]*?)\s*>\s*;[^,]*?rel=\"?([A-Za-z]+)\"?")


def next_page(link: str | None, page: int) -> int | None:
    """The page after `page` from a Link header: None without rel="next"."""
    if not link:
        return None
    for target, rel in _LINK.findall(link):
        if rel.lower() != "next":
            continue
        try:
            linked = int(URL(target).query.get("page", ""))
        except ValueError:
            return page + 1
        return linked if linked > page else page + 1
    return None


def error_text(status: int, body: bytes) -> str:
    """Freshdesk's `{"description", "errors": [{"field", "message", "code"}]}`
    (or `{"code", "message"}`) as one line."""
    try:
        data = json.loads(body)
    except ValueError:
        return body_excerpt(status, body)
    if not isinstance(data, dict):
        return body_excerpt(status, body)
    head = _text(data.get("description") or data.get("message")).strip()
    code = _text(data.get("code")).strip()
    if head and code:
        head = f"{head} ({code})"
    details = []
    for item in data.get("errors") or ():
        if not isinstance(item, dict):
            continue
        text = _text(item.get("message")).strip()
        if item.get("field"):
            text = f"{item['field']}: {text}" if text else _text(item["field"])
        if item.get("code"):
            text = f"{text} ({item['code']})" if text else _text(item["code"])
        if text:
            details.append(text)
    if details:
        return f"{head}: {'; '.join(details)}" if head else "; ".join(details)
    return head or code or body_excerpt(status, body)
