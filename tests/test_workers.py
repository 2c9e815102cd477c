"""The pipeline's worker pool (pipeline/workers.py): in a process that runs other threads, as the
web server does, workers must not inherit a lock another thread holds at the moment they start;
and a fetch killed with kill -9 leaves none of its processes behind."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from aggregator.pipeline.workers import Workers
from tests.conftest import DATA
from tests.httpserver import LocalServer, Route

AGG = [sys.executable, "-c", "from aggregator.cli import cli; cli(prog_name='aggregator')"]

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


# ---------------------------------------------------------------------------------------------
# `aggregator fetch` as a user runs it: its own process, with its extraction workers


def _marked(mark: str) -> list[int]:
    """Processes whose environment carries `mark`: a command and everything it started,
    whatever their command lines."""
    found = []
    needle = f"AGGREGATOR_TEST_RUN={mark}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.05)


def _status(db: Path, url: str) -> str | None:
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT fetch_status FROM articles WHERE url = ?", [url]).fetchone()
    finally:
        conn.close()
    return row[0] if row else None


def test_a_fetch_killed_mid_run_leaves_no_process_behind_and_the_next_run_finishes(
    server: LocalServer, db_path: Path
) -> None:
    page = (DATA / "pages" / "article.html").read_bytes()
    answer = threading.Event()

    def slow(handler: BaseHTTPRequestHandler) -> None:
        answer.wait(30)  # the page the run is waiting for when it is killed
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(page)))
        handler.end_headers()
        handler.wfile.write(page)

    fast = server.add("/fast.html", Route(body=page, content_type="text/html"))
    waiting = server.add("/slow.html", slow)
    mark = uuid.uuid4().hex
    env = {**os.environ, "AGGREGATOR_TEST_RUN": mark}
    command = [*AGG, "--db", str(db_path)]
    saved = subprocess.run([*command, "save", fast, waiting], env=env, capture_output=True)
    assert saved.returncode == 0, saved.stderr
    proc = subprocess.Popen([*command, "fetch"], env=env, stdout=subprocess.DEVNULL)
    try:
        _wait_for(lambda: _status(db_path, fast) == "ok")  # extracted: the workers are up
        assert len(_marked(mark)) >= 2
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        # its workers end with the command (else they would hold its pipes and memory for ever)
        _wait_for(lambda: not _marked(mark), timeout=10)
    finally:
        proc.kill()
        answer.set()
    assert _status(db_path, waiting) == "pending"

    done = subprocess.run([*command, "fetch"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "1 with text" in done.stdout
    assert _status(db_path, waiting) == "ok"
    _wait_for(lambda: not _marked(mark), timeout=10)
