"""Worker processes for the pipeline's CPU work: feed parsing in a process pool started on first
use, and page extraction under a time budget per page (a worker that passes it is killed and
replaced, and the page gets an error). No SQL, no network."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import BrokenExecutor
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # imported where used: an all-304 refresh needs neither
    from concurrent.futures import ProcessPoolExecutor

    import pebble

    from ..process import Prepared

_T = TypeVar("_T")

POOL_THRESHOLD = 8  # below this many feed bodies, parsing inline beats starting a pool
# Seconds of one page's extraction in a worker; a page still being extracted then is hostile or
# pathological (ordinary pages take well under a second), and its worker is replaced.
EXTRACT_BUDGET = 10.0


class LazyPool:
    """A process pool for feed parsing, started on the first body that needs it (a refresh
    where every feed answers 304 starts no process at all), and started again when a worker
    dies (a broken pool refuses every later task)."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    def get(self) -> ProcessPoolExecutor:
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor

            from ..process import exit_with_parent

            self._pool = ProcessPoolExecutor(
                max_workers=os.cpu_count(), initializer=exit_with_parent
            )
        return self._pool

    def replace(self, broken: ProcessPoolExecutor) -> None:
        """Drop a broken pool (once, however many tasks saw it break)."""
        if self._pool is broken:
            self._pool = None
            broken.shutdown(wait=False, cancel_futures=True)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


async def parse_body(
    body: bytes,
    url: str,
    content_type: str | None,
    charset: str | None,
    pool: LazyPool | None,
) -> Prepared:
    """A feed body parsed and prepared (in the pool when there is one). Errors come back as
    data; a worker that dies under a body is reported as that body's error."""
    from ..process import Prepared, parse_and_prepare

    if pool is None:
        return parse_and_prepare(body, url, content_type, charset)
    loop = asyncio.get_running_loop()
    for _ in range(2):  # a task in flight when another body killed a worker is tried again
        executor = pool.get()
        try:
            return await loop.run_in_executor(
                executor, parse_and_prepare, body, url, content_type, charset
            )
        except BrokenExecutor:
            pool.replace(executor)
    return Prepared(
        feed=None, error="the parser's worker process died on this feed", error_type="ParseError"
    )


class ExtractionTimeout(Exception):
    """A page's extraction passed its time budget; its worker was stopped."""


class Extractors:
    """Worker processes for page extraction, each call under a time budget. A worker still busy
    when its page's budget is spent is killed and replaced (pebble's process pool does this per
    task); the call raises ExtractionTimeout. Started on the first call."""

    def __init__(self, workers: int, *, budget: float = EXTRACT_BUDGET) -> None:
        self.workers = max(1, workers)
        self.budget = budget
        self._pool: pebble.ProcessPool | None = None

    async def run(self, function: Callable[..., _T], *args: Any) -> _T:
        if self._pool is None:
            from pebble import ProcessPool

            self._pool = ProcessPool(max_workers=self.workers, initializer=_start_extractor)
        future = self._pool.schedule(function, args=args, timeout=self.budget)
        try:
            result: _T = await asyncio.wrap_future(future)
        except TimeoutError:
            raise ExtractionTimeout(
                f"extraction stopped after {self.budget:g} s (the page is too costly to read)"
            ) from None
        return result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.stop()  # type: ignore[no-untyped-call]
            self._pool.join()
            self._pool = None


def _start_extractor() -> None:
    """Initializer of an extraction worker: it ends with its parent, and loads the extractor
    before its first page, whose budget would otherwise pay for the imports."""
    from .. import extract  # noqa: F401
    from ..process import exit_with_parent

    exit_with_parent()
