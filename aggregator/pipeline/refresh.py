"""Refreshing feeds: fetch each due feed (conditionally), parse what changed, store it, and
record every failure on its feed (`last_error`, status, backoff) while the run goes on."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import store
from ..errors import AggregatorError, HTTPStatusError
from ..fetch import FEED_ACCEPT, MAX_RETRY_AFTER, Client, cache_lifetime, fetch_url
from ..models import FetchResult
from .batch import Batch
from .boundary import describe, is_run_failure
from .fulltext import mark_for_full_text
from .limits import CONCURRENCY, DEADLINE, PER_HOST, host_key, run_limited
from .workers import POOL_THRESHOLD, Workers, parse_body, parsers

if TYPE_CHECKING:
    import sqlite_utils

    from ..process import Prepared

Progress = Callable[[int], None]

MIN_BACKOFF = 5 * 60
MAX_BACKOFF = 24 * 3600


@dataclass
class RefreshSummary:
    feeds: int = 0
    ok: int = 0
    not_modified: int = 0
    unchanged: int = 0
    failed: int = 0
    new_entries: int = 0
    updated_entries: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        parts = [f"{self.feeds} feeds", f"{self.new_entries} new entries"]
        if self.updated_entries:
            parts.append(f"{self.updated_entries} updated")
        parts.append(f"{self.not_modified + self.unchanged} unchanged")
        parts.append(f"{self.failed} failed")
        return "Fetched " + ", ".join(parts) + f" in {self.seconds:.1f}s"


def backoff_seconds(error_count: int) -> int:
    """Delay before retrying a feed that failed `error_count` times in a row (capped at a day)."""
    return int(min(MAX_BACKOFF, MIN_BACKOFF * (2 ** max(0, min(error_count, 64) - 1))))


def next_check(result: FetchResult | None, ttl_minutes: int | None = None) -> str | None:
    """When a feed that answered may be asked again: what the server asked for (Cache-Control,
    Expires) or the feed's TTL, capped at 7 days; None means due on the next fetch."""
    seconds = 0.0
    if result is not None:
        seconds = max(seconds, cache_lifetime(dict(result.headers)) or 0.0)
    if ttl_minutes:
        seconds = max(seconds, min(ttl_minutes, MAX_RETRY_AFTER) * 60)
    if seconds <= 0:
        return None
    return store.now_iso(time.time() + min(seconds, MAX_RETRY_AFTER))


def record_failure(
    db: sqlite_utils.Database, feed: dict[str, Any], exc: AggregatorError | str
) -> None:
    """The failure on the feed's row: its message, one more error, and when to try again."""
    message = str(exc)
    count = int(feed["error_count"] or 0) + 1
    status = "failing"
    delay: float = backoff_seconds(count)
    if isinstance(exc, HTTPStatusError):
        if exc.status == 410:
            status = "gone"
            message = (
                f"{message}: the feed is gone; polling stopped (resume with `aggregator resume`)"
            )
        if exc.retry_after:
            delay = max(delay, min(exc.retry_after, MAX_RETRY_AFTER))
    store.record_feed_error(
        db, feed["id"], message, status=status, next_check_at=store.now_iso(time.time() + delay)
    )


@dataclass(frozen=True)
class FeedWork:
    """What fetching (and parsing) one feed gave, as plain data: it may come from another
    process. `kind` is "failed", "not_modified", "unchanged" (same bytes again) or "parsed"."""

    feed_id: int
    kind: str
    result: FetchResult | None = None  # without its body
    body_hash: str | None = None
    prepared: Prepared | None = None
    error: str | None = None
    status: int | None = None  # of an HTTP error
    retry_after: float | None = None


def failed_work(feed: dict[str, Any], exc: Exception) -> FeedWork:
    """A FeedWork for whatever fetching or parsing one feed raised, of any type."""
    if isinstance(exc, HTTPStatusError):
        return FeedWork(
            feed["id"], "failed", error=str(exc), status=exc.status, retry_after=exc.retry_after
        )
    if isinstance(exc, AggregatorError):
        return FeedWork(feed["id"], "failed", error=str(exc))
    return FeedWork(feed["id"], "failed", error=f"could not refresh the feed: {describe(exc)}")


async def fetch_feed(
    client: Client,
    feed: dict[str, Any],
    *,
    pool: Workers | None = None,
    deadline: float = DEADLINE,
) -> FeedWork:
    """Fetch one feed (conditionally) and parse it when its body changed. No database. Never
    raises for what the server sends: any error comes back as a "failed" FeedWork."""
    try:
        result = await fetch_url(
            client,
            feed["url"],
            etag=feed["etag"],
            last_modified=feed["last_modified"],
            accept=FEED_ACCEPT,
            deadline=deadline,
        )
        if result.not_modified:
            return FeedWork(feed["id"], "not_modified", result=result)
        body_hash = hashlib.sha1(result.content).hexdigest()
        slim = dataclasses.replace(result, content=b"")
        if body_hash == feed["body_hash"]:
            # A server that ignores validators: the same bytes again, nothing to parse.
            return FeedWork(feed["id"], "unchanged", result=slim, body_hash=body_hash)
        prepared = await parse_body(
            result.content, result.final_url, result.content_type, result.charset, pool
        )
    except Exception as exc:  # any type: the server controls what happens here
        return failed_work(feed, exc)
    return FeedWork(feed["id"], "parsed", result=slim, body_hash=body_hash, prepared=prepared)


def apply_work(
    db: sqlite_utils.Database, summary: RefreshSummary, feed: dict[str, Any], work: FeedWork
) -> None:
    """Writes what fetch_feed gave (inside the caller's transaction or batch). May raise on
    hostile data (a value SQLite cannot hold): the caller's boundary records it."""
    url = feed["url"]
    if work.kind == "failed":
        error = work.error or "fetch failed"
        exc: AggregatorError | str = error
        if work.status is not None:
            exc = HTTPStatusError(error, url=url, status=work.status, retry_after=work.retry_after)
        record_failure(db, feed, exc)
        summary.failed += 1
        summary.errors.append((url, error))
        return
    result = work.result
    assert result is not None
    if result.permanent_redirect and result.permanent_redirect != url:
        if not store.move_feed(db, feed["id"], result.permanent_redirect):
            store.update_feed(
                db,
                feed["id"],
                note=f"moved to {result.permanent_redirect}, which is already subscribed",
            )
    now = store.now_iso()
    if work.kind in ("not_modified", "unchanged"):
        keep = work.kind == "not_modified"
        store.update_feed(
            db,
            feed["id"],
            last_fetched_at=now,
            last_success_at=now,
            last_error=None,
            last_error_at=None,
            error_count=0,
            status="ok",
            next_check_at=next_check(result, feed["ttl_minutes"]),
            etag=(result.etag or feed["etag"]) if keep else result.etag,
            last_modified=(result.last_modified or feed["last_modified"])
            if keep
            else result.last_modified,
        )
        if keep:
            summary.not_modified += 1
        else:
            summary.unchanged += 1
        return
    prepared = work.prepared
    if prepared is None or prepared.feed is None:
        error = (prepared.error if prepared else None) or "could not parse the feed"
        record_failure(db, feed, error)
        summary.failed += 1
        summary.errors.append((url, error))
        return
    parsed = prepared.feed
    feed_fields = {
        "last_fetched_at": now,
        "last_success_at": now,
        "last_error": None,
        "last_error_at": None,
        "error_count": 0,
        "status": "ok",
        "etag": result.etag,
        "last_modified": result.last_modified,
        "body_hash": work.body_hash,
        "ttl_minutes": parsed.ttl_minutes,
        "next_check_at": next_check(result, parsed.ttl_minutes),
    }
    if parsed.title and parsed.title != feed["title"]:
        feed_fields["title"] = parsed.title
    if parsed.site_url:
        feed_fields["site_url"] = parsed.site_url
    if parsed.description:
        feed_fields["description"] = parsed.description
    records = mark_for_full_text(feed, prepared.records)
    new, updated = store.store_entries(db, feed["id"], records, feed_fields=feed_fields)
    if parsed.title and parsed.title != feed["title"]:
        store.retitle_articles(db, feed["id"], parsed.title)
    summary.ok += 1
    summary.new_entries += new
    summary.updated_entries += updated


def record_apply_error(
    db: sqlite_utils.Database,
    summary: RefreshSummary,
    feed: dict[str, Any],
    exc: Exception,
    savepoint: Callable[[], Any],
) -> None:
    """What storing one feed raised (its writes already undone by its savepoint), recorded on
    the feed in a new savepoint; counted even when the database refuses that too."""
    if is_run_failure(exc):
        raise exc
    message = str(exc) if isinstance(exc, AggregatorError) else describe(exc)
    message = f"could not store the feed: {message}"
    summary.failed += 1
    summary.errors.append((feed["url"], message))
    try:
        with savepoint():
            record_failure(db, feed, message)
    except Exception as again:
        if is_run_failure(again):
            raise
        # the row cannot take even the error: counted above, retried by the next run


async def refresh_feeds(
    db: sqlite_utils.Database,
    client: Client,
    *,
    concurrency: int = CONCURRENCY,
    per_host: int = PER_HOST,
    all: bool = False,
    progress: Progress | None = None,
    deadline: float = DEADLINE,
    feed_ids: Sequence[int] | None = None,
) -> RefreshSummary:
    """Refresh every feed that is due (every active feed with `all`; only these feeds, whatever
    their state, with `feed_ids`: the web's Refresh now) concurrently, under the
    global and per-host limits; parsing off the event loop, in a process pool, when there is
    enough of it. `deadline` bounds each feed's request. Each feed is its own failure domain:
    whatever it raises is recorded on its row and counted in the summary."""
    started = time.monotonic()
    if feed_ids is None:
        feeds = store.feeds_due(db, all=all)
    else:
        feeds = [f for f in (store.get_feed_by_id(db, i) for i in feed_ids) if f]
    summary = RefreshSummary()
    if not feeds:
        return summary
    batch = Batch(db)

    def handle(feed: dict[str, Any], work: FeedWork) -> None:
        summary.feeds += 1
        try:
            with batch.feed():
                apply_work(db, summary, feed, work)
        except Exception as exc:  # any type: the feed's data controls what happens here
            record_apply_error(db, summary, feed, exc, batch.feed)
        if progress:
            progress(1)

    use_pool = len(feeds) >= POOL_THRESHOLD and (os.cpu_count() or 1) > 1
    pool = parsers() if use_pool else None
    ticker = asyncio.ensure_future(batch.ticker())
    try:
        await run_limited(
            feeds,
            host_of=lambda feed: host_key(feed["url"]),
            concurrency=concurrency,
            per_host=per_host,
            step=lambda feed: fetch_feed(client, feed, pool=pool, deadline=deadline),
            then=handle,
            on_error=failed_work,
        )
    finally:
        ticker.cancel()
        if pool is not None:
            pool.close()
        batch.commit()
        summary.seconds = time.monotonic() - started
    return summary
