"""Hostile import files through the real `aggregator import` on a real SQLite file: one bad record
is skipped and counted while the good ones are kept; a file unusable as a whole (too big, a zip
bomb, too deep, too many values) is refused with one line; no traceback, whatever the file holds.
The fixtures in tests/data/formats/records/ are our own: one per import format, each mixing good
records with hostile ones (wrong types, nulls, huge numbers, dates in year 9999999999 or written
with superscript digits, lone surrogates, over-long and non-http URLs)."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from aggregator.errors import ImportFormatError
from aggregator.formats import read_import
from aggregator.formats._common import date_from_epoch, date_from_text
from tests.conftest import DATA, rows, run

RECORDS = DATA / "formats" / "records"
AGGREGATOR = str(Path(sys.executable).parent / "aggregator")  # the console script

# file -> (format, URLs kept in file order, records skipped)
EXPECTED = {
    "wallabag_v2.json": (
        "wallabag",
        ["https://wallabag.example/one", "https://wallabag.example/two"],
        6,
    ),
    "wallabag_v1.json": (
        "wallabag",
        ["https://wallabag1.example/a", "https://wallabag1.example/b"],
        1,
    ),
    "omnivore.json": (
        "omnivore",
        ["https://omnivore.example/one", "https://omnivore.example/two"],
        2,
    ),
    "pocket_api.json": ("pocket", ["https://pocket.example/one", "https://pocket.example/four"], 3),
    "pocket_hostile.csv": (
        "pocket",
        [
            "https://pocketcsv.example/one",
            "https://pocketcsv.example/two",
            "https://pocketcsv.example/three",
            "https://pocketcsv.example/four",
        ],
        3,
    ),
    "ril_export.html": (
        "pocket",
        ["https://ril.example/one", "https://ril.example/two", "https://ril.example/three"],
        2,
    ),
    "instapaper_hostile.csv": (
        "instapaper",
        [
            "https://instapaper.example/one",
            "https://instapaper.example/two",
            "https://instapaper.example/four",
        ],
        1,
    ),
    "netscape_hostile.html": (
        "netscape",
        [
            "https://netscape.example/one",
            "https://netscape.example/two",
            "https://netscape.example/three",
        ],
        3,
    ),
    "opml_hostile.opml": (
        "opml",
        ["https://opml.example/one.xml", "https://opml.example/two.xml"],
        3,
    ),
    "firefox.json": ("firefox", ["https://firefox.example/one", "https://firefox.example/two"], 2),
    "chrome.json": (
        "chrome",
        [
            "https://chrome.example/one",
            "https://chrome.example/two",
            "https://chrome.example/three",
        ],
        2,
    ),
    "pinboard.json": (
        "pinboard",
        ["https://pinboard.example/one", "https://pinboard.example/two"],
        2,
    ),
    "delicious.json": (
        "delicious",
        ["https://delicious.example/one", "https://delicious.example/two"],
        1,
    ),
    "elcurator.json": (
        "elcurator",
        ["https://elcurator.example/one", "https://elcurator.example/two"],
        1,
    ),
    "native.json": ("json", ["https://native.example/one", "https://native.example/two"], 3),
    "readability.json": (
        "readability",
        ["https://readability.example/one", "https://readability.example/two"],
        2,
    ),
}


def stored_text(db: Path) -> list[str]:
    """Every text value of every table, read back through SQLite (so each one was bindable)."""
    conn = sqlite3.connect(db)
    try:
        out: list[str] = []
        tables = [
            name
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not name.startswith(("articles_fts", "sqlite_"))
        ]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                out.extend(value for value in row if isinstance(value, str))
        return out
    finally:
        conn.close()


def test_every_format_has_a_fixture_of_our_own() -> None:
    from aggregator.formats import FORMATS

    assert {fmt for fmt, _, _ in EXPECTED.values()} == set(FORMATS)
    assert sorted(p.name for p in RECORDS.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_records_are_skipped_and_counted_good_ones_kept(name: str) -> None:
    fmt, urls, skipped = EXPECTED[name]
    batch = read_import((RECORDS / name).read_bytes(), filename=name)
    assert batch.format == fmt
    assert [item.url for item in (*batch.links, *batch.subscriptions)] == urls
    assert batch.skipped == skipped
    total = skipped + len(urls)
    assert batch.warnings[0] == f"{skipped} of {total} records skipped (reasons below)"
    assert all("\n" not in w and len(w) < 400 for w in batch.warnings)
    for link in batch.links:
        assert link.saved_at is None or "1971" <= link.saved_at[:4] < "2100"
        for text in (link.title, link.note, link.excerpt, link.content_html, *link.tags):
            assert text is None or (text.encode("utf-8") and len(text) <= 1_000_000)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_cli_keeps_the_good_records_and_reports_the_skipped(name: str, db_path: Path) -> None:
    fmt, urls, skipped = EXPECTED[name]
    result = run("import", str(RECORDS / name))
    assert "Traceback" not in result.output
    total = skipped + len(urls)
    assert f"warning: {skipped} of {total} records skipped (reasons below)" in result.output
    if fmt == "opml":
        assert [u for (u,) in rows(db_path, "SELECT url FROM feeds ORDER BY id")] == urls
    else:
        assert [u for (u,) in rows(db_path, "SELECT url FROM articles ORDER BY id")] == urls
    # every text stored reads back as UTF-8 (a lone surrogate could not even have been bound)
    assert all("\ud800" not in text for text in stored_text(db_path))
    # the same file again: nothing new, nothing lost
    again = run("import", str(RECORDS / name))
    assert "0 new links" in again.output and "0 new feeds" in again.output


def test_title_with_a_lone_surrogate_is_repaired_not_dropped(db_path: Path) -> None:
    run("import", str(RECORDS / "wallabag_v2.json"))
    ((title,),) = rows(db_path, "SELECT title FROM articles WHERE url LIKE '%/two'")
    assert title == "Two  lone"


@pytest.mark.parametrize(
    "value",
    [
        "\u00b2",
        "\u0661\u0662\u0663",
        "1e400",
        "nan",
        "inf",
        "-5",
        "0",
        10**30,
        1e308,
        float("nan"),
        "99999999999999999999",
        "９９",
        True,
        [1],
        {"a": 1},
        None,
    ],
)
def test_epoch_dates_are_ascii_digits_in_range(value: object) -> None:
    assert date_from_epoch(value) is None
    assert date_from_text(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "9999999999-01-01T00:00:00",
        "+275760-09-13T00:00:00.000Z",
        "Mon, 01 Jan 99999999999 00:00:00 GMT",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-23:59",
        "2020-13-45 99:99:99 UTC",
        "2020-01-01T00:00:00" + "0" * 100,
        "x" * 10_000,
    ],
)
def test_text_dates_are_strict_and_clamped(value: str) -> None:
    assert date_from_text(value) is None


def test_dates_that_are_fine_still_read() -> None:
    assert date_from_epoch("1616337559") == "2021-03-21T14:39:19Z"
    assert date_from_epoch("1616337559123") == "2021-03-21T14:39:19Z"
    assert date_from_epoch(1616337559123456789) == "2021-03-21T14:39:19Z"
    assert date_from_text("2016-09-08T11:55:58+0200") == "2016-09-08T09:55:58Z"
    assert date_from_text("Wed, 02 Oct 2002 13:00:00 GMT") == "2002-10-02T13:00:00Z"


# --- files unusable as a whole: one line, exit 1 -----------------------------------------------


def refused(path: Path, *fragments: str) -> str:
    result = run("import", str(path), ok=False)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def zip_of(path: Path, members: dict[str, bytes], **kwargs: object) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, **kwargs) as archive:  # type: ignore[arg-type]
        for name, content in members.items():
            archive.writestr(name, content)
    return path


def test_pocket_zip_whose_member_unpacks_to_256_mib_is_refused(
    tmp_path: Path, db_path: Path
) -> None:
    path = tmp_path / "pocket.zip"
    chunk = b"{}," * (1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("part_000000.json", "w", force_zip64=True) as member:
            member.write(b"[")
            for _ in range(256 // 3 + 1):
                member.write(chunk)
            member.write(b"{}]")
    assert path.stat().st_size < 2 << 20
    refused(path, "pocket.zip", "part_000000.json", "too big", "64 MiB")
    assert not db_path.exists() or rows(db_path, "SELECT count(*) FROM articles") == [(0,)]


def test_zip_members_beyond_the_total_cap_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aggregator.formats

    # the total cap (256 MiB) made small, so that the test does not write 256 MiB
    monkeypatch.setattr(aggregator.formats, "MAX_ZIP_TOTAL", 1 << 20)
    member = b"title,url,time_added,tags,status\n" + b"x,https://e.example/,1,,unread\n" * 12_000
    path = zip_of(tmp_path / "many.zip", {f"part_{i}.csv": member for i in range(5)})
    refused(path, "many.zip", "zip archive unpacks to more than 1 MiB")


def test_a_zip_of_too_many_members_is_refused(tmp_path: Path) -> None:
    path = zip_of(tmp_path / "crowd.zip", {f"f{i}.txt": b"" for i in range(1001)})
    refused(path, "crowd.zip", "more than 1000 files")


def test_nested_archives_and_climbing_paths_are_left_out(tmp_path: Path, db_path: Path) -> None:
    inner = zip_of(tmp_path / "inner.zip", {"part_000000.csv": b"title,url,time_added,tags\n"})
    good = b"title,url,time_added,tags,status\nKept,https://zip.example/kept,1600000000,,unread\n"
    hidden = b"title,url,time_added,tags,status\nNo,https://zip.example/climb,1600000000,,unread\n"
    path = zip_of(
        tmp_path / "export.zip",
        {
            "part_000000.csv": good,
            "../../etc/part_1.csv": hidden,
            "/abs/part_2.csv": hidden,
            "inner.zip": inner.read_bytes(),
            "disguised.csv": inner.read_bytes(),
        },
    )
    result = run("import", str(path))
    assert rows(db_path, "SELECT url FROM articles") == [("https://zip.example/kept",)]
    assert "its path leaves the archive" in result.output
    assert "archives in archives are not read" in result.output


def test_an_encrypted_member_is_left_out(tmp_path: Path) -> None:
    path = zip_of(tmp_path / "locked.zip", {"part_000000.csv": b"title,url,time_added,tags\n"})
    data = bytearray(path.read_bytes())
    # set the "encrypted" flag in the local header and the central directory entry
    for marker in (b"PK\x03\x04", b"PK\x01\x02"):
        at = data.index(marker)
        offset = at + (6 if marker == b"PK\x03\x04" else 8)
        data[offset] |= 0x01
    path.write_bytes(bytes(data))
    refused(path, "locked.zip", "nothing readable")


def test_a_truncated_zip_is_refused(tmp_path: Path) -> None:
    good = b"title,url,time_added,tags,status\nA,https://zip.example/a,1600000000,,unread\n" * 100
    whole = zip_of(tmp_path / "whole.zip", {"part_000000.csv": good}).read_bytes()
    path = tmp_path / "cut.zip"
    path.write_bytes(whole[: len(whole) // 2])
    refused(path, "cut.zip", "zip")


def test_json_of_millions_of_empty_objects_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "objects.json"
    path.write_bytes(b"[" + b"{}," * 5_000_000 + b"{}]")
    refused(path, "objects.json", "5,000,000 JSON values")


def test_commas_inside_strings_are_not_counted_as_values() -> None:
    body = "<p>" + "a, b, {c}, [d], " * 400_000 + "</p>"  # 1.6M commas, 0.8M brackets
    items = [
        {"url": f"https://w.example/{i}", "is_archived": 0, "is_starred": 0, "content": body}
        for i in range(2)
    ]
    batch = read_import(json.dumps(items).encode(), filename="wallabag.json")
    assert len(batch.links) == 2 and batch.skipped == 0


def test_json_integers_beyond_sqlite_are_not_kept_as_integers(
    db_path: Path, tmp_path: Path
) -> None:
    digits = "9" * 5000  # more digits than int() accepts by default
    path = tmp_path / "big.json"
    path.write_text(
        f'[{{"url": "https://big.example/a", "saved_at": {digits}, "state": "read", '
        f'"starred": {digits}, "title": {digits}}}]'
    )
    run("import", str(path))
    ((title, saved_at),) = rows(db_path, "SELECT title, saved_at FROM articles")
    assert title == "inf"  # text written as a number stays text
    assert saved_at[:2] == "20"  # no date from the file: the time of the import


def test_a_csv_of_more_rows_than_the_bound_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "part_000000.csv"
    with path.open("w") as out:
        out.write("title,url,time_added,tags,status\n")
        out.writelines(f"t,https://e.example/{i},1600000000,,unread\n" for i in range(200_001))
    refused(path, "part_000000.csv", "more than 200000 rows")


def test_a_csv_field_over_the_csv_modules_limit_is_read_and_capped(
    db_path: Path, tmp_path: Path
) -> None:
    # 200,000 characters spanning lines, in a quoted field: over the csv module's default limit
    # (128 KiB), which used to throw the reader out of step for the rest of the row.
    path = tmp_path / "part_000000.csv"
    path.write_text(
        "title,url,time_added,tags,status\n"
        f'"{"x" * 100_000}\n{"y" * 100_000}",https://csv.example/huge,1600000000,,unread\n'
        "Kept,https://csv.example/kept,1600000000,,unread\n"
    )
    result = run("import", str(path))
    assert "skipped" not in result.output
    found = rows(db_path, "SELECT url, length(title) FROM articles ORDER BY id")
    assert found == [("https://csv.example/huge", 1000), ("https://csv.example/kept", 4)]


@pytest.mark.parametrize("depth", [65, 1000, 20_000])
def test_netscape_folders_nested_too_deep_are_refused(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "bookmarks.html"
    path.write_text(
        "<!DOCTYPE NETSCAPE-Bookmark-file-1>\n"
        + "<DL><p><DT><H3>f</H3>\n" * depth
        + '<DT><A HREF="https://deep.example/">deep</A>\n'
        + "</DL><p>\n" * depth
    )
    refused(path, "bookmarks.html", "nested deeper than 64")


@pytest.mark.parametrize("depth", [65, 1000])
def test_opml_nested_too_deep_is_refused(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "deep.opml"
    path.write_text(
        '<opml version="2.0"><body>'
        + '<outline text="x">' * depth
        + '<outline xmlUrl="https://deep.example/feed"/>'
        + "</outline>" * depth
        + "</body></opml>"
    )
    refused(path, "deep.opml", "nested deeper")


def test_opml_with_more_than_ten_thousand_outlines_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "many.opml"
    outlines = "".join(f'<outline xmlUrl="https://e.example/{i}"/>' for i in range(10_001))
    path.write_text(f'<opml version="2.0"><body>{outlines}</body></opml>')
    refused(path, "many.opml", "more than 10000 outlines")
    path.write_text('<opml version="2.0"><body>' + "<x/>" * 200_000 + "</body></opml>")
    refused(path, "many.opml", "more than 10000 outlines")


@pytest.mark.parametrize(
    "name,text",
    [
        # html.parser needs minutes for these (quadratic); libxml2 reads them in one pass
        ("starts.html", "<!DOCTYPE NETSCAPE-Bookmark-file-1><DL><p>" + "<a" * 200_000),
        ("ends.html", "<!DOCTYPE NETSCAPE-Bookmark-file-1><DL><p>" + "</" * 200_000),
        ("cdata.html", "<!DOCTYPE NETSCAPE-Bookmark-file-1><DL><p>" + "<![CDATA[" * 100_000),
        ("pocket.html", "<title>Pocket Export</title><ul>" + "<a " * 33_000),
    ],
)
def test_malformed_html_finishes(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    # A subprocess with a timeout: a hang is a failure, not a slow test.
    done = subprocess.run(
        [AGGREGATOR, "--db", str(tmp_path / "db.sqlite"), "import", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in done.stderr
    assert done.returncode in (0, 1), done.stderr


def test_a_file_over_the_size_cap_is_refused() -> None:
    from aggregator.formats._common import MAX_IMPORT_BYTES

    with pytest.raises(ImportFormatError, match="larger than 256 MiB"):
        read_import(b" " * (MAX_IMPORT_BYTES + 1), filename="huge.csv")


def test_a_file_over_the_size_cap_is_refused_by_the_cli(tmp_path: Path, db_path: Path) -> None:
    path = tmp_path / "part_000000.csv"
    with path.open("wb") as out:
        out.write(b"title,url,time_added,tags,status\n")
        out.truncate(300 << 20)  # sparse: 300 MiB on paper
    refused(path, "part_000000.csv", "larger than 256 MiB")
    assert not db_path.exists()


def test_html_with_more_tags_than_the_bound_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tags.html"
    path.write_text("<!DOCTYPE NETSCAPE-Bookmark-file-1><DL><p>" + "<p>" * 2_000_001 + "</DL>")
    refused(path, "tags.html", "more than 2,000,000 tags")


def test_an_xxe_doctype_in_opml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "xxe.opml"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<opml version="2.0"><body><outline text="&x;" xmlUrl="https://e.example/"/></body></opml>'
    )
    refused(path, "xxe.opml", "entities")


def test_zip_members_reported_by_name(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("part_000000.json", b"[" + b"[]," * 5_000_001 + b"[]]")
    path = tmp_path / "export.zip"
    path.write_bytes(buffer.getvalue())
    refused(path, "export.zip", "part_000000.json", "JSON values")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252"])
def test_bookmark_html_in_each_encoding_read_a_megabyte_at_a_time(encoding: str) -> None:
    # A folder of padding pushes the link past the first megabyte, so that the reader's chunks
    # cut through the text (and, in UTF-8, through a character).
    padding = "<DT><H3>é</H3><DL><p></DL><p>\n" * 40_000
    doc = (
        "<!DOCTYPE NETSCAPE-Bookmark-file-1>\n<DL><p>\n<DT><H3>Café</H3>\n<DL><p>\n"
        f"{padding}"
        '<DT><A HREF="https://e.example/1" ADD_DATE="1616337559">Crème brûlée “quoted”</A>\n'
        "</DL><p>\n</DL><p>\n"
    )
    data = doc.encode(encoding)
    assert len(data) > 1 << 20
    batch = read_import(data, filename="bookmarks.html")
    ((link),) = batch.links
    assert (link.url, link.title, link.tags) == (
        "https://e.example/1",
        "Crème brûlée “quoted”",
        ("Café",),
    )


NESTED = "[" * 990 + "]" * 990


@pytest.mark.parametrize(
    "document,message",
    [
        ('{"type": %s, "roots": 1}' % NESTED, "deep.json"),
        ('[{"url": "https://a.example/", "state": "read", "title": %s}]' % NESTED, "JSON"),
    ],
)
def test_deeply_nested_json_is_refused_in_one_line(document: str, message: str) -> None:
    with pytest.raises(ImportFormatError, match=message) as info:
        read_import(document.encode(), filename="deep.json")
    assert "\n" not in str(info.value) and str(info.value).startswith("deep.json")


def test_a_deeply_nested_url_skips_its_record() -> None:
    url = '{"a":' * 900 + "1" + "}" * 900
    document = '{"list": {"1": {"item_id": 1, "given_url": %s}, "2": {"item_id": 2, ' % url
    document += '"given_url": "https://kept.example/"}}}'
    batch = read_import(document.encode(), filename="deep.json")
    assert [link.url for link in batch.links] == ["https://kept.example/"]
    assert batch.skipped == 1 and "URL is not text" in batch.warnings[1]


def test_long_runs_of_spaces_and_escaped_quotes_take_linear_time(tmp_path: Path) -> None:
    # 20,000 rows whose titles hold runs of 4,000 spaces (a line-break pattern rescanned each run
    # from every character: 0.14 s a title, 45 minutes), and JSON of escaped quotes followed by
    # commas (a string pattern searched again from every quote: hours). A subprocess with a
    # timeout: a hang is a failure.
    titles = tmp_path / "part_000000.csv"
    with titles.open("w") as out:
        out.write("title,url,time_added,tags,status\n")
        spaces = "x" + " " * 3_998 + "x"
        out.writelines(
            f"{spaces},https://e.example/{i},1600000000,,unread\n" for i in range(20_000)
        )
    quotes = tmp_path / "quotes.json"
    quotes.write_bytes(b'["' + b'\\"' * 1_000_000 + b"," * 5_000_000 + b"]")
    for path, code in ((titles, 0), (quotes, 1)):
        done = subprocess.run(
            [AGGREGATOR, "--db", str(tmp_path / "db.sqlite"), "import", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == code, done.stderr
        assert "Traceback" not in done.stderr


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_file_is_read_up_to_the_cap_and_refused(db_path: Path) -> None:
    """A device or a pipe has no size to check before reading: `import /dev/zero` read for ever
    (23 GB of memory in a minute); it is read one byte past the cap and refused in one line."""
    result = run("import", "/dev/zero", ok=False)
    assert result.exit_code == 1
    assert result.output.strip() == "Error: zero: larger than 256 MiB; split the file"
    assert not db_path.exists()  # refused before the database is opened
