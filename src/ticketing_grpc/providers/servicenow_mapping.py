"""ServiceNow Table API JSON <-> the common model (ITSM and SIR alike).

Records are read with `sysparm_display_value=all`, so every field arrives as
`{"display_value": ..., "value": ...}` (plus `link` for references unless
`sysparm_exclude_reference_link=true`); a plain string (what the other
display modes give) is read as both. All values are strings; an empty
reference is `""`.

What is read from which half:

- `value`: ids and people (sys_ids of sys_user: assigned_to, opened_by,
  caller_id), parent (a task sys_id, like ticket ids), priority (the code
  "1".."5"), dates (UTC `YYYY-MM-DD HH:MM:SS`; the display value is in the
  API user's zone and format), plain text, and custom field columns.
- `display_value`: the labels of state (ticket.status, e.g. "In Progress")
  and category (ticket.issue_type).

People are sys_ids rather than names because a write takes a sys_id (a name
would need `sysparm_input_display_value=true`, which also reinterprets every
date of the body in the API user's time zone) and names are not unique; a
ticket read and written back therefore changes nothing.

Writes send actual values only (never `sysparm_input_display_value`): labels
given for state and category are turned into their choice values through
sys_choice (`resolve_choice`), dates are written `YYYY-MM-DD HH:MM:SS` in UTC.

Priority: ServiceNow computes `priority` from impact and urgency (priority
lookup rules; by default the field is read-only), so writing a priority
writes the impact and urgency that produce it, and the priority code too
(which the lookup rules recompute to the same value):

    ========  ========  ======  =======
    Priority  priority  impact  urgency
    ========  ========  ======  =======
    URGENT    1         1       1
    CRITICAL  1         1       1
    HIGH      2         1       2
    MEDIUM    3         2       2
    MODERATE  3         2       2
    LOW       4         2       3
    PLANNING  5         3       3
    ========  ========  ======  =======

Reading maps the code back through priorities.servicenow_priority (1
CRITICAL, 2 HIGH, 3 MODERATE, 4 LOW, 5 PLANNING).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from google.protobuf import json_format, struct_pb2, timestamp_pb2
from ticketing.v1 import ticket_pb2

from ..errors import InvalidArgument
from ..priorities import servicenow_priority, servicenow_priority_code
from ..query import parse_datetime
from .http import body_excerpt

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
"""How ServiceNow writes and reads the actual value of a glide_date_time (UTC)."""

TICKET_COLUMNS: Mapping[str, str] = MappingProxyType(
    {
        "id": "sys_id",
        "summary": "short_description",
        "description": "description",
        "priority": "priority",
        "status": "state",
        "assignee": "assigned_to",
        "creator": "opened_by",
        "contact": "caller_id",
        "issue_type": "category",
        "parent": "parent",
        "due_date": "due_date",
        "completion_date": "closed_at",
        "created_at": "sys_created_on",
        "updated_at": "sys_updated_on",
    }
)
"""Model field -> column, ServiceNow ITSM (incident and the tables extending it)."""

SIR_TICKET_COLUMNS: Mapping[str, str] = MappingProxyType(
    {k: v for k, v in TICKET_COLUMNS.items() if k != "contact"}
)
"""Model field -> column, ServiceNow SIR: sn_si_incident extends task, not
incident, and has no caller_id, so ticket.contact has no column."""

CLASS_COLUMN = "sys_class_name"
"""The record's table: ticket.project."""

JOURNAL_COLUMNS = frozenset({"comments", "work_notes", "comments_and_work_notes"})
"""Journal fields: always empty on the record (entries live in sys_journal_field)."""

PRIORITY_IMPACT_URGENCY: Mapping[str, tuple[str, str]] = MappingProxyType(
    {"1": ("1", "1"), "2": ("1", "2"), "3": ("2", "2"), "4": ("2", "3"), "5": ("3", "3")}
)
"""Priority code -> the (impact, urgency) the default lookup rules turn into it."""

NUMBER_TYPES = frozenset({"integer", "decimal", "float", "longint", "numeric"})
STRING_TYPES = frozenset(
    {
        "string",
        "char",
        "translated_text",
        "translated_field",
        "html",
        "translated_html",
        "email",
        "url",
        "ph_number",
        "phone_number_e164",
        "journal",
        "journal_input",
        "multi_two_lines",
        "wiki_text",
    }
)
CUSTOM_PREFIXES = ("u_", "x_")
"""Columns an admin added: u_ (global scope) and x_<scope>_ (scoped apps)."""

_WRITTEN_AS_IS = frozenset({"summary", "description", "assignee", "creator", "contact", "parent"})
"""Model fields written as given (text, and sys_ids for people and parent)."""


@dataclass(frozen=True)
class Choice:
    """One sys_choice entry of a column."""

    value: str
    label: str


ITSM_STATES: tuple[Choice, ...] = (
    Choice("1", "New"),
    Choice("2", "In Progress"),
    Choice("3", "On Hold"),
    Choice("6", "Resolved"),
    Choice("7", "Closed"),
    Choice("8", "Canceled"),
)
"""Incident state choices of a base instance; used only when sys_choice lists none."""

SIR_STATES: tuple[Choice, ...] = (
    Choice("10", "Draft"),
    Choice("16", "Analysis"),
    Choice("18", "Contain"),
    Choice("19", "Eradicate"),
    Choice("20", "Recover"),
    Choice("100", "Review"),
    Choice("3", "Closed"),
    Choice("7", "Cancelled"),
)
"""sn_si_incident state choices as commonly documented (codes unverified); used
only when sys_choice lists none."""


# -- values ------------------------------------------------------------------------


def value_of(raw: Any) -> str:
    """The actual value of a field as returned in any display mode ("" when empty)."""
    if isinstance(raw, Mapping):
        raw = raw.get("value")
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


def display_of(raw: Any) -> str:
    """The display value of a field (the actual value when there is none)."""
    if isinstance(raw, Mapping):
        shown = raw.get("display_value")
        if shown is not None and shown != "":
            return str(shown)
    return value_of(raw)


def parse_time(text: str) -> datetime | None:
    """An actual date/time value (`YYYY-MM-DD HH:MM:SS` UTC, or a date) as aware UTC."""
    return parse_datetime(text) if text else None


def format_time(ts: timestamp_pb2.Timestamp) -> str:
    return ts.ToDatetime(tzinfo=UTC).strftime(DATE_FORMAT)


def format_datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(DATE_FORMAT)


def _set_time(target: timestamp_pb2.Timestamp, raw: Any) -> None:
    parsed = parse_time(value_of(raw))
    if parsed is not None:
        target.FromDatetime(parsed)


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(dict(values))
    return out


def plain(struct: struct_pb2.Struct) -> dict[str, Any]:
    return dict(json_format.MessageToDict(struct))


# -- choices -----------------------------------------------------------------------


def choices_from_rows(rows: Iterable[Mapping[str, Any]]) -> tuple[Choice, ...]:
    """sys_choice rows -> the active choices, by sequence, one per value.

    Inactive rows are dropped here (rather than by `inactive=false` in the
    query); when a value has rows in several languages the English (or
    language-less) one wins.
    """
    picked: dict[str, tuple[int, float, int, Choice]] = {}
    for position, row in enumerate(rows):
        if value_of(row.get("inactive")).lower() == "true":
            continue
        value = value_of(row.get("value"))
        if not value:
            continue
        language = value_of(row.get("language")).lower()
        rank = 0 if language in ("", "en") else 1
        try:
            sequence = float(value_of(row.get("sequence")) or "inf")
        except ValueError:
            sequence = float("inf")
        label = value_of(row.get("label")) or value
        entry = (rank, sequence, position, Choice(value, label))
        if value not in picked or entry[:1] < picked[value][:1]:
            picked[value] = entry
    ordered = sorted(picked.values(), key=lambda e: (e[1], e[2]))
    return tuple(e[3] for e in ordered)


def choice_label(value: str, choices: Sequence[Choice]) -> str | None:
    return next((c.label for c in choices if c.value == value), None)


def resolve_choice(what: str, given: str, choices: Sequence[Choice]) -> str:
    """The choice value for a label (case-insensitive) or a value; `given` as is
    when the column has no choices; INVALID_ARGUMENT naming the allowed labels."""
    if not choices or not given:
        return given
    folded = given.strip().casefold()
    for choice in choices:
        if choice.label.strip().casefold() == folded:
            return choice.value
    for choice in choices:
        if choice.value == given.strip():
            return choice.value
    allowed = ", ".join(c.label for c in choices)
    raise InvalidArgument(
        f"{what} {given!r} is not one of the ServiceNow choices: {allowed}",
        reason="UNKNOWN_CHOICE",
    )


# -- tickets -----------------------------------------------------------------------


def record_url(instance: str, table: str, sys_id: str) -> str:
    """The record's form in the classic UI, inside the navigation frame."""
    target = quote(f"{table}.do?sys_id={sys_id}", safe="")
    return f"{instance.rstrip('/')}/nav_to.do?uri={target}"


def ticket_from_record(
    record: Mapping[str, Any],
    *,
    instance: str,
    table: str,
    columns: Mapping[str, str] = TICKET_COLUMNS,
    custom_fields: Mapping[str, str] | None = None,
    state_choices: Sequence[Choice] = (),
) -> ticket_pb2.Ticket:
    """A record read with any sysparm_display_value.

    `table` is the table it was read from (ticket.project when the record has
    no sys_class_name); `custom_fields` maps custom field names to columns;
    `state_choices` label a state that comes without a display value.
    """
    custom_fields = custom_fields or {}

    def raw(model: str) -> Any:
        column = columns.get(model)
        return record.get(column) if column else None

    sys_id = value_of(record.get("sys_id"))
    project = value_of(record.get(CLASS_COLUMN)) or table
    state = raw("status")
    status = display_of(state) if isinstance(state, Mapping) else ""
    if not status or status == value_of(state):
        status = choice_label(value_of(state), state_choices) or value_of(state)
    ticket = ticket_pb2.Ticket(
        id=sys_id,
        summary=value_of(raw("summary")),
        description=value_of(raw("description")),
        priority=servicenow_priority(value_of(raw("priority")) or None),  # type: ignore[arg-type]
        status=status,
        assignee=value_of(raw("assignee")),
        creator=value_of(raw("creator")),
        contact=value_of(raw("contact")),
        issue_type=display_of(raw("issue_type")),
        parent=value_of(raw("parent")),
        project=project,
        url=record_url(instance, project, sys_id) if sys_id else "",
    )
    _set_time(ticket.due_date, raw("due_date"))
    _set_time(ticket.completion_date, raw("completion_date"))
    _set_time(ticket.created_at, raw("created_at"))
    _set_time(ticket.updated_at, raw("updated_at"))
    custom = {
        name: value_of(record.get(column))
        for name, column in custom_fields.items()
        if value_of(record.get(column))
    }
    if custom:
        ticket.custom_fields.CopyFrom(_struct(custom))
    used = set(columns.values()) | set(custom_fields.values()) | {CLASS_COLUMN} | JOURNAL_COLUMNS
    rest: dict[str, Any] = {}
    for column, field in record.items():
        if column in used:
            continue
        value, shown = value_of(field), display_of(field)
        if not value and not shown:
            continue
        rest[column] = {"value": value, "display_value": shown} if shown != value else value
    if rest:
        ticket.unmapped.CopyFrom(_struct(rest))
    return ticket


def priority_fields(priority: int) -> dict[str, str]:
    """impact, urgency and priority for a Priority (see the module docstring)."""
    code = servicenow_priority_code(priority)
    if code is None:
        raise InvalidArgument("a ServiceNow ticket always has a priority; it cannot be cleared")
    impact, urgency = PRIORITY_IMPACT_URGENCY[code]
    return {"impact": impact, "urgency": urgency, "priority": code}


def custom_value(name: str, value: Any) -> str:
    """A custom field value as the column's string (null clears it)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int | str):
        return str(value)
    raise InvalidArgument(
        f"custom field {name!r} takes a string, number or boolean on ServiceNow, not {value!r}"
    )


def record_from_ticket(
    ticket: ticket_pb2.Ticket,
    paths: Sequence[str],
    *,
    columns: Mapping[str, str] = TICKET_COLUMNS,
    choices: Mapping[str, Sequence[Choice]] | None = None,
    custom_fields: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The write body (actual values) for the model fields named in `paths`.

    `paths` are update_mask paths: a model field, `custom_fields` (every
    mapped custom field: those absent from the ticket are cleared) or
    `custom_fields.<name>`. `choices` maps a column (state, category) to its
    choices, through which labels become values; `custom_fields` maps custom
    field names to columns. `project` is not written here (the provider picks
    the table from it).
    """
    choices = choices or {}
    custom_fields = custom_fields or {}
    body: dict[str, str] = {}
    custom: dict[str, Any] = {}
    wanted = plain(ticket.custom_fields)

    def column(path: str) -> str:
        name = columns.get(path)
        if name is None:
            raise InvalidArgument(f"ticket.{path} has no ServiceNow column on this provider")
        return name

    for path in paths:
        head, _, name = path.partition(".")
        if head == "custom_fields":
            if name:
                custom[name] = wanted.get(name)
            else:
                custom |= {n: None for n in custom_fields} | wanted
        elif path in _WRITTEN_AS_IS:
            if path in columns or getattr(ticket, path):
                body[column(path)] = getattr(ticket, path)
        elif path == "priority":
            body |= priority_fields(ticket.priority)
        elif path == "status":
            if not ticket.status:
                raise InvalidArgument(
                    "a ServiceNow ticket always has a state; it cannot be cleared"
                )
            state = column("status")
            body[state] = resolve_choice("ticket.status", ticket.status, choices.get(state, ()))
        elif path == "issue_type":
            category = column("issue_type")
            body[category] = resolve_choice(
                "ticket.issue_type", ticket.issue_type, choices.get(category, ())
            )
        elif path in ("due_date", "completion_date"):
            stamp = getattr(ticket, path)
            body[column(path)] = format_time(stamp) if ticket.HasField(path) else ""
        elif path == "tags":
            if ticket.tags:
                raise InvalidArgument("ServiceNow tickets have no tags (ticket.tags)")
        elif path == "project":
            continue
        else:
            raise InvalidArgument(f"ticket.{path} cannot be written to ServiceNow")
    unknown = sorted(set(custom) - set(custom_fields))
    if unknown:
        mapped = ", ".join(sorted(custom_fields)) or "none"
        raise InvalidArgument(
            f"custom field {unknown[0]!r} is not mapped for this table (mapped: {mapped})",
            reason="UNMAPPED_CUSTOM_FIELD",
        )
    for name, value in custom.items():
        body[custom_fields[name]] = custom_value(name, value)
    return body


# -- journal entries ---------------------------------------------------------------


def _journal_unmapped(item: Mapping[str, Any]) -> struct_pb2.Struct:
    return _struct(
        {key: value_of(item.get(key)) for key in ("element", "name") if value_of(item.get(key))}
    )


def comment_from_journal(item: Mapping[str, Any], ticket_id: str) -> ticket_pb2.Comment:
    """A sys_journal_field entry (element `comments`); creator is sys_created_by,
    the user name (the journal has no sys_user reference)."""
    comment = ticket_pb2.Comment(
        id=value_of(item.get("sys_id")),
        ticket_id=value_of(item.get("element_id")) or ticket_id,
        creator=value_of(item.get("sys_created_by")),
        content=value_of(item.get("value")),
    )
    _set_time(comment.created_at, item.get("sys_created_on"))
    _set_time(comment.updated_at, item.get("sys_updated_on") or item.get("sys_created_on"))
    comment.unmapped.CopyFrom(_journal_unmapped(item))
    return comment


def note_from_journal(item: Mapping[str, Any], ticket_id: str) -> ticket_pb2.Note:
    """A sys_journal_field entry (element `work_notes`); work notes have no title."""
    note = ticket_pb2.Note(
        id=value_of(item.get("sys_id")),
        ticket_id=value_of(item.get("element_id")) or ticket_id,
        creator=value_of(item.get("sys_created_by")),
        content=value_of(item.get("value")),
    )
    _set_time(note.created_at, item.get("sys_created_on"))
    _set_time(note.updated_at, item.get("sys_updated_on") or item.get("sys_created_on"))
    note.unmapped.CopyFrom(_journal_unmapped(item))
    return note


def note_text(note: ticket_pb2.Note) -> str:
    """The journal text of a note: a title becomes the entry's first paragraph."""
    return f"{note.title}\n\n{note.content}" if note.title else note.content


def same_text(stored: str, written: str) -> bool:
    """Whether a journal entry holds what was written (line endings and outer
    blanks aside, which ServiceNow may normalise)."""

    def norm(text: str) -> str:
        return text.replace("\r\n", "\n").strip()

    return norm(stored) == norm(written)


# -- remote fields -----------------------------------------------------------------


def remote_field(
    row: Mapping[str, Any], *, table: str, choices: Sequence[Choice] = ()
) -> ticket_pb2.RemoteField:
    """A sys_dictionary row as a RemoteField of `table`.

    u_ and x_ columns are TICKET_CUSTOM (ServiceNow custom fields live on the
    record, named by custom_field_mappings per ticket table), all others
    STANDARD. Columns with active choices are ENUM; numbers and text types
    by internal_type; anything else (dates, references, booleans) OTHER.
    """
    element = value_of(row.get("element"))
    internal = value_of(row.get("internal_type"))
    if element.startswith(CUSTOM_PREFIXES):
        scope = ticket_pb2.REMOTE_FIELD_SCOPE_TICKET_CUSTOM
    else:
        scope = ticket_pb2.REMOTE_FIELD_SCOPE_STANDARD
    if choices:
        field_type = ticket_pb2.REMOTE_FIELD_TYPE_ENUM
    elif internal in NUMBER_TYPES:
        field_type = ticket_pb2.REMOTE_FIELD_TYPE_NUMBER
    elif internal in STRING_TYPES or internal == "choice":
        field_type = ticket_pb2.REMOTE_FIELD_TYPE_STRING
    else:
        field_type = ticket_pb2.REMOTE_FIELD_TYPE_OTHER
    return ticket_pb2.RemoteField(
        field_id=element,
        field_scope=scope,
        provider_field_name=value_of(row.get("column_label")) or element,
        provider_field_path=element,
        project_id=table,
        schema=ticket_pb2.RemoteFieldSchema(
            field_type=field_type,
            provider_type=internal,
            enum_values=[c.label for c in choices],
            enum_option_values=[
                ticket_pb2.OptionValue(value=c.value, display_name=c.label) for c in choices
            ],
        ),
    )


# -- errors ------------------------------------------------------------------------


def error_text(status: int, body: bytes) -> str:
    """ServiceNow's `{"error": {"message", "detail"}, "status": "failure"}` as one line."""
    try:
        data = json.loads(body)
    except ValueError:
        return body_excerpt(status, body)
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, str) and error:
        return error
    if not isinstance(error, dict):
        return body_excerpt(status, body)
    message = str(error.get("message") or "").strip()
    detail = str(error.get("detail") or "").strip()
    if message and detail and detail != message:
        return f"{message}: {detail}"
    return message or detail or body_excerpt(status, body)
