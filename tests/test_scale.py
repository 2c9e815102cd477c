"""What keeps search and browsing fast at scale stays correct: kept facet counts equal the rows,
the tag filter through the join table equals json_each, bounded search still finds and ranks,
and no configured facet is missing from a real page. No timings here (see benchmarks/search.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from aggregator import store
from aggregator.web.app import build_datasette

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import make_collection  # noqa: E402

from tests.webclient import get

FACETS = ("tags", *store.FACET_COLUMNS)



@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scale") / "c.db"
    make_collection.build(str(path), 3_000, batch=1_000, quiet=True)
    db = store.open_db(path)
    ids = [r[0] for r in db.execute("SELECT id FROM articles ORDER BY id LIMIT 5")]
    store.set_state(db, ids[0], state="archived", starred=True)
    store.change_tags(db, ids[2], add=["fresh-tag"], remove=[])
    store.save_link(db, "https://x.example/a", tags=["fresh-tag", "other"])
    store.save_links_bulk(
        db, [{"url": f"https://bulk.example/{i}", "tags": ["fresh-tag"]} for i in range(1_200)]
    )
    db.execute("DELETE FROM articles WHERE id = ?", [ids[1]])
    db.conn.close()
    return path


def test_kept_facet_counts_equal_the_rows(collection: Path) -> None:
    db = store.open_db(collection)
    for column in store.FACET_COLUMNS:
        truth = dict(
            db.execute(
                f"SELECT {column}, count(*) FROM articles "
                f"WHERE {column} IS NOT NULL GROUP BY {column}"
            ).fetchall()
        )
        kept = dict(
            db.execute(
                "SELECT value, n FROM facet_counts WHERE facet = ? AND n > 0", [column]
            ).fetchall()
        )
        assert kept == truth, column
    truth = dict(
        db.execute(
            "SELECT j.value, count(*) FROM articles, json_each(articles.tags) j GROUP BY j.value"
        ).fetchall()
    )
    kept = dict(
        db.execute("SELECT name, article_count FROM tags WHERE article_count > 0").fetchall()
    )
    assert kept == truth and kept["fresh-tag"] == 1_202


def test_every_facet_is_on_the_page_with_true_counts(collection: Path) -> None:
    ds = build_datasette(collection, fetch_saved=False)
    db = store.open_db(collection)
    data = get(ds, "/aggregator/articles.json").json()
    assert set(FACETS) <= set(data["facet_results"]), list(data["facet_results"])
    tags = {r["value"]: r["count"] for r in data["facet_results"]["tags"]["results"]}
    top = db.execute(
        "SELECT name, article_count FROM tags ORDER BY article_count DESC LIMIT 1"
    ).fetchone()
    assert tags[top[0]] == top[1]
    feeds = {r["value"]: r["count"] for r in data["facet_results"]["feed_title"]["results"]}
    busiest = db.execute(
        "SELECT feed_title, count(*) AS n FROM articles WHERE feed_title IS NOT NULL "
        "GROUP BY feed_title ORDER BY n DESC LIMIT 1"
    ).fetchone()
    assert feeds[busiest[0]] == busiest[1]
    # a tag page: rows, count and facets of the rows that carry the tag
    tag = top[0]
    page = get(ds, f"/aggregator/articles.json?tags__arraycontains={tag}&_size=max").json()
    want = {
        r[0]
        for r in db.execute(
            "SELECT articles.id FROM articles, json_each(articles.tags) j WHERE j.value = ?", [tag]
        )
    }
    assert page["filtered_table_rows_count"] == len(want)
    assert set(FACETS) <= set(page["facet_results"])
    on_page = {r["value"]: r["count"] for r in page["facet_results"]["state"]["results"]}
    marks = ",".join("?" * len(want))
    truth = dict(
        db.execute(
            f"SELECT state, count(*) FROM articles WHERE id IN ({marks}) GROUP BY state",
            sorted(want),
        ).fetchall()
    )
    assert on_page == truth
    rows = get(
        ds, f"/aggregator/articles.json?tags__arraycontains={tag}&_shape=array&_size=50"
    ).json()
    assert rows and all(tag in json.loads(r["tags"]) for r in rows)
    selected = [r for r in page["facet_results"]["tags"]["results"] if r["value"] == tag]
    assert selected and selected[0]["selected"] and selected[0]["count"] == len(want)


def test_bounded_search_still_finds_ranks_and_marks(collection: Path) -> None:
    db = store.open_db(collection)
    words = make_collection.vocabulary()
    common = store.search_articles(db, words[0], limit=50)
    assert len(common) == 50
    assert [r["rank"] for r in common] == sorted(r["rank"] for r in common)
    rare = next(
        w
        for w in words[3_000:]
        if 0
        < db.execute(
            "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH ?", [f'"{w}"']
        ).fetchone()[0]
        < 20
    )
    found = store.search_articles(db, rare, limit=50)
    assert (
        len(found)
        == db.execute(
            "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH ?", [f'"{rare}"']
        ).fetchone()[0]
    )
    phrase = f'"{words[0]} {words[1]}"'
    hits = store.search_articles(db, phrase, limit=20)
    ids = {
        r[0]
        for r in db.execute("SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?", [phrase])
    }
    assert hits and {r["id"] for r in hits} <= ids
    assert store.fts_query("ab*") == '"ab"' and store.fts_query("abc*") == '"abc"*'
    assert store.fts_query('"a b" c') == '"a b" "c"'
    assert store.fts_query('x NOT "a b"') == '"x" NOT "a b"'
    ds = build_datasette(collection, fetch_saved=False)
    rows = get(ds, f"/aggregator/search.json?q={words[0]}&_shape=objects").json()["rows"]
    assert len(rows) == 50 and all("<mark>" in r["snippet"] for r in rows)
    # `aggregator search` ranks as the web page does; every row matches, title matches first
    assert [r["id"] for r in rows] == [r["id"] for r in common]
    titled = {r[0] for r in db.execute(
        "SELECT rowid FROM articles_fts WHERE articles_fts MATCH ?", [f'title: "{words[0]}"'])}
    flags = [r["id"] in titled for r in common]
    assert flags == sorted(flags, reverse=True)
    tag = db.execute("SELECT name FROM tags ORDER BY article_count DESC LIMIT 1").fetchone()[0]
    rows = get(ds, f"/aggregator/search.json?q={words[0]}&tag={tag}&_shape=objects").json()["rows"]
    assert rows and all(tag in json.loads(r["tags"]) for r in rows)
