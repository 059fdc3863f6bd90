"""The filter AST of query.py translated to a ServiceNow encoded query (sysparm_query).

Encoded query syntax: conditions `<column><operator><value>` joined by `^`
(AND); `^OR` joins a condition to the one before it, and binds tighter than
`^`, so `a^b^ORc` is a AND (b OR c). Operators used: `=`, `!=`, `>`, `>=`,
`<`, `<=`, `IN`, `NOT IN`, `LIKE`, `NOT LIKE`, `ISEMPTY`, `ISNOTEMPTY`;
ordering is `ORDERBY<column>` / `ORDERBYDESC<column>` inside the query.

Traps this handles:

- `^` inside a value is written `^^`.
- ServiceNow's `!=`, `NOT IN` and `NOT LIKE` never match an empty column
  (SQL semantics), while the contract says a missing value matches the
  negated operators, so those get `^OR<column>ISEMPTY`.
- The contract's `like` is "contains", with `*` as a wildcard: each
  `*`-separated part becomes its own `LIKE` (parts in any order: ServiceNow's
  LIKE has no wildcard of its own), `not like` the negation of that. An
  empty `like` value matches any non-empty column (`ISNOTEMPTY`), an empty
  `not like` only empty ones; `eq`/`neq` with an empty value are spelled
  `ISEMPTY`/`ISNOTEMPTY`.
- Dates are compared as actual values: `YYYY-MM-DD HH:MM:SS` in UTC (what a
  raw value in an encoded query means; `javascript:gs.dateGenerate(...)`
  would read the user's zone). ServiceNow keeps whole seconds, so a bound
  with a fraction is rounded to the equivalent whole-second comparison.
- priority: model names become the codes that read back as those names (so
  URGENT and MEDIUM, which no code reads back as, match nothing); the
  ordering operators follow the Priority enum's order.
- status and issue_type: labels (or values) become choice values through
  sys_choice (an unknown label is INVALID_ARGUMENT naming the choices).
- Unknown columns are silently ignored by ServiceNow, so the columns a query
  uses are checked against sys_dictionary by the caller (`columns_used`,
  `check_columns`) before the query is sent.
- Offset paging over an unordered result is not stable: the order always
  ends with `ORDERBYsys_id` (by default `ORDERBYsys_created_on` first).

`project` names the table to query (`eq` only) and is taken out of the
query by `split_table`; it is not a column condition.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType

from ticketing.v1 import ticket_pb2

from ..errors import InvalidArgument
from ..priorities import BY_URGENCY, servicenow_priority
from ..query import (
    LIKE_OPS,
    LIST_OPS,
    Condition,
    FieldSpec,
    FieldType,
    Op,
    Query,
    QuerySchema,
    Value,
    field,
)
from .servicenow_mapping import (
    SIR_TICKET_COLUMNS,
    TICKET_COLUMNS,
    Choice,
    format_datetime,
    resolve_choice,
)

EQUALITY = frozenset({Op.EQ, Op.NEQ, Op.IN, Op.NOT_IN})
RANGE = frozenset({Op.EQ, Op.NEQ, Op.GT, Op.GTE, Op.LT, Op.LTE})
TEXT = EQUALITY | LIKE_OPS
PRIORITY_NAMES: tuple[str, ...] = BY_URGENCY
PRIORITY_CODES = ("1", "2", "3", "4", "5")
NEVER_EMPTY = frozenset({"sys_id", "sys_created_on", "sys_updated_on"})
"""Columns every record has a value in (no `^OR...ISEMPTY` needed)."""
NOTHING = "sys_idISEMPTY"
"""A condition no record satisfies (every record has a sys_id)."""
TIE_BREAK = "sys_id"
DEFAULT_ORDER = "sys_created_on"

_SPECS: tuple[FieldSpec, ...] = (
    field("id", FieldType.STRING, EQUALITY),
    field("summary", FieldType.STRING, TEXT),
    field("description", FieldType.STRING, LIKE_OPS, orderable=False),
    field("status", FieldType.STRING, EQUALITY),
    field("priority", FieldType.ENUM, RANGE | LIST_OPS, enum_values=PRIORITY_NAMES),
    field("project", FieldType.STRING, {Op.EQ}, orderable=False),
    field("issue_type", FieldType.STRING, EQUALITY),
    field("assignee", FieldType.STRING, EQUALITY),
    field("creator", FieldType.STRING, EQUALITY),
    field("contact", FieldType.STRING, EQUALITY),
    field("parent", FieldType.STRING, EQUALITY),
    field("created_at", FieldType.DATETIME, RANGE | LIST_OPS),
    field("updated_at", FieldType.DATETIME, RANGE | LIST_OPS),
    field("due_date", FieldType.DATETIME, RANGE | LIST_OPS),
    field("completion_date", FieldType.DATETIME, RANGE | LIST_OPS),
)


def ticket_schema(columns: Mapping[str, str]) -> QuerySchema:
    """What query_tickets accepts for a column map (custom fields are added per
    integration): every model field with a column, and project."""
    return QuerySchema.of(*(s for s in _SPECS if s.name in columns or s.name == "project"))


TICKET_SCHEMA = ticket_schema(TICKET_COLUMNS)
SIR_TICKET_SCHEMA = ticket_schema(SIR_TICKET_COLUMNS)

_COMPARE: Mapping[Op, str] = MappingProxyType(
    {Op.EQ: "=", Op.NEQ: "!=", Op.GT: ">", Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}
)
_POSITIVE: Mapping[Op, Op] = MappingProxyType(
    {Op.NEQ: Op.EQ, Op.NOT_IN: Op.IN, Op.NOT_LIKE: Op.LIKE}
)


def escape(value: str) -> str:
    """A value inside an encoded query: `^` doubled."""
    return value.replace("^", "^^")


def split_table(query: Query) -> tuple[str | None, Query]:
    """(the table named by `project=...`, the rest of the query)."""
    tables = {str(c.values[0]) for c in query.conditions if c.field == "project"}
    if len(tables) > 1:
        raise InvalidArgument(
            f"a ServiceNow query reads one table; the filter names {', '.join(sorted(tables))}"
        )
    rest = tuple(c for c in query.conditions if c.field != "project")
    return (next(iter(tables)) if tables else None), Query(rest, query.order)


def _column(name: str, columns: Mapping[str, str], custom_fields: Mapping[str, str]) -> str:
    if name.startswith("custom_fields."):
        custom = name.removeprefix("custom_fields.")
        if custom not in custom_fields:
            mapped = ", ".join(sorted(custom_fields)) or "none"
            raise InvalidArgument(
                f"custom field {custom!r} is not mapped for this table (mapped: {mapped})",
                reason="UNMAPPED_CUSTOM_FIELD",
            )
        return custom_fields[custom]
    if name not in columns:
        raise InvalidArgument(f"field {name!r} has no ServiceNow column on this provider")
    return columns[name]


def columns_used(
    query: Query,
    *,
    columns: Mapping[str, str] = TICKET_COLUMNS,
    custom_fields: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """column -> the filter field naming it, for every condition and order key
    (project excepted)."""
    custom_fields = custom_fields or {}
    used: dict[str, str] = {}
    names = [c.field for c in query.conditions] + [k.field for k in query.order]
    for name in names:
        if name != "project":
            used.setdefault(_column(name, columns, custom_fields), name)
    return used


def check_columns(used: Mapping[str, str], known: Collection[str], table: str = "") -> None:
    """INVALID_ARGUMENT naming the first used column the table does not have.

    sys_ columns exist on every table and are not checked.
    """
    for column, name in used.items():
        if column not in known and not column.startswith("sys_"):
            where = f"table {table!r}" if table else "the table"
            raise InvalidArgument(
                f"field {name!r} is ServiceNow column {column!r}, which {where} does not have "
                "(ServiceNow would silently ignore it)",
                reason="UNKNOWN_FIELD",
                metadata={"field": name, "column": column},
            )


# -- clauses -----------------------------------------------------------------------


def _or_empty(text: str, column: str) -> str:
    return text if column in NEVER_EMPTY else f"{text}^OR{column}ISEMPTY"


def _listed(column: str, values: Sequence[str], negated: bool) -> str:
    """`col=v` / `colINa,b`, or their negation with missing values matching."""
    if not values:
        return "" if negated else NOTHING
    if len(values) == 1:
        text = f"{column}{'!=' if negated else '='}{escape(values[0])}"
    else:
        text = f"{column}{'NOT IN' if negated else 'IN'}{','.join(escape(v) for v in values)}"
    return _or_empty(text, column) if negated else text


def _like(column: str, value: str, negated: bool) -> str:
    parts = [part for part in value.split("*") if part]
    if not parts:
        return f"{column}{'ISEMPTY' if negated else 'ISNOTEMPTY'}"
    if not negated:
        return "^".join(f"{column}LIKE{escape(p)}" for p in parts)
    return _or_empty("^OR".join(f"{column}NOT LIKE{escape(p)}" for p in parts), column)


def _priority_codes(op: Op, values: Sequence[Value]) -> list[str]:
    """The codes whose Priority satisfies a positive `op` against the model names."""

    def index(name: object) -> int:
        return PRIORITY_NAMES.index(str(name))

    tests: Mapping[Op, Callable[[int], bool]] = {
        Op.EQ: lambda i: i in {index(v) for v in values},
        Op.IN: lambda i: i in {index(v) for v in values},
        Op.GT: lambda i: i > index(values[0]),
        Op.GTE: lambda i: i >= index(values[0]),
        Op.LT: lambda i: i < index(values[0]),
        Op.LTE: lambda i: i <= index(values[0]),
    }
    test = tests[op]
    return [
        code
        for code in PRIORITY_CODES
        if test(index(ticket_pb2.Priority.Name(servicenow_priority(code))))  # type: ignore[arg-type]
    ]


def _priority(column: str, op: Op, values: Sequence[Value]) -> str:
    positive = _POSITIVE.get(op)
    codes = _priority_codes(positive or op, values)
    if positive is not None:
        return _listed(column, codes, negated=True)
    return _listed(column, codes, negated=False)


def _whole_seconds(moment: datetime) -> tuple[str, bool]:
    """(the moment's whole second as a ServiceNow date, whether a fraction was cut)."""
    return format_datetime(moment.replace(microsecond=0)), moment.microsecond != 0


def _dates(column: str, op: Op, values: Sequence[Value]) -> str:
    moments = [v for v in values if isinstance(v, datetime)]
    if op in (Op.EQ, Op.IN, Op.NEQ, Op.NOT_IN):
        # A stored whole second never equals a moment with a fraction.
        exact = [text for text, cut in map(_whole_seconds, moments) if not cut]
        return _listed(column, exact, negated=op in (Op.NEQ, Op.NOT_IN))
    text, cut = _whole_seconds(moments[0])
    if cut:  # t > x.f <=> t >= x.f <=> t > x ; t < x.f <=> t <= x.f <=> t <= x
        op = Op.GT if op in (Op.GT, Op.GTE) else Op.LTE
    return f"{column}{_COMPARE[op]}{text}"


def _literal(value: Value) -> str:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return value


def _clause(condition: Condition, column: str, choices: Mapping[str, Sequence[Choice]]) -> str:
    op = condition.op
    if condition.field == "priority":
        return _priority(column, op, condition.values)
    if any(isinstance(v, datetime) for v in condition.values):
        return _dates(column, op, condition.values)
    if op in LIKE_OPS:
        return _like(column, str(condition.values[0]), negated=op is Op.NOT_LIKE)
    values = [_literal(v) for v in condition.values]
    if column in choices:
        what = f"filter {condition.field}"
        values = [resolve_choice(what, v, choices[column]) for v in values]
    if op in (Op.EQ, Op.NEQ) and values[0] == "":
        return f"{column}{'ISEMPTY' if op is Op.EQ else 'ISNOTEMPTY'}"
    if op in EQUALITY:
        return _listed(column, values, negated=op in (Op.NEQ, Op.NOT_IN))
    return f"{column}{_COMPARE[op]}{escape(values[0])}"


def to_encoded_query(
    query: Query,
    *,
    columns: Mapping[str, str] = TICKET_COLUMNS,
    custom_fields: Mapping[str, str] | None = None,
    choices: Mapping[str, Sequence[Choice]] | None = None,
    known_columns: Collection[str] | None = None,
    table: str = "",
) -> str:
    """The sysparm_query for a query without `project` (see `split_table`).

    `columns` maps model fields to columns; `custom_fields` custom field
    names to columns (those mapped for the table queried); `choices` a
    column (state, category) to its choices, through which labels become
    values; `known_columns`, when given, the table's columns from
    sys_dictionary, against which every column used is checked.
    """
    custom_fields = custom_fields or {}
    choices = choices or {}
    if any(c.field == "project" for c in query.conditions):
        raise ValueError("take project out of the query with split_table first")
    if known_columns is not None:
        check_columns(
            columns_used(query, columns=columns, custom_fields=custom_fields),
            known_columns,
            table,
        )
    clauses = [
        _clause(c, _column(c.field, columns, custom_fields), choices) for c in query.conditions
    ]
    parts = [c for c in clauses if c]
    order = [(_column(k.field, columns, custom_fields), k.descending) for k in query.order]
    if not order:
        order = [(DEFAULT_ORDER, False)]
    if TIE_BREAK not in (column for column, _ in order):
        order.append((TIE_BREAK, False))
    parts += [f"{'ORDERBYDESC' if desc else 'ORDERBY'}{column}" for column, desc in order]
    return "^".join(parts)
