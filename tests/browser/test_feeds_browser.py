"""Feeds in Chromium against a real `aggregator serve` and a local server of feeds, as a new
user would try them: subscribe to a site, see it on the feeds page with its counts, pause,
resume, refresh now, unsubscribe, import an OPML file, Refresh all, and a new entry arriving
on the articles page with no command run (`--refresh-every 5`). Layout at 1280 and 390 px, and
screenshots of the feeds pages in the screenshots folder."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import ROOT
from tests.httpserver import LocalServer, Route
from tests.serving import aggregator_command, running

DESKTOP = (1280, 900)
PHONE = (390, 844)
MIN_FIELD = 300
FORM_FIELDS = (
    "section.content form.save-form input:not([type=hidden]), section.content form.save-form select"
)


def rss(server: LocalServer, title: str, items: list[str]) -> bytes:
    entries = "".join(
        f"<item><title>{t}</title><link>{server.base}/posts/{i}</link>"
        f"<guid>{server.base}/posts/{i}</guid><description>All about {t}.</description></item>"
        for i, t in enumerate(items)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>{server.base}/</link>{entries}</channel></rss>"
    ).encode()


def publish(server: LocalServer, title: str, items: list[str]) -> None:
    server.add("/feed.xml", Route(rss(server, title, items), content_type="application/rss+xml"))


def serve_site(server: LocalServer, title: str, items: list[str]) -> str:
    """A site whose home page names its feed (discovery has to find it)."""
    publish(server, title, items)
    server.add(
        "/",
        Route(
            b'<html><head><title>Home</title><link rel="alternate" type="application/rss+xml" '
            b'href="/feed.xml"></head><body>Welcome to the site</body></html>',
            content_type="text/html",
        ),
    )
    return server.base + "/"


@contextmanager
def serving(tmp_path: Path, *options: str) -> Iterator[str]:
    """`aggregator serve` on a new, empty database, with `options`."""
    db = tmp_path / "feeds-browser.db"
    log_path = tmp_path / "serve.log"
    with running(
        lambda port: [*aggregator_command(), "--db", str(db), "serve", "--port", str(port), *options],
        cwd=ROOT,
        log_path=log_path,
    ) as base:
        yield base
    assert "Traceback" not in log_path.read_text(errors="replace"), log_path.read_text()


@pytest.fixture
def reader(tmp_path: Path, server: LocalServer) -> Iterator[str]:
    """The server a new user starts, background refresh off (the tests press the buttons)."""
    with serving(tmp_path, "--refresh-every", "0") as base:
        yield base


def feed_card(page: Any, title: str) -> Any:
    return page.locator("li.feed-row", has=page.locator("h2.feed-title", has_text=title))


def subscribe_through_the_form(page: Any, base: str, address: str, tags: str = "") -> str:
    page.goto(base + "/")
    page.locator("header nav").get_by_role("link", name="Subscribe", exact=True).click()
    page.get_by_label("Address").fill(address)
    if tags:
        page.get_by_label("Tags").fill(tags)
    page.get_by_role("button", name="Subscribe").click()
    return page.locator(".subscribe-result").inner_text()


def test_subscribe_to_a_site_and_see_it_on_the_feeds_page(
    page: Any, reader: str, server: LocalServer
) -> None:
    site = serve_site(server, "Allotment Diary", ["Sowing beans", "Slugs", "Harvest"])
    line = subscribe_through_the_form(page, reader, site, tags="garden")
    assert line.startswith("Subscribed to Allotment Diary") and "3 entries" in line
    page.locator("header nav").get_by_role("link", name="Feeds", exact=True).click()
    card = feed_card(page, "Allotment Diary")
    assert card.count() == 1
    assert card.locator(".status").inner_text().lower() == "ok"
    assert card.locator(".n-articles").inner_text() == "3"
    assert card.locator(".n-unread").inner_text() == "3"
    assert card.locator(".feed-tags").inner_text().strip() == "garden"
    assert "never" not in card.locator(".last-check").inner_text()
    # Its articles are one click away.
    card.locator(".n-articles").click()
    page.wait_for_url("**/aggregator/articles?feed_id=*")
    page.locator("ol.cards li.card").first.wait_for()
    assert page.locator("ol.cards li.card").count() == 3
    assert page.console_problems == [], page.console_problems


def test_pause_resume_refresh_now_and_unsubscribe(
    page: Any, reader: str, server: LocalServer
) -> None:
    subscribe_through_the_form(page, reader, serve_site(server, "Weather Log", ["Rain"]))
    page.goto(reader + "/-/feeds")
    card = feed_card(page, "Weather Log")

    card.get_by_role("button", name="Pause").click()
    assert "Paused Weather Log" in page.locator(".message-info").inner_text()
    card = feed_card(page, "Weather Log")
    assert card.locator(".status").inner_text().lower() == "paused"
    assert card.locator(".next-check").inner_text() == "paused"
    assert card.get_by_role("button", name="Refresh now").count() == 0

    card.get_by_role("button", name="Resume").click()
    card = feed_card(page, "Weather Log")
    assert card.locator(".status").inner_text().lower() == "ok"

    publish(server, "Weather Log", ["Rain", "Sunshine at last"])
    card.get_by_role("button", name="Refresh now").click()
    assert page.locator(".message-info").inner_text() == "Refreshed Weather Log: 1 new entry."
    assert feed_card(page, "Weather Log").locator(".n-articles").inner_text() == "2"

    feed_card(page, "Weather Log").get_by_role("button", name="Unsubscribe").click()
    assert "saved, starred" in page.locator(".confirm-text").inner_text()
    page.get_by_role("button", name="Unsubscribe").click()
    assert "Unsubscribed from Weather Log" in page.locator(".message-info").inner_text()
    assert feed_card(page, "Weather Log").count() == 0
    assert page.console_problems == [], page.console_problems


def test_import_an_opml_file(page: Any, reader: str, server: LocalServer, tmp_path: Path) -> None:
    publish(server, "Night Sky", ["Jupiter rising"])
    opml = tmp_path / "from-feedly.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><head><title>Feedly</title></head><body>'
        '<outline text="Space" title="Space">'
        f'<outline type="rss" text="Night Sky" xmlUrl="{server.base}/feed.xml"/>'
        '<outline type="rss" text="Moon Watch" xmlUrl="https://moon.example/rss"/>'
        "</outline></body></opml>",
        encoding="utf-8",
    )
    page.goto(reader + "/-/feeds")
    page.get_by_role("link", name="Import", exact=True).click()
    page.get_by_label("File").set_input_files(str(opml))
    page.get_by_role("button", name="Import").click()
    assert page.locator(".import-line").inner_text() == (
        "Imported opml: 2 new feeds (0 already there), 0 new links (0 already there)"
    )
    page.goto(reader + "/-/feeds")
    assert feed_card(page, "Night Sky").count() == 1 and feed_card(page, "Moon Watch").count() == 1
    # Refresh all brings the entries of what could be reached and shows its progress.
    page.get_by_role("button", name="Refresh all").click()
    page.wait_for_function("() => document.querySelector('.refresh-last') !== null", timeout=60_000)
    assert "2 feeds" in page.locator(".refresh-last").inner_text()
    assert feed_card(page, "Night Sky").locator(".n-articles").inner_text() == "1"
    failing = feed_card(page, "Moon Watch")
    assert failing.locator(".status").inner_text().lower() == "failing"
    assert failing.locator(".feed-error strong").inner_text()  # said in plain words
    # The export gives the subscriptions back.
    with page.expect_download() as download:
        page.get_by_role("link", name="Export subscriptions (OPML)").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert f"{server.base}/feed.xml" in exported and "https://moon.example/rss" in exported
    assert page.console_problems == [], page.console_problems


def test_a_new_entry_arrives_on_the_articles_page_with_no_command(
    page: Any, tmp_path: Path, server: LocalServer
) -> None:
    with serving(tmp_path, "--refresh-every", "5") as base:
        subscribe_through_the_form(page, base, serve_site(server, "Tide Tables", ["Spring tide"]))
        publish(server, "Tide Tables", ["Spring tide", "A very low tide tonight"])
        started = time.monotonic()
        seen = False
        while time.monotonic() - started < 20:
            page.goto(base + "/aggregator/articles")
            if page.get_by_text("A very low tide tonight").count():
                seen = True
                break
            page.wait_for_timeout(1000)
        assert seen, "the new entry did not arrive within 20 s"
        page.goto(base + "/-/feeds")
        assert "Feeds refresh themselves every" in page.locator(".refresh-schedule").inner_text()


def field_sizes(page: Any) -> list[dict[str, Any]]:
    return page.evaluate(
        """(selector) => {
        const content = document.querySelector('section.content');
        const style = getComputedStyle(content);
        const inner = content.clientWidth - parseFloat(style.paddingLeft)
            - parseFloat(style.paddingRight);
        return [...document.querySelectorAll(selector)]
            .filter(el => el.checkVisibility())
            .map(el => ({name: el.name, width: el.getBoundingClientRect().width, content: inner}));
        }""",
        FORM_FIELDS,
    )


@pytest.mark.parametrize("path", ["/-/subscribe", "/-/import"])
def test_form_fields_are_wide_on_a_desktop_and_full_width_on_a_phone(
    browser_context: Any, reader: str, path: str
) -> None:
    desktop = browser_context(*DESKTOP)
    desktop.goto(reader + path)
    fields = field_sizes(desktop)
    assert len(fields) >= 2, fields
    assert all(f["width"] >= MIN_FIELD for f in fields), fields
    phone = browser_context(*PHONE)
    phone.goto(reader + path)
    for field in field_sizes(phone):
        assert field["width"] >= field["content"] - 2, field
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE[0]


def no_duplicates(page: Any) -> None:
    """Each feed, each heading and each of the page's own buttons once."""
    ids = page.locator("li.feed-row").evaluate_all("els => els.map(e => e.id)")
    assert len(ids) == len(set(ids)), ids
    for selector in ("h1", "#refresh", ".feed-tools", ".sort-links"):
        assert page.locator(selector).count() == 1, selector
    for card in page.locator("li.feed-row").all():
        labels = card.locator("button, a.btn").all_inner_texts()
        assert len(labels) == len(set(labels)), labels


@pytest.mark.parametrize("size", [DESKTOP, PHONE])
def test_feeds_pages_layout_and_screenshots(
    browser_context: Any,
    reader: str,
    server: LocalServer,
    screenshots: Path,
    size: tuple[int, int],
) -> None:
    page = browser_context(*size)
    subscribe_through_the_form(page, reader, serve_site(server, "Lab Bench", ["Pipettes"]))
    shots: dict[str, Callable[[], None]] = {
        "subscribe-result": lambda: None,
        "feeds": lambda: page.goto(reader + "/-/feeds"),
        "import": lambda: page.goto(reader + "/-/import"),
        "unsubscribe": lambda: (
            feed_card(page, "Lab Bench").get_by_role("button", name="Unsubscribe").click()
        ),
    }
    for name, go in shots.items():
        if name == "unsubscribe":
            page.goto(reader + "/-/feeds")
        go()
        page.wait_for_load_state("load")
        if name == "feeds":
            no_duplicates(page)
            assert page.evaluate("document.documentElement.scrollWidth") <= size[0]
            buttons = feed_card(page, "Lab Bench").locator("button, a.btn").all()
            assert all(
                b.bounding_box()["x"] + b.bounding_box()["width"] <= size[0] for b in buttons
            )
        shot = screenshots / f"{name}-{size[0]}.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 1000
    assert page.console_problems == [], page.console_problems


@pytest.mark.parametrize("size", [DESKTOP, PHONE])
def test_the_feeds_page_of_the_sample(
    browser_context: Any, served: str, screenshots: Path, size: tuple[int, int]
) -> None:
    """The collection `make run` shows: its feeds are stored paused (made-up addresses)."""
    page = browser_context(*size)
    page.goto(served + "/")
    page.locator("ul.counts").get_by_role("link", name="feeds").click()
    page.wait_for_url("**/-/feeds")
    cards = page.locator("li.feed-row")
    assert cards.count() >= 8
    no_duplicates(page)
    statuses = cards.locator(".status").all_inner_texts()
    assert {s.lower() for s in statuses} == {"paused"}
    assert all(int(n) > 0 for n in cards.locator(".n-articles").all_inner_texts())
    page.get_by_role("link", name="Unread", exact=True).click()
    page.wait_for_url("**sort=unread")
    unread = [int(n) for n in page.locator("li.feed-row .n-unread").all_inner_texts()]
    assert unread == sorted(unread, reverse=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= size[0]
    shot = screenshots / f"feeds-sample-{size[0]}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 1000
    assert page.console_problems == [], page.console_problems
