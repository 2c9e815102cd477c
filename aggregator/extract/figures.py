"""What the text extractor leaves out of an article and a reader still wants, put back into the
body's HTML where the page had it: figures (images with their captions) and section headings.
The text extractor runs without images (captions and credits would count as article text), and
it or its classifier drops many section headings (the references it is scored against mostly
leave them out; trafilatura's recovery of loose paragraphs never takes them). Both are restored
to `content_html` only; the text stays as scored.

Pure: reads the page tree, changes only the HTML tree it is given."""

from __future__ import annotations

from dataclasses import dataclass

import lxml.etree as etree
import lxml.html

from .blocks import PROMO

MAX_FIGURES = 50  # figures restored to one article
MAX_HEADINGS = 100  # section headings restored to one article
MAX_HEADING_CHARS = 200  # longer is a paragraph set in a heading's type, not a section's name
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
# Page elements that may hold one body block: trafilatura's lists and tables are one block each.
_BLOCKS = {"p", "li", "blockquote", "pre", "td", "dd", "ul", "ol", "dl", "table", *_HEADINGS}
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


@dataclass(frozen=True)
class Heading:
    """A section heading of the page (level 2-6) and the article block it follows."""

    text: str
    level: int
    after: int


def _key(text: str) -> str:
    # without any whitespace: trafilatura joins a list's items and a table's cells without it
    key = "".join(text[: 8 * _KEY_CHARS].split())[:_KEY_CHARS]
    if len(key) < _KEY_CHARS < len(text):  # mostly whitespace so far: look at all of it
        key = "".join(text.split())[:_KEY_CHARS]
    return key


def _start(el: etree._Element, chars: int) -> str:
    """The start of an element's text with its whitespace collapsed: at least `chars`
    characters besides spaces when it has them. Bounded work: the elements looked at nest
    (a list in a list item in a table), and their whole texts would be read once per level."""
    parts: list[str] = []
    seen = 0
    for text in el.itertext():
        parts.append(text)
        seen += len("".join(text.split()))
        if seen >= chars:
            break
    return " ".join("".join(parts).split())


def _image(figure: etree._Element) -> tuple[str, str] | None:
    for img in figure.iter("img"):
        if _declared_small(img):
            continue
        # a lazily loaded picture names its file in a data- attribute; its src is a placeholder
        lazy = next((img.get(a, "").strip() for a in _LAZY_SRC if img.get(a)), "")
        src = lazy if lazy and not lazy.startswith("data:") else (img.get("src") or "").strip()
        if src and not src.startswith("data:"):
            return src, " ".join((img.get("alt") or "").split())
    return None


def find_figures(root: etree._Element, blocks: list[str]) -> list[Figure | Heading]:
    """What to put back into the article's HTML, in page order. The article is the smallest
    element holding every page block whose text is one of the body's `blocks` (top-level block
    texts of the extracted body, in order). Figures: its <figure> images; after the last of
    those blocks only when no other text comes between (a closing picture; related stories
    come with their headlines) and neither the picture nor its caption is a link. Section
    headings: its h1-h6 that are not in the body, lie after one of its blocks and open body
    text (the next text block of the page is one of the body's: a heading followed by
    anything else names something that is not the article, such as related stories or
    comments), short and not a link. Each is placed after the last body block before it."""
    if not blocks:
        return []
    index = {_key(b): i for i, b in reversed(list(enumerate(blocks))) if _key(b)}
    matched: list[tuple[etree._Element, int]] = []  # page block -> body block index
    # figure or heading, its position among `matched`, its place in the page
    extras: list[tuple[etree._Element, int, int]] = []
    pending: list[tuple[etree._Element, int, int]] = []  # headings waiting for a text block
    closing: set[int] = set()  # figures (ids) with no other text since the last match
    loose = False  # other text since the last match
    for order, el in enumerate(root.iter("figure", "img", *_BLOCKS)):
        tag = el.tag
        # a loose picture before the article's first block is a logo or a byline's portrait
        # as often as the lead picture, which the page's metadata names anyway
        if tag == "figure" or (tag == "img" and matched and _is_free_picture(el)):
            extras.append((el, len(matched), order))
            if not loose and not _is_link(el):
                closing.add(id(el))
        elif tag in _BLOCKS:
            key = _key(el.text_content())
            i = index.get(key)
            if i is not None:
                matched.append((el, i))
                extras.extend(pending)
                pending, loose = [], False
                continue
            if key and not loose and not any(a.tag == "figure" for a in el.iterancestors()):
                loose = True  # a caption's paragraph is not text between
            if tag in _HEADINGS and matched and _is_section_name(el):
                pending.append((el, len(matched), order))
            elif key:
                pending = []
    if not extras or not matched:
        return []
    first, last = matched[0][0], matched[-1][0]
    around_last = set(last.iterancestors())
    container = next((a for a in first.iterancestors() if a in around_last), None)
    if container is None:
        return []
    extras.sort(key=lambda extra: extra[1:])
    found: list[Figure | Heading] = []
    figures = headings = 0
    sources: set[str] = set()  # a picture shown once
    for el, position, _ in extras:
        if not any(a is container for a in el.iterancestors()):
            continue
        if position >= len(matched) and id(el) not in closing:
            continue
        after = matched[position - 1][1] if position > 0 else -1
        if el.tag in _HEADINGS:
            if headings < MAX_HEADINGS:
                level = max(2, int(str(el.tag)[1]))  # the page's title is the reader's h1
                found.append(Heading(_start(el, MAX_HEADING_CHARS), level, after))
                headings += 1
            continue
        image = _image(el)
        if image is None or image[0] in sources or figures >= MAX_FIGURES:
            continue
        sources.add(image[0])
        caption_el = el.find(".//figcaption")
        caption = " ".join(caption_el.text_content().split()) if caption_el is not None else ""
        found.append(Figure(src=image[0], alt=image[1], caption=caption, after=after))
        figures += 1
    return found


# Pictures declared smaller than this (in CSS pixels, every side they declare) are icons,
# avatars, spacers, counters: never shown, in a <figure> or not.
MIN_PICTURE_SIDE = 100
_NOT_ARTICLE = frozenset({"aside", "nav", "header", "footer", "form", "button", "figure"})


def _is_free_picture(img: etree._Element) -> bool:
    """An <img> outside any <figure> that may be one of the article's pictures: not declared
    small, not in a page's furniture, not a link to another page (a link to the picture's own
    larger file is fine)."""
    if _declared_small(img) or _leads_elsewhere(img):
        return False
    return not any(a.tag in _NOT_ARTICLE for a in img.iterancestors())


def _leads_elsewhere(img: etree._Element) -> bool:
    """The picture sits in a link to another page (not to its own larger file)."""
    return any(
        a.tag == "a" and not _is_picture_file(a.get("href") or "") for a in img.iterancestors()
    )


def _mostly_linked(el: etree._Element, text: str) -> bool:
    """At least half of `text` (the element's words, whitespace collapsed) is link text."""
    linked = sum(len(" ".join(a.text_content().split())) for a in el.iter("a"))
    return linked >= len(text) / 2


def _declared_small(img: etree._Element) -> bool:
    """Every side the picture declares in pixels is under MIN_PICTURE_SIDE (one side alone
    says little: a height of 0 or 1 is often a placeholder until the picture loads)."""
    sides = [(img.get(side) or "").strip() for side in ("width", "height")]
    pixels = [int(v[:6]) for v in sides if v.isascii() and v.isdigit()]
    return bool(pixels) and all(p < MIN_PICTURE_SIDE for p in pixels)


def _is_picture_file(href: str) -> bool:
    path = href.split("?", 1)[0].split("#", 1)[0].casefold()
    return path.endswith((".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif"))


def _is_link(figure: etree._Element) -> bool:
    """Whether a figure leads elsewhere: its picture in a link, or a caption mostly linked."""
    if any(_leads_elsewhere(img) for img in figure.iter("img")):
        return True
    caption = figure.find(".//figcaption")
    if caption is None:
        return False
    text = " ".join(caption.text_content().split())
    return bool(text) and _mostly_linked(caption, text)


def _is_section_name(heading: lxml.html.HtmlElement) -> bool:
    words = _start(heading, MAX_HEADING_CHARS + 1)
    if not words or len(words) > MAX_HEADING_CHARS or PROMO.match(words):
        return False
    return not _mostly_linked(heading, words)


def insert_figures(body: etree._Element, figures: list[Figure | Heading]) -> None:
    """Insert each figure (img and figcaption) or heading into the HTML `body` after its
    block."""
    children = list(body)
    for figure in reversed(figures):  # back to front: earlier indexes stay valid
        if isinstance(figure, Heading):
            el = etree.Element(f"h{figure.level}")
            el.text = figure.text
        else:
            el = etree.Element("figure")
            etree.SubElement(el, "img", src=figure.src, alt=figure.alt)
            if figure.caption:
                etree.SubElement(el, "figcaption").text = figure.caption
        if figure.after < 0:
            body.insert(0, el)
        elif figure.after < len(children):
            children[figure.after].addnext(el)
            el.tail = None
