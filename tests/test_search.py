"""Search as a person uses it (issue 15): best match over the whole collection, newest first,
the query box's language, the precomputed best-match lists, and the same answers from
`aggregator search` and the web's search page."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from aggregator import store
from aggregator.web.app import build_datasette
from tests.conftest import run


def entry(key: str, *, title: str, text: str, published: str) -> dict[str, Any]:
    return {
        "key": key,
        "url": f"https://news.example/{key}",
        "title": title,
        "text": text,
        "content_html": f"<p>{text}</p>",
        "content_hash": f"hash-{key}",
        "site": "news.example",
        "published": published,
    }


FILLER = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron "


@pytest.fixture
def collection(tmp_path: Path) -> Path:
    """An old article titled exactly like the query, many newer ones that mention it once in
    their text, and common filler words in every article."""
    path = tmp_path / "search.db"
    db = store.open_db(path)
    feed_id, _ = store.add_feed(db, "https://news.example/feed", title="News")
    old = entry(
        "old",
        title="Quantum gardening",
        text=FILLER * 3 + "a plot of quantum gardening notes",
        published="2019-03-01T00:00:00Z",
    )
    newer = [
        entry(
            f"new{i}",
            title=f"Weekly notes {i}",
            text=FILLER * 4 + f"someone said quantum gardening once; item {i}",
            published=f"2025-{1 + i % 12:02d}-{1 + i % 27:02d}T00:00:00Z",
        )
        for i in range(120)
    ]
    store.store_entries(db, feed_id, [old])
    store.store_entries(db, feed_id, newer)
    other, _ = store.add_feed(db, "https://blog.example/feed", title="Gardening Blog")
    store.store_entries(
        db,
        other,
        [
            {
                **entry(
                    "blog1",
                    title="Compost",
                    text=FILLER + "quantum compost",
                    published="2024-05-05T00:00:00Z",
                ),
                "url": "https://blog.example/compost",
                "site": "blog.example",
            }
        ],
    )
    article = db.execute("SELECT id FROM articles WHERE url LIKE '%new7'").fetchone()[0]
    store.change_tags(db, article, add=["garden"])
    db.conn.close()
    return path


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [r["url"].rsplit("/", 1)[1] for r in rows]


def web_rows(path: Path, query: str, sort: str = "") -> list[dict[str, Any]]:
    ds = build_datasette(path, fetch_saved=False)
    params = {"q": query, "_shape": "objects", **({"sort": sort} if sort else {})}
    qs = "&".join(f"{k}={v}" for k, v in params.items())
    response = asyncio.run(ds.client.get(f"/aggregator/search.json?{qs}"))
    assert response.status_code == 200, response.text
    return list(response.json()["rows"])


def test_best_match_puts_the_old_title_match_above_newer_mentions(collection: Path) -> None:
    db = store.open_db(collection)
    best = store.search_articles(db, "quantum gardening", limit=10)
    assert ids(best)[0] == "old"
    newest = store.search_articles(db, "quantum gardening", sort="newest", limit=10)
    assert "old" not in ids(newest)  # ten newer mentions come first by date
    dates = [r["published"] for r in newest]
    assert dates == sorted(dates, reverse=True)


def test_the_web_and_the_cli_answer_alike_in_both_sorts(collection: Path) -> None:
    db = store.open_db(collection)
    for query in ("quantum gardening", "quant*", '"quantum gardening"', "quantum -notes"):
        for sort in store.SORTS:
            cli = store.search_articles(db, query, sort=sort, limit=50)
            web = web_rows(collection, query.replace(" ", "+").replace('"', "%22"), sort)
            assert [r["id"] for r in web] == [r["id"] for r in cli], (query, sort)
    out = run("--db", str(collection), "search", "quantum gardening", "--format", "json")
    assert ids(json.loads(out.output))[0] == "old"
    out = run("--db", str(collection), "search", "quantum", "--sort", "newest", "--limit", "3")
    assert "Quantum gardening" not in out.output and "Weekly notes" in out.output


def test_the_query_language(collection: Path) -> None:
    db = store.open_db(collection)
    assert ids(store.search_articles(db, "quantum -notes")) == ["compost"]
    assert ids(store.search_articles(db, "quantum site:blog.example")) == ["compost"]
    assert ids(store.search_articles(db, 'quantum feed:"Gardening Blog"')) == ["compost"]
    assert ids(store.search_articles(db, "quantum tag:garden")) == ["new7"]
    assert ids(store.search_articles(db, "gard* tag:Garden")) == ["new7"]
    assert ids(store.search_articles(db, "compost OR nothingatall")) == ["compost"]
    assert store.search_articles(db, "-quantum") == []


def test_a_short_prefix_is_a_word_and_the_page_says_so(collection: Path) -> None:
    out = run("--db", str(collection), "search", "qu*")
    assert "Prefixes need at least 3 letters" in out.output
    ds = build_datasette(collection, fetch_saved=False)
    page = asyncio.run(ds.client.get("/aggregator/search?q=qu*")).text
    assert "Prefixes need at least 3 letters" in page
    assert 'name="sort"' in page and "best match" in page and "How to search" in page


def test_best_match_lists_give_the_page_a_full_scoring_gives(collection: Path) -> None:
    db = store.open_db(collection)
    queries = ("alpha", "gam*", "quantum", "gardening")
    full = {q: ids(store.search_articles(db, q, limit=50)) for q in queries}
    assert not store.best_lists_due(db, min_docs=1_000)  # a small collection needs none
    assert store.best_lists_due(db, min_docs=50)
    written = store.refresh_best_lists(db, min_docs=50)
    assert written >= 4
    tokens = {r[0] for r in db.execute("SELECT token FROM search_best_tokens")}
    assert {"w:alpha", "p:gam", "w:quantum", "w:gardening"} <= tokens
    assert not store.best_lists_due(db, min_docs=50)
    for q in queries:
        assert ids(store.search_articles(db, q, limit=50)) == full[q], q
    # articles stored after the lists were made are scored when the query runs
    feed_id = db.execute("SELECT id FROM feeds WHERE url = 'https://news.example/feed'").fetchone()
    store.store_entries(
        db,
        feed_id[0],
        [entry("late", title="Alpha alpha", text="alpha", published="2026-01-01T00:00:00Z")],
    )
    assert ids(store.search_articles(db, "alpha", limit=3))[0] == "late"
    # a list is never used with filters, whose matches it may not hold
    assert ids(store.search_articles(db, "alpha tag:garden")) == ["new7"]
