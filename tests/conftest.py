"""Shared fixtures: a database file in tmp_path, a local HTTP server on 127.0.0.1 allowed by the
address policy, a CliRunner, and the paths of the shared corpora."""

from __future__ import annotations

import os
import sqlite3
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
CORPORA = Path(
    os.environ.get("AGGREGATOR_CORPORA")
    or (Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora")
).resolve()


def corpus(*parts: str) -> Path:
    """A path under ../shared/corpora, or skip the test with the reason."""
    path = CORPORA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared corpus not present: {path}")
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
