"""Feed parsing: feed bytes -> ParsedFeed. Pure: no I/O, no SQL; the only feedparser user.

RSS 0.9x/1.0/2.0 and Atom go through feedparser, always as bytes (given a str or path it would
open local files). JSON Feed 1.0/1.1 is read from JSON. Text fields come out as plain text,
links absolute, dates as UTC ISO 8601 (`2024-05-01T09:30:00Z`).
"""

from __future__ import annotations

import calendar
import hashlib
import io
import json
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import feedparser
import feedparser.datetimes

from .errors import NotAFeedError, ParseError
from .models import Entry, ParsedFeed
from .sanitize import MAX_FIELD, clean_text, safe_url

MAX_ENTRIES = 10_000
MAX_KEY = 2_000
_TAIL_CLOSERS = (b"</rss>", b"</feed>", b"</rdf:rdf>", b"</rdf>", b"</channel>")
_HTML_START = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*(?:<!doctype\s+html|<html|<head|<body)", re.I | re.S
)

# feedparser resolves relative URIs itself; our own sanitiser (nh3) runs later on the content,
# so feedparser's slower one is switched off.
feedparser.SANITIZE_HTML = False
feedparser.RESOLVE_RELATIVE_URIS = True


def parse_feed(
    body: bytes,
    *,
    url: str,
    content_type: str | None = None,
    charset: str | None = None,
    max_entries: int = MAX_ENTRIES,
    fast: bool = True,
) -> ParsedFeed:
    """Parse a feed document. Raises NotAFeedError for empty, HTML or binary bodies and
    ParseError for a JSON Feed with the wrong shape. With `fast`, well-formed RSS 2.0 and Atom
    go through fastparse (same results as feedparser, checked on the corpora)."""
    if not isinstance(body, (bytes, bytearray)):
        raise TypeError("parse_feed takes the body as bytes")
    stripped = bytes(body).lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise NotAFeedError("empty response: no feed document", url=url)
    ctype = (content_type or "").lower()
    if stripped[:1] in (b"{", b"[") or "json" in ctype:
        return parse_json_feed(stripped, url=url, max_entries=max_entries)
    if _looks_binary(stripped[:512]):
        raise NotAFeedError("not a feed: binary content", url=url)
    if _HTML_START.match(stripped[:2048]):
        raise NotAFeedError("not a feed: the address gives an HTML page", url=url)
    refusal = entity_refusal(stripped)
    if refusal:
        raise ParseError(f"refused: {refusal}", url=url)
    return _parse_xml_feed(
        _cut_after_entries(bytes(body), max_entries),
        url=url,
        content_type=content_type,
        charset=charset,
        max_entries=max_entries,
        fast=fast,
    )


_DOCTYPE = re.compile(rb"<!DOCTYPE\b", re.I)
_ENTITY = re.compile(rb"<!ENTITY\s+(%\s*)?[^\s\"']+\s+(\"[^\"]*\"|'[^']*'|SYSTEM\b|PUBLIC\b)", re.S)
_NAMED_REFERENCE = re.compile(rb"[&%][A-Za-z_:][\w.:-]*;")
_W3C_ENTITIES = re.compile(
    rb"\s*[\"']-//W3C//ENTITIES [^\"']*[\"']\s*[\"']https?://www\.w3\.org/[^\"']*[\"']\s*>"
)
MAX_SUBSET = 64 * 1024  # bytes of DOCTYPE internal subset looked at (real feeds have a few lines)


def entity_refusal(body: bytes) -> str | None:
    """Why a document's DOCTYPE is refused, or None. Entities are never expanded by our parsers
    (checked by tests), but a document that declares external entities (XXE), parameter
    entities, entities built from other entities (billion laughs) or huge ones (quadratic
    blowup) is an attack, not a feed: refusing it records an error on the feed. Plain entities
    such as `<!ENTITY nbsp "&#160;">`, XHTML's W3C entity sets and a DOCTYPE naming an
    external DTD are accepted."""
    start = _DOCTYPE.search(body, 0, 4096)
    if start is None:
        return None
    head = body[start.end() : start.end() + MAX_SUBSET + 1]
    bracket, close = head.find(b"["), head.find(b">")
    if bracket == -1 or (close != -1 and close < bracket):
        return None  # no internal subset: `<!DOCTYPE rss PUBLIC "..." "...dtd">`
    if head.find(b"]>", bracket) == -1 and head.find(b"]", bracket) == -1:
        return "the document's DOCTYPE is too large or never ends"
    # Everything after the "[" is looked at, not only up to the first "]": a "]" inside a
    # quoted entity value must not hide the declarations after it.
    for match in _ENTITY.finditer(head, bracket):
        value = match.group(2)
        if value == b"PUBLIC" and _W3C_ENTITIES.match(head, match.end()):
            continue  # XHTML's named character sets (`%HTMLlat1;`): never fetched, harmless
        if match.group(1):
            return "the document declares parameter entities (XML entity attack)"
        if value in (b"SYSTEM", b"PUBLIC"):
            return "the document declares an external entity (XXE attack)"
        if _NAMED_REFERENCE.search(value):
            return "the document declares entities built from other entities (XML bomb)"
        if len(value) > 1024:
            return "the document declares an oversized entity (XML bomb)"
    return None


_ENTRY_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(item|entry)[\s/>]")


def _cut_after_entries(body: bytes, max_entries: int) -> bytes:
    """A document with more than `max_entries` items is cut before the next one and closed, so
    feedparser never builds the rest (200,000 items took 40 s and 400 MB)."""
    # Each match takes at least 6 bytes and starts with "<": a body too short or with too few
    # "<" to hold more than max_entries of them is not scanned.
    if len(body) // 6 <= max_entries or body.count(b"<") <= max_entries:
        return body
    starts = _ENTRY_START.finditer(body)
    for count, match in enumerate(starts, 1):
        if count > max_entries:
            head = body[:2048].lower()
            closer = (
                b"</feed>"
                if match.group(1) == b"entry"
                else b"</rdf:RDF>"
                if b"<rdf:rdf" in head
                else b"</channel></rss>"
            )
            return body[: match.start()] + closer
    return body


def _looks_binary(head: bytes) -> bool:
    if head.startswith((b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"PK\x03\x04", b"%PDF", b"\x1f\x8b")):
        return True
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 BOM: text
        return False
    return head.count(b"\x00") > 4


_FAST_HELPERS: Any = None


def _fast_helpers() -> Any:
    """feedparser's own small functions for fastparse (which does not import feedparser)."""
    global _FAST_HELPERS
    if _FAST_HELPERS is None:
        from feedparser.html import _cp1252
        from feedparser.mixin import _FeedParserMixin
        from feedparser.urls import _urljoin, resolve_relative_uris

        from .fastparse import Helpers

        def has_handler(name: str) -> bool:
            return hasattr(_FeedParserMixin, "_start_" + name) or hasattr(
                _FeedParserMixin, "_end_" + name
            )

        _FAST_HELPERS = Helpers(
            urljoin=_urljoin,
            looks_like_html=_FeedParserMixin.looks_like_html,
            resolve_relative_uris=resolve_relative_uris,
            parse_date=_feedparser_date,
            cp1252=_cp1252,
            has_handler=has_handler,
        )
    return _FAST_HELPERS


# The two date forms feeds use most, read the way feedparser's first handler to accept them
# does (w3dtf, then rfc822 with a day name, which w3dtf refuses); anything else, and any value
# they cannot build a date from, goes through feedparser's chain of handlers.
_W3DTF = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2}(?:\.[0-9]+)?)"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
_RFC822 = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{1,2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([0-9]{4}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) (?:GMT|UT|UTC|Z|([+-])([0-9]{2})([0-9]{2}))"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def _feedparser_date(value: str) -> Any:
    """feedparser.datetimes._parse_date(value): the same 9-tuple, common forms read directly."""
    try:
        m = _W3DTF.fullmatch(value)
        if m:
            year, month, day, hour, minute = (int(g) for g in m.group(1, 2, 3, 4, 5))
            second = int(float(m.group(6)))
        else:
            m = _RFC822.fullmatch(value)
            if m is None:
                return feedparser.datetimes._parse_date(value)
            day, month, year = int(m.group(1)), _MONTHS[m.group(2)], int(m.group(3))
            hour, minute, second = (int(g) for g in m.group(4, 5, 6))
        sign = m.group(7)
        tzhour = tzmin = 0
        if sign:
            tzhour, tzmin = int(m.group(8)), int(m.group(9))
            if sign == "-":
                tzhour, tzmin = -tzhour, -tzmin
        stamp = datetime(year, month, day, hour, minute, second)
        return (stamp - timedelta(0, 0, 0, 0, tzmin, tzhour)).utctimetuple()
    except (OverflowError, ValueError):
        return feedparser.datetimes._parse_date(value)


def _parse_xml_feed(
    body: bytes,
    *,
    url: str,
    content_type: str | None,
    charset: str | None,
    max_entries: int,
    fast: bool = True,
) -> ParsedFeed:
    d: Any = None
    if fast:
        from .fastparse import read_feed

        d = read_feed(
            body, url=url, content_type=content_type, charset=charset, helpers=_fast_helpers()
        )
    if d is None:
        headers = {"content-location": url}
        if content_type:
            headers["content-type"] = content_type + (f"; charset={charset}" if charset else "")
        d = feedparser.parse(io.BytesIO(body), response_headers=headers)
    version = d.get("version") or ""
    raw_entries = list(d.get("entries") or [])
    if not version and not raw_entries:
        exc = d.get("bozo_exception")
        reason = _one_line(exc) if exc else "no RSS, Atom or JSON Feed document found"
        raise NotAFeedError(f"not a feed: {reason}", url=url)

    warnings: list[str] = []
    if d.get("bozo"):
        warnings.append(_one_line(d.get("bozo_exception")))
    truncated = bool(d.get("bozo")) and not any(
        closer in body[-4096:].lower() for closer in _TAIL_CLOSERS
    )
    if truncated and raw_entries:
        # The last entry of a cut-off document may itself be cut off: keep only complete ones.
        raw_entries = raw_entries[:-1]
        warnings.append("document truncated: its last entry was dropped")

    feed = d.get("feed", {})
    site_url = safe_url(feed.get("link"), url)
    entries = _dedupe_keys(
        e
        for e in (_entry_from_feedparser(raw, base=url) for raw in raw_entries[:max_entries])
        if e is not None
    )
    ttl = None
    try:
        if feed.get("ttl"):
            ttl = int(str(feed.get("ttl")).strip())
    except ValueError:
        pass
    return ParsedFeed(
        version=version or "unknown",
        title=_text(feed, "title"),
        site_url=site_url,
        description=_text(feed, "subtitle", limit=2000),
        ttl_minutes=ttl,
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


def _one_line(exc: Any) -> str:
    return re.sub(r"\s+", " ", str(exc or "")).strip()[:300]


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
    key = guid or link or _hash_key(title, content)
    author = _author(raw)
    # dict.get: feedparser's own get() maps a missing published to updated, with a warning
    published = _date(dict.get(raw, "published_parsed")) or _date(dict.get(raw, "created_parsed"))
    updated = _date(dict.get(raw, "updated_parsed"))
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


_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _date(parsed: Any) -> str | None:
    if not parsed:
        return None
    try:
        y, mo, d, h, mi, s = parsed[:6]
        if (
            type(y) is type(mo) is type(d) is type(h) is type(mi) is type(s) is int
            and 1000 <= y <= 9999
            and 1 <= mo <= 12
            and 1 <= d <= _MONTH_DAYS[mo]
            and 0 <= h < 24
            and 0 <= mi < 60
            and 0 <= s < 60
        ):
            # a valid moment: what the round trip through timegm and gmtime would print
            return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, mo, d, h, mi, s)
    except (TypeError, ValueError):
        pass
    try:
        ts = calendar.timegm(parsed)
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
    except (TypeError, ValueError, OverflowError):
        return None


def _hash_key(title: str, content: str) -> str:
    return "sha1:" + hashlib.sha1(f"{title}\x1f{content}".encode("utf-8", "replace")).hexdigest()


def _dedupe_keys(entries: Any) -> list[Entry]:
    """Entries that share a key (a feed reusing one guid for every item) are told apart by
    their link, else by a hash of their content, so each stays its own entry."""
    seen: set[str] = set()
    out: list[Entry] = []
    for entry in entries:
        key = entry.key
        if key in seen:
            key = f"{entry.key}#{entry.url or _hash_key(entry.title, entry.content_html)}"
            if key in seen:
                continue  # an exact repeat of an item already in this document
            entry = Entry(**{**entry.__dict__, "key": key[:MAX_KEY]})
        seen.add(key)
        out.append(entry)
    return out


# ---------------------------------------------------------------------------------------------
# JSON Feed 1.0 / 1.1


def parse_json_feed(body: bytes, *, url: str, max_entries: int = MAX_ENTRIES) -> ParsedFeed:
    try:
        doc = json.loads(body.decode("utf-8-sig", errors="replace"))
    except (ValueError, RecursionError) as exc:
        raise NotAFeedError(f"not a feed: invalid JSON ({_one_line(exc)[:80]})", url=url) from None
    if not isinstance(doc, dict):
        raise ParseError("invalid JSON Feed: the document is not an object", url=url)
    version_url = str(doc.get("version") or "")
    if "jsonfeed.org" not in version_url and "items" not in doc:
        raise NotAFeedError("not a feed: JSON without a JSON Feed version or items", url=url)
    items = doc.get("items", [])
    if not isinstance(items, list):
        raise ParseError("invalid JSON Feed: items is not a list", url=url)
    base = url
    home = safe_url(_str(doc.get("home_page_url")), url)
    feed_authors = _json_authors(doc)
    entries: list[Entry] = []
    for item in items[:max_entries]:
        if not isinstance(item, dict):
            continue
        link = safe_url(_str(item.get("url")), base) or safe_url(
            _str(item.get("external_url")), base
        )
        title = clean_text(_str(item.get("title")), is_html=False)
        html = _str(item.get("content_html"))
        text = _str(item.get("content_text"))
        summary = _str(item.get("summary"))
        if html:
            content = html
        elif text:
            content = (
                "<p>" + _escape(text).replace("\n\n", "</p><p>").replace("\n", "<br>") + "</p>"
            )
        else:
            content = _escape(summary)
            summary = ""
        content = content[:MAX_FIELD]
        if not (title or link or content.strip()):
            continue
        item_id = _str(item.get("id")).strip()
        key = item_id or link or _hash_key(title, content)
        authors = _json_authors(item) or feed_authors
        raw_tags = item.get("tags")
        tags: list[Any] = raw_tags if isinstance(raw_tags, list) else []
        entries.append(
            Entry(
                key=key[:MAX_KEY],
                url=link,
                title=title,
                author=authors,
                published=parse_date(_str(item.get("date_published"))),
                updated=parse_date(_str(item.get("date_modified"))),
                content_html=content,
                summary_html=_escape(summary)[:MAX_FIELD] if summary else "",
                categories=tuple(
                    dict.fromkeys(
                        clean_text(_str(t), is_html=False, limit=200) for t in tags if _str(t)
                    )
                )[:50],
                image=safe_url(_str(item.get("image")) or _str(item.get("banner_image")), base),
            )
        )
    return ParsedFeed(
        version="json1" + ("1" if version_url.rstrip("/").endswith("1.1") else "0"),
        title=clean_text(_str(doc.get("title")), is_html=False),
        site_url=home,
        description=clean_text(_str(doc.get("description")), is_html=False, limit=2000),
        entries=tuple(_dedupe_keys(entries)),
    )


def _str(value: Any) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _json_authors(obj: dict[str, Any]) -> str | None:
    authors = obj.get("authors")
    if not isinstance(authors, list):
        author = obj.get("author")
        authors = [author] if isinstance(author, dict) else []
    names = [
        clean_text(_str(a.get("name")), is_html=False, limit=300)
        for a in authors
        if isinstance(a, dict)
    ]
    names = [n for n in names if n]
    return ", ".join(names) if names else None


def parse_date(value: str | None) -> str | None:
    """RFC 3339 / ISO 8601 / RFC 822 date -> UTC ISO 8601 with a T and Z, or None."""
    if not value:
        return None
    value = value.strip()
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        parsed = feedparser.datetimes._parse_date(value)  # RFC 822 and friends
        return _date(parsed)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError):
        return None
