"""Zendesk Support tickets <-> the common model (pure functions, no I/O); the
search translation of query_tickets filters is in zendesk.py.

Tickets
    ================  ===========================================================
    Ticket            Zendesk ticket
    ================  ===========================================================
    id                id (an integer, as a string); a non-numeric id names no
                      ticket (NOT_FOUND without a request)
    summary           subject
    description       description, the first comment's text (read only). On
                      create it is written as the first comment (`comment.body`,
                      public). Zendesk requires that comment, so a ticket created
                      without a description gets its summary as the comment (and
                      reads back with that description). It cannot be changed
                      later: a patch that changes it is INVALID_ARGUMENT.
    status            status: new | open | pending | hold | solved | closed (with
                      custom statuses the category; custom_status_id stays in
                      unmapped). Written lower-cased; `new` only on create.
    priority          priority, see below
    issue_type        type: problem | incident | question | task
    assignee          assignee_id (an agent's user id; clearing unassigns)
    contact           requester_id (a user id; Zendesk defaults it to the
                      caller and it cannot be removed)
    creator           submitter_id (a user id; written on create only)
    project           group_id, see below
    parent            problem_id: the problem an incident ticket is linked to
                      (written only on tickets of type incident)
    tags              tags (Zendesk keeps single words, lower-cased; one with
                      blanks or quotes is INVALID_ARGUMENT)
    due_date          due_at (Zendesk keeps it on task tickets only: writing it
                      on any other type is INVALID_ARGUMENT)
    completion_date   never set (Zendesk keeps the solve time in ticket metrics,
                      not on the ticket); writing it is INVALID_ARGUMENT
    custom_fields     custom_fields [{id, value}]: each name of
                      custom_field_mappings (for the ticket's project) names the
                      Zendesk ticket field id in provider_field_path; values are
                      converted by the field's type (see `FieldInfo`). Other
                      fields with a value go to unmapped.custom_fields.
    created_at        created_at
    updated_at        updated_at
    url               the agent UI link, {account}/agent/tickets/{id}
    unmapped          every other non-null attribute (url is the API link there)
    ================  ===========================================================

Project = group
    Zendesk has no projects. Tickets are routed to groups: every account has
    them (brands and ticket forms are plan-dependent), a ticket has at most one
    group, the search can filter on it and an assigned ticket always has one.
    So ticket.project is the group id; empty leaves it to Zendesk (which
    then puts an assigned ticket in the agent's default group). A group
    cannot be removed from a ticket, only changed. Custom field mappings are
    per group id (or `*`).

Priorities
    ========  ==========  ===============================================
    Zendesk   Priority    written for
    ========  ==========  ===============================================
    urgent    URGENT      URGENT, CRITICAL
    high      HIGH        HIGH
    normal    MEDIUM      MEDIUM, MODERATE
    low       LOW         LOW, PLANNING
    ========  ==========  ===============================================

    A priority, once set, cannot be cleared in Zendesk: writing
    PRIORITY_UNSPECIFIED over one is INVALID_ARGUMENT.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from google.protobuf import json_format, struct_pb2, timestamp_pb2
from ticketing.v1 import ticket_pb2

from ..errors import InvalidArgument
from ..priorities import BY_URGENCY
from ..query import parse_datetime
from .http_errors import body_excerpt

__all__ = [
    "BLANK_OR_QUOTE",
    "ID_ATTRIBUTES",
    "PRIORITY_NAMES",
    "STATUSES",
    "TYPES",
    "FieldInfo",
    "agent_url",
    "choice",
    "create_body",
    "custom_value_in",
    "custom_value_out",
    "error_text",
    "field_id",
    "format_time",
    "numeric_id",
    "text_of",
    "ticket_from_zendesk",
    "update_body",
    "valid_tags",
    "zendesk_priority",
    "zendesk_priority_name",
]

STATUSES: tuple[str, ...] = ("new", "open", "pending", "hold", "solved", "closed")
TYPES: tuple[str, ...] = ("problem", "incident", "question", "task")
PRIORITY_NAMES: tuple[str, ...] = BY_URGENCY

_PRIORITY_BY_NAME: Mapping[str, int] = MappingProxyType(
    {
        "urgent": ticket_pb2.URGENT,
        "high": ticket_pb2.HIGH,
        "normal": ticket_pb2.MEDIUM,
        "low": ticket_pb2.LOW,
    }
)
_NAME_BY_PRIORITY: Mapping[int, str] = MappingProxyType(
    {
        ticket_pb2.URGENT: "urgent",
        ticket_pb2.CRITICAL: "urgent",
        ticket_pb2.HIGH: "high",
        ticket_pb2.MEDIUM: "normal",
        ticket_pb2.MODERATE: "normal",
        ticket_pb2.LOW: "low",
        ticket_pb2.PLANNING: "low",
    }
)

_MAPPED = frozenset(
    {
        "id",
        "subject",
        "description",
        "status",
        "priority",
        "type",
        "assignee_id",
        "requester_id",
        "submitter_id",
        "group_id",
        "problem_id",
        "tags",
        "due_at",
        "custom_fields",
        "fields",  # Zendesk's older alias of custom_fields
        "created_at",
        "updated_at",
    }
)

ID_ATTRIBUTES: Mapping[str, str] = MappingProxyType(
    {
        "assignee": "assignee_id",
        "contact": "requester_id",
        "creator": "submitter_id",
        "project": "group_id",
    }
)
"""Model fields holding Zendesk user/group ids -> the ticket attribute."""
_DIGITS = re.compile(r"[0-9]{1,20}")
BLANK_OR_QUOTE = re.compile(r"[\s\"\\]")

# -- small helpers -------------------------------------------------------------------


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return ""
    return value if isinstance(value, str) else str(value)


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update({k: v for k, v in values.items() if v is not None})
    return out


def _plain(struct: struct_pb2.Struct) -> dict[str, Any]:
    return dict(json_format.MessageToDict(struct))


def _set_time(target: timestamp_pb2.Timestamp, raw: Any) -> bool:
    moment = parse_datetime(raw) if isinstance(raw, str) and raw else None
    if moment is None:
        return False
    target.FromDatetime(moment)
    return True


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with whole seconds, as Zendesk writes its own timestamps."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _refuse(path: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"ticket.{path} {why}", reason="UNSUPPORTED_FIELD")


def numeric_id(value: str, what: str) -> int:
    """A Zendesk id (users, groups, tickets) from text; INVALID_ARGUMENT otherwise."""
    text = value.strip()
    if not _DIGITS.fullmatch(text) or int(text) == 0:
        raise InvalidArgument(f"{what} must be a Zendesk id (a positive number), got {value!r}")
    return int(text)


# -- priorities, statuses, types -----------------------------------------------------


def zendesk_priority(name: Any) -> int:
    """The Priority for a Zendesk priority (urgent/high/normal/low); else UNSPECIFIED."""
    if not isinstance(name, str):
        return ticket_pb2.PRIORITY_UNSPECIFIED
    return _PRIORITY_BY_NAME.get(name.strip().lower(), ticket_pb2.PRIORITY_UNSPECIFIED)


def zendesk_priority_name(priority: int) -> str | None:
    """The Zendesk priority to write for `priority`; None for UNSPECIFIED/unknown."""
    return _NAME_BY_PRIORITY.get(priority)


def choice(value: str, allowed: Sequence[str], what: str) -> str:
    folded = value.strip().lower()
    if folded not in allowed:
        raise InvalidArgument(
            f"{what} {value!r} is not a Zendesk value; allowed: {', '.join(allowed)}",
            reason="INVALID_VALUE",
        )
    return folded


# -- custom fields -------------------------------------------------------------------


@dataclass(frozen=True)
class FieldInfo:
    """What GET /api/v2/ticket_fields says about one field: its id, type and, for
    tagger (drop-down) and multiselect fields, the option values."""

    id: int
    type: str
    title: str = ""
    options: tuple[str, ...] = ()

    @classmethod
    def from_zendesk(cls, item: Mapping[str, Any]) -> FieldInfo | None:
        raw = item.get("id")
        if not isinstance(raw, int) or isinstance(raw, bool):
            return None
        options = tuple(_str(_obj(o).get("value")) for o in item.get("custom_field_options") or ())
        return cls(raw, _str(item.get("type")), _str(item.get("title")), options)


def field_id(name: str, path: str) -> int:
    """The Zendesk field id a custom_field_mappings entry names (provider_field_path)."""
    text = path.strip()
    if not _DIGITS.fullmatch(text):
        raise InvalidArgument(
            f"custom field {name!r} maps to {path!r}: for Zendesk, provider_field_path "
            "must be the ticket field id (a number)",
            reason="INVALID_CUSTOM_FIELD",
        )
    return int(text)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def text_of(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def custom_value_out(name: str, value: Any, info: FieldInfo | None) -> Any:
    """A model value as the field's type wants it (None clears the field)."""
    if value is None:
        return None
    kind = info.type if info else ""

    def bad(expected: str) -> InvalidArgument:
        return InvalidArgument(
            f"custom_fields.{name} must be {expected} (Zendesk field {info.id if info else ''} "
            f"is of type {kind}), got {value!r}",
            reason="INVALID_CUSTOM_FIELD_VALUE",
        )

    if kind == "integer":
        number = _number(value)
        if number is None or not number.is_integer():
            raise bad("a whole number")
        return int(number)
    if kind == "decimal":
        number = _number(value)
        if number is None:
            raise bad("a number")
        return number
    if kind == "checkbox":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise bad("true or false")
    if kind == "multiselect":
        items = value if isinstance(value, list) else [value]
        return [text_of(v) for v in items]
    if kind == "date":
        moment = parse_datetime(value) if isinstance(value, str) else None
        if moment is None:
            raise bad("a date (YYYY-MM-DD)")
        return moment.date().isoformat()
    if kind == "lookup":
        number = _number(value)
        if number is None or not number.is_integer():
            raise bad("a record id")
        return int(number)
    if isinstance(value, dict | list):
        raise bad("text")
    return text_of(value)


def custom_value_in(raw: Any, info: FieldInfo | None) -> Any:
    """A Zendesk value as the model shows it (numbers for integer/decimal fields)."""
    kind = info.type if info else ""
    if kind in ("integer", "decimal", "lookup"):
        number = _number(raw)
        return number if number is not None else raw
    return raw


# -- tickets -------------------------------------------------------------------------


def agent_url(account: str, ticket_id: str) -> str:
    return f"{account.rstrip('/')}/agent/tickets/{ticket_id}" if ticket_id else ""


def _custom_values(
    ticket: Mapping[str, Any],
    custom: Mapping[str, str],
    fields: Mapping[int, FieldInfo],
) -> tuple[dict[str, Any], list[Any]]:
    """(mapped name -> value, the other fields having a value)."""
    by_id: dict[int, Any] = {}
    for item in ticket.get("custom_fields") or ():
        entry = _obj(item)
        if isinstance(entry.get("id"), int):
            by_id[entry["id"]] = entry.get("value")
    named: dict[str, Any] = {}
    for name, path in custom.items():
        if _DIGITS.fullmatch(path.strip()) and by_id.get(int(path)) is not None:
            ident = int(path)
            named[name] = custom_value_in(by_id.pop(ident), fields.get(ident))
    rest = [{"id": k, "value": v} for k, v in by_id.items() if v not in (None, "", [])]
    return named, rest


def ticket_from_zendesk(
    ticket: Mapping[str, Any],
    *,
    account: str,
    custom: Mapping[str, str] | None = None,
    fields: Mapping[int, FieldInfo] | None = None,
) -> ticket_pb2.Ticket:
    """A Zendesk ticket (GET/POST/PUT answer, search result, list item) as a Ticket.

    `custom` is custom field name -> provider_field_path for the ticket's
    project, `fields` the account's ticket fields by id (for value types).
    """
    ticket_id = _str(ticket.get("id"))
    out = ticket_pb2.Ticket(
        id=ticket_id,
        summary=_str(ticket.get("subject")),
        description=_str(ticket.get("description")),
        status=_str(ticket.get("status")),
        priority=zendesk_priority(ticket.get("priority")),  # type: ignore[arg-type]
        issue_type=_str(ticket.get("type")),
        assignee=_str(ticket.get("assignee_id")),
        contact=_str(ticket.get("requester_id")),
        creator=_str(ticket.get("submitter_id")),
        project=_str(ticket.get("group_id")),
        parent=_str(ticket.get("problem_id")),
        tags=[_str(t) for t in ticket.get("tags") or () if _str(t)],
        url=agent_url(account, ticket_id),
    )
    _set_time(out.created_at, ticket.get("created_at"))
    _set_time(out.updated_at, ticket.get("updated_at"))
    _set_time(out.due_date, ticket.get("due_at"))
    named, rest = _custom_values(ticket, custom or {}, fields or {})
    if named:
        out.custom_fields.update(named)
    extra = {
        k: v
        for k, v in ticket.items()
        if k not in _MAPPED and v is not None and v != [] and v != {} and v != ""
    }
    if rest:
        extra["custom_fields"] = rest
    out.unmapped.CopyFrom(_struct(extra))
    return out


def valid_tags(values: Iterable[str]) -> list[str]:
    tags: list[str] = []
    for tag in values:
        if not tag or BLANK_OR_QUOTE.search(tag):
            raise InvalidArgument(
                f"ticket.tags: {tag!r} is not a Zendesk tag (one word, no blanks or quotes)",
                reason="INVALID_TAG",
            )
        if tag not in tags:
            tags.append(tag)
    return tags


def _custom_out(
    values: Mapping[str, Any], custom: Mapping[str, str], fields: Mapping[int, FieldInfo]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, value in values.items():
        if name not in custom:
            mapped = ", ".join(sorted(custom)) or "none"
            raise InvalidArgument(
                f"custom field {name!r} is not mapped for this project (mapped: {mapped})",
                reason="UNMAPPED_CUSTOM_FIELD",
            )
        ident = field_id(name, custom[name])
        out.append({"id": ident, "value": custom_value_out(name, value, fields.get(ident))})
    return out


def _due(ticket: ticket_pb2.Ticket, kind: str) -> str:
    if kind != "task":
        raise _refuse(
            "due_date",
            f"can only be set on tickets of type task in Zendesk (this one: {kind or 'none'})",
        )
    return format_time(ticket.due_date.ToDatetime(tzinfo=UTC))


def _problem(ticket: ticket_pb2.Ticket, kind: str) -> int:
    if kind != "incident":
        raise _refuse(
            "parent",
            "(a problem ticket) can only be set on tickets of type incident in Zendesk "
            f"(this one: {kind or 'none'})",
        )
    return numeric_id(ticket.parent, "ticket.parent")


def create_body(
    ticket: ticket_pb2.Ticket,
    *,
    custom: Mapping[str, str],
    fields: Mapping[int, FieldInfo] | None = None,
) -> dict[str, Any]:
    """The POST /api/v2/tickets body for a new ticket."""
    if ticket.HasField("completion_date"):
        raise _refuse("completion_date", "cannot be written: Zendesk sets it when solving")
    body: dict[str, Any] = {
        "subject": ticket.summary,
        "comment": {"body": ticket.description or ticket.summary, "public": True},
    }
    kind = choice(ticket.issue_type, TYPES, "ticket.issue_type") if ticket.issue_type else ""
    if kind:
        body["type"] = kind
    if ticket.status:
        body["status"] = choice(ticket.status, STATUSES, "ticket.status")
    name = zendesk_priority_name(ticket.priority)
    if name:
        body["priority"] = name
    for model, attribute in (
        ("assignee", "assignee_id"),
        ("contact", "requester_id"),
        ("creator", "submitter_id"),
        ("project", "group_id"),
    ):
        value = getattr(ticket, model)
        if value:
            body[attribute] = numeric_id(value, f"ticket.{model}")
    if ticket.tags:
        body["tags"] = valid_tags(ticket.tags)
    if ticket.HasField("due_date"):
        body["due_at"] = _due(ticket, kind)
    if ticket.parent:
        body["problem_id"] = _problem(ticket, kind)
    values = _plain(ticket.custom_fields)
    if values:
        body["custom_fields"] = _custom_out(values, custom, fields or {})
    return {"ticket": body}


def update_body(
    ticket: ticket_pb2.Ticket,
    paths: Sequence[str],
    current: ticket_pb2.Ticket,
    *,
    custom: Mapping[str, str],
    fields: Mapping[int, FieldInfo] | None = None,
) -> dict[str, Any] | None:
    """The PUT /api/v2/tickets/{id} body for `paths`, or None when nothing changes.

    `current` is the ticket as read now: a path whose value equals it is left
    out (a ticket read and written back with `*` changes nothing), and a path
    Zendesk cannot write is INVALID_ARGUMENT only when it would change something.
    """
    body: dict[str, Any] = {}
    kind = current.issue_type
    if "issue_type" in paths:
        kind = choice(ticket.issue_type, TYPES, "ticket.issue_type") if ticket.issue_type else ""
    for path in paths:
        if path.partition(".")[0] == "custom_fields":
            continue
        if path == "summary":
            if ticket.summary != current.summary:
                body["subject"] = ticket.summary
        elif path == "status":
            if not ticket.status:
                raise InvalidArgument("a Zendesk ticket always has a status (ticket.status)")
            status = choice(ticket.status, STATUSES, "ticket.status")
            if status != current.status:
                body["status"] = status
        elif path == "priority":
            if ticket.priority != current.priority:
                wanted = zendesk_priority_name(ticket.priority)
                if wanted is None:
                    raise _refuse("priority", "cannot be cleared once set in Zendesk")
                if zendesk_priority(wanted) != current.priority:
                    body["priority"] = wanted
        elif path == "issue_type":
            if kind != current.issue_type:
                body["type"] = kind or None
        elif path in ("assignee", "contact", "project"):
            value = getattr(ticket, path)
            if value != getattr(current, path):
                if not value and path != "assignee":
                    raise _refuse(path, "cannot be removed in Zendesk (set another one instead)")
                attribute = ID_ATTRIBUTES[path]
                body[attribute] = numeric_id(value, f"ticket.{path}") if value else None
        elif path == "tags":
            if list(ticket.tags) != list(current.tags):
                body["tags"] = valid_tags(ticket.tags)
        elif path == "due_date":
            if ticket.due_date != current.due_date:
                body["due_at"] = _due(ticket, kind) if ticket.HasField("due_date") else None
        elif path == "parent":
            if ticket.parent != current.parent:
                body["problem_id"] = _problem(ticket, kind) if ticket.parent else None
        elif path == "description":
            if ticket.description != current.description:
                raise _refuse("description", "(the first comment) cannot be changed in Zendesk")
        elif path == "creator":
            if ticket.creator != current.creator:
                raise _refuse("creator", "(the submitter) cannot be changed after creation")
        elif path == "completion_date":
            if ticket.completion_date != current.completion_date:
                raise _refuse("completion_date", "cannot be written: Zendesk sets it when solving")
        else:
            raise _refuse(path, "cannot be written to Zendesk")
    changes = _custom_changes(ticket, paths, current, custom, fields or {})
    if changes:
        body["custom_fields"] = changes
    return {"ticket": body} if body else None


def _custom_changes(
    ticket: ticket_pb2.Ticket,
    paths: Sequence[str],
    current: ticket_pb2.Ticket,
    custom: Mapping[str, str],
    fields: Mapping[int, FieldInfo],
) -> list[dict[str, Any]]:
    wanted = _plain(ticket.custom_fields)
    have = _plain(current.custom_fields)
    names: list[str] = []
    for path in paths:
        head, _, name = path.partition(".")
        if head != "custom_fields":
            continue
        if name:
            names.append(name)
        else:  # the whole map: every name given, and every mapped one (absent = cleared)
            names += [*wanted, *custom]
    out: list[dict[str, Any]] = []
    for name in dict.fromkeys(names):
        value = wanted.get(name)
        if value == have.get(name):
            continue
        out += _custom_out({name: value}, custom, fields)
    return out


# -- errors --------------------------------------------------------------------------


def error_text(status: int, body: bytes) -> str:
    """Zendesk's error bodies as one line: `{"error", "description", "details"}`
    (`error` a string or `{title, message}`) or `{"errors": [{code, title, detail}]}`."""
    try:
        data = json.loads(body)
    except ValueError:
        return body_excerpt(status, body)
    if not isinstance(data, dict):
        return body_excerpt(status, body)
    parts: list[str] = []
    error = data.get("error")
    if isinstance(error, str) and error:
        parts.append(error)
    elif isinstance(error, dict):
        parts += [_str(error.get(k)) for k in ("title", "message") if _str(error.get(k))]
    description = _str(data.get("description")).strip()
    if description:
        parts.append(description)
    for key, problems in _obj(data.get("details")).items():
        for problem in problems if isinstance(problems, list) else [problems]:
            text = _str(_obj(problem).get("description")) or _str(problem)
            if text:
                parts.append(f"{key}: {text}")
    for item in data.get("errors") or ():
        entry = _obj(item)
        text = " ".join(
            p for p in (_str(entry.get("title")), _str(entry.get("detail"))) if p
        ) or _str(entry.get("code"))
        if text:
            parts.append(text)
    return "; ".join(dict.fromkeys(parts)) or body_excerpt(status, body)
