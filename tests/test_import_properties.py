"""Generated import files through the real `aggregator import` on a real SQLite file (Hypothesis):
Pocket CSV, Pocket API JSON, a Pocket zip, Instapaper CSV, wallabag, Omnivore, our own JSON,
Netscape HTML and OPML, every field a hostile value (lone surrogates written raw, superscript
digits, 10**400, NaN, a year 9999999999, 140 kB fields, non-http and 9 kB URLs, objects where
text belongs). Whatever the file holds: no traceback; exit 0 with every good record stored and
the skipped ones counted, or exit 1 with one line and nothing stored."""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.cli import cli
from tests.conftest import rows

HOSTILE_TEXT = st.one_of(
    st.text(alphabet=st.characters(codec=None, categories=None), max_size=40),  # surrogates too
    st.sampled_from(
        [
            "\ud800",
            "a\udfffb",
            "\u00b2",
            "\u0661\u0662",
            "9" * 40,
            "1e400",
            "NaN",
            "-1",
            "0",
            "9999999999-01-01T00:00:00",
            "Mon, 01 Jan 99999999999 00:00:00 GMT",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "data:text/html,<script>alert(1)</script>",
            "http://[::1",
            "//",
            '=HYPERLINK("http://evil.example")',
            "<script>alert(1)</script>",
            "&#xD800;&lol;",
            "a,b|c/d",
            "\x00\x0b\r\n\t",
            "",
            " ",
        ]
    ),
    st.just("x" * 140_000),  # over the csv module's field limit, and over every title cap
    st.just("https://long.example/" + "y" * 9_000),
)
HOSTILE = st.recursive(
    st.one_of(
        HOSTILE_TEXT,
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.sampled_from([10**400, 2**63, -(2**63) - 1]),
        st.floats(allow_nan=True, allow_infinity=True),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(HOSTILE_TEXT, inner, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = ("title", "date", "tags", "note", "state", "flag")
RECORD = st.fixed_dictionaries({name: HOSTILE for name in FIELDS})
# a record: (its URL is good, the URL or a hostile value in its place, the other fields)
GENERATED = st.lists(st.tuples(st.booleans(), HOSTILE, RECORD), min_size=1, max_size=6)


def _text(value: object) -> str:
    """A value as a text-only format (CSV, HTML, XML) would hold it."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (ValueError, TypeError):
        return repr(value)


def _bytes(text: str) -> bytes:
    # Lone surrogates cannot be UTF-8: written as their raw bytes, as a broken exporter would.
    return text.encode("utf-8", "surrogatepass")


def _attr(value: object) -> str:
    import html

    return html.escape(_text(value), quote=True)


def _xml_attr(value: object) -> str:
    from xml.sax.saxutils import quoteattr

    return quoteattr(_text(value))


def _json(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=True).encode()


def _csv(header: list[str], rows_: list[list[object]]) -> bytes:
    import csv

    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([_text(v) for v in row] for row in rows_)
    return _bytes(out.getvalue())


def write_pocket_csv(records: list[tuple[object, dict[str, object]]]) -> tuple[str, bytes]:
    rows_ = [[r["title"], url, r["date"], r["tags"], r["state"]] for url, r in records]
    return "part_000000.csv", _csv(["title", "url", "time_added", "tags", "status"], rows_)


def write_instapaper(records: list[tuple[object, dict[str, object]]]) -> tuple[str, bytes]:
    rows_ = [[url, r["title"], r["note"], r["state"], r["date"], r["tags"]] for url, r in records]
    return "instapaper.csv", _csv(
        ["URL", "Title", "Selection", "Folder", "Timestamp", "Tags"], rows_
    )


def write_pocket_api(records: list[tuple[object, dict[str, object]]]) -> tuple[str, bytes]:
    items = {
        str(i): {
            "item_id": str(i),
            "given_url": url,
            "given_title": r["title"],
            "time_added": r["date"],
            "tags": r["tags"],
            "favorite": r["flag"],
            "excerpt": r["note"],
            "status": "0",
        }
        for i, (url, r) in enumerate(records)
    }
    return "pocket.json", _json({"status": 1, "list": items})


def write_pocket_zip(records: list[tuple[object, dict[str, object]]]) -> tuple[str, bytes]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("part_000000.csv", write_pocket_csv(records)[1])
        archive.writestr("pocket.json", write_pocket_api(records)[1])
    return "pocket.zip", buffer.getvalue()


def write_wallabag(records: list[tuple[object, dict[str, object]]]) -> tuple[str, bytes]:
    items = [
        {
            "url": url,
            "title": r["title"],
            "is_archived": r["state"],
            "is_starred": r["flag"],
            "tags": r["tags"],
            "created_at": r["date"],
            "content": r["note"],
        }
        for url, r in records
    ]
    return "wallabag.json", _json(items)


def write_omnivore(records: list[tuple[object, dict[str, object]]]) -> tuple[str, bytes]:
    items = [
        {
            "id": str(i),
            "slug": f"s{i}",
            "url": url,
            "title": r["title"],
            "labels": r["tags"],
            "savedAt": r["date"],
            "state": "Archived",
            "description": r["note"],
        }
        for i, (url, r) in enumerate(records)
    ]
    return "omnivore.json", _json(items)


def write_native(records: list[tuple[object, dict[str, object]]]) -> tuple[str, bytes]:
    items = [
        {
            "url": url,
            "title": r["title"],
            "tags": r["tags"],
            "note": r["note"],
            "saved_at": r["date"],
            "state": r["state"],
            "starred": r["flag"],
        }
        for url, r in records
    ]
    return "export.json", _json(items)


def write_netscape(records: list[tuple[object, dict[str, object]]]) -> tuple[str, bytes]:
    lines = ["<!DOCTYPE NETSCAPE-Bookmark-file-1>", "<DL><p>", "<DT><H3>Folder</H3>", "<DL><p>"]
    for url, r in records:
        lines.append(
            f"<DT><A HREF={_xml_attr(url)} ADD_DATE={_xml_attr(r['date'])} "
            f"TAGS={_xml_attr(r['tags'])}>{_attr(r['title'])}</A>"
        )
        lines.append(f"<DD>{_attr(r['note'])}")
    lines += ["</DL><p>", "</DL><p>"]
    return "bookmarks.html", _bytes("\n".join(lines))


def write_opml(records: list[tuple[object, dict[str, object]]]) -> tuple[str, bytes]:
    outlines = "".join(
        f'<outline type="rss" text={_xml_attr(r["title"])} xmlUrl={_xml_attr(url)} '
        f"htmlUrl={_xml_attr(r['note'])} category={_xml_attr(r['tags'])}/>"
        for url, r in records
    )
    text = f'<?xml version="1.0"?><opml version="2.0"><body><outline text="F">{outlines}'
    return "feeds.opml", _bytes(text + "</outline></body></opml>")


WRITERS = {
    "pocket-csv": write_pocket_csv,
    "pocket-json": write_pocket_api,
    "pocket-zip": write_pocket_zip,
    "instapaper": write_instapaper,
    "wallabag": write_wallabag,
    "omnivore": write_omnivore,
    "json": write_native,
    "netscape": write_netscape,
    "opml": write_opml,
}


@pytest.mark.parametrize("kind", sorted(WRITERS))
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(records=GENERATED)
def test_generated_files_import_without_traceback(
    kind: str, records: list[tuple[bool, object, dict[str, object]]]
) -> None:
    # The first record always has a good URL, so that the file is recognised by its content.
    chosen = [
        (f"https://good.example/{i}/" if good or i == 0 else url, fields)
        for i, (good, url, fields) in enumerate(records)
    ]
    good = [url for url, _ in chosen if isinstance(url, str) and url.startswith("https://good.")]
    name, data = WRITERS[kind](chosen)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        db = Path(folder) / "aggregator.db"
        result = CliRunner().invoke(
            cli, ["--db", str(db), "import", str(path)], catch_exceptions=False
        )
        assert "Traceback" not in result.output
        if result.exit_code == 1:  # the file as a whole: one line
            lines = result.output.splitlines()
            assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
            assert not db.exists() or not rows(
                db, "SELECT 1 FROM articles UNION SELECT 1 FROM feeds"
            )
            return
        assert result.exit_code == 0, result.output
        table = "feeds" if kind == "opml" else "articles"
        stored = {url for (url,) in rows(db, f"SELECT url FROM {table}")}
        assert set(good) <= stored, result.output
        copies = 2 if kind == "pocket-zip" else 1  # the zip holds the records twice
        assert len(stored) <= len(chosen)
        skipped = [line for line in result.output.splitlines() if "records skipped" in line]
        if skipped:
            total = int(skipped[0].split(" of ")[1].split()[0])
            # (a zip member may be left out as a whole, with a warning: then one copy)
            assert total in (len(chosen), copies * len(chosen))
        else:
            assert len(stored) >= 1
