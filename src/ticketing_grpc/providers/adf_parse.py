"""Markdown -> ADF (see adf.py): `markdown_to_adf`, blocks and canonical nodes.

The block parser hands inline content to adf_parse_inline.  The builders of
canonical nodes, which `normalize_adf` uses too, keep only what a Markdown
round trip gives back, so they render each line (adf_render) and parse it again.
"""

from __future__ import annotations

import re

from .adf_common import (
    _HEADING_RE,
    _MAX_DEPTH,
    _NO_MARKS,
    _QUOTE_RE,
    _RULE_RE,
    CODE,
    Char,
    Mark,
    Node,
    _chars_to_nodes,
    _clean_marks,
    _Fence,
    _fence_open,
    _indent_width,
    _interrupts_paragraph,
    _layout,
    _list_marker,
    _Marker,
    _pieces,
    _split_lines,
)
from .adf_parse_inline import _parse_inline
from .adf_render import _render_line

_MAX_ORDER = 999_999_999  # CommonMark list numbers have at most 9 digits
_CONTAINER_BLOCKS = frozenset({"paragraph", "bulletList", "orderedList", "codeBlock"})

_CLOSING_HASHES_RE = re.compile(r"(?:^|[ \t]+)#+$")


def markdown_to_adf(text: str) -> Node:
    """Markdown -> an ADF doc (always valid; empty text gives a doc with no content)."""
    if not text:
        return _doc([])
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return _doc(_parse_blocks(lines, 0))


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
# Canonical inline content: what the Markdown rendering gives back


def _canonical(chars: list[Char]) -> list[Char]:
    chars = _trim_lines([_clean_marks(ch, marks) for ch, marks in chars])
    while removals := _inexpressible(chars):
        for index, mark in removals:
            ch, marks = chars[index]
            chars[index] = (ch, marks - {mark})
    return chars


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


def _closes_fence(line: str, fence: _Fence) -> bool:
    stripped = line.strip(" \t")
    return len(stripped) >= fence.length and stripped == fence.char * len(stripped)


def _fence_after(fence: _Fence | None, text: str) -> _Fence | None:
    """Fence state after one more line of a container's body."""
    if fence is None:
        return _fence_open(_innermost(text))
    return None if _closes_fence(text, fence) else fence


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
