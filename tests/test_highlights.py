"""Highlights and notes (issue 16) through the store and the CLI on a real SQLite file: made,
listed, exported as JSON and Markdown, found by search, kept across a fetch of the page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aggregator import store
from tests.conftest import run

URL = "https://pages.example/bread"
TEXT = (
    "Stale bread is not mainly dry bread. When bread bakes, starch granules absorb water\n"
    "and their ordered structure melts into a soft gel. As the loaf cools, the starch slowly "
    "realigns into crystals."
)


@pytest.fixture
def article(db_path: Path) -> int:
    db = store.open_db(db_path)
    article_id, _ = store.save_link(db, URL, tags=["science"])
    store.record_page(db, article_id, {"title": "Why bread goes stale", "text": TEXT})
    db.conn.close()
    return article_id


def test_a_cli_highlight_is_listed_exported_and_searchable(db_path: Path, article: int) -> None:
    out = run("highlight", URL, "--quote", "starch   granules absorb WATER", "--note", "zqxnote")
    assert out.output.startswith("Highlighted (id ")
    listed = json.loads(run("highlights", "--format", "json").output)
    assert [(h["quote"], h["note"], h["anchored"]) for h in listed] == [
        ("starch granules absorb WATER", "zqxnote", True)
    ]
    exported = json.loads(run("export", "--format", "json").output)
    assert exported[0]["highlights"][0]["quote"] == "starch granules absorb WATER"
    assert exported[0]["highlights"][0]["note"] == "zqxnote"
    md = run("export", "--format", "md").output
    assert "> starch granules absorb WATER" in md and "zqxnote" in md
    assert "> starch granules absorb WATER" in run("highlights", "--format", "md").output
    found = json.loads(run("search", "zqxnote", "--format", "json").output)
    assert [r["url"] for r in found] == [URL]
    again = run("highlight", URL, "--quote", "starch granules absorb water")
    assert again.output.startswith("Already highlighted")
    assert len(json.loads(run("highlights", "--format", "json").output)) == 1


def test_a_quote_not_in_the_text_is_one_line_and_exit_1(db_path: Path, article: int) -> None:
    out = run("highlight", URL, "--quote", "words the article never had", ok=False)
    assert out.exit_code == 1
    assert out.output.strip().count("\n") == 0 and "not in the article's text" in out.output
    out = run("unhighlight", "9999", ok=False)
    assert out.exit_code == 1 and "no highlight with id 9999" in out.output


def test_highlights_survive_a_fetch_of_the_page(db_path: Path, article: int) -> None:
    run("highlight", URL, "--quote", "starch granules absorb water")
    run("highlight", URL, "--quote", "realigns into crystals", "--note", "why")
    db = store.open_db(db_path)
    store.record_page(db, article, {"text": TEXT})  # the same text again
    rows: list[dict[str, Any]] = store.list_highlights(db, url=URL)
    assert [r["anchored"] for r in rows] == [True, True]
    assert [r["quote"] for r in rows] == ["starch granules absorb water", "realigns into crystals"]
    store.record_page(db, article, {"text": "Bread goes stale because starch granules absorb water."})
    rows = store.list_highlights(db, url=URL)
    assert [r["anchored"] for r in rows] == [True, False]  # kept and flagged, never dropped
    assert "no longer in the article's text" in run("highlights").output
    first = rows[0]["id"]
    assert run("unhighlight", str(first)).output.startswith("Removed highlight")
    assert [r["quote"] for r in store.list_highlights(db)] == ["realigns into crystals"]


def test_highlights_filter_by_tag_and_url(db_path: Path, article: int) -> None:
    run("highlight", URL, "--quote", "soft gel")
    assert len(json.loads(run("highlights", "--tag", "science", "--format", "json").output)) == 1
    assert json.loads(run("highlights", "--tag", "other", "--format", "json").output) == []
    assert len(json.loads(run("highlights", "--url", URL, "--format", "json").output)) == 1
