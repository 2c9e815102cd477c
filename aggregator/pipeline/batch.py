"""Writes of many items (feeds, saved pages) grouped into few transactions: each item in its own
savepoint (an item that fails undoes only its own writes), committed in batches. Used by
refresh, subscribe and the fetch of saved pages; the names say "feed" for any item."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from .. import store

if TYPE_CHECKING:
    import sqlite_utils

BATCH_FEEDS = 50
BATCH_SECONDS = 0.5
BATCH_IDLE = 0.05


class Batch:
    """Feeds written in one transaction, each in its own savepoint (a feed that fails undoes only
    its own writes), committed every BATCH_FEEDS feeds, once BATCH_SECONDS have passed since the
    batch began, or when no feed has ended for BATCH_IDLE (checked by `commit_if_due`, which the
    caller runs while it waits). A commit writes every page the feeds touched to the WAL, so a
    commit per feed cost more than its inserts (docs/benchmarks.md). A crash loses at most the
    open batch, whose feeds (validators included) are fetched again by the next run."""

    def __init__(self, db: sqlite_utils.Database, *, thread: bool = False) -> None:
        self.db = db
        self._outer: contextlib.AbstractContextManager[None] | None = None
        self._began = self._last = 0.0
        self._count = 0
        # With `thread`, every write of the run happens on one writer thread: SQLite releases
        # the GIL while it works (the full-text index above all), so the event loop goes on
        # downloading on the other core meanwhile.
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="writer") if thread else None

    async def run(self, write: Callable[[], None]) -> None:
        """`write()` on the writer thread (inline without one); its exception is raised here."""
        if self._writer is None:
            write()
        else:
            await asyncio.get_running_loop().run_in_executor(self._writer, write)

    @contextlib.contextmanager
    def feed(self) -> Iterator[None]:
        if self._outer is None:
            # Statement journals in memory: a savepoint's journal would otherwise spill to a new
            # temporary file for every feed. A feed whose title changed rewrites its articles'
            # feed_title inside the batch: that journal grows with the feed.
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

    def close(self) -> None:
        """The last commit, once every write of the run has ended."""
        if self._writer is not None:
            self._writer.shutdown(wait=True)
        self.commit()

    async def ticker(self) -> None:
        """Commits an open batch while no feed ends (slow servers), on the writing thread."""
        while True:
            await asyncio.sleep(BATCH_IDLE)
            await self.run(self.commit_if_due)
