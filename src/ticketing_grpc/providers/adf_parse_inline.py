"""Markdown -> ADF, inline: a paragraph's text to characters with marks (see adf.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .adf_common import _ASCII_PUNCT, CODE, EM, STRIKE, STRONG, Char, Mark

_ESCAPABLE = _ASCII_PUNCT | {"\n"}  # a backslash before a newline is a hard break

_AUTOLINK_RE = re.compile(r"<([A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\s<>\x00-\x1f]*)>")
_ANGLE_DEST_RE = re.compile(r"<((?:[^<>\n\\]|\\.)*)>")
_TITLE_RES = {
    '"': re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL),
    "'": re.compile(r"'((?:[^'\\]|\\.)*)'", re.DOTALL),
    "(": re.compile(r"\(((?:[^()\\]|\\.)*)\)", re.DOTALL),
}
_ESCAPED_RE = re.compile(r"\\([!-/:-@\[-`{-~])")


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
