"""Figures of the article: images with their captions put back into the body's HTML where the
page had them. The text extractor runs without images (captions and credits would count as
article text); a reader still wants the pictures, so they are restored to `content_html` only.

Pure: reads the page tree, changes only the HTML tree it is given."""

from __future__ import annotations

from dataclasses import dataclass

import lxml.etree as etree
import lxml.html

MAX_FIGURES = 50  # figures restored to one article
_BLOCKS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "td", "dd"}
_LAZY_SRC = ("data-src", "data-lazy-src", "data-original", "data-url")
_KEY_CHARS = 200


@dataclass(frozen=True)
class Figure:
    """An image of the page with its caption, and the article block it follows (-1: before
    the first one)."""

    src: str
    alt: str
    caption: str
    after: int


def _key(text: str) -> str:
    return " ".join(text.split())[:_KEY_CHARS]


def _image(figure: etree._Element) -> tuple[str, str] | None:
    for img in figure.iter("img"):
        src = (img.get("src") or "").strip()
        if not src or src.startswith("data:"):
            src = next((img.get(a, "").strip() for a in _LAZY_SRC if img.get(a)), "")
        if src and not src.startswith("data:"):
            return src, " ".join((img.get("alt") or "").split())
    return None


def find_figures(root: etree._Element, blocks: list[str]) -> list[Figure]:
    """The page's <figure> images that lie inside the article: the smallest element holding
    every page block whose text is one of the body's `blocks` (top-level block texts of the
    extracted body, in order), and not after the last of those blocks. Each figure is placed
    after the last body block before it."""
    if root.find(".//figure") is None or not blocks:
        return []
    index = {_key(b): i for i, b in reversed(list(enumerate(blocks))) if _key(b)}
    matched: list[tuple[etree._Element, int]] = []  # page block -> body block index
    figures: list[tuple[etree._Element, int]] = []  # figure -> position among `matched`
    for el in root.iter():
        tag = el.tag
        if tag == "figure":
            figures.append((el, len(matched)))
        elif tag in _BLOCKS and isinstance(el, lxml.html.HtmlElement):
            i = index.get(_key(el.text_content()))
            if i is not None:
                matched.append((el, i))
    if not figures or not matched:
        return []
    first, last = matched[0][0], matched[-1][0]
    around_last = set(last.iterancestors())
    container = next((a for a in first.iterancestors() if a in around_last), None)
    if container is None:
        return []
    found: list[Figure] = []
    for fig, position in figures:
        # After the article's last block come related stories with their thumbnails.
        if position >= len(matched) or not any(a is container for a in fig.iterancestors()):
            continue
        image = _image(fig)
        if image is None:
            continue
        caption_el = fig.find(".//figcaption")
        caption = " ".join(caption_el.text_content().split()) if caption_el is not None else ""
        after = matched[position - 1][1] if position > 0 else -1
        found.append(Figure(src=image[0], alt=image[1], caption=caption, after=after))
        if len(found) >= MAX_FIGURES:
            break
    return found


def insert_figures(body: etree._Element, figures: list[Figure]) -> None:
    """Insert each figure (img and figcaption) into the HTML `body` after its block."""
    children = list(body)
    for figure in reversed(figures):  # back to front: earlier indexes stay valid
        el = etree.Element("figure")
        etree.SubElement(el, "img", src=figure.src, alt=figure.alt)
        if figure.caption:
            etree.SubElement(el, "figcaption").text = figure.caption
        if figure.after < 0:
            body.insert(0, el)
        elif figure.after < len(children):
            children[figure.after].addnext(el)
            el.tail = None
