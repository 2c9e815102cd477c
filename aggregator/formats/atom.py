"""Atom 1.0 feed of articles (id, title, link, updated, published, author, category, content
type="html" holding the sanitised HTML). Pure: mappings in, bytes out; no SQL."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from aggregator.formats._common import date_from_text, iso
from aggregator.sanitize import clean_text, safe_url

ATOM = "http://www.w3.org/2005/Atom"
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _x(value: Any) -> str:
    return _XML_INVALID.sub("", str(value))


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", {k: _x(v) for k, v in attrs.items()})
    if text is not None:
        element.text = _x(text)
    return element


def _entry_id(article: Mapping[str, Any], url: str | None) -> str:
    if url:
        return url
    return f"urn:aggregator:article:{article.get('id') or id(article)}"


def write_atom(
    articles: Sequence[Mapping[str, Any]], *, title: str, generated_at: str | None = None
) -> bytes:
    ET.register_namespace("", ATOM)
    now = date_from_text(generated_at) or iso(datetime.now(timezone.utc))
    feed = ET.Element(f"{{{ATOM}}}feed")
    _sub(feed, "title", title)
    _sub(feed, "id", f"urn:aggregator:export:{now}")
    dates = []
    entries = []
    for article in articles:
        url = safe_url(str(article.get("url") or ""))
        published = date_from_text(article.get("published"))
        updated = (
            date_from_text(article.get("updated"))
            or published
            or date_from_text(article.get("saved_at"))
            or now
        )
        dates.append(updated)
        entry = ET.Element(f"{{{ATOM}}}entry")
        _sub(entry, "id", _entry_id(article, url))
        name = clean_text(str(article.get("title") or url or "Untitled"), is_html=False)
        _sub(entry, "title", name or "Untitled", type="text")
        if url:
            _sub(entry, "link", rel="alternate", href=url, type="text/html")
        _sub(entry, "updated", updated)
        if published:
            _sub(entry, "published", published)
        author = _sub(entry, "author")
        _sub(
            author,
            "name",
            clean_text(
                str(article.get("author") or article.get("site") or "unknown"), is_html=False
            )
            or "unknown",
        )
        for tag in article.get("tags") or []:
            if str(tag).strip():
                _sub(entry, "category", term=str(tag))
        if article.get("excerpt"):
            _sub(entry, "summary", str(article["excerpt"]), type="text")
        # Sanitised when stored (the export contract); feed readers sanitise again.
        content = str(article.get("content_html") or "")
        if content:
            _sub(entry, "content", content, type="html")
        elif article.get("text"):
            _sub(entry, "content", str(article["text"]), type="text")
        entries.append(entry)
    _sub(feed, "updated", date_from_text(generated_at) or max(dates, default=now))
    _sub(_sub(feed, "author"), "name", "Aggregator")
    _sub(feed, "generator", "Aggregator")
    feed.extend(entries)
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body
