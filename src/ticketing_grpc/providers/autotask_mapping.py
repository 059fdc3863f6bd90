"""Autotask PSA Ticket JSON <-> the common model (filters are in autotask.py).

Ticket fields (REST v1.0 TicketModel, camelCase as the API sends them)
    ===============  ======================================================
    model            Autotask
    ===============  ======================================================
    id               id (int64, written in decimal)
    summary          title
    description      description
    status           status: picklist value <-> its label
    priority         priority: picklist value <-> its label (table below)
    project          companyID
    issue_type       ticketCategory: picklist value <-> its label (the
                     integration's default_issue_type is a ticket category
                     id, so this is the field it fills; issueType and
                     subIssueType stay in unmapped)
    assignee         assignedResourceID (clearing it clears
                     assignedResourceRoleID too: a role needs a resource)
    contact          contactID
    creator          creatorResourceID (read only: never written)
    due_date         dueDateTime
    completion_date  completedDate
    created_at       createDate
    updated_at       lastActivityDate
    custom_fields    userDefinedFields [{name, value}], by UDF name (a
                     mapping's provider_field_path is the UDF name)
    url              the ExecuteCommand link (Code=OpenTicketDetail) on
                     wwN.autotask.net for a REST base on
                     webservicesN.autotask.net (the same zone number is
                     assumed); empty for any other host
    unmapped         every other non-empty attribute, and the UDFs no
                     mapping names
    ===============  ======================================================

    People, companies and contacts are Autotask ids (numbers) written as
    strings. Picklist labels come from GET /Tickets/entityInformation/fields
    (`TicketFields`); a label is written as its value, matched without regard
    to case (a value itself is accepted too); an unknown label is
    INVALID_ARGUMENT listing the active labels. Dates are UTC, written
    `YYYY-MM-DDTHH:MM:SS.mmmZ`. `parent` and `tags` have no Autotask field.
    Read-only fields (creator, and whatever the field metadata marks
    isReadOnly) are refused only when a write would change them, so a ticket
    read and written back with `*` changes nothing.

Priority, by label: Critical CRITICAL, High HIGH, Medium MEDIUM, Low LOW (any
other label reads PRIORITY_UNSPECIFIED). Writing: URGENT and CRITICAL ->
Critical, HIGH -> High, MEDIUM and MODERATE -> Medium, LOW and PLANNING -> Low.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from google.protobuf import json_format, struct_pb2, timestamp_pb2
from ticketing.v1 import ticket_pb2

from ..errors import InvalidArgument
from ..priorities import BY_URGENCY
from ..query import (
    parse_datetime,
)
from .http import body_excerpt

COLUMNS: Mapping[str, str] = MappingProxyType(
    {
        "id": "id",
        "summary": "title",
        "description": "description",
        "status": "status",
        "priority": "priority",
        "project": "companyID",
        "issue_type": "ticketCategory",
        "assignee": "assignedResourceID",
        "contact": "contactID",
        "creator": "creatorResourceID",
        "due_date": "dueDateTime",
        "completion_date": "completedDate",
        "created_at": "createDate",
        "updated_at": "lastActivityDate",
    }
)
"""Model field -> Autotask Ticket field."""

UDFS = "userDefinedFields"
PICKLISTS = ("status", "priority", "ticketCategory")
NEVER_EMPTY = frozenset({"id", "title", "status", "priority", "companyID", "createDate"})
"""Fields every ticket has (no `notExist` alternative needed)."""
REFERENCES = {"project": "company", "assignee": "resource", "contact": "contact"}

P = ticket_pb2
LABEL_TO_PRIORITY: Mapping[str, int] = MappingProxyType(
    {"critical": P.CRITICAL, "high": P.HIGH, "medium": P.MEDIUM, "low": P.LOW}
)
PRIORITY_TO_LABEL: Mapping[int, str] = MappingProxyType(
    {
        P.URGENT: "Critical",
        P.CRITICAL: "Critical",
        P.HIGH: "High",
        P.MEDIUM: "Medium",
        P.MODERATE: "Medium",
        P.LOW: "Low",
        P.PLANNING: "Low",
    }
)
PRIORITY_ORDER = BY_URGENCY
"""Least to most pressing: what gt/gte/lt/lte on priority compare (the order the
README gives for the mock provider)."""
DEFAULT_LABELS = {"status": "New", "priority": "Medium"}
"""Used on create when the field is required and its picklist names no default."""

_ZONE_HOST = re.compile(r"webservices(\d+)\.autotask\.net", re.IGNORECASE)
_WHOLE = re.compile(r"[0-9]{1,18}")


# -- field metadata -----------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    value: str
    label: str
    active: bool = True
    default: bool = False


@dataclass(frozen=True)
class FieldInfo:
    name: str
    required: bool = False
    read_only: bool = False
    choices: tuple[Choice, ...] = ()


@dataclass(frozen=True)
class TicketFields:
    """What GET /Tickets/entityInformation/fields says, by lower-cased field name."""

    by_name: Mapping[str, FieldInfo] = dc_field(default_factory=dict)

    @classmethod
    def parse(cls, body: Any) -> TicketFields:
        listed = body.get("fields") if isinstance(body, Mapping) else None
        found: dict[str, FieldInfo] = {}
        for raw in listed if isinstance(listed, list) else ():
            if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
                continue
            choices = tuple(
                Choice(
                    value=text_of(c.get("value")),
                    label=text_of(c.get("label")) or text_of(c.get("value")),
                    active=c.get("isActive") is not False,
                    default=c.get("isDefaultValue") is True,
                )
                for c in raw.get("picklistValues") or ()
                if isinstance(c, Mapping) and text_of(c.get("value"))
            )
            found[raw["name"].lower()] = FieldInfo(
                raw["name"], raw.get("isRequired") is True, raw.get("isReadOnly") is True, choices
            )
        return cls(MappingProxyType(found))

    def get(self, name: str) -> FieldInfo:
        return self.by_name.get(name.lower()) or FieldInfo(name)

    def label(self, name: str, raw: Any) -> str:
        """The label of a picklist value ("" when empty, the value when unknown)."""
        value = text_of(raw)
        return next((c.label for c in self.get(name).choices if c.value == value), value)

    def knows(self, item: Mapping[str, Any]) -> bool:
        """Whether every picklist value of a ticket has a label here."""
        for name in PICKLISTS:
            value, choices = text_of(item.get(name)), self.get(name).choices
            if value and choices and not any(c.value == value for c in choices):
                return False
        return True

    def resolve(self, name: str, given: str, what: str) -> int | str:
        """The value to write for a label or value; UNKNOWN_CHOICE naming the labels."""
        info = self.get(name)
        wanted = given.strip()
        if not info.choices:  # no picklist: the value itself (Autotask ids are numbers)
            return whole(wanted, what)
        active = [c for c in info.choices if c.active]
        for choice in active:
            if choice.label.strip().casefold() == wanted.casefold():
                return raw_value(choice.value)
        for choice in active:
            if choice.value == wanted:
                return raw_value(choice.value)
        labels = ", ".join(c.label for c in active) or "none"
        raise InvalidArgument(
            f"{what} {given!r} is not one of the Autotask {info.name} labels: {labels}",
            reason="UNKNOWN_CHOICE",
            metadata={"field": info.name},
        )

    def values_for(self, name: str, given: str, what: str) -> list[int | str]:
        """Every value (active or not) a filter label stands for."""
        info = self.get(name)
        wanted = given.strip().casefold()
        found = [raw_value(c.value) for c in info.choices if c.label.strip().casefold() == wanted]
        return found or [self.resolve(name, given, what)]

    def default(self, name: str) -> int | str | None:
        """The value a new ticket gets when none is given, or None to send nothing."""
        info = self.get(name)
        active = [c for c in info.choices if c.active]
        picked = next((c for c in active if c.default), None)
        if picked is None and info.required and name in DEFAULT_LABELS:
            wanted = DEFAULT_LABELS[name].casefold()
            picked = next((c for c in active if c.label.strip().casefold() == wanted), None)
        return raw_value(picked.value) if picked else None


# -- values -------------------------------------------------------------------------


def text_of(raw: Any) -> str:
    """A field value as text ("" for null; whole floats without ".0")."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw)


def raw_value(value: str) -> int | str:
    """A picklist value as sent: a number when it is one."""
    return int(value) if _WHOLE.fullmatch(value) else value


def whole(text: str, what: str) -> int:
    """A whole number given as text (an Autotask id); INVALID_ARGUMENT otherwise."""
    if not _WHOLE.fullmatch(text.strip()):
        raise InvalidArgument(f"{what} must be an Autotask id (a whole number), not {text!r}")
    return int(text.strip())


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _stamp(ts: timestamp_pb2.Timestamp) -> str:
    return format_time(ts.ToDatetime(tzinfo=UTC))


def _set_time(target: timestamp_pb2.Timestamp, raw: Any) -> None:
    parsed = parse_datetime(raw) if isinstance(raw, str) and raw else None
    if parsed is not None:
        target.FromDatetime(parsed)


def plain(struct: struct_pb2.Struct) -> dict[str, Any]:
    return dict(json_format.MessageToDict(struct))


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def ticket_url(base_url: str, ticket_id: str) -> str:
    """The ExecuteCommand link (OpenTicketDetail) on the zone's UI host wwN.autotask.net,
    for a REST base on webservicesN.autotask.net; "" for any other host."""
    match = _ZONE_HOST.fullmatch(urlsplit(base_url).hostname or "")
    if match is None or not ticket_id:
        return ""
    return (
        f"https://ww{match[1]}.autotask.net/Autotask/AutotaskExtend/ExecuteCommand.aspx"
        f"?Code=OpenTicketDetail&TicketID={ticket_id}"
    )


# -- reading ------------------------------------------------------------------------


def udf_values(item: Mapping[str, Any]) -> dict[str, Any]:
    """UDF name -> value (null values left out)."""
    listed = item.get(UDFS)
    return {
        u["name"]: u.get("value")
        for u in (listed if isinstance(listed, list) else ())
        if isinstance(u, Mapping) and isinstance(u.get("name"), str) and u.get("value") is not None
    }


def ticket_from_item(
    item: Mapping[str, Any],
    fields: TicketFields,
    *,
    custom_fields: Mapping[str, str] | None = None,
    base_url: str = "",
) -> ticket_pb2.Ticket:
    """A TicketModel; `custom_fields` maps custom field names to UDF names."""
    custom_fields = custom_fields or {}
    ticket_id = text_of(item.get("id"))
    ticket = ticket_pb2.Ticket(
        id=ticket_id,
        summary=text_of(item.get("title")),
        description=text_of(item.get("description")),
        status=fields.label("status", item.get("status")),
        priority=LABEL_TO_PRIORITY.get(  # type: ignore[arg-type]
            fields.label("priority", item.get("priority")).strip().casefold(),
            P.PRIORITY_UNSPECIFIED,
        ),
        project=text_of(item.get("companyID")),
        issue_type=fields.label("ticketCategory", item.get("ticketCategory")),
        assignee=text_of(item.get("assignedResourceID")),
        contact=text_of(item.get("contactID")),
        creator=text_of(item.get("creatorResourceID")),
        url=ticket_url(base_url, ticket_id),
    )
    for model in ("due_date", "completion_date", "created_at", "updated_at"):
        _set_time(getattr(ticket, model), item.get(COLUMNS[model]))
    udfs = udf_values(item)
    custom = {name: udfs[udf] for name, udf in custom_fields.items() if udf in udfs}
    if custom:
        ticket.custom_fields.update(custom)
    used = set(COLUMNS.values()) | {UDFS}
    rest = {k: v for k, v in item.items() if k not in used and not _empty(v)}
    mapped = set(custom_fields.values())
    others = [{"name": n, "value": v} for n, v in udfs.items() if n not in mapped]
    if others:
        rest[UDFS] = others
    if rest:
        ticket.unmapped.update(rest)
    return ticket


# -- writing ------------------------------------------------------------------------


def _refuse(path: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"ticket.{path} {why}", reason="FIELD_NOT_WRITABLE")


def custom_value(name: str, value: Any) -> str | None:
    """A custom field value as the UDF's string (null clears it)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int | str):
        return str(value)
    raise InvalidArgument(
        f"custom field {name!r} takes a string or a number on Autotask, not {value!r}"
    )


DATES = frozenset({"dueDateTime", "completedDate", "createDate", "lastActivityDate"})


def _same(column: str, current: Any, new: Any) -> bool:
    """Whether writing `new` would leave the field as it is."""
    if _empty(current) or _empty(new):
        return _empty(current) and _empty(new)
    if column in DATES and isinstance(new, str) and isinstance(current, str):
        old_time, new_time = parse_datetime(current), parse_datetime(new)
        if old_time is not None and new_time is not None:
            return old_time == new_time
    return text_of(current) == text_of(new)


def _model_value(path: str, ticket: ticket_pb2.Ticket, fields: TicketFields) -> dict[str, Any]:
    """Autotask field -> value for one writable model field of `ticket`."""
    what = f"ticket.{path}"
    if path == "summary":
        return {"title": ticket.summary}
    if path == "description":
        return {"description": ticket.description or None}
    if path in ("status", "issue_type"):
        column, given = COLUMNS[path], getattr(ticket, path)
        return {column: fields.resolve(column, given, what) if given.strip() else None}
    if path == "priority":
        label = PRIORITY_TO_LABEL.get(ticket.priority)
        return {"priority": fields.resolve("priority", label, what) if label else None}
    if path in REFERENCES:
        given = getattr(ticket, path)
        kind = REFERENCES[path]
        value = {COLUMNS[path]: whole(given, f"{what} (an Autotask {kind} id)") if given else None}
        if path == "assignee" and not given:
            value["assignedResourceRoleID"] = None
        return value
    if path in ("due_date", "completion_date"):
        stamp = getattr(ticket, path)
        return {COLUMNS[path]: _stamp(stamp) if ticket.HasField(path) else None}
    raise AssertionError(path)  # pragma: no cover


WRITABLE = (
    "summary",
    "description",
    "status",
    "priority",
    "project",
    "issue_type",
    "assignee",
    "contact",
    "due_date",
    "completion_date",
)
"""Model fields with an Autotask field a write may set."""


NOT_WRITTEN: Mapping[str, str] = MappingProxyType(
    {
        "creator": "cannot be written: Autotask sets creatorResourceID itself",
        "parent": "cannot be written: this connector maps no Autotask field to it",
        "tags": "cannot be written: this connector maps no Autotask field to it",
    }
)


def _unchanged(path: str, ticket: ticket_pb2.Ticket, known: ticket_pb2.Ticket) -> bool:
    """Whether a model field of `ticket` equals the current ticket's (as read)."""
    if path == "tags":
        return list(ticket.tags) == list(known.tags)
    return bool(getattr(ticket, path) == getattr(known, path))


def _custom_udfs(
    ticket: ticket_pb2.Ticket, paths: Iterable[str], custom_fields: Mapping[str, str]
) -> dict[str, str | None]:
    """UDF name -> value for the custom field paths among `paths`."""
    wanted = plain(ticket.custom_fields)
    chosen: dict[str, Any] = {}
    for path in paths:
        head, _, name = path.partition(".")
        if head != "custom_fields":
            continue
        if name:
            chosen[name] = wanted.get(name)
        else:
            chosen |= {n: None for n in custom_fields} | wanted
    unknown = sorted(set(chosen) - set(custom_fields))
    if unknown:
        mapped = ", ".join(sorted(custom_fields)) or "none"
        raise InvalidArgument(
            f"custom field {unknown[0]!r} is not mapped for this company (mapped: {mapped})",
            reason="UNMAPPED_CUSTOM_FIELD",
        )
    return {custom_fields[n]: custom_value(n, v) for n, v in chosen.items()}


def write_body(
    ticket: ticket_pb2.Ticket,
    paths: Sequence[str],
    fields: TicketFields,
    *,
    current: Mapping[str, Any] | None = None,
    custom_fields: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The POST (current None) or PATCH body for `paths` of `ticket`, without `id`.

    With `current` (the ticket as read now) a field whose value would not
    change is left out, and read-only fields are refused only when they would
    change; on create every path named is written.
    """
    custom_fields = custom_fields or {}
    old = current or {}
    known = ticket_from_item(old, fields) if current is not None else ticket_pb2.Ticket()
    body: dict[str, Any] = {}
    for path in paths:
        if path.partition(".")[0] == "custom_fields":
            continue
        if path not in WRITABLE and path not in NOT_WRITTEN:
            raise _refuse(path, "cannot be written to Autotask")
        if _unchanged(path, ticket, known):
            continue
        if path in NOT_WRITTEN:
            raise _refuse(path, NOT_WRITTEN[path])
        for column, value in _model_value(path, ticket, fields).items():
            if current is not None and _same(column, old.get(column), value):
                continue
            info = fields.get(column)
            if info.read_only:
                raise _refuse(path, f"cannot be changed: Autotask's {info.name} is read-only")
            if value is None and (info.required or column in NEVER_EMPTY):
                raise _refuse(path, f"cannot be cleared: Autotask's {info.name} is required")
            body[column] = value
    udfs = _custom_udfs(ticket, paths, custom_fields)
    now = udf_values(old)
    changed = [
        {"name": n, "value": v}
        for n, v in udfs.items()
        if current is None or not _same(n, now.get(n), v)
    ]
    if changed:
        body[UDFS] = changed
    return body


# -- errors -------------------------------------------------------------------------


def error_text(status: int, body: bytes) -> str:
    """Autotask's `{"errors": ["...", ...]}` (or ASP.NET's `{"Message"}`) as one line."""
    try:
        data = json.loads(body)
    except ValueError:
        return body_excerpt(status, body)
    if isinstance(data, Mapping):
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            return "; ".join(text_of(e) for e in errors if not _empty(e))
        message = data.get("message") or data.get("Message")
        if isinstance(message, str) and message:
            return message
    return body_excerpt(status, body)
