"""Browser fixtures: a real `aggregator serve` on a free port over a sample database, a
Chromium page (Debian's, driven by Playwright) that leaves a screenshot when a test fails, and
a folder for the screenshots tests take of the main pages (AGGREGATOR_SCREENSHOTS, or a new
`aggregator-screenshots-*` folder in the system's temporary folder, kept after the run, unlike
pytest's own temporary folders; its path is printed at the end of the run)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving import aggregator_command, running

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def served(tmp_path: Path, server: Any) -> Iterator[str]:
    """`aggregator serve` over the shipped sample; the local test server is allowed for fetches."""
    db = tmp_path / "browser.db"
    exe = aggregator_command()
    subprocess.run(
        [*exe, "--db", str(db), "load-sample", str(ROOT / "data" / "sample")],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    with running(
        lambda port: [*exe, "--db", str(db), "serve", "--port", str(port)],
        cwd=ROOT,
        log_path=tmp_path / "serve.log",
    ) as base:
        yield base


# Module scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it is open, and later tests that call asyncio.run() would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.console_problems = []  # type: ignore[attr-defined]
    pg.on("console", lambda m: pg.console_problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.console_problems.append(str(e)))
    yield pg
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        shot = tmp_path / f"{request.node.name}.png"
        pg.screenshot(path=str(shot), full_page=True)
        print(f"screenshot of the failure: {shot}")
    context.close()


SCREENSHOTS_ENV = "AGGREGATOR_SCREENSHOTS"
SCREENSHOTS_KEY = pytest.StashKey[Path]()


@pytest.fixture(scope="session")
def screenshots(pytestconfig: pytest.Config) -> Path:
    chosen = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(chosen) if chosen else Path(tempfile.mkdtemp(prefix="aggregator-screenshots-"))
    folder.mkdir(parents=True, exist_ok=True)
    pytestconfig.stash[SCREENSHOTS_KEY] = folder
    return folder


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    folder = config.stash.get(SCREENSHOTS_KEY, None)
    if folder is not None:
        terminalreporter.write_line(f"screenshots of the pages: {folder}")


@pytest.fixture
def browser_context(browser: Any) -> Iterator[Any]:
    """A new context per size: `browser_context(width, height)` gives a page of that size."""
    contexts: list[Any] = []

    def make(width: int, height: int) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        pg = context.new_page()
        pg.console_problems = []
        pg.on("console", lambda m: pg.console_problems.append(m.text) if m.type == "error" else None)
        pg.on("pageerror", lambda e: pg.console_problems.append(str(e)))
        return pg

    yield make
    for context in contexts:
        context.close()
