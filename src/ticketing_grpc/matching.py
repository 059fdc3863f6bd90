"""Evaluates a parsed Query over plain records (dicts), for the mock provider and test fakes.

Sort keys are JSON-serialisable tuples of atoms ``(rank, *payload)``: rank 0 for values
with a natural order (numbers, datetimes as epoch microseconds, known enum names as their
index), 1 for text, 2 for a missing value, so mixed types never get compared directly.
Descending keys negate rank and payload, which keeps a plain tuple comparison correct.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from ticketing_grpc.query import (
    Condition,
    FieldSpec,
    FieldType,
    Op,
    Query,
    QueryError,
    QuerySchema,
    Value,
    parse_datetime,
    parse_number,
)

_POSITIVE: Mapping[Op, Op] = {Op.NEQ: Op.EQ, Op.NOT_IN: Op.IN, Op.NOT_LIKE: Op.LIKE}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MISSING_ATOM: tuple[Any, ...] = (2,)


def matches(query: Query, record: Mapping[str, Any], schema: QuerySchema) -> bool:
    """Whether the record satisfies every condition of the query."""
    return all(_satisfies(cond, record, _spec(schema, cond.field)) for cond in query.conditions)


def sort_key(
    query: Query, record: Mapping[str, Any], schema: QuerySchema, id_field: str = "id"
) -> tuple[Any, ...]:
    """A totally ordered, JSON-serialisable key: the query's order, then the id ascending.

    A missing value is the greatest: last when ascending, first when descending.
    """
    atoms = []
    for key in query.order:
        atom = _atom(lookup(record, key.field), _spec(schema, key.field))
        atoms.append(_descending(atom) if key.descending else atom)
    atoms.append(_id_atom(lookup(record, id_field)))
    return tuple(atoms)


def apply(
    query: Query,
    records: Iterable[Mapping[str, Any]],
    schema: QuerySchema,
    id_field: str = "id",
    after: tuple[Any, ...] | None = None,
) -> list[Mapping[str, Any]]:
    """Filter and sort the records; with ``after`` (an earlier sort_key, possibly
    round-tripped through JSON), keep only those sorted strictly after it."""
    keyed = [
        (sort_key(query, record, schema, id_field), record)
        for record in records
        if matches(query, record, schema)
    ]
    keyed.sort(key=lambda pair: pair[0])
    if after is not None:
        bound = _as_tuple(after)
        if not _fits(bound, query):
            raise QueryError("resume token does not match this query")
        keyed = keyed[bisect.bisect_right(keyed, bound, key=lambda pair: pair[0]) :]
    return [record for _, record in keyed]


def lookup(record: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or None when any step is missing.

    A key containing the dots literally wins over the nested path.
    """
    if path in record:
        return record[path]
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _spec(schema: QuerySchema, name: str) -> FieldSpec:
    return schema.fields.get(name) or FieldSpec(name, FieldType.ANY)


def _satisfies(cond: Condition, record: Mapping[str, Any], spec: FieldSpec) -> bool:
    """Lists match when some element does; negated ops mean no element matches the positive
    op, so a missing value never matches a positive op and always matches a negated one."""
    elements = _elements(lookup(record, cond.field))
    positive = _POSITIVE.get(cond.op)
    if positive is not None:
        return not any(_test(positive, e, cond.values, spec) for e in elements)
    return any(_test(cond.op, e, cond.values, spec) for e in elements)


def _elements(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [element for element in value if element is not None]
    return [value]


def _test(op: Op, element: Any, values: tuple[Value, ...], spec: FieldSpec) -> bool:
    if op is Op.LIKE:
        return any(_like_pattern(_text(v)).search(_text(element)) for v in values)
    if op in (Op.EQ, Op.IN):
        return any(_compare(element, v, spec) == 0 for v in values)
    order = _compare(element, values[0], spec)
    if order is None:
        return False
    if op is Op.GT:
        return order > 0
    if op is Op.GTE:
        return order >= 0
    if op is Op.LT:
        return order < 0
    if op is Op.LTE:
        return order <= 0
    raise ValueError(f"unexpected operator {op}")


def _compare(element: Any, value: Value, spec: FieldSpec) -> int | None:
    """-1/0/1 comparing a record element with a filter value; None when incomparable."""
    if spec.type is FieldType.NUMBER:
        return _cmp_optional(_number(element), _number(value))
    if spec.type is FieldType.DATETIME:
        return _cmp_optional(_datetime(element), _datetime(value))
    if spec.type is FieldType.ENUM:
        left, right = _text(element).upper(), _text(value).upper()
        if left == right:
            return 0
        if left in spec.enum_values and right in spec.enum_values:
            return _cmp(spec.enum_values.index(left), spec.enum_values.index(right))
        return None
    if spec.type is FieldType.ANY:
        left_number, right_number = _number(element), _number(value)
        if left_number is not None and right_number is not None:
            return _cmp(left_number, right_number)
    return _cmp(_text(element), _text(value))


def _cmp(left: Any, right: Any) -> int:
    return int(left > right) - int(left < right)


def _cmp_optional(left: Any, right: Any) -> int | None:
    return None if left is None or right is None else _cmp(left, right)


@lru_cache(maxsize=256)
def _like_pattern(value: str) -> re.Pattern[str]:
    regex = ".*".join(re.escape(part) for part in value.split("*"))
    return re.compile(regex, re.IGNORECASE | re.DOTALL)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            return None
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        return parse_number(value)
    return None


def _datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        return parse_datetime(value)
    return None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, date):
        return value.isoformat()
    return json.dumps(value, sort_keys=True, default=str)


def _atom(value: Any, spec: FieldSpec) -> tuple[Any, ...]:
    if value is None or value == [] or value == ():
        return _MISSING_ATOM
    if isinstance(value, list | tuple):
        return (1, _text(list(value)))
    if spec.type in (FieldType.NUMBER, FieldType.ANY):
        number = _number(value)
        if number is not None:
            return (0, number)
    elif spec.type is FieldType.DATETIME:
        moment = _datetime(value)
        if moment is not None:
            return (0, (moment - _EPOCH) // _MICROSECOND)
    elif spec.type is FieldType.ENUM:
        name = _text(value).upper()
        return (0, spec.enum_values.index(name)) if name in spec.enum_values else (1, name)
    return (1, _text(value))


def _id_atom(value: Any) -> tuple[Any, ...]:
    """Ids compare exactly: integers as integers, anything else as text."""
    if value is None:
        return _MISSING_ATOM
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, _text(value))


def _descending(atom: tuple[Any, ...]) -> tuple[Any, ...]:
    """Reverse an atom's order: negate numbers, and turn text into negated code points
    followed by 1, so that a prefix sorts after its extensions."""
    rank, *payload = atom
    negated: list[Any] = [
        (*(-ord(char) for char in item), 1) if isinstance(item, str) else -item for item in payload
    ]
    return (-rank, *negated)


def _as_tuple(value: Any) -> Any:
    """Undo JSON's tuple-to-list conversion, recursively."""
    if isinstance(value, list | tuple):
        return tuple(_as_tuple(item) for item in value)
    return value


def _fits(key: Any, query: Query) -> bool:
    """Whether ``key`` has the shape sort_key gives for this query, so comparing it with
    the records' keys can neither raise TypeError nor silently mix directions."""
    if not isinstance(key, tuple) or len(key) != len(query.order) + 1:
        return False
    directions = [sort.descending for sort in query.order] + [False]
    return all(_atom_fits(atom, desc) for atom, desc in zip(key, directions, strict=True))


def _atom_fits(atom: Any, descending: bool) -> bool:
    if not isinstance(atom, tuple) or not atom or type(atom[0]) is not int:
        return False
    rank, payload = atom[0] * (-1 if descending else 1), atom[1:]
    if rank == 2:
        return payload == ()
    if len(payload) != 1:
        return False
    (item,) = payload
    if rank == 0:
        return isinstance(item, int | float) and not isinstance(item, bool)
    if rank == 1 and descending:
        return isinstance(item, tuple) and all(type(code) is int for code in item)
    return rank == 1 and isinstance(item, str)
