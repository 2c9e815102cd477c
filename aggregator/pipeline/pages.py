"""Saved pages and full text: download the pages waiting for their text (saved links, and feed
entries whose content is only a summary), extract them in worker processes under a time budget,
and store what they say. Each page is its own failure domain: its error is recorded on its
article, which is retried later with backoff, and the run goes on."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .. import store
from ..errors import AggregatorError, BlockedAddressError, HTTPStatusError, TooLargeError
from ..fetch import MAX_RETRY_AFTER, PAGE_ACCEPT, Client, fetch_url
from ..models import FetchResult
from .batch import Batch
from .boundary import describe, is_run_failure
from .fulltext import SUMMARY_WORDS
from .limits import DEADLINE, PAGE_CONCURRENCY, PER_HOST, host_key, run_limited
from .refresh import backoff_seconds
from .workers import EXTRACT_BUDGET, OverBudget, Workers, extractors

if TYPE_CHECKING:
    import sqlite_utils

Progress = Callable[[int], None]


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
    from ..extract import extract_article

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


class _Deferred:
    """A page left for the next run: its host kept failing in this one."""


_DEFERRED = _Deferred()
_Outcome = FetchResult | Exception | _Deferred


class _PageRun:
    """One run of fetch_pages: the limits' steps for each page, and what the run learns."""

    def __init__(
        self,
        db: sqlite_utils.Database,
        client: Client,
        extractors: Workers,
        *,
        timeout: float,
        progress: Progress | None,
    ) -> None:
        self.db, self.client, self.extractors = db, client, extractors
        # Pages written in batches, each its own savepoint: a commit per page flushed the
        # full-text index each time (docs/benchmarks.md, saved pages).
        self.batch = Batch(db)
        self.timeout, self.progress = timeout, progress
        self.summary = PageSummary()
        self.learned: dict[int, bool] = {}  # feed id -> its entries are summaries
        # A host that times out or refuses again and again would hold the whole run at its
        # deadline once per page: after a few failures in a row its other pages wait a run.
        self.host_failures: dict[str, int] = {}

    async def download(self, row: dict[str, Any]) -> _Outcome:
        """The network step, run under the limits."""
        host = host_key(row["url"])
        if self.host_failures.get(host, 0) >= HOST_FAILURE_LIMIT:
            return _DEFERRED
        result = await fetch_url(
            self.client,
            row["url"],
            accept=PAGE_ACCEPT,
            deadline=self.timeout,
            read_timeout=min(20.0, self.timeout),
            connect_timeout=min(10.0, self.timeout),
        )
        self.host_failures[host] = 0
        return result

    def download_failed(self, row: dict[str, Any], exc: Exception) -> _Outcome:
        if isinstance(exc, AggregatorError) and not isinstance(
            exc, (HTTPStatusError, BlockedAddressError, TooLargeError)
        ):
            host = host_key(row["url"])
            self.host_failures[host] = self.host_failures.get(host, 0) + 1
        return exc

    async def finish(self, row: dict[str, Any], outcome: _Outcome) -> None:
        """Everything after the download, inside the page's boundary."""
        self.summary.total += 1
        if self.progress:
            self.progress(1)
        try:
            await self._finish(row, outcome)
        except Exception as exc:  # any type: the page controls what happens here
            if is_run_failure(exc):
                raise
            message = f"could not store the page: {describe(exc)}"
            try:
                self.fail(row, message, final=False)
            except Exception as again:
                if is_run_failure(again):
                    raise
                self.summary.failed += 1
                self.summary.errors.append((row["url"], message))

    async def _finish(self, row: dict[str, Any], outcome: _Outcome) -> None:
        if isinstance(outcome, _Deferred):
            self.summary.deferred += 1
            return
        if isinstance(outcome, Exception):
            self.fail_download(row, outcome)
            return
        media = _sniff_media_type(outcome.content, outcome.content_type)
        from ..extract import is_html_content_type

        if not is_html_content_type(media):
            fields = _not_html_fields(outcome, media)
            if row["title"]:
                fields.pop("title")
            with self.batch.feed():
                store.record_page(self.db, row["id"], fields)
            self.summary.unsupported += 1
            return
        feed_words = _feed_words(row["content_html"] or "")
        try:
            fields = await self.extractors.run(
                _extract_fields, outcome.content, outcome.final_url, outcome.charset, feed_words
            )
        except OverBudget as exc:
            self.fail(row, f"extraction {exc} (the page is too costly to read)", final=True)
            return
        except Exception as exc:  # any type: an extractor bug, or a worker that died on it
            self.fail(row, f"could not extract the page: {describe(exc)}", final=True)
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
                self.learned[row["feed_id"]] = feed_words < MUCH_SHORTER * page_words
        with self.batch.feed():
            store.record_page(self.db, row["id"], fields)
        self.summary.ok += 1

    def fail_download(self, row: dict[str, Any], exc: Exception) -> None:
        if not isinstance(exc, AggregatorError):  # a bug or a hostile answer: retried later
            self.fail(row, f"could not fetch the page: {describe(exc)}", final=False)
            return
        status = exc.status if isinstance(exc, HTTPStatusError) else None
        self.fail(
            row,
            str(exc),
            final=isinstance(exc, (BlockedAddressError, TooLargeError)) or status in (410, 451),
            retry_after=(exc.retry_after or 0) if isinstance(exc, HTTPStatusError) else 0,
        )

    def fail(
        self, row: dict[str, Any], message: str, *, final: bool, retry_after: float = 0
    ) -> None:
        """The page's error on its article: retried after a backoff, or no more (`final`, or
        after MAX_PAGE_ATTEMPTS)."""
        attempts = int(row["fetch_attempts"] or 0) + 1
        final = final or attempts >= MAX_PAGE_ATTEMPTS
        delay = max(backoff_seconds(attempts), min(retry_after, MAX_RETRY_AFTER))
        with self.batch.feed():
            store.record_page_error(
                self.db,
                row["id"],
                message,
                next_fetch_at=None if final else store.now_iso(time.time() + delay),
                status="failed" if final else "error",
            )
        self.summary.failed += 1
        self.summary.errors.append((row["url"], message))


def _feed_words(feed_html: str) -> int:
    if not feed_html:
        return 0
    from ..sanitize import count_words, html_to_text

    return count_words(html_to_text(feed_html))


def _due(db: sqlite_utils.Database, limit: int, only: Sequence[int] | None) -> list[Any]:
    if only is None:
        return list(store.pages_due(db, limit=limit))
    wanted = set(only)  # the web saves one link and fetches just that page
    return [row for row in store.pages_due(db, limit=2**62) if row["id"] in wanted]


async def fetch_pages(
    db: sqlite_utils.Database,
    client: Client,
    *,
    concurrency: int = PAGE_CONCURRENCY,
    per_host: int = PER_HOST,
    progress: Progress | None = None,
    limit: int = 10_000,
    only: Sequence[int] | None = None,
    timeout: float = DEADLINE,
    extract_budget: float = EXTRACT_BUDGET,
) -> PageSummary:
    """Download and extract the pages waiting for text: saved links, and feed entries whose
    content is only a summary. A page that is not HTML is kept as a link with a note; a failure
    (404, timeout, an extraction over `extract_budget` seconds, any error) is recorded on the
    article and retried later with backoff; nothing one page does stops the batch. Extraction
    runs in worker processes, so downloads go on meanwhile. Fetching a feed entry's page also
    teaches whether the feed's content is much shorter than its pages; when it is, the feed's
    other entries are queued and fetched in the same run. `only` limits it to these ids.
    Pages are written in batches (`Batch`: each page its own savepoint, committed every 50
    pages, after half a second, or when none has ended for 50 ms): a crash loses at most the
    open batch, whose pages stay pending and are fetched again by the next run."""
    started = time.monotonic()
    due = _due(db, limit, only)
    if not due:
        return PageSummary()
    workers = extractors(min(os.cpu_count() or 1, len(due)), budget=extract_budget)
    run = _PageRun(db, client, workers, timeout=timeout, progress=progress)
    ticker = asyncio.ensure_future(run.batch.ticker())
    try:
        done: set[int] = set()
        for _ in range(2):  # a second round for the entries of feeds found to carry summaries
            done.update(r["id"] for r in due)
            await run_limited(
                due,
                host_of=lambda row: host_key(row["url"]),
                concurrency=concurrency,
                per_host=per_host,
                step=run.download,
                then=run.finish,
                on_error=run.download_failed,
            )
            run.batch.commit()
            queued = {
                fid
                for fid, summaries in run.learned.items()
                if store.learn_feed_summaries(db, fid, summaries)
            }
            run.learned.clear()
            if not queued or only is not None:
                break
            due = [
                r
                for r in store.pages_due(db, limit=limit)
                if r["feed_id"] in queued and r["id"] not in done
            ]
    finally:
        ticker.cancel()
        run.batch.commit()
        await asyncio.to_thread(workers.close)
    run.summary.seconds = time.monotonic() - started
    return run.summary


async def save_now(
    db: sqlite_utils.Database, client: Client, ids: Sequence[int] | None = None
) -> PageSummary:
    """Fetch the pages of links just saved (`ids`; every pending page when None)."""
    return await fetch_pages(db, client, only=ids)


def fetch_saved_pages(db_path: str, ids: Sequence[int]) -> PageSummary | None:
    """The web's background save: download and extract the pages of links just saved, with a
    database connection and an HTTP client of its own (the address policy and proxy of the
    environment apply: the URLs came from the web). Blocking; run it off the server's loop.
    Never raises: a page's failure is recorded on its article, and anything else (the database
    gone meanwhile) leaves the pages for the next `fetch`; returns None then."""
    from ..fetch import make_env_client

    async def main() -> PageSummary:
        async with make_env_client() as client:
            db = store.open_db(db_path, migrate=False)
            try:
                return await fetch_pages(db, client, only=ids)
            finally:
                db.conn.close()

    try:
        return asyncio.run(main())
    except Exception:  # any type: the pages stay pending, and `fetch` tries them again
        import logging

        logging.getLogger(__name__).exception("background fetch of articles %s failed", ids)
        return None
