"""Plain data passed between the stages. Frozen dataclasses; no behaviour, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field

# The fields of an article as `export` gives it (JSON, CSV) and as store.query_articles returns it.
ARTICLE_FIELDS = (
    "id", "url", "title", "author", "published", "updated", "feed_url", "feed_title", "site",
    "tags", "text", "content_html", "excerpt", "saved", "saved_at", "state", "starred", "note",
    "word_count", "reading_time", "lang", "image", "site_name",
)


@dataclass(frozen=True)
class FetchResult:
    """What fetch.py hands on: the decoded body bytes and what the server said about them."""

    url: str  # the URL asked for
    final_url: str  # after redirects
    status: int  # 200, 304, ...
    content: bytes = b""  # decoded (decompressed) body, empty on 304
    content_type: str = ""  # media type without parameters, lower case
    charset: str | None = None  # charset parameter of Content-Type, if any
    etag: str | None = None
    last_modified: str | None = None
    permanent_redirect: str | None = None  # new URL when every hop was 301/308
    headers: tuple[tuple[str, str], ...] = ()  # response headers (lower-case names)
    elapsed: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(frozen=True)
class Entry:
    """One feed entry, normalised: text fields are plain text, URLs absolute, dates UTC ISO 8601."""

    key: str  # identity within its feed: guid, else link, else hash of title and content
    url: str | None  # absolute http(s) link, or None
    title: str = ""
    author: str | None = None
    published: str | None = None  # "2024-05-01T09:30:00Z"
    updated: str | None = None
    content_html: str = ""  # raw HTML as the feed gave it (sanitised later)
    summary_html: str = ""  # the summary/description when content is also present
    categories: tuple[str, ...] = ()
    image: str | None = None
    enclosures: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedFeed:
    """A parsed feed document."""

    version: str  # "rss20", "atom10", "json11", ...
    title: str = ""
    site_url: str | None = None
    description: str = ""
    ttl_minutes: int | None = None
    entries: tuple[Entry, ...] = ()
    warnings: tuple[str, ...] = ()  # recoverable problems (bozo), for the log


@dataclass(frozen=True)
class Article:
    """What extract.py finds in a web page."""

    url: str
    title: str | None = None
    author: str | None = None
    published: str | None = None
    site_name: str | None = None
    lang: str | None = None
    image: str | None = None
    excerpt: str | None = None
    text: str = ""
    content_html: str = ""  # sanitised
    word_count: int = 0
    reading_time: int = 0  # minutes
    feed_links: tuple[str, ...] = ()  # <link rel=alternate> feeds found on the page


@dataclass(frozen=True)
class Subscription:
    """A feed to subscribe to, as an import format gives it."""

    url: str
    title: str | None = None
    site_url: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Highlight:
    """A passage a reader marked, as an import format gives it (dates UTC ISO 8601)."""

    quote: str
    note: str | None = None
    created_at: str | None = None


@dataclass(frozen=True)
class Link:
    """A saved link, as an import format gives it. Dates are UTC ISO 8601."""

    url: str
    title: str | None = None
    tags: tuple[str, ...] = ()
    note: str | None = None
    saved_at: str | None = None
    state: str | None = None  # "unread" | "read" | "archived"
    starred: bool = False
    excerpt: str | None = None
    content_html: str | None = None  # full article HTML where the export has it (wallabag)
    highlights: tuple[Highlight, ...] = ()


@dataclass(frozen=True)
class ImportBatch:
    """Everything one import file holds; `skipped` counts the records left out (each with a
    reason among the warnings)."""

    format: str
    subscriptions: tuple[Subscription, ...] = ()
    links: tuple[Link, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)
    skipped: int = 0
