"""ADF as Jira returns it -> canonical ADF, and so -> Markdown (see adf.py).

`normalize_adf` reads any ADF, tolerantly, into the canonical form the parser
builds; `adf_to_markdown` renders that form.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .adf_common import (
    _MAX_DEPTH,
    _NO_MARKS,
    Char,
    Marks,
    Node,
    _attrs,
    _marks_from_json,
    _newlines,
    _single_line,
    _str,
)
from .adf_parse import (
    _blockquote,
    _bullet_list,
    _code_block,
    _doc,
    _heading,
    _list_item,
    _ordered_list,
    _paragraph,
)
from .adf_render import _render_blocks

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


def _looks_inline(content: list[Any]) -> bool:
    return any(
        isinstance(child, str) or (isinstance(child, dict) and child.get("type") in _INLINE_TYPES)
        for child in content
    )


def _plain(text: str) -> list[Char]:
    return [(ch, _NO_MARKS) for ch in _newlines(text)]


def _content(node: Any) -> list[Node]:
    content = node.get("content") if isinstance(node, dict) else None
    return [c for c in content if isinstance(c, dict)] if isinstance(content, list) else []


def _int_attr(node: Node, name: str, default: int) -> int:
    value = _attrs(node).get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return default
    return value
