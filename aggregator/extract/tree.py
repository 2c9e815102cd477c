"""The page's tree: HTML text -> lxml tree, bounded in size and depth before anything walks it.

Pure. Every later step may assume the limits set here."""

from __future__ import annotations

import re

import lxml.etree as etree
import lxml.html

MAX_CHARS = 2_500_000  # characters of decoded HTML handed to the parser
MAX_DEPTH = 120  # element nesting kept; deeper subtrees are flattened to their text
MAX_TEXT_NODE = 200_000  # characters kept of a single text node (a 9 MB single line)
# Elements kept, in document order. The largest page of the extraction corpora has about
# 10,000; extraction costs roughly 0.1 ms per element, so this keeps a page to a few seconds.
MAX_NODES = 20_000

_PARSER = etree.HTMLParser(
    remove_comments=True, remove_pis=True, collect_ids=False, default_doctype=False
)
# lxml.html's own parser picks each element's class in a Python callback (a few special classes
# for form fields), called whenever an element is first touched from Python: about 6 % of the
# extraction time. The same HtmlElement classes chosen in C; nothing here or in trafilatura
# uses the form-field classes (identical output on every corpus page).
_PARSER.set_element_class_lookup(
    etree.ElementDefaultClassLookup(
        element=lxml.html.HtmlElement,
        comment=lxml.html.HtmlComment,
        pi=lxml.html.HtmlProcessingInstruction,
        entity=lxml.html.HtmlEntity,
    )
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


# Tags that only group or style text: removed (their text kept) when a page nests elements
# deeper than the HTML parser follows, so the text below that depth is not lost.
_WRAPPERS = re.compile(
    r"</?(?:div|span|section|article|main|aside|header|footer|font|center|b|i|u|s|em|strong|"
    r"small|big|mark|sup|sub|nav|form|label)\b[^>]*>",
    re.I,
)


def _too_deep() -> bool:
    return any(e.type_name == "ERR_RESOURCE_LIMIT" for e in _PARSER.error_log)


def _parse_once(html: str) -> lxml.html.HtmlElement | None:
    try:
        root = lxml.html.document_fromstring(html, parser=_PARSER)
    except (etree.ParserError, ValueError):
        try:
            root = lxml.html.fromstring(f"<html><body>{html}</body></html>", parser=_PARSER)
        except (etree.ParserError, ValueError):
            return None
    return root if isinstance(root, lxml.html.HtmlElement) else None


def parse_html(html: str) -> lxml.html.HtmlElement | None:
    """The page's tree (libxml2's HTML parser, recovering from errors as browsers do), or None
    for a page without markup or text. libxml2 stops at 256 levels of nesting and drops what
    lies deeper; such a page is parsed again without its grouping tags."""
    html = _XML_DECL.sub("", html[:MAX_CHARS], count=1)
    if not html.strip():
        return None
    root = _parse_once(html)
    if root is not None and _too_deep():
        flat = _parse_once(_WRAPPERS.sub(" ", html))
        root = flat if flat is not None else root
    return root


# XPath runs in C: walking every element in Python cost a tenth of the extraction time.
_COUNT = etree.XPath("count(//*)")
_NTH = etree.XPath("(//*)[$n]")
_TOO_DEEP = etree.XPath("/*" + "/*" * MAX_DEPTH + "[*]")  # at depth MAX_DEPTH, with children
_LONG_TEXT = etree.XPath(f"//text()[string-length(.) > {MAX_TEXT_NODE}]")


def _cut_after(root: etree._Element, limit: int) -> None:
    """Drop every element after the first `limit` in document order (the page is truncated,
    as if it had ended there)."""
    if _COUNT(root) <= limit:
        return
    found = _NTH(root, n=limit + 1)
    if not isinstance(found, list) or not found or not isinstance(found[0], etree._Element):
        return
    cut = found[0]
    node = cut
    while node is not root:
        parent = node.getparent()
        if parent is None:
            break
        for sibling in list(node.itersiblings()):
            parent.remove(sibling)
        node = parent
    parent = cut.getparent()
    if parent is not None:
        parent.remove(cut)


def loose_text(root: etree._Element) -> str:
    """The text a page's <body> holds outside any element (a page that is one long line of
    text, or text with only line breaks), when that is most of its text; else ''."""
    body = root.find("body")
    if body is None:
        return ""
    loose = [body.text or ""] + [child.tail or "" for child in body]
    loose_len = sum(len(t.strip()) for t in loose)
    if loose_len < 200 or loose_len < 0.8 * len(body.text_content().strip()):
        return ""
    lines = (" ".join(line.split()) for t in loose for line in t.splitlines())
    return "\n\n".join(line for line in lines if line)


def bound_tree(root: lxml.html.HtmlElement, *, source_chars: int = MAX_CHARS) -> None:
    """Keep pathological pages cheap: keep the first MAX_NODES elements, flatten subtrees
    nested deeper than MAX_DEPTH into their text and cut giant text nodes, so extraction time
    stays bounded. `source_chars`, the length of the HTML parsed, bounds every text node (no
    text is longer than the markup it came from): giant ones are only looked for when it
    allows them."""
    _cut_after(root, MAX_NODES)
    for el in _TOO_DEEP(root):
        if isinstance(el, etree._Element):
            text = " ".join(t for t in el.itertext() if t.strip())[:MAX_TEXT_NODE]
            for child in list(el):
                el.remove(child)
            el.text = text
    for text in _LONG_TEXT(root) if source_chars > MAX_TEXT_NODE else ():
        parent = getattr(text, "getparent", lambda: None)()
        if parent is None:
            continue
        if getattr(text, "is_tail", False):
            parent.tail = (parent.tail or "")[:MAX_TEXT_NODE]
        else:
            parent.text = (parent.text or "")[:MAX_TEXT_NODE]
