"""Feeds that refresh themselves under `aggregator serve`, and the feeds page's long writes.

A scheduler task, started from Datasette's `startup` hook when the plugin setting
`refresh_every` is above 0, refreshes the feeds that are due and then downloads the pages
waiting for their text, every `refresh_every` seconds. Each run works in a thread of its own
(its own event loop, HTTP client and database connection, so the server keeps answering) under
the single-writer lock that `aggregator fetch` takes: a fetch from a shell waits for the server
as it waits for another fetch, and the server waits for it. A run that fails is logged, and the
next one starts on time. `Refresh all`, `Refresh now`, subscribing and importing from the
browser go through the same lock. One Runner per Datasette instance, kept beside it."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .. import store
from ..errors import AggregatorError, LockedError

if TYPE_CHECKING:
    import sqlite_utils

    from ..fetch import Client

log = logging.getLogger(__name__)
T = TypeVar("T")

# The first scheduled run comes this long after startup (or one interval, if shorter): the
# server answers its first pages first, and feeds a `fetch` just refreshed before `serve`
# (as `make run` does) are not asked again at once.
FIRST_RUN_DELAY = 60.0
# How long a scheduled run waits for another writer (a `fetch` from a shell) before it gives up
# until its next turn; what the browser asks for waits as long as the command line does.
BACKGROUND_LOCK_WAIT = 60.0
INTERACTIVE_LOCK_WAIT = store.LOCK_WAIT

# POSIX record locks belong to a process: a second `store.writer_lock` taken by another thread
# of the server would succeed at once, and closing it would release the first. Threads of this
# process therefore queue on a lock of their own per database file before taking the file lock.
_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


@contextmanager
def writer(db_path: str, *, wait: float, what: str) -> Iterator[None]:
    """The single-writer lock of `db_path`, from any thread of this process. Raises
    LockedError, with one line, when it is not had within `wait` seconds."""
    with _thread_locks_guard:
        local = _thread_locks.setdefault(os.path.realpath(db_path), threading.Lock())
    started = time.monotonic()
    if not local.acquire(timeout=max(0.0, wait)):
        raise LockedError(
            f"another refresh or import of {os.path.basename(db_path)} is running; "
            f"try the {what} again when it has finished"
        )
    try:
        left = max(0.0, wait - (time.monotonic() - started))
        with store.writer_lock(db_path, wait=left, what=what):
            yield
    finally:
        local.release()


def run_with_db(
    db_path: str, work: Callable[[sqlite_utils.Database, Client], Coroutine[Any, Any, T]]
) -> T:
    """Run `work(db, client)` on a new event loop, with a database connection and an HTTP
    client of its own. Blocking: call it from a worker thread."""

    from ..fetch import make_env_client

    async def main() -> T:
        async with make_env_client() as client:
            db = store.open_db(db_path, migrate=False)
            try:
                return await work(db, client)
            finally:
                db.conn.close()

    return asyncio.run(main())


async def off_loop(fn: Callable[[], T]) -> T:
    """`fn()` in a new daemon thread, awaited. Not asyncio's default executor: a server being
    stopped would wait there for a refresh to end; a daemon thread ends with the process, and
    SQLite undoes its open transaction."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def run() -> None:
        try:
            value = fn()
        except BaseException as exc:  # any type: handed to the awaiting coroutine
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, value, None)

    threading.Thread(target=run, name="aggregator-worker", daemon=True).start()
    return await future


def one_line(exc: BaseException) -> str:
    """What a request that failed as a whole tells its visitor: our own errors as they are
    worded, anything else by its type (and logged with its traceback); short either way (our
    errors may quote a server's answer, such as a redirect's address)."""
    from .errors import one_line as short

    if isinstance(exc, AggregatorError):
        return short(str(exc))
    log.error("request failed", exc_info=exc)
    from ..pipeline.boundary import describe

    return short(describe(exc))


@dataclass
class Progress:
    """What the feeds page shows of the runner (a copy is handed out: see Runner.progress)."""

    running: bool = False
    what: str = ""
    feeds_done: int = 0
    feeds_total: int = 0
    pages_done: int = 0
    pages_total: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    last_result: str = ""
    last_error: str | None = None
    next_run_at: float | None = None  # wall clock; None: no scheduled refresh
    waiting: bool = False  # for another writer's lock (a `fetch` from a shell)
    interval: int = 0


class Busy(Exception):
    """A run of this runner is going on already."""


class Runner:
    """Refresh runs of one database: at most one at a time, with their progress."""

    def __init__(self, db_path: str, interval: int) -> None:
        self.db_path = db_path
        self.interval = max(0, int(interval))
        self._state = Progress(interval=self.interval)
        self._guard = threading.Lock()
        self.task: asyncio.Task[None] | None = None
        self.tasks: set[asyncio.Task[None]] = set()  # runs asked for in the browser

    def progress(self) -> Progress:
        with self._guard:
            return Progress(**asdict(self._state))

    def _update(self, **changes: Any) -> None:
        with self._guard:
            for key, value in changes.items():
                setattr(self._state, key, value)

    def _tick(self, key: str) -> Callable[[int], None]:
        def tick(n: int) -> None:
            with self._guard:
                setattr(self._state, key, getattr(self._state, key) + n)

        return tick

    def begin(self, what: str) -> None:
        """Mark a run as started (raises Busy when one is): the page that asked for it shows
        its progress at once, before its thread has started."""
        with self._guard:
            if self._state.running:
                raise Busy(f"a {self._state.what} is running")
            self._state.running = True
            self._state.what = what
            self._state.feeds_done = self._state.feeds_total = 0
            self._state.pages_done = self._state.pages_total = 0
            self._state.started_at, self._state.finished_at = time.time(), None

    def run(self, *, every_feed: bool, what: str, wait: float, begun: bool = False) -> str:
        """One run (blocking): the due feeds (every active one with `every_feed`), then the
        pages waiting for text. Returns its one-line result; raises Busy, LockedError or
        whatever broke the run as a whole (a feed's or page's failure is on its row).
        `begun`: `begin` was called for it already."""
        if not begun:
            self.begin(what)
        try:
            self._update(waiting=True)
            with writer(self.db_path, wait=wait, what=what):
                self._update(waiting=False)
                line = run_with_db(self.db_path, lambda db, c: self._work(db, c, every_feed))
        except Exception as exc:
            self._update(
                last_error=f"The {what} failed: {one_line(exc)}",
                running=False,
                waiting=False,
                finished_at=time.time(),
            )
            raise
        self._update(last_result=line, last_error=None, running=False, finished_at=time.time())
        return line

    async def _work(self, db: sqlite_utils.Database, client: Client, every_feed: bool) -> str:
        from .. import service
        from ..pipeline.limits import PAGE_CONCURRENCY

        self._update(feeds_total=len(store.feeds_due(db, all=every_feed)))
        summary = await service.refresh_feeds(
            db, client, all=every_feed, progress=self._tick("feeds_done")
        )
        line = summary.line()
        pending = len(store.pages_due(db))
        if pending:
            self._update(pages_total=pending)
            pages = await service.fetch_pages(
                db, client, concurrency=PAGE_CONCURRENCY, progress=self._tick("pages_done")
            )
            if pages.total:
                line += "; " + pages.line()
        # a few seconds of search upkeep, off the event loop (the server keeps answering)
        await asyncio.to_thread(service.maintain_search, db)
        return line

    async def schedule(self) -> None:
        """Run every `interval` seconds, on a fixed grid from startup: a slow run delays only
        itself (runs it overlapped are skipped), and a failed one is logged."""
        loop = asyncio.get_running_loop()
        due = loop.time() + min(FIRST_RUN_DELAY, self.interval)
        while True:
            self._update(next_run_at=time.time() + max(0.0, due - loop.time()))
            await asyncio.sleep(max(0.0, due - loop.time()))
            try:
                line = await off_loop(
                    lambda: self.run(
                        every_feed=False, what="scheduled refresh", wait=BACKGROUND_LOCK_WAIT
                    )
                )
                log.info("background refresh: %s", line)
            except Busy:
                pass  # a refresh asked for in the browser is doing the work
            except Exception:  # any type: the server outlives a failed run
                log.exception("background refresh failed; the next one starts on time")
            now = loop.time()
            while due <= now:
                due += self.interval

    def start(self) -> None:
        """Start the schedule on the running loop (from the `startup` hook)."""
        if self.interval > 0 and self.task is None:
            self.task = asyncio.get_running_loop().create_task(self.schedule())
            self.task.add_done_callback(_log_end)


def _log_end(task: asyncio.Task[None]) -> None:
    """The schedule catches every failure of a run: if it ends anyway, say so."""
    if not task.cancelled() and task.exception() is not None:
        log.error("background refreshes stopped", exc_info=task.exception())


# One runner per Datasette instance, dropped with it (no attribute is set on Datasette).
_runners: weakref.WeakKeyDictionary[Any, Runner] = weakref.WeakKeyDictionary()
_runners_guard = threading.Lock()


def runner_for(datasette: Any, db_path: str, interval: int) -> Runner:
    with _runners_guard:
        runner = _runners.get(datasette)
        if runner is None:
            runner = _runners[datasette] = Runner(db_path, interval)
        return runner
