"""Article extraction: web page bytes -> Article (main text, sanitised HTML, metadata, feed links).

Pure: no network, no SQL, no files. The steps live in submodules: decode (bytes -> text),
tree (parse and bound), metadata (meta tags, JSON-LD), body (the main content: trafilatura's
blocks, chosen by the learned classifier of blocks, classifier and block_model).
"""

from __future__ import annotations

import lxml.html

from aggregator.models import Article
from aggregator.sanitize import (
    clean_text,
    count_words,
    excerpt_of,
    html_to_text,
    reading_time,
    sanitize_html,
)

from .body import (
    DEFAULT_OPTIONS,
    BodyOptions,
    block_texts,
    body_html,
    body_text,
    choose_body,
    paragraphs_html,
    prune_body,
)
from .decode import decode_html, is_html_content_type
from .figures import find_figures
from .metadata import Metadata, clean_author, feed_links_of, normalise_date
from .tree import DROP_TAGS, MAX_CHARS, bound_tree, loose_text, parse_html

__all__ = [
    "BodyOptions",
    "decode_html",
    "extract_article",
    "find_feed_links",
    "is_html_content_type",
    "prepare_page",
]


def find_feed_links(body: bytes | str, *, url: str) -> tuple[str, ...]:
    """Feed URLs a page advertises with <link rel="alternate" type="application/rss+xml" (Atom,
    JSON Feed, RDF)>, absolute against the page URL (not <base href>), in page order, unique."""
    html = decode_html(body) if isinstance(body, bytes) else body
    root = parse_html(html)
    return feed_links_of(root, url) if root is not None else ()


def prepare_page(
    html: str, *, url: str
) -> tuple[lxml.html.HtmlElement, Metadata, tuple[str, ...]] | None:
    """The page's bounded tree without <base>, scripts, styles and embeds, with its metadata
    and feed links read before those go; None for a page without markup or text."""
    root = parse_html(html[:MAX_CHARS])
    if root is None:
        return None
    for base in root.xpath("//base"):
        base.drop_tree()
    bound_tree(root, source_chars=min(len(html), MAX_CHARS))
    meta = Metadata(root, url)
    feed_links = feed_links_of(root, url)
    for el in list(root.iter(DROP_TAGS)):
        if el.getparent() is not None:
            el.drop_tree()
    return root, meta, feed_links


def extract_article(
    body: bytes | str,
    *,
    url: str,
    http_charset: str | None = None,
    feed_html: str | None = None,
    feed_title: str | None = None,
    feed_author: str | None = None,
    feed_published: str | None = None,
    options: BodyOptions = DEFAULT_OPTIONS,
) -> Article:
    """The readable article of a page: main text without navigation, sidebars, related links,
    comments, banners, scripts or styles (trafilatura), plus title, author, published date
    (ISO 8601 UTC), site name, language, lead image, excerpt and feed links from meta tags,
    Open Graph, article:* and JSON-LD.

    What the feed says fills gaps: `feed_title`, `feed_author`, `feed_published` are used when
    the page has none; `feed_html` (the entry's own content) replaces the extracted body when it
    is at least as long as it (the feed carries the full article) or the page gave nothing.
    `<base href>` is ignored: links resolve against `url`. Never raises on bad HTML; huge or
    deeply nested pages are truncated so the time stays bounded. `options` is for the
    benchmark's comparisons; callers keep the default.
    """
    html = decode_html(body, http_charset=http_charset) if isinstance(body, bytes) else body
    page = prepare_page(html, url=url)
    meta: Metadata | None = None
    content_html = text = ""
    feed_links: tuple[str, ...] = ()
    if page is not None:
        root, meta, feed_links = page
        tbody = choose_body(root, options, title=meta.title or "")
        if tbody is not None:
            if options.prune_tail:
                prune_body(tbody)
            figures = find_figures(root, block_texts(tbody))
            content_html = sanitize_html(body_html(tbody, figures), base_url=url)
            text = body_text(tbody)
        else:
            text = loose_text(root)
            content_html = sanitize_html(paragraphs_html(text), base_url=url) if text else ""
    words = count_words(text)

    # JSON-LD articleBody rescues pages where the extractor found (next to) nothing.
    ld_body = meta.article_body if meta is not None else None
    if ld_body and count_words(ld_body) > max(50, 2 * words):
        is_markup = "<" in ld_body and ">" in ld_body
        content_html = sanitize_html(
            ld_body if is_markup else paragraphs_html(ld_body), base_url=url
        )
        text = html_to_text(content_html)
        words = count_words(text)

    if feed_html:
        feed_content = sanitize_html(feed_html, base_url=url)
        feed_text = html_to_text(feed_content)
        feed_words = count_words(feed_text)
        if feed_words and (words < 30 or feed_words >= 0.8 * words):
            content_html, text, words = feed_content, feed_text, feed_words

    excerpt = meta.excerpt if meta else None
    if not excerpt and text:
        first = text.split("\n\n", 1)[0]
        excerpt = excerpt_of(first)
    return Article(
        url=url,
        title=(meta.title if meta else None) or clean_text(feed_title) or None,
        author=(meta.author if meta else None) or clean_author(feed_author),
        published=(meta.published if meta else None) or normalise_date(feed_published),
        site_name=meta.site_name if meta else None,
        lang=meta.lang if meta else None,
        image=meta.image if meta else None,
        excerpt=excerpt or None,
        text=text,
        content_html=content_html,
        word_count=words,
        reading_time=reading_time(words),
        feed_links=feed_links,
    )
