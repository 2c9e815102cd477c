"""Processing between parsing and storing: a parsed entry becomes a record ready to store
(sanitised HTML, plain text, excerpt, counts, content hash). Pure: no I/O, no SQL.

`parse_and_prepare` is the unit of CPU work of a refresh; it is a top-level function of plain
arguments so a process pool can run it off the event loop.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .errors import AggregatorError
from .models import Entry, ParsedFeed
from .parse import parse_feed
from .sanitize import (
    count_text_words,
    excerpt_of,
    reading_time,
    sanitize_html,
    sanitized_text,
    site_of,
)


def prepare_entry(entry: Entry, *, base: str | None = None) -> dict[str, Any]:
    """The record `store.store_entries` takes for one entry. Relative links in its HTML resolve
    against `base` (the document's address, as feedparser resolves them), else its own url."""
    base = base or entry.url
    content_html = sanitize_html(entry.content_html, base_url=base)
    text = sanitized_text(content_html)
    summary_html = sanitize_html(entry.summary_html, base_url=base) if entry.summary_html else ""
    summary_text = sanitized_text(summary_html)
    words = count_text_words(text)
    # Of the sanitised HTML, which both parsers agree on (fastparse does not re-serialise the
    # raw HTML the way feedparser does), so a feed that changes parser is not rewritten.
    digest = hashlib.sha1(
        "\x1f".join([entry.title, content_html, summary_html]).encode("utf-8", "replace")
    ).hexdigest()
    return {
        "key": entry.key,
        "url": entry.url,
        "title": entry.title,
        "author": entry.author,
        "published": entry.published,
        "updated": entry.updated,
        "content_html": content_html,
        "text": text,
        "excerpt": excerpt_of(summary_text or text),
        "word_count": words,
        "reading_time": reading_time(words),
        "categories": list(entry.categories),
        "image": entry.image,
        "content_hash": digest,
        "site": site_of(entry.url),
    }


@dataclass(frozen=True)
class Prepared:
    """A parsed feed and its entry records, or the error that stopped it."""

    feed: ParsedFeed | None
    records: tuple[dict[str, Any], ...] = ()
    error: str | None = None
    error_type: str | None = None


def parse_and_prepare(
    body: bytes, url: str, content_type: str | None = None, charset: str | None = None
) -> Prepared:
    """Parse a feed body and prepare its records. Errors come back as data, so a pool worker
    never raises across the process boundary."""
    try:
        feed = parse_feed(body, url=url, content_type=content_type, charset=charset)
        # JSON Feed items resolve against their own url; RSS and Atom bodies against the
        # document, as feedparser does (fastparse leaves them as written)
        base = None if feed.version.startswith("json") else url
        records = tuple(prepare_entry(e, base=base) for e in feed.entries)
        return Prepared(feed=feed, records=records)
    except AggregatorError as exc:
        return Prepared(feed=None, error=str(exc), error_type=type(exc).__name__)
    except Exception as exc:  # a parser bug on hostile input must not kill the batch
        return Prepared(
            feed=None,
            error=f"could not parse the feed: {type(exc).__name__}: {exc}"[:300],
            error_type="ParseError",
        )
