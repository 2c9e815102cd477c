"""The pipeline's functions on a real SQLite file and a real local HTTP server: every feed, page,
URL and import record is its own failure domain (its error recorded on it, the others go on), a
page whose extraction passes its time budget gets an error while the rest of the run goes on, and
generated responses (Hypothesis) through the real refresh path never stop the honest feed."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import service, store
from aggregator.fetch import AddressPolicy, make_client
from aggregator.pipeline.limits import run_limited
from tests.conftest import DATA, rows, run
from tests.hostile import raw_response, verbatim
from tests.httpserver import LocalServer, Route

RSS = "application/rss+xml"
HTML = "text/html; charset=utf-8"


def rss(name: str, items: list[str], extra: str = "") -> bytes:
    body = "".join(
        f"<item><title>{t}</title><link>http://{name}.test/{i}</link><guid>{name}-{t}</guid>"
        f"<description>Words of {t}.</description></item>"
        for i, t in enumerate(items)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>'
        f"<link>http://{name}.test/</link>{extra}{body}</channel></rss>"
    ).encode()


def json_feed(item_id: str, title: str) -> bytes:
    # `item_id` is written into the JSON text as is: "\\ud800" is a lone surrogate escape
    return (
        '{"version": "https://jsonfeed.org/version/1.1", "title": "Jay", "items": '
        f'[{{"id": "{item_id}", "url": "http://jay.test/1", "title": "{title}", '
        '"content_text": "Some words."}]}'
    ).encode()


def raw(head: bytes, body: bytes) -> Callable[[Any], None]:
    """A response written byte for byte (header values the server library would not send)."""

    def handler(h: Any) -> None:
        h.close_connection = True
        h.wfile.write(head + b"\r\n" + body)
        h.wfile.flush()

    return handler


NEW = rss("bad", ["first", "second"])
# Each turns a subscribed feed hostile: what its server sends at the next fetch.
HOSTILE: dict[str, Callable[[], Any]] = {
    "retry-after superscript": lambda: raw(
        b"HTTP/1.1 503 Busy\r\nRetry-After: \xb2\r\nContent-Length: 4\r\n", b"busy"
    ),
    "max-age superscript": lambda: raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nCache-Control: max-age=\xb9\r\n"
        b"Content-Length: " + str(len(NEW)).encode() + b"\r\n",
        NEW,
    ),
    "age superscript": lambda: raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nAge: \xb3\r\n"
        b"Cache-Control: max-age=60\r\nContent-Length: " + str(len(NEW)).encode() + b"\r\n",
        NEW,
    ),
    "content-length superscript": lambda: raw(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: \xb2\r\n", NEW
    ),
    "expires in year 9999999999": lambda: Route(
        body=NEW, content_type=RSS, headers={"Expires": "Thu, 01 Jan 9999999999 00:00:00 GMT"}
    ),
    "20-digit ttl": lambda: Route(
        body=rss("bad", ["first", "second"], "<ttl>99999999999999999999</ttl>"), content_type=RSS
    ),
    "json feed lone surrogate id": lambda: Route(
        body=json_feed("\\ud800", "second"), content_type="application/feed+json"
    ),
    "garbage status line": lambda: raw(b"HTTP/1.1 2\xb2\xb2 Fine\r\n", b""),
}


def refresh(db_path: Path, **kwargs: Any) -> service.RefreshSummary:
    async def go() -> service.RefreshSummary:
        db = store.open_db(db_path)
        try:
            async with make_client(policy=AddressPolicy.from_env()) as client:
                return await service.refresh_feeds(db, client, all=True, **kwargs)
        finally:
            db.conn.close()

    return asyncio.run(go())


def feed_row(db_path: Path, url: str) -> dict[str, Any]:
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        return dict(conn.execute("SELECT * FROM feeds WHERE url = ?", [url]).fetchone())
    finally:
        conn.close()


def titles(db_path: Path, feed_url: str) -> set[str]:
    return {
        r[0]
        for r in rows(
            db_path,
            "SELECT a.title FROM articles a JOIN feeds f ON f.id = a.feed_id WHERE f.url = ?",
            (feed_url,),
        )
    }


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_feed_that_turns_hostile_never_stops_the_honest_one(
    case: str, server: LocalServer, db_path: Path
) -> None:
    honest = server.add("/honest.xml", Route(body=rss("good", ["one"]), content_type=RSS))
    first = json_feed("1", "first") if "json" in case else rss("bad", ["first"])
    bad = server.add(
        "/bad", Route(body=first, content_type="application/feed+json" if "json" in case else RSS)
    )
    out = run("subscribe", "--no-full-text", honest, bad).output
    assert out.count("Subscribed to") == 2, out
    server.add("/honest.xml", Route(body=rss("good", ["one", "two"]), content_type=RSS))
    server.add("/bad", HOSTILE[case]())

    result = run("fetch", "--all")  # exit code 0 asserted by run()
    assert "Traceback" not in result.output
    assert "Fetched 2 feeds" in result.output
    assert titles(db_path, honest) == {"one", "two"}
    row = feed_row(db_path, bad)
    # Either the hostile value was refused (the error on the feed, a backoff) or it was
    # ignored and the feed refreshed: never a crash, never a silent nothing.
    if row["last_error"]:
        assert row["status"] == "failing" and row["error_count"] == 1
        assert row["next_check_at"]
        assert f"failed: {bad}" in result.output
    else:
        assert row["status"] == "ok" and "second" in titles(db_path, bad)
    # and again: one bad feed does not stop the others in the runs after it either
    server.add("/honest.xml", Route(body=rss("good", ["one", "two", "three"]), content_type=RSS))
    result = run("fetch", "--all")
    assert "Traceback" not in result.output
    assert titles(db_path, honest) == {"one", "two", "three"}
    assert rows(db_path, "PRAGMA integrity_check") == [("ok",)]


POISON = (
    "CREATE TRIGGER poison BEFORE INSERT ON articles WHEN NEW.title LIKE '%poison%' "
    "BEGIN SELECT RAISE(ABORT, 'refused by the test database'); END"
)


def test_a_feed_the_database_refuses_is_recorded_and_the_run_goes_on(
    server: LocalServer, db_path: Path
) -> None:
    # The database itself refuses one feed's entries (a trigger standing for any value SQLite
    # will not take): that feed's writes are undone and its error recorded; the others stored.
    urls = [
        server.add(f"/f{i}.xml", Route(body=rss(f"f{i}", ["a"]), content_type=RSS))
        for i in range(12)  # enough for the batch writer and the parsing pool
    ]
    run("subscribe", "--no-full-text", *urls)
    with sqlite3.connect(db_path) as conn:
        conn.execute(POISON)
    server.add("/f3.xml", Route(body=rss("f3", ["a", "b", "poison pill"]), content_type=RSS))
    for i in range(12):
        if i != 3:
            server.add(f"/f{i}.xml", Route(body=rss(f"f{i}", ["a", "b"]), content_type=RSS))

    summary = refresh(db_path)
    assert (summary.feeds, summary.ok, summary.failed) == (12, 11, 1)
    assert summary.errors == [
        (urls[3], "could not store the feed: IntegrityError: refused by the test database")
    ]
    row = feed_row(db_path, urls[3])
    assert row["status"] == "failing" and row["error_count"] == 1
    assert row["last_error"] == summary.errors[0][1]
    assert titles(db_path, urls[3]) == {"a"}  # its new entries undone with it
    assert all(titles(db_path, u) == {"a", "b"} for i, u in enumerate(urls) if i != 3)


def test_subscribe_reports_each_failing_url_and_keeps_the_others(
    server: LocalServer, db_path: Path
) -> None:
    good = server.add("/good.xml", Route(body=rss("good", ["one"]), content_type=RSS))
    missing = server.add("/missing.xml", Route(status=404, body=b"no"))
    hostile = server.add(
        "/hostile.xml", raw(b"HTTP/1.1 429 Slow\r\nRetry-After: \xb2\r\nContent-Length: 0\r\n", b"")
    )
    result = run("subscribe", "--no-full-text", missing, good, "not a url at all", hostile)
    assert "Traceback" not in result.output
    assert f"Subscribed to good <{good}> (1 entries)" in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 3
    assert any(line.startswith(f"Error: {missing}: HTTP 404") for line in errors)
    assert any(line.startswith(f"Error: {hostile}: ") for line in errors)
    assert rows(db_path, "SELECT url FROM feeds") == [(good,)]


def test_discovery_gives_up_on_a_slow_site_within_its_deadline(server: LocalServer) -> None:
    """A page naming feeds that never answer in time: discovery stops when its own deadline is
    spent and says so, instead of waiting out every guess (each may take 30 s)."""
    import time

    from aggregator.errors import NotAFeedError
    from aggregator.pipeline.subscribe import discover_feed

    def slow(h: Any) -> None:
        time.sleep(4)
        raw(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n", b"")(h)

    links = "".join(
        f'<link rel="alternate" type="application/rss+xml" href="/slow{i}.xml">' for i in range(5)
    )
    page = server.add(
        "/slow-site/",
        Route(body=f"<html><head>{links}</head><body>Hi</body></html>".encode(), content_type=HTML),
    )
    for i in range(5):
        server.add(f"/slow{i}.xml", slow)

    async def go() -> str:
        async with make_client(policy=AddressPolicy.from_env()) as client:
            with pytest.raises(NotAFeedError) as caught:
                await discover_feed(client, page, deadline=1.0)
            return str(caught.value)

    message = asyncio.run(go())
    assert message.startswith(f"no feed found at {page} within 1 s"), message
    asked = [path for _, path, _ in server.requests if path.startswith("/slow") and ".xml" in path]
    assert asked == ["/slow0.xml"], asked  # the first guess used up the time; no other was tried


def test_subscribe_exits_1_only_when_every_url_failed(server: LocalServer, db_path: Path) -> None:
    missing = server.add("/missing.xml", Route(status=404, body=b"no"))
    result = run("subscribe", missing, ok=False)
    assert result.exit_code == 1
    assert result.output == f"Error: {missing}: HTTP 404 Not Found\n"


def test_import_keeps_the_good_records_when_the_database_refuses_one(
    tmp_path: Path, db_path: Path
) -> None:
    store.open_db(db_path).conn.close()
    with sqlite3.connect(db_path) as conn:
        conn.execute(POISON)
    links = [
        {
            "url": f"https://example.org/{i}",
            "title": "poison" if i == 2 else f"Link {i}",
            "state": "unread",
        }
        for i in range(5)
    ]
    file = tmp_path / "links.json"
    file.write_text(json.dumps(links))
    result = run("import", str(file))
    assert "Traceback" not in result.output
    assert "skipped: link https://example.org/2: IntegrityError: refused by the test database" in (
        result.output
    )
    assert result.output.rstrip().endswith("1 refused by the database")
    assert rows(db_path, "SELECT url FROM articles ORDER BY url") == [
        (f"https://example.org/{i}",) for i in (0, 1, 3, 4)
    ]
    again = run("import", str(file))  # the same file again adds nothing and refuses the same
    assert "0 new links (4 already there), 1 refused by the database" in again.output


def test_an_import_file_the_reader_cannot_take_is_one_line(tmp_path: Path, db_path: Path) -> None:
    file = tmp_path / "links.json"
    file.write_bytes(b"\xff\xfe\x00garbage{")
    result = run("import", str(file), ok=False)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert len(result.output.splitlines()) == 1 and result.output.startswith("Error: ")


def save_pages(db_path: Path, urls: list[str]) -> None:
    db = store.open_db(db_path)
    try:
        for url in urls:
            store.save_link(db, url)
    finally:
        db.conn.close()


def test_a_page_over_the_extraction_budget_gets_an_error_and_the_run_goes_on(
    server: LocalServer, db_path: Path
) -> None:
    # Three megabytes of paragraphs take seconds of CPU to extract (several on a quiet
    # machine), far over a budget of one second: the workers that took them are replaced.
    costly = (
        "<html><body>" + "<p>lorem ipsum dolor sit amet " * 100_000 + "</body></html>"
    ).encode()
    hostile = [server.add(f"/costly/{i}", Route(body=costly, content_type=HTML)) for i in range(2)]
    honest = server.add_file("/article", DATA / "pages" / "article.html", content_type=HTML)
    save_pages(db_path, [*hostile, honest])

    async def go() -> service.PageSummary:
        db = store.open_db(db_path)
        try:
            async with make_client(policy=AddressPolicy.from_env()) as client:
                return await service.fetch_pages(db, client, extract_budget=1.0)
        finally:
            db.conn.close()

    summary = asyncio.run(go())
    assert (summary.total, summary.ok, summary.failed) == (3, 1, 2)
    got = {
        r[0]: r[1:]
        for r in rows(db_path, "SELECT url, fetch_status, fetch_error, word_count FROM articles")
    }
    for url in hostile:
        assert got[url][0] == "failed"
        assert got[url][1] == ("extraction stopped after 1 s (the page is too costly to read)")
    assert got[honest][0] == "ok" and got[honest][2] > 100


def test_the_web_background_save_records_errors_and_never_raises(
    server: LocalServer, db_path: Path, tmp_path: Path
) -> None:
    broken = server.add(
        "/broken",
        raw(b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\nContent-Type: text/html\r\n", b"x"),
    )
    missing = server.add("/missing", Route(status=404, body=b"no"))
    page = server.add_file("/page", DATA / "pages" / "article.html", content_type=HTML)
    save_pages(db_path, [broken, missing, page])
    ids = [r[0] for r in rows(db_path, "SELECT id FROM articles ORDER BY id")]
    summary = service.fetch_saved_pages(str(db_path), ids)
    assert summary is not None and (summary.total, summary.ok) == (3, 1)
    got = dict(rows(db_path, "SELECT url, fetch_status FROM articles"))
    assert got[page] == "ok"
    assert got[missing] == "error"
    assert got[broken] in ("error", "ok")  # refused, or read as the one byte it carries
    # the database gone meanwhile: nothing raised, the pages wait for the next fetch
    assert service.fetch_saved_pages(str(tmp_path / "no" / "such.db"), ids) is None


def test_run_limited_gives_every_item_its_own_failure_domain() -> None:
    seen: dict[int, Any] = {}

    async def step(n: int) -> str:
        await asyncio.sleep(0.001 * (n % 3))
        if n % 4 == 1:
            raise ValueError(f"item {n} is bad")
        if n % 4 == 2:
            raise OverflowError("date value out of range")
        return f"ok {n}"

    asyncio.run(
        run_limited(
            list(range(20)),
            host_of=lambda n: f"host{n % 3}",
            concurrency=4,
            per_host=2,
            step=step,
            then=seen.__setitem__,
            on_error=lambda n, exc: f"error {type(exc).__name__}",
        )
    )
    assert seen == {
        n: (
            "error ValueError" if n % 4 == 1 else "error OverflowError" if n % 4 == 2 else f"ok {n}"
        )
        for n in range(20)
    }


# ---------------------------------------------------------------------------------------------
# Generated responses (Hypothesis) through the real refresh path


_NUMBERS = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["\xb2", "\xb9", "\xb3", "1\xb2", "0x10", "1e9", "", " ", "-0", "9" * 400]),
)
_DATES = st.sampled_from(
    [
        "Thu, 01 Jan 9999999999 00:00:00 GMT",
        "Mon, 32 Foo 2024 25:61:61 GMT",
        "0",
        "-1",
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "\xff\xfe",
    ]
)
_HEADER = st.one_of(
    st.tuples(st.sampled_from(["Retry-After", "Age", "Content-Length"]), _NUMBERS),
    st.tuples(st.just("Cache-Control"), _NUMBERS.map(lambda n: f"max-age={n}")),
    st.tuples(st.sampled_from(["Expires", "Last-Modified", "Retry-After", "Date"]), _DATES),
    st.tuples(
        st.sampled_from(["Content-Type", "Content-Encoding", "ETag", "Location", "X-Any"]),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=40),
    ),
)
_BODIES = st.sampled_from(
    [
        rss("bad", ["first", "second"]),
        rss("bad", ["first", "second"], "<ttl>99999999999999999999</ttl>"),
        rss("bad", ["first", "second"])[:150],
        json_feed("\\ud800", "second"),
        json_feed("2", "second\\udfff"),
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">]><rss version="2.0">'
        b"<channel><title>&a;&a;&a;</title><item><title>&a;</title><guid>e</guid></item>"
        b"</channel></rss>",
        b"",
        b"\x89PNG\r\n\x1a\n\x00\x00",
        b"<html><body>not a feed</body></html>",
    ]
)


@st.composite
def responses(draw: st.DrawFn) -> bytes:
    status = draw(st.sampled_from([200, 200, 200, 203, 204, 304, 404, 410, 429, 500, 503]))
    body = draw(_BODIES)
    headers = draw(st.lists(_HEADER, max_size=4))
    return raw_response(status, headers, body, content_type="application/rss+xml")


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(response=responses())
def test_generated_responses_never_stop_the_honest_feed(
    response: bytes, server: LocalServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    db_path = tmp_path_factory.mktemp("gen") / "aggregator.db"
    honest = server.add("/honest.xml", Route(body=rss("good", ["one"]), content_type=RSS))
    bad = server.add("/bad.xml", Route(body=rss("bad", ["first"]), content_type=RSS))

    async def go() -> service.RefreshSummary:
        db = store.open_db(db_path)
        try:
            async with make_client(policy=AddressPolicy.from_env()) as client:
                subscribed = await service.subscribe(db, client, [honest, bad], full_text=False)
                assert [r.error for r in subscribed] == [None, None]
                server.add("/honest.xml", Route(body=rss("good", ["one", "two"]), content_type=RSS))
                server.add("/bad.xml", verbatim(response))
                return await service.refresh_feeds(db, client, all=True, deadline=3.0)
        finally:
            db.conn.close()

    summary = asyncio.run(go())
    assert summary.feeds == 2
    assert titles(db_path, honest) == {"one", "two"}
    row = feed_row(db_path, bad)
    if summary.failed:
        assert (
            row["last_error"] and row["error_count"] == 1 and row["status"] in ("failing", "gone")
        )
        assert [url for url, _ in summary.errors] == [bad]
    else:
        assert row["status"] == "ok" and row["last_error"] is None
    assert rows(db_path, "PRAGMA integrity_check") == [("ok",)]
