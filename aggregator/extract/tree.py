"""The page's tree: HTML text -> lxml tree, bounded in size and depth before anything walks it.

Pure. Every later step may assume the limits set here."""

from __future__ import annotations

import re

import lxml.etree as etree
import lxml.html

MAX_CHARS = 2_500_000  # characters of decoded HTML handed to the parser
MAX_DEPTH = 120  # element nesting kept; deeper subtrees are flattened to their text
MAX_TEXT_NODE = 200_000  # characters kept of a single text node (a 9 MB single line)

_PARSER = lxml.html.HTMLParser(
    remove_comments=True, remove_pis=True, collect_ids=False, default_doctype=False
)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*>", re.I)
DROP_TAGS = (
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "math",
    "iframe",
    "object",
    "embed",
    "canvas",
)


def parse_html(html: str) -> lxml.html.HtmlElement | None:
    html = _XML_DECL.sub("", html[:MAX_CHARS], count=1)
    if not html.strip():
        return None
    try:
        root = lxml.html.document_fromstring(html, parser=_PARSER)
    except (etree.ParserError, ValueError):
        try:
            root = lxml.html.fromstring(f"<html><body>{html}</body></html>", parser=_PARSER)
        except (etree.ParserError, ValueError):
            return None
    return root if isinstance(root, lxml.html.HtmlElement) else None


def bound_tree(root: lxml.html.HtmlElement) -> None:
    """Keep pathological pages cheap: flatten subtrees nested deeper than MAX_DEPTH into their
    text and cut giant text nodes, so extraction time stays bounded."""
    stack: list[tuple[etree._Element, int]] = [(root, 0)]
    while stack:
        el, depth = stack.pop()
        if el.text and len(el.text) > MAX_TEXT_NODE:
            el.text = el.text[:MAX_TEXT_NODE]
        if el.tail and len(el.tail) > MAX_TEXT_NODE:
            el.tail = el.tail[:MAX_TEXT_NODE]
        if depth >= MAX_DEPTH and len(el):
            text = " ".join(t for t in el.itertext() if t.strip())[:MAX_TEXT_NODE]
            for child in list(el):
                el.remove(child)
            el.text = text
            continue
        stack.extend((child, depth + 1) for child in el if isinstance(child.tag, str))
