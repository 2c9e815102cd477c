"""The shipped sample (`data/sample`, what `make run` loads offline): loaded through the CLI into a
real SQLite file, it is a collection worth browsing, loads twice without change, and its
generated files are exactly what its generator writes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import rows, run

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"
SIZES = """
select (select count(*) from articles), (select count(*) from feeds), (select count(*) from tags),
       (select count(*) from articles_tags), (select count(*) from feed_entries)
"""


@pytest.fixture
def loaded(db_path: Path) -> Path:
    result = run("load-sample", str(SAMPLE))
    assert "new articles" in result.output
    return db_path


def test_the_sample_is_a_collection_worth_browsing(loaded: Path) -> None:
    articles, feeds, tags, _, _ = rows(loaded, SIZES)[0]
    assert articles >= 100
    assert feeds >= 8
    assert tags >= 10
    saved = rows(loaded, "select count(*) from articles where saved = 1")[0][0]
    assert saved >= 5
    # every feed brings articles, and most tags are on more than one article
    empty = rows(
        loaded,
        "select f.url from feeds f where not exists "
        "(select 1 from feed_entries fe where fe.feed_id = f.id)",
    )
    assert empty == []
    used = rows(
        loaded,
        "select count(*) from (select tag_id from articles_tags group by tag_id "
        "having count(*) >= 2)",
    )[0][0]
    assert used >= 10
    # the articles have words: a few paragraphs each (a handful of the first ones are shorter)
    assert rows(loaded, "select count(*) from articles where word_count >= 80")[0][0] >= 100


def test_the_sample_has_starred_read_archived_and_unread_articles(loaded: Path) -> None:
    states = dict(rows(loaded, "select state, count(*) from articles group by state"))
    assert states.get("read", 0) >= 10
    assert states.get("archived", 0) >= 3
    assert states.get("unread", 0) >= 30
    starred = rows(loaded, "select count(*) from articles where starred = 1")[0][0]
    assert starred >= 5
    # read and archived articles say when; the saved ones include each state too
    assert rows(
        loaded, "select count(*) from articles where state != 'unread' and read_at is null"
    ) == [(0,)]
    saved_states = {r[0] for r in rows(loaded, "select state from articles where saved = 1")}
    assert saved_states == {"unread", "read", "archived"}


def test_the_sample_spreads_over_more_than_a_year(loaded: Path) -> None:
    first, last, months = rows(
        loaded,
        "select min(published), max(published), count(distinct substr(published, 1, 7)) "
        "from articles",
    )[0]
    spread = datetime.fromisoformat(last) - datetime.fromisoformat(first)
    assert spread > timedelta(days=365)
    assert months >= 18
    assert rows(loaded, "select count(*) from articles where published is null") == [(0,)]


def test_loading_twice_adds_nothing_and_keeps_the_readers_changes(loaded: Path) -> None:
    before = rows(loaded, SIZES)
    starred = rows(loaded, "select url from articles where starred = 1 order by url limit 1")[0][0]
    was_read = rows(loaded, "select url from articles where state = 'read' order by url limit 1")
    run("unstar", starred)
    run("unread", was_read[0][0])
    state = "select url, state, starred, tags, note from articles order by url"
    changed = rows(loaded, state)

    second = run("load-sample", str(SAMPLE))

    assert "0 new articles" in second.output
    assert rows(loaded, SIZES) == before
    assert rows(loaded, state) == changed  # what the reader changed is not set back


def test_sample_feeds_are_paused_and_nothing_is_fetched(loaded: Path) -> None:
    statuses = {r[0] for r in rows(loaded, "select distinct status from feeds")}
    assert statuses == {"paused"}
    assert "0 feeds" in run("fetch").output


def test_the_sample_names_only_made_up_hosts_and_stays_small(loaded: Path) -> None:
    urls = rows(
        loaded,
        "select url from articles union all select url from feeds "
        "union all select site_url from feeds where site_url is not null",
    )
    hosts = {urlsplit(url).hostname or "" for (url,) in urls}
    assert hosts and all(h.endswith(".example") for h in hosts), hosts
    size = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert size < 1_000_000
    assert "written for" in (SAMPLE / "README.md").read_text(encoding="utf-8")


def test_the_generated_files_are_what_the_generator_writes(tmp_path: Path) -> None:
    """A generated file edited by hand, or a text edited without running build.py, shows here."""
    copy = tmp_path / "sample"
    shutil.copytree(SAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, str(copy / "build.py")], check=True, capture_output=True)

    def files(root: Path) -> dict[str, bytes]:
        return {
            str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts
        }

    built, shipped = files(copy), files(SAMPLE)
    assert sorted(built) == sorted(shipped)
    assert [name for name in built if built[name] != shipped[name]] == []
    manifest = json.loads(shipped["manifest.json"])
    assert all(item["file"] in shipped for item in manifest["feeds"] + manifest["pages"])
