"""The filter AST of query.py translated to JQL for Jira's search.

Jira traps this handles: text fields are searched with `~` (Jira's word
search), never `=`; `!=` and `NOT IN` never match an empty field, while the
contract says a missing value matches neq/not in, so those become
`(f != x OR f IS EMPTY)`; the search endpoint refuses an unbounded query, so
a query with no condition gets `project IS NOT EMPTY`; JQL dates are written
`yyyy-MM-dd HH:mm` (Jira reads them in the API user's time zone).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

from ticketing.v1 import ticket_pb2

from ..priorities import BY_URGENCY, jira_priority_name
from ..query import Condition, FieldType, Op, Query, QuerySchema, Value, field

EQUALITY = frozenset({Op.EQ, Op.NEQ, Op.IN, Op.NOT_IN})
TEXT = frozenset({Op.LIKE, Op.NOT_LIKE})
RANGE = frozenset({Op.EQ, Op.NEQ, Op.GT, Op.GTE, Op.LT, Op.LTE})
PRIORITY_NAMES = BY_URGENCY

JQL_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "id": "key",
        "summary": "summary",
        "description": "description",
        "status": "status",
        "priority": "priority",
        "project": "project",
        "issue_type": "issuetype",
        "assignee": "assignee",
        "creator": "creator",
        "contact": "reporter",
        "parent": "parent",
        "tags": "labels",
        "created_at": "created",
        "updated_at": "updated",
        "due_date": "duedate",
    }
)
"""Model field -> JQL field."""

TICKET_SCHEMA = QuerySchema.of(
    field("id", FieldType.STRING, EQUALITY),
    field("summary", FieldType.STRING, TEXT),
    field("description", FieldType.STRING, TEXT, orderable=False),
    field("status", FieldType.STRING, EQUALITY),
    field("priority", FieldType.ENUM, EQUALITY, enum_values=PRIORITY_NAMES),
    field("project", FieldType.STRING, EQUALITY),
    field("issue_type", FieldType.STRING, EQUALITY),
    field("assignee", FieldType.STRING, EQUALITY),
    field("creator", FieldType.STRING, EQUALITY),
    field("contact", FieldType.STRING, EQUALITY),
    field("parent", FieldType.STRING, EQUALITY, orderable=False),
    field("tags", FieldType.LIST, EQUALITY, orderable=False),
    field("created_at", FieldType.DATETIME, RANGE),
    field("updated_at", FieldType.DATETIME, RANGE),
    field("due_date", FieldType.DATETIME, RANGE),
)
"""What query_tickets accepts on Jira (custom fields are added per integration)."""


def quote(value: str) -> str:
    """A JQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literal(value: Value) -> str:
    if isinstance(value, datetime):
        return quote(value.strftime("%Y-%m-%d %H:%M"))
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() else repr(value)
    return quote(value)


def _like(value: Value) -> str:
    text = str(value).replace("*", " ").strip()
    return quote(text)


_COMPARE = {Op.EQ: "=", Op.NEQ: "!=", Op.GT: ">", Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}


def to_jql(
    query: Query,
    *,
    custom_fields: Mapping[str, str] = MappingProxyType({}),
    priority_overrides: Mapping[str, int] | None = None,
) -> str:
    """JQL for the query. `custom_fields` maps a custom field name to its Jira
    field id (customfield_NNNNN); `priority_overrides` is the integration's
    Jira priority name -> Priority map."""

    def jql_field(name: str) -> str:
        if name.startswith("custom_fields."):
            field_id = custom_fields[name.removeprefix("custom_fields.")]
            number = field_id.removeprefix("customfield_")
            return f"cf[{number}]" if number.isdigit() else quote(field_id)
        return JQL_FIELDS[name]

    def values(condition: Condition) -> list[str]:
        if condition.field == "priority":
            return [
                quote(
                    jira_priority_name(ticket_pb2.Priority.Value(str(v)), priority_overrides) or ""
                )
                for v in condition.values
            ]
        return [_literal(v) for v in condition.values]

    def clause(condition: Condition) -> str:
        target = jql_field(condition.field)
        op = condition.op
        if op in (Op.LIKE, Op.NOT_LIKE):
            word = "~" if op is Op.LIKE else "!~"
            text = f"{target} {word} {_like(condition.values[0])}"
            return text if op is Op.LIKE else f"({text} OR {target} IS EMPTY)"
        items = values(condition)
        if op in (Op.IN, Op.NOT_IN):
            listed = f"{target} {'in' if op is Op.IN else 'not in'} ({', '.join(items)})"
            return listed if op is Op.IN else f"({listed} OR {target} IS EMPTY)"
        text = f"{target} {_COMPARE[op]} {items[0]}"
        return f"({text} OR {target} IS EMPTY)" if op is Op.NEQ else text

    clauses = [clause(c) for c in query.conditions] or ["project IS NOT EMPTY"]
    jql = " AND ".join(clauses)
    if query.order:
        keys = ", ".join(
            f"{jql_field(k.field)} {'DESC' if k.descending else 'ASC'}" for k in query.order
        )
        jql += f" ORDER BY {keys}"
    return jql
