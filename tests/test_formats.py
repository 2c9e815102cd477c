"""Import and export formats: every real file of the shared corpora with its expected count, the
edge cases in tests/data/formats/, and every export read back by an independent parser."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import zipfile
from typing import Any

import pytest

from aggregator.errors import ImportFormatError
from aggregator.formats import (
    EXPORT_FORMATS,
    FORMATS,
    detect_format,
    read_import,
    write_export,
)
from tests.conftest import CORPORA, DATA, corpus

FIXTURES = DATA / "formats"
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
NOT_IMPORTABLE = "is not a bookmark, feed list or read-later export"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# --- the shared corpora ------------------------------------------------------------------

WALLABAG_FORMATS = {
    "chrome-bookmarks": "chrome",
    "firefox-bookmarks.json": "firefox",
    "instapaper-export.csv": "instapaper",
    "pocket.csv": "pocket",
    "ril_export.html": "pocket",
    "shaarli-bookmarks.html": "netscape",
    "readability.json": "readability",
    "readability-read.json": "readability",
    "pinboard_export": "pinboard",
    "delicious_export.2021.02.06_21.10.json": "delicious",
    "elcurator.json": "elcurator",
    "omnivore.json": "omnivore",
    "wallabag-v1.json": "wallabag",
    "wallabag-v1-read.json": "wallabag",
    "wallabag-v2.json": "wallabag",
    "wallabag-v2-read.json": "wallabag",
}


def _wallabag_expected() -> list[tuple[str, int]]:
    path = CORPORA / "bookmarks"
    counts_file = path / "wallabag-import-fixtures" / "expected_counts.json"
    if not counts_file.exists():
        return [("expected_counts.json", -1)]
    counts = json.loads(counts_file.read_text())
    return [(name, count) for name, count in counts.items() if not name.startswith("_")]


def _wallabag_fixture_count(name: str, expected: int) -> None:
    path = corpus("bookmarks", "wallabag-import-fixtures", name)
    data = path.read_bytes()
    if expected == 0:
        # The four empty files (0 bytes): refused as a whole, with the reason.
        with pytest.raises(ImportFormatError, match="is not a bookmark, feed list or read-later"):
            read_import(data, filename=name)
        return
    assert detect_format(data, filename=name) == WALLABAG_FORMATS[name]
    batch = read_import(data, filename=name)
    assert batch.format == WALLABAG_FORMATS[name]
    assert len(batch.links) == expected
    assert batch.subscriptions == ()
    for link in batch.links:
        assert link.url.startswith(("http://", "https://"))
        assert link.title
        assert link.saved_at is None or ISO.fullmatch(link.saved_at)


def _wallabag_fixture_details() -> None:
    base = ("bookmarks", "wallabag-import-fixtures")
    v2 = read_import(corpus(*base, "wallabag-v2.json").read_bytes())
    first = v2.links[0]
    assert first.url == "https://www.mediapart.fr/"
    assert first.starred and first.state == "unread"
    assert first.tags == ("mediapart", "blog")
    assert first.saved_at == "2016-09-08T09:55:58Z"  # +0200 to UTC
    # The article HTML is passed on as the export holds it; the service sanitises it.
    assert first.content_html and first.content_html.startswith('<div alt="li">Édition')
    read = read_import(corpus(*base, "wallabag-v2-read.json").read_bytes())
    assert [link.state for link in read.links] == ["archived", "unread"]
    v1 = read_import(corpus(*base, "wallabag-v1-read.json").read_bytes())
    assert v1.links[0].starred and v1.links[2].tags == ("framasoft", "tag")

    insta = read_import(corpus(*base, "instapaper-export.csv").read_bytes())
    assert [(link.state, link.starred, link.tags) for link in insta.links] == [
        ("unread", False, ()),
        ("archived", False, ()),
        ("unread", True, ()),
        ("unread", False, ("test_tag",)),
    ]
    assert insta.links[3].title == "Dis donc Donald Trump, c'est quoi exactement «covfefe»?"

    pocket = read_import(corpus(*base, "pocket.csv").read_bytes())
    assert [link.state for link in pocket.links].count("archived") == 2
    assert pocket.links[0].saved_at == "2020-09-17T06:06:28Z"
    # A title with a line break inside quotes stays one title, on one line.
    assert pocket.links[6].title.startswith("Des abeilles pour résoudre")
    assert "\n" not in pocket.links[6].title

    ril = read_import(corpus(*base, "ril_export.html").read_bytes())
    assert ril.links[0].tags == ("ifttt", "new_entry_simple")
    assert ril.links[0].saved_at == "2023-07-06T07:31:35Z"

    firefox = read_import(corpus(*base, "firefox-bookmarks.json").read_bytes())
    assert firefox.links[0].tags == ("test", "tag")  # root folders give no tag
    assert firefox.links[0].saved_at == "2013-12-27T17:41:31Z"  # microseconds
    chrome = read_import(corpus(*base, "chrome-bookmarks").read_bytes())
    assert chrome.links[0].saved_at is not None and chrome.links[0].saved_at.startswith("2016-")

    pinboard = read_import(corpus(*base, "pinboard_export").read_bytes())
    assert pinboard.links[0].tags == ("infinite", "dom", "performance", "scroll")
    assert pinboard.links[0].note and pinboard.links[0].note.startswith("TL;DR")
    omnivore = read_import(corpus(*base, "omnivore.json").read_bytes())
    assert omnivore.links[0].state == "archived"
    assert omnivore.links[2].tags == ("RSS", "TEST")
    readability = read_import(corpus(*base, "readability.json").read_bytes())
    assert readability.links[1].starred
    assert readability.links[0].excerpt and "&#x2019;" not in readability.links[0].excerpt


def _firefox_html_export_323_links_in_25_folders() -> None:
    data = corpus("bookmarks", "osint-bookmarks-firefox-export", "bookmarks.html").read_bytes()
    text = data.decode("utf-8")
    anchors = re.findall(r'<DT><A HREF="([^"]*)"', text)
    folders = [html.unescape(n) for n in re.findall(r"<H3[^>]*>([^<]*)</H3>", text)]
    assert len(anchors) == 323 and len(folders) == 25  # the MANIFEST's counts
    batch = read_import(data, filename="bookmarks.html")
    assert batch.format == "netscape"
    http = [url for url in anchors if url.startswith("http")]
    assert len(http) == 322  # one place: URL is skipped ...
    assert any("place:" in w and "not an http(s) link" in w for w in batch.warnings)
    # ... and four URLs filed in two folders each are merged, with both folders as tags.
    assert len(batch.links) == len(set(http)) == 318
    assert "4 repeated link URLs merged" in " ".join(batch.warnings)
    tags = {tag for link in batch.links for tag in link.tags}
    assert tags == set(folders) - {"Bookmarks Toolbar"}  # 22 distinct folder names
    assert len(tags) == 22
    first = batch.links[0]
    assert first.tags == ("OSINTBookmarks", "Company", "Country Specific")
    assert first.title == "Canadian Business Research"
    assert first.saved_at == "2020-02-21T22:07:09Z"
    assert not any("data:" in (link.note or "") for link in batch.links)  # ICONs ignored


def _linkding_files_and_png() -> None:
    base = ("bookmarks", "linkding")
    valid = read_import(corpus(*base, "simple_valid_import_file.html").read_bytes())
    assert [link.url for link in valid.links] == [f"https://example.com/{i}" for i in (1, 2, 3)]
    # ADD_DATE in seconds, milliseconds and microseconds: the same moment.
    assert {link.saved_at for link in valid.links} == {"2021-03-21T14:39:19Z"}
    assert [link.tags for link in valid.links] == [("tag1",), ("tag2",), ("tag3",)]
    assert valid.links[0].note == "test description 1"
    one_bad = read_import(
        corpus(*base, "simple_valid_import_file_with_one_invalid_bookmark.html").read_bytes()
    )
    assert len(one_bad.links) == 3
    assert one_bad.links[0].saved_at is None
    assert "1 bookmarks had an unreadable ADD_DATE" in one_bad.warnings
    png = corpus(*base, "invalid_import_file.png").read_bytes()
    with pytest.raises(ImportFormatError, match="not a bookmark, feed list or read-later export"):
        detect_format(png, filename="invalid_import_file.png")
    with pytest.raises(ImportFormatError):
        read_import(png, filename="invalid_import_file.png")


def _pocket_api_json() -> None:
    data = corpus("bookmarks", "pocket-to-sqlite", "pocket.json").read_bytes()
    assert detect_format(data) == "pocket"
    batch = read_import(data)
    assert len(batch.links) == 1
    link = batch.links[0]
    assert link.title == "Deep Learning: Our Miraculous Year 1990-1991"
    assert link.saved_at == "2019-10-05T19:30:54Z"
    assert link.state == "unread" and link.excerpt


def _aramzs_opml(name: str, outlines: int) -> None:
    import listparser

    data = corpus("opml", "aramzs-subscriptions", name).read_bytes()
    assert len(re.findall(rb"xmlUrl=", data)) == outlines
    batch = read_import(data, filename=name)
    assert batch.format == "opml"
    repeats = int(re.search(r"(\d+) repeated feed URLs", " ".join(batch.warnings)).group(1))
    assert len(batch.subscriptions) + repeats == outlines
    # The same feeds as listparser finds, except that we also read the six scheme-less URLs.
    theirs = {feed.url for feed in listparser.parse(data).feeds}
    ours = {sub.url for sub in batch.subscriptions}
    fixed = {url for url in ours if url.removeprefix("http://") in theirs and url not in theirs}
    assert len(fixed) == 6
    assert (ours - fixed) | {url.removeprefix("http://") for url in fixed} == theirs
    first = batch.subscriptions[0]
    assert first.title == "ReadWriteWeb" and first.tags == ("On The Media",)
    assert first.site_url == "http://readwrite.com"


def _all_plenaryapp_opml_files_parse() -> None:
    root = corpus("opml", "plenaryapp-awesome-rss-feeds")
    files = sorted(root.rglob("*.opml"))
    assert len(files) == 118
    lenient = 0
    for path in files:
        data = path.read_bytes()
        batch = read_import(data, filename=path.name)
        assert batch.format == "opml"
        urls = {html.unescape(u.decode()) for u in re.findall(rb'xmlUrl="([^"]*)"', data)}
        assert {s.url for s in batch.subscriptions} == urls, path
        if "with_category" in path.parts:  # one folder outline holding all the feeds
            folder = html.unescape(re.search(rb'<outline text="([^"]*)"', data)[1].decode())
            assert all(s.tags == (folder,) for s in batch.subscriptions), path
        lenient += any("not well-formed" in w or "unescaped" in w for w in batch.warnings)
    assert lenient == 80  # the MANIFEST: 80 of 118 have raw '&'


# --- edge cases written for these tests --------------------------------------------------


def test_pocket_csv_columns_by_header_name() -> None:
    batch = read_import(fixture("pocket_reordered.csv"), filename="part_000000.csv")
    assert batch.format == "pocket"
    assert [link.url for link in batch.links] == [
        "https://example.org/a?x=1&y=2",
        "https://example.org/b",
        "https://example.org/c",
    ]
    first = batch.links[0]
    assert first.title == 'Commas, "quotes" and ünïcödé — 日本語'
    assert first.tags == ("news", "long read", "café")
    assert first.state == "archived" and first.saved_at == "2020-09-17T06:06:28Z"
    assert batch.links[1].title == "Padded title"  # only whitespace trimmed
    assert batch.links[2].title == "Line one line two"
    assert batch.skipped == 1
    assert batch.warnings == (
        "1 of 4 records skipped (reasons below)",
        "skipped javascript:alert(1): not an http(s) link",
    )


def test_pocket_zip() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("part_000000.csv", fixture("pocket_reordered.csv"))
        archive.writestr(
            "part_000001.csv",
            b"title,url,time_added,tags,status\nMore,https://example.org/d,1600000000,,unread\n",
        )
        archive.writestr("README.txt", b"not read")
    data = buffer.getvalue()
    assert detect_format(data, filename="pocket.zip") == "pocket"
    batch = read_import(data, filename="pocket.zip")
    assert batch.format == "pocket"
    assert len(batch.links) == 4
    with pytest.raises(ImportFormatError, match="zip"):
        read_import(data[: len(data) // 2], filename="pocket.zip")


def test_netscape_nested_folders_dates_and_skips() -> None:
    batch = read_import(fixture("netscape_nested.html"), filename="bookmarks.html")
    links = {link.url.rsplit("/", 1)[1]: link for link in batch.links}
    assert set(links) == {"seconds", "millis", "micros", "no-date"}
    for name in ("seconds", "millis", "micros"):
        assert links[name].saved_at == "2021-03-21T14:39:19Z"
    assert links["no-date"].saved_at is None
    assert links["seconds"].title == "Seconds & more"
    assert links["seconds"].tags == ("one", "two")  # toolbar root folder gives no tag
    assert links["seconds"].note == "A note with markup <kept as text>"
    assert links["millis"].tags == ("Reading",) and links["millis"].state == "unread"
    assert links["micros"].tags == ("Reading", "Deep", "extra") and links["micros"].state == "read"
    assert links["no-date"].tags == ()  # "Other Bookmarks" is a root folder
    assert len([w for w in batch.warnings if "not an http(s) link" in w]) == 2


def test_instapaper_with_timestamp_and_tags() -> None:
    batch = read_import(fixture("instapaper_new.csv"))
    assert batch.format == "instapaper"
    assert [link.tags for link in batch.links] == [("python", "web"), (), (), ("Recipes", "food")]
    assert batch.links[1].note == "A highlighted sentence."
    assert batch.links[0].saved_at == "2023-11-14T22:13:20Z"


def test_opml_folders_categories_and_raw_ampersands() -> None:
    batch = read_import(fixture("folders_and_categories.opml"))
    subs = {s.url: s for s in batch.subscriptions}
    assert list(subs) == [
        "https://example.com/feed.xml?a=1&b=2",
        "https://deep.example/atom",
        "http://top.example/rss",
    ]
    example = subs["https://example.com/feed.xml?a=1&b=2"]
    assert example.tags == ("Tech", "News", "Daily", "Long reads")
    assert example.site_url == "https://example.com/" and example.title == "Example Feed"
    assert subs["https://deep.example/atom"].tags == ("Tech", "Nested", "Again")
    assert subs["http://top.example/rss"].tags == ()
    assert any("file:///etc/passwd" in w for w in batch.warnings)


def test_opml_with_markup_and_quotes_in_attributes() -> None:
    batch = read_import(fixture("broken_attributes.opml"))
    assert [s.url for s in batch.subscriptions] == [
        "https://a.example/feed?u=1&id=2",
        "https://b.example/feed/",
        "https://c.example/rss.xml",
    ]
    assert all(s.tags == ("Mixed",) for s in batch.subscriptions)
    assert any("read leniently" in w for w in batch.warnings)


@pytest.mark.parametrize("name", ["xxe.opml", "billion_laughs.opml"])
def test_opml_entities_are_never_expanded(name: str) -> None:
    with pytest.raises(ImportFormatError, match="entities"):
        read_import(fixture(name), filename=name)


def test_opml_bounds() -> None:
    many = b"".join(
        b'<outline text="f%d" xmlUrl="https://e.example/%d"/>' % (i, i) for i in range(10_001)
    )
    with pytest.raises(ImportFormatError, match="10000 outlines"):
        read_import(b'<?xml version="1.0"?><opml version="2.0"><body>' + many + b"</body></opml>")
    deep = (
        b'<outline text="x">' * 100
        + b'<outline xmlUrl="https://e.example/"/>'
        + (b"</outline>" * 100)
    )
    with pytest.raises(ImportFormatError, match="nested deeper"):
        read_import(b'<opml version="2.0"><body>' + deep + b"</body></opml>")


@pytest.mark.parametrize(
    "name,message",
    [
        ("truncated.opml", "truncated OPML"),
        ("truncated.json", "truncated JSON"),
        ("truncated_netscape.html", "truncated bookmark file"),
        ("unknown.txt", "is not a bookmark, feed list or read-later export"),
        ("feed.xml", "it is a feed"),
    ],
)
def test_bad_files_are_refused_whole(name: str, message: str) -> None:
    with pytest.raises(ImportFormatError, match=message) as info:
        read_import(fixture(name), filename=name)
    assert name in str(info.value) and info.value.url == name


def test_truncated_csv_is_refused() -> None:
    data = fixture("pocket_reordered.csv")
    with pytest.raises(ImportFormatError, match="truncated CSV"):
        read_import(data[: data.index(b"Line one") + 5], filename="part_000000.csv")
    with pytest.raises(ImportFormatError, match="truncated CSV"):
        read_import(data[: data.index(b"def456") + 3], filename="part_000000.csv")


@pytest.mark.parametrize(
    "data,detail",
    [
        (b"", "empty"),
        (b"  \n\t ", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"\x00\x01\x02binary\x00", "binary"),
        (b"%PDF-1.7\n", "binary"),
        (b'{"hello": "world"}', ""),
        (b"just text, with a comma\nand another line\n", ""),
        (b"<html><body><p>A web page</p></body></html>", ""),
    ],
)
def test_detect_format_refuses(data: bytes, detail: str) -> None:
    with pytest.raises(ImportFormatError, match=NOT_IMPORTABLE) as info:
        detect_format(data, filename="upload.dat")
    assert detail in str(info.value)


def test_detect_format_trusts_content_over_extension() -> None:
    opml_bytes = fixture("folders_and_categories.opml")
    assert detect_format(opml_bytes, filename="feeds.html") == "opml"
    assert detect_format(fixture("pocket_reordered.csv"), filename="export.json") == "pocket"
    assert detect_format(fixture("netscape_nested.html"), filename="x.opml") == "netscape"
    assert detect_format(b"[]", filename="export.json") == "json"
    assert read_import(b"[]").links == ()


def test_format_can_be_forced_and_unknown_format_is_refused() -> None:
    batch = read_import(fixture("netscape_nested.html"), format="netscape")
    assert batch.format == "netscape"
    with pytest.raises(ImportFormatError, match="unknown import format"):
        read_import(b"[]", format="docx")
    with pytest.raises(ImportFormatError):
        read_import(fixture("netscape_nested.html"), format="wallabag")  # wrong shape: refused


def test_ten_thousand_pocket_links() -> None:
    rows = ["title,url,time_added,cursor,tags,status"]
    rows += [
        f'"Title {i}, with comma",https://example.com/{i},{1600000000 + i},c{i},a|b,unread'
        for i in range(10_000)
    ]
    batch = read_import(("\n".join(rows) + "\n").encode(), filename="part_000000.csv")
    assert len(batch.links) == 10_000


def test_supported_format_names() -> None:
    assert {"opml", "pocket", "netscape", "instapaper", "wallabag", "omnivore", "json"} <= set(
        FORMATS
    )
    assert EXPORT_FORMATS == ("json", "csv", "md", "html", "opml", "atom", "netscape")


# --- exports -----------------------------------------------------------------------------


def _article(i: int, **changes: Any) -> dict[str, Any]:
    article: dict[str, Any] = {
        "id": i,
        "url": f"https://example.com/articles/{i}?a=1&b=2",
        "title": f"Article {i}: *bold* _under_ [link](x) <script>alert(1)</script> & “quotes”",
        "author": "Ada <Lovelace>",
        "published": "2024-05-01T09:30:00Z",
        "updated": "2024-05-02T10:00:00Z",
        "feed_url": "https://example.com/feed.xml",
        "feed_title": "Example & Co",
        "site": "example.com",
        "tags": ["python", "web, dev", "日本語"],
        "text": "First paragraph.\n\nSecond paragraph.",
        "content_html": '<p>First <b>paragraph</b>.</p><p><a href="https://example.com/x">x</a></p>',
        "excerpt": "An excerpt with <angle> brackets & ampersands.",
        "saved": True,
        "saved_at": f"2024-05-0{1 + i % 9}T08:00:0{i % 10}Z",
        "state": ("unread", "read", "archived")[i % 3],
        "starred": i % 2 == 0,
        "note": f'Note {i} with "quotes" & <tags>',
        "word_count": 4,
        "reading_time": 1,
        "lang": "en",
        "image": None,
        "site_name": "Example Site",
    }
    article.update(changes)
    return article


ARTICLES = [_article(i) for i in range(1, 6)] + [
    _article(
        6,
        title="",
        tags=[],
        note=None,
        content_html="",
        published=None,
        updated=None,
        saved_at=None,
        state="unread",
        starred=False,
        excerpt=None,
        text="",
    ),
]
FEEDS = [
    {
        "url": "https://a.example/feed.xml",
        "title": "A & B",
        "site_url": "https://a.example/",
        "tags": ["news", "tech/science"],
        "description": "About <things>",
    },
    {
        "url": "https://b.example/atom",
        "title": "Bee",
        "site_url": None,
        "tags": ["news"],
        "description": None,
    },
    {
        "url": "https://c.example/rss",
        "title": None,
        "site_url": None,
        "tags": [],
        "description": None,
    },
]
FIXED = "2024-06-01T12:00:00Z"


def test_json_export_round_trip() -> None:
    data = write_export("json", articles=ARTICLES)
    rows = json.loads(data)
    assert len(rows) == len(ARTICLES)
    # exactly the export fields, in order, then each article's highlights
    assert list(rows[0]) == [*ARTICLES[0], "highlights"]
    assert "日本語" in data.decode("utf-8")  # not \u-escaped
    batch = read_import(data, filename="export.json")
    assert batch.format == "json"
    for article, link in zip(ARTICLES, batch.links, strict=True):
        assert link.url == article["url"]
        assert list(link.tags) == article["tags"]
        assert (link.title or "") == article["title"]
        assert link.saved_at == article["saved_at"]
        assert link.state == article["state"] and link.starred == article["starred"]
        assert link.note == article["note"]


def test_netscape_export_round_trip_and_bs4() -> None:
    from bs4 import BeautifulSoup

    data = write_export("netscape", articles=ARTICLES)
    text = data.decode("utf-8")
    assert text.startswith("<!DOCTYPE NETSCAPE-Bookmark-file-1>")
    assert "<script>" not in text
    soup = BeautifulSoup(text, "html.parser")
    anchors = soup.find_all("a")
    assert len(anchors) == len(ARTICLES)
    assert anchors[0]["href"] == ARTICLES[0]["url"]
    assert anchors[0]["add_date"] == "1714636801"  # 2024-05-02T08:00:01Z in seconds
    assert anchors[0]["toread"] == "0" and anchors[2]["toread"] == "1"
    assert anchors[0].get_text() == ARTICLES[0]["title"]
    batch = read_import(data, filename="bookmarks.html")
    assert batch.format == "netscape"
    for article, link in zip(ARTICLES, batch.links, strict=True):
        assert link.url == article["url"]
        # A comma cannot live inside a TAGS entry: "web, dev" becomes "web dev".
        assert list(link.tags) == [t.replace(",", "") for t in article["tags"]]
        assert link.title == (article["title"] or article["url"])
        assert link.saved_at == (article["saved_at"] or article["published"])
        assert link.note == article["note"]
        assert link.state == ("unread" if article["state"] == "unread" else "read")


def test_csv_export() -> None:
    data = write_export("csv", articles=ARTICLES)
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    assert len(rows) == len(ARTICLES)
    assert list(rows[0]) == list(ARTICLES[0])
    assert rows[0]["tags"] == "python, web, dev, 日本語"
    assert rows[0]["title"] == ARTICLES[0]["title"]
    assert rows[0]["text"] == ARTICLES[0]["text"]  # line breaks survive quoting
    assert rows[0]["starred"] == "false" and rows[1]["starred"] == "true"
    assert rows[5]["image"] == ""


def test_markdown_export() -> None:
    data = write_export("md", articles=ARTICLES, title="Reading list", generated_at=FIXED)
    text = data.decode("utf-8")
    assert text.startswith("# Reading list\n")
    items = [line for line in text.splitlines() if line.startswith("- ")]
    assert len(items) == len(ARTICLES)
    assert items[0].startswith(r"- [Article 1: \*bold\* \_under\_ \[link\]\(x\) \<script\>")
    assert f"(<{ARTICLES[0]['url']}>)" in items[0]
    assert "2024-05-02" in items[0] and "tags: python" in items[0]
    assert "<script>" not in text
    grouped = write_export("md", articles=ARTICLES, group_by="tag").decode("utf-8")
    headings = [line for line in grouped.splitlines() if line.startswith("## ")]
    assert headings == ["## python", "## web, dev", "## 日本語", "## Untagged"]
    by_date = write_export("md", articles=ARTICLES, group_by="date").decode("utf-8")
    dates = [line[3:] for line in by_date.splitlines() if line.startswith("## ")]
    assert dates == sorted(dates[:-1], reverse=True) + ["Undated"]


def test_html_export() -> None:
    from bs4 import BeautifulSoup

    hostile = _article(7, content_html='<p onclick="x()">Hi<script>alert(1)</script></p>')
    data = write_export(
        "html", articles=[*ARTICLES, hostile], title="Saved <things>", generated_at=FIXED
    )
    soup = BeautifulSoup(data, "html.parser")
    assert "onclick" not in data.decode() and "alert(1)</script>" not in data.decode()
    assert soup.title.get_text() == "Saved <things>"
    assert soup.find("script") is None
    assert len(soup.find_all("article")) == len(ARTICLES) + 1
    first = soup.find("article")
    assert first.find("a")["href"] == ARTICLES[0]["url"]
    assert first.find("h3").get_text() == ARTICLES[0]["title"]
    assert [t.get_text() for t in first.select(".tag")] == ARTICLES[0]["tags"]
    assert "Content-Security-Policy" in data.decode()
    grouped = BeautifulSoup(write_export("html", articles=ARTICLES, group_by="tag"), "html.parser")
    assert [h.get_text() for h in grouped.find_all("h2")][0] == "python"


def test_opml_export_read_by_listparser_and_by_us() -> None:
    import listparser

    data = write_export("opml", feeds=FEEDS, title="My feeds", generated_at=FIXED)
    assert b'version="2.0"' in data and b'type="rss"' in data
    parsed = listparser.parse(data)
    assert not parsed.bozo
    assert parsed.meta.title == "My feeds"
    assert {f.url for f in parsed.feeds} == {f["url"] for f in FEEDS}
    by_url = {f.url: f for f in parsed.feeds}
    assert by_url["https://a.example/feed.xml"].title == "A & B"
    assert "news" in by_url["https://a.example/feed.xml"].tags
    batch = read_import(data, filename="feeds.opml")
    subs = {s.url: s for s in batch.subscriptions}
    assert len(subs) == 3
    assert subs["https://a.example/feed.xml"].tags == ("news", "tech science")
    assert subs["https://a.example/feed.xml"].site_url == "https://a.example/"
    assert subs["https://b.example/atom"].tags == ("news",)
    assert subs["https://c.example/rss"].title == "https://c.example/rss"


def test_atom_export_read_by_feedparser() -> None:
    import feedparser

    data = write_export("atom", articles=ARTICLES, title="Export", generated_at=FIXED)
    parsed = feedparser.parse(data)
    assert parsed.bozo is False or parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "Export" and parsed.feed.updated == FIXED
    assert len(parsed.entries) == len(ARTICLES)
    entry = parsed.entries[0]
    assert entry.link == ARTICLES[0]["url"] and entry.id == ARTICLES[0]["url"]
    assert entry.title == ARTICLES[0]["title"]
    assert entry.published == "2024-05-01T09:30:00Z" and entry.updated == "2024-05-02T10:00:00Z"
    assert entry.author == "Ada <Lovelace>"
    assert [t.term for t in entry.tags] == ARTICLES[0]["tags"]
    assert "<b>paragraph</b>" in entry.content[0].value
    assert parsed.entries[5].title  # an untitled article still has a title


def test_exports_of_nothing_and_unknown_format() -> None:
    for name in EXPORT_FORMATS:
        assert write_export(name, generated_at=FIXED)
    assert json.loads(write_export("json")) == []
    with pytest.raises(ValueError, match="unknown export format"):
        write_export("docx", articles=ARTICLES)


@pytest.mark.parametrize(
    "text,expected",
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("A plain title", "A plain title"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_guard_csv_cell(text: str, expected: str) -> None:
    from aggregator.formats import guard_csv_cell

    assert guard_csv_cell(text) == expected


def test_csv_export_guards_formulas_in_every_text_cell() -> None:
    article = _article(
        0,
        title='=HYPERLINK("http://evil.example","Click")',
        tags=["@evil", "fine"],
        note="+1+1",
        excerpt="-1",
        author="\tname",
        word_count=-5,
    )
    data = write_export("csv", articles=[article])
    (row,) = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    assert row["title"] == '\'=HYPERLINK("http://evil.example","Click")'
    assert row["tags"] == "'@evil, fine"
    assert row["note"] == "'+1+1" and row["excerpt"] == "'-1" and row["author"] == "'\tname"
    assert row["word_count"] == "-5"  # a number stays a number
    assert row["url"] == article["url"]


def test_the_bookmark_and_opml_corpora() -> None:
    """Every real export file of the corpora with its expected count and details (one test:
    without AGGREGATOR_CORPORA it is skipped once; tests/data/formats covers each format)."""
    corpus("bookmarks")
    for name, expected in _wallabag_expected():
        _wallabag_fixture_count(name, expected)
    _wallabag_fixture_details()
    _firefox_html_export_323_links_in_25_folders()
    _linkding_files_and_png()
    _pocket_api_json()
    for name, outlines in (
        ("subscriptions.opml", 710),
        ("subscriptions.2017-09-05.f8b670c.opml", 707),
    ):
        _aramzs_opml(name, outlines)
    _all_plenaryapp_opml_files_parse()
