"""The pipeline's worker pool (pipeline/workers.py) in a process that runs other threads, as the
web server does: workers must not inherit a lock another thread holds at the moment they start."""

from __future__ import annotations

import asyncio
import threading

from aggregator.pipeline.workers import Workers

# Held by a thread of the test process while the pool starts. A worker forked directly would get
# a copy of it, held, with no thread left to release it.
HELD = threading.Lock()


def take_the_lock() -> str:
    with HELD:
        return "free"


def _nothing() -> None:
    return None


def test_workers_started_beside_other_threads_do_not_inherit_their_locks() -> None:
    release = threading.Event()

    def holder() -> None:
        with HELD:
            release.wait(60)

    thread = threading.Thread(target=holder, daemon=True)
    thread.start()
    pool = Workers(1, budget=20.0, warm=_nothing, preload=("tests.test_workers",))
    try:
        assert asyncio.run(pool.run(take_the_lock)) == "free"
    finally:
        release.set()
        thread.join()
        pool.close()
