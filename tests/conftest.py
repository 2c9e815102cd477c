"""Shared fixtures: a database file in tmp_path, a local HTTP server on 127.0.0.1 allowed by the
address policy, a CliRunner, and the corpora of real data named by AGGREGATOR_CORPORA."""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.httpserver import LocalServer, Route  # noqa: F401  (re-exported for tests)

DATA = Path(__file__).parent / "data"
# Words planted in tests/data/pages/article.html's boilerplate (navigation, sidebar, related
# links, comments, cookie banner, script, style, footer, tracking): none may reach extracted text.
MARKERS = [
    "NAVMARKER",
    "SIDEBARMARKER",
    "RELATEDMARKER",
    "COMMENTMARKER",
    "COOKIEMARKER",
    "SCRIPTMARKER",
    "STYLESHEETMARKER",
    "FOOTERMARKER",
    "trackingMarker",
]
# Real data by others (feeds, pages with ground truth, bookmark exports) is not part of the
# repository: CI points AGGREGATOR_CORPORA at it; without it the corpus tests skip with a reason and
# the small fixtures of our own in tests/data/ cover each path (docs/testing.md).
_CORPORA_ENV = os.environ.get("AGGREGATOR_CORPORA", "").strip()
CORPORA = Path(_CORPORA_ENV).resolve() if _CORPORA_ENV else Path("/nonexistent-corpora")


def corpus(*parts: str) -> Path:
    """A path under the corpora folder named by AGGREGATOR_CORPORA, or skip with the reason."""
    if not _CORPORA_ENV:
        pytest.skip("AGGREGATOR_CORPORA is not set: corpora of real data not available")
    path = CORPORA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"corpus not present under AGGREGATOR_CORPORA: {path}")
    return path


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    srv = LocalServer().start()
    monkeypatch.setenv("AGGREGATOR_ALLOW_HOSTS", f"127.0.0.1:{srv.port}")
    yield srv
    srv.stop()


@pytest.fixture
def db_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "aggregator.db"
    monkeypatch.setenv("AGGREGATOR_DB", str(path))
    return path


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    os.environ.pop("AGGREGATOR_ALLOW_HOSTS", None)


def run(*args: str, ok: bool = True) -> Result:
    """The CLI as a user runs it (in process); with `ok`, it must succeed."""
    from aggregator.cli import cli

    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def rows(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of a query on the database file, through a connection of its own."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket], None]], int]]:
    """A bare TCP server: each connection is handed to `serve(conn)` in a thread."""
    sockets: list[socket.socket] = []
    stop = threading.Event()

    def start(serve: Callable[[socket.socket], None]) -> int:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.settimeout(0.2)
        sockets.append(listener)

        def loop() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                sockets.append(conn)
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

        threading.Thread(target=loop, daemon=True).start()
        return int(listener.getsockname()[1])

    yield start
    stop.set()
    for sock in sockets:
        sock.close()
