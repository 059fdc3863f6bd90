"""Torq public API (v1alpha) JSON <-> the common model, and query_tickets filters turned
into a `POST /cases/query` body (pure functions, no I/O).

Sources: developers.torq.io/apidocs (overview, authentication, pagination, errors,
query-cases, update-a-case, add-a-timeline-comment, bulk-create-extended-cases).
What those pages do not say is marked *chosen* below and in torq.py.

Tickets are cases
    ==================  =========================================================
    Ticket              case (v1Case)
    ==================  =========================================================
    id                  id (an int32; pretty_id "#28" stays in unmapped)
    summary             title
    description         description (Markdown)
    status              state.value: new, in progress, on hold, resolved,
                        closed, or a workspace's custom state name
    priority            severity.value, see below
    assignee            assignee (an email)
    creator             reporter.user.email (reporter kind USER); on create the
                        ticket's creator, else the integration's default_creator
    issue_type          category; on create the integration's
                        default_issue_type when the ticket names none
    tags                tags
    custom_fields       custom_fields [{key, value, type}], per ticket (see below)
    due_date            sla.start_time + sla.value seconds (the resolution SLA;
                        value 0 means no target). Written as sla: seconds from
                        now on create (*chosen*: the bulk-create request's flat
                        `sla` string), seconds from the case's start on patch
                        ({"sla": {"value"}} as "Update a case" documents).
    completion_date     sla.end_time ("when the case was resolved or closed"),
                        read only
    created_at          created_at (*chosen* name: the docs say "the timestamp
                        when the case was created" without the JSON name shown)
    updated_at          updated_at (*chosen* name, likewise)
    project             always "": an API key addresses one workspace and Torq
                        has no projects; a ticket naming another project is
                        INVALID_ARGUMENT, a project filter other than "" matches
                        nothing
    url                 left empty: no documented field or UI link scheme
    unmapped            every other non-empty attribute (pretty_id, sla, tasks,
                        resolution_summary, review, unmapped custom fields, ...)
    ==================  =========================================================

    contact and parent have no case counterpart: a create that sets them, or a
    patch that changes them, is INVALID_ARGUMENT naming the field.

Severity (documented values) <-> Priority
    informational <-> PLANNING, low <-> LOW, medium <-> MEDIUM, high <-> HIGH,
    critical <-> CRITICAL. Written: URGENT as critical, MODERATE as medium (so they
    read back as CRITICAL and MEDIUM). A severity cannot be cleared.

Custom fields (per ticket)
    Torq keeps custom fields on each case, typed per case (TYPE_SHORT_TEXT,
    TYPE_NUMBER, TYPE_BOOLEAN, TYPE_TIMESTAMP, TYPE_LIST_SINGLE_SELECT), with no
    workspace-wide definition to look up. custom_field_mappings name them:
    Ticket.custom_fields[name] <-> the case field whose key is the mapping's
    provider_field_path. Written values take their type from the JSON value
    (bool -> BOOLEAN, number -> NUMBER, string -> SHORT_TEXT, or the type the
    case already has for that key when it is a text-like type); null removes
    the field; lists and objects are refused. The "value" is sent as a JSON
    string/number/bool (*chosen*: the docs do not show its JSON type). Case
    fields no mapping names stay in unmapped.custom_fields.

Patch
    PATCH /cases/{id} with {"case": {changed fields}, "update_mask": "a,b"}. The
    docs describe the field mask (values title, description, reporter, state,
    severity, assignee, category, sla, tags, custom_fields, resolutionSummary,
    review) but not its JSON name: `update_mask` is *chosen* (grpc-gateway's
    name, like the `case.id` path parameter). Only fields that differ from the
    case as read are sent, so a read-modify-write with `*` changes nothing.

Comments and notes are timeline comments
    Torq has one kind of free-text entry on a case: the timeline comment, with a
    documented visibility. Comments (the model's public comments) are timeline
    comments with VISIBILITY_ID_PUBLIC; notes (internal notes) are those with
    VISIBILITY_ID_INTERNAL, Torq's default. A note has no title in Torq: a
    non-empty title is INVALID_ARGUMENT. The author is the API key's user (Torq
    takes no author), so a comment or note naming a creator is refused.
    Timeline entries other than comments (case created, properties updated) are
    skipped. An entry's comment text is read from `comment.text` (*chosen*: the
    documented response names only id, case_id, timestamp, added_by and the
    case_created details).

Filters (query_tickets), sent as `filters` of POST /cases/query
    status eq/in        states [{value}] (compared case-insensitively)
    priority eq/in      severities [{value}] (URGENT and MODERATE match nothing:
                        no case reads as them)
    assignee eq/in      assignees [email]
    issue_type eq/in    categories [name]
    tags eq/in          tags [name] (a case with one of them)
    created_at gt/gte/lt/lte
                        created_at {start_time, end_time}, widened by a second on
                        each side (the docs do not say whether the bounds are
                        inclusive)
    project eq/in       "" matches every case, anything else none
    custom_fields.<name> eq/in
                        custom_fields [{key, values}]
    Conditions on one field are intersected before sending, and every condition
    is re-checked on each case read, so results are exact. Everything else
    (summary, description, id, updated_at, neq, like, ...) and any order is
    INVALID_ARGUMENT: the documented free-text filter's JSON name is unknown, and
    the API documents no sort.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as _default
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from google.protobuf import json_format, struct_pb2, timestamp_pb2
from ticketing.v1 import ticket_pb2

from ..errors import InvalidArgument, NotFound
from ..matching import matches
from ..priorities import BY_URGENCY
from ..query import (
    Condition,
    FieldSpec,
    FieldType,
    Op,
    Query,
    QuerySchema,
    field,
    parse_datetime,
)
from .http_errors import body_excerpt

__all__ = [
    "DEFAULT_STATES",
    "PROJECT",
    "SEVERITIES",
    "TICKET_SCHEMA",
    "VISIBILITY_INTERNAL",
    "VISIBILITY_PUBLIC",
    "CaseSearch",
    "case_id",
    "case_search",
    "comment_body",
    "comment_entry",
    "comment_from_event",
    "create_body",
    "custom_field_specs",
    "error_text",
    "note_from_event",
    "priority_of",
    "severity_of",
    "ticket_from_case",
    "torq_time",
    "update_body",
]

PROVIDER = "ticketing_torq"
SEVERITIES: tuple[str, ...] = ("informational", "low", "medium", "high", "critical")
DEFAULT_STATES: tuple[str, ...] = ("new", "in progress", "on hold", "resolved", "closed")
PROJECT = ""
"""The one project of a Torq integration: the API key's workspace, which has no id."""
VISIBILITY_PUBLIC = "VISIBILITY_ID_PUBLIC"
VISIBILITY_INTERNAL = "VISIBILITY_ID_INTERNAL"
WIDEN = timedelta(seconds=1)
MAX_CASE_ID = 2**31 - 1
TEXT_TYPES = frozenset({"TYPE_SHORT_TEXT", "TYPE_TIMESTAMP", "TYPE_LIST_SINGLE_SELECT"})

_SEVERITY_BY_PRIORITY: Mapping[int, str] = MappingProxyType(
    {
        ticket_pb2.URGENT: "critical",
        ticket_pb2.CRITICAL: "critical",
        ticket_pb2.HIGH: "high",
        ticket_pb2.MEDIUM: "medium",
        ticket_pb2.MODERATE: "medium",
        ticket_pb2.LOW: "low",
        ticket_pb2.PLANNING: "informational",
    }
)
_PRIORITY_BY_SEVERITY: Mapping[str, int] = MappingProxyType(
    {
        "critical": ticket_pb2.CRITICAL,
        "high": ticket_pb2.HIGH,
        "medium": ticket_pb2.MEDIUM,
        "low": ticket_pb2.LOW,
        "informational": ticket_pb2.PLANNING,
    }
)
_PRIORITY_NAMES = BY_URGENCY
_SEVERITY_BY_NAME: Mapping[str, str] = MappingProxyType(
    {ticket_pb2.Priority.Name(p): s for s, p in _PRIORITY_BY_SEVERITY.items()}  # type: ignore[arg-type]
)
"""The priorities a case can read as, by name, and their severities (filters)."""

_CASE_MAPPED = frozenset(
    {
        "id",
        "title",
        "description",
        "state",
        "severity",
        "assignee",
        "reporter",
        "category",
        "tags",
        "custom_fields",
        "created_at",
        "updated_at",
    }
)
_EVENT_MAPPED = frozenset({"id", "case_id", "timestamp", "added_by", "comment"})

_EQUALITY = frozenset({Op.EQ, Op.IN})
_RANGE = frozenset({Op.GT, Op.GTE, Op.LT, Op.LTE})

TICKET_SCHEMA = QuerySchema.of(
    field("status", FieldType.STRING, _EQUALITY, orderable=False),
    field("priority", FieldType.ENUM, _EQUALITY, orderable=False, enum_values=_PRIORITY_NAMES),
    field("assignee", FieldType.STRING, _EQUALITY, orderable=False),
    field("issue_type", FieldType.STRING, _EQUALITY, orderable=False),
    field("tags", FieldType.LIST, _EQUALITY, orderable=False),
    field("created_at", FieldType.DATETIME, _RANGE, orderable=False),
    field("project", FieldType.STRING, _EQUALITY, orderable=False),
)
"""What query_tickets accepts before custom fields (see the module docstring)."""


def custom_field_specs(names: Iterable[str]) -> list[FieldSpec]:
    """The filter fields of mapped custom fields: custom_fields.<name> eq/in."""
    return [
        FieldSpec(f"custom_fields.{n}", FieldType.ANY, _EQUALITY, orderable=False)
        for n in sorted(names)
    ]


# -- small helpers -------------------------------------------------------------------


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return ""
    return value if isinstance(value, str) else str(value)


def _filled(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update({k: v for k, v in values.items() if _filled(v)})
    return out


def _plain(struct: struct_pb2.Struct) -> dict[str, Any]:
    return dict(json_format.MessageToDict(struct))


def _set_time(target: timestamp_pb2.Timestamp, raw: Any) -> bool:
    moment = parse_datetime(raw) if isinstance(raw, str) and raw else None
    if moment is None:
        return False
    target.FromDatetime(moment)
    return True


def torq_time(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds, as the overview writes times (`...18.490771Z`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _refuse(path: str, why: str = "has no Torq case counterpart") -> InvalidArgument:
    return InvalidArgument(f"ticket.{path} {why}", reason="UNSUPPORTED_FIELD")


def case_id(ticket_id: str) -> int:
    """The numeric case id of a ticket id ("28", or the pretty "#28"); NOT_FOUND otherwise
    (Torq case ids are int32 numbers, so no case can have another id)."""
    text = ticket_id.strip().removeprefix("#")
    if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_CASE_ID:
        return int(text)
    raise NotFound(
        f"Torq has no case {ticket_id!r}: case ids are numbers",
        reason="PROVIDER_NOT_FOUND",
        metadata={"provider": PROVIDER},
    )


# -- severities ------------------------------------------------------------------------


def priority_of(severity: Any) -> int:
    """The Priority of a Torq severity value; PRIORITY_UNSPECIFIED for anything else."""
    if not isinstance(severity, str):
        return ticket_pb2.PRIORITY_UNSPECIFIED
    return _PRIORITY_BY_SEVERITY.get(severity.strip().lower(), ticket_pb2.PRIORITY_UNSPECIFIED)


def severity_of(priority: int) -> str:
    """The Torq severity to write for a Priority; INVALID_ARGUMENT for UNSPECIFIED."""
    severity = _SEVERITY_BY_PRIORITY.get(priority)
    if severity is None:
        raise InvalidArgument("a Torq case severity cannot be cleared (ticket.priority)")
    return severity


# -- custom fields -----------------------------------------------------------------------


def _custom_items(case: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [item for item in case.get("custom_fields") or () if isinstance(item, Mapping)]


def _decode(item: Mapping[str, Any]) -> Any:
    value, kind = item.get("value"), _str(item.get("type"))
    if kind == "TYPE_NUMBER":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        try:
            number = float(_str(value))
        except ValueError:
            return _str(value)
        return number if math.isfinite(number) else _str(value)
    if kind == "TYPE_BOOLEAN":
        if isinstance(value, bool):
            return value
        return _str(value).strip().lower() == "true"
    return value if isinstance(value, str) else _str(value)


def _encode(name: str, value: Any, current_type: str | None) -> tuple[Any, str]:
    """A model value as Torq's (value, type); INVALID_ARGUMENT for lists and objects."""
    if isinstance(value, bool):
        return value, "TYPE_BOOLEAN"
    if isinstance(value, int | float):
        return (int(value) if float(value).is_integer() else value), "TYPE_NUMBER"
    if isinstance(value, str):
        kind = current_type if current_type in TEXT_TYPES else "TYPE_SHORT_TEXT"
        return value, kind
    raise InvalidArgument(
        f"custom field {name!r} takes a string, number or boolean on Torq, not {value!r}",
        reason="INVALID_CUSTOM_FIELD",
    )


def _normalized(items: Iterable[Mapping[str, Any]]) -> dict[str, tuple[Any, str]]:
    """Custom fields by key as (decoded value, type): "7" and 7 of a number are the same."""
    return {_str(i.get("key")): (_decode(i), _str(i.get("type"))) for i in items}


def _unmapped_names(values: Mapping[str, Any], mapping: Mapping[str, str]) -> None:
    unknown = sorted(set(values) - set(mapping))
    if unknown:
        mapped = ", ".join(sorted(mapping)) or "none"
        raise InvalidArgument(
            f"custom field {unknown[0]!r} is not mapped for this integration (mapped: {mapped})",
            reason="UNMAPPED_CUSTOM_FIELD",
        )


def _custom_list(
    wanted: Mapping[str, Any], mapping: Mapping[str, str], current: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The case's custom_fields after setting `wanted` (name -> value; None removes)."""
    _unmapped_names(wanted, mapping)
    by_key = {_str(item.get("key")): dict(item) for item in current}
    for name, value in wanted.items():
        key = mapping[name]
        if value is None:
            by_key.pop(key, None)
            continue
        old = by_key.get(key)
        encoded, kind = _encode(name, value, _str(old.get("type")) if old else None)
        by_key[key] = {"key": key, "value": encoded, "type": kind}
    return [{k: item[k] for k in ("key", "value", "type") if k in item} for item in by_key.values()]


# -- cases -----------------------------------------------------------------------------


def _reporter_email(case: Mapping[str, Any]) -> str:
    return _str(_obj(_obj(case.get("reporter")).get("user")).get("email"))


def _due(case: Mapping[str, Any]) -> datetime | None:
    sla = _obj(case.get("sla"))
    start = parse_datetime(_str(sla.get("start_time") or case.get("created_at")))
    try:
        seconds = int(_str(sla.get("value")) or "0")
    except ValueError:
        return None
    if start is None or seconds <= 0:
        return None
    return start + timedelta(seconds=seconds)


def ticket_from_case(case: Mapping[str, Any], custom: Mapping[str, str]) -> ticket_pb2.Ticket:
    """A case (v1Case) as a Ticket; `custom` maps custom field names to case keys."""
    ticket = ticket_pb2.Ticket(
        id=_str(case.get("id")),
        summary=_str(case.get("title")),
        description=_str(case.get("description")),
        status=_str(_obj(case.get("state")).get("value")),
        priority=priority_of(_obj(case.get("severity")).get("value")),  # type: ignore[arg-type]
        assignee=_str(case.get("assignee")),
        creator=_reporter_email(case),
        issue_type=_str(case.get("category")),
        tags=[_str(t) for t in case.get("tags") or () if _str(t)],
        project=PROJECT,
    )
    _set_time(ticket.created_at, case.get("created_at"))
    _set_time(ticket.updated_at, case.get("updated_at"))
    due = _due(case)
    if due is not None:
        ticket.due_date.FromDatetime(due)
    _set_time(ticket.completion_date, _obj(case.get("sla")).get("end_time"))
    names = {key: name for name, key in custom.items()}
    values: dict[str, Any] = {}
    others: list[Mapping[str, Any]] = []
    for item in _custom_items(case):
        name = names.get(_str(item.get("key")))
        if name is None:
            others.append(item)
        else:
            values[name] = _decode(item)
    if values:
        ticket.custom_fields.update(values)
    rest = {k: v for k, v in case.items() if k not in _CASE_MAPPED}
    if others:
        rest["custom_fields"] = others
    reporter = _obj(case.get("reporter"))
    if reporter and not ticket.creator:
        rest["reporter"] = reporter  # a workflow or Socrates reported it
    ticket.unmapped.CopyFrom(_struct(rest))
    return ticket


def _sla_seconds(due: datetime, start: datetime) -> int:
    seconds = math.ceil((due - start).total_seconds())
    if seconds <= 0:
        raise InvalidArgument(
            f"ticket.due_date {torq_time(due)} must be after the case's start "
            f"({torq_time(start)}): Torq keeps a due date as a resolution SLA duration"
        )
    return seconds


def create_body(
    ticket: ticket_pb2.Ticket,
    *,
    creator: str,
    issue_type: str,
    custom: Mapping[str, str],
    now: datetime,
) -> dict[str, Any]:
    """The POST /cases body (*chosen*: the flat shape of the documented bulk-create item)."""
    if ticket.project != PROJECT:
        raise _refuse("project", "must be empty: a Torq API key addresses one workspace")
    for path in ("contact", "parent"):
        if getattr(ticket, path):
            raise _refuse(path)
    if ticket.HasField("completion_date"):
        raise _refuse("completion_date", "is set by Torq when a case is resolved or closed")
    body: dict[str, Any] = {"title": ticket.summary}
    if ticket.description:
        body["description"] = ticket.description
    if ticket.status.strip():
        body["state"] = {"value": ticket.status.strip()}
    if ticket.priority != ticket_pb2.PRIORITY_UNSPECIFIED:
        body["severity"] = {"value": severity_of(ticket.priority)}
    if ticket.assignee:
        body["assignee"] = ticket.assignee
    if creator:
        body["reporter"] = {"user": {"email": creator}}
    if ticket.HasField("due_date"):
        body["sla"] = str(_sla_seconds(ticket.due_date.ToDatetime(tzinfo=UTC), now))
    if issue_type:
        body["category"] = issue_type
    if ticket.tags:
        body["tags"] = list(ticket.tags)
    wanted = _plain(ticket.custom_fields)
    fields = _custom_list({k: v for k, v in wanted.items() if v is not None}, custom, ())
    if fields:
        body["custom_fields"] = fields
    return body


def update_body(
    ticket: ticket_pb2.Ticket,
    paths: Sequence[str],
    case: Mapping[str, Any],
    custom: Mapping[str, str],
) -> dict[str, Any] | None:
    """The PATCH /cases/{id} body for `paths` against the case as read; None if nothing changes."""
    current = ticket_from_case(case, custom)
    changes: dict[str, Any] = {}
    mask: list[str] = []

    def change(torq_field: str, value: Any) -> None:
        changes[torq_field] = value
        if torq_field not in mask:
            mask.append(torq_field)

    wanted_custom = _plain(ticket.custom_fields)
    custom_changes: dict[str, Any] = {}
    for path in paths:
        head, _, name = path.partition(".")
        if head == "custom_fields":
            if name:
                custom_changes[name] = wanted_custom.get(name)
            else:
                custom_changes |= {n: None for n in custom} | wanted_custom
        elif path == "summary":
            if ticket.summary != current.summary:
                change("title", ticket.summary)
        elif path == "description":
            if ticket.description != current.description:
                change("description", ticket.description)
        elif path == "status":
            status = ticket.status.strip()
            if not status:
                raise InvalidArgument("a Torq case always has a state (ticket.status)")
            if status.lower() != current.status.lower():
                change("state", {"value": status})
        elif path == "priority":
            if ticket.priority != current.priority:
                severity = severity_of(ticket.priority)
                if severity != _str(_obj(case.get("severity")).get("value")).lower():
                    change("severity", {"value": severity})
        elif path == "assignee":
            if ticket.assignee != current.assignee:
                change("assignee", ticket.assignee)
        elif path == "creator":
            if ticket.creator != current.creator:
                if not ticket.creator:
                    raise InvalidArgument("a Torq case reporter cannot be cleared (ticket.creator)")
                change("reporter", {"user": {"email": ticket.creator}})
        elif path == "issue_type":
            if ticket.issue_type != current.issue_type:
                change("category", ticket.issue_type)
        elif path == "tags":
            if list(ticket.tags) != list(current.tags):
                change("tags", list(ticket.tags))
        elif path == "due_date":
            if ticket.due_date != current.due_date:
                if not ticket.HasField("due_date"):
                    change("sla", {"value": "0"})  # no target duration
                else:
                    start = parse_datetime(
                        _str(_obj(case.get("sla")).get("start_time") or case.get("created_at"))
                    )
                    if start is None:
                        raise InvalidArgument("the Torq case has no start time to set an SLA from")
                    due = ticket.due_date.ToDatetime(tzinfo=UTC)
                    change("sla", {"value": str(_sla_seconds(due, start))})
        elif path == "completion_date":
            if ticket.completion_date != current.completion_date:
                raise _refuse(path, "is set by Torq when a case is resolved or closed")
        elif path == "project":
            if ticket.project != PROJECT:
                raise _refuse(path, "must be empty: a Torq API key addresses one workspace")
        elif path in ("contact", "parent"):
            if getattr(ticket, path):
                raise _refuse(path)
        else:
            raise _refuse(path, "cannot be written to Torq")
    if custom_changes:
        before = [dict(item) for item in _custom_items(case)]
        after = _custom_list(custom_changes, custom, before)
        if _normalized(after) != _normalized(before):
            change("custom_fields", after)
    if not changes:
        return None
    return {"case": changes, "update_mask": ",".join(mask)}


# -- timeline comments -------------------------------------------------------------------


def comment_body(text: str, visibility: str) -> dict[str, Any]:
    """The documented POST /cases/{case_id}/timeline body."""
    return {"text": text, "visibility": {"id": visibility}}


def comment_entry(event: Mapping[str, Any]) -> tuple[str, str] | None:
    """(text, visibility) when a timeline entry is a comment; None for other entries."""
    comment = event.get("comment")
    if not isinstance(comment, Mapping):
        return None
    visibility = _str(_obj(comment.get("visibility")).get("id")) or VISIBILITY_INTERNAL
    return _str(comment.get("text")), visibility


def _entry_parts(event: Mapping[str, Any], text: str) -> dict[str, Any]:
    comment = _obj(event.get("comment"))
    actor = _obj(event.get("added_by"))
    email = _str(_obj(actor.get("user")).get("email"))
    rest = {k: v for k, v in event.items() if k not in _EVENT_MAPPED}
    extra = {k: v for k, v in comment.items() if k not in ("text", "updated_at")}
    if extra:
        rest["comment"] = extra
    if actor and not email:
        rest["added_by"] = actor
    return {
        "id": _str(event.get("id")),
        "ticket_id": _str(event.get("case_id")),
        "creator": email,
        "content": _str(comment.get("text")) or text,
        "rest": rest,
        "created": event.get("timestamp"),
        "updated": comment.get("updated_at") or event.get("updated_at") or event.get("timestamp"),
    }


def comment_from_event(
    event: Mapping[str, Any], ticket_id: str = "", text: str = ""
) -> ticket_pb2.Comment:
    """A timeline comment as a Comment (`text`: what was sent, if the answer lacks it)."""
    parts = _entry_parts(event, text)
    comment = ticket_pb2.Comment(
        id=parts["id"],
        ticket_id=parts["ticket_id"] or ticket_id,
        creator=parts["creator"],
        content=parts["content"],
    )
    _set_time(comment.created_at, parts["created"])
    _set_time(comment.updated_at, parts["updated"])
    comment.unmapped.CopyFrom(_struct(parts["rest"]))
    return comment


def note_from_event(
    event: Mapping[str, Any], ticket_id: str = "", text: str = ""
) -> ticket_pb2.Note:
    """An internal timeline comment as a Note (no title: Torq comments have none)."""
    parts = _entry_parts(event, text)
    note = ticket_pb2.Note(
        id=parts["id"],
        ticket_id=parts["ticket_id"] or ticket_id,
        creator=parts["creator"],
        content=parts["content"],
    )
    _set_time(note.created_at, parts["created"])
    _set_time(note.updated_at, parts["updated"])
    note.unmapped.CopyFrom(_struct(parts["rest"]))
    return note


# -- query -------------------------------------------------------------------------------


@dataclass
class CaseSearch:
    """A POST /cases/query `filters` object and the exact re-check of every condition."""

    filters: dict[str, Any] = _default(default_factory=dict)
    empty: bool = False
    """No case can match: no request is needed."""
    query: Query = _default(default_factory=Query)
    schema: QuerySchema = TICKET_SCHEMA
    custom: Mapping[str, str] = _default(default_factory=dict)

    def keep(self, case: Mapping[str, Any]) -> bool:
        return matches(self.query, case_record(case, self.custom), self.schema)


def case_record(case: Mapping[str, Any], custom: Mapping[str, str]) -> dict[str, Any]:
    """The values the filters see for a case (status lower-cased, priority by name)."""
    ticket = ticket_from_case(case, custom)
    return {
        "status": ticket.status.lower(),
        "priority": ticket_pb2.Priority.Name(ticket.priority),  # type: ignore[arg-type]
        "assignee": ticket.assignee,
        "issue_type": ticket.issue_type,
        "tags": list(ticket.tags),
        "created_at": _str(case.get("created_at")),
        "project": PROJECT,
        "custom_fields": _plain(ticket.custom_fields),
    }


def _values(condition: Condition) -> list[str]:
    return [_str(v) if not isinstance(v, datetime) else torq_time(v) for v in condition.values]


def _intersect(conditions: Iterable[Condition], fold: bool = False) -> list[str] | None:
    result: list[str] | None = None
    for condition in conditions:
        values = [v.lower() if fold else v for v in _values(condition)]
        result = values if result is None else [v for v in result if v in values]
    return None if result is None else list(dict.fromkeys(result))


def case_search(query: Query, custom: Mapping[str, str]) -> CaseSearch:
    """The filters for `query` (conditions already checked against the schema)."""
    schema = TICKET_SCHEMA.with_fields(custom_field_specs(custom))
    by_field: dict[str, list[Condition]] = {}
    for condition in query.conditions:
        by_field.setdefault(condition.field, []).append(condition)
    folded = tuple(
        Condition(c.field, c.op, tuple(_str(v).lower() for v in c.values))
        if c.field == "status"
        else c
        for c in query.conditions
    )
    search = CaseSearch(query=Query(folded), schema=schema, custom=custom)

    def need(values: list[str] | None) -> list[str] | None:
        if values is not None and not values:
            search.empty = True
        return values

    for name, conditions in by_field.items():
        if name == "status":
            states = need(_intersect(conditions, fold=True))
            if states:
                search.filters["states"] = [{"value": s} for s in states]
        elif name == "priority":
            names = need(_intersect(conditions))
            if names is not None:
                severities = [_SEVERITY_BY_NAME[n] for n in names if n in _SEVERITY_BY_NAME]
                if need(severities):
                    search.filters["severities"] = [{"value": s} for s in severities]
        elif name == "assignee":
            if assignees := need(_intersect(conditions)):
                search.filters["assignees"] = assignees
        elif name == "issue_type":
            if categories := need(_intersect(conditions)):
                search.filters["categories"] = categories
        elif name == "tags":
            search.filters["tags"] = _values(conditions[0])  # the others: re-checked
        elif name == "project":
            if PROJECT not in (_intersect(conditions) or []):
                search.empty = True
        elif name == "created_at":
            lower = [c.values[0] for c in conditions if c.op in (Op.GT, Op.GTE)]
            upper = [c.values[0] for c in conditions if c.op in (Op.LT, Op.LTE)]
            window: dict[str, str] = {}
            if lower:
                window["start_time"] = torq_time(max(_moments(lower)) - WIDEN)
            if upper:
                window["end_time"] = torq_time(min(_moments(upper)) + WIDEN)
            search.filters["created_at"] = window
        elif name.startswith("custom_fields."):
            values = need(_intersect(conditions))
            if values:
                key = custom[name.removeprefix("custom_fields.")]
                search.filters.setdefault("custom_fields", []).append(
                    {"key": key, "values": values}
                )
        else:  # pragma: no cover - the schema admits nothing else
            raise InvalidArgument(f"filter on {name!r} cannot be expressed for Torq")
    return search


def _moments(values: Iterable[Any]) -> list[datetime]:
    return [v for v in values if isinstance(v, datetime)]


# -- errors ------------------------------------------------------------------------------


def error_text(status: int, body: bytes) -> str:
    """The message of a Torq error body.

    The docs list the statuses but show no body; grpc-gateway's
    {"code", "message", "details"} and OAuth's {"error", "error_description"} are read,
    anything else is quoted.
    """
    try:
        data = json.loads(body)
    except ValueError:
        return body_excerpt(status, body)
    if isinstance(data, Mapping):
        error = data.get("error")
        message = data.get("message") or _obj(error).get("message")
        if not message and isinstance(error, str):
            description = _str(data.get("error_description"))
            message = f"{error}: {description}" if description else error
        if isinstance(message, str) and message:
            return message
    return body_excerpt(status, body)
