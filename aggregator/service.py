"""The pipeline: the only module that knows the order of the steps (fetch -> parse -> extract ->
store). Functions take `db` and `client` as parameters; no globals.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urljoin, urlsplit, urlunsplit

from . import store
from .errors import AggregatorError, HTTPStatusError, NotAFeedError, ParseError
from .fetch import FEED_ACCEPT, Client, cache_lifetime, fetch_url
from .models import FetchResult, ImportBatch

if TYPE_CHECKING:  # imported where used: an all-304 refresh needs neither
    from concurrent.futures import Executor, ProcessPoolExecutor

    import sqlite_utils

    from .process import Prepared

Progress = Callable[[int], None]
_T = TypeVar("_T")
_R = TypeVar("_R")

MIN_BACKOFF = 5 * 60
MAX_BACKOFF = 24 * 3600
MAX_RETRY_AFTER = 7 * 24 * 3600
POOL_THRESHOLD = 8  # below this many feed bodies, parsing inline beats starting a pool
SUMMARY_WORDS = 120  # feed content shorter than this is taken for a summary: fetch the page
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


# ---------------------------------------------------------------------------------------------
# Refreshing feeds


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
    return int(min(MAX_BACKOFF, MIN_BACKOFF * (2 ** max(0, error_count - 1))))


def _host_key(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.lower()


def _next_check(result: FetchResult | None, ttl_minutes: int | None = None) -> str | None:
    """When a feed that answered may be asked again: what the server asked for (Cache-Control,
    Expires) or the feed's TTL, capped at 7 days; None means due on the next fetch."""
    seconds = 0.0
    if result is not None:
        seconds = max(seconds, cache_lifetime(dict(result.headers)) or 0.0)
    if ttl_minutes:
        seconds = max(seconds, ttl_minutes * 60)
    if seconds <= 0:
        return None
    return store.now_iso(time.time() + min(seconds, MAX_RETRY_AFTER))


class LazyPool:
    """A process pool started on the first body that needs parsing: a refresh where every feed
    answers 304 starts no process at all."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    def get(self) -> Executor:
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor

            from .process import exit_with_parent

            self._pool = ProcessPoolExecutor(
                max_workers=os.cpu_count(), initializer=exit_with_parent
            )
        return self._pool

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


async def _parse(
    body: bytes,
    url: str,
    content_type: str | None,
    charset: str | None,
    pool: Executor | LazyPool | None,
) -> Prepared:
    from .process import parse_and_prepare

    if pool is None:
        return parse_and_prepare(body, url, content_type, charset)
    executor = pool.get() if isinstance(pool, LazyPool) else pool
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, parse_and_prepare, body, url, content_type, charset)


def _record_failure(
    db: sqlite_utils.Database, feed: dict[str, Any], exc: AggregatorError | str
) -> None:
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


async def fetch_feed(
    client: Client,
    feed: dict[str, Any],
    *,
    pool: Executor | LazyPool | None = None,
    deadline: float = 30.0,
) -> FeedWork:
    """Fetch one feed (conditionally) and parse it when its body changed. No database."""
    try:
        result = await fetch_url(
            client,
            feed["url"],
            etag=feed["etag"],
            last_modified=feed["last_modified"],
            accept=FEED_ACCEPT,
            deadline=deadline,
        )
    except AggregatorError as exc:
        status = exc.status if isinstance(exc, HTTPStatusError) else None
        retry = exc.retry_after if isinstance(exc, HTTPStatusError) else None
        return FeedWork(feed["id"], "failed", error=str(exc), status=status, retry_after=retry)
    if result.not_modified:
        return FeedWork(feed["id"], "not_modified", result=result)
    body_hash = hashlib.sha1(result.content).hexdigest()
    slim = dataclasses.replace(result, content=b"")
    if body_hash == feed["body_hash"]:
        # A server that ignores validators: the same bytes again, nothing to parse.
        return FeedWork(feed["id"], "unchanged", result=slim, body_hash=body_hash)
    prepared = await _parse(
        result.content, result.final_url, result.content_type, result.charset, pool
    )
    return FeedWork(feed["id"], "parsed", result=slim, body_hash=body_hash, prepared=prepared)


BATCH_FEEDS = 50
BATCH_SECONDS = 0.5
BATCH_IDLE = 0.05


class _Batch:
    """Feeds written in one transaction, each in its own savepoint (a feed that fails undoes only
    its own writes), committed every BATCH_FEEDS feeds, once BATCH_SECONDS have passed since the
    batch began, or when no feed has ended for BATCH_IDLE (checked by `commit_if_due`, which the
    caller runs while it waits). A commit writes every page the feeds touched to the WAL, 32 KB
    each, so a commit per feed cost more than its inserts: 300 new feeds of 20 entries, 2.45 ->
    1.37 ms of CPU per feed. A crash loses at most the open batch, whose feeds (validators
    included) are fetched again by the next run."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self._outer: contextlib.AbstractContextManager[None] | None = None
        self._began = self._last = 0.0
        self._count = 0

    @contextlib.contextmanager
    def feed(self) -> Iterator[None]:
        if self._outer is None:
            # Statement journals in memory: a savepoint's journal would otherwise spill to a new
            # temporary file at two 32 KB pages, for every feed (an all-304 refresh of 300 feeds
            # wrote ~300 of them). A feed whose title changed rewrites its articles' feed_title
            # inside the batch: that journal grows with the feed (~5 MB per 1,000 articles).
            outer = store.transaction(self.db, memory_journal=True)
            outer.__enter__()
            self._outer, self._began, self._count = outer, time.monotonic(), 0
        with store.transaction(self.db):  # a savepoint inside the batch
            yield
        self._count += 1
        self._last = time.monotonic()
        if self._count >= BATCH_FEEDS or self._last - self._began >= BATCH_SECONDS:
            self.commit()

    def commit_if_due(self) -> None:
        if self._outer is not None:
            now = time.monotonic()
            if now - self._last >= BATCH_IDLE or now - self._began >= BATCH_SECONDS:
                self.commit()

    def commit(self) -> None:
        outer, self._outer = self._outer, None
        if outer is not None:
            outer.__exit__(None, None, None)

    async def ticker(self) -> None:
        """Commits an open batch while no feed ends (slow servers), from the loop's thread."""
        while True:
            await asyncio.sleep(BATCH_IDLE)
            self.commit_if_due()


def _apply(
    db: sqlite_utils.Database, summary: RefreshSummary, feed: dict[str, Any], work: FeedWork
) -> None:
    """Writes what fetch_feed gave (inside the caller's transaction or batch)."""
    url = feed["url"]
    if work.kind == "failed":
        error = work.error or "fetch failed"
        exc: AggregatorError | str = error
        if work.status is not None:
            exc = HTTPStatusError(error, url=url, status=work.status, retry_after=work.retry_after)
        _record_failure(db, feed, exc)
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
            next_check_at=_next_check(result, feed["ttl_minutes"]),
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
        _record_failure(db, feed, error)
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
        "next_check_at": _next_check(result, parsed.ttl_minutes),
    }
    if parsed.title and parsed.title != feed["title"]:
        feed_fields["title"] = parsed.title
    if parsed.site_url:
        feed_fields["site_url"] = parsed.site_url
    if parsed.description:
        feed_fields["description"] = parsed.description
    records = _mark_for_full_text(feed, prepared.records)
    new, updated = store.store_entries(db, feed["id"], records, feed_fields=feed_fields)
    if parsed.title and parsed.title != feed["title"]:
        store.retitle_articles(db, feed["id"], parsed.title)
    summary.ok += 1
    summary.new_entries += new
    summary.updated_entries += updated


async def refresh_feed(
    db: sqlite_utils.Database,
    client: Client,
    feed: dict[str, Any],
    *,
    pool: Executor | LazyPool | None = None,
    summary: RefreshSummary | None = None,
    deadline: float = 30.0,
) -> None:
    """Fetch, parse and store one feed. Failures are recorded on the feed's row, never raised.
    `deadline` bounds the request, everything included."""
    summary = summary if summary is not None else RefreshSummary()
    summary.feeds += 1
    work = await fetch_feed(client, feed, pool=pool, deadline=deadline)
    with store.transaction(db):
        _apply(db, summary, feed, work)


_CUT_OFF = (
    "…",
    "...",
    "[…]",
    "[...]",
    "read more",
    "continue reading",
    "read the full",
    "read full",
    "more»",
    "more »",
    "(more…)",
)


def looks_like_summary(text: str, words: int) -> bool:
    """Feed content that is only a teaser: short, or ending the way cut-off summaries do."""
    if words < SUMMARY_WORDS:
        return True
    tail = text.rstrip().lower()[-40:]
    return any(tail.endswith(marker) for marker in _CUT_OFF)


PROBE_ENTRIES = 2  # long entries of a feed not known yet whose pages are fetched to compare


def _mark_for_full_text(
    feed: dict[str, Any], records: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Queue the pages of entries whose content is a summary. The feed's `full_text` switch
    decides when set. Otherwise: entries that are short or cut off, every entry of a feed whose
    pages showed its content to be much shorter than the article (`summaries`), and, while
    that is not known yet, a couple of long entries as probes (see `fetch_pages`)."""
    setting = feed.get("full_text")
    learned = feed.get("summaries")
    probes = PROBE_ENTRIES if setting is None and learned is None else 0
    out = []
    for rec in records:
        rec = dict(rec)
        if rec.get("url") and setting != 0:
            if (
                setting == 1
                or learned == 1
                or looks_like_summary(rec.get("text") or "", rec.get("word_count") or 0)
            ):
                rec["fetch_status"] = "pending"
            elif probes:
                rec["fetch_status"] = "pending"
                probes -= 1
        out.append(rec)
    return out


ClientFactory = Callable[[], Client]
# Feed requests in flight at once, and to one host: six per host as browsers allow over
# HTTP/1.1. Measured on 300 unchanged feeds of benchmarks/refresh.py (10 per host): 64 and 8
# took 0.30-0.31 s, 128 and 6 0.25 s (fewer connections to open and close, same two rounds
# per host). `aggregator fetch --concurrency/--per-host` change them.
CONCURRENCY = 128
PER_HOST = 6
SHARD_THRESHOLD = 64  # from this many feeds, fetching and parsing are spread over processes
MAX_SHARDS = 4


def _shards(items: Sequence[Any], host_of: Callable[[Any], str], count: int) -> list[list[int]]:
    """Indexes of `items` in `count` groups of whole hosts (so a per-host limit holds across
    processes), as even as the hosts allow."""
    by_host: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        by_host.setdefault(host_of(item), []).append(i)
    groups: list[list[int]] = [[] for _ in range(count)]
    for indexes in sorted(by_host.values(), key=len, reverse=True):
        min(groups, key=len).extend(indexes)
    return [g for g in groups if g]


async def _run_limited(
    items: Sequence[_T],
    *,
    host_of: Callable[[_T], str],
    concurrency: int,
    per_host: int,
    step: Callable[[_T], Awaitable[_R]],
    then: Callable[[_T, _R], None],
) -> None:
    """`step(item)` for every item at once, at most `concurrency` in flight and `per_host` to one
    host, then `then(item, result)` once the item's slots are free again. A task takes its host's
    slot before a global one: one waiting for a busy host held a global slot (with 10 feeds per
    host and 8 per host, 64 in flight were ~51)."""
    limit = asyncio.Semaphore(max(1, concurrency))
    hosts: dict[str, asyncio.Semaphore] = {}

    async def one(item: _T) -> None:
        host = hosts.setdefault(host_of(item), asyncio.Semaphore(max(1, per_host)))
        async with host, limit:
            out = await step(item)
        then(item, out)

    await asyncio.gather(*(one(item) for item in items))


def _run_shard(
    queue: Any,
    shard: int,
    items: list[tuple[int, Any]],
    work: Any,
    client_factory: ClientFactory,
    concurrency: int,
    per_host: int,
    host_of: Callable[[Any], str],
    on_error: Callable[[Any, BaseException], Any],
) -> None:
    """A forked worker: run `work(client, item)` for its items under the limits, with its own
    HTTP client and event loop, and put (shard, index, result) on the queue as each finishes.
    It never touches the database."""

    async def main() -> None:
        async with client_factory() as client:

            async def step(pair: tuple[int, Any]) -> Any:
                try:
                    return await work(client, pair[1])
                except Exception as exc:  # a bug on one item must not lose the others
                    return on_error(pair[1], exc)

            running = asyncio.ensure_future(
                _run_limited(
                    items,
                    host_of=lambda pair: host_of(pair[1]),
                    concurrency=concurrency,
                    per_host=per_host,
                    step=step,
                    then=lambda pair, out: queue.put((shard, pair[0], out)),
                )
            )
            for _ in range(4):  # connect and send the first requests, then, while they are
                await asyncio.sleep(0)  # answered, load the parser's modules (~40 ms)
            from .process import exit_with_parent

            exit_with_parent()
            await running

    try:
        asyncio.run(main())
    finally:
        queue.put((shard, None, None))
        queue.close()
        queue.join_thread()


async def run_sharded(
    items: Sequence[Any],
    *,
    work: Any,
    handle: Callable[[Any, Any], None],
    client_factory: ClientFactory,
    host_of: Callable[[Any], str],
    on_error: Callable[[Any, BaseException], Any],
    concurrency: int,
    per_host: int,
    shards: int,
    idle: Callable[[], None] | None = None,
) -> None:
    """Fetch (and parse) in `shards` forked processes, each with its own event loop and HTTP
    client over whole hosts, while this process calls `handle(item, result)` (the database
    writes) as results arrive. Python spends about a millisecond of CPU per HTTP request, so
    one process caps a refresh near a thousand feeds a second, less with parsing; this uses
    the other cores for it."""
    import multiprocessing
    import queue as queues

    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    groups = _shards(items, host_of, shards)
    per_shard = max(1, concurrency // len(groups))
    procs = []
    for n, group in enumerate(groups):
        proc = ctx.Process(
            target=_run_shard,
            daemon=True,
            name=f"aggregator-fetch-{n}",
            args=(
                results,
                n,
                [(i, items[i]) for i in group],
                work,
                client_factory,
                per_shard,
                per_host,
                host_of,
                on_error,
            ),
        )
        proc.start()
        procs.append(proc)

    def drain() -> None:
        waiting = {n: set(group) for n, group in enumerate(groups)}
        while waiting:
            try:
                shard, index, out = results.get(timeout=BATCH_IDLE)
            except queues.Empty:
                if idle is not None:  # in this thread, the one that writes
                    idle()
                for n, proc in enumerate(procs):
                    if n in waiting and proc.exitcode is not None and results.empty():
                        for index in sorted(waiting.pop(n)):  # the worker died
                            handle(
                                items[index],
                                on_error(
                                    items[index],
                                    RuntimeError(f"fetch worker exited with code {proc.exitcode}"),
                                ),
                            )
                continue
            if index is None:
                for index in sorted(waiting.pop(shard, ())):  # finished without them (a crash)
                    handle(
                        items[index], on_error(items[index], RuntimeError("fetch worker failed"))
                    )
                continue
            waiting.get(shard, set()).discard(index)
            handle(items[index], out)

    try:
        await asyncio.to_thread(drain)
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
        results.close()


async def refresh_feeds(
    db: sqlite_utils.Database,
    client: Client,
    *,
    concurrency: int = CONCURRENCY,
    per_host: int = PER_HOST,
    all: bool = False,
    progress: Progress | None = None,
    use_pool: bool | None = None,
    deadline: float = 30.0,
) -> RefreshSummary:
    """Refresh every feed that is due (every active feed with `all`) concurrently: a global
    limit and a per-host limit on requests; parsing off the event loop, in a process pool, when
    there is enough of it. `deadline` bounds each feed's request. Not spread over processes as
    `subscribe` is: a refresh where most feeds answer 304 measured slower that way (300 feeds:
    172-220 ms sharded, 124-143 ms in one process), process start-up and result passing
    costing more than the HTTP work they spread."""
    started = time.monotonic()
    feeds = store.feeds_due(db, all=all)
    summary = RefreshSummary()
    if not feeds:
        return summary
    cores = os.cpu_count() or 1
    batch = _Batch(db)

    def handle(feed: dict[str, Any], work: FeedWork) -> None:
        summary.feeds += 1
        try:
            with batch.feed():
                _apply(db, summary, feed, work)
        except AggregatorError as exc:  # a database error on one feed
            summary.failed += 1
            summary.errors.append((feed["url"], str(exc)))
        if progress:
            progress(1)

    def host_of(feed: dict[str, Any]) -> str:
        return _host_key(feed["url"])

    try:
        if use_pool is None:
            use_pool = len(feeds) >= POOL_THRESHOLD and cores > 1
        pool = LazyPool() if use_pool else None
        ticker = asyncio.ensure_future(batch.ticker())
        try:
            await _run_limited(
                feeds,
                host_of=host_of,
                concurrency=concurrency,
                per_host=per_host,
                step=lambda feed: fetch_feed(client, feed, pool=pool, deadline=deadline),
                then=handle,
            )
        finally:
            ticker.cancel()
            if pool is not None:
                pool.shutdown()
        return summary
    finally:
        batch.commit()
        summary.seconds = time.monotonic() - started


# ---------------------------------------------------------------------------------------------
# Subscribing


@dataclass
class SubscribeResult:
    url: str  # as given
    feed_url: str | None = None
    title: str | None = None
    created: bool = False
    entries: int = 0
    error: str | None = None


def normalise_input_url(url: str) -> str | None:
    url = url.strip()
    if (
        url
        and "://" not in url
        and not url.startswith(("javascript:", "data:", "file:", "mailto:"))
    ):
        url = "https://" + url
    from .sanitize import safe_url

    return safe_url(url)


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
    client: Client, url: str, *, pool: Executor | LazyPool | None = None
) -> tuple[str, FetchResult, Prepared]:
    """Find the feed behind a URL: the URL itself when it is a feed; else the page's
    `<link rel="alternate">` feeds in order; else platform rules; else the usual paths.
    Returns (feed url, its fetch result, its parsed form); raises AggregatorError."""
    result = await fetch_url(client, url, accept=FEED_ACCEPT)
    prepared = await _parse(
        result.content, result.final_url, result.content_type, result.charset, pool
    )
    if prepared.feed is not None:
        return _subscribed_url(url, result), result, prepared
    first_error = prepared.error or "not a feed"
    candidates: list[str] = []
    if prepared.error_type == "NotAFeedError" and b"<" in result.content[:4096]:
        from .extract import find_feed_links  # the page is HTML: look for its feeds

        candidates += list(find_feed_links(result.content, url=result.final_url))
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
        try:
            found = await fetch_url(client, candidate, accept=FEED_ACCEPT)
        except AggregatorError:
            continue
        parsed = await _parse(
            found.content, found.final_url, found.content_type, found.charset, pool
        )
        if parsed.feed is not None:
            return _subscribed_url(candidate, found), found, parsed
    raise NotAFeedError(f"no feed found at {url} ({first_error})", url=url)


def _subscribed_url(asked: str, result: FetchResult) -> str:
    return result.permanent_redirect or asked


@dataclass(frozen=True)
class _Found:
    """What discovering one URL gave (plain data: it may come from another process)."""

    feed_url: str | None = None
    result: FetchResult | None = None  # without its body
    body_hash: str | None = None
    prepared: Prepared | None = None
    error: str | None = None


async def subscribe(
    db: sqlite_utils.Database,
    client: Client,
    urls: Sequence[str],
    *,
    tags: Sequence[str] = (),
    full_text: bool | None = None,
    concurrency: int = 20,
    per_host: int = PER_HOST,
    client_factory: ClientFactory | None = None,
) -> list[SubscribeResult]:
    """Subscribe to each URL (a feed, or a page whose feed is discovered) and store its current
    entries. Idempotent: an existing subscription only gains the tags. Many URLs are fetched
    like a refresh: a global and a per-host limit, parsing off the event loop, and with a
    `client_factory` several processes (see run_sharded)."""
    results = [SubscribeResult(url=raw) for raw in urls]
    todo: list[tuple[int, str]] = []
    for i, raw in enumerate(urls):
        url = normalise_input_url(raw)
        if url is None:
            results[i].error = f"not an http(s) URL: {raw}"
            continue
        existing = store.get_feed(db, url)
        if existing:
            store.add_feed(db, url, tags=tags, full_text=full_text)
            results[i].feed_url, results[i].title = url, existing["title"]
            continue
        todo.append((i, url))
    cores = os.cpu_count() or 1
    pool = LazyPool() if len(todo) >= POOL_THRESHOLD and cores > 1 else None

    async def work(worker_client: Client, item: tuple[int, str]) -> _Found:
        try:
            feed_url, result, prepared = await discover_feed(
                worker_client, item[1], pool=None if worker_client is not client else pool
            )
        except AggregatorError as exc:
            return _Found(error=str(exc))
        return _Found(
            feed_url=feed_url,
            result=dataclasses.replace(result, content=b""),
            body_hash=hashlib.sha1(result.content).hexdigest(),
            prepared=prepared,
        )

    def failed(item: tuple[int, str], exc: BaseException) -> _Found:
        return _Found(error=f"{type(exc).__name__}: {exc}"[:300])

    def host_of(item: tuple[int, str]) -> str:
        return _host_key(item[1])

    batch = _Batch(db)

    def handle(item: tuple[int, str], found: _Found) -> None:
        res = results[item[0]]
        if found.error is not None or found.prepared is None or found.prepared.feed is None:
            res.error = found.error or "not a feed"
            return
        with batch.feed():
            store_found(res, found)

    def store_found(res: SubscribeResult, found: _Found) -> None:
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
            _mark_for_full_text(feed, found.prepared.records),
            feed_fields={
                "etag": result.etag,
                "last_modified": result.last_modified,
                "body_hash": found.body_hash,
                "last_fetched_at": store.now_iso(),
                "last_success_at": store.now_iso(),
                "description": parsed.description or None,
                "ttl_minutes": parsed.ttl_minutes,
                "next_check_at": _next_check(result, parsed.ttl_minutes),
            },
        )
        res.feed_url, res.title, res.created, res.entries = (
            found.feed_url,
            parsed.title,
            created,
            new,
        )

    if client_factory is not None and cores > 1 and len(todo) >= SHARD_THRESHOLD:
        try:
            await run_sharded(
                todo,
                work=work,
                handle=handle,
                client_factory=client_factory,
                host_of=host_of,
                on_error=failed,
                concurrency=concurrency,
                per_host=per_host,
                shards=min(cores, MAX_SHARDS),
                idle=batch.commit_if_due,
            )
        finally:
            batch.commit()
        return results
    ticker = asyncio.ensure_future(batch.ticker())
    try:
        await _run_limited(
            todo,
            host_of=host_of,
            concurrency=concurrency,
            per_host=per_host,
            step=lambda item: work(client, item),
            then=handle,
        )
    finally:
        ticker.cancel()
        batch.commit()
        if pool is not None:
            pool.shutdown()
    return results


def unsubscribe(db: sqlite_utils.Database, url: str) -> bool:
    normal = normalise_input_url(url) or url
    return store.remove_feed(db, normal) or (normal != url and store.remove_feed(db, url))


# ---------------------------------------------------------------------------------------------
# The shipped sample (offline)


def load_sample(db: sqlite_utils.Database, directory: str | Path) -> tuple[int, int]:
    """Load the sample collection from disk through the same parse and store steps as a fetch.
    `manifest.json` lists feeds (file, url, tags, marks) and saved pages (file, url, tags, note,
    state, starred). Sample feeds are stored paused, so `fetch` does not try to reach their
    made-up addresses. Returns (feeds, articles) loaded."""
    directory = Path(directory)
    manifest_path = directory / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AggregatorError(f"cannot read the sample manifest {manifest_path}: {exc}") from None
    feeds = articles = 0
    for item in manifest.get("feeds", []):
        body = (directory / item["file"]).read_bytes()
        from .process import parse_and_prepare

        prepared = parse_and_prepare(body, item["url"], item.get("content_type"))
        if prepared.feed is None:
            raise ParseError(f"sample feed {item['file']}: {prepared.error}", url=item["url"])
        feed_id, created = store.add_feed(
            db,
            item["url"],
            title=prepared.feed.title,
            site_url=prepared.feed.site_url,
            tags=item.get("tags", ()),
            status="paused",
            note="sample",
        )
        records = [{**r, "fetch_status": None} for r in prepared.records]
        new, _ = store.store_entries(
            db,
            feed_id,
            records,
            feed_fields={
                "last_fetched_at": store.now_iso(),
                "description": prepared.feed.description or None,
            },
        )
        if created:
            _mark_sample(db, item.get("marks", {}))
        feeds += 1
        articles += new
    for item in manifest.get("pages", []):
        body = (directory / item["file"]).read_bytes()
        article_id, created = store.save_link(
            db,
            item["url"],
            tags=item.get("tags", ()),
            note=item.get("note"),
            saved_at=item.get("saved_at"),
        )
        store_page(db, article_id, body, url=item["url"], http_charset=None)
        if created:
            _mark_sample(db, {item["url"]: {k: item.get(k) for k in ("state", "starred")}})
        articles += int(created)
    return feeds, articles


def _mark_sample(db: sqlite_utils.Database, marks: dict[str, dict[str, Any]]) -> None:
    """The reading state the sample ships with (read or archived, starred, extra tags), by
    article url. Set only when the load creates the article, so loading the sample again never
    undoes what the reader changed since."""
    for url, mark in marks.items():
        article_id = store.article_id_for_url(db, url)
        if article_id is None:
            continue
        state = mark.get("state")
        if state is not None and state not in store.ARTICLE_STATES:
            raise AggregatorError(f"sample manifest: unknown state {state!r} for {url}")
        if state or mark.get("starred"):
            store.set_state(db, article_id, state=state, starred=mark.get("starred"))
        if mark.get("tags"):
            store.change_tags(db, article_id, add=mark["tags"])


# ---------------------------------------------------------------------------------------------
# Saved pages (read later) and full text


def store_page(
    db: sqlite_utils.Database,
    article_id: int,
    body: bytes,
    *,
    url: str,
    http_charset: str | None,
    feed_html: str | None = None,
) -> None:
    """Extract a downloaded page and store what it says about the article."""
    from .extract import extract_article

    article = extract_article(body, url=url, http_charset=http_charset, feed_html=feed_html)
    store.record_page(
        db,
        article_id,
        {
            "title": article.title,
            "author": article.author,
            "published": article.published,
            "site_name": article.site_name,
            "lang": article.lang,
            "image": article.image,
            "excerpt": article.excerpt,
            "text": article.text,
            "content_html": article.content_html,
            "word_count": article.word_count,
            "reading_time": article.reading_time,
            "full_text": 1 if article.text else 0,
            "fetch_status": "ok" if article.text else "no_text",
        },
    )


def export_rows(db: sqlite_utils.Database, **filters: Any) -> list[dict[str, Any]]:
    return store.query_articles(db, **filters)


@dataclass
class PageSummary:
    total: int = 0
    ok: int = 0
    unsupported: int = 0
    failed: int = 0
    deferred: int = 0  # left for the next run: their host kept failing in this one
    errors: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        deferred = f", {self.deferred} left for later (host failing)" if self.deferred else ""
        return (
            f"Fetched {self.total} pages: {self.ok} with text, {self.unsupported} without "
            f"(not HTML), {self.failed} failed{deferred}, in {self.seconds:.1f}s"
        )


MAX_PAGE_ATTEMPTS = 6
HOST_FAILURE_LIMIT = 3  # network failures in a row after which a host's other pages wait a run
PAGE_TIMEOUT = 30.0  # seconds for one page, everything included
FEED_IS_WHOLE = 0.8  # feed content with this share of the page's words is the whole article
MUCH_SHORTER = 0.6  # feed content under this share of the page's words is a summary

# Magic numbers of what people save that is not a web page, for servers that do not say.
_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF8", "image/gif"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b", "application/gzip"),
    (b"OggS", "audio/ogg"),
    (b"ID3", "audio/mpeg"),
)
_KINDS = {
    "application/pdf": "a PDF document",
    "application/zip": "a zip archive",
    "application/gzip": "a gzip archive",
}


def _sniff_media_type(body: bytes, declared: str) -> str:
    """The media type to believe: what the bytes say when they are a known binary format
    (servers send PDFs as application/octet-stream or even text/html), else the header."""
    for magic, media in _MAGIC:
        if body.startswith(magic):
            return media
    if body[8:12] == b"WEBP" and body.startswith(b"RIFF"):
        return "image/webp"
    return declared or ("text/html" if b"<" in body[:1024] else "application/octet-stream")


def _not_html_fields(result: FetchResult, media: str) -> dict[str, Any]:
    """A page that is not HTML is kept as a link: a title from its file name, the image itself
    as its image, and an excerpt saying why there is no text."""
    from urllib.parse import unquote

    name = unquote(urlsplit(result.final_url).path.rstrip("/").rsplit("/", 1)[-1])
    kind = _KINDS.get(media) or ("an image" if media.startswith("image/") else "a file")
    size = len(result.content)
    shown = (
        f"{size / 1048576:.1f} MB"
        if size >= 1048576
        else f"{round(size / 1024)} KB"
        if size >= 1024
        else f"{size} bytes"
    )
    return {
        "title": name or None,
        "image": result.final_url if media.startswith("image/") else None,
        "excerpt": f"No text: the page is {kind} ({media}, {shown}), not HTML; kept as a link.",
        "fetch_status": "unsupported",
    }


def _extract_fields(
    body: bytes,
    url: str,
    http_charset: str | None,
    feed_words: int,
) -> dict[str, Any]:
    """Extraction of one page into the fields to store (runs in a worker process). The page's
    body replaces the feed's content unless the feed's content is the whole article (at least
    FEED_IS_WHOLE of the page's words): the feed's own markup is cleaner than any extraction.
    `_page_words` tells the caller how long the page was."""
    from .extract import extract_article

    article = extract_article(body, url=url, http_charset=http_charset)
    fields: dict[str, Any] = {
        "title": article.title,
        "author": article.author,
        "published": article.published,
        "site_name": article.site_name,
        "lang": article.lang,
        "image": article.image,
        "_page_words": article.word_count,
    }
    if article.text and feed_words < FEED_IS_WHOLE * article.word_count:
        fields.update(
            {
                "excerpt": article.excerpt,
                "text": article.text,
                "content_html": article.content_html,
                "word_count": article.word_count,
                "reading_time": article.reading_time,
                "full_text": 1,
            }
        )
    fields["fetch_status"] = "ok" if (article.text or feed_words) else "no_text"
    return fields


async def fetch_pages(
    db: sqlite_utils.Database,
    client: Client,
    *,
    concurrency: int = 20,
    per_host: int = 4,
    progress: Progress | None = None,
    use_pool: bool | None = None,
    limit: int = 10_000,
    only: Sequence[int] | None = None,
    timeout: float = PAGE_TIMEOUT,
) -> PageSummary:
    """Download and extract the pages waiting for text: saved links, and feed entries whose
    content is only a summary. A page that is not HTML is kept as a link with a note; a failure
    (404, timeout, ...) is recorded on the article and retried later with backoff; nothing one
    page does stops the batch. Extraction runs in a process pool when there is enough of it, so
    downloads go on meanwhile. Fetching a feed entry's page also teaches whether the feed's
    content is much shorter than its pages; when it is, the feed's other entries are queued and
    fetched in the same run. `only` limits it to these article ids."""
    from .errors import BlockedAddressError, TooLargeError
    from .extract import is_html_content_type
    from .fetch import PAGE_ACCEPT
    from .sanitize import count_words, html_to_text

    started = time.monotonic()
    if only is None:
        due = store.pages_due(db, limit=limit)
    else:  # the web saves one link and fetches just that page
        wanted = set(only)
        due = [row for row in store.pages_due(db, limit=2**62) if row["id"] in wanted]
    summary = PageSummary()
    if not due:
        return summary
    if use_pool is None:
        use_pool = len(due) >= POOL_THRESHOLD and (os.cpu_count() or 1) > 1
    pool = LazyPool() if use_pool else None
    limit_sem = asyncio.Semaphore(max(1, concurrency))
    hosts: dict[str, asyncio.Semaphore] = {}
    learned: dict[int, bool] = {}  # feed id -> its entries are summaries
    # A host that times out or refuses again and again would hold the whole run at its
    # deadline once per page: after a few failures in a row its other pages wait a run.
    host_failures: dict[str, int] = {}

    def fail(row: dict[str, Any], message: str, *, final: bool, retry_after: float = 0) -> None:
        attempts = int(row["fetch_attempts"] or 0) + 1
        final = final or attempts >= MAX_PAGE_ATTEMPTS
        delay = max(backoff_seconds(attempts), min(retry_after, MAX_RETRY_AFTER))
        store.record_page_error(
            db,
            row["id"],
            message,
            next_fetch_at=None if final else store.now_iso(time.time() + delay),
            status="failed" if final else "error",
        )
        summary.failed += 1
        summary.errors.append((row["url"], message))

    async def page(row: dict[str, Any]) -> None:
        url = row["url"]
        host_key = _host_key(url)
        host = hosts.setdefault(host_key, asyncio.Semaphore(max(1, per_host)))
        try:
            async with host, limit_sem:
                if host_failures.get(host_key, 0) >= HOST_FAILURE_LIMIT:
                    summary.deferred += 1
                    return
                result = await fetch_url(
                    client,
                    url,
                    accept=PAGE_ACCEPT,
                    deadline=timeout,
                    read_timeout=min(20.0, timeout),
                    connect_timeout=min(10.0, timeout),
                )
            host_failures[host_key] = 0
        except AggregatorError as exc:
            if not isinstance(exc, (HTTPStatusError, BlockedAddressError, TooLargeError)):
                host_failures[host_key] = host_failures.get(host_key, 0) + 1
            status = exc.status if isinstance(exc, HTTPStatusError) else None
            fail(
                row,
                str(exc),
                final=isinstance(exc, (BlockedAddressError, TooLargeError)) or status in (410, 451),
                retry_after=(exc.retry_after or 0) if isinstance(exc, HTTPStatusError) else 0,
            )
            return
        finally:
            if progress:
                progress(1)
        media = _sniff_media_type(result.content, result.content_type)
        if not is_html_content_type(media):
            fields = _not_html_fields(result, media)
            if row["title"]:
                fields.pop("title")
            store.record_page(db, row["id"], fields)
            summary.unsupported += 1
            return
        feed_html = row["content_html"] or ""
        feed_words = count_words(html_to_text(feed_html)) if feed_html else 0
        args = (result.content, result.final_url, result.charset, feed_words)
        try:
            if pool is None:
                fields = _extract_fields(*args)
            else:
                loop = asyncio.get_running_loop()
                fields = await loop.run_in_executor(pool.get(), _extract_fields, *args)
        except Exception as exc:  # an extractor bug on one page must not stop the batch
            fail(row, f"could not extract the page: {type(exc).__name__}: {exc}"[:300], final=True)
            return
        page_words = fields.pop("_page_words")
        if row["title"]:
            fields.pop("title", None)  # the feed's or the user's title stays
        if row["feed_id"] is not None:
            for key in ("author", "published"):
                if row.get(key):
                    fields.pop(key, None)
            # Only entries long enough not to be taken for summaries teach about the feed.
            if row["feed_full_text"] is None and feed_words >= SUMMARY_WORDS and page_words:
                learned[row["feed_id"]] = feed_words < MUCH_SHORTER * page_words
        store.record_page(db, row["id"], fields)
        summary.ok += 1

    async def one(row: dict[str, Any]) -> None:
        summary.total += 1
        try:
            await page(row)
        except Exception as exc:  # a database error on one page: record it if we can, go on
            try:
                fail(row, f"{type(exc).__name__}: {exc}"[:300], final=False)
            except Exception:
                summary.failed += 1
                summary.errors.append((row["url"], f"{type(exc).__name__}: {exc}"[:300]))

    try:
        done: set[int] = set()
        for _ in range(2):  # a second round for the entries of feeds found to carry summaries
            done.update(r["id"] for r in due)
            await asyncio.gather(*(one(r) for r in due))
            queued = {
                fid
                for fid, summaries in learned.items()
                if store.learn_feed_summaries(db, fid, summaries)
            }
            learned.clear()
            if not queued or only is not None:
                break
            due = [
                r
                for r in store.pages_due(db, limit=limit)
                if r["feed_id"] in queued and r["id"] not in done
            ]
    finally:
        if pool is not None:
            pool.shutdown()
    summary.seconds = time.monotonic() - started
    return summary


async def save_now(
    db: sqlite_utils.Database, client: Client, ids: Sequence[int] | None = None
) -> PageSummary:
    """Fetch the pages of links just saved (`ids`; every pending page when None)."""
    return await fetch_pages(db, client, use_pool=False, only=ids)


# ---------------------------------------------------------------------------------------------
# Import


@dataclass
class ImportSummary:
    format: str
    feeds_added: int = 0
    feeds_existing: int = 0
    links_added: int = 0
    links_existing: int = 0
    warnings: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"Imported {self.format}: {self.feeds_added} new feeds ({self.feeds_existing} already "
            f"there), {self.links_added} new links ({self.links_existing} already there)"
        )


IMPORT_CHUNK = 5_000  # links saved per bulk statement group (and per progress step)


def read_import_file(path: str | Path, *, format: str = "auto") -> ImportBatch:
    """Read and recognise an import file whole; nothing is stored. Raises AggregatorError."""
    from .formats import read_import

    path = Path(path)
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise AggregatorError(f"cannot import {path}: it is a folder") from None
    except OSError as exc:
        raise AggregatorError(f"cannot read {path}: {exc.strerror}") from None
    return read_import(data, format=format, filename=path.name)


def import_batch(
    db: sqlite_utils.Database,
    batch: ImportBatch,
    *,
    tags: Sequence[str] = (),
    progress: Progress | None = None,
) -> ImportSummary:
    """Store what an import file holds, all or nothing (one transaction): feeds one by one
    (a few hundred), links in bulk. Nothing is fetched: the next `fetch` downloads feeds and
    pages. `progress` is told of each item stored."""
    from .sanitize import count_words, html_to_text, reading_time, sanitize_html

    summary = ImportSummary(format=batch.format, warnings=list(batch.warnings))
    extra = list(tags)
    with store.transaction(db):
        for sub in batch.subscriptions:
            _, created = store.add_feed(
                db, sub.url, title=sub.title, site_url=sub.site_url, tags=list(sub.tags) + extra
            )
            if created:
                summary.feeds_added += 1
            else:
                summary.feeds_existing += 1
            if progress:
                progress(1)
        for start in range(0, len(batch.links), IMPORT_CHUNK):
            records = []
            for link in batch.links[start : start + IMPORT_CHUNK]:
                content = None
                if link.content_html:
                    html = sanitize_html(link.content_html, base_url=link.url)
                    text = html_to_text(html)
                    words = count_words(text)
                    content = {
                        "content_html": html,
                        "text": text,
                        "word_count": words,
                        "reading_time": reading_time(words),
                    }
                records.append(
                    {
                        "url": link.url,
                        "title": link.title,
                        "tags": list(link.tags) + extra,
                        "note": link.note,
                        "saved_at": link.saved_at,
                        "state": link.state,
                        "starred": link.starred,
                        "excerpt": link.excerpt,
                        "content": content,
                    }
                )
            added, existing = store.save_links_bulk(db, records)
            summary.links_added += added
            summary.links_existing += existing
            if progress:
                progress(len(records))
    return summary


def import_file(
    db: sqlite_utils.Database,
    path: str | Path,
    *,
    format: str = "auto",
    tags: Sequence[str] = (),
    progress: Progress | None = None,
) -> ImportSummary:
    """Import subscriptions and links from a file, all or nothing (one transaction). Nothing is
    fetched: the next `fetch` downloads feeds and pages."""
    batch = read_import_file(path, format=format)
    return import_batch(db, batch, tags=tags, progress=progress)
