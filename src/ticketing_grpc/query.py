"""Synqly-style filter/order grammar, parsed into a typed AST and checked against a schema.

A filter is ``field[op]value`` (or ``field=value`` for ``eq``); an order entry is
``field[asc]``, ``field[desc]`` or a bare ``field``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from types import MappingProxyType
from typing import TypeAlias


class Op(StrEnum):
    EQ = "eq"
    NEQ = "neq"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IN = "in"
    NOT_IN = "not in"
    LIKE = "like"
    NOT_LIKE = "not like"


class FieldType(StrEnum):
    STRING = "string"
    NUMBER = "number"
    DATETIME = "datetime"
    ENUM = "enum"
    LIST = "list"
    ANY = "any"


Value: TypeAlias = str | float | datetime

ALL_OPS: frozenset[Op] = frozenset(Op)
LIST_OPS: frozenset[Op] = frozenset({Op.IN, Op.NOT_IN})
LIKE_OPS: frozenset[Op] = frozenset({Op.LIKE, Op.NOT_LIKE})

_OP_ALIASES: Mapping[str, str] = MappingProxyType({"ne": "neq"})

_NAME = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_NAME_RE = re.compile(_NAME)
_BRACKET_RE = re.compile(rf"\s*(?P<field>{_NAME})\s*\[(?P<op>[^\]]*)\](?P<value>.*)", re.DOTALL)
_EQUALS_RE = re.compile(rf"\s*(?P<field>{_NAME})\s*=(?P<value>.*)", re.DOTALL)
_ORDER_RE = re.compile(rf"\s*(?P<field>{_NAME})\s*(?:\[(?P<dir>[^\]]*)\])?\s*")
_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_DATETIME_RE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[Tt ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.(?P<frac>\d+))?)?"
    r"(?P<tz>[Zz]|[+-]\d{2}:?\d{2})?)?"
)


class QueryError(ValueError):
    """A filter or order entry the caller got wrong; the message is shown to the user."""


@dataclass(frozen=True)
class Condition:
    field: str
    op: Op
    values: tuple[Value, ...]

    def __post_init__(self) -> None:
        if self.op in LIST_OPS:
            if not self.values:
                raise ValueError(f"{self.op} needs at least one value")
        elif len(self.values) != 1:
            raise ValueError(f"{self.op} takes exactly one value, got {len(self.values)}")


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool = False


@dataclass(frozen=True)
class Query:
    conditions: tuple[Condition, ...] = ()
    order: tuple[SortKey, ...] = ()


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: FieldType
    ops: frozenset[Op] = ALL_OPS
    orderable: bool = True
    enum_values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME_RE.fullmatch(self.name):
            raise ValueError(f"invalid field name {self.name!r}")
        object.__setattr__(self, "ops", frozenset(self.ops))
        object.__setattr__(self, "enum_values", tuple(self.enum_values))
        if self.type is FieldType.ENUM and not self.enum_values:
            raise ValueError(f"enum field {self.name!r} needs enum_values")


def field(
    name: str,
    type: FieldType,
    ops: Iterable[Op] = ALL_OPS,
    orderable: bool = True,
    enum_values: Iterable[str] = (),
) -> FieldSpec:
    return FieldSpec(name, type, frozenset(ops), orderable, tuple(enum_values))


@dataclass(frozen=True)
class QuerySchema:
    """The fields one provider accepts in filters and order entries, keyed by name."""

    fields: Mapping[str, FieldSpec]

    def __post_init__(self) -> None:
        for name, spec in self.fields.items():
            if name != spec.name:
                raise ValueError(f"schema key {name!r} does not match field {spec.name!r}")
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))

    def __hash__(self) -> int:
        return hash(tuple(self.fields.values()))

    @classmethod
    def of(cls, *specs: FieldSpec) -> QuerySchema:
        return cls({spec.name: spec for spec in specs})

    def with_fields(self, extra: Iterable[FieldSpec]) -> QuerySchema:
        """A new schema with ``extra`` added; an extra field replaces one of the same name."""
        merged = dict(self.fields)
        merged.update((spec.name, spec) for spec in extra)
        return QuerySchema(merged)


def parse_query(filters: Sequence[str], order: Sequence[str], schema: QuerySchema) -> Query:
    """Parse and validate filters (ANDed) and order entries; QueryError names the culprit."""
    split = [(text, *_split_filter(text)) for text in filters]
    conditions = tuple(_condition(text, name, op, raw, schema) for text, name, op, raw in split)
    return Query(conditions, tuple(_sort_key(text, schema) for text in order))


def parse_datetime(text: str) -> datetime | None:
    """RFC 3339 timestamp or plain date (midnight) as an aware UTC datetime; None if invalid.

    A missing offset is read as UTC, and fractional seconds beyond microseconds are dropped.
    """
    m = _DATETIME_RE.fullmatch(text.strip())
    if m is None:
        return None
    try:
        year, month, day = (int(part) for part in m["date"].split("-"))
        frac = (m["frac"] or "")[:6].ljust(6, "0")
        tz = UTC
        if m["tz"] and m["tz"] not in ("Z", "z"):
            sign = -1 if m["tz"][0] == "-" else 1
            digits = m["tz"][1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            tz = timezone(sign * offset)
        parsed = datetime(
            year,
            month,
            day,
            int(m["h"] or 0),
            int(m["m"] or 0),
            int(m["s"] or 0),
            int(frac),
            tzinfo=tz,
        )
    except ValueError:
        return None
    return parsed.astimezone(UTC)


def parse_number(text: str) -> float | None:
    """A finite decimal number, or None. Stricter than float(): no "nan", "inf" or "1_000"."""
    stripped = text.strip()
    if not _NUMBER_RE.fullmatch(stripped):
        return None
    value = float(stripped)
    return value if math.isfinite(value) else None


def _split_filter(text: str) -> tuple[str, Op, str]:
    m = _BRACKET_RE.fullmatch(text)
    if m is not None:
        word = " ".join(m["op"].split()).lower()
        try:
            op = Op(_OP_ALIASES.get(word, word))
        except ValueError:
            raise QueryError(
                f"unknown operator {m['op'].strip()!r} in filter {text!r}; "
                f"operators: {_join(ALL_OPS)}"
            ) from None
        return m["field"], op, m["value"]
    m = _EQUALS_RE.fullmatch(text)
    if m is not None:
        return m["field"], Op.EQ, m["value"]
    raise QueryError(f"malformed filter {text!r}: expected field[op]value or field=value")


def _condition(text: str, name: str, op: Op, raw: str, schema: QuerySchema) -> Condition:
    spec = _lookup(name, schema, f"filter {text!r}")
    if op not in spec.ops:
        raise QueryError(
            f"operator {op.value!r} is not supported for field {name!r} (filter {text!r}); "
            f"supported: {_join(spec.ops)}"
        )
    if op in LIST_OPS:
        items = [item.strip() for item in raw.split(",")]
        items = [item for item in items if item]
        if not items:
            raise QueryError(f"filter {text!r}: {op.value!r} needs a comma-separated list")
    else:
        items = [raw]
    if op in LIKE_OPS:
        return Condition(name, op, tuple(items))
    return Condition(name, op, tuple(_convert(item, spec, text) for item in items))


def _convert(raw: str, spec: FieldSpec, text: str) -> Value:
    if spec.type is FieldType.NUMBER:
        number = parse_number(raw)
        if number is None:
            raise QueryError(f"field {spec.name!r} needs a number, got {raw!r} (filter {text!r})")
        return number
    if spec.type is FieldType.DATETIME:
        moment = parse_datetime(raw)
        if moment is None:
            raise QueryError(
                f"field {spec.name!r} needs an RFC 3339 timestamp or a date (YYYY-MM-DD), "
                f"got {raw!r} (filter {text!r})"
            )
        return moment
    if spec.type is FieldType.ENUM:
        name = raw.strip().upper()
        if name not in spec.enum_values:
            raise QueryError(
                f"invalid value {raw!r} for field {spec.name!r} (filter {text!r}); "
                f"allowed: {', '.join(spec.enum_values)}"
            )
        return name
    return raw


def _sort_key(text: str, schema: QuerySchema) -> SortKey:
    m = _ORDER_RE.fullmatch(text)
    direction = "asc" if m is None or m["dir"] is None else m["dir"].strip().lower()
    if m is None or direction not in ("asc", "desc"):
        raise QueryError(f"malformed order {text!r}: expected field, field[asc] or field[desc]")
    spec = _lookup(m["field"], schema, f"order {text!r}")
    if not spec.orderable:
        orderable = sorted(name for name, s in schema.fields.items() if s.orderable)
        raise QueryError(
            f"field {spec.name!r} cannot be used for ordering (order {text!r}); "
            f"orderable fields: {', '.join(orderable)}"
        )
    return SortKey(spec.name, direction == "desc")


def _lookup(name: str, schema: QuerySchema, where: str) -> FieldSpec:
    spec = schema.fields.get(name)
    if spec is None:
        accepted = ", ".join(sorted(schema.fields))
        raise QueryError(f"unknown field {name!r} in {where}; accepted fields: {accepted}")
    return spec


def _join(ops: Iterable[Op]) -> str:
    order = list(Op)
    return ", ".join(op.value for op in sorted(ops, key=order.index))
