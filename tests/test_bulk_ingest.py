"""store.store_articles_bulk: rows, tags, feed entries and the full-text index stay consistent."""

from __future__ import annotations

import json
from pathlib import Path

from aggregator import store


def test_bulk_ingest_keeps_fts_tags_and_entries_consistent(tmp_path: Path) -> None:
    db = store.open_db(tmp_path / "a.db")
    feed_id, _ = store.add_feed(db, "https://example.com/feed.xml", title="Example")
    records = [
        {
            "url": f"https://example.com/{i}",
            "title": f"Post {i}",
            "text": f"body word{i} common",
            "content_html": f"<p>body word{i} common</p>",
            "feed_id": feed_id,
            "feed_title": "Example",
            "key": f"k{i}",
            "published": "2024-05-01T09:30:00Z",
            "tags": ["News", "news", "Zeta"] if i % 2 else [],
        }
        for i in range(50)
    ] + [
        {
            "url": "https://saved.example/x",
            "title": "Saved",
            "text": "kept link",
            "saved": 1,
            "saved_at": "2023-01-01T00:00:00Z",
            "tags": ["alpha"],
        }
    ]
    assert store.store_articles_bulk(db, records) == 51
    assert store.store_articles_bulk(db, records[:5]) == 0  # known URLs are skipped
    db.execute("INSERT INTO articles_fts(articles_fts) VALUES('integrity-check')")
    assert [r["url"] for r in store.search_articles(db, "word7")] == ["https://example.com/7"]
    assert len(store.search_articles(db, "common", limit=100)) == 50
    # the triggers are back: an ordinary insert is indexed too
    store.save_link(db, "https://later.example/", title="Later arrival")
    assert [r["url"] for r in store.search_articles(db, "arrival")] == ["https://later.example/"]
    row = db.execute(
        "SELECT tags, sort_date, feed_id FROM articles WHERE url = ?", ["https://example.com/1"]
    ).fetchone()
    assert (
        json.loads(row[0]) == ["News", "Zeta"]
        and row[1] == "2024-05-01T09:30:00Z"
        and row[2] == feed_id
    )
    pairs = db.execute("SELECT count(*) FROM articles_tags").fetchone()[0]
    assert pairs == 25 * 2 + 1
    assert (
        db.execute("SELECT count(*) FROM feed_entries WHERE feed_id = ?", [feed_id]).fetchone()[0]
        == 50
    )
    assert db.execute("SELECT article_count FROM feeds WHERE id = ?", [feed_id]).fetchone()[0] == 50
    assert store.query_articles(db, tags=["zeta"], limit=100)[0]["tags"] == ["News", "Zeta"]


def test_bulk_ingest_counts_feed_entries_and_restores_fts_settings(tmp_path: Path) -> None:
    db = store.open_db(tmp_path / "a.db")
    feed_id, _ = store.add_feed(db, "https://example.com/feed.xml", title="Example")
    other, _ = store.add_feed(db, "https://other.example/feed.xml", title="Other")
    config = db.execute("SELECT k, v FROM articles_fts_config ORDER BY k").fetchall()

    def record(i: int, feed: int, key: str) -> dict[str, object]:
        return {
            "url": f"https://example.com/{i}",
            "title": f"Post {i}",
            "text": f"body word{i}",
            "feed_id": feed,
            "key": key,
            "tags": ["a"],
        }

    store.store_articles_bulk(db, [record(i, feed_id, f"k{i}") for i in range(30)])
    # new URLs, some under keys their feed knows already (those entries are not added)
    later = [record(100 + i, feed_id, f"k{i}") for i in range(5)]
    later += [record(200 + i, other, f"o{i}") for i in range(7)]
    later += [record(300 + i, feed_id, f"n{i}") for i in range(3)]
    assert store.store_articles_bulk(db, later) == 15
    counts = dict(db.execute("SELECT id, article_count FROM feeds").fetchall())
    truth = dict(
        db.execute("SELECT feed_id, count(*) FROM feed_entries GROUP BY feed_id").fetchall()
    )
    assert counts == truth == {feed_id: 33, other: 7}
    # the bulk FTS5 settings (hash size, merge width) are put back after each call
    after = dict(db.execute("SELECT k, v FROM articles_fts_config").fetchall())
    assert after["hashsize"] == dict(config)["hashsize"] == store.FTS_HASH_BYTES
    assert after.get("automerge", store.FTS_AUTOMERGE) == store.FTS_AUTOMERGE
    assert db.execute("PRAGMA cache_size").fetchone()[0] == -2000
    db.execute("INSERT INTO articles_fts(articles_fts) VALUES('integrity-check')")
    assert len(store.search_articles(db, "body", limit=100)) == 45
