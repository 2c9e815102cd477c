"""Worker processes for the pipeline's CPU work (feed parsing, page extraction): a pool started
on first use where each call has a time budget; a worker still busy when its item's budget is
spent is killed and replaced, and that item alone gets an error. No SQL, no network."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # imported where used: an all-304 refresh starts no worker at all
    import pebble

    from ..process import Prepared

_T = TypeVar("_T")

POOL_THRESHOLD = 8  # below this many feed bodies, parsing inline beats starting a pool
# Seconds of one item's work in a worker. Ordinary feeds and pages take well under a second; one
# still being worked on then is hostile or pathological.
PARSE_BUDGET = 20.0
EXTRACT_BUDGET = 10.0


class OverBudget(Exception):
    """An item's work passed its time budget; its worker was stopped and replaced."""


class Workers:
    """A pool of `count` worker processes, started on the first call (pebble's process pool:
    a time limit per task, and a worker that passes it or dies is replaced, failing only its own
    task). `warm` runs in each worker before its first task: imports paid there do not count
    against an item's budget."""

    def __init__(
        self,
        count: int,
        *,
        budget: float,
        warm: Callable[[], None],
        preload: tuple[str, ...] = (),
    ) -> None:
        self.count = max(1, count)
        self.budget = budget
        self.warm = warm
        self.preload = preload  # modules a fork server loads once for all its workers
        self._pool: pebble.ProcessPool | None = None

    def start(self) -> pebble.ProcessPool:
        """Start the workers now (they load their modules while the first downloads are on
        the wire) rather than on the first call."""
        if self._pool is None:
            from pebble import ProcessPool

            self._pool = ProcessPool(
                max_workers=self.count, initializer=self.warm, context=self._context()
            )
            self._pool.schedule(_nothing)  # pebble forks all its workers on the first task
        return self._pool

    def _context(self) -> Any:
        """How workers are started. A fork copies the whole process, the locks its other
        threads hold at that moment included, which a child may then wait on for ever; so a
        process with more than one thread (the web server) forks its workers from a fork
        server, a clean process started for the purpose, and a single-threaded command (the
        CLI starts its pools before it starts any thread) forks them directly, which costs
        less."""
        import multiprocessing
        import threading

        if threading.active_count() == 1:
            return multiprocessing.get_context("fork")
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(self.preload))  # only before it first starts
        return context

    async def run(self, function: Callable[..., _T], *args: Any) -> _T:
        """`function(*args)` in a worker; raises OverBudget past the budget, and whatever the
        function raised (or pebble's ProcessExpired when the worker died under it)."""
        future = self.start().schedule(function, args=args, timeout=self.budget)
        try:
            result: _T = await asyncio.wrap_future(future)
        except TimeoutError:
            raise OverBudget(f"stopped after {self.budget:g} s") from None
        return result

    def close(self) -> None:
        pool: Any = self._pool  # pebble's stop() carries no annotations in some releases
        if pool is not None:
            self._pool = None
            pool.stop()  # no task is left running past the run
            pool.join()


def parsers(count: int | None = None) -> Workers:
    """Workers for feed parsing (one per core by default)."""
    return Workers(
        count or os.cpu_count() or 1,
        budget=PARSE_BUDGET,
        warm=_start_parser,
        preload=("aggregator.process",),
    )


def extractors(count: int, *, budget: float = EXTRACT_BUDGET) -> Workers:
    """Workers for page extraction."""
    return Workers(
        count,
        budget=budget,
        warm=_start_extractor,
        preload=("aggregator.extract",),
    )


async def parse_body(
    body: bytes,
    url: str,
    content_type: str | None,
    charset: str | None,
    pool: Workers | None,
) -> Prepared:
    """A feed body parsed and prepared (in the pool when there is one). Errors come back as
    data: a body over the budget, or one its worker died under, is that feed's error."""
    from ..process import Prepared, parse_and_prepare

    if pool is None:
        return parse_and_prepare(body, url, content_type, charset)
    try:
        return await pool.run(parse_and_prepare, body, url, content_type, charset)
    except OverBudget as exc:
        error = f"parsing {exc} (the feed is too costly to read)"
    except Exception as exc:  # any type: the worker died under this body (pebble's ProcessExpired)
        error = f"the parser's worker process failed on this feed ({type(exc).__name__})"
    return Prepared(feed=None, error=error, error_type="ParseError")


def _nothing() -> None:
    return None


def exit_with_parent() -> None:
    """Part of each worker's initializer: a worker ends itself when the process that started
    it is gone. A fetch killed with kill -9 would otherwise leave its forked workers waiting
    forever, holding the pipes (and memory) of a dead run. It lives here, not beside the parser:
    an extraction worker that imported it from `aggregator.process` paid for the feed parser's
    imports (feedparser, dateutil) it never uses."""
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _start_parser() -> None:
    """Initializer of a parsing worker: it ends with its parent, and loads the parser before
    its first feed, whose budget would otherwise pay for the imports."""
    from .. import process  # noqa: F401

    exit_with_parent()


def _start_extractor() -> None:
    """Initializer of an extraction worker: it ends with its parent, and loads the extractor
    (only: not the feed parser) before its first page, whose budget would otherwise pay for the
    imports."""
    from .. import extract  # noqa: F401

    exit_with_parent()
