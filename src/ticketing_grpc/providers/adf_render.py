"""Canonical ADF -> Markdown (see adf.py): blocks, lines, delimiters and escapes.

The input is a document in the canonical form (`normalize_adf`); the parser
renders single lines too, to find what Markdown cannot express.
"""

from __future__ import annotations

import re

from .adf_common import (
    _ASCII_PUNCT,
    CODE,
    EM,
    Char,
    Node,
    _interrupts_paragraph,
    _layout,
    _nodes_to_chars,
    _Piece,
    _pieces,
    _split_lines,
    _Step,
)

_LISTS = frozenset({"bulletList", "orderedList"})
_AUTOLINK_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\s<>\x00-\x1f]*")
_BARE_DEST_RE = re.compile(r"[^\s()<>\\\x00-\x1f]+")
_ENTITY_RE = re.compile(r"&(?:#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{0,31});")
_ORDERED_START_RE = re.compile(r"\d{1,9}([.)])(?=[ \t]|$)")


# --------------------------------------------------------------------------
# Delimiters


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
