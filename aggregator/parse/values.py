"""What leaves the parser is safe to store: every string is valid Unicode that SQLite can encode
(no lone surrogates, which JSON and feedparser's loose parser can both produce), every field
within its length cap, every integer within range. Also the entry-key helpers both feed forms
share. Pure."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from ..models import Entry, ParsedFeed
from ..sanitize import MAX_FIELD, MAX_TITLE

MAX_KEY = 2_000  # characters of an entry's key (guid, link or hash)
MAX_URL = 8_192  # a longer link is not a link a reader can follow: dropped
MAX_DESCRIPTION = 2_000
MAX_AUTHOR = 300
MAX_CATEGORY = 200
MAX_CATEGORIES = 50
MAX_ENCLOSURES = 20
MAX_WARNING = 300
MAX_WARNINGS = 20
MAX_TTL_MINUTES = 7 * 24 * 60  # the scheduler waits at most a week whatever a feed asks

_SURROGATE = re.compile("[\ud800-\udfff]")
_TTL = re.compile(r"[0-9]{1,32}")


def text(value: str, limit: int) -> str:
    """`value` cut to `limit` characters, each lone surrogate replaced by U+FFFD."""
    value = value[:limit]
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = _SURROGATE.sub("\ufffd", value)
    return value


def optional_text(value: str | None, limit: int) -> str | None:
    return text(value, limit) or None if value else None


def url(value: str | None) -> str | None:
    if not value or len(value) > MAX_URL:
        return None
    return text(value, MAX_URL)


def ttl_minutes(value: Any) -> int | None:
    """A feed's `<ttl>`: ASCII digits only, at most a week (a longer TTL is a week)."""
    if value is None:
        return None
    s = str(value)[:64].strip()
    if not _TTL.fullmatch(s):
        return None
    return min(int(s), MAX_TTL_MINUTES)


def bounded_entry(entry: Entry) -> Entry:
    return replace(
        entry,
        key=text(entry.key, MAX_KEY),
        url=url(entry.url),
        title=text(entry.title, MAX_TITLE),
        author=optional_text(entry.author, MAX_AUTHOR),
        content_html=text(entry.content_html, MAX_FIELD),
        summary_html=text(entry.summary_html, MAX_FIELD),
        categories=tuple(
            dict.fromkeys(
                c for c in (text(c, MAX_CATEGORY) for c in entry.categories[:MAX_CATEGORIES]) if c
            )
        ),
        image=url(entry.image),
        enclosures=tuple(u for u in (url(e) for e in entry.enclosures[:MAX_ENCLOSURES]) if u),
    )


def bounded_feed(feed: ParsedFeed) -> ParsedFeed:
    """`feed` with every value safe to bind in SQLite and within its cap. Entry keys stay
    unique: a key changed here (a surrogate replaced) may meet another entry's."""
    return replace(
        feed,
        version=text(feed.version, 32),
        title=text(feed.title, MAX_TITLE),
        site_url=url(feed.site_url),
        description=text(feed.description, MAX_DESCRIPTION),
        ttl_minutes=ttl_minutes(feed.ttl_minutes),
        entries=tuple(dedupe_keys(bounded_entry(e) for e in feed.entries)),
        warnings=tuple(text(w, MAX_WARNING) for w in feed.warnings[:MAX_WARNINGS]),
    )


def one_line(exc: Any) -> str:
    return re.sub(r"\s+", " ", str(exc or "")[: 4 * MAX_WARNING]).strip()[:MAX_WARNING]


def hash_key(title: str, content: str) -> str:
    return "sha1:" + hashlib.sha1(f"{title}\x1f{content}".encode("utf-8", "replace")).hexdigest()


def dedupe_keys(entries: Iterable[Entry]) -> list[Entry]:
    """Entries that share a key (a feed reusing one guid for every item) are told apart by
    their link, else by a hash of their content, so each stays its own entry."""
    seen: set[str] = set()
    out: list[Entry] = []
    for entry in entries:
        key = entry.key
        if key in seen:
            key = f"{entry.key}#{entry.url or hash_key(entry.title, entry.content_html)}"
            if len(key) > MAX_KEY:  # still unique when cut: its own hash ends it
                digest = hashlib.sha1(key.encode("utf-8", "replace")).hexdigest()
                key = f"{key[: MAX_KEY - 41]}#{digest}"
            if key in seen:
                continue  # an exact repeat of an item already in this document
            entry = replace(entry, key=key)
        seen.add(key)
        out.append(entry)
    return out
