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

The conversion is split by direction: adf_parse (with adf_parse_inline) reads
Markdown into ADF, adf_render writes canonical ADF as Markdown, adf_normalize
reads ADF from Jira (``normalize_adf``, ``adf_to_markdown``), and adf_common
holds what they share.
"""

from __future__ import annotations

from .adf_normalize import adf_to_markdown, normalize_adf
from .adf_parse import markdown_to_adf

__all__ = ["adf_to_markdown", "markdown_to_adf", "normalize_adf"]
