"""Jira Cloud REST v3 JSON <-> the common model.

Jira timestamps look like `2024-09-30T12:26:34.123+0000` (no colon in the
offset), dates like `2024-09-30`; rich text is Atlassian Document Format.
People are identified by accountId, the only id Jira accepts when writing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2
from ticketing.v1 import ticket_pb2

from ..errors import InvalidArgument
from ..priorities import jira_priority
from .adf import adf_to_markdown, markdown_to_adf

_TIMESTAMP = re.compile(
    r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?\d*(Z|[+-]\d{2}:?\d{2})?"
)

MAPPED_FIELDS = frozenset(
    {
        "summary",
        "creator",
        "assignee",
        "reporter",
        "description",
        "priority",
        "duedate",
        "resolutiondate",
        "status",
        "project",
        "issuetype",
        "parent",
        "labels",
        "attachment",
        "created",
        "updated",
    }
)


def parse_timestamp(text: str | None) -> datetime | None:
    """A Jira timestamp (or plain date) as an aware UTC datetime."""
    if not text:
        return None
    if len(text) == 10:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    day, clock, fraction, zone = match.groups()
    zone = zone or "+0000"
    if zone != "Z" and ":" not in zone:
        zone = f"{zone[:3]}:{zone[3:]}"
    iso = f"{day}T{clock}.{(fraction or '0').ljust(6, '0')}{'+00:00' if zone == 'Z' else zone}"
    return datetime.fromisoformat(iso).astimezone(UTC)


def format_date(ts: timestamp_pb2.Timestamp) -> str:
    return ts.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d")


def format_timestamp(ts: timestamp_pb2.Timestamp) -> str:
    return ts.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _set_time(target: timestamp_pb2.Timestamp, text: str | None) -> None:
    parsed = parse_timestamp(text)
    if parsed is not None:
        target.FromDatetime(parsed)


def _person(value: Any) -> str:
    if isinstance(value, Mapping):
        return str(value.get("accountId") or value.get("emailAddress") or "")
    return ""


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update({k: v for k, v in values.items() if v is not None})
    return out


def custom_value_from_jira(value: Any, jira_type: str) -> Any:
    """A custom field's Jira value as a plain JSON value of the model."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        if value.get("type") == "doc":
            return adf_to_markdown(value)
        if "value" in value:
            return value["value"]
        if "accountId" in value:
            return value["accountId"]
        if "name" in value:
            return value["name"]
    if isinstance(value, list):
        return [custom_value_from_jira(v, jira_type) for v in value]
    return value


def custom_value_to_jira(name: str, value: Any, schema: Mapping[str, Any]) -> Any:
    """A model value written the way the field's type needs (options as
    {"value": ...}, rich text as ADF, users by accountId, dates yyyy-MM-dd)."""
    kind = schema.get("type", "string")
    custom = str(schema.get("custom", ""))
    if value is None:
        return None
    if kind == "array":
        items = value if isinstance(value, list) else [value]
        item_schema = {"type": schema.get("items", "string")}
        return [custom_value_to_jira(name, v, item_schema) for v in items]
    if kind == "option":
        return {"value": str(value)}
    if kind == "user":
        return {"accountId": str(value)}
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidArgument(f"custom field {name!r} takes a number, not {value!r}")
        return value
    if kind == "string" and custom.endswith(":textarea"):
        return markdown_to_adf(str(value))
    if kind in ("date", "datetime", "string"):
        return str(value)
    return value


def ticket_from_issue(
    issue: Mapping[str, Any],
    *,
    site: str,
    custom_fields: Mapping[str, str],
    field_types: Mapping[str, Mapping[str, Any]],
    priority_overrides: Mapping[str, int] | None = None,
) -> ticket_pb2.Ticket:
    """`custom_fields` maps model names to Jira field ids for the issue's project."""
    fields: Mapping[str, Any] = issue.get("fields") or {}
    key = str(issue.get("key") or issue.get("id") or "")
    ticket = ticket_pb2.Ticket(
        id=key,
        summary=str(fields.get("summary") or ""),
        creator=_person(fields.get("creator")),
        assignee=_person(fields.get("assignee")),
        contact=_person(fields.get("reporter")),
        description=adf_to_markdown(fields.get("description")),
        priority=jira_priority((fields.get("priority") or {}).get("name"), priority_overrides),  # type: ignore[arg-type]
        status=str((fields.get("status") or {}).get("name") or ""),
        project=str((fields.get("project") or {}).get("key") or ""),
        issue_type=str((fields.get("issuetype") or {}).get("name") or ""),
        parent=str((fields.get("parent") or {}).get("key") or ""),
        tags=[str(label) for label in fields.get("labels") or []],
        url=f"{site.rstrip('/')}/browse/{key}" if key else "",
    )
    _set_time(ticket.due_date, fields.get("duedate"))
    _set_time(ticket.completion_date, fields.get("resolutiondate"))
    _set_time(ticket.created_at, fields.get("created"))
    _set_time(ticket.updated_at, fields.get("updated"))
    for item in fields.get("attachment") or []:
        ticket.attachments.append(attachment_from_jira(item, key))
    custom = {}
    for name, field_id in custom_fields.items():
        if fields.get(field_id) is not None:
            jira_type = str(field_types.get(field_id, {}).get("type", ""))
            custom[name] = custom_value_from_jira(fields[field_id], jira_type)
    if custom:
        ticket.custom_fields.CopyFrom(_struct(custom))
    used = MAPPED_FIELDS | set(custom_fields.values())
    rest = {k: v for k, v in fields.items() if k not in used and v not in (None, [], {})}
    rest["jira_id"] = issue.get("id")
    ticket.unmapped.CopyFrom(_struct(rest))
    return ticket


def attachment_from_jira(item: Mapping[str, Any], ticket_id: str) -> ticket_pb2.AttachmentMetadata:
    meta = ticket_pb2.AttachmentMetadata(
        id=str(item.get("id", "")),
        ticket_id=ticket_id,
        file_name=str(item.get("filename", "")),
        file_type=str(item.get("mimeType", "")),
        file_size=int(item.get("size") or 0),
        creator=_person(item.get("author")),
    )
    _set_time(meta.created_date, item.get("created"))
    return meta


def comment_from_jira(item: Mapping[str, Any], ticket_id: str) -> ticket_pb2.Comment:
    comment = ticket_pb2.Comment(
        id=str(item.get("id", "")),
        ticket_id=ticket_id,
        creator=_person(item.get("author")),
        content=adf_to_markdown(item.get("body")),
    )
    _set_time(comment.created_at, item.get("created"))
    _set_time(comment.updated_at, item.get("updated"))
    rest = {k: v for k, v in item.items() if k in ("visibility", "jsdPublic", "self")}
    if rest:
        comment.unmapped.CopyFrom(_struct(rest))
    return comment


def project_from_jira(item: Mapping[str, Any]) -> ticket_pb2.Project:
    project = ticket_pb2.Project(id=str(item.get("key", "")), name=str(item.get("name", "")))
    rest = {
        k: item.get(k) for k in ("id", "projectTypeKey", "simplified", "style", "self") if k in item
    }
    project.unmapped.CopyFrom(_struct(rest))
    return project
