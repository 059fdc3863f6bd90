"""A small JQL parser and evaluator: the subset a ticketing plugin emits.

Grammar (keywords are case-insensitive)::

    query    := [or] [ORDER BY field [ASC|DESC] {"," field [ASC|DESC]}]
    or       := and {OR and}
    and      := not {AND not}
    not      := NOT not | "(" or ")" | clause
    clause   := field op operand
    op       := = | != | > | >= | < | <= | ~ | !~ | IN | NOT IN | IS | IS NOT
    operand  := value | "(" value {"," value} ")" | EMPTY | NULL
    value    := word | "quoted \\" string" | 'single quoted' | function "(" [args] ")"

Which field supports which operator and what its values mean is given by the caller as
:class:`JqlField` entries (see ``tests/fakes/jira.py``). Semantics follow Jira:

- ``!=``, ``NOT IN`` and ``!~`` never match an empty value (use ``IS EMPTY``);
- ``~``/``!~`` only on text fields, every word of the term must occur (case-insensitive,
  substring, a trailing ``*`` is a prefix wildcard, an inner ``"quoted phrase"`` must occur
  as is); ``=`` on a text field is an error, as in Jira;
- date literals ``yyyy-MM-dd``, ``yyyy/MM/dd`` with optional `` HH:mm`` (UTC here; Jira uses
  the user's time zone), relative periods ``-5d``, ``4w 2d``, ``-1h``, and ``now()``;
- ``currentUser()``;
- errors are :class:`JqlError` with Jira-like messages (the fake answers 400).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cmp_to_key
from typing import Any

__all__ = [
    "Clause",
    "Compiled",
    "Func",
    "JqlError",
    "JqlField",
    "Query",
    "Value",
    "compile_query",
    "parse",
    "parse_date_literal",
    "text_matches",
]

OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "~", "!~", "in", "not in", "is", "is not")
_VALID_OPS = "'=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'"
_KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}


class JqlError(Exception):
    """A query Jira would refuse with 400; ``str()`` is the message Jira would give."""


# -- syntax tree ------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    text: str
    quoted: bool = False


@dataclass(frozen=True)
class Func:
    name: str
    args: tuple[str, ...] = ()


EMPTY = Value("EMPTY")
Operand = Value | Func | tuple[Value | Func, ...]


@dataclass(frozen=True)
class Clause:
    field: str
    op: str  # one of OPERATORS, lower case
    operand: Operand  # a tuple for in / not in; EMPTY for is / is not


@dataclass(frozen=True)
class Bool:
    kind: str  # "and" | "or" | "not"
    items: tuple[Node, ...]


Node = Clause | Bool


@dataclass(frozen=True)
class Query:
    where: Node | None
    order_by: tuple[tuple[str, bool], ...] = ()  # (field, descending)


# -- tokens -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # "word" | "string" | "op" | "(" | ")" | "," | "end"
    text: str
    pos: int

    def is_kw(self, *words: str) -> bool:
        return self.kind == "word" and self.text.lower() in words


_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t", "r": "\r", " ": " "}
_WORD = re.compile(r"[^\s=!~<>(),\"']+")
# Reserved in unquoted words (Jira reserves more; these are the ones a plugin trips on).
_RESERVED = re.compile(r"[@#$%^|;]")


def _where(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"(line {line}, character {column})"


def _tokens(text: str) -> list[Token]:
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "\"'":
            start, i, chars = i, i + 1, []
            while True:
                if i >= n:
                    raise JqlError(
                        f"Error in the JQL Query: The quoted string '{text[start + 1 :]}' "
                        f"has not been completed. {_where(text, start)}"
                    )
                c = text[i]
                if c == ch:
                    i += 1
                    break
                if c == "\\":
                    if i + 1 >= n:
                        i += 1
                        continue
                    nxt = text[i + 1]
                    if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
                        chars.append(chr(int(text[i + 2 : i + 6], 16)))
                        i += 6
                        continue
                    if nxt not in _ESCAPES:
                        raise JqlError(
                            f"Error in the JQL Query: '\\{nxt}' is an illegal JQL escape "
                            f"sequence. The valid escape sequences are \\', \\\", \\t, \\n, "
                            f"\\r, \\\\, '\\ ' and \\uXXXX. {_where(text, i)}"
                        )
                    chars.append(_ESCAPES[nxt])
                    i += 2
                    continue
                chars.append(c)
                i += 1
            out.append(Token("string", "".join(chars), start))
        elif text.startswith(("!=", "!~", ">=", "<="), i):
            out.append(Token("op", text[i : i + 2], i))
            i += 2
        elif ch in "=~<>":
            out.append(Token("op", ch, i))
            i += 1
        elif ch in "(),":
            out.append(Token(ch, ch, i))
            i += 1
        elif ch == "!":
            raise JqlError(
                "Error in the JQL Query: The character '!' is a reserved JQL character. "
                + _where(text, i)
            )
        else:
            m = _WORD.match(text, i)
            assert m is not None
            if reserved := _RESERVED.search(m.group()):
                char = reserved.group()
                raise JqlError(
                    f"Error in the JQL Query: The character '{char}' is a reserved JQL "
                    "character. You must enclose it in a string or use the escape "
                    f"'\\u{ord(char):04x}' instead. " + _where(text, i + reserved.start())
                )
            out.append(Token("word", m.group(), i))
            i = m.end()
    out.append(Token("end", "", n))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def take(self) -> Token:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, expecting: str, tok: Token | None = None) -> JqlError:
        tok = tok or self.tok
        if tok.kind == "end":
            return JqlError(
                f"Error in the JQL Query: Expecting {expecting} before the end of the query."
            )
        shown = tok.text if tok.kind != "string" else f'"{tok.text}"'
        return JqlError(
            f"Error in the JQL Query: Expecting {expecting} but got '{shown}'. "
            + _where(self.text, tok.pos)
        )

    def query(self) -> Query:
        where: Node | None = None
        if not self.tok.is_kw("order") and self.tok.kind != "end":
            where = self.or_()
        order: list[tuple[str, bool]] = []
        if self.tok.is_kw("order"):
            self.take()
            if not self.tok.is_kw("by"):
                raise self.fail("'by'")
            self.take()
            while True:
                name = self.field_name()
                desc = False
                if self.tok.is_kw("asc", "desc"):
                    desc = self.take().text.lower() == "desc"
                order.append((name, desc))
                if self.tok.kind != ",":
                    break
                self.take()
        if self.tok.kind != "end":
            raise self.fail("either 'OR' or 'AND'" if where is not None else "a field name")
        return Query(where, tuple(order))

    def or_(self) -> Node:
        items = [self.and_()]
        while self.tok.is_kw("or"):
            self.take()
            items.append(self.and_())
        return items[0] if len(items) == 1 else Bool("or", tuple(items))

    def and_(self) -> Node:
        items = [self.not_()]
        while self.tok.is_kw("and"):
            self.take()
            items.append(self.not_())
        return items[0] if len(items) == 1 else Bool("and", tuple(items))

    def not_(self) -> Node:
        if self.tok.is_kw("not"):
            self.take()
            return Bool("not", (self.not_(),))
        if self.tok.kind == "(":
            self.take()
            inner = self.or_()
            if self.tok.kind != ")":
                raise self.fail("')'")
            self.take()
            return inner
        return self.clause()

    def field_name(self) -> str:
        tok = self.tok
        if tok.kind == "string" or (tok.kind == "word" and tok.text.lower() not in _KEYWORDS):
            self.take()
            return tok.text
        raise self.fail("a field name")

    def clause(self) -> Clause:
        name = self.field_name()
        tok = self.take()
        if tok.kind == "op":
            op = tok.text
        elif tok.is_kw("in"):
            op = "in"
        elif tok.is_kw("is"):
            op = "is"
            if self.tok.is_kw("not"):
                self.take()
                op = "is not"
        elif tok.is_kw("not") and self.tok.is_kw("in"):
            self.take()
            op = "not in"
        else:
            raise self.fail(f"operator. The valid operators are {_VALID_OPS}.", tok)
        if op in ("is", "is not"):
            if not self.tok.is_kw("empty", "null"):
                raise self.fail("'EMPTY' or 'NULL'")
            self.take()
            return Clause(name, op, EMPTY)
        if op in ("in", "not in"):
            if self.tok.kind != "(":
                raise self.fail("'('")
            self.take()
            values = [self.value()]
            while self.tok.kind == ",":
                self.take()
                values.append(self.value())
            if self.tok.kind != ")":
                raise self.fail("')'")
            self.take()
            return Clause(name, op, tuple(values))
        value = self.value()
        if value == EMPTY and op in ("=", "!="):
            return Clause(name, "is" if op == "=" else "is not", EMPTY)
        return Clause(name, op, value)

    def value(self) -> Value | Func:
        tok = self.tok
        if tok.kind == "string":
            self.take()
            return Value(tok.text, quoted=True)
        if tok.kind == "word":
            if tok.is_kw("empty", "null"):
                self.take()
                return EMPTY
            if tok.text.lower() in _KEYWORDS:
                raise self.fail("either a value, list or function")
            self.take()
            if self.tok.kind == "(":
                self.take()
                args: list[str] = []
                while self.tok.kind in ("word", "string"):
                    args.append(self.take().text)
                    if self.tok.kind == ",":
                        self.take()
                if self.tok.kind != ")":
                    raise self.fail("')'")
                self.take()
                return Func(tok.text, tuple(args))
            return Value(tok.text)
        raise self.fail("either a value, list or function")


def parse(text: str) -> Query:
    """Parse a JQL string; raises :class:`JqlError`."""
    return _Parser(text).query()


# -- values -----------------------------------------------------------------------------

_DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
_PERIOD = re.compile(r"([+-]?)\s*((?:\d+\s*[wdhm]\s*)+)", re.IGNORECASE)
_PERIOD_PART = re.compile(r"(\d+)\s*([wdhm])", re.IGNORECASE)
_UNITS = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
}


def parse_date_literal(text: str, field_name: str, now: datetime) -> datetime:
    """A JQL date literal as an aware UTC datetime; raises :class:`JqlError`."""
    text = text.strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    m = _PERIOD.fullmatch(text)
    if m:
        delta = sum(
            (int(n) * _UNITS[u.lower()] for n, u in _PERIOD_PART.findall(m.group(2))), timedelta()
        )
        return now - delta if m.group(1) == "-" else now + delta
    raise JqlError(
        f"Date value '{text}' for field '{field_name}' is invalid. Valid formats include: "
        "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period "
        "format e.g. '-5d', '4w 2d'."
    )


def text_matches(haystack: str, term: str) -> bool:
    """Jira-ish ``~``: every word of ``term`` occurs in ``haystack`` (case-insensitive)."""
    hay = " ".join(haystack.lower().split())
    term = term.strip()
    phrases = re.findall(r'"([^"]*)"', term)
    rest = re.sub(r'"[^"]*"', " ", term)
    for phrase in phrases:
        if " ".join(phrase.lower().split()) not in hay:
            return False
    for word in re.findall(r"[^\s+\-&|!(){}\[\]^~?:\\/]+", rest.lower()):
        if word in ("and", "or", "not"):
            continue
        word = word.rstrip("*")
        if word and word not in hay:
            return False
    return True


# -- fields and evaluation --------------------------------------------------------------

TEXT, EXACT, ORDERED, NUMBER, DATE, DATETIME = (
    "text",
    "exact",
    "ordered",
    "number",
    "date",
    "datetime",
)
_OPS_BY_KIND = {
    TEXT: {"~", "!~", "is", "is not"},
    EXACT: {"=", "!=", "in", "not in", "is", "is not"},
    ORDERED: {"=", "!=", "in", "not in", "is", "is not", "<", "<=", ">", ">="},
}
for _kind in (NUMBER, DATE, DATETIME):
    _OPS_BY_KIND[_kind] = _OPS_BY_KIND[ORDERED]


@dataclass(frozen=True)
class JqlField:
    """How one JQL field reads an issue and understands literals.

    ``get(issue)`` returns a canonical value, a list of them, or None (empty). ``resolve``
    turns a literal (``str``; ``datetime`` from ``now()``) into the canonical value, raising
    :class:`JqlError` for values that do not exist. Canonical values of ORDERED, NUMBER,
    DATE and DATETIME fields must be mutually comparable.
    """

    name: str
    kind: str
    get: Callable[[Any], Any]
    resolve: Callable[[Any], Any] | None = None
    sortable: bool = True
    sort_get: Callable[[Any], Any] | None = None  # default: get


@dataclass
class Compiled:
    predicate: Callable[[Any], bool]
    sort: Callable[[list[Any]], list[Any]]
    bounded: bool


@dataclass
class _Ctx:
    lookup: Callable[[str], JqlField | None]
    now: datetime
    current_user: str | None
    fields: dict[str, JqlField] = field(default_factory=dict)


def _values(raw: Any) -> list[Any]:
    if raw is None:
        return []
    if isinstance(raw, list | set | frozenset):
        return [v for v in raw if v is not None and v != ""]
    return [] if raw == "" else [raw]


def _field(ctx: _Ctx, name: str) -> JqlField:
    found = ctx.lookup(name)
    if found is None:
        raise JqlError(f"Field '{name}' does not exist or you do not have permission to view it.")
    return found


def _literal(ctx: _Ctx, fld: JqlField, value: Value | Func) -> Any:
    raw: Any
    if isinstance(value, Func):
        fname = value.name.lower()
        if fname == "currentuser":
            if ctx.current_user is None:
                raise JqlError("The function 'currentUser' requires a logged-in user.")
            raw = ctx.current_user
        elif fname == "now":
            raw = ctx.now
        elif fname in ("startofday", "endofday"):
            day = ctx.now.replace(hour=0, minute=0, second=0, microsecond=0)
            raw = (
                day
                if fname == "startofday"
                else day + timedelta(days=1) - timedelta(milliseconds=1)
            )
        else:
            raise JqlError(f"Unable to find JQL function '{value.name}({', '.join(value.args)})'.")
        if fld.kind not in (DATE, DATETIME) and isinstance(raw, datetime):
            raise JqlError(
                f"The function '{value.name}' is not supported by the field '{fld.name}'."
            )
    else:
        raw = value.text
    if fld.kind in (DATE, DATETIME):
        when = raw if isinstance(raw, datetime) else parse_date_literal(raw, fld.name, ctx.now)
        return when.date() if fld.kind == DATE else when
    if fld.kind == NUMBER:
        try:
            return float(raw)
        except ValueError:
            raise JqlError(
                f"The value '{raw}' does not exist for the field '{fld.name}'."
            ) from None
    if fld.resolve is not None:
        return fld.resolve(raw)
    return raw


def _compile_clause(ctx: _Ctx, clause: Clause) -> Callable[[Any], bool]:
    fld = _field(ctx, clause.field)
    op = clause.op
    if op not in _OPS_BY_KIND[fld.kind]:
        raise JqlError(
            f"The operator '{op.upper()}' is not supported by the '{clause.field}' field."
        )
    get = fld.get
    if op == "is":
        return lambda issue: not _values(get(issue))
    if op == "is not":
        return lambda issue: bool(_values(get(issue)))
    if op in ("~", "!~"):
        assert isinstance(clause.operand, Value)
        term = clause.operand.text
        if not term.strip().strip('"*'):
            raise JqlError(
                f"The field '{clause.field}' does not support searching for an empty string."
            )
        if op == "~":
            return lambda issue: any(text_matches(str(v), term) for v in _values(get(issue)))
        return lambda issue: (
            bool(_values(get(issue)))
            and not any(text_matches(str(v), term) for v in _values(get(issue)))
        )
    if op in ("in", "not in"):
        assert isinstance(clause.operand, tuple)
        with_empty = any(v == EMPTY for v in clause.operand)
        wanted = {_literal(ctx, fld, v) for v in clause.operand if v != EMPTY}
        if op == "in":
            return lambda issue: (
                bool(wanted.intersection(_values(get(issue))))
                or (with_empty and not _values(get(issue)))
            )
        return lambda issue: (
            bool(_values(get(issue))) and not wanted.intersection(_values(get(issue)))
        )
    assert isinstance(clause.operand, Value | Func)
    target = _literal(ctx, fld, clause.operand)
    if op == "=":
        return lambda issue: target in _values(get(issue))
    if op == "!=":
        return lambda issue: bool(vals := _values(get(issue))) and target not in vals
    compare: Callable[[Any], bool] = {
        "<": lambda v: v < target,
        "<=": lambda v: v <= target,
        ">": lambda v: v > target,
        ">=": lambda v: v >= target,
    }[op]

    def ordered(issue: Any) -> bool:
        for v in _values(get(issue)):
            try:
                if compare(v):
                    return True
            except TypeError:
                continue
        return False

    return ordered


def _compile(ctx: _Ctx, node: Node) -> Callable[[Any], bool]:
    if isinstance(node, Clause):
        return _compile_clause(ctx, node)
    parts = [_compile(ctx, item) for item in node.items]
    if node.kind == "and":
        return lambda issue: all(p(issue) for p in parts)
    if node.kind == "or":
        return lambda issue: any(p(issue) for p in parts)
    inner = parts[0]
    return lambda issue: not inner(issue)


def compile_query(
    query: Query | str,
    lookup: Callable[[str], JqlField | None],
    *,
    now: datetime | None = None,
    current_user: str | None = None,
    default_order: Sequence[tuple[str, bool]] = (("created", True),),
) -> Compiled:
    """Check fields, operators and values, and build a predicate and a sorter."""
    if isinstance(query, str):
        query = parse(query)
    ctx = _Ctx(lookup, now or datetime.now(UTC), current_user)
    predicate = _compile(ctx, query.where) if query.where is not None else (lambda issue: True)
    keys: list[tuple[Callable[[Any], Any], bool]] = []
    for name, desc in query.order_by or tuple(default_order):
        fld = _field(ctx, name)
        if not fld.sortable:
            raise JqlError(f"Field '{name}' does not support sorting.")
        getter = fld.sort_get or fld.get
        keys.append((getter, desc))

    def sort_value(getter: Callable[[Any], Any], issue: Any) -> Any:
        vals = _values(getter(issue))
        if not vals:
            return None
        first = sorted(vals, key=lambda v: str(v).lower() if isinstance(v, str) else v)[0]
        return first.lower() if isinstance(first, str) else first

    def compare(a: Any, b: Any) -> int:
        for getter, desc in keys:
            va, vb = sort_value(getter, a), sort_value(getter, b)
            if va == vb:
                continue
            # Empty values sort after every value ascending, before them descending.
            if va is None:
                result = 1
            elif vb is None:
                result = -1
            else:
                try:
                    result = -1 if va < vb else 1
                except TypeError:
                    result = -1 if str(va) < str(vb) else 1
            return -result if desc else result
        return 0

    def sort(issues: list[Any]) -> list[Any]:
        return sorted(issues, key=cmp_to_key(compare))

    return Compiled(predicate, sort, bounded=query.where is not None)
