"""Generated collections through the real import and export commands: every export format comes
out readable by its own kind of reader, and our JSON export, imported into a new database and
exported again, gives the same articles (nothing lost on the way)."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from aggregator.cli import cli

# Text with what trips writers up: markup, quotes, CDATA ends, formula starts, controls, any
# script, line breaks.
_TEXT = st.lists(
    st.characters(blacklist_categories=("Cs",)).map(str)
    | st.sampled_from(["<", ">", "&", '"', "'", "]]>", "=", "+", "-", "@", "\t", "\r", "\n", ","]),
    max_size=30,
).map("".join)
_WORD = st.text(st.characters(whitelist_categories=("Ll", "Lu", "Nd", "Lo")), min_size=1, max_size=8)
_RECORD = st.fixed_dictionaries(
    {
        "url": _WORD.map(lambda w: f"https://site.test/{w}"),
        "title": _TEXT,
        "tags": st.lists(_TEXT, max_size=4),
        "note": _TEXT,
        "state": st.sampled_from(["unread", "read", "archived"]),
        "starred": st.booleans(),
        "saved_at": st.sampled_from([None, "2024-02-29T12:00:00Z", "1999-12-31"]),
        "content_html": st.sampled_from(["", "<p>Hello <b>world</b></p>"]) | _TEXT,
    }
)
FIELDS = ("url", "title", "tags", "note", "state", "starred")


def _cli(db: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--db", str(db), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 0, result.output
    return result.output


def _kept(rows: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return sorted(tuple(row[f] for f in FIELDS) for row in rows)


@settings(
    max_examples=int(os.environ.get("EXPORT_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(_RECORD, min_size=1, max_size=8, unique_by=lambda r: r["url"]))
def test_every_format_is_readable_and_json_round_trips(
    tmp_path_factory: object, records: list[dict[str, object]]
) -> None:
    work = tmp_path_factory.mktemp("export")  # type: ignore[attr-defined]
    source = work / "in.json"
    source.write_text(json.dumps(records), encoding="utf-8")
    first = work / "first.db"
    _cli(first, "import", str(source))

    exported = work / "out.json"
    _cli(first, "export", "--format", "json", "-o", str(exported))
    rows = json.loads(exported.read_text(encoding="utf-8"))
    assert sorted(r["url"] for r in rows) == sorted(str(r["url"]) for r in records)

    second = work / "second.db"
    _cli(second, "import", str(exported))
    again = work / "again.json"
    _cli(second, "export", "--format", "json", "-o", str(again))
    assert _kept(json.loads(again.read_text(encoding="utf-8"))) == _kept(rows)

    table = list(csv.DictReader(io.StringIO(_cli(first, "export", "--format", "csv"))))
    assert sorted(r["url"] for r in table) == sorted(r["url"] for r in rows)
    for row in table:
        for value in row.values():
            assert (value or " ")[0] not in "=+-@\t\r", row  # formulas guarded
    for fmt in ("atom", "opml"):
        etree.fromstring(_cli(first, "export", "--format", fmt).encode("utf-8"))
    for fmt in ("html", "netscape", "md"):
        out = _cli(first, "export", "--format", fmt)
        assert all(r["url"] in out for r in rows) or fmt == "md"
