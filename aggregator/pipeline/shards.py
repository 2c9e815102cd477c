"""Spreading the fetching and parsing of many URLs over forked processes, each with its own
event loop and HTTP client over whole hosts, while the calling process writes the results. Used
by `subscribe` of many URLs. Never touches the database from a worker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from ..fetch import Client
from .batch import BATCH_IDLE
from .limits import run_limited

ClientFactory = Callable[[], Client]
SHARD_THRESHOLD = 64  # from this many URLs, fetching and parsing are spread over processes
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
            running = asyncio.ensure_future(
                run_limited(
                    items,
                    host_of=lambda pair: host_of(pair[1]),
                    concurrency=concurrency,
                    per_host=per_host,
                    step=lambda pair: work(client, pair[1]),
                    then=lambda pair, out: queue.put((shard, pair[0], out)),
                    on_error=lambda pair, exc: on_error(pair[1], exc),
                )
            )
            for _ in range(4):  # connect and send the first requests, then, while they are
                await asyncio.sleep(0)  # answered, load the parser's modules
            from ..process import exit_with_parent

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
