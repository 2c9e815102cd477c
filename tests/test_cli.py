"""The CLI end to end: a real SQLite file, a real local HTTP server, the commands as users run
them. Asserts the database state and the exact error text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import DATA, rows, run
from tests.httpserver import LocalServer, Route

FEEDS = DATA / "feeds"
RSS = "application/rss+xml"


def serve_fixtures(server: LocalServer) -> dict[str, str]:
    urls = {}
    for name, ctype in [
        ("rss20.xml", RSS),
        ("rss10.rdf", "application/rdf+xml"),
        ("atom.xml", "application/atom+xml"),
        ("feed.json", "application/feed+json"),
        ("windows1252.xml", "text/xml"),
        ("invalid_utf8.xml", "text/xml"),
        ("malformed.xml", "text/xml"),
        ("unicode.xml", RSS),
        ("xss.xml", RSS),
    ]:
        urls[name] = server.add_file(
            f"/feeds/{name}",
            FEEDS / name,
            content_type=ctype,
            etag=f'"{name}-v1"',
            last_modified="Wed, 01 May 2024 10:00:00 GMT",
        )
    return urls


def test_subscribe_fetch_twice_every_entry_once_and_304(server: LocalServer, db_path: Path) -> None:
    urls = serve_fixtures(server)
    result = run("subscribe", *urls.values(), "--tag", "fixtures")
    assert result.output.count("Subscribed to") == len(urls)
    assert "Subscribed to Harbour Notes" in result.output
    run("fetch")
    run("fetch")
    # every entry exactly once, with the right title, link, author, date and feed
    got = rows(
        db_path,
        "SELECT a.title, a.url, a.author, a.published, f.title FROM articles a "
        "JOIN feeds f ON f.id = a.feed_id ORDER BY a.id",
    )
    expected_count = 4 + 2 + 2 + 2 + 1 + 2 + 2 + 3 + 2
    assert len(got) == expected_count
    assert (
        "Tides & currents",
        "http://harbour.test/posts/tides",
        "Mira Sol",
        "2024-05-01T09:30:00Z",
        "Harbour Notes",
    ) in got
    assert (
        "Almanac entry A",
        "http://rdf.test/a",
        "Olu Grant",
        "2024-03-05T06:07:08Z",
        "RDF Almanac",
    ) in got
    assert (
        "Comet sighted",
        "http://atom.test/blog/posts/comet",
        "Vera Lumen",
        "2024-04-01T17:00:00Z",
        "Atom Observatory",
    ) in got
    assert (
        "First JSON item",
        "http://json.test/one",
        "Kai Brew",
        "2024-02-01T07:00:00Z",
        "JSON Journal",
    ) in got
    assert rows(
        db_path, "SELECT count(*), count(DISTINCT url) FROM articles WHERE url IS NOT NULL"
    )[0] == (
        expected_count - 2,
        expected_count - 2,
    )  # the two javascript:/data: entries have no URL
    # the second fetch sent conditional requests and every feed answered 304
    for name in urls:
        hits = server.hits(f"/feeds/{name}")
        assert len(hits) == 3, name  # subscribe, fetch, fetch
        assert hits[-1].get("if-none-match") == f'"{name}-v1"'
        assert hits[-1].get("if-modified-since") == "Wed, 01 May 2024 10:00:00 GMT"
    assert rows(db_path, "SELECT count(*) FROM feeds WHERE last_error IS NULL")[0][0] == len(urls)
    # a feed's tags are tags of its articles
    assert (
        rows(db_path, "SELECT count(*) FROM articles WHERE tags = '[\"fixtures\"]'")[0][0]
        == expected_count
    )


def test_encodings_keep_exact_text(server: LocalServer, db_path: Path) -> None:
    urls = serve_fixtures(server)
    run(
        "subscribe",
        urls["windows1252.xml"],
        urls["invalid_utf8.xml"],
        urls["malformed.xml"],
        urls["unicode.xml"],
    )
    titles = {r[0] for r in rows(db_path, "SELECT title FROM articles")}
    assert {
        "Naïve “quotes” – and €",
        "Café latte",
        "Clean title",
        "First & foremost",
        "Second entry",
        "Emoji 🎉 party 🦊",
        "مرحبا بالعالم",
        "東京の天気予報",
    } <= titles


def test_no_attack_reaches_content_html(server: LocalServer, db_path: Path) -> None:
    urls = serve_fixtures(server)
    run("subscribe", urls["xss.xml"])
    stored = rows(db_path, "SELECT title, url, content_html, text FROM articles")
    assert len(stored) == 2
    for _title, url, html, _text in stored:
        assert url is None  # javascript: and data: links are never stored as URLs
        lowered = html.lower()
        for bad in (
            "<script",
            "onclick",
            "onerror",
            "onload",
            "javascript:",
            "<iframe",
            "<object",
            "<embed",
            "<svg",
            "<form",
            "<style",
            "<base",
            "<meta",
            "data:text/html",
        ):
            assert bad not in lowered, bad
    attack = [r for r in stored if r[0].endswith("Attack title")][0]
    assert "surviving words" in attack[3]
    assert "alert" not in attack[3]


def test_search_finds_a_word_of_the_body(server: LocalServer, db_path: Path) -> None:
    urls = serve_fixtures(server)
    run("subscribe", urls["rss20.xml"], urls["rss10.rdf"])
    out = run("search", "quayside").output
    assert "Tides & currents" in out and "http://harbour.test/posts/tides" in out
    data = json.loads(run("search", "marigold", "--format", "json").output)
    assert [r["title"] for r in data] == ["Almanac entry A"]
    # title weighted over body: a title hit ranks first
    both = json.loads(run("search", "almanac", "--format", "json").output)
    assert both[0]["title"].startswith("Almanac entry")
    # punctuation cannot break the query
    assert run("search", 'c++ "unterminated', "--format", "json").exit_code == 0


def test_site_url_finds_its_feed(server: LocalServer, db_path: Path) -> None:
    serve_fixtures(server)
    server.add_file("/", FEEDS / "site.html", content_type="text/html")
    result = run("subscribe", server.url("/"))
    assert "Subscribed to Harbour Notes" in result.output
    assert rows(db_path, "SELECT url FROM feeds") == [(server.url("/feeds/rss20.xml"),)]
    # idempotent: the same page again changes nothing
    assert "Already subscribed" in run("subscribe", server.url("/feeds/rss20.xml")).output
    assert rows(db_path, "SELECT count(*) FROM feeds")[0][0] == 1


def test_common_path_discovery(server: LocalServer, db_path: Path) -> None:
    server.add(
        "/blog/",
        Route(body=b"<html><body>No link tags here</body></html>", content_type="text/html"),
    )
    server.add_file("/atom.xml", FEEDS / "atom.xml", content_type="application/atom+xml")
    run("subscribe", server.url("/blog/"))
    assert rows(db_path, "SELECT url, title FROM feeds") == [
        (server.url("/atom.xml"), "Atom Observatory")
    ]


def test_permanent_redirect_moves_the_subscription(server: LocalServer, db_path: Path) -> None:
    serve_fixtures(server)
    server.add_file("/old.xml", FEEDS / "rss20.xml", content_type=RSS)
    run("subscribe", server.url("/old.xml"))
    server.redirect("/old.xml", "/feeds/rss20.xml", status=301)
    run("fetch")
    assert rows(db_path, "SELECT url FROM feeds") == [(server.url("/feeds/rss20.xml"),)]
    run("fetch")
    assert rows(db_path, "SELECT count(*) FROM articles")[0][0] == 4  # no duplicates after the move
    # a temporary redirect does not move it
    server.redirect("/tmp.xml", "/feeds/atom.xml", status=302)
    run("subscribe", server.url("/tmp.xml"))
    assert (server.url("/tmp.xml"),) in rows(db_path, "SELECT url FROM feeds")


def test_broken_feed_is_recorded_and_the_rest_go_on(server: LocalServer, db_path: Path) -> None:
    urls = serve_fixtures(server)
    run("subscribe", urls["rss20.xml"], urls["atom.xml"])
    server.add("/feeds/rss20.xml", Route(status=500, body=b"boom", content_type="text/plain"))
    server.add(
        "/feeds/atom.xml",
        Route(
            body=(FEEDS / "atom.xml")
            .read_bytes()
            .replace(b"Eclipse notes", b"Eclipse notes, revised"),
            content_type="application/atom+xml",
        ),
    )
    result = run("fetch", "--all")
    assert "1 failed" in result.output
    feeds = {
        r[0]: r[1:] for r in rows(db_path, "SELECT url, last_error, error_count, status FROM feeds")
    }
    assert feeds[urls["rss20.xml"]] == ("HTTP 500 Internal Server Error", 1, "failing")
    assert feeds[urls["atom.xml"]] == (None, 0, "ok")
    # changed entries are updated in place
    assert (
        rows(db_path, "SELECT count(*) FROM articles WHERE title = 'Eclipse notes, revised'")[0][0]
        == 1
    )
    assert rows(db_path, "SELECT count(*) FROM articles")[0][0] == 6
    listed = json.loads(run("feeds", "--format", "json").output)
    by_url = {f["url"]: f for f in listed}
    assert by_url[urls["rss20.xml"]]["error_count"] == 1
    assert by_url[urls["rss20.xml"]]["articles"] == 4
    assert set(by_url[urls["atom.xml"]]) >= {
        "url",
        "title",
        "site_url",
        "tags",
        "last_fetched_at",
        "last_error",
        "error_count",
        "articles",
    }


def test_future_date_does_not_pin_to_top(server: LocalServer, db_path: Path) -> None:
    urls = serve_fixtures(server)
    run("subscribe", urls["rss20.xml"])
    future = [a for a in json.loads(run("export").output) if a["title"] == "From the far future"][0]
    assert future["published"] == "2099-01-01T00:00:00Z"  # kept as the feed says
    # ... but ordered by when it was first seen, so a later entry goes above it
    body = (
        (FEEDS / "rss20.xml")
        .read_bytes()
        .replace(
            b"<item>",
            b"<item><title>Fresh news</title><link>http://harbour.test/posts/fresh</link>"
            b"</item><item>",
            1,
        )
    )
    import time

    time.sleep(1.1)  # first-seen times have one-second resolution
    server.add("/feeds/rss20.xml", Route(body=body, content_type=RSS))
    run("fetch")
    order = [a["title"] for a in json.loads(run("export").output)]
    assert order.index("Fresh news") < order.index("From the far future")
    assert (
        rows(
            db_path, "SELECT sort_date < '2099' FROM articles WHERE title = 'From the far future'"
        )[0][0]
        == 1
    )


def test_export_json_shape(server: LocalServer, db_path: Path) -> None:
    urls = serve_fixtures(server)
    run("subscribe", urls["rss20.xml"], "--tag", "sea")
    run("save", "https://example.org/saved-by-hand", "--tag", "later", "--note", "read on Sunday")
    data = json.loads(run("export").output)
    assert len(data) == 5
    for article in data:
        for key in (
            "url",
            "title",
            "author",
            "published",
            "feed_url",
            "feed_title",
            "tags",
            "text",
            "content_html",
            "saved",
            "saved_at",
            "note",
            "word_count",
        ):
            assert key in article
        assert article["published"] is None or (
            len(article["published"]) == 20
            and article["published"][10] == "T"
            and article["published"].endswith("Z")
        )
    saved = [a for a in data if a["saved"]]
    assert len(saved) == 1 and saved[0]["feed_url"] is None and saved[0]["tags"] == ["later"]
    assert saved[0]["note"] == "read on Sunday"
    tagged = json.loads(run("export", "--tag", "sea").output)
    assert len(tagged) == 4 and all(a["feed_url"] == urls["rss20.xml"] for a in tagged)
    by_query = json.loads(run("export", "--query", "quayside").output)
    assert [a["title"] for a in by_query] == ["Tides & currents"]
    by_feed = json.loads(run("export", "--feed", urls["rss20.xml"]).output)
    assert len(by_feed) == 4
    out = db_path.parent / "out.json"
    run("export", "--output", str(out))
    assert len(json.loads(out.read_text())) == 5


def test_one_article_per_url_across_feeds(server: LocalServer, db_path: Path) -> None:
    body = (FEEDS / "rss20.xml").read_bytes().replace(b"Harbour Notes", b"Harbour Mirror")
    server.add("/mirror.xml", Route(body=body, content_type=RSS))
    urls = serve_fixtures(server)
    run("subscribe", urls["rss20.xml"], server.url("/mirror.xml"))
    assert rows(db_path, "SELECT count(*) FROM articles")[0][0] == 4
    assert rows(db_path, "SELECT count(*) FROM feed_entries")[0][0] == 8


def test_unsubscribe_keeps_saved_articles(server: LocalServer, db_path: Path) -> None:
    urls = serve_fixtures(server)
    run("subscribe", urls["rss20.xml"])
    run("star", "http://harbour.test/posts/tides")
    run("unsubscribe", urls["rss20.xml"])
    assert rows(db_path, "SELECT title FROM articles") == [("Tides & currents",)]
    assert rows(db_path, "SELECT count(*) FROM feeds")[0][0] == 0
    result = run("unsubscribe", urls["rss20.xml"], ok=False)
    assert result.exit_code == 1
    assert result.output == f"Error: not subscribed: {urls['rss20.xml']}\n"


def test_errors_are_one_line(server: LocalServer, db_path: Path, tmp_path: Path) -> None:
    result = run("subscribe", "javascript:alert(1)", ok=False)
    assert result.exit_code == 1
    assert result.output == "Error: javascript:alert(1): not an http(s) URL: javascript:alert(1)\n"
    server.add("/nothing", Route(status=404, body=b"no", content_type="text/plain"))
    result = run("subscribe", server.url("/nothing"), ok=False)
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {server.url('/nothing')}: ")
    assert "404" in result.output and "Traceback" not in result.output
    not_db = tmp_path / "not.db"
    not_db.write_bytes(b"this is not sqlite" * 100)
    result = run("--db", str(not_db), "feeds", ok=False)
    assert result.exit_code == 1
    assert "is not an Aggregator database or is corrupt" in result.output
    assert result.output.count("\n") == 1


def test_address_policy_refuses_loopback_without_allowlist(
    server: LocalServer, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = serve_fixtures(server)
    monkeypatch.delenv("AGGREGATOR_ALLOW_HOSTS")
    result = run("subscribe", urls["rss20.xml"], ok=False)
    assert result.exit_code == 1
    assert "blocked" in result.output.lower()
    assert server.hits("/feeds/rss20.xml") == []


def test_db_option_env_and_wal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AGGREGATOR_DB", raising=False)
    run("feeds")
    assert (tmp_path / "data" / "aggregator.db").exists()
    other = tmp_path / "other.db"
    monkeypatch.setenv("AGGREGATOR_DB", str(other))
    run("feeds")
    assert other.exists()
    flag = tmp_path / "flag.db"
    run("--db", str(flag), "feeds")
    assert rows(flag, "PRAGMA journal_mode")[0][0] == "wal"
    assert {"feeds", "articles", "tags", "articles_tags"} <= {
        r[0] for r in rows(flag, "SELECT name FROM sqlite_master WHERE type = 'table'")
    }


def test_sample_loads_offline(db_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    result = run("load-sample", str(root / "data" / "sample"))
    assert "new articles" in result.output  # its sizes: tests/test_sample.py
    assert rows(db_path, "SELECT count(*) FROM articles")[0][0] >= 9
    assert "Why feeds outlived the platforms" in run("search", "syndication").output
    # sample feeds are paused: fetch does not try their made-up addresses
    assert "0 feeds" in run("fetch").output


def small_rss(n: int) -> bytes:
    items = "".join(
        f"<item><title>Feed {n} post {i}</title><link>http://many.test/{n}/{i}</link>"
        f"<guid>many-{n}-{i}</guid><description>&lt;p&gt;Body {n} {i} lighthouse&lt;/p&gt;"
        f"</description></item>"
        for i in range(3)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Many {n}</title>'
        f"<link>http://many.test/{n}/</link>{items}</channel></rss>"
    ).encode()


def test_many_urls_subscribe_in_one_run(server: LocalServer, db_path: Path) -> None:
    # 70 URLs: fetched under the limits and parsed in the process pool while the main process
    # writes them in batches; a broken URL among them fails alone
    urls = [
        server.add(f"/many/{n}.xml", Route(body=small_rss(n), content_type=RSS, etag=f'"m{n}"'))
        for n in range(70)
    ]
    broken = server.add("/many/gone.xml", Route(status=404, body=b"no"))
    result = run("subscribe", *urls[:35], broken, *urls[35:], "--no-full-text")
    assert result.output.count("Subscribed to Many") == 70
    assert f"{broken}: HTTP 404 Not Found" in result.output
    assert rows(db_path, "SELECT count(*), count(DISTINCT url) FROM articles") == [(210, 210)]
    assert rows(db_path, "SELECT count(*) FROM feeds WHERE etag IS NOT NULL") == [(70,)]
    assert rows(db_path, "SELECT count(*) FROM feed_entries") == [(210,)]
    run("fetch")  # every feed asked again, conditionally: all 304
    assert all(
        server.hits(f"/many/{n}.xml")[-1].get("if-none-match") == f'"m{n}"' for n in range(70)
    )
    assert rows(db_path, "SELECT count(*) FROM articles") == [(210,)]
    assert rows(db_path, "PRAGMA integrity_check") == [("ok",)]
