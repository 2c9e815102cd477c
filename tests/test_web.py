"""The reading room through Datasette's ASGI client, built from the real metadata.yml on a
database file: every page and renderer, the attack article, the Host guard, CSRF, saving."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from aggregator import service, store
from aggregator.cli import cli
from aggregator.errors import AggregatorError
from aggregator.web.app import build_datasette, check_exposure
from aggregator.web.text import PREVIEW_CHARS
from tests.httpserver import Route
from tests.webclient import get, post

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"
ATOM = "{http://www.w3.org/2005/Atom}"

ATTACK_FEED = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Hostile Weekly</title>
  <id>urn:hostile</id>
  <updated>2025-03-01T00:00:00Z</updated>
  <link href="https://hostile.example/"/>
  <entry>
    <title>Totally harmless gardening tips</title>
    <id>urn:hostile:1</id>
    <link href="https://hostile.example/garden"/>
    <updated>2025-03-01T00:00:00Z</updated>
    <author><name>Mallory</name></author>
    <content type="html"><![CDATA[
      <p>Plant the tulips in autumn.</p>
      <script>document.title='pwned-script'</script>
      <img src="https://hostile.example/x.png" onerror="document.title='pwned-onerror'">
      <p onclick="alert(1)" onmouseover="alert(2)">Water them weekly.</p>
      <a href="javascript:alert('pwned-link')">click for more tulips</a>
      <a href="JaVaScRiPt:alert(3)">another</a>
      <iframe src="https://hostile.example/frame"></iframe>
      <svg><script>alert(4)</script><a xlink:href="javascript:alert(5)">x</a></svg>
      <object data="https://hostile.example/x.swf"></object>
      <form action="https://hostile.example/steal"><input name="pw"></form>
      <style>body{display:none}</style>
      <p>Harvest the bulbs in summer.</p>
    ]]></content>
  </entry>
</feed>
"""





def make_sample(directory: Path) -> Path:
    """The shipped sample plus a hostile feed, in one folder `load_sample` reads."""
    directory.mkdir()
    manifest = json.loads((SAMPLE / "manifest.json").read_text(encoding="utf-8"))
    # the first, hand-written part of the sample (its first 3 feeds and 2 pages, see
    # data/sample/README.md): these tests count its articles
    manifest["feeds"], manifest["pages"] = manifest["feeds"][:3], manifest["pages"][:2]
    for item in manifest["feeds"] + manifest["pages"]:
        (directory / item["file"]).write_bytes((SAMPLE / item["file"]).read_bytes())
    (directory / "hostile.atom").write_text(ATTACK_FEED, encoding="utf-8")
    manifest["feeds"].append(
        {"file": "hostile.atom", "url": "https://hostile.example/atom.xml", "tags": ["garden"]}
    )
    (directory / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return directory


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    path = tmp_path / "reading.db"
    db = store.open_db(path)
    service.load_sample(db, make_sample(tmp_path / "sample"))
    # Two articles to tell ranking: the word in one title, in the other's body only.
    store.save_link(
        db,
        "https://garden.example/compost",
        title="Compost",
        tags=["garden"],
        content={
            "text": "Turn the heap monthly.",
            "content_html": "<p>Turn the heap monthly.</p>",
            "word_count": 4,
            "reading_time": 1,
        },
    )
    store.save_link(
        db,
        "https://garden.example/notes",
        title="Allotment notes",
        tags=["notes"],
        content={
            "text": "We spread <b>compost</b> & leaf mould in March.",
            "content_html": "<p>We spread compost and leaf mould.</p>",
            "word_count": 8,
            "reading_time": 1,
        },
    )
    db.conn.close()
    return path


@pytest.fixture
def ds(db_file: Path) -> Any:
    return build_datasette(db_file, fetch_saved=False)


def article_id(db_file: Path, url: str) -> int:
    db = store.open_db(db_file, migrate=False)
    try:
        found = store.article_id_for_url(db, url)
    finally:
        db.conn.close()
    assert found is not None
    return found


def article_row(db_file: Path, article: int) -> dict[str, Any]:
    db = store.open_db(db_file, migrate=False)
    try:
        return store.get_articles(db, [article])[0] | dict(
            zip(
                ["fetch_status", "fetch_error"],
                db.execute(
                    "select fetch_status, fetch_error from articles where id = ?", [article]
                ).fetchone(),
                strict=True,
            )
        )
    finally:
        db.conn.close()


def csrf(ds: Any, path: str = "/-/save") -> tuple[str, str]:
    """The ds_csrftoken cookie a page sets and the token its form carries."""
    response = get(ds, path)
    assert response.status_code == 200
    cookie = response.cookies["ds_csrftoken"]
    token = re.search(r'name="csrftoken" value="([^"]+)"', response.text).group(1)
    return cookie, token


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)


# ---------------------------------------------------------------------------------------------
# Plugin, pages, security headers


def test_plugin_is_listed_with_its_templates_and_static_files(ds: Any) -> None:
    plugins = get(ds, "/-/plugins.json").json()
    ours = [p for p in plugins if p["name"] == "aggregator"]
    assert ours, plugins
    assert ours[0]["templates"] is True and ours[0]["static"] is True
    # The templates in use are ours: the home page is the reading room, not a database list.
    assert 'class="brand"' in get(ds, "/").text
    assert "render_cell" in ours[0]["hooks"] and "register_output_renderer" in ours[0]["hooks"]


PAGES = [
    "/",
    "/aggregator",
    "/aggregator/articles",
    "/aggregator/feeds",
    "/aggregator/search",
    "/aggregator/search?q=web",
    "/aggregator/articles/1",
    "/-/save",
    "/-/dashboard",
    "/aggregator?sql=select+1",
    "/aggregator/feeds/1",
    "/aggregator/tags",
]


def test_datasettes_own_table_page_shows_tag_links_and_short_previews(
    ds: Any, db_file: Path
) -> None:
    long = "A very long description of this feed. " * 40 + "THE END"
    with sqlite3.connect(db_file) as conn:
        conn.execute(
            "update feeds set description = ?, tags = ? where id = 1",
            [long, '["slow", "reading"]'],
        )
    page = get(ds, "/aggregator/feeds").text
    assert '<a class="tag" href="/aggregator/articles?_tag=slow">slow</a>' in page
    preview = re.search(r'<span class="preview">([^<]*)</span>', page)
    assert preview and preview.group(1).startswith("A very long description")
    assert len(preview.group(1)) <= PREVIEW_CHARS + 1 and "THE END" not in page


@pytest.mark.parametrize("path", PAGES)
def test_every_page_answers_under_a_csp_without_inline_scripts(ds: Any, path: str) -> None:
    response = get(ds, path)
    assert response.status_code == 200, response.text[:500]
    csp = response.headers["content-security-policy"]
    script_src = re.search(r"script-src ([^;]*)", csp).group(1)
    assert script_src.strip() == "'self'"
    assert "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert not INLINE_SCRIPT.findall(response.text), INLINE_SCRIPT.findall(response.text)
    assert "Aggregator" in response.text


def test_errors_and_json_carry_the_csp_too(ds: Any) -> None:
    for path in ("/no/such/page", "/aggregator/articles.json", "/aggregator/articles/99999"):
        response = get(ds, path)
        assert "script-src 'self'" in response.headers["content-security-policy"], path
    assert get(ds, "/aggregator/articles/99999").status_code == 404


def test_home_page_shows_counts_lists_tags_failing_feeds_and_the_bookmarklet(
    ds: Any, db_file: Path
) -> None:
    db = store.open_db(db_file, migrate=False)
    feed = store.get_feed(db, "https://link-log.example/feed.json")
    store.record_feed_error(db, feed["id"], "HTTP 500 from https://link-log.example/feed.json")
    store.set_state(
        db, article_id(db_file, "https://slow-reading.example/2024/marginalia"), starred=True
    )
    db.conn.close()
    page = get(ds, "/").text
    assert 'action="/aggregator/search"' in page and 'name="q"' in page
    assert re.search(r"<strong>12</strong> articles", page)
    lists = re.split(r"<h2>", page)
    saved = next(s for s in lists if s.startswith("Saved, unread"))
    assert "The quiet web is still here" in saved and "Offline-first reading" in saved
    starred = next(s for s in lists if s.startswith("Starred"))
    assert "Marginalia: notes that outlast the page" in starred
    recent = next(s for s in lists if s.startswith("Recent from your feeds"))
    assert "Totally harmless gardening tips" in recent and "Compost" not in recent
    assert 'href="/aggregator/articles?_tag=open-web"' in page
    failing = next(s for s in lists if s.startswith("Feeds with errors"))
    assert "Link Log" in failing and "HTTP 500" in failing
    bookmarklet = re.search(r'class="bookmarklet" href="([^"]+)"', page).group(1)
    assert bookmarklet.startswith("javascript:") and "http://localhost/-/save?url=" in bookmarklet


def test_articles_table_is_newest_first_with_readable_cards_and_facets(ds: Any) -> None:
    data = get(ds, "/aggregator/articles.json?_shape=objects").json()
    dates = [r["sort_date"] for r in data["rows"]]
    assert dates == sorted(dates, reverse=True)
    facets = data["facet_results"]
    for name in ("tags", "feed_title", "site", "author", "state", "published_month"):
        assert name in facets, (name, list(facets))
    tags = {r["value"]: r["count"] for r in facets["tags"]["results"]}
    assert tags["open-web"] == 3 and tags["garden"] == 2
    feeds = {r["value"]: r["count"] for r in facets["feed_title"]["results"]}
    assert feeds["Slow Reading"] == 3
    months = {r["value"] for r in facets["published_month"]["results"]}
    assert "2024-05" in months
    page = get(ds, "/aggregator/articles").text
    assert re.search(
        r'<a class="card-link" href="/aggregator/articles/\d+(\?from=[^"]*)?">'
        r"Why feeds outlived the platforms</a>",
        page,
    )
    assert "Every few years a platform" not in page  # no raw bodies in the list
    assert 'href="/aggregator/articles?_tag=garden"' in page


def test_clicking_a_facet_narrows_the_table(ds: Any) -> None:
    page = get(ds, "/aggregator/articles?tags__arraycontains=garden").text
    assert "Compost" in page and "Totally harmless gardening tips" in page
    assert "Why feeds outlived the platforms" not in page
    assert "2 articles" in page


def test_faceted_columns_are_indexed(db_file: Path) -> None:
    db = store.open_db(db_file, migrate=False)
    indexed = {
        row[0]
        for row in db.execute(
            "select ii.name from pragma_index_list('articles') il, pragma_index_info(il.name) ii"
        )
    }
    db.conn.close()
    assert {"feed_title", "site", "author", "state", "published_month"} <= indexed


# ---------------------------------------------------------------------------------------------
# Search


def test_plain_table_search_finds_a_word_of_the_body(ds: Any) -> None:
    rows = get(ds, "/aggregator/articles.json?_search=syndication&_shape=objects").json()["rows"]
    assert [r["title"] for r in rows] == ["Why feeds outlived the platforms"]


def test_ranked_search_puts_the_title_first_and_marks_the_words(ds: Any) -> None:
    rows = get(ds, "/aggregator/search.json?q=compost&_shape=objects").json()["rows"]
    assert [r["title"] for r in rows] == ["Compost", "Allotment notes"]
    body_snippet = rows[1]["snippet"]
    assert "<mark>compost</mark>" in body_snippet
    # Everything but the marks is escaped: the text's own <b> and & arrive as text.
    assert "&lt;b&gt;<mark>compost</mark>&lt;/b&gt; &amp; leaf" in body_snippet
    page = get(ds, "/aggregator/search?q=compost").text
    assert "<mark>compost</mark>" in page and "<b>compost" not in page
    assert page.index(">Compost</a>") < page.index(">Allotment notes</a>")


def test_search_box_on_every_page_leads_to_the_ranked_search(ds: Any) -> None:
    for path in ("/", "/aggregator/articles", "/-/dashboard"):
        assert 'action="/aggregator/search"' in get(ds, path).text


def test_search_filters_by_tag_and_feed(ds: Any) -> None:
    def titles(query: str) -> list[str]:
        rows = get(ds, f"/aggregator/search.json?{query}&_shape=objects").json()["rows"]
        return [r["title"] for r in rows]

    assert "The quiet web is still here" in titles("q=web")
    assert titles("q=web&tag=essays") == ["The quiet web is still here"]
    assert set(titles("q=web&feed=Field+Notes+on+the+Open+Web")) <= {
        "Field Notes on the Open Web",
        "Écrire pour le web : accents, 漢字 and emoji 📚",
        "Self-hosting a reading list in one SQLite file",
    }
    assert titles("q=web&feed=Field+Notes+on+the+Open+Web")


@pytest.mark.parametrize("q", ['"unbalanced', "AND OR (", "*", "title:x", "NEAR(a b", ""])
def test_search_never_breaks_on_what_people_type(ds: Any, q: str) -> None:
    response = get(ds, "/aggregator/search", params={"q": q})
    assert response.status_code == 200
    assert "message-error" not in response.text


# ---------------------------------------------------------------------------------------------
# Exports


def cli_export(db_file: Path, *args: str) -> bytes:
    result = CliRunner().invoke(cli, ["--db", str(db_file), "export", *args])
    assert result.exit_code == 0, result.output
    return result.stdout_bytes


def test_table_exports_follow_the_filters_and_match_the_cli(ds: Any, db_file: Path) -> None:
    md = get(ds, "/aggregator/articles.md?tags__arraycontains=open-web")
    assert md.status_code == 200
    links = re.findall(r"\[([^\]]+)\]\(<?(https?://[^)>]+)>?\)", md.text)
    tagged = get(ds, "/aggregator/articles.json?tags__arraycontains=open-web&_shape=array").json()
    assert len(tagged) == 3
    assert sorted(u for _, u in links) == sorted(r["url"] for r in tagged)

    atom = get(ds, "/aggregator/articles.atom?tags__arraycontains=open-web")
    assert atom.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(atom.content)
    assert root.tag == f"{ATOM}feed"
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 3
    assert all(
        e.find(f"{ATOM}title") is not None and e.find(f"{ATOM}id") is not None for e in entries
    )

    bookmarks = get(ds, "/aggregator/articles.bookmarks?tags__arraycontains=open-web")
    assert bookmarks.content.startswith(b"<!DOCTYPE NETSCAPE-Bookmark-file-1>")
    assert bookmarks.content == cli_export(db_file, "--format", "netscape", "--tag", "open-web")


def test_table_page_links_all_three_exports_with_its_filters(ds: Any) -> None:
    page = get(ds, "/aggregator/articles?tags__arraycontains=open-web").text
    for ext in ("md", "atom", "bookmarks"):
        assert f'href="/aggregator/articles.{ext}?tags__arraycontains=open-web' in page, ext


def test_exports_take_every_matching_row_not_just_the_page(ds: Any) -> None:
    md = get(ds, "/aggregator/articles.md?_size=2").text
    assert len(re.findall(r"\]\(<?https?://", md)) == 12


def test_search_results_export_in_rank_order(ds: Any, db_file: Path) -> None:
    page = get(ds, "/aggregator/search?q=compost").text
    assert 'href="/aggregator/search.md?q=compost' in page
    assert 'href="/aggregator/search.bookmarks?q=compost' in page
    md = get(ds, "/aggregator/search.md?q=compost").text
    assert md.index("[Compost]") < md.index("[Allotment notes]")
    bookmarks = get(ds, "/aggregator/search.bookmarks?q=compost&tag=garden").content
    assert bookmarks == cli_export(
        db_file, "--format", "netscape", "--query", "compost", "--tag", "garden"
    )


def test_other_tables_offer_no_article_exports(ds: Any) -> None:
    assert get(ds, "/aggregator/feeds.md").status_code == 404
    assert "feeds.md" not in get(ds, "/aggregator/feeds").text


# ---------------------------------------------------------------------------------------------
# The article page and the attack article


def test_article_page_is_a_reading_layout(ds: Any, db_file: Path) -> None:
    aid = article_id(db_file, "https://small-sites.example/quiet-web")
    page = get(ds, f"/aggregator/articles/{aid}").text
    assert "<h1>The quiet web is still here</h1>" in page
    assert "Imogen Hart" in page and "2 Nov 2024" in page and "min read" in page
    assert "Send to the book club." in page
    assert 'href="https://small-sites.example/quiet-web"' in page
    assert "Personal websites never went away" in page
    # opening it marked it read, so the page offers to mark it unread
    for action in ("star", "archive", "unread", "tags"):
        assert f'action="/-/articles/{aid}/{action}"' in page
    assert page.count('name="csrftoken"') >= 4


def test_attack_article_shows_its_text_and_none_of_the_attack(ds: Any, db_file: Path) -> None:
    aid = article_id(db_file, "https://hostile.example/garden")
    response = get(ds, f"/aggregator/articles/{aid}")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    body = response.text.split('<div class="reader-body">', 1)[1]
    body = body.split('<form id="highlight-form"')[0]
    assert "Plant the tulips in autumn." in body and "Harvest the bulbs in summer." in body
    lowered = body.lower()
    for bad in (
        "<script",
        "onerror",
        "onclick",
        "onmouseover",
        "javascript:",
        "<iframe",
        "<svg",
        "<object",
        "<form",
        "<style",
        "pwned",
        "alert(",
    ):
        assert bad not in lowered, bad
    assert not INLINE_SCRIPT.findall(response.text)


def test_article_html_is_sanitised_again_on_the_way_out(ds: Any, db_file: Path) -> None:
    # A row written by hand (or by an older version) with raw HTML still shows no attack.
    aid = article_id(db_file, "https://garden.example/compost")
    db = store.open_db(db_file, migrate=False)
    with store.transaction(db):
        db.execute(
            "update articles set content_html = ? where id = ?",
            [
                "<p>Safe words.</p><script>alert(1)</script><img src=x onerror=alert(2)>"
                '<a href="javascript:alert(3)">x</a>',
                aid,
            ],
        )
    db.conn.close()
    page = get(ds, f"/aggregator/articles/{aid}").text.lower()
    assert "safe words." in page
    assert "alert(" not in page and "onerror" not in page and "javascript:alert" not in page


def test_table_cells_never_render_raw_html(ds: Any, db_file: Path) -> None:
    page = get(ds, "/aggregator?sql=select+content_html,+title+from+articles").text.lower()
    assert "onerror" not in page and "<script>document" not in page


# ---------------------------------------------------------------------------------------------
# Host guard and exposure


@pytest.mark.parametrize(
    "host,status",
    [
        ("evil.example", 403),
        ("evil.example:8001", 403),
        ("localhost.evil.example", 403),
        ("127.0.0.1.nip.io", 403),
        ("", 403),
        ("localhost", 200),
        ("localhost:8001", 200),
        ("127.0.0.1:8001", 200),
        ("[::1]:8001", 200),
    ],
)
def test_only_known_host_names_are_answered(ds: Any, host: str, status: int) -> None:
    response = get(ds, "/", headers={"host": host})
    assert response.status_code == status
    if status == 403:
        assert "Why feeds" not in response.text


def test_configured_host_names_are_answered(db_file: Path) -> None:
    ds = build_datasette(db_file, allow_hosts=["reader.lan"], fetch_saved=False)
    assert get(ds, "/", headers={"host": "reader.lan:8001"}).status_code == 200
    assert get(ds, "/", headers={"host": "other.lan"}).status_code == 403


def test_serving_beyond_loopback_needs_a_login(
    db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AGGREGATOR_PASSWORD_HASH", raising=False)
    with pytest.raises(AggregatorError, match="refusing to serve on 0.0.0.0"):
        check_exposure("0.0.0.0")
    check_exposure("127.0.0.1")
    check_exposure("::1")
    result = CliRunner().invoke(cli, ["--db", str(db_file), "serve", "--host", "0.0.0.0"])
    assert result.exit_code != 0
    assert "refusing to serve on 0.0.0.0" in result.output
    assert "AGGREGATOR_PASSWORD_HASH" in result.output


def test_with_a_login_configured_every_page_and_write_requires_it(
    db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datasette_auth_passwords.utils import hash_password

    monkeypatch.setenv("AGGREGATOR_PASSWORD_HASH", hash_password("s3cret", iterations=1000))
    check_exposure("0.0.0.0")  # configured: allowed now
    ds = build_datasette(db_file, host="0.0.0.0", allow_hosts=["reader.lan"], fetch_saved=False)
    for path in (
        "/",
        "/aggregator/articles",
        "/aggregator/articles.json",
        "/aggregator/articles.md",
        "/aggregator/search?q=web",
        "/-/save",
        "/-/dashboard",
    ):
        response = get(ds, path)
        assert response.status_code == 302 and "/-/login" in response.headers["location"], path
    assert post(ds, "/-/save", data={"url": "https://x.example/"}).status_code == 403
    login = get(ds, "/-/login")
    assert login.status_code == 200 and "password" in login.text
    assert get(ds, "/-/static-plugins/aggregator/reading.css").status_code == 200
    # Log in, then everything opens.
    cookie = login.cookies["ds_csrftoken"]
    token = re.search(r'name="csrftoken" value="([^"]+)"', login.text).group(1)
    bad = post(
        ds,
        "/-/login",
        data={"username": "reader", "password": "wrong", "csrftoken": token},
        cookies={"ds_csrftoken": cookie},
    )
    assert "ds_actor" not in bad.cookies
    good = post(
        ds,
        "/-/login",
        data={"username": "reader", "password": "s3cret", "csrftoken": token},
        cookies={"ds_csrftoken": cookie},
    )
    actor = good.cookies["ds_actor"]
    page = get(ds, "/aggregator/articles", cookies={"ds_actor": actor})
    assert page.status_code == 200 and "Why feeds outlived the platforms" in page.text
    # An export reads its selection back as the same visitor, so it works logged in too.
    md = get(ds, "/aggregator/articles.md?tags__arraycontains=open-web", cookies={"ds_actor": actor})
    assert md.status_code == 200 and len(re.findall(r"\]\(<?https?://", md.text)) == 3


# ---------------------------------------------------------------------------------------------
# Writes: CSRF, saving, the article buttons


def test_save_form_is_prefilled_from_the_bookmarklet(ds: Any) -> None:
    page = get(
        ds,
        "/-/save",
        params={"url": "https://example.org/a?b=1&c=2", "title": 'A "quoted" <title>'},
    ).text
    assert 'value="https://example.org/a?b=1&amp;c=2"' in page
    assert 'value="A &#34;quoted&#34; &lt;title&gt;"' in page


def test_save_without_a_csrf_token_is_refused(ds: Any, db_file: Path) -> None:
    form = {"url": "https://example.org/no-token", "tags": "x"}
    assert post(ds, "/-/save", data=form).status_code == 403  # no cookie at all
    cookie, token = csrf(ds)
    assert post(ds, "/-/save", data=form, cookies={"ds_csrftoken": cookie}).status_code == 403
    assert post(ds, "/-/save", data={**form, "csrftoken": token}).status_code == 403
    assert (
        post(
            ds, "/-/save", data={**form, "csrftoken": token + "x"}, cookies={"ds_csrftoken": cookie}
        ).status_code
        == 403
    )
    db = store.open_db(db_file, migrate=False)
    assert store.article_id_for_url(db, "https://example.org/no-token") is None
    db.conn.close()


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
    ],
)
def test_cross_site_writes_are_refused_even_with_the_token(
    ds: Any, headers: dict[str, str]
) -> None:
    cookie, token = csrf(ds)
    response = post(
        ds,
        "/-/save",
        data={"url": "https://example.org/x", "csrftoken": token},
        cookies={"ds_csrftoken": cookie},
        headers=headers,
    )
    assert response.status_code == 403


def test_save_with_the_token_saves_tags_and_notes(ds: Any, db_file: Path) -> None:
    cookie, token = csrf(ds)
    response = post(
        ds,
        "/-/save",
        data={
            "url": "https://example.org/essay",
            "title": "An essay",
            "tags": "later, essays",
            "note": "for Sunday",
            "csrftoken": token,
        },
        cookies={"ds_csrftoken": cookie},
        headers={"origin": "http://localhost", "sec-fetch-site": "same-origin"},
    )
    assert response.status_code == 303
    aid = article_id(db_file, "https://example.org/essay")
    assert response.headers["location"] == f"/aggregator/articles/{aid}?saved=new"
    row = article_row(db_file, aid)
    assert row["saved"] and row["tags"] == ["essays", "later"] and row["note"] == "for Sunday"
    assert row["fetch_status"] == "pending"  # fetching is off in this instance
    page = get(ds, response.headers["location"]).text
    assert "Saved." in page and "An essay" in page


def test_save_refuses_what_is_not_a_web_address(ds: Any) -> None:
    cookie, token = csrf(ds)
    response = post(
        ds,
        "/-/save",
        data={"url": "javascript:alert(1)", "csrftoken": token},
        cookies={"ds_csrftoken": cookie},
    )
    assert response.status_code == 400
    assert "Not a web address" in response.text


def wait_for_fetch(db_file: Path, aid: int, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = article_row(db_file, aid)
        if row["fetch_status"] != "pending":
            return row
        time.sleep(0.1)
    raise AssertionError("the saved page was not fetched in time")


PAGE = b"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Slow gardening</title><meta name="author" content="Tess Field"></head><body><article>
<h1>Slow gardening</h1><p>%s</p></article></body></html>""" % (
    b"A garden rewards the patient reader who returns each season with notes. " * 30
)


def test_saved_link_is_fetched_in_the_background(db_file: Path, server: Any) -> None:
    url = server.add("/slow-gardening", Route(PAGE, content_type="text/html; charset=utf-8"))
    ds = build_datasette(db_file)
    cookie, token = csrf(ds)
    response = post(
        ds,
        "/-/save",
        data={"url": url, "tags": "garden", "csrftoken": token},
        cookies={"ds_csrftoken": cookie},
    )
    assert response.status_code == 303
    row = wait_for_fetch(db_file, article_id(db_file, url))
    assert row["fetch_status"] == "ok", row["fetch_error"]
    assert row["title"] == "Slow gardening" and "patient reader" in row["text"]
    assert row["tags"] == ["garden"]
    assert server.hits("/slow-gardening")


def test_a_saved_link_obeys_the_address_policy(db_file: Path, server: Any) -> None:
    # The test server's port is allowed; another local port is not.
    blocked = "http://127.0.0.1:9/admin"
    ds = build_datasette(db_file)
    cookie, token = csrf(ds)
    post(ds, "/-/save", data={"url": blocked, "csrftoken": token}, cookies={"ds_csrftoken": cookie})
    row = wait_for_fetch(db_file, article_id(db_file, blocked))
    assert row["fetch_status"] in ("error", "failed")
    assert "blocked" in (row["fetch_error"] or "")


def test_star_archive_and_tag_buttons(ds: Any, db_file: Path) -> None:
    aid = article_id(db_file, "https://small-sites.example/quiet-web")
    cookie, token = csrf(ds, f"/aggregator/articles/{aid}")
    jar = {"ds_csrftoken": cookie}

    def act(action: str, **form: str) -> Any:
        return post(
            ds, f"/-/articles/{aid}/{action}", data={"csrftoken": token, **form}, cookies=jar
        )

    assert act("star").status_code == 303
    assert article_row(db_file, aid)["starred"] is True
    assert act("archive").status_code == 303
    assert article_row(db_file, aid)["state"] == "archived"
    assert act("tags", tags="essays, Sunday reading").status_code == 303
    assert article_row(db_file, aid)["tags"] == ["essays", "Sunday reading"]
    page = get(ds, f"/aggregator/articles/{aid}").text
    assert "★ Starred" in page and "Archived (undo)" in page and "Sunday reading" in page
    assert act("unstar").status_code == 303 and act("unarchive").status_code == 303
    row = article_row(db_file, aid)
    assert row["starred"] is False and row["state"] == "unread"
    # Without the token nothing changes.
    refused = post(ds, f"/-/articles/{aid}/star", data={}, cookies=jar)
    assert refused.status_code == 403
    assert article_row(db_file, aid)["starred"] is False
    assert act("explode").status_code == 404


# ---------------------------------------------------------------------------------------------
# Dashboard


def test_dashboard_carries_chart_data_and_draws_with_a_static_script(
    ds: Any, db_file: Path
) -> None:
    db = store.open_db(db_file, migrate=False)
    store.set_state(db, article_id(db_file, "https://small-sites.example/quiet-web"), state="read")
    db.conn.close()
    page = get(ds, "/-/dashboard").text
    assert '<script src="/-/static-plugins/aggregator/dashboard.js" defer></script>' in page
    raw = re.search(
        r'<script type="application/json" id="dashboard-data">(.*?)</script>', page, re.S
    ).group(1)
    data = json.loads(raw)
    assert {"weeks", "tag_weeks", "saved_read", "states", "feeds"} <= set(data)
    assert sum(r["n"] for r in data["states"]) == 12
    assert any(r["kind"] == "read" for r in data["saved_read"])
    assert {f["title"] for f in data["feeds"]} >= {"Slow Reading", "Hostile Weekly"}
    for chart in ("chart-feeds", "chart-tags", "chart-saved-read", "chart-states", "chart-health"):
        assert f'id="{chart}"' in page
    script = get(ds, "/-/static-plugins/aggregator/dashboard.js")
    assert script.status_code == 200 and "createElementNS" in script.text


# ---------------------------------------------------------------------------------------------
# CSV links: spreadsheet formulas guarded


FORMULAS = ["=HYPERLINK(\"http://evil.example\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)", "\tx", "\rx"]


def test_every_csv_link_guards_spreadsheet_formulas(ds: Any, db_file: Path) -> None:
    db = store.open_db(db_file, migrate=False)
    with store.transaction(db):
        db.execute("update feeds set title = ? where url = ?", [FORMULAS[3], "https://link-log.example/feed.json"])
    for i, text in enumerate(FORMULAS):
        store.save_link(db, f"https://formula.example/{i}", title=text, tags=["formula"], note=text)
    db.conn.close()

    def csv_rows(page_path: str) -> list[dict[str, str]]:
        page = get(ds, page_path).text
        link = re.search(r'<a[^>]*href="([^"]+)"[^>]*>CSV</a>', page)
        assert link, page_path
        response = get(ds, link.group(1).replace("&amp;", "&"))
        assert response.status_code == 200, (link.group(1), response.text[:300])
        return list(csv.DictReader(io.StringIO(response.text)))

    listed = csv_rows("/aggregator/articles?tags__arraycontains=formula")
    assert sorted(r["title"] for r in listed) == sorted("'" + f for f in FORMULAS)
    assert all(r["note"].startswith("'") for r in listed)
    found = csv_rows("/aggregator/search?q=SUM")
    assert [r["title"] for r in found] == ["'@SUM(1)"]
    feeds = csv_rows("/aggregator/feeds")  # Datasette's own table page
    assert "'@SUM(1)" in [r["title"] for r in feeds]
    assert all(not r["title"].startswith(("=", "+", "-", "@", "\t", "\r")) for r in feeds)
    # Numbers stay numbers (a count is not a formula).
    counts = get(ds, "/aggregator/home_counts.safecsv").text.splitlines()
    assert counts[0].startswith("articles,") and counts[1].split(",")[0].isdigit()


def test_the_starred_facet_speaks_words(ds: Any) -> None:
    facet = get(ds, "/aggregator/articles.json").json()["facet_results"]["starred"]
    labels = {r["value"]: r["label"] for r in facet["results"]}
    assert labels == {0: "Not starred"}
    page = get(ds, "/aggregator/articles").text
    section = page.split('id="facet-starred"', 1)[1].split("</section>", 1)[0]
    assert "Not starred" in section and ">0<" not in section
