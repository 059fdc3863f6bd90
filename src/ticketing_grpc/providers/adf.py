"""Markdown <-> Atlassian Document Format (ADF), for Jira Cloud REST v3 rich text.

Jira Cloud v3 takes and returns rich text (issue description, comment body,
textarea custom fields) as ADF, ``{"type": "doc", "version": 1, "content": [...]}``;
the common model carries Markdown.  This module converts between the two,
hand-written (no dependencies), for the subset both can express: what Jira's
editor produces for ordinary text and CommonMark can say unambiguously.
Jira-only nodes (mentions, media, panels, ...) are read as text and
Markdown-only syntax (HTML, images, tables) stays text, rather than guessed at,
so that a round trip is exact:

==================================  =========================================
Markdown                            ADF
==================================  =========================================
blank-line separated paragraphs     paragraph
newline inside a paragraph          hardBreak
``#`` .. ``######``                 heading {level}
``-``, ``*``, ``+`` items           bulletList > listItem
``1.`` / ``1)`` items               orderedList {order: the first number}
nesting by indentation (2+ spaces)  listItem > paragraph, lists, codeBlock
``>``                               blockquote
``---``, ``***``, ``___``           rule
fenced code, ```lang or ~~~         codeBlock {language}
``*x*``, ``_x_``                    em
``**x**``, ``__x__``                strong
``~~x~~``                           strike
```x```                             code
``[text](url "title")``, ``<url>``  link {href, title}
backslash escapes (``\\*``)         literal characters
==================================  =========================================

Not supported (they read as plain text): tables, images, raw HTML, entities,
setext headings, indented code blocks, reference links, bare URLs.
Emphasis follows CommonMark's delimiter rules, except that only whitespace
(not punctuation) decides whether a ``*`` can open or close.  As in CommonMark
an unindented line continues a list item's or a quote's paragraph ("lazy"
continuation); unlike it, a code fence opened in a list item runs to its
closing fence even if the lines are not indented.

ADF's own rules are applied on the way in, and ``normalize_adf`` applies them
to documents read from Jira:

* ``code`` excludes the other formatting marks (``code`` + link is kept);
* a listItem starts with a paragraph or codeBlock (an empty paragraph is
  inserted before a nested list) and holds only paragraphs, lists and code
  blocks; a blockquote holds the same.  Headings inside them become
  paragraphs, nested quotes are flattened and rules are dropped;
* no empty text nodes, no empty top-level paragraphs, no hard breaks at the
  edges of a paragraph, a heading has no hard breaks (they become spaces).

Markdown cannot express everything ADF can.  Such details are normalised
away, never rendered wrongly: marks Markdown lacks (underline, colours,
sub/sup) are dropped, blanks at the start or end of a line are dropped, and
em/strong/strike come off whitespace (or, in rare intra-word overlaps, off
text) where no Markdown delimiter could start or end.  ``normalize_adf(doc)``
is exactly what survives, so that for any document
``markdown_to_adf(adf_to_markdown(doc)) == normalize_adf(doc)``.

Reading ADF is tolerant: a plain string is returned as is, None gives "",
mentions become ``@Name``, emoji their text (or short name), inline and block
cards a link, dates ``YYYY-MM-DD``, statuses their text, media
``[attachment: name]``, table rows one paragraph with `` | `` between cells,
and any other node its text content.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["adf_to_markdown", "markdown_to_adf", "normalize_adf"]

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
_ESCAPABLE = _ASCII_PUNCT | {"\n"}  # a backslash before a newline is a hard break
_MAX_ORDER = 999_999_999  # CommonMark list numbers have at most 9 digits
_MAX_DEPTH = 32  # nesting beyond this is read as plain text

_LISTS = frozenset({"bulletList", "orderedList"})
_CONTAINER_BLOCKS = frozenset({"paragraph", "bulletList", "orderedList", "codeBlock"})
_INLINE_TYPES = frozenset(
    {
        "text",
        "hardBreak",
        "mention",
        "emoji",
        "inlineCard",
        "date",
        "status",
        "media",
        "mediaInline",
        "placeholder",
        "inlineExtension",
    }
)

_HEADING_RE = re.compile(r"[ \t]*(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_CLOSING_HASHES_RE = re.compile(r"(?:^|[ \t]+)#+$")
_RULE_RE = re.compile(r"[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_QUOTE_RE = re.compile(r"[ \t]*> ?")
_LIST_RE = re.compile(r"([ \t]*)([-*+]|(\d{1,9})[.)])(?:([ \t]+)(.*))?$")
_FENCE_RE = re.compile(r"([ \t]*)(`{3,}|~{3,})(.*)$")
_AUTOLINK_RE = re.compile(r"<([A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\s<>\x00-\x1f]*)>")
_AUTOLINK_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\s<>\x00-\x1f]*")
_ANGLE_DEST_RE = re.compile(r"<((?:[^<>\n\\]|\\.)*)>")
_BARE_DEST_RE = re.compile(r"[^\s()<>\\\x00-\x1f]+")
_TITLE_RES = {
    '"': re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL),
    "'": re.compile(r"'((?:[^'\\]|\\.)*)'", re.DOTALL),
    "(": re.compile(r"\(((?:[^()\\]|\\.)*)\)", re.DOTALL),
}
_ESCAPED_RE = re.compile(r"\\([!-/:-@\[-`{-~])")
_ENTITY_RE = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{0,31});")
_ORDERED_START_RE = re.compile(r"\d{1,9}([.)])(?=[ \t]|$)")


# --------------------------------------------------------------------------
# Public API


def markdown_to_adf(text: str) -> Node:
    """Markdown -> an ADF doc (always valid; empty text gives a doc with no content)."""
    if not text:
        return _doc([])
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return _doc(_parse_blocks(lines, 0))


def adf_to_markdown(doc: Any) -> str:
    """ADF (a doc, a node or a list of nodes) -> Markdown.

    Tolerant: None gives "", a plain string (some Jira fields) is returned as
    is, unknown nodes give their text content.
    """
    if doc is None:
        return ""
    if isinstance(doc, str):
        return doc
    return "\n".join(_render_blocks(normalize_adf(doc)["content"], loose=True))


def normalize_adf(doc: Any) -> Node:
    """The doc as it survives a Markdown round trip, in this module's canonical form.

    ``markdown_to_adf(adf_to_markdown(doc)) == normalize_adf(doc)``; anything
    that is not ADF (a doc, a node or a list of nodes) gives an empty doc.
    """
    if isinstance(doc, dict):
        nodes = doc.get("content") if doc.get("type") == "doc" else [doc]
    else:
        nodes = doc
    return _doc(_lower_blocks(nodes, 0))


# --------------------------------------------------------------------------
# Canonical ADF builders (shared by the parser and by normalize_adf)


def _doc(blocks: list[Node]) -> Node:
    content = [block for block in blocks if not _is_empty_paragraph(block)]
    return {"type": "doc", "version": 1, "content": content}


def _paragraph(chars: list[Char]) -> Node:
    return {"type": "paragraph", "content": _chars_to_nodes(_canonical(chars))}


def _heading(level: int, chars: list[Char]) -> Node:
    flat = [(" ", _NO_MARKS) if ch == "\n" else (ch, marks) for ch, marks in chars]
    content = _chars_to_nodes(_canonical(flat))
    return {"type": "heading", "attrs": {"level": level}, "content": content}


def _code_block(text: str, language: str) -> Node:
    node: Node = {"type": "codeBlock"}
    if language:
        node["attrs"] = {"language": language}
    node["content"] = [{"type": "text", "text": text}] if text else []
    return node


def _bullet_list(items: list[Node]) -> Node:
    return {"type": "bulletList", "content": items}


def _ordered_list(order: int, items: list[Node]) -> Node:
    order = max(0, min(order, _MAX_ORDER - len(items) + 1))
    return {"type": "orderedList", "attrs": {"order": order}, "content": items}


def _list_item(children: list[Node]) -> Node:
    content = _fit(children)
    if not content or content[0]["type"] not in ("paragraph", "codeBlock"):
        content.insert(0, _empty_paragraph())
    return {"type": "listItem", "content": content}


def _blockquote(children: list[Node]) -> Node:
    return {"type": "blockquote", "content": _fit(children) or [_empty_paragraph()]}


def _fit(children: list[Node]) -> list[Node]:
    """Keep what a listItem or blockquote may hold; degrade the rest."""
    out: list[Node] = []
    for node in children:
        kind = node["type"]
        if kind in _CONTAINER_BLOCKS:
            out.append(node)
        elif kind == "heading":
            out.append({"type": "paragraph", "content": node["content"]})
        elif kind == "blockquote":
            out.extend(_fit(node["content"]))
    return [node for node in out if not _is_empty_paragraph(node)]


def _empty_paragraph() -> Node:
    return {"type": "paragraph", "content": []}


def _is_empty_paragraph(node: Node) -> bool:
    return node["type"] == "paragraph" and not node["content"]


# --------------------------------------------------------------------------
# Inline content: characters with marks, canonical form


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


def _canonical(chars: list[Char]) -> list[Char]:
    chars = _trim_lines([_clean_marks(ch, marks) for ch, marks in chars])
    while removals := _inexpressible(chars):
        for index, mark in removals:
            ch, marks = chars[index]
            chars[index] = (ch, marks - {mark})
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


def _trim_lines(chars: list[Char]) -> list[Char]:
    """Drop blanks at line edges (Markdown strips them) and edge hard breaks."""
    lines = [_trim_line(line) for line in _split_lines(chars)]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    out: list[Char] = []
    for index, line in enumerate(lines):
        if index:
            out.append(("\n", _NO_MARKS))
        out.extend(line)
    return out


def _trim_line(line: list[Char]) -> list[Char]:
    start, end = 0, len(line)
    while start < end and _trimmable(line[start]):
        start += 1
    while end > start and _trimmable(line[end - 1]):
        end -= 1
    return line[start:end]


def _trimmable(item: Char) -> bool:
    ch, marks = item
    return ch in " \t" and not any(m[0] in ("code", "link") for m in marks)


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


def _em_delimiters(steps: list[_Step], pieces: list[_Piece]) -> dict[int, str]:
    """``_`` for em unless it touches a letter or digit (then ``*``)."""
    chosen: dict[int, str] = {}
    opened = -1
    for index, step in enumerate(steps):
        if step.mark != EM:
            continue
        if step.kind == "open":
            opened = index
            continue
        intraword = _alnum_next_to(steps, pieces, opened - 1, last=True) or _alnum_next_to(
            steps, pieces, index + 1, last=False
        )
        chosen[opened] = chosen[index] = "*" if intraword else "_"
    return chosen


def _alnum_next_to(steps: list[_Step], pieces: list[_Piece], index: int, *, last: bool) -> bool:
    if not 0 <= index < len(steps) or steps[index].kind != "piece":
        return False
    text, marks = pieces[steps[index].piece]
    if CODE in marks:
        return False
    return (text[-1] if last else text[0]).isalnum()


def _delimiter(step: _Step, em: str) -> str:
    kind, href, title = step.mark
    if kind == "link":
        return "[" if step.kind == "open" else f"]({_link_destination(href, title)})"
    return {"em": em, "strong": "**", "strike": "~~"}[kind]


def _inexpressible(chars: list[Char]) -> list[tuple[int, Mark]]:
    """(index, mark) pairs that the Markdown rendering would not give back."""
    removals: list[tuple[int, Mark]] = []
    offset = 0
    for line in _split_lines(chars):
        found = _blank_edges(line, offset)
        removals.extend(found or _misparsed(line, offset))
        offset += len(line) + 1
    return removals


def _blank_edges(line: list[Char], offset: int) -> list[tuple[int, Mark]]:
    """A delimiter cannot open before, or close after, whitespace."""
    pieces = _pieces(line)
    starts = [offset]
    for text, _ in pieces:
        starts.append(starts[-1] + len(text))
    steps = _layout(pieces)
    out: list[tuple[int, Mark]] = []
    for index, step in enumerate(steps):
        if step.kind == "piece" or step.mark[0] == "link":
            continue
        neighbour = steps[index + 1] if step.kind == "open" else steps[index - 1]
        if neighbour.kind != "piece" or CODE in pieces[neighbour.piece][1]:
            continue
        text = pieces[neighbour.piece][0]
        positions = range(len(text)) if step.kind == "open" else range(len(text) - 1, -1, -1)
        for position in positions:
            if not text[position].isspace():
                break
            out.append((starts[neighbour.piece] + position, step.mark))
    return out


def _misparsed(line: list[Char], offset: int) -> list[tuple[int, Mark]]:
    """Render the line and parse it back; on a difference drop one mark run.

    Delimiter runs with text on both sides (inside words, next to punctuation)
    can pair up differently than intended; CommonMark cannot express every
    overlap of em/strong/strike.  Dropping the innermost mark at the first
    difference terminates (plain text always round-trips).
    """
    rendered = _render_line(line, heading=False)
    parsed = [_clean_marks(ch, marks) for ch, marks in _parse_inline(rendered, links=True)]
    if parsed == line:
        return []
    first = next(
        (i for i, (a, b) in enumerate(zip(line, parsed, strict=False)) if a != b),
        min(len(line), len(parsed)),
    )
    for index in (first, first - 1):
        if 0 <= index < len(line) and line[index][1] - {CODE}:
            mark = min(line[index][1] - {CODE}, key=lambda m: (_run_length_of(line, index, m), m))
            return [(offset + i, mark) for i in _mark_run(line, index, mark)]
    return []


def _mark_run(line: list[Char], index: int, mark: Mark) -> range:
    start = end = index
    while start > 0 and mark in line[start - 1][1]:
        start -= 1
    while end < len(line) and mark in line[end][1]:
        end += 1
    return range(start, end)


def _run_length_of(line: list[Char], index: int, mark: Mark) -> int:
    return len(_mark_run(line, index, mark))


# --------------------------------------------------------------------------
# Markdown -> ADF: blocks


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


def _parse_blocks(lines: list[str], depth: int) -> list[Node]:
    blocks: list[Node] = []
    i = 0
    while i < len(lines):
        if _is_blank(lines[i]):
            i += 1
            continue
        node, i = _parse_block(lines, i, depth)
        if node is not None:
            blocks.append(node)
    return blocks


def _parse_block(lines: list[str], i: int, depth: int) -> tuple[Node | None, int]:
    line = lines[i]
    if _fence_open(line):
        return _parse_fence(lines, i)
    heading = _HEADING_RE.match(line)
    if heading:
        content = _CLOSING_HASHES_RE.sub("", heading.group(2) or "")
        return _heading(len(heading.group(1)), _parse_inline(content, links=True)), i + 1
    if _RULE_RE.match(line):
        return {"type": "rule"}, i + 1
    if depth < _MAX_DEPTH and _QUOTE_RE.match(line):
        return _parse_quote(lines, i, depth)
    if depth < _MAX_DEPTH and _list_marker(line):
        return _parse_list(lines, i, depth)
    return _parse_paragraph(lines, i)


def _parse_paragraph(lines: list[str], i: int) -> tuple[Node | None, int]:
    texts = [lines[i].strip(" \t")]
    i += 1
    while i < len(lines) and not _is_blank(lines[i]) and not _interrupts_paragraph(lines[i]):
        texts.append(lines[i].strip(" \t"))
        i += 1
    node = _paragraph(_parse_inline("\n".join(texts), links=True))
    return (node if node["content"] else None), i


def _parse_fence(lines: list[str], i: int) -> tuple[Node, int]:
    fence = _fence_open(lines[i])
    assert fence is not None
    body: list[str] = []
    i += 1
    while i < len(lines) and not _closes_fence(lines[i], fence):
        body.append(_strip_indent(lines[i], fence.indent))
        i += 1
    return _code_block("\n".join(body), fence.language), min(i + 1, len(lines))


def _parse_quote(lines: list[str], i: int, depth: int) -> tuple[Node, int]:
    body: list[str] = []
    fence: _Fence | None = None
    lazy_ok = False
    while i < len(lines):
        line = lines[i]
        quote = _QUOTE_RE.match(line)
        if quote:
            text = line[quote.end() :]
        elif lazy_ok and not _is_blank(line) and not _interrupts_paragraph(line):
            text = line
        else:
            break
        body.append(text)
        fence = _fence_after(fence, text)
        lazy_ok = fence is None and _opens_paragraph(text)
        i += 1
    return _blockquote(_parse_blocks(body, depth + 1)), i


def _parse_list(lines: list[str], i: int, depth: int) -> tuple[Node, int]:
    first = _list_marker(lines[i])
    assert first is not None
    marker = first
    items: list[Node] = []
    while True:
        body, i = _collect_item(lines, i, marker, first.indent)
        items.append(_list_item(_parse_blocks(body, depth + 1)))
        j = _skip_blank(lines, i)
        following = _list_marker(lines[j]) if j < len(lines) else None
        if following is None or following.kind != first.kind or _RULE_RE.match(lines[j]):
            break
        marker, i = following, j
    if first.kind in ".)":
        return _ordered_list(first.start, items), i
    return _bullet_list(items), i


def _collect_item(lines: list[str], i: int, marker: _Marker, base: int) -> tuple[list[str], int]:
    """The lines of one list item, de-indented; returns them and the next index."""
    body = [marker.content]
    fence = _fence_after(None, marker.content)
    lazy_ok = fence is None and _opens_paragraph(marker.content)
    i += 1
    while i < len(lines):
        line = lines[i]
        if _is_blank(line):
            j = _skip_blank(lines, i)
            if j < len(lines) and (fence is not None or _indent_width(lines[j]) >= base + 2):
                body.extend(_strip_indent(blank, marker.width) for blank in lines[i:j])
                i, lazy_ok = j, False
                continue
            break
        indent = _indent_width(line)
        if fence is not None or indent >= base + 2:
            text = _strip_indent(line, min(indent, marker.width))
        elif _list_marker(line) is None and lazy_ok and not _interrupts_paragraph(line):
            text = line
        else:
            break
        body.append(text)
        fence = _fence_after(fence, text)
        lazy_ok = fence is None and _opens_paragraph(text)
        i += 1
    return body, i


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


def _closes_fence(line: str, fence: _Fence) -> bool:
    stripped = line.strip(" \t")
    return len(stripped) >= fence.length and stripped == fence.char * len(stripped)


def _fence_after(fence: _Fence | None, text: str) -> _Fence | None:
    """Fence state after one more line of a container's body."""
    if fence is None:
        return _fence_open(_innermost(text))
    return None if _closes_fence(text, fence) else fence


def _interrupts_paragraph(line: str) -> bool:
    if _fence_open(line) or _HEADING_RE.match(line) or _RULE_RE.match(line):
        return True
    if _QUOTE_RE.match(line):
        return True
    marker = _list_marker(line)
    return marker is not None and bool(marker.content)


def _opens_paragraph(text: str) -> bool:
    """Whether the line leaves a paragraph open (so a lazy line may continue it)."""
    text = _innermost(text)
    return not (
        _is_blank(text) or _fence_open(text) or _HEADING_RE.match(text) or _RULE_RE.match(text)
    )


def _innermost(text: str) -> str:
    """The line without the quote and list markers that open it."""
    while not _RULE_RE.match(text):
        quote = _QUOTE_RE.match(text)
        marker = None if quote else _list_marker(text)
        if quote:
            text = text[quote.end() :]
        elif marker:
            text = marker.content
        else:
            break
    return text


def _is_blank(line: str) -> bool:
    return not line.strip(" \t")


def _skip_blank(lines: list[str], i: int) -> int:
    while i < len(lines) and _is_blank(lines[i]):
        i += 1
    return i


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


def _strip_indent(line: str, width: int) -> str:
    """Remove up to `width` columns of leading whitespace."""
    column = i = 0
    while i < len(line) and column < width:
        if line[i] == " ":
            column += 1
        elif line[i] == "\t":
            step = 4 - column % 4
            if column + step > width:
                return " " * (column + step - width) + line[i + 1 :]
            column += step
        else:
            break
        i += 1
    return line[i:]


# --------------------------------------------------------------------------
# Markdown -> ADF: inline


@dataclass
class _Tok:
    text: str = ""
    marks: set[Mark] = field(default_factory=set)
    inner: list[Char] | None = None  # parsed link text
    delim: str = ""  # "*", "_" or "~" for a delimiter run
    count: int = 0  # delimiters of the run not used yet
    length: int = 0  # original run length
    opens: bool = False
    closes: bool = False
    active: bool = True


def _parse_inline(src: str, *, links: bool) -> list[Char]:
    tokens = _tokenize(src, links=links)
    _match_emphasis(tokens)
    chars: list[Char] = []
    for tok in tokens:
        marks = frozenset(tok.marks)
        if tok.inner is not None:
            chars.extend((ch, inner | marks) for ch, inner in tok.inner)
        else:
            text = tok.delim * tok.count if tok.delim else tok.text
            chars.extend((ch, marks) for ch in text)
    return chars


def _tokenize(src: str, *, links: bool) -> list[_Tok]:
    tokens: list[_Tok] = []
    text: list[str] = []

    def flush() -> None:
        if text:
            tokens.append(_Tok(text="".join(text)))
            text.clear()

    i = 0
    while i < len(src):
        ch = src[i]
        if ch == "\\" and i + 1 < len(src) and src[i + 1] in _ESCAPABLE:
            text.append(src[i + 1])  # an escaped newline is a hard break too
            i += 2
            continue
        tok, end = _inline_construct(src, i, links=links)
        if tok is None and ch in "*_~":
            run = _run_length(src, i)
            tok, end = (
                (_delimiter_run(src, i, run), i + run) if ch != "~" or run == 2 else (None, i)
            )
        if tok is not None:
            flush()
            tokens.append(tok)
            i = end
        elif ch in "`~*_":
            run = _run_length(src, i)
            text.append(src[i : i + run])
            i += run
        else:
            text.append(ch)
            i += 1
    flush()
    return tokens


def _inline_construct(src: str, i: int, *, links: bool) -> tuple[_Tok | None, int]:
    ch = src[i]
    if ch == "`":
        span = _code_span_at(src, i)
        if span:
            return _Tok(text=span[0], marks={CODE}), span[1]
    elif ch == "<" and links:
        match = _AUTOLINK_RE.match(src, i)
        if match:
            url = match.group(1)
            return _Tok(text=url, marks={("link", url, "")}), match.end()
    elif ch == "[" and links:
        return _link_at(src, i)
    return None, i


def _run_length(src: str, i: int) -> int:
    end = i
    while end < len(src) and src[end] == src[i]:
        end += 1
    return end - i


def _delimiter_run(src: str, i: int, run: int) -> _Tok:
    ch = src[i]
    before = src[i - 1] if i > 0 else " "
    after = src[i + run] if i + run < len(src) else " "
    left, right = not after.isspace(), not before.isspace()
    if ch == "_":
        opens, closes = left and not before.isalnum(), right and not after.isalnum()
    else:
        opens, closes = left, right
    return _Tok(delim=ch, count=run, length=run, opens=opens, closes=closes)


def _match_emphasis(tokens: list[_Tok]) -> None:
    """CommonMark's "process emphasis" over the delimiter runs."""
    floors: dict[tuple[str, bool, int], int] = {}
    for ci, closer in enumerate(tokens):
        if not (closer.closes and closer.active):
            continue
        key = (closer.delim, closer.opens, closer.length % 3)
        while closer.count > 0:
            oi = _find_opener(tokens, ci, floors.get(key, -1))
            if oi is None:
                floors[key] = ci - 1
                break
            _pair(tokens, oi, ci)


def _find_opener(tokens: list[_Tok], ci: int, floor: int) -> int | None:
    closer = tokens[ci]
    for k in range(ci - 1, floor, -1):
        tok = tokens[k]
        if tok.delim != closer.delim or not (tok.opens and tok.active and tok.count > 0):
            continue
        if not _rule_of_three(tok, closer):
            return k
    return None


def _rule_of_three(opener: _Tok, closer: _Tok) -> bool:
    if closer.delim == "~" or not (opener.closes or closer.opens):
        return False
    total = opener.length + closer.length
    return total % 3 == 0 and not (opener.length % 3 == 0 and closer.length % 3 == 0)


def _pair(tokens: list[_Tok], oi: int, ci: int) -> None:
    opener, closer = tokens[oi], tokens[ci]
    use = 2 if opener.count >= 2 and closer.count >= 2 else 1
    mark = STRIKE if closer.delim == "~" else (STRONG if use == 2 else EM)
    for tok in tokens[oi + 1 : ci]:
        tok.marks.add(mark)
        tok.active = False
    opener.count -= use
    closer.count -= use


def _code_span_at(src: str, i: int) -> tuple[str, int] | None:
    run = _run_length(src, i)
    j = i + run
    while (k := src.find("`", j)) >= 0:
        closing = _run_length(src, k)
        if closing == run:
            return _code_text(src[i + run : k]), k + closing
        j = k + closing
    return None


def _code_text(raw: str) -> str:
    text = raw.replace("\n", " ")
    if len(text) >= 2 and text[0] == " " and text[-1] == " " and text.strip(" "):
        return text[1:-1]
    return text


def _link_at(src: str, i: int) -> tuple[_Tok | None, int]:
    close = _match_bracket(src, i)
    if close is None or not src.startswith("(", close + 1):
        return None, i
    tail = _link_tail(src, close + 2)
    if tail is None:
        return None, i
    href, title, end = tail
    inner = _parse_inline(src[i + 1 : close], links=False)
    marks = {("link", href, title)} if href else set()
    return _Tok(inner=inner, marks=marks), end


def _match_bracket(src: str, i: int) -> int | None:
    depth, k = 0, i
    while k < len(src):
        ch = src[k]
        if ch == "\\":
            k += 2
            continue
        if ch == "`":
            span = _code_span_at(src, k)
            k = span[1] if span else k + _run_length(src, k)
            continue
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return k
        k += 1
    return None


def _link_tail(src: str, p: int) -> tuple[str, str, int] | None:
    """Parse ``dest "title")`` from p; returns (href, title, end)."""
    p = _skip_spaces(src, p)
    if src.startswith("<", p):
        match = _ANGLE_DEST_RE.match(src, p)
        if match is None:
            return None
        href, p = _unescape(match.group(1)), match.end()
    else:
        end = _bare_destination_end(src, p)
        if end is None:
            return None
        href, p = _unescape(src[p:end]), end
    q = _skip_spaces(src, p)
    title = ""
    if q > p and q < len(src) and src[q] in _TITLE_RES:
        match = _TITLE_RES[src[q]].match(src, q)
        if match is None:
            return None
        title, q = _unescape(match.group(1)), _skip_spaces(src, match.end())
    if src.startswith(")", q):
        return href, title, q + 1
    return None


def _bare_destination_end(src: str, p: int) -> int | None:
    depth = 0
    while p < len(src):
        ch = src[p]
        if ch == "\\" and p + 1 < len(src) and src[p + 1] in _ASCII_PUNCT:
            p += 2
            continue
        if ch.isspace() or ord(ch) < 0x20:
            break
        if ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                break
            depth -= 1
        p += 1
    return None if depth else p


def _skip_spaces(src: str, p: int) -> int:
    while p < len(src) and src[p] in " \t\n":
        p += 1
    return p


def _unescape(text: str) -> str:
    return _ESCAPED_RE.sub(r"\1", text)


# --------------------------------------------------------------------------
# ADF -> canonical ADF (tolerant reading of whatever Jira returns)


def _lower_blocks(nodes: Any, depth: int) -> list[Node]:
    out: list[Node] = []
    for node in nodes if isinstance(nodes, list) else []:
        out.extend(_lower_block(node, depth))
    return out


def _lower_block(node: Any, depth: int) -> list[Node]:
    if isinstance(node, str):
        return [_paragraph(_plain(node))]
    if not isinstance(node, dict):
        return []
    if depth >= _MAX_DEPTH:
        return [_paragraph(_plain(" ".join(_all_text(node))))]
    lower = _BLOCK_LOWERERS.get(str(node.get("type")), _lower_other_block)
    return lower(node, depth)


def _lower_paragraph(node: Node, depth: int) -> list[Node]:
    return [_paragraph(_lower_inline(node.get("content"), depth))]


def _lower_heading(node: Node, depth: int) -> list[Node]:
    level = _int_attr(node, "level", 1)
    return [_heading(min(max(level, 1), 6), _lower_inline(node.get("content"), depth))]


def _lower_code_block(node: Node, depth: int) -> list[Node]:
    parts = []
    for child in _content(node):
        if child.get("type") == "hardBreak":
            parts.append("\n")
        elif isinstance(child.get("text"), str):
            parts.append(child["text"])
    language = _str(_attrs(node).get("language")).split()
    return [_code_block(_newlines("".join(parts)), language[0] if language else "")]


def _lower_list(node: Node, depth: int) -> list[Node]:
    items = []
    for child in _content(node):
        children = child.get("content") if child.get("type") == "listItem" else [child]
        items.append(_list_item(_lower_blocks(children, depth + 1)))
    if not items:
        return []
    if node.get("type") == "bulletList":
        return [_bullet_list(items)]
    return [_ordered_list(_int_attr(node, "order", 1), items)]


def _lower_blockquote(node: Node, depth: int) -> list[Node]:
    return [_blockquote(_lower_blocks(node.get("content"), depth + 1))]


def _lower_rule(node: Node, depth: int) -> list[Node]:
    return [{"type": "rule"}]


def _lower_media(node: Node, depth: int) -> list[Node]:
    chars: list[Char] = []
    for child in _content(node) or [node]:
        if chars:
            chars.append((" ", _NO_MARKS))
        chars.extend(_plain(_attachment_text(_attrs(child))))
    return [_paragraph(chars)]


def _lower_table(node: Node, depth: int) -> list[Node]:
    return [_paragraph(_row_chars(row)) for row in _content(node)]


def _lower_card(node: Node, depth: int) -> list[Node]:
    return [_paragraph(_link_chars(_card_url(_attrs(node))))]


def _lower_other_block(node: Node, depth: int) -> list[Node]:
    """Unknown block: its blocks, its inline content as a paragraph, or its text."""
    content = node.get("content")
    if isinstance(content, list) and content:
        if _looks_inline(content):
            return [_paragraph(_lower_inline(content, depth))]
        return _lower_blocks(content, depth + 1)
    return [_paragraph(_inline_chars(node, depth))]


_Lowerer = Callable[[Node, int], list[Node]]
_BLOCK_LOWERERS: dict[str, _Lowerer] = {
    "paragraph": _lower_paragraph,
    "heading": _lower_heading,
    "codeBlock": _lower_code_block,
    "bulletList": _lower_list,
    "orderedList": _lower_list,
    "blockquote": _lower_blockquote,
    "rule": _lower_rule,
    "mediaSingle": _lower_media,
    "mediaGroup": _lower_media,
    "table": _lower_table,
    "blockCard": _lower_card,
    "embedCard": _lower_card,
}


def _lower_inline(nodes: Any, depth: int) -> list[Char]:
    chars: list[Char] = []
    for node in nodes if isinstance(nodes, list) else []:
        chars.extend(_inline_chars(node, depth))
    return chars


def _inline_chars(node: Any, depth: int) -> list[Char]:
    if isinstance(node, str):
        return _plain(node)
    if not isinstance(node, dict):
        return []
    kind, attrs = node.get("type"), _attrs(node)
    if kind == "text":
        marks = _marks_from_json(node.get("marks"))
        return [(ch, marks) for ch in _newlines(_str(node.get("text")))]
    if kind == "hardBreak":
        return [("\n", _NO_MARKS)]
    if kind == "inlineCard":
        return _link_chars(_card_url(attrs))
    text = _INLINE_TEXT.get(str(kind), _other_inline_text)(node, attrs)
    if text is None and depth < _MAX_DEPTH:
        return _lower_inline(node.get("content"), depth + 1)
    return _plain(text or "")


def _mention_text(node: Node, attrs: Node) -> str:
    name = _str(attrs.get("text")) or _str(attrs.get("displayName"))
    if not name:
        ident = _str(attrs.get("id"))
        return f"@{ident}" if ident else ""
    return name if name.startswith("@") else f"@{name}"


def _emoji_text(node: Node, attrs: Node) -> str:
    return _str(attrs.get("text")) or _str(attrs.get("shortName"))


def _date_text(node: Node, attrs: Node) -> str:
    stamp = attrs.get("timestamp")
    try:
        when = datetime.fromtimestamp(int(str(stamp)) / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return _str(stamp)
    return when.date().isoformat()


def _status_text(node: Node, attrs: Node) -> str:
    return _str(attrs.get("text"))


def _media_text(node: Node, attrs: Node) -> str:
    return _attachment_text(attrs)


def _other_inline_text(node: Node, attrs: Node) -> str | None:
    """Unknown inline node: its text, else its content (None), else attrs.text."""
    if isinstance(node.get("text"), str):
        return str(node["text"])
    if isinstance(node.get("content"), list):
        return None
    return _str(attrs.get("text"))


_INLINE_TEXT: dict[str, Callable[[Node, Node], str | None]] = {
    "mention": _mention_text,
    "emoji": _emoji_text,
    "date": _date_text,
    "status": _status_text,
    "media": _media_text,
    "mediaInline": _media_text,
    "placeholder": lambda node, attrs: "",
}


def _attachment_text(attrs: Node) -> str:
    name = _str(attrs.get("alt")) or _str(attrs.get("name"))
    return f"[attachment: {name}]" if name else "[attachment]"


def _card_url(attrs: Node) -> str:
    url = attrs.get("url")
    if not isinstance(url, str):
        data = attrs.get("data")
        url = data.get("url") if isinstance(data, dict) else ""
    return _single_line(_str(url), "")


def _link_chars(url: str) -> list[Char]:
    marks: Marks = frozenset({("link", url, "")}) if url else _NO_MARKS
    return [(ch, marks) for ch in url]


def _row_chars(row: Any) -> list[Char]:
    chars: list[Char] = []
    for cell in _content(row):
        if chars:
            chars.extend(_plain(" | "))
        chars.extend(_flat_chars(cell, 0))
    return chars


def _flat_chars(node: Node, depth: int) -> list[Char]:
    """A block's inline content on one line (blocks joined by a space)."""
    children = _content(node)
    if depth >= _MAX_DEPTH or not children or _looks_inline(children):
        chars = _inline_chars(node, depth) if depth < _MAX_DEPTH else []
        return [(" ", _NO_MARKS) if ch == "\n" else (ch, m) for ch, m in chars]
    out: list[Char] = []
    for child in children:
        part = _flat_chars(child, depth + 1)
        if out and part:
            out.append((" ", _NO_MARKS))
        out.extend(part)
    return out


def _all_text(node: Any) -> list[str]:
    """Every text string below node, iteratively (for over-deep documents)."""
    texts: list[str] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            if isinstance(current.get("text"), str):
                texts.append(current["text"])
            stack.extend(reversed(_content(current)))
    return texts


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


def _looks_inline(content: list[Any]) -> bool:
    return any(
        isinstance(child, str) or (isinstance(child, dict) and child.get("type") in _INLINE_TYPES)
        for child in content
    )


def _plain(text: str) -> list[Char]:
    return [(ch, _NO_MARKS) for ch in _newlines(text)]


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _single_line(text: str, joiner: str) -> str:
    return joiner.join(_newlines(text).split("\n"))


def _attrs(node: Node) -> Node:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, dict) else {}


def _content(node: Any) -> list[Node]:
    content = node.get("content") if isinstance(node, dict) else None
    return [c for c in content if isinstance(c, dict)] if isinstance(content, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int_attr(node: Node, name: str, default: int) -> int:
    value = _attrs(node).get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return default
    return value


# --------------------------------------------------------------------------
# Canonical ADF -> Markdown


def _render_blocks(blocks: list[Node], *, loose: bool) -> list[str]:
    """Blocks separated by blank lines (loose) or only where needed (list items)."""
    lines: list[str] = []
    previous: tuple[str, bool] | None = None
    for block in blocks:
        kind = block["type"]
        alternate = previous == (kind, False) and kind in _LISTS
        rendered = _render_block(block, alternate=alternate)
        if previous is not None and (
            loose
            or kind == "paragraph"
            or (previous[0] == "paragraph" and not _interrupts_paragraph(rendered[0]))
        ):
            lines.append("")
        lines.extend(rendered)
        previous = (kind, alternate)
    return lines


def _render_block(block: Node, *, alternate: bool) -> list[str]:
    kind = block["type"]
    if kind == "paragraph":
        return _render_inline(block["content"], heading=False)
    if kind == "heading":
        text = _render_inline(block["content"], heading=True)[0]
        hashes = "#" * block["attrs"]["level"]
        return [f"{hashes} {text}" if text else hashes]
    if kind == "codeBlock":
        return _render_code_block(block)
    if kind in _LISTS:
        return _render_list(block, alternate=alternate)
    if kind == "blockquote":
        body = _render_blocks(block["content"], loose=True)
        return [f"> {line}" if line else ">" for line in body]
    return ["---"]


def _render_code_block(block: Node) -> list[str]:
    text = block["content"][0]["text"] if block["content"] else ""
    language = block.get("attrs", {}).get("language", "")
    char = "~" if "`" in language else "`"
    longest = max((len(run) for run in re.findall(re.escape(char) + "+", text)), default=0)
    fence = char * max(3, longest + 1)
    info = f" {language}" if language.startswith(char) else language
    return [fence + info, *(text.split("\n") if text else []), fence]


def _render_list(block: Node, *, alternate: bool) -> list[str]:
    lines: list[str] = []
    ordered = block["type"] == "orderedList"
    for index, item in enumerate(block["content"]):
        if ordered:
            marker = f"{block['attrs']['order'] + index}{')' if alternate else '.'}"
        else:
            marker = "*" if alternate else "-"
        body = _render_blocks(item["content"], loose=False)
        indent = " " * (len(marker) + 1)
        lines.append(f"{marker} {body[0]}" if body[0] else marker)
        lines.extend(indent + line if line else "" for line in body[1:])
    return lines


def _render_inline(content: list[Node], *, heading: bool) -> list[str]:
    lines = _split_lines(_nodes_to_chars(content))
    return (
        [_render_line(line, heading=heading) if line else "\\" for line in lines]
        if content
        else [""]
    )


def _render_line(line: list[Char], *, heading: bool) -> str:
    pieces = _pieces(line)
    steps = _layout(pieces)
    em = _em_delimiters(steps, pieces)
    out: list[str] = []
    index = 0
    while index < len(steps):
        step = steps[index]
        autolink = _autolink_at(steps, pieces, index)
        if autolink:
            out.append(f"<{autolink}>")
            index += 3
            continue
        if step.kind != "piece":
            out.append(_delimiter(step, em.get(index, "")))
        elif CODE in pieces[step.piece][1]:
            out.append(_code_span(pieces[step.piece][0]))
        else:
            before_link = index + 1 < len(steps) and steps[index + 1].mark[0] == "link"
            text = pieces[step.piece][0]
            out.append(_escape(text, line_start=not out, heading=heading, before_link=before_link))
        index += 1
    return "".join(out)


def _autolink_at(steps: list[_Step], pieces: list[_Piece], index: int) -> str:
    """The URL if steps[index:index+3] is a link whose text is its own URL."""
    if index + 2 >= len(steps) or steps[index].kind != "open":
        return ""
    kind, href, title = steps[index].mark
    piece, close = steps[index + 1], steps[index + 2]
    if kind != "link" or title or piece.kind != "piece" or close.mark != steps[index].mark:
        return ""
    text, marks = pieces[piece.piece]
    if CODE in marks or text != href or not _AUTOLINK_URL_RE.fullmatch(href):
        return ""
    return href


def _code_span(text: str) -> str:
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = text[0] == "`" or text[-1] == "`" or (text[0] == text[-1] == " " and text.strip(" "))
    return f"{fence} {text} {fence}" if pad else f"{fence}{text}{fence}"


def _link_destination(href: str, title: str) -> str:
    if _BARE_DEST_RE.fullmatch(href):
        destination = href
    else:
        destination = "<" + re.sub(r"([<>\\])", r"\\\1", href) + ">"
    if title:
        destination += ' "' + re.sub(r'(["\\])', r"\\\1", title) + '"'
    return destination


def _escape(text: str, *, line_start: bool, heading: bool, before_link: bool) -> str:
    escaped = {i for i in range(len(text)) if _needs_escape(text, i, heading=heading)}
    if line_start:
        escaped |= _line_start_escapes(text)
    if before_link and text.endswith("!"):
        escaped.add(len(text) - 1)
    return "".join("\\" + ch if i in escaped else ch for i, ch in enumerate(text))


def _needs_escape(text: str, i: int, *, heading: bool) -> bool:
    ch = text[i]
    before = text[i - 1] if i else ""
    after = text[i + 1] if i + 1 < len(text) else ""
    if ch in "*`[]":
        return True
    if ch == "\\":
        return not after or after in _ASCII_PUNCT
    if ch == "_":
        return not (before.isalnum() and after.isalnum())
    if ch == "~":
        return before in ("", "~") or after in ("", "~")
    if ch == "<":
        return bool(after) and after.isascii() and (after.isalpha() or after in "/!?")
    if ch == "&":
        return _ENTITY_RE.match(text, i) is not None
    return ch == "#" and heading


def _line_start_escapes(text: str) -> set[int]:
    """Characters that would start a block (heading, quote, list) at a line start."""
    first, second = text[0], text[1:2]
    if first == ">" or (first in "-+" and second in ("", " ", "\t")) or text.startswith("--"):
        return {0}
    if first == "#":
        run = len(text) - len(text.lstrip("#"))
        return {0} if run <= 6 and text[run : run + 1] in ("", " ", "\t") else set()
    ordered = _ORDERED_START_RE.match(text)
    return {ordered.start(1)} if ordered else set()
