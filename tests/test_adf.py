"""Markdown <-> ADF (Jira Cloud v3 rich text): each construct both ways, escaping,
tolerance of what Jira really returns, and the round-trip property."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from ticketing_grpc.providers.adf import adf_to_markdown, markdown_to_adf, normalize_adf

Node = dict[str, Any]

EM: Node = {"type": "em"}
STRONG: Node = {"type": "strong"}
STRIKE: Node = {"type": "strike"}
CODE: Node = {"type": "code"}
BR: Node = {"type": "hardBreak"}


def doc(*blocks: Node) -> Node:
    return {"type": "doc", "version": 1, "content": list(blocks)}


def p(*inline: Node) -> Node:
    return {"type": "paragraph", "content": list(inline)}


def t(text: str, *marks: Node) -> Node:
    node: Node = {"type": "text", "text": text}
    if marks:
        node["marks"] = list(marks)
    return node


def link(href: str, title: str = "") -> Node:
    attrs = {"href": href, "title": title} if title else {"href": href}
    return {"type": "link", "attrs": attrs}


def h(level: int, *inline: Node) -> Node:
    return {"type": "heading", "attrs": {"level": level}, "content": list(inline)}


def ul(*items: Node) -> Node:
    return {"type": "bulletList", "content": list(items)}


def ol(order: int, *items: Node) -> Node:
    return {"type": "orderedList", "attrs": {"order": order}, "content": list(items)}


def li(*blocks: Node) -> Node:
    return {"type": "listItem", "content": list(blocks)}


def code_block(text: str, language: str = "") -> Node:
    node: Node = {"type": "codeBlock", "content": [t(text)] if text else []}
    if language:
        node["attrs"] = {"language": language}
    return node


def quote(*blocks: Node) -> Node:
    return {"type": "blockquote", "content": list(blocks)}


RULE: Node = {"type": "rule"}


# ---------------------------------------------------------------------------
# Each construct, both ways: the Markdown is the canonical form, so
# markdown_to_adf(md) == doc and adf_to_markdown(doc) == md.

BOTH_WAYS: list[tuple[str, str, Node]] = [
    ("paragraph", "Hello world", doc(p(t("Hello world")))),
    (
        "paragraphs and hard break",
        "one\ntwo\n\nthree",
        doc(p(t("one"), BR, t("two")), p(t("three"))),
    ),
    ("heading 1", "# Title", doc(h(1, t("Title")))),
    ("heading 6", "###### Deep", doc(h(6, t("Deep")))),
    ("heading with marks", "## The **plan**", doc(h(2, t("The "), t("plan", STRONG)))),
    ("em", "an _emphasised_ word", doc(p(t("an "), t("emphasised", EM), t(" word")))),
    ("strong", "a **bold** word", doc(p(t("a "), t("bold", STRONG), t(" word")))),
    ("strike", "a ~~gone~~ word", doc(p(t("a "), t("gone", STRIKE), t(" word")))),
    ("inline code", "run `make test` now", doc(p(t("run "), t("make test", CODE), t(" now")))),
    (
        "em inside a word uses *",
        "un*frigging*believable",
        doc(p(t("un"), t("frigging", EM), t("believable"))),
    ),
    ("strong and em", "**_both_**", doc(p(t("both", EM, STRONG)))),
    (
        "em inside strong",
        "**bold _and italic_ text**",
        doc(p(t("bold ", STRONG), t("and italic", EM, STRONG), t(" text", STRONG))),
    ),
    ("strike and strong", "~~**x**~~", doc(p(t("x", STRONG, STRIKE)))),
    (
        "link",
        "see [the docs](https://example.com/docs) please",
        doc(p(t("see "), t("the docs", link("https://example.com/docs")), t(" please"))),
    ),
    (
        "link with title",
        '[docs](https://example.com "The docs")',
        doc(p(t("docs", link("https://example.com", "The docs")))),
    ),
    (
        "link with spaces and parentheses in the URL",
        "[wiki](<https://en.wikipedia.org/wiki/A_(b) c>)",
        doc(p(t("wiki", link("https://en.wikipedia.org/wiki/A_(b) c")))),
    ),
    (
        "autolink",
        "<https://example.com/a?b=c>",
        doc(p(t("https://example.com/a?b=c", link("https://example.com/a?b=c")))),
    ),
    (
        "bold link",
        "**[bold link](https://x.example)**",
        doc(p(t("bold link", link("https://x.example"), STRONG))),
    ),
    (
        "marks inside a link",
        "[**a** b](https://x.example)",
        doc(p(t("a", link("https://x.example"), STRONG), t(" b", link("https://x.example")))),
    ),
    (
        "code with link",
        "[`make`](https://x.example)",
        doc(p(t("make", link("https://x.example"), CODE))),
    ),
    (
        "fenced code with language",
        "```python\nprint('hi')\n\nx = 1\n```",
        doc(code_block("print('hi')\n\nx = 1", "python")),
    ),
    ("fenced code without language", "```\nplain\n```", doc(code_block("plain"))),
    ("empty code block", "```\n```", doc(code_block(""))),
    (
        "bullet list",
        "- one\n- two",
        doc(ul(li(p(t("one"))), li(p(t("two"))))),
    ),
    (
        "ordered list keeps its start",
        "3. three\n4. four",
        doc(ol(3, li(p(t("three"))), li(p(t("four"))))),
    ),
    ("ordered list from zero", "0. zero", doc(ol(0, li(p(t("zero")))))),
    (
        "nested lists",
        "- a\n  - b\n    1. c\n- d",
        doc(ul(li(p(t("a")), ul(li(p(t("b")), ol(1, li(p(t("c"))))))), li(p(t("d"))))),
    ),
    (
        "nested list under a wide ordered marker",
        "10. ten\n    - sub",
        doc(ol(10, li(p(t("ten")), ul(li(p(t("sub"))))))),
    ),
    (
        "code inside a list item",
        "- use `ls -la`\n- ```sh\n  ls -la\n  ```",
        doc(ul(li(p(t("use "), t("ls -la", CODE))), li(code_block("ls -la", "sh")))),
    ),
    (
        "paragraph and code block in one item",
        "1. Run:\n   ```\n   make\n   ```\n\n   then wait",
        doc(ol(1, li(p(t("Run:")), code_block("make"), p(t("then wait"))))),
    ),
    (
        "item holding only a nested list starts with an empty paragraph",
        "-\n  - nested",
        doc(ul(li(p(), ul(li(p(t("nested"))))))),
    ),
    ("empty list item", "- a\n-\n- c", doc(ul(li(p(t("a"))), li(p()), li(p(t("c")))))),
    (
        "blockquote with paragraphs and a list",
        "> first\n> line\n>\n> - item",
        doc(quote(p(t("first"), BR, t("line")), ul(li(p(t("item")))))),
    ),
    ("rule", "above\n\n---\n\nbelow", doc(p(t("above")), RULE, p(t("below")))),
    (
        "adjacent lists stay apart (alternate markers)",
        "- a\n\n* b\n\n1. c\n\n1) d",
        doc(ul(li(p(t("a")))), ul(li(p(t("b")))), ol(1, li(p(t("c")))), ol(1, li(p(t("d"))))),
    ),
    ("blank line inside a paragraph", "a\n\\\nb", doc(p(t("a"), BR, BR, t("b")))),
]


@pytest.mark.parametrize(
    ("markdown", "expected"), [c[1:] for c in BOTH_WAYS], ids=[c[0] for c in BOTH_WAYS]
)
def test_markdown_to_adf(markdown: str, expected: Node) -> None:
    assert markdown_to_adf(markdown) == expected


@pytest.mark.parametrize(
    ("markdown", "adf"), [c[1:] for c in BOTH_WAYS], ids=[c[0] for c in BOTH_WAYS]
)
def test_adf_to_markdown(markdown: str, adf: Node) -> None:
    assert adf_to_markdown(adf) == markdown


# ---------------------------------------------------------------------------
# Other spellings parse to the same ADF and come back in the canonical form.

SPELLINGS: list[tuple[str, str, str]] = [
    ("star em", "*x*", "_x_"),
    ("underscore strong", "__x__", "**x**"),
    ("triple star", "***x***", "**_x_**"),
    ("plus bullets", "+ a\n+ b", "- a\n- b"),
    ("star bullets", "* a", "- a"),
    ("ordered numbers after the first are ignored", "1. a\n1. b\n7. c", "1. a\n2. b\n3. c"),
    ("paren ordered list", "2) a", "2. a"),
    ("star rule", "***", "---"),
    ("underscore rule", "_ _ _", "---"),
    ("closing hashes", "## Title ##", "## Title"),
    ("tilde fence", "~~~js\nx\n~~~", "```js\nx\n```"),
    ("single-quoted title", "[x](https://a.example 'T')", '[x](https://a.example "T")'),
    ("parentheses in a bare URL", "[w](https://w.example/A_(b))", "[w](<https://w.example/A_(b)>)"),
    ("blank lines collapse", "a\n\n\n\nb", "a\n\nb"),
    ("trailing spaces and CRLF", "a  \r\nb\r\n", "a\nb"),
    ("indented continuation", "- a\n\n  more", "- a\n\n  more"),
    (
        "lazy continuation of an item",
        "1. Open\n2. Click\nExpected: 500",
        "1. Open\n2. Click\n   Expected: 500",
    ),
    ("list interrupts a paragraph", "Steps:\n- one", "Steps:\n\n- one"),
    ("lazy quote continuation", "> a\nb", "> a\n> b"),
    ("heading in a quote becomes a paragraph", "> # Title", "> Title"),
    ("nested quote is flattened", "> > deep", "> deep"),
    ("heading in a list item becomes a paragraph", "- # Title", "- Title"),
    ("unclosed fence runs to the end", "```\ncode", "```\ncode\n```"),
    ("whitespace inside emphasis moves out", "*a `b` c*", "_a_ `b` _c_"),
    ("code wins over other marks", "**`x`**", "`x`"),
    ("empty link text disappears", "a [](https://x.example) b", "a  b"),
    ("link with an empty target is plain text", "[a]()", "a"),
    ("seven hashes are not a heading", "####### x", "####### x"),
    ("spaced asterisks are literal", "a * b * c", "a \\* b \\* c"),
]


@pytest.mark.parametrize(
    ("markdown", "normalised"), [c[1:] for c in SPELLINGS], ids=[c[0] for c in SPELLINGS]
)
def test_markdown_is_normalised(markdown: str, normalised: str) -> None:
    adf = markdown_to_adf(markdown)
    assert adf_to_markdown(adf) == normalised
    assert markdown_to_adf(normalised) == adf


def test_empty_text_gives_an_empty_doc() -> None:
    for text in ("", "\n\n", "   \n\t\n"):
        assert markdown_to_adf(text) == {"type": "doc", "version": 1, "content": []}


def test_heading_levels() -> None:
    for level in range(1, 7):
        assert markdown_to_adf("#" * level + " x") == doc(h(level, t("x")))
    assert markdown_to_adf("#\n\n## ") == doc(h(1), h(2))
    assert adf_to_markdown(doc(h(3))) == "###"


# ---------------------------------------------------------------------------
# Escaping


def test_backslash_escapes_give_literal_characters() -> None:
    assert markdown_to_adf(r"\*not em\* \_no\_ \`tick\` \[a\](b) \# \~~x~~ \\") == doc(
        p(t("*not em* _no_ `tick` [a](b) # ~~x~~ \\"))
    )


def test_backslash_before_a_letter_is_literal() -> None:
    assert markdown_to_adf(r"C:\Users\me") == doc(p(t(r"C:\Users\me")))
    assert adf_to_markdown(doc(p(t(r"C:\Users\me")))) == r"C:\Users\me"


def test_special_characters_in_text_are_escaped_and_survive() -> None:
    text = "*stars* _under_ `tick` [a](b) <https://x.example> ~~s~~ \\* &amp; <b>"
    adf = doc(p(t(text)))
    markdown = adf_to_markdown(adf)
    assert markdown == (
        r"\*stars\* \_under\_ \`tick\` \[a\](b) \<https://x.example> \~\~s\~\~ \\\* \&amp; \<b>"
    )
    assert markdown_to_adf(markdown) == adf


def test_identifiers_are_not_escaped() -> None:
    adf = doc(p(t("set max_retries in ~/.config, 2*3 and a~b")))
    assert adf_to_markdown(adf) == r"set max_retries in ~/.config, 2\*3 and a~b"
    assert markdown_to_adf(adf_to_markdown(adf)) == adf


@pytest.mark.parametrize(
    ("text", "markdown"),
    [
        ("# not a heading", r"\# not a heading"),
        ("- not a list", r"\- not a list"),
        ("+ not a list", r"\+ not a list"),
        ("1. not a list", r"1\. not a list"),
        ("2) not a list", r"2\) not a list"),
        ("> not a quote", r"\> not a quote"),
        ("---", r"\---"),
        ("```", r"\`\`\`"),
        ("#hashtag", "#hashtag"),
        ("1.5 kg", "1.5 kg"),
    ],
)
def test_block_syntax_at_a_line_start_is_escaped(text: str, markdown: str) -> None:
    for adf, expected in (
        (doc(p(t(text))), markdown),
        (doc(p(t("first"), BR, t(text))), f"first\n{markdown}"),
        (doc(ul(li(p(t(text))))), f"- {markdown}"),
    ):
        assert adf_to_markdown(adf) == expected
        assert markdown_to_adf(expected) == adf


def test_hash_in_a_heading_is_escaped() -> None:
    adf = doc(h(2, t("Issue #")))
    assert adf_to_markdown(adf) == r"## Issue \#"
    assert markdown_to_adf(r"## Issue \#") == adf


def test_code_span_fence_outgrows_backticks_in_the_code() -> None:
    assert adf_to_markdown(doc(p(t("a`b", CODE)))) == "``a`b``"
    assert adf_to_markdown(doc(p(t("`x`", CODE)))) == "`` `x` ``"
    assert adf_to_markdown(doc(p(t(" padded ", CODE)))) == "`  padded  `"
    for code in ("a`b", "`x`", " padded ", " ", "``"):
        assert markdown_to_adf(adf_to_markdown(doc(p(t(code, CODE))))) == doc(p(t(code, CODE)))


def test_code_block_fence_outgrows_fences_in_the_code() -> None:
    adf = doc(code_block("```\nnested\n```", "md"))
    assert adf_to_markdown(adf) == "````md\n```\nnested\n```\n````"
    assert markdown_to_adf(adf_to_markdown(adf)) == adf


def test_code_block_keeps_markdown_and_blank_lines_verbatim() -> None:
    code = "# not a heading\n*not em*\n\n  indented\n"
    for adf in (doc(code_block(code, "text")), doc(ul(li(code_block(code))))):
        assert markdown_to_adf(adf_to_markdown(adf)) == adf


def test_link_destination_escaping() -> None:
    adf = doc(p(t("x", link("https://x.example/<a>\\b", 'say "hi"'))))
    assert adf_to_markdown(adf) == r'[x](<https://x.example/\<a\>\\b> "say \"hi\"")'
    assert markdown_to_adf(adf_to_markdown(adf)) == adf


def test_exclamation_before_a_link_is_not_an_image() -> None:
    adf = doc(p(t("Wow!"), t("link", link("https://x.example"))))
    assert adf_to_markdown(adf) == r"Wow\![link](https://x.example)"
    assert markdown_to_adf(adf_to_markdown(adf)) == adf


# ---------------------------------------------------------------------------
# ADF rules applied on the way in


def test_code_mark_drops_other_formatting_but_keeps_links() -> None:
    assert markdown_to_adf("**`x`**") == doc(p(t("x", CODE)))
    jira = doc(p(t("x", STRONG, CODE, EM, link("https://x.example"))))
    assert normalize_adf(jira) == doc(p(t("x", link("https://x.example"), CODE)))
    assert adf_to_markdown(jira) == "[`x`](https://x.example)"


def test_list_items_and_quotes_only_hold_what_adf_allows() -> None:
    assert markdown_to_adf("- # Title\n  > quoted\n  ---") == doc(
        ul(li(p(t("Title")), p(t("quoted"))))
    )
    assert markdown_to_adf("> ## Head\n> > inner\n> ---") == doc(quote(p(t("Head")), p(t("inner"))))
    assert markdown_to_adf(">") == doc(quote(p()))


def test_marks_come_off_surrounding_whitespace() -> None:
    jira = doc(p(t("a "), t(" bold ", STRONG), t(" b")))
    assert normalize_adf(jira) == doc(p(t("a  "), t("bold", STRONG), t("  b")))
    assert adf_to_markdown(jira) == "a  **bold**  b"


def test_inexpressible_intraword_overlap_is_normalised_not_garbled() -> None:
    """`***<*é*x***` would parse as em over everything plus a literal `**`:
    such a mark is dropped rather than rendered into Markdown that reads back
    differently."""
    jira = doc(p(t("<", EM, STRONG), t("é", STRONG), t("x", EM, STRONG)))
    assert normalize_adf(jira) == doc(p(t("<é", STRONG), t("x", EM, STRONG)))
    assert adf_to_markdown(jira) == "**<é*x***"
    assert markdown_to_adf(adf_to_markdown(jira)) == normalize_adf(jira)


def test_line_edges_and_hard_breaks_are_trimmed() -> None:
    jira = doc(p(BR, t("  a  "), BR, t(" b"), BR))
    assert normalize_adf(jira) == doc(p(t("a"), BR, t("b")))
    assert adf_to_markdown(jira) == "a\nb"


def test_heading_hard_break_becomes_a_space() -> None:
    jira = doc(h(2, t("two"), BR, t("lines")))
    assert adf_to_markdown(jira) == "## two lines"
    assert normalize_adf(jira) == doc(h(2, t("two lines")))


def test_unsupported_marks_are_dropped() -> None:
    jira = doc(
        p(
            t("u", {"type": "underline"}, STRONG),
            t("c", {"type": "textColor", "attrs": {"color": "#ff0000"}}),
            t("s", {"type": "subsup", "attrs": {"type": "sup"}}),
        )
    )
    assert normalize_adf(jira) == doc(p(t("u", STRONG), t("cs")))


def test_ordered_list_order_is_sanitised() -> None:
    items = (li(p(t("a"))), li(p(t("b"))))
    no_attrs = {"type": "orderedList", "content": list(items)}
    assert normalize_adf(doc(no_attrs)) == doc(ol(1, *items))
    assert normalize_adf(doc(ol(-3, *items))) == doc(ol(1, *items))
    huge = normalize_adf(doc(ol(10**12, *items)))
    assert huge == doc(ol(999_999_998, *items))
    assert markdown_to_adf(adf_to_markdown(huge)) == huge


# ---------------------------------------------------------------------------
# What Jira really returns


JIRA_COMMENT: Node = {
    "type": "doc",
    "version": 1,
    "content": [
        {
            "type": "paragraph",
            "content": [
                {
                    "type": "mention",
                    "attrs": {
                        "id": "5b10ac8d82e05b22cc7d4ef5",
                        "text": "@Mia Krystof",
                        "accessLevel": "",
                    },
                },
                {"type": "text", "text": " reproduced on "},
                {"type": "text", "text": "staging", "marks": [{"type": "strong"}]},
                {"type": "text", "text": ", see "},
                {
                    "type": "text",
                    "text": "the runbook",
                    "marks": [
                        {"type": "link", "attrs": {"href": "https://example.atlassian.net/wiki/x"}}
                    ],
                },
                {"type": "text", "text": "."},
                {"type": "hardBreak"},
                {"type": "text", "text": "Error: "},
                {"type": "text", "text": "NullPointerException", "marks": [{"type": "code"}]},
                {"type": "text", "text": " in "},
                {"type": "text", "text": "order_service.py", "marks": [{"type": "em"}]},
                {"type": "text", "text": " "},
                {
                    "type": "emoji",
                    "attrs": {"shortName": ":thumbsup:", "id": "1f44d", "text": "👍"},
                },
            ],
        },
        {
            "type": "orderedList",
            "attrs": {"order": 1},
            "content": [
                {
                    "type": "listItem",
                    "content": [
                        {
                            "type": "paragraph",
                            "content": [{"type": "text", "text": "Open the cart"}],
                        }
                    ],
                },
                {
                    "type": "listItem",
                    "content": [
                        {
                            "type": "paragraph",
                            "content": [
                                {"type": "text", "text": "Click "},
                                {
                                    "type": "text",
                                    "text": "Pay",
                                    "marks": [{"type": "strong"}, {"type": "em"}],
                                },
                            ],
                        },
                        {
                            "type": "bulletList",
                            "content": [
                                {
                                    "type": "listItem",
                                    "content": [
                                        {
                                            "type": "paragraph",
                                            "content": [{"type": "text", "text": "HTTP 500"}],
                                        }
                                    ],
                                }
                            ],
                        },
                    ],
                },
            ],
        },
        {
            "type": "codeBlock",
            "attrs": {"language": "python"},
            "content": [{"type": "text", "text": "def pay(cart):\n    return cart.total * 2"}],
        },
        {
            "type": "mediaSingle",
            "attrs": {"layout": "center"},
            "content": [
                {
                    "type": "media",
                    "attrs": {
                        "id": "2c3a",
                        "type": "file",
                        "collection": "",
                        "width": 640,
                        "height": 480,
                        "alt": "screenshot.png",
                    },
                }
            ],
        },
        {
            "type": "paragraph",
            "content": [
                {"type": "text", "text": "Duplicate of "},
                {
                    "type": "inlineCard",
                    "attrs": {"url": "https://example.atlassian.net/browse/OPS-12"},
                },
                {"type": "text", "text": " "},
            ],
        },
    ],
}

JIRA_COMMENT_MARKDOWN = """\
@Mia Krystof reproduced on **staging**, see [the runbook](https://example.atlassian.net/wiki/x).
Error: `NullPointerException` in _order_service.py_ 👍

1. Open the cart
2. Click **_Pay_**
   - HTTP 500

```python
def pay(cart):
    return cart.total * 2
```

\\[attachment: screenshot.png\\]

Duplicate of <https://example.atlassian.net/browse/OPS-12>"""


def test_realistic_jira_comment_to_markdown() -> None:
    assert adf_to_markdown(JIRA_COMMENT) == JIRA_COMMENT_MARKDOWN


def test_realistic_jira_comment_round_trip() -> None:
    back = markdown_to_adf(JIRA_COMMENT_MARKDOWN)
    assert back == normalize_adf(JIRA_COMMENT)
    first = back["content"][0]["content"]
    assert first[0] == t("@Mia Krystof reproduced on ")
    assert first[-1] == t(" 👍")
    assert back["content"][4] == p(
        t("Duplicate of "),
        t(
            "https://example.atlassian.net/browse/OPS-12",
            link("https://example.atlassian.net/browse/OPS-12"),
        ),
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        ("", ""),
        ("plain *string* from a v2 field", "plain *string* from a v2 field"),
        ({"type": "doc", "version": 1}, ""),
        ({"type": "doc", "version": 1, "content": []}, ""),
        ({"type": "doc", "version": 1, "content": "nonsense"}, ""),
        (42, ""),
        ([p(t("a bare list of nodes"))], "a bare list of nodes"),
        (p(t("a lone paragraph")), "a lone paragraph"),
    ],
)
def test_odd_inputs(value: Any, expected: str) -> None:
    assert adf_to_markdown(value) == expected


def test_garbage_inside_a_doc_does_not_crash() -> None:
    messy = {
        "type": "doc",
        "content": [
            None,
            7,
            "a bare string",
            {"no": "type"},
            {
                "type": "paragraph",
                "content": [None, 5, {"type": "text"}, {"type": "text", "text": 3}, "str"],
            },
            {"type": "heading", "attrs": {"level": 99}, "content": [t("clamped")]},
            {"type": "heading", "attrs": "bad", "content": [t("default")]},
            {"type": "bulletList", "content": [p(t("not in a listItem")), 3]},
            {"type": "orderedList", "attrs": {"order": "7"}, "content": []},
            {
                "type": "codeBlock",
                "attrs": {"language": 5},
                "content": [t("x"), BR, t("y"), {"type": "x"}],
            },
            {"type": "text", "text": "stray text", "marks": "bad"},
            {
                "type": "paragraph",
                "content": [
                    {
                        "type": "text",
                        "text": "x",
                        "marks": [{"type": "link"}, {"type": "link", "attrs": {"href": 1}}, 9],
                    }
                ],
            },
        ],
    }
    assert adf_to_markdown(messy) == (
        "a bare string\n\nstr\n\n###### clamped\n\n# default\n\n- not in a listItem\n\n"
        "```\nx\ny\n```\n\nstray text\n\nx"
    )
    assert markdown_to_adf(adf_to_markdown(messy)) == normalize_adf(messy)


def test_inline_nodes_from_jira() -> None:
    adf = doc(
        p(
            {"type": "mention", "attrs": {"id": "abc", "text": "Ann"}},
            t(" "),
            {"type": "mention", "attrs": {"id": "557058:f1"}},
            t(" "),
            {"type": "emoji", "attrs": {"shortName": ":awthanks:", "id": "atlassian-awthanks"}},
            t(" "),
            {"type": "date", "attrs": {"timestamp": "1700000000000"}},
            t(" "),
            {"type": "status", "attrs": {"text": "IN PROGRESS", "color": "blue"}},
            t(" "),
            {"type": "inlineCard", "attrs": {"data": {"url": "https://x.example/card"}}},
            t(" "),
            {"type": "mediaInline", "attrs": {"id": "1", "type": "file"}},
            t(" "),
            {"type": "placeholder", "attrs": {"text": "Type here"}},
            {"type": "someFutureInline", "text": "future"},
            t(" "),
            {"type": "anotherInline", "content": [t("nested", STRONG)]},
        )
    )
    assert adf_to_markdown(adf) == (
        "@Ann @557058:f1 :awthanks: 2023-11-14 IN PROGRESS <https://x.example/card> "
        r"\[attachment\] future **nested**"
    )


def test_block_nodes_from_jira() -> None:
    def cell(*inline: Node) -> Node:
        return {"type": "tableCell", "content": [p(*inline)]}

    adf = doc(
        {"type": "panel", "attrs": {"panelType": "info"}, "content": [p(t("In a panel"))]},
        {"type": "expand", "attrs": {"title": "More"}, "content": [ul(li(p(t("hidden"))))]},
        {
            "type": "table",
            "content": [
                {
                    "type": "tableRow",
                    "content": [
                        {"type": "tableHeader", "content": [p(t("Key", STRONG))]},
                        cell(t("Value")),
                    ],
                },
                {"type": "tableRow", "content": [cell(t("a")), cell(t("b"))]},
            ],
        },
        {
            "type": "mediaGroup",
            "content": [
                {"type": "media", "attrs": {"id": "1", "type": "file", "collection": "c"}},
                {
                    "type": "media",
                    "attrs": {"id": "2", "type": "file", "collection": "c", "alt": "log.txt"},
                },
            ],
        },
        {"type": "blockCard", "attrs": {"url": "https://x.example/page"}},
        {
            "type": "taskList",
            "content": [{"type": "taskItem", "attrs": {"state": "TODO"}, "content": [t("do it")]}],
        },
        {"type": "extension", "attrs": {"extensionKey": "macro", "text": "macro text"}},
        {"type": "bodiedExtension", "content": [p(t("body"))]},
    )
    assert adf_to_markdown(adf) == (
        "In a panel\n\n- hidden\n\n**Key** | Value\n\na | b\n\n"
        r"\[attachment\] \[attachment: log.txt\]"
        "\n\n<https://x.example/page>\n\ndo it\n\nmacro text\n\nbody"
    )
    assert markdown_to_adf(adf_to_markdown(adf)) == normalize_adf(adf)


def test_mention_without_any_name_disappears() -> None:
    assert adf_to_markdown(doc(p({"type": "mention", "attrs": {}}))) == ""


def test_deep_nesting_does_not_crash() -> None:
    node: Node = p(t("leaf"))
    for _ in range(2000):
        node = ul(li(node))
    markdown = adf_to_markdown(doc(node))
    assert markdown.endswith("leaf")
    assert markdown_to_adf(markdown) == normalize_adf(doc(node))
    assert markdown_to_adf("> " * 2000 + "x")["content"]


# ---------------------------------------------------------------------------
# Round trips

CORPUS: list[Node] = [case[2] for case in BOTH_WAYS] + [
    doc(
        h(1, t("Incident "), t("42", CODE)),
        p(
            t("Customers saw "),
            t("HTTP 500", STRONG),
            t(" from "),
            t("checkout", link("https://x.example/c")),
        ),
        ul(
            li(
                p(t("started 10:02")),
                ol(2, li(p(t("paged"))), li(p(t("rolled back"), BR, t("at 10:30")))),
            ),
            li(code_block("kubectl rollout undo deploy/api", "sh")),
        ),
        quote(p(t("It was DNS", EM)), code_block("dig +short api")),
        RULE,
        p(t("root_cause: "), t("stale cache", STRIKE), t(" config")),
    ),
    doc(
        p(
            t("a", EM),
            t("b", STRONG),
            t("c", STRIKE),
            t("d", CODE),
            t("e", link("https://x.example")),
        )
    ),
    doc(p(t("x"), t("y", STRONG), t("z"), BR, t("(", EM), t("q", EM, STRONG), t(")", EM))),
    doc(ul(li(p(t("a"))), li(p(), ul(li(p(t("b")))))), ul(li(p(t("c"))))),
    doc(ol(5, li(p(t("five"))), li(p(t("six")))), ol(1, li(p(t("one"))))),
    doc(p(t("[x]* _y_ `z` \\ <a> # - 1. ~~"))),
    doc(p(t("line one")), p(t("#"), BR, t("-"), BR, t("1."), BR, t(">"))),
]


@pytest.mark.parametrize("adf", CORPUS, ids=lambda d: json.dumps(d)[:60])
def test_canonical_documents_survive_a_round_trip(adf: Node) -> None:
    assert normalize_adf(adf) == adf
    markdown = adf_to_markdown(adf)
    assert markdown_to_adf(markdown) == adf
    assert adf_to_markdown(markdown_to_adf(markdown)) == markdown


ALPHABET = [
    "a", "b", "word", "é", "1", " ", "  ", "\t", "*", "_", "~", "`", "[", "]", "(", ")",
    "<", ">", "#", "-", "+", ".", "!", "\\", "&", "amp;", "https://x.example", "1.", "- ",
    "# ", "> ", "```", "~~~", "***", "---", "\u00a0",
]  # fmt: skip
HREFS = [
    "https://e.example/a",
    "https://e.example/(p)",
    "a b",
    "<x>",
    "C:\\dir",
    "mailto:a@b.example",
]


def random_text(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 6)))


def random_marks(rng: random.Random) -> list[Node]:
    marks = [mark for mark in (EM, STRONG, STRIKE, CODE) if rng.random() < 0.25]
    if rng.random() < 0.2:
        marks.append(link(rng.choice(HREFS), rng.choice(["", "T", 'say "hi"'])))
    rng.shuffle(marks)
    return marks


def random_inline(rng: random.Random) -> list[Node]:
    nodes: list[Node] = []
    for _ in range(rng.randint(0, 7)):
        roll = rng.random()
        if roll < 0.8:
            nodes.append(t(random_text(rng), *random_marks(rng)))
        elif roll < 0.9:
            nodes.append(BR)
        else:
            nodes.append({"type": "mention", "attrs": {"id": "1", "text": "@Al *B*"}})
    return nodes


def random_block(rng: random.Random, depth: int) -> Node:
    roll = rng.random() if depth < 3 else rng.random() * 0.55
    if roll < 0.35:
        return p(*random_inline(rng))
    if roll < 0.45:
        return h(rng.randint(1, 6), *random_inline(rng))
    if roll < 0.55:
        return code_block(random_text(rng).replace("-", "\n"), rng.choice(["", "py", "c++"]))
    if roll < 0.6:
        return RULE
    if roll < 0.8:
        items = [
            li(*(random_block(rng, depth + 1) for _ in range(rng.randint(1, 3))))
            for _ in range(rng.randint(1, 3))
        ]
        return ul(*items) if rng.random() < 0.5 else ol(rng.choice([0, 1, 9]), *items)
    if roll < 0.9:
        return quote(*(random_block(rng, depth + 1) for _ in range(rng.randint(1, 3))))
    return {"type": "panel", "content": [random_block(rng, depth + 1)]}


@pytest.mark.parametrize("seed", range(300))
def test_random_documents_round_trip_to_their_normal_form(seed: int) -> None:
    """Arbitrary (non-canonical) docs: the round trip gives exactly normalize_adf(doc)."""
    rng = random.Random(seed)
    adf = doc(*(random_block(rng, 0) for _ in range(rng.randint(0, 5))))
    normal = normalize_adf(adf)
    markdown = adf_to_markdown(adf)
    assert markdown_to_adf(markdown) == normal
    assert normalize_adf(normal) == normal
    assert adf_to_markdown(normal) == markdown


MARKDOWN_TOKENS = [
    "a", "word", "é", "1", " ", "  ", "*", "**", "***", "_", "__", "~~", "~", "`", "``", "[",
    "](", "](https://x.example)", ")", "<https://a.example>", "<", ">", "#", "# ", "## ", "- ",
    "* ", "+ ", "1. ", "3) ", "\n", "\n", "\n\n", "  ", "    ", "> ", "```", "```py", "~~~",
    "---", "\\", "\\*", "!", "&amp;",
]  # fmt: skip


@pytest.mark.parametrize("seed", range(300))
def test_random_markdown_normalises_to_a_fixed_point(seed: int) -> None:
    rng = random.Random(seed)
    markdown = "".join(rng.choice(MARKDOWN_TOKENS) for _ in range(rng.randint(0, 40)))
    adf = markdown_to_adf(markdown)
    normalised = adf_to_markdown(adf)
    assert normalize_adf(adf) == adf
    assert markdown_to_adf(normalised) == adf
    assert adf_to_markdown(markdown_to_adf(normalised)) == normalised
