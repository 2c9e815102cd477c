"""RSS 0.9x/1.0/2.0 and Atom documents -> ParsedFeed, through fastparse or feedparser (this
package is the only feedparser user). Pure: no I/O, no SQL. The bytes come from guard.py: UTF-8,
with nothing in their DTD a parser could expand without bound. feedparser always gets them as
bytes: given a str or a path it would open local files."""

from __future__ import annotations

import io
import re
from typing import Any

import feedparser
import feedparser.mixin

from ..errors import NotAFeedError, ParseError
from ..feedrules import MAX_AUTHOR_SCAN
from ..models import Entry, ParsedFeed
from ..sanitize import MAX_FIELD, clean_text, safe_url
from .budget import FAST_MARKUP, SLOW_MARKUP, Cut, cut_document
from .dates import MAX_DATE_CHARS, feedparser_date, iso_of_tuple
from .guard import prepare_xml
from .values import MAX_KEY, dedupe_keys, hash_key, one_line, ttl_minutes

_TAIL_CLOSERS = (b"</rss>", b"</feed>", b"</rdf:rdf>", b"</rdf>", b"</channel>")

# feedparser resolves relative URIs itself; our own sanitiser (nh3) runs later on the content,
# so feedparser's slower one is switched off.
feedparser.SANITIZE_HTML = False
feedparser.RESOLVE_RELATIVE_URIS = True


def _bound_author_scan() -> None:
    """feedparser's _sync_author_detail searches an author for an email with a pattern that is
    quadratic in its length (a 300,000-character author took minutes): it gets the first
    MAX_AUTHOR_SCAN characters, as fastparse's replay does."""
    mixin: Any = feedparser.mixin._FeedParserMixin
    original = getattr(mixin, "_sync_author_detail", None)
    if original is None or getattr(original, "bounded", False):
        return

    def bounded(self: Any, key: str = "author") -> None:
        context = self._get_context()
        value = context.get(key)
        if isinstance(value, str) and len(value) > MAX_AUTHOR_SCAN:
            context[key] = value[:MAX_AUTHOR_SCAN]
        original(self, key)

    bounded.bounded = True  # type: ignore[attr-defined]
    mixin._sync_author_detail = bounded


_bound_author_scan()

_FAST_HELPERS: Any = None


def _fast_helpers() -> Any:
    """feedparser's own small functions for fastparse (which does not import feedparser)."""
    global _FAST_HELPERS
    if _FAST_HELPERS is None:
        from feedparser.html import _cp1252
        from feedparser.mixin import _FeedParserMixin
        from feedparser.urls import _urljoin, resolve_relative_uris

        from ..fastparse import Helpers

        def has_handler(name: str) -> bool:
            return hasattr(_FeedParserMixin, "_start_" + name) or hasattr(
                _FeedParserMixin, "_end_" + name
            )

        _FAST_HELPERS = Helpers(
            urljoin=_urljoin,
            looks_like_html=_FeedParserMixin.looks_like_html,
            resolve_relative_uris=resolve_relative_uris,
            parse_date=feedparser_date,
            cp1252=_cp1252,
            has_handler=has_handler,
        )
    return _FAST_HELPERS


def parse_xml_feed(
    body: bytes,
    *,
    url: str,
    content_type: str | None,
    charset: str | None,
    max_entries: int,
    fast: bool = True,
) -> ParsedFeed:
    """An XML feed document -> ParsedFeed; ParseError when guard.py refuses it, NotAFeedError
    when no parser finds a feed in it."""
    safe = prepare_xml(body, url=url, charset=charset)
    warnings = list(safe.warnings)
    cut = cut_document(
        safe.body, max_entries=max_entries, max_markup=FAST_MARKUP, url=url, structure_only=fast
    )
    # The bytes are UTF-8 now: say so to both parsers, or feedparser would read a document
    # without a content type as ISO-8859-1, and one served as text/xml as US-ASCII.
    content_type, charset = content_type or "application/xml", "utf-8"
    d: Any = None
    if fast:
        from ..fastparse import read_feed

        d = read_feed(
            cut.body, url=url, content_type=content_type, charset=charset, helpers=_fast_helpers()
        )
    if d is None:
        slow = cut_document(cut.body, max_entries=max_entries, max_markup=SLOW_MARKUP, url=url)
        cut = Cut(slow.body, slow.warning or cut.warning)
        headers = {"content-location": url}
        if content_type:
            headers["content-type"] = content_type + (f"; charset={charset}" if charset else "")
        try:
            d = feedparser.parse(io.BytesIO(cut.body), response_headers=headers)
        except Exception as failure:  # feedparser's own failure on a document it cannot read
            reason = type(failure).__name__
            raise ParseError(f"not a feed: unreadable ({reason})", url=url) from failure
    version = d.get("version") or ""
    raw_entries = list(d.get("entries") or [])
    if not version and not raw_entries:
        exc = d.get("bozo_exception")
        reason = one_line(exc) if exc else "no RSS, Atom or JSON Feed document found"
        raise NotAFeedError(f"not a feed: {reason}", url=url)

    if cut.warning:
        warnings.append(cut.warning)
    if d.get("bozo"):
        warnings.append(one_line(d.get("bozo_exception")))
    truncated = bool(d.get("bozo")) and not any(
        closer in cut.body[-4096:].lower() for closer in _TAIL_CLOSERS
    )
    if truncated and raw_entries:
        # The last entry of a cut-off document may itself be cut off: keep only complete ones.
        raw_entries = raw_entries[:-1]
        warnings.append("document truncated: its last entry was dropped")

    feed = d.get("feed", {})
    site_url = safe_url(feed.get("link"), url)
    entries = dedupe_keys(
        e
        for e in (_entry_from_feedparser(raw, base=url) for raw in raw_entries[:max_entries])
        if e is not None
    )
    return ParsedFeed(
        version=version or "unknown",
        title=_text(feed, "title"),
        site_url=site_url,
        description=_text(feed, "subtitle", limit=2000),
        ttl_minutes=ttl_minutes(feed.get("ttl")),
        entries=tuple(entries),
        warnings=tuple(w for w in warnings if w),
    )


def _text(obj: Any, key: str, *, limit: int = 1000) -> str:
    value = obj.get(key)
    if not value:
        return ""
    detail = obj.get(f"{key}_detail") or {}
    is_html = "html" in str(detail.get("type", "text/html"))
    return clean_text(str(value), is_html=is_html, limit=limit)


def _entry_from_feedparser(raw: Any, *, base: str) -> Entry | None:
    link = safe_url(raw.get("link"), base)
    if not link:
        for lnk in raw.get("links", []):
            if lnk.get("rel", "alternate") == "alternate":
                link = safe_url(lnk.get("href"), base)
                if link:
                    break
    title = _text(raw, "title")
    contents = [c.get("value", "") for c in raw.get("content", []) if c.get("value")]
    content = max(contents, key=len) if contents else ""
    summary = raw.get("summary", "") or ""
    if not content:
        content, summary = summary, ""
    elif summary and _same_text(summary, content):
        summary = ""
    content = content[:MAX_FIELD]
    summary = summary[:MAX_FIELD]
    if not (title or link or content.strip()):
        return None  # empty entries (feedparser makes one from a cut-off document)

    guid = (raw.get("id") or "").strip()
    key = guid or link or hash_key(title, content)
    author = _author(raw)
    published = _date(raw, "published") or _date(raw, "created")
    updated = _date(raw, "updated")
    if not published:
        published = updated
    categories = tuple(
        dict.fromkeys(
            t
            for t in (
                clean_text(tag.get("term") or tag.get("label"), limit=200)
                for tag in raw.get("tags", []) or []
            )
            if t
        )
    )[:50]
    image = None
    media = raw.get("media_thumbnail") or raw.get("media_content") or []
    if media and isinstance(media, list):
        image = safe_url(media[0].get("url"), link or base)
    enclosures = tuple(
        u
        for u in (safe_url(e.get("href"), link or base) for e in raw.get("enclosures", []) or [])
        if u
    )[:20]
    return Entry(
        key=key[:MAX_KEY],
        url=link,
        title=title,
        author=author,
        published=published,
        updated=updated,
        content_html=content,
        summary_html=summary,
        categories=categories,
        image=image,
        enclosures=enclosures,
    )


def _date(raw: Any, key: str) -> str | None:
    """An entry's date as feedparser read it; dict.get, because feedparser's own get() maps a
    missing published to updated (with a warning). A value longer than any date is not one
    (as fastparse's date reader says)."""
    if len(str(dict.get(raw, key) or "")) > MAX_DATE_CHARS:
        return None
    return iso_of_tuple(dict.get(raw, key + "_parsed"))


def _same_text(a: str, b: str) -> bool:
    return a.strip()[:200] == b.strip()[:200]


_EMAIL_NAME = re.compile(r"^\S+@\S+\s+\((.+)\)$")


def _author(raw: Any) -> str | None:
    name = None
    detail = raw.get("author_detail") or {}
    if detail.get("name"):
        name = detail.get("name")
    elif raw.get("author"):
        name = raw.get("author")
    elif raw.get("authors"):
        names = [a.get("name") for a in raw.get("authors") if a.get("name")]
        name = ", ".join(names) if names else None
    if not name:
        return None
    text = clean_text(str(name), limit=300)
    # RSS <author> is often "email (Name)": keep the name
    m = _EMAIL_NAME.match(text) if "@" in text else None
    if m:
        text = m.group(1).strip()
    return text or None
