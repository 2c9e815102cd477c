"""Subscribing: find the feed behind each URL (the URL itself, the page's feed links,
platform rules, the usual paths), store it with its current entries, and report each URL's
outcome on its own line; a URL that fails does not stop the others."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit, urlunsplit

from .. import store
from ..errors import AggregatorError, NotAFeedError
from ..fetch import FEED_ACCEPT, Client, fetch_url
from ..models import FetchResult
from ..sanitize import normalise_input_url
from .batch import Batch
from .boundary import describe, is_run_failure
from .fulltext import mark_for_full_text
from .limits import CONCURRENCY, DEADLINE, PER_HOST, host_key, run_limited
from .refresh import next_check
from .workers import POOL_THRESHOLD, Workers, parse_body, parsers

# A page's own feed links tried at most (a page may name thousands, each one a request of up
# to the deadline): the first ones are the site's main feeds.
MAX_PAGE_FEED_LINKS = 10
# Seconds one URL's discovery may take in all (its page and every guess after it): a person is
# waiting in the browser, and each guess may take a fetch's own DEADLINE.
DISCOVERY_DEADLINE = 60.0

if TYPE_CHECKING:
    import sqlite_utils

    from ..process import Prepared

COMMON_FEED_PATHS = (
    "/feed",
    "/rss.xml",
    "/atom.xml",
    "/index.xml",
    "/feed.xml",
    "/rss",
    "/feed/",
    "/feeds/posts/default",
    "/?feed=rss2",
)


@dataclass
class SubscribeResult:
    url: str  # as given
    feed_url: str | None = None
    title: str | None = None
    created: bool = False
    entries: int = 0
    error: str | None = None


def _platform_candidates(url: str) -> list[str]:
    """Feed addresses that well-known platforms give a profile page."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    path = parts.path.rstrip("/")
    out = []
    if host == "medium.com" and path.startswith("/@"):
        out.append(urlunsplit((parts.scheme, parts.netloc, "/feed" + path, "", "")))
    elif host.endswith(".medium.com"):
        out.append(urlunsplit((parts.scheme, parts.netloc, "/feed", "", "")))
    if path.startswith("/@") and path.count("/") == 1:  # Mastodon and friends
        out.append(urlunsplit((parts.scheme, parts.netloc, path + ".rss", "", "")))
    if host == "write.as" and path:
        out.append(urlunsplit((parts.scheme, parts.netloc, path + "/feed/", "", "")))
    return out


async def discover_feed(
    client: Client,
    url: str,
    *,
    pool: Workers | None = None,
    deadline: float = DISCOVERY_DEADLINE,
) -> tuple[str, FetchResult, Prepared]:
    """Find the feed behind a URL: the URL itself when it is a feed; else the page's
    `<link rel="alternate">` feeds in order; else platform rules; else the usual paths, all
    within `deadline` seconds. Returns (feed url, its fetch result, its parsed form); raises
    AggregatorError."""
    give_up_at = time.monotonic() + deadline
    result = await fetch_url(client, url, accept=FEED_ACCEPT, deadline=min(DEADLINE, deadline))
    prepared = await parse_body(
        result.content, result.final_url, result.content_type, result.charset, pool
    )
    if prepared.feed is not None:
        return _subscribed_url(url, result), result, prepared
    first_error = prepared.error or "not a feed"
    candidates: list[str] = []
    if prepared.error_type == "NotAFeedError" and b"<" in result.content[:4096]:
        from ..extract import find_feed_links  # the page is HTML: look for its feeds

        links = find_feed_links(result.content, url=result.final_url)
        candidates += list(links[:MAX_PAGE_FEED_LINKS])
    candidates += _platform_candidates(result.final_url)
    root = urlunsplit(urlsplit(result.final_url)._replace(path="/", query="", fragment=""))
    here = result.final_url if result.final_url.endswith("/") else result.final_url + "/"
    for path in COMMON_FEED_PATHS:
        candidates.append(urljoin(here, path.lstrip("/")))
        candidates.append(urljoin(root, path))
    seen: set[str] = {url, result.final_url}
    for candidate in candidates:
        if candidate in seen:
            continue
        seen.add(candidate)
        left = give_up_at - time.monotonic()
        if left <= 0:
            raise NotAFeedError(
                f"no feed found at {url} within {deadline:g} s ({first_error})", url=url
            )
        try:
            found = await fetch_url(
                client, candidate, accept=FEED_ACCEPT, deadline=min(DEADLINE, left)
            )
        except Exception:  # any type: a candidate is only a guess, the next one may be right
            continue
        parsed = await parse_body(
            found.content, found.final_url, found.content_type, found.charset, pool
        )
        if parsed.feed is not None:
            return _subscribed_url(candidate, found), found, parsed
    raise NotAFeedError(f"no feed found at {url} ({first_error})", url=url)


def _subscribed_url(asked: str, result: FetchResult) -> str:
    return result.permanent_redirect or asked


@dataclass(frozen=True)
class _Found:
    """What discovering one URL gave, as plain data."""

    feed_url: str | None = None
    result: FetchResult | None = None  # without its body
    body_hash: str | None = None
    prepared: Prepared | None = None
    error: str | None = None


async def _discover(client: Client, url: str, pool: Workers | None) -> _Found:
    """Discovery of one URL as plain data (the body's hash kept, the body itself dropped)."""
    try:
        feed_url, result, prepared = await discover_feed(client, url, pool=pool)
    except AggregatorError as exc:
        return _Found(error=str(exc))
    return _Found(
        feed_url=feed_url,
        result=dataclasses.replace(result, content=b""),
        body_hash=hashlib.sha1(result.content).hexdigest(),
        prepared=prepared,
    )


def _failed(item: tuple[int, str], exc: Exception) -> _Found:
    """Whatever discovering one URL raised, of any type, as that URL's error."""
    return _Found(error=f"could not subscribe: {describe(exc)}")


def _store_found(
    db: sqlite_utils.Database,
    res: SubscribeResult,
    found: _Found,
    *,
    tags: Sequence[str],
    full_text: bool | None,
) -> None:
    assert found.prepared is not None and found.prepared.feed is not None
    assert found.result is not None and found.feed_url is not None
    parsed, result = found.prepared.feed, found.result
    feed_id, created = store.add_feed(
        db,
        found.feed_url,
        title=parsed.title or None,
        site_url=parsed.site_url,
        tags=tags,
        full_text=full_text,
    )
    feed = store.get_feed_by_id(db, feed_id) or {}
    new, _ = store.store_entries(
        db,
        feed_id,
        mark_for_full_text(feed, found.prepared.records),
        feed_fields={
            "etag": result.etag,
            "last_modified": result.last_modified,
            "body_hash": found.body_hash,
            "last_fetched_at": store.now_iso(),
            "last_success_at": store.now_iso(),
            "description": parsed.description or None,
            "ttl_minutes": parsed.ttl_minutes,
            "next_check_at": next_check(result, parsed.ttl_minutes),
        },
    )
    res.feed_url, res.title, res.created, res.entries = found.feed_url, parsed.title, created, new


def _known(
    db: sqlite_utils.Database,
    res: SubscribeResult,
    *,
    tags: Sequence[str],
    full_text: bool | None,
) -> str | None:
    """The normalised URL to discover, or None when it is answered already (not a URL, or
    subscribed: then it only gains the tags)."""
    url = normalise_input_url(res.url)
    if url is None:
        res.error = f"not an http(s) URL: {res.url}"
        return None
    existing = store.get_feed(db, url)
    if existing:
        store.add_feed(db, url, tags=tags, full_text=full_text)
        res.feed_url, res.title = url, existing["title"]
        return None
    return url


async def subscribe(
    db: sqlite_utils.Database,
    client: Client,
    urls: Sequence[str],
    *,
    tags: Sequence[str] = (),
    full_text: bool | None = None,
    concurrency: int = CONCURRENCY,
    per_host: int = PER_HOST,
) -> list[SubscribeResult]:
    """Subscribe to each URL (a feed, or a page whose feed is discovered) and store its current
    entries. Idempotent: an existing subscription only gains the tags. Many URLs are fetched
    like a refresh: a global and a per-host limit, parsing off the event loop in a process
    pool, writes in batches. Each URL is its own failure domain: whatever it raises becomes its
    `error`, and the others go on."""
    results = [SubscribeResult(url=raw) for raw in urls]
    todo: list[tuple[int, str]] = []
    for i, res in enumerate(results):
        try:
            url = _known(db, res, tags=tags, full_text=full_text)
        except Exception as exc:  # any type: the URL is the user's, the row the database's
            if is_run_failure(exc):
                raise
            res.error = f"could not subscribe: {describe(exc)}"
            continue
        if url is not None:
            todo.append((i, url))
    cores = os.cpu_count() or 1
    pool = parsers() if len(todo) >= POOL_THRESHOLD and cores > 1 else None
    if pool is not None:
        pool.start()  # every URL brings a body to parse: the workers load while they download
    batch = Batch(db, thread=True)

    def handle(item: tuple[int, str], found: _Found) -> None:
        res = results[item[0]]
        if found.error is not None or found.prepared is None or found.prepared.feed is None:
            res.error = found.error or "not a feed"
            return
        try:
            with batch.feed():
                _store_found(db, res, found, tags=tags, full_text=full_text)
        except Exception as exc:  # any type: the feed's data controls what happens here
            if is_run_failure(exc):
                raise
            res.created, res.entries = False, 0
            res.error = f"could not store the feed: {describe(exc)}"

    ticker = asyncio.ensure_future(batch.ticker())
    try:
        await run_limited(
            todo,
            host_of=lambda item: host_key(item[1]),
            concurrency=concurrency,
            per_host=per_host,
            step=lambda item: _discover(client, item[1], pool),
            then=lambda item, found: batch.run(lambda: handle(item, found)),
            on_error=_failed,
        )
    finally:
        ticker.cancel()
        batch.close()
        if pool is not None:
            pool.close()
    return results


def unsubscribe(db: sqlite_utils.Database, url: str) -> bool:
    """Remove a feed (by the URL as given or normalised); False when not subscribed."""
    normal = normalise_input_url(url) or url
    return store.remove_feed(db, normal) or (normal != url and store.remove_feed(db, url))
