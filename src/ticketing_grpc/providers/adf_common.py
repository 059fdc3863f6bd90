"""What the Markdown -> ADF parser and the ADF -> Markdown renderer share (see adf.py).

The node, mark and character types; inline content as characters with marks;
how marks are laid out as Markdown delimiters; the Markdown block syntax both
directions must agree on; and reading marks and attributes from ADF's JSON.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Any

Node = dict[str, Any]
Mark = tuple[str, str, str]  # (type, href, title); href and title only for links
Marks = frozenset[Mark]
Char = tuple[str, Marks]  # one character of inline content; "\n" is a hardBreak

_NO_MARKS: Marks = frozenset()
EM: Mark = ("em", "", "")
STRONG: Mark = ("strong", "", "")
STRIKE: Mark = ("strike", "", "")
CODE: Mark = ("code", "", "")
_SIMPLE_MARKS = {"em": EM, "strong": STRONG, "strike": STRIKE, "code": CODE}
_MARK_ORDER = {"link": 0, "em": 1, "strong": 2, "strike": 3, "code": 4}
_OPEN_ORDER = {"strike": 0, "strong": 1, "em": 2, "link": 3}  # outermost first on ties
_ASCII_PUNCT = frozenset(string.punctuation)
_MAX_DEPTH = 32  # nesting beyond this is read as plain text

_HEADING_RE = re.compile(r"[ \t]*(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_RULE_RE = re.compile(r"[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_QUOTE_RE = re.compile(r"[ \t]*> ?")
_LIST_RE = re.compile(r"([ \t]*)([-*+]|(\d{1,9})[.)])(?:([ \t]+)(.*))?$")
_FENCE_RE = re.compile(r"([ \t]*)(`{3,}|~{3,})(.*)$")


# --------------------------------------------------------------------------
# Inline content: characters with marks


def _mark_key(mark: Mark) -> tuple[int, str, str]:
    return _MARK_ORDER[mark[0]], mark[1], mark[2]


def _mark_json(mark: Mark) -> Node:
    kind, href, title = mark
    if kind != "link":
        return {"type": kind}
    attrs = {"href": href, "title": title} if title else {"href": href}
    return {"type": "link", "attrs": attrs}


def _chars_to_nodes(chars: list[Char]) -> list[Node]:
    nodes: list[Node] = []
    text: list[str] = []
    current = _NO_MARKS

    def flush() -> None:
        if text:
            node: Node = {"type": "text", "text": "".join(text)}
            if current:
                node["marks"] = [_mark_json(m) for m in sorted(current, key=_mark_key)]
            nodes.append(node)
            text.clear()

    for ch, marks in chars:
        if ch == "\n":
            flush()
            nodes.append({"type": "hardBreak"})
            continue
        if marks != current:
            flush()
            current = marks
        text.append(ch)
    flush()
    return nodes


def _nodes_to_chars(nodes: list[Node]) -> list[Char]:
    """Canonical inline nodes (as built by _chars_to_nodes) -> characters."""
    chars: list[Char] = []
    for node in nodes:
        if node["type"] == "hardBreak":
            chars.append(("\n", _NO_MARKS))
        else:
            marks = _marks_from_json(node.get("marks"))
            chars.extend((ch, marks) for ch in node["text"])
    return chars


def _clean_marks(ch: str, marks: Marks) -> Char:
    if ch == "\n":
        return ch, _NO_MARKS
    kept = {m for m in marks if m in _SIMPLE_MARKS.values()}
    if CODE in kept:
        kept = {CODE}
    links = sorted(m for m in marks if m[0] == "link" and m[1])
    if links:
        kept.add(links[0])
    return ch, frozenset(kept)


def _split_lines(chars: list[Char]) -> list[list[Char]]:
    lines: list[list[Char]] = [[]]
    for item in chars:
        if item[0] == "\n":
            lines.append([])
        else:
            lines[-1].append(item)
    return lines


# --------------------------------------------------------------------------
# Inline layout: how marks become delimiters (used to render, and to find
# what Markdown cannot express)


@dataclass(frozen=True)
class _Step:
    kind: str  # "open", "close" or "piece"
    mark: Mark = ("", "", "")
    piece: int = -1


_Piece = tuple[str, Marks]


def _pieces(line: list[Char]) -> list[_Piece]:
    pieces: list[_Piece] = []
    for ch, marks in line:
        if pieces and pieces[-1][1] == marks:
            pieces[-1] = (pieces[-1][0] + ch, marks)
        else:
            pieces.append((ch, marks))
    return pieces


def _layout(pieces: list[_Piece]) -> list[_Step]:
    """Open and close marks around pieces, longest-running mark outermost."""
    steps: list[_Step] = []
    stack: list[Mark] = []
    for index, (_, marks) in enumerate(pieces):
        wanted = marks - {CODE}
        keep = 0
        while keep < len(stack) and stack[keep] in wanted:
            keep += 1
        steps.extend(_Step("close", m) for m in reversed(stack[keep:]))
        del stack[keep:]
        opening = sorted(
            wanted.difference(stack),
            key=lambda m: (-_extent(pieces, index, m), _OPEN_ORDER[m[0]]),
        )
        steps.extend(_Step("open", m) for m in opening)
        stack.extend(opening)
        steps.append(_Step("piece", piece=index))
    steps.extend(_Step("close", m) for m in reversed(stack))
    return steps


def _extent(pieces: list[_Piece], index: int, mark: Mark) -> int:
    end = index
    while end < len(pieces) and mark in pieces[end][1]:
        end += 1
    return end - index


# --------------------------------------------------------------------------
# Markdown block syntax (read by the parser, avoided by the renderer)


@dataclass(frozen=True)
class _Marker:
    indent: int
    width: int  # column where the item's content starts
    kind: str  # "-", "*", "+" for bullets; "." or ")" for ordered lists
    start: int
    content: str


@dataclass(frozen=True)
class _Fence:
    indent: int
    char: str
    length: int
    language: str


def _list_marker(line: str) -> _Marker | None:
    match = _LIST_RE.match(line)
    if match is None:
        return None
    indent = _indent_width(match.group(1))
    marker = match.group(2)
    spaces = _indent_width(match.group(4) or "")
    content = (match.group(5) or "").strip(" \t")
    gap = spaces if 0 < spaces <= 4 and content else 1
    start = int(match.group(3)) if match.group(3) else 1
    return _Marker(indent, indent + len(marker) + gap, marker[-1], start, content)


def _fence_open(line: str) -> _Fence | None:
    match = _FENCE_RE.match(line)
    if match is None:
        return None
    fence, info = match.group(2), match.group(3).strip()
    if fence[0] == "`" and "`" in info:
        return None
    words = info.split()
    return _Fence(_indent_width(match.group(1)), fence[0], len(fence), words[0] if words else "")


def _interrupts_paragraph(line: str) -> bool:
    if _fence_open(line) or _HEADING_RE.match(line) or _RULE_RE.match(line):
        return True
    if _QUOTE_RE.match(line):
        return True
    marker = _list_marker(line)
    return marker is not None and bool(marker.content)


def _indent_width(line: str) -> int:
    column = 0
    for ch in line:
        if ch == " ":
            column += 1
        elif ch == "\t":
            column += 4 - column % 4
        else:
            break
    return column


# --------------------------------------------------------------------------
# Reading ADF's JSON


def _marks_from_json(marks: Any) -> Marks:
    out: set[Mark] = set()
    for mark in marks if isinstance(marks, list) else []:
        if not isinstance(mark, dict):
            continue
        kind = mark.get("type")
        if kind in _SIMPLE_MARKS:
            out.add(_SIMPLE_MARKS[kind])
        elif kind == "link":
            attrs = _attrs(mark)
            href = _single_line(_str(attrs.get("href")), "")
            if href:
                out.add(("link", href, _single_line(_str(attrs.get("title")), " ")))
    return frozenset(out)


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _single_line(text: str, joiner: str) -> str:
    return joiner.join(_newlines(text).split("\n"))


def _attrs(node: Node) -> Node:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
