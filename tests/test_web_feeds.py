"""Feeds in the browser through a real Datasette (the plugin, the real metadata.yml, a database
file) and a local HTTP server of feeds: subscribing, the feeds page and its buttons, importing,
the OPML export, CSRF on every new write, and the background refresher's schedule and lock."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sqlite3
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import store
from aggregator.errors import LockedError
from aggregator.web import refresher
from aggregator.web.app import build_datasette
from aggregator.web.feeds import every_text, plain_error
from tests.conftest import rows
from tests.httpserver import LocalServer, Route
from tests.webclient import Visitor, get, post, run


def rss(server: LocalServer, title: str, items: list[str]) -> bytes:
    entries = "".join(
        f"<item><title>{t}</title><link>{server.base}/posts/{i}</link><guid>{server.base}/"
        f"posts/{i}</guid><description>About {t}.</description></item>"
        for i, t in enumerate(items)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>{server.base}/</link>{entries}</channel></rss>"
    ).encode()


def serve_site(server: LocalServer, title: str = "Garden Diary", items: int = 3) -> str:
    """A site whose home page names its feed; returns the site's address."""
    server.add(
        "/feed.xml",
        Route(
            rss(server, title, [f"Post {i}" for i in range(items)]),
            content_type="application/rss+xml",
        ),
    )
    server.add(
        "/",
        Route(
            b'<html><head><title>Home</title><link rel="alternate" type="application/rss+xml" '
            b'href="/feed.xml"></head><body>Welcome</body></html>',
            content_type="text/html",
        ),
    )
    return server.base + "/"


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    path = tmp_path / "feeds.db"
    store.open_db(path).conn.close()
    return path


@pytest.fixture
def ds(db_file: Path) -> Any:
    return build_datasette(db_file, fetch_saved=False)


def feed_rows(ds: Any, page: str | None = None) -> dict[str, dict[str, str]]:
    """The feeds page as a reader sees it: title -> status, counts, checks, error."""
    page = page if page is not None else get(ds, "/-/feeds").text
    found = {}
    for block in re.findall(
        r'<li class="feed-row.*?</li>\s*(?=<li class="feed-row|</ol>)', page, re.S
    ):
        title = re.search(r'<h2 class="feed-title"><a [^>]*>(.*?)</a>', block, re.S).group(1)

        def pick(pattern: str, text: str = block) -> str:
            hit = re.search(pattern, text, re.S)
            return re.sub(r"\s+", " ", hit.group(1)).strip() if hit else ""

        found[title] = {
            "status": pick(r'<span class="status status-[a-z]+">(.*?)</span>'),
            "articles": pick(r'class="n-articles">(\d+)<'),
            "unread": pick(r'class="n-unread">(\d+)<'),
            "last_check": pick(r'class="last-check">(.*?)<'),
            "next_check": pick(r'class="next-check">(.*?)<'),
            "error": pick(r'<p class="feed-error">(.*?)</p>'),
            "buttons": " ".join(
                re.findall(r'<button type="submit" class="btn[^"]*">(.*?)</button>', block)
            ),
            "id": pick(r'id="feed-(\d+)"'),
        }
    return found


def subscribe(visitor: Visitor, url: str, tags: str = "") -> Any:
    return visitor.post("/-/subscribe", {"url": url, "tags": tags})


def result_line(page: str) -> str:
    return re.sub(
        r"<[^>]+>",
        "",
        re.search(r'class="subscribe-result[^"]*"[^>]*>(.*?)</p>', page, re.S).group(1),
    )


# ---------------------------------------------------------------------------------------------
# Navigation


def test_the_navigation_and_home_page_lead_to_feeds_and_subscribe(ds: Any) -> None:
    home = get(ds, "/").text
    nav = re.search(r'<ul class="main-nav">(.*?)</ul>', home, re.S).group(1)
    assert '<a href="/-/feeds"' in nav and '<a href="/-/subscribe"' in nav
    assert 'href="/-/subscribe"' in home.split('<ul class="main-nav">')[1].split("</ul>", 1)[1]
    feeds = get(ds, "/-/feeds").text
    assert "No feeds yet" in feeds
    assert 'href="/aggregator/feeds"' in feeds  # the raw table stays reachable
    assert "Export subscriptions (OPML)" in feeds


# ---------------------------------------------------------------------------------------------
# Subscribe


def test_subscribing_to_a_site_finds_its_feed_and_shows_it_with_counts(
    ds: Any, server: LocalServer, db_file: Path
) -> None:
    visitor = Visitor(ds)
    site = serve_site(server, "Garden Diary", items=3)
    response = subscribe(visitor, site, tags="garden, weekly")
    assert response.status_code == 200
    line = result_line(response.text)
    assert line.startswith("Subscribed to Garden Diary") and "3 entries" in line
    shown = feed_rows(ds)["Garden Diary"]
    assert shown["status"] == "ok" and shown["articles"] == "3" and shown["unread"] == "3"
    assert shown["last_check"] not in ("", "never")
    assert rows(db_file, "select url, tags from feeds") == [
        (server.base + "/feed.xml", '["garden", "weekly"]')
    ]
    again = result_line(subscribe(visitor, server.base + "/feed.xml").text)
    assert again.startswith("Already subscribed to Garden Diary")
    assert rows(db_file, "select count(*) from feeds") == [(1,)]


@pytest.mark.parametrize(
    "address, reason",
    [("javascript:alert(1)", "not an http(s) URL"), ("/nowhere", "no feed found")],
)
def test_subscribing_to_nothing_says_why_in_one_line(
    ds: Any, server: LocalServer, db_file: Path, address: str, reason: str
) -> None:
    server.add(
        "/nowhere", Route(b"<html><body>No feed here</body></html>", content_type="text/html")
    )
    url = server.base + address if address.startswith("/") else address
    response = subscribe(Visitor(ds), url)
    assert response.status_code == 422
    line = result_line(response.text)
    assert line.startswith("Nothing was subscribed:") and reason in line and "\n" not in line
    assert rows(db_file, "select count(*) from feeds") == [(0,)]


def test_a_site_on_a_private_address_is_refused_without_the_allowance(
    ds: Any, db_file: Path
) -> None:
    other = LocalServer().start()  # not in AGGREGATOR_ALLOW_HOSTS
    try:
        site = serve_site(other)
        line = result_line(subscribe(Visitor(ds), site).text)
    finally:
        other.stop()
    assert line.startswith("Nothing was subscribed:") and "blocked address" in line
    assert not other.requests
    assert rows(db_file, "select count(*) from feeds") == [(0,)]


# ---------------------------------------------------------------------------------------------
# The feeds page's buttons


def test_pause_resume_refresh_and_unsubscribe_do_what_they_say(
    ds: Any, server: LocalServer, db_file: Path
) -> None:
    visitor = Visitor(ds)
    subscribe(visitor, serve_site(server, "Garden Diary", items=2))
    feed_id = feed_rows(ds)["Garden Diary"]["id"]

    assert visitor.post(f"/-/feeds/{feed_id}/pause").status_code == 303
    page = visitor.get("/-/feeds").text
    assert visitor.messages(page) == ["Paused Garden Diary: it is not checked until you resume it."]
    shown = feed_rows(ds, page)["Garden Diary"]
    assert shown["status"] == "paused" and shown["next_check"] == "paused"
    assert "Resume" in shown["buttons"] and "Refresh now" not in shown["buttons"]
    server.requests.clear()
    visitor.post(f"/-/feeds/{feed_id}/refresh")  # a paused feed is not asked
    assert visitor.messages(visitor.get("/-/feeds").text) == [
        "Garden Diary is paused: resume it to check it again."
    ]
    assert not server.requests

    visitor.post(f"/-/feeds/{feed_id}/resume")
    shown = feed_rows(ds, visitor.get("/-/feeds").text)["Garden Diary"]
    assert shown["status"] == "ok" and "Pause" in shown["buttons"]

    # A new entry is published: Refresh now brings it.
    server.add(
        "/feed.xml",
        Route(
            rss(server, "Garden Diary", ["Post 0", "Post 1", "Fresh news"]),
            content_type="application/rss+xml",
        ),
    )
    visitor.post(f"/-/feeds/{feed_id}/refresh")
    page = visitor.get("/-/feeds").text
    assert visitor.messages(page) == ["Refreshed Garden Diary: 1 new entry."]
    assert feed_rows(ds, page)["Garden Diary"]["articles"] == "3"

    # Star one article and save one link from the feed: both outlive the unsubscription.
    starred = rows(db_file, "select id from articles where title = 'Post 0'")[0][0]
    visitor.post(f"/-/articles/{starred}/star")
    confirm = visitor.get(f"/-/feeds/{feed_id}/unsubscribe").text
    assert "saved, starred" in confirm and "are kept" in confirm
    assert rows(db_file, "select count(*) from feeds") == [(1,)]  # asking changed nothing
    visitor.post(f"/-/feeds/{feed_id}/unsubscribe")
    page = visitor.get("/-/feeds").text
    assert visitor.messages(page) == [
        "Unsubscribed from Garden Diary. Saved and starred articles are kept."
    ]
    assert feed_rows(ds, page) == {}
    assert rows(db_file, "select title, starred from articles") == [("Post 0", 1)]


def test_refresh_now_records_a_failure_in_plain_words(
    ds: Any, server: LocalServer, db_file: Path
) -> None:
    visitor = Visitor(ds)
    subscribe(visitor, serve_site(server, "Garden Diary"))
    feed_id = feed_rows(ds)["Garden Diary"]["id"]
    server.add("/feed.xml", Route(b"gone", status=404, content_type="text/plain"))
    visitor.post(f"/-/feeds/{feed_id}/refresh")
    page = visitor.get("/-/feeds").text
    assert visitor.messages(page) == [
        "Refreshed Garden Diary: the check failed (HTTP 404 Not Found)."
    ]
    shown = feed_rows(ds, page)["Garden Diary"]
    assert shown["status"] == "failing"
    assert shown["error"].startswith("<strong>Nothing is at this address any more.</strong>")
    assert "HTTP 404 Not Found; 1 failed check in a row" in shown["error"]
    assert shown["articles"] == "3"  # the entries stay


def test_the_full_text_switch_sets_the_feed(ds: Any, server: LocalServer, db_file: Path) -> None:
    visitor = Visitor(ds)
    subscribe(visitor, serve_site(server))
    feed_id = feed_rows(ds)["Garden Diary"]["id"]
    for choice, stored in (("always", 1), ("never", 0), ("auto", None), ("bogus", None)):
        visitor.post(f"/-/feeds/{feed_id}/fulltext", {"full_text": choice})
        assert rows(db_file, "select full_text from feeds") == [(stored,)]
    page = visitor.get("/-/feeds").text
    assert '<option value="auto" selected>' in page


def test_the_feeds_page_sorts_by_name_status_and_unread(
    ds: Any, db_file: Path, server: LocalServer
) -> None:
    db = store.open_db(db_file)
    a, _ = store.add_feed(db, "https://a.example/feed", title="Alpha")
    b, _ = store.add_feed(db, "https://b.example/feed", title="Bravo")
    c, _ = store.add_feed(db, "https://c.example/feed", title="Charlie", status="paused")
    store.record_feed_error(db, b, "HTTP 500 Internal Server Error")
    for feed_id, n in ((a, 1), (c, 3)):
        store.store_entries(
            db,
            feed_id,
            [
                {
                    "key": f"{feed_id}-{i}",
                    "url": f"https://x.example/{feed_id}/{i}",
                    "title": f"T{i}",
                }
                for i in range(n)
            ],
        )
    db.conn.close()

    def order(sort: str) -> list[str]:
        return list(feed_rows(ds, get(ds, f"/-/feeds?sort={sort}").text))

    assert order("name") == ["Alpha", "Bravo", "Charlie"]
    assert order("status") == ["Bravo", "Charlie", "Alpha"]
    assert order("unread") == ["Charlie", "Alpha", "Bravo"]
    assert order("'; drop table feeds") == ["Alpha", "Bravo", "Charlie"]
    assert feed_rows(ds)["Bravo"]["error"].startswith(
        "<strong>The site had a problem of its own (a server error).</strong>"
    )


def test_unread_counts_past_the_time_limit_leave_the_feeds_listed_with_a_note(
    ds: Any, db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a collection too large to count its unread articles within Datasette's time limit,
    the page still lists every feed, without the counts, and says why."""
    from datasette.database import Database, QueryInterrupted

    db = store.open_db(db_file)
    store.add_feed(db, "https://b.example/feed", title="Bravo")
    store.add_feed(db, "https://a.example/feed", title="Alpha")
    db.conn.close()
    execute = Database.execute

    async def slow_unread(self: Any, sql: str, *args: Any, **kwargs: Any) -> Any:
        if "state = 'unread'" in sql and "group by feed_id" in sql:
            raise QueryInterrupted(Exception("interrupted"), sql, {})
        return await execute(self, sql, *args, **kwargs)

    monkeypatch.setattr(Database, "execute", slow_unread)
    page = get(ds, "/-/feeds?sort=unread")
    assert page.status_code == 200
    assert list(feed_rows(ds, page.text)) == ["Alpha", "Bravo"]
    assert "Unread articles were not counted this time" in page.text
    assert "The feeds are in order of name." in page.text
    assert 'class="n-unread"' not in page.text
    monkeypatch.setattr(Database, "execute", execute)
    counted = get(ds, "/-/feeds").text
    assert "not counted" not in counted and counted.count('class="n-unread">0<') == 2


def test_the_opml_export_lists_every_subscription(ds: Any, db_file: Path) -> None:
    db = store.open_db(db_file)
    store.add_feed(db, "https://a.example/feed", title="Alpha & Co", tags=["news"])
    store.add_feed(db, "https://b.example/feed", title="Bravo", status="paused")
    db.conn.close()
    response = get(ds, "/-/feeds/subscriptions.opml")
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    outlines = ET.fromstring(response.content).iter("outline")
    urls = {o.get("xmlUrl"): o.get("title") for o in outlines if o.get("xmlUrl")}
    assert urls == {"https://a.example/feed": "Alpha & Co", "https://b.example/feed": "Bravo"}


# ---------------------------------------------------------------------------------------------
# Import


OPML = b"""<?xml version="1.0"?>
<opml version="2.0"><head><title>From another reader</title></head><body>
<outline text="Science"><outline type="rss" text="Sky" xmlUrl="https://sky.example/feed"/>
<outline type="rss" text="Sea" xmlUrl="https://sea.example/rss"/></outline>
<outline type="rss" text="Broken" xmlUrl="javascript:alert(1)"/>
</body></opml>"""


def upload(visitor: Visitor, name: str, data: bytes, **fields: str) -> Any:
    return post(
        visitor.ds,
        "/-/import",
        data={"csrftoken": visitor.token, **fields},
        files={"file": (name, data, "application/octet-stream")},
        cookies=visitor.cookies,
    )


def test_importing_an_opml_file_adds_its_feeds_with_the_counts_of_the_cli(
    ds: Any, db_file: Path
) -> None:
    visitor = Visitor(ds)
    form = get(ds, "/-/import").text
    assert re.search(r"<label>File <input type=\"file\" name=\"file\"", form)
    response = upload(visitor, "feedly.opml", OPML, tags="imported")
    assert response.status_code == 200
    page = response.text
    line = re.search(r'class="import-line">(.*?)</p>', page).group(1)
    assert line == "Imported opml: 2 new feeds (0 already there), 0 new links (0 already there)"
    assert "1 of 3 records skipped" in page
    assert rows(db_file, "select url, tags from feeds order by url") == [
        ("https://sea.example/rss", '["Science", "imported"]'),
        ("https://sky.example/feed", '["Science", "imported"]'),
    ]
    again = upload(visitor, "feedly.opml", OPML).text
    assert "0 new feeds (2 already there)" in again
    assert set(feed_rows(ds)) == {"Sky", "Sea"}


def test_importing_links_from_a_bookmarks_file(ds: Any, db_file: Path) -> None:
    bookmarks = (
        b"<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>"
        b'<DT><A HREF="https://read.example/one" ADD_DATE="1700000000" TAGS="later">One</A>'
        b'<DT><A HREF="https://read.example/two" ADD_DATE="1700000100">Two</A></DL>'
    )
    page = upload(Visitor(ds), "bookmarks.html", bookmarks).text
    assert "2 new links (0 already there)" in page
    assert rows(db_file, "select url, saved from articles order by url") == [
        ("https://read.example/one", 1),
        ("https://read.example/two", 1),
    ]


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("empty.opml", b"", "choose a file"),
        ("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(200), "binary file"),
        ("broken.opml", b"<?xml version='1.0'?><opml><body><outline", "broken.opml"),
    ],
)
def test_a_file_that_cannot_be_imported_says_why_and_changes_nothing(
    ds: Any, db_file: Path, name: str, data: bytes, reason: str
) -> None:
    response = upload(Visitor(ds), name, data)
    assert response.status_code in (400, 422)
    error = re.search(
        r'<p class="message-error import-result"[^>]*>(.*?)</p>', response.text
    ).group(1)
    assert error.startswith("Nothing was imported:") and reason in error.lower()
    assert rows(db_file, "select count(*) from feeds") == [(0,)]
    assert rows(db_file, "select count(*) from articles") == [(0,)]


# ---------------------------------------------------------------------------------------------
# Every new write needs the token and refuses cross-site requests


WRITES = [
    "/-/subscribe",
    "/-/feeds/refresh-all",
    "/-/feeds/1/refresh",
    "/-/feeds/1/pause",
    "/-/feeds/1/resume",
    "/-/feeds/1/fulltext",
    "/-/feeds/1/unsubscribe",
]


@pytest.fixture
def one_feed(db_file: Path) -> None:
    db = store.open_db(db_file)
    store.add_feed(db, "https://a.example/feed", title="Alpha")
    db.conn.close()


@pytest.mark.parametrize("path", WRITES + ["/-/import"])
def test_every_feed_write_needs_the_csrf_token(
    ds: Any, db_file: Path, one_feed: None, path: str
) -> None:
    visitor = Visitor(ds)
    data = {"url": "https://a.example/other", "full_text": "always"}
    files = {"file": ("x.opml", OPML)} if path == "/-/import" else None
    no_cookie = post(ds, path, data={**data, "csrftoken": visitor.token}, files=files)
    no_token = post(ds, path, data=data, files=files, cookies=visitor.cookies)
    wrong = post(
        ds,
        path,
        data={**data, "csrftoken": visitor.token + "x"},
        files=files,
        cookies=visitor.cookies,
    )
    assert {no_cookie.status_code, no_token.status_code, wrong.status_code} == {403}
    assert rows(db_file, "select url, status, full_text from feeds") == [
        ("https://a.example/feed", "ok", None)
    ]


@pytest.mark.parametrize("path", WRITES + ["/-/import"])
@pytest.mark.parametrize(
    "headers", [{"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"}]
)
def test_every_feed_write_refuses_a_cross_site_request(
    ds: Any, db_file: Path, one_feed: None, path: str, headers: dict[str, str]
) -> None:
    visitor = Visitor(ds)
    files = {"file": ("x.opml", OPML)} if path == "/-/import" else None
    response = post(
        ds,
        path,
        data={"csrftoken": visitor.token, "full_text": "always"},
        files=files,
        cookies=visitor.cookies,
        headers=headers,
    )
    assert response.status_code == 403
    assert rows(db_file, "select url, status, full_text from feeds") == [
        ("https://a.example/feed", "ok", None)
    ]


def test_a_get_never_changes_a_feed(ds: Any, db_file: Path, one_feed: None) -> None:
    for path in WRITES[1:-1]:
        assert get(ds, path).status_code in (403, 405)
    assert rows(db_file, "select status, full_text from feeds") == [("ok", None)]


# ---------------------------------------------------------------------------------------------
# Refresh all, and the background schedule


def wait_until(check: Any, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_refresh_all_shows_progress_and_refreshes_every_active_feed(
    ds: Any, server: LocalServer, db_file: Path
) -> None:
    visitor = Visitor(ds)
    subscribe(visitor, serve_site(server, "Garden Diary", items=1))
    server.add(
        "/feed.xml",
        Route(
            rss(server, "Garden Diary", ["Post 0", "Late news"]), content_type="application/rss+xml"
        ),
    )

    async def press_and_watch() -> list[dict[str, Any]]:
        # One loop for the whole visit, as a server has: the run is a task on it.
        await ds.client.post(
            "/-/feeds/refresh-all", data={"csrftoken": visitor.token}, cookies=visitor.cookies
        )
        seen = []
        for _ in range(200):
            seen.append((await ds.client.get("/-/feeds/progress.json")).json())
            if not seen[-1]["running"]:
                break
            await asyncio.sleep(0.1)
        return seen

    seen = run(press_and_watch())
    assert seen[0]["running"] or seen[0]["last_result"]  # shown at once, before its thread began
    assert not seen[-1]["running"]
    assert seen[-1]["last_result"].startswith("Fetched 1 feeds, 1 new entries")
    assert seen[-1]["feeds_done"] == seen[-1]["feeds_total"] == 1
    assert rows(db_file, "select count(*) from articles") == [(2,)]
    page = get(ds, "/-/feeds").text
    assert "Last refresh: Fetched 1 feeds, 1 new entries" in page


def test_the_schedule_runs_on_time_and_outlives_a_failed_run(
    tmp_path: Path, server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    db_path = tmp_path / "sched.db"
    db = store.open_db(db_path)
    store.add_feed(db, server.add("/feed.xml", Route(rss(server, "Ticker", ["A"]))), title="Ticker")
    db.conn.close()
    broken = refresher.Runner(str(tmp_path / "no-such-folder" / "x.db"), interval=1)
    working = refresher.Runner(str(db_path), interval=1)

    async def watch(seconds: float) -> None:
        broken.start()
        working.start()
        await asyncio.sleep(seconds)
        for runner in (broken, working):
            assert runner.task is not None
            runner.task.cancel()

    server.add(
        "/feed.xml",
        Route(rss(server, "Ticker", ["A"]), content_type="application/rss+xml"),
    )
    with caplog.at_level(logging.ERROR, logger=refresher.log.name):
        run(watch(3.6))  # interval 1: runs at about 1, 2 and 3 s
    failed = broken.progress()
    assert failed.last_error and "failed" in failed.last_error
    hits = [r for r in server.requests if r[1] == "/feed.xml"]
    # each run found the feed due (no cache headers); each failed run was logged
    failures = [r for r in caplog.records if "the next one starts on time" in r.getMessage()]
    assert len(failures) >= 2 and all(r.exc_info for r in failures)
    assert len(hits) >= 2
    assert rows(db_path, "select count(*) from articles") == [(1,)]
    assert working.progress().last_result.startswith("Fetched 1 feeds")


LOCK_HOLDER = """
import sys, time
from aggregator import store
with store.writer_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_run_waits_for_a_fetch_from_a_shell_and_gives_up_after_its_wait(
    tmp_path: Path, server: LocalServer
) -> None:
    db_path = tmp_path / "locked.db"
    db = store.open_db(db_path)
    store.add_feed(db, server.add("/feed.xml", Route(rss(server, "Held", ["A"]))), title="Held")
    db.conn.close()
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(db_path), "2"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        runner = refresher.Runner(str(db_path), interval=0)
        with pytest.raises(LockedError, match="another aggregator process is writing"):
            runner.run(every_feed=False, what="scheduled refresh", wait=0.3)
        assert rows(db_path, "select count(*) from articles") == [(0,)]
        started = time.monotonic()
        result: list[str] = []
        worker = threading.Thread(
            target=lambda: result.append(
                runner.run(every_feed=False, what="scheduled refresh", wait=30)
            )
        )
        worker.start()
        wait_until(lambda: runner.progress().waiting, seconds=5)  # the feeds page says so
        worker.join(timeout=60)
        assert time.monotonic() - started > 1.0  # it waited for the shell's fetch to end
        assert result and result[0].startswith("Fetched 1 feeds, 1 new entries")
        assert not runner.progress().waiting and not runner.progress().running
    finally:
        holder.wait(timeout=30)


def test_threads_of_the_server_queue_on_the_lock(tmp_path: Path) -> None:
    path = str(tmp_path / "threads.db")
    store.open_db(path).conn.close()
    with refresher.writer(path, wait=1, what="refresh"):
        with pytest.raises(LockedError):
            with refresher.writer(path, wait=0.2, what="import"):
                pass
    with refresher.writer(path, wait=1, what="import"):
        pass


def test_plain_words_for_recorded_errors() -> None:
    assert plain_error("HTTP 410 Gone: the feed is gone") == (
        "The site says the feed is gone for good; it is no longer checked."
    )
    assert plain_error("HTTP 503 Service Unavailable").startswith("The site had a problem")
    assert plain_error("could not resolve host nowhere.example").startswith("The site's name")
    assert plain_error("something new") == "The last check failed."
    assert plain_error(None) == ""


def test_the_refresh_setting_comes_from_serve(tmp_path: Path) -> None:
    from aggregator.web import settings

    path = tmp_path / "s.db"
    store.open_db(path).conn.close()
    assert settings.read(build_datasette(path)).refresh_every == 0
    assert settings.read(build_datasette(path, refresh_every=5)).refresh_every == 5
    page = get(build_datasette(path, refresh_every=5), "/-/feeds").text
    assert "Feeds refresh themselves every" in page
    assert json.loads(get(build_datasette(path), "/-/feeds/progress.json").text)["interval"] == 0


def test_the_interval_in_words() -> None:
    assert [every_text(s) for s in (1800, 5, 60, 90, 5400, 7200, 86400)] == [
        "30 minutes",
        "5 seconds",
        "1 minute",
        "90 seconds",
        "90 minutes",
        "2 hours",
        "1 day",
    ]


def test_a_feed_row_with_odd_values_does_not_break_the_page(ds: Any, db_file: Path) -> None:
    db = store.open_db(db_file)
    store.add_feed(db, "https://a.example/feed", title="<b>Alpha</b>", site_url="javascript:x")
    db.conn.close()
    conn = sqlite3.connect(db_file)
    conn.execute("update feeds set tags = 'not json', last_fetched_at = 'yesterday'")
    conn.commit()
    conn.close()
    page = get(ds, "/-/feeds")
    assert page.status_code == 200
    assert "&lt;b&gt;Alpha&lt;/b&gt;" in page.text and 'href="javascript:' not in page.text
    assert feed_rows(ds, page.text)["&lt;b&gt;Alpha&lt;/b&gt;"]["last_check"] == "yesterday"
    assert get(ds, "/-/feeds/subscriptions.opml").status_code == 200


def raw_import(visitor: Visitor, body: bytes, content_type: str) -> Any:
    return post(
        visitor.ds,
        "/-/import",
        content=body,
        headers={"content-type": content_type},
        cookies=visitor.cookies,
    )


def multipart(token: str, *parts: bytes, boundary: str = "XyZ") -> bytes:
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrftoken"\r\n\r\n{token}\r\n'
    ).encode()
    return head + b"".join(parts)


def test_hostile_upload_bodies_get_one_line_and_change_nothing(ds: Any, db_file: Path) -> None:
    visitor = Visitor(ds)
    ctype = "multipart/form-data; boundary=XyZ"
    file_head = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="../../x.opml"\r\n\r\n'
    )
    cases = {
        "truncated in the file": (multipart(visitor.token, file_head + OPML[:50]), ctype),
        "no file part": (multipart(visitor.token, b"--XyZ--\r\n"), ctype),
        "a field of a megabyte": (
            multipart(
                visitor.token,
                b'--XyZ\r\nContent-Disposition: form-data; name="tags"\r\n\r\n'
                + b"a" * 1_000_000
                + b"\r\n--XyZ--\r\n",
            ),
            ctype,
        ),
        "not multipart": (b"csrftoken=" + visitor.token.encode(), "text/plain"),
        "no boundary": (multipart(visitor.token), "multipart/form-data"),
    }
    for name, (body, content_type) in cases.items():
        response = raw_import(visitor, body, content_type)
        if name in ("not multipart", "no boundary"):  # no token could be read: refused
            assert response.status_code == 403
            continue
        assert response.status_code == 400, (name, response.status_code)
        error = re.search(r'<p class="message-error import-result"[^>]*>(.*?)</p>', response.text)
        assert error and error.group(1).startswith("Nothing was imported:"), name
        if name == "truncated in the file":
            assert "cut short" in error.group(1)
    # a whole file with a climbing name is imported under a name of its own
    ok = raw_import(visitor, multipart(visitor.token, file_head + OPML + b"\r\n--XyZ--\r\n"), ctype)
    assert ok.status_code == 200 and "2 new feeds" in ok.text
    assert rows(db_file, "select count(*) from feeds") == [(2,)]


def test_an_upload_over_the_size_cap_is_refused_without_keeping_it(
    ds: Any, db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aggregator.formats import _common

    monkeypatch.setattr(_common, "MAX_IMPORT_BYTES", 1000)
    response = upload(Visitor(ds), "big.opml", OPML + b" " * 5000)
    assert response.status_code == 400
    assert "larger than" in response.text
    assert rows(db_file, "select count(*) from feeds") == [(0,)]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tail=st.binary(max_size=3000)
    | st.builds(
        lambda name, data, end: (
            b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="'
            + name
            + b'"\r\n\r\n'
            + data
            + end
        ),
        st.binary(max_size=80),
        st.binary(max_size=2000),
        st.sampled_from([b"", b"\r\n--XyZ--\r\n", b"\r\n--XyZ", b"--"]),
    )
)
def test_any_upload_body_is_answered_in_one_line(ds: Any, db_file: Path, tail: bytes) -> None:
    visitor = Visitor(ds)
    response = raw_import(
        visitor, multipart(visitor.token, tail), "multipart/form-data; boundary=XyZ"
    )
    assert response.status_code in (200, 400, 403, 422), response.status_code
    if response.status_code != 403:
        assert "import-result" in response.text


def test_a_fetch_from_a_shell_waits_for_the_servers_run(
    tmp_path: Path, server: LocalServer
) -> None:
    body = rss(server, "Slow", ["A"])

    served: list[tuple[float, float]] = []  # (asked, answered) of each request

    def slow(handler: Any) -> None:
        asked = time.monotonic()
        time.sleep(2.0)
        handler.send_response(200)
        handler.send_header("Content-Type", "application/rss+xml")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        served.append((asked, time.monotonic()))

    db_path = tmp_path / "shared.db"
    db = store.open_db(db_path)
    store.add_feed(db, server.add("/slow.xml", slow), title="Slow")
    db.conn.close()
    runner = refresher.Runner(str(db_path), interval=0)
    worker = threading.Thread(
        target=lambda: runner.run(every_feed=False, what="scheduled refresh", wait=5)
    )
    worker.start()
    wait_until(lambda: any(r[1] == "/slow.xml" for r in server.requests), seconds=10)
    shell = subprocess.run(
        [sys.executable, "-c", "from aggregator.cli import cli; cli()", "--db", str(db_path)]
        + ["fetch"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[1],
    )
    worker.join(timeout=30)
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout.startswith("Fetched 1 feeds")  # its own run, after the server's
    assert len(served) == 2 and served[1][0] >= served[0][1]  # it waited for the server's run
    assert runner.progress().last_result.startswith("Fetched 1 feeds, 1 new entries")
    assert rows(db_path, "select count(*) from articles") == [(1,)]
