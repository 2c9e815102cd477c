"""JSON Feed 1.0 / 1.1 documents -> ParsedFeed. Pure: no I/O, no SQL.

Every value is checked for its type: a member of the wrong type is taken as missing (numbers as
their JSON text, for ids and titles), a document that is not an object or whose `items` is not
a list is a ParseError. Numbers are never converted (`int()` refuses 4,300 digits and more).
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import NotAFeedError, ParseError
from ..models import Entry, ParsedFeed
from ..sanitize import MAX_FIELD, clean_text, safe_url
from .dates import parse_date
from .values import (
    MAX_AUTHOR,
    MAX_CATEGORIES,
    MAX_CATEGORY,
    MAX_DESCRIPTION,
    MAX_KEY,
    dedupe_keys,
    hash_key,
    one_line,
)

MAX_AUTHORS = 20


def parse_json_feed(body: bytes, *, url: str, max_entries: int) -> ParsedFeed:
    try:
        doc = json.loads(
            body.decode("utf-8-sig", errors="replace"),
            parse_int=_Number,
            parse_float=_Number,
            parse_constant=_Number,
        )
    except (ValueError, RecursionError) as exc:
        raise NotAFeedError(f"not a feed: invalid JSON ({one_line(exc)[:80]})", url=url) from None
    if not isinstance(doc, dict):
        raise ParseError("invalid JSON Feed: the document is not an object", url=url)
    version_url = _str(doc.get("version"))
    if "jsonfeed.org" not in version_url and "items" not in doc:
        raise NotAFeedError("not a feed: JSON without a JSON Feed version or items", url=url)
    items = doc.get("items", [])
    if not isinstance(items, list):
        raise ParseError("invalid JSON Feed: items is not a list", url=url)
    base = url
    home = safe_url(_url(doc.get("home_page_url")), url)
    feed_authors = _json_authors(doc)
    entries: list[Entry] = []
    for item in items[:max_entries]:
        if not isinstance(item, dict):
            continue
        link = safe_url(_url(item.get("url")), base) or safe_url(
            _url(item.get("external_url")), base
        )
        title = clean_text(_str(item.get("title")), is_html=False)
        html = _str(item.get("content_html"))
        text = _str(item.get("content_text"))[:MAX_FIELD]
        summary = _str(item.get("summary"))[:MAX_FIELD]
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
        key = item_id or link or hash_key(title, content)
        authors = _json_authors(item) or feed_authors
        raw_tags = item.get("tags")
        tags: list[Any] = raw_tags[: 4 * MAX_CATEGORIES] if isinstance(raw_tags, list) else []
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
                        clean_text(_str(t), is_html=False, limit=MAX_CATEGORY)
                        for t in tags
                        if _str(t)
                    )
                )[:MAX_CATEGORIES],
                image=safe_url(_url(item.get("image")) or _url(item.get("banner_image")), base),
            )
        )
    return ParsedFeed(
        version="json1" + ("1" if version_url.rstrip("/").endswith("1.1") else "0"),
        title=clean_text(_str(doc.get("title")), is_html=False),
        site_url=home,
        description=clean_text(_str(doc.get("description")), is_html=False, limit=MAX_DESCRIPTION),
        entries=tuple(dedupe_keys(entries)),
    )


class _Number(str):
    """A JSON number, kept as its text."""


def _url(value: Any) -> str:
    return value if isinstance(value, str) and not isinstance(value, _Number) else ""


def _str(value: Any) -> str:
    """A string member, or a number as its JSON text; anything else is missing."""
    return str(value) if isinstance(value, str) else ""


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _json_authors(obj: dict[str, Any]) -> str | None:
    authors = obj.get("authors")
    if not isinstance(authors, list):
        author = obj.get("author")
        authors = [author] if isinstance(author, dict) else []
    names = [
        clean_text(_str(a.get("name")), is_html=False, limit=MAX_AUTHOR)
        for a in authors[:MAX_AUTHORS]
        if isinstance(a, dict)
    ]
    names = [n for n in names if n]
    return ", ".join(dict.fromkeys(names))[:MAX_AUTHOR] if names else None
