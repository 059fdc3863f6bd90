"""ServiceNow encoded queries (``sysparm_query``): the subset the fake ServiceNow evaluates.

Syntax::

    query     := term {"^" term}
    term      := condition | "OR" condition | "NQ" condition | "ORDERBY" field
               | "ORDERBYDESC" field | "EQ"
    condition := field operator [value]
    field     := name {"." name}          (lowercase column names; dots walk references)

- ``^`` is AND, ``^OR`` ORs the condition with the one just before it (``a^b^ORc`` is
  ``a AND (b OR c)``), ``^NQ`` starts a new query whose matches are added (OR of the
  groups). ``ORDERBY``/``ORDERBYDESC`` may sit anywhere; the first one is the main key.
  ``^EQ`` (an end marker the UI appends) is skipped.
- ``^^`` inside a value is a literal ``^`` (:func:`escape` writes it).
- Operators: ``=``, ``!=``, ``>``, ``>=``, ``<``, ``<=``, ``IN`` and ``NOT IN`` (comma
  list, no escaping of commas), ``LIKE``, ``NOT LIKE``, ``STARTSWITH``, ``ENDSWITH``,
  ``BETWEEN`` (``a@b``, inclusive), ``ISEMPTY``, ``ISNOTEMPTY``, ``EMPTYSTRING``,
  ``ANYTHING``, ``SAMEAS``/``NSAMEAS`` (the value names another field).

Semantics (the caller says what a field is through :class:`FieldSpec`):

- Values are the stored strings; ``""`` is empty.
- ``!=``, ``NOT IN``, ``NOT LIKE``, ``<``, ``>`` and the like never match an empty value
  (SQL NULL semantics; ServiceNow's KB0715430 says so for *is not* / *is not one of*,
  and the operator reference describes *is not* as "populated by any value except") —
  except on boolean fields, where ``!=true`` also matches empty, as documented.
- ``=``, ``!=``, ``IN`` compare exactly (case-sensitive, as the Table API reference
  says values are); ``LIKE``, ``NOT LIKE``, ``STARTSWITH``, ``ENDSWITH`` ignore case.
  On a reference field those four look at the referenced record's display value; the
  other operators compare the sys_id.
- ``number`` fields compare numerically, ``datetime`` ones as ``YYYY-MM-DD HH:MM:SS``
  UTC strings (a bare ``YYYY-MM-DD`` value means midnight); ``javascript:`` values are
  not evaluated (they compare as plain text and so match nothing useful).
- A condition or ORDERBY on a field the caller does not know is dropped, as ServiceNow
  does with an invalid part of a query: the rest still filters, so more records come back.
  :attr:`Compiled.ignored` names what was dropped; :attr:`EncodedQuery.invalid` lists
  terms that are not conditions at all (also dropped).
- Sorting: empty values first ascending (last descending); strings case-insensitively;
  references by the referenced record's display value; the input order breaks ties.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "KINDS",
    "OPERATORS",
    "Compiled",
    "Condition",
    "EncodedQuery",
    "FieldSpec",
    "OrderBy",
    "compile_query",
    "escape",
    "parse",
    "split_terms",
]

KINDS = ("string", "number", "boolean", "datetime", "reference")
# Longest first: "NOT LIKE" before "LIKE", "ISNOTEMPTY" before "ISEMPTY", ">=" before ">".
OPERATORS = (
    "ISNOTEMPTY",
    "ISEMPTY",
    "EMPTYSTRING",
    "ANYTHING",
    "NOT LIKE",
    "NOT IN",
    "NSAMEAS",
    "SAMEAS",
    "STARTSWITH",
    "ENDSWITH",
    "BETWEEN",
    "LIKE",
    "IN",
    "!=",
    ">=",
    "<=",
    "=",
    ">",
    "<",
)
UNARY = {"ISNOTEMPTY", "ISEMPTY", "EMPTYSTRING", "ANYTHING"}
_FIELD = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)*")
_DATE = re.compile(r"\d{4}-\d\d-\d\d")
_DATETIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def escape(value: str) -> str:
    """A value ready to sit inside an encoded query (``^`` doubled)."""
    return value.replace("^", "^^")


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: str
    text: str  # the term as written (after unescaping)


@dataclass(frozen=True)
class OrderBy:
    field: str
    descending: bool = False


@dataclass
class EncodedQuery:
    # ^NQ groups, each an AND of OR-alternatives: groups[g][i] is a list of conditions ORed.
    groups: list[list[list[Condition]]] = field(default_factory=list)
    order: list[OrderBy] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)


def split_terms(text: str) -> list[str]:
    """Split on ``^``; ``^^`` is a literal caret inside a term."""
    terms: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "^":
            if i + 1 < len(text) and text[i + 1] == "^":
                current.append("^")
                i += 2
                continue
            terms.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    terms.append("".join(current))
    return terms


def _condition(text: str) -> Condition | None:
    match = _FIELD.match(text)
    if match is None:
        return None
    name, rest = match.group(0), text[match.end() :]
    for op in OPERATORS:
        if rest.startswith(op):
            value = rest[len(op) :]
            if op in UNARY and value:
                return None
            return Condition(name, op, value, text)
    return None


def parse(text: str) -> EncodedQuery:
    """Parse an encoded query; never raises (bad terms land in ``invalid``)."""
    query = EncodedQuery()
    group: list[list[Condition]] = []
    for term in split_terms(text or ""):
        if term in ("", "EQ"):
            continue
        if term.startswith("ORDERBYDESC"):
            query.order.append(OrderBy(term[len("ORDERBYDESC") :], True))
            continue
        if term.startswith("ORDERBY"):
            query.order.append(OrderBy(term[len("ORDERBY") :], False))
            continue
        kind = "and"
        body = term
        if term.startswith("NQ"):
            kind, body = "nq", term[2:]
        elif term.startswith("OR"):
            kind, body = "or", term[2:]
        condition = _condition(body)
        if condition is None:
            query.invalid.append(term)
            continue
        if kind == "nq":
            if group:
                query.groups.append(group)
            group = [[condition]]
        elif kind == "or" and group:
            group[-1].append(condition)
        else:
            group.append([condition])
    if group:
        query.groups.append(group)
    return query


@dataclass(frozen=True)
class FieldSpec:
    """How to read one (possibly dot-walked) field of a record."""

    kind: str  # one of KINDS
    get: Callable[[Any], str]  # the stored value, "" when empty
    display: Callable[[Any], str] | None = None  # references: the display value


@dataclass
class Compiled:
    predicate: Callable[[Any], bool]
    sort: Callable[[Iterable[Any]], list[Any]]
    ignored: list[str]  # field names of dropped conditions / ORDERBYs
    invalid: list[str]  # terms that were not conditions


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _datetime(text: str) -> str:
    text = text.strip()
    if _DATE.fullmatch(text):
        return text + " 00:00:00"
    return text


def _equal(kind: str, a: str, b: str) -> bool:
    if kind == "number":
        x, y = _number(a), _number(b)
        if x is not None and y is not None:
            return x == y
    if kind == "boolean":
        return a.lower() == b.lower()
    if kind == "datetime":
        return _datetime(a) == _datetime(b)
    return a == b


def _compare(kind: str, a: str, b: str) -> int | None:
    """-1/0/1, or None when the two cannot be compared."""
    if kind == "number":
        x, y = _number(a), _number(b)
        if x is None or y is None:
            return None
        return (x > y) - (x < y)
    if kind == "datetime":
        a, b = _datetime(a), _datetime(b)
        if not (_DATETIME.fullmatch(a) and _DATETIME.fullmatch(b)):
            return None
    return (a > b) - (a < b)


def _test(kind: str, op: str, raw: str, value: str, text: str) -> bool:
    empty = raw == ""
    if op == "ANYTHING":
        return True
    if op in ("ISEMPTY", "EMPTYSTRING"):
        return empty
    if op == "ISNOTEMPTY":
        return not empty
    if op == "=":
        return _equal(kind, raw, value)
    if op == "!=":
        if kind == "boolean":
            return empty or not _equal(kind, raw, value)
        return not empty and not _equal(kind, raw, value)
    if op == "IN":
        return any(_equal(kind, raw, v) for v in value.split(","))
    if op == "NOT IN":
        return not empty and not any(_equal(kind, raw, v) for v in value.split(","))
    if op in ("LIKE", "NOT LIKE", "STARTSWITH", "ENDSWITH"):
        if text == "":
            return False
        hay, needle = text.lower(), value.lower()
        if op == "LIKE":
            return needle in hay
        if op == "NOT LIKE":
            return needle not in hay
        if op == "STARTSWITH":
            return hay.startswith(needle)
        return hay.endswith(needle)
    if op == "BETWEEN":
        low, _, high = value.partition("@")
        lo, hi = _compare(kind, raw, low), _compare(kind, raw, high)
        return not empty and lo is not None and hi is not None and lo >= 0 and hi <= 0
    cmp = None if empty else _compare(kind, raw, value)
    if cmp is None:
        return False
    return {"<": cmp < 0, "<=": cmp <= 0, ">": cmp > 0, ">=": cmp >= 0}[op]


def _sort_key(spec: FieldSpec, record: Any) -> tuple[int, float, str, str]:
    raw = spec.get(record)
    if spec.kind == "reference" and spec.display is not None:
        shown = spec.display(record) if raw else ""
        return (0 if shown == "" else 1, 0.0, shown.lower(), shown)
    if raw == "":
        return (0, 0.0, "", "")
    if spec.kind == "number":
        number = _number(raw)
        if number is not None:
            return (1, number, "", raw)
        return (2, 0.0, raw.lower(), raw)
    return (1, 0.0, raw.lower(), raw)


def compile_query(query: EncodedQuery | str, lookup: Callable[[str], FieldSpec | None]) -> Compiled:
    """Bind a parsed query to a table: ``lookup(field)`` gives a spec or None (unknown)."""
    if isinstance(query, str):
        query = parse(query)
    ignored: list[str] = []

    def bind(condition: Condition) -> Callable[[Any], bool] | None:
        spec = lookup(condition.field)
        if spec is None:
            ignored.append(condition.field)
            return None
        kind, op, value = spec.kind, condition.op, condition.value
        if op in ("SAMEAS", "NSAMEAS"):
            other = lookup(value)
            if other is None:
                ignored.append(value)
                return None
            same = op == "SAMEAS"
            return lambda r: (spec.get(r) == other.get(r)) == same

        def text_of(r: Any, raw: str) -> str:
            if kind == "reference" and spec.display is not None:
                return spec.display(r) if raw else ""
            return raw

        def test(r: Any) -> bool:
            raw = spec.get(r)
            return _test(kind, op, raw, value, text_of(r, raw))

        return test

    groups: list[list[list[Callable[[Any], bool]]]] = []
    for group in query.groups:
        bound_group: list[list[Callable[[Any], bool]]] = []
        for alternatives in group:
            bound = [b for b in (bind(c) for c in alternatives) if b is not None]
            if bound:
                bound_group.append(bound)
        groups.append(bound_group)

    def predicate(record: Any) -> bool:
        if not groups:
            return True
        return any(all(any(t(record) for t in alts) for alts in group) for group in groups)

    keys: list[tuple[FieldSpec, bool]] = []
    for order in query.order:
        spec = lookup(order.field)
        if spec is None:
            ignored.append(order.field)
            continue
        keys.append((spec, order.descending))

    def sort(records: Iterable[Any]) -> list[Any]:
        out = list(records)
        for spec, descending in reversed(keys):
            out.sort(key=lambda r, s=spec: _sort_key(s, r), reverse=descending)  # type: ignore[misc]
        return out

    return Compiled(predicate, sort, ignored, list(query.invalid))
