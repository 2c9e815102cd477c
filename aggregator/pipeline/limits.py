"""How many requests the pipeline has in flight: the global and per-host limits every stage
(refresh, subscribe, pages) runs its items under, and the defaults the CLI shows. Imports no
network code, so the CLI can read its defaults without loading the fetch layer."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

_T = TypeVar("_T")
_R = TypeVar("_R")

# Feed requests in flight at once, and to one host: six per host as browsers allow over
# HTTP/1.1 (the measurements behind these numbers are in docs/benchmarks.md).
CONCURRENCY = 128
PER_HOST = 6
PAGE_CONCURRENCY = 64  # pages are larger than feeds: fewer of them at once
DEADLINE = 30.0  # seconds one request may take, everything included


def host_key(url: str) -> str:
    """The host a URL's per-host limit counts against."""
    return urlsplit(url).netloc.lower()


async def run_limited(
    items: Sequence[_T],
    *,
    host_of: Callable[[_T], str],
    concurrency: int,
    per_host: int,
    step: Callable[[_T], Awaitable[_R]],
    then: Callable[[_T, _R], Awaitable[None] | None],
    on_error: Callable[[_T, Exception], _R],
) -> None:
    """`step(item)` for every item at once, at most `concurrency` in flight and `per_host` to one
    host, then `then(item, result)` (a function or a coroutine) once the item's slots are free
    again. A task takes its host's slot before a global one, so a task waiting for a busy host
    holds no global slot.

    Each item is its own failure domain: whatever `step` raises becomes `on_error(item, exc)`,
    handed to `then` like a result. `then` records on the item and must not raise for the
    item's data; if it raises all the same (the database itself is gone), the other items still
    run to their end and the first such error is raised afterwards."""
    import asyncio  # here: the CLI reads its defaults from this module, asyncio is slow to load

    limit = asyncio.Semaphore(max(1, concurrency))
    hosts: dict[str, asyncio.Semaphore] = {}

    async def one(item: _T) -> None:
        host = hosts.setdefault(host_of(item), asyncio.Semaphore(max(1, per_host)))
        async with host, limit:
            try:
                out = await step(item)
            except Exception as exc:  # any type: a server or a file controls what happens
                out = on_error(item, exc)
        done = then(item, out)
        if inspect.isawaitable(done):  # after the download, outside the slots (extraction)
            await done

    outcomes = await asyncio.gather(*(one(item) for item in items), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
