"""store, layer by layer, on a real SQLite file: feeds, a feed's entries, tags, saved links,
bulk paths, hostile values, migrations, search, backup and the writer lock."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from aggregator import store
from aggregator.errors import DatabaseError, LockedError
from aggregator.store.links import BULK_INDEX_AFTER
from aggregator.store.rows import INT_MAX, INT_MIN


@pytest.fixture
def db(tmp_path: Path) -> Any:
    database = store.open_db(tmp_path / "aggregator.db")
    yield database
    database.conn.close()


def entry(key: str, **values: Any) -> dict[str, Any]:
    """A prepared feed entry as the pipeline hands it to store_entries."""
    record: dict[str, Any] = {
        "key": key,
        "url": f"https://example.org/{key}",
        "title": f"Title {key}",
        "text": f"body of {key}",
        "content_html": f"<p>body of {key}</p>",
        "content_hash": f"hash-{key}",
        "site": "example.org",
    }
    record.update(values)
    return record


def one(db: Any, sql: str, *params: Any) -> Any:
    return db.execute(sql, params).fetchone()[0]


def tags_agree(db: Any) -> None:
    """The JSON tags column equals the join table on every article, and tag counts are right."""
    for article_id, tags in db.execute("SELECT id, tags FROM articles").fetchall():
        joined = [
            r[0]
            for r in db.execute(
                "SELECT t.name FROM articles_tags at JOIN tags t ON t.id = at.tag_id "
                "WHERE at.article_id = ? ORDER BY t.name COLLATE NOCASE",
                [article_id],
            )
        ]
        assert json.loads(tags) == joined
    assert db.execute(
        "SELECT count(*) FROM tags WHERE article_count != "
        "(SELECT count(*) FROM articles_tags at WHERE at.tag_id = tags.id)"
    ).fetchone() == (0,)


def fts_ok(db: Any) -> None:
    db.execute("INSERT INTO articles_fts(articles_fts, rank) VALUES ('integrity-check', 1)")
    assert one(db, "SELECT count(*) FROM articles_fts") == one(db, "SELECT count(*) FROM articles")


# ---- opening and migrations


def test_a_new_database_has_every_migration_and_reopens_without_pending(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    store.open_db(path).conn.close()
    db = store.open_db(path)
    applied = [r[0] for r in db.execute("SELECT name FROM _sqlite_migrations ORDER BY name")]
    assert applied[0].startswith("m001") and len(applied) >= 6
    assert store.migrations.pending(db) == []
    assert one(db, "PRAGMA journal_mode") == "wal"
    assert one(db, "PRAGMA page_size") == store.PAGE_SIZE


def test_a_migration_name_can_be_registered_once() -> None:
    registry = store.Migrations("test")

    @registry()
    def m001_x(db: Any) -> None:
        pass

    with pytest.raises(ValueError, match="already registered"):
        registry(name="m001_x")(m001_x)


def test_a_file_that_is_not_a_database_is_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are notes, not SQLite " * 200)
    with pytest.raises(DatabaseError, match="not an Aggregator database or is corrupt"):
        store.open_db(path)


# ---- feeds


def test_adding_a_feed_twice_merges_its_tags_and_fills_blanks(db: Any) -> None:
    feed_id, created = store.add_feed(db, "https://example.org/feed", tags=["News"])
    assert created
    same_id, created = store.add_feed(
        db, "https://example.org/feed", title="Example", tags=["news", "Tech"]
    )
    assert (same_id, created) == (feed_id, False)
    [feed] = store.list_feeds(db)
    assert feed["title"] == "Example" and feed["tags"] == ["News", "Tech"]


def test_feeds_due_skips_paused_feeds_and_feeds_checked_later(db: Any) -> None:
    due, _ = store.add_feed(db, "https://a.example/feed")
    later, _ = store.add_feed(db, "https://b.example/feed")
    paused, _ = store.add_feed(db, "https://c.example/feed", status="paused")
    store.update_feed(db, later, next_check_at="2999-01-01T00:00:00Z")
    assert [f["id"] for f in store.feeds_due(db)] == [due]
    assert [f["id"] for f in store.feeds_due(db, all=True)] == [due, later]
    assert paused not in [f["id"] for f in store.feeds_due(db, all=True)]


def test_a_feed_error_is_counted_and_kept_short(db: Any) -> None:
    feed_id, _ = store.add_feed(db, "https://example.org/feed")
    store.record_feed_error(db, feed_id, "timed out " * 100)
    store.record_feed_error(db, feed_id, "refused")
    feed = store.get_feed_by_id(db, feed_id)
    assert feed is not None
    assert feed["error_count"] == 2 and feed["last_error"] == "refused"
    assert feed["status"] == "failing"
    store.record_feed_error(db, feed_id, "x" * 10_000)
    assert len(store.get_feed_by_id(db, feed_id)["last_error"]) == 500  # type: ignore[index]


def test_a_feed_moves_only_to_an_address_no_other_feed_has(db: Any) -> None:
    a, _ = store.add_feed(db, "https://a.example/feed")
    store.add_feed(db, "https://b.example/feed")
    assert not store.move_feed(db, a, "https://b.example/feed")
    assert store.move_feed(db, a, "https://a.example/new")
    assert store.get_feed(db, "https://a.example/new") is not None


def test_removing_a_feed_keeps_what_the_user_starred_or_saved(db: Any) -> None:
    feed_id, _ = store.add_feed(db, "https://example.org/feed")
    store.store_entries(db, feed_id, [entry("a"), entry("b"), entry("c")])
    store.set_state(db, store.article_id_for_url(db, "https://example.org/a") or 0, starred=True)
    store.save_link(db, "https://example.org/b")
    assert store.remove_feed(db, "https://example.org/feed")
    assert not store.remove_feed(db, "https://example.org/feed")
    urls = [r[0] for r in db.execute("SELECT url FROM articles ORDER BY url")]
    assert urls == ["https://example.org/a", "https://example.org/b"]
    assert one(db, "SELECT count(*) FROM articles WHERE feed_id IS NOT NULL") == 0
    fts_ok(db)


# ---- a feed's entries


def test_storing_a_feed_twice_adds_nothing_and_counts_its_articles(db: Any) -> None:
    feed_id, _ = store.add_feed(db, "https://example.org/feed", title="Example", tags=["t"])
    assert store.store_entries(db, feed_id, [entry("a"), entry("b")]) == (2, 0)
    assert store.store_entries(db, feed_id, [entry("a"), entry("b")]) == (0, 0)
    assert store.get_feed_by_id(db, feed_id)["article_count"] == 2  # type: ignore[index]
    rows = db.execute("SELECT feed_title, tags FROM articles").fetchall()
    assert rows == [("Example", '["t"]'), ("Example", '["t"]')]
    tags_agree(db)
    fts_ok(db)


def test_an_updated_entry_keeps_the_users_state_and_tags(db: Any) -> None:
    feed_id, _ = store.add_feed(db, "https://example.org/feed")
    store.store_entries(db, feed_id, [entry("a")])
    article_id = store.article_id_for_url(db, "https://example.org/a")
    assert article_id is not None
    store.set_state(db, article_id, state="read", starred=True)
    store.change_tags(db, article_id, add=["Keep"])
    changed = entry("a", title="New title", updated="2026-01-02T00:00:00Z", content_hash="h2")
    assert store.store_entries(db, feed_id, [changed]) == (0, 1)
    row = db.execute(
        "SELECT title, state, starred, tags FROM articles WHERE id = ?", [article_id]
    ).fetchone()
    assert row == ("New title", "read", 1, '["Keep"]')
    assert [r["id"] for r in store.search_articles(db, "New title")] == [article_id]


def test_content_that_changes_on_every_fetch_stops_being_rewritten(db: Any) -> None:
    feed_id, _ = store.add_feed(db, "https://example.org/feed")
    store.store_entries(db, feed_id, [entry("a")])
    rewrites = [
        store.store_entries(db, feed_id, [entry("a", content_hash=f"h{i}")])[1]
        for i in range(store.MAX_CONTENT_UPDATES + 5)
    ]
    assert sum(rewrites) == store.MAX_CONTENT_UPDATES


def test_one_story_in_two_feeds_is_one_article(db: Any) -> None:
    a, _ = store.add_feed(db, "https://a.example/feed")
    b, _ = store.add_feed(db, "https://b.example/feed")
    store.store_entries(db, a, [entry("x")])
    same_story = entry(
        "other-key", url="https://example.org/x", title="Title x", content_hash="hash-x"
    )
    assert store.store_entries(db, b, [same_story]) == (0, 0)
    assert one(db, "SELECT count(*) FROM articles") == 1
    assert one(db, "SELECT count(*) FROM feed_entries") == 2
    assert store.get_feed_by_id(db, b)["article_count"] == 1  # type: ignore[index]


def test_the_same_link_twice_in_one_document_is_one_article(db: Any) -> None:
    feed_id, _ = store.add_feed(db, "https://example.org/feed")
    twice = [
        entry("k1", url="https://example.org/same"),
        entry("k2", url="https://example.org/same"),
    ]
    assert store.store_entries(db, feed_id, twice)[0] == 1
    assert one(db, "SELECT count(*) FROM articles") == 1


def test_many_new_entries_go_in_over_several_inserts(db: Any) -> None:
    feed_id, _ = store.add_feed(db, "https://example.org/feed")
    many = [entry(f"e{i}") for i in range(store.rows.INSERT_ROWS * 2 + 7)]
    assert store.store_entries(db, feed_id, many) == (len(many), 0)
    assert one(db, "SELECT count(*) FROM feed_entries") == len(many)
    fts_ok(db)


# ---- tags


def test_tags_are_added_and_removed_case_insensitively(db: Any) -> None:
    article_id, _ = store.save_link(db, "https://example.org/a", tags=["Python"])
    assert store.change_tags(db, article_id, add=["python", "  long   reads "]) == [
        "long reads",
        "Python",
    ]
    assert store.change_tags(db, article_id, remove=["PYTHON"]) == ["long reads"]
    tags_agree(db)


def test_tags_are_trimmed_capped_and_cleaned() -> None:
    tags = store.normalise_tags(["a\x00b", "x" * 500, None, "\ud800y", *map(str, range(300))])
    assert tags[0] == "ab" and len(tags[1]) == store.MAX_TAG and tags[2] == "\ufffdy"
    assert len(tags) == store.MAX_TAGS


# ---- saved links


def test_saving_a_link_again_merges_tags_and_keeps_the_first_date(db: Any) -> None:
    first, created = store.save_link(
        db, "https://example.org/a", tags=["a"], saved_at="2024-01-01T00:00:00Z"
    )
    assert created
    again, created = store.save_link(
        db, "https://example.org/a", tags=["b"], note="n", saved_at="2025-01-01T00:00:00Z"
    )
    assert (again, created) == (first, False)
    row = db.execute("SELECT saved_at, note, tags, fetch_status FROM articles").fetchone()
    assert row == ("2024-01-01T00:00:00Z", "n", '["a","b"]', "pending")


def test_a_bulk_save_indexes_tags_and_search_and_is_idempotent(db: Any) -> None:
    links = [
        {
            "url": f"https://example.org/{i}",
            "title": f"Link {i} marigold",
            "tags": ["Bulk", f"t{i % 3}"],
        }
        for i in range(BULK_INDEX_AFTER + 10)
    ]
    links.append({"url": "https://example.org/0", "tags": ["extra"], "starred": True})
    assert store.save_links_bulk(db, links) == (BULK_INDEX_AFTER + 10, 0)
    triggers = {r[0] for r in db.execute("SELECT sql FROM sqlite_master WHERE type='trigger'")}
    assert store.schema.FTS_INSERT_TRIGGER in triggers
    assert store.schema.FACET_INSERT_TRIGGER in triggers
    fts_ok(db)
    tags_agree(db)
    assert len(store.search_articles(db, "marigold", limit=5)) == 5
    assert one(db, "SELECT n FROM facet_counts WHERE facet = 'state' AND value = 'unread'") == (
        BULK_INDEX_AFTER + 10
    )
    before = list(db.conn.iterdump())
    assert store.save_links_bulk(db, links) == (0, BULK_INDEX_AFTER + 10)
    assert list(db.conn.iterdump()) == before


def test_a_link_saved_in_bulk_is_stored_as_one_saved_alone(db: Any) -> None:
    """The bulk insert names only the columns a link sets; every other column must come out
    as the one-by-one path stores it."""
    values = {"title": "Same", "note": "n", "saved_at": "2024-01-01T00:00:00Z"}
    links = [{"url": f"https://example.org/{i}", "tags": ["t"], **values} for i in range(1200)]
    assert store.save_links_bulk(db, links) == (1200, 0)
    alone, _ = store.save_link(db, "https://example.org/alone", tags=["t"], **values)
    varying = {"id", "url", "first_seen_at", "updated_at"}
    columns = [r[1] for r in db.execute("PRAGMA table_xinfo(articles)") if r[1] not in varying]
    select = f"SELECT {', '.join(columns)} FROM articles WHERE id = ?"
    bulk_row = dict(zip(columns, db.execute(select, [1]).fetchone(), strict=True))
    alone_row = dict(zip(columns, db.execute(select, [alone]).fetchone(), strict=True))
    assert bulk_row == alone_row
    assert bulk_row["categories"] == "[]" and bulk_row["word_count"] == 0


def test_bulk_ingest_skips_known_urls_and_joins_feeds(db: Any) -> None:
    feed_id, _ = store.add_feed(db, "https://example.org/feed")
    records = [
        {
            "url": f"https://example.org/{i}",
            "title": f"T{i}",
            "feed_id": feed_id,
            "key": f"k{i}",
            "tags": ["x"],
            "text": "bulk words",
        }
        for i in range(50)
    ]
    assert store.store_articles_bulk(db, records) == 50
    assert store.store_articles_bulk(db, records) == 0
    assert store.get_feed_by_id(db, feed_id)["article_count"] == 50  # type: ignore[index]
    assert store.store_entries(db, feed_id, [entry("k1", url="https://example.org/1")]) == (0, 1)
    fts_ok(db)
    tags_agree(db)


# ---- hostile values (the row builder binds whatever it is given)


def test_hostile_values_are_stored_bounded_and_never_raise(db: Any) -> None:
    feed_id, _ = store.add_feed(db, "https://example.org/feed")
    hostile = entry(
        "\ud800",
        url="https://example.org/\udfff",
        title="half \ud83d and a pair \ud83d\ude00",
        author=object(),
        word_count=10**30,
        reading_time=-(10**30),
        categories=["\ud800", "ok"],
        text="t" * (store.rows.MAX_TEXT_CHARS + 10),
    )
    fields = {"ttl_minutes": 10**20, "title": "feed \udc00"}
    assert store.store_entries(db, feed_id, [hostile], feed_fields=fields) == (1, 0)
    row = db.execute(
        "SELECT title, word_count, reading_time, length(text), categories, url FROM articles"
    ).fetchone()
    assert row[0] == "half \ufffd and a pair \U0001f600"
    assert (row[1], row[2], row[3]) == (INT_MAX, INT_MIN, store.rows.MAX_TEXT_CHARS)
    assert json.loads(row[4]) == ["\ufffd", "ok"] and row[5] == "https://example.org/\ufffd"
    feed = store.get_feed_by_id(db, feed_id)
    assert feed is not None and feed["ttl_minutes"] == INT_MAX and feed["title"] == "feed \ufffd"
    # the same hostile entry again is the same article
    assert store.store_entries(db, feed_id, [hostile]) == (0, 0)
    article_id, _ = store.save_link(
        db, "https://example.org/n\ud800", note="\udc00", title="\ud800"
    )
    assert (
        store.store_articles_bulk(db, [{"url": "https://e.example/\ud800", "word_count": 2**64}])
        == 1
    )
    store.record_page(db, article_id, {"title": "\ud800 page", "word_count": 10**40})
    store.record_page_error(db, article_id, "\ud800" * 1000, next_fetch_at=None)
    assert one(db, "SELECT count(*) FROM articles") == 3
    fts_ok(db)


# ---- search


def test_search_ranks_title_matches_first_then_newest(db: Any) -> None:
    feed_id, _ = store.add_feed(db, "https://example.org/feed", title="Feed")
    store.store_entries(
        db,
        feed_id,
        [
            entry("body", title="Other", text="a quokka in the text"),
            entry("title", title="The quokka", text="nothing"),
            entry("newer", title="Else", text="quokka again"),
        ],
    )
    hits = store.search_articles(db, "quokka")
    assert [h["url"].rsplit("/", 1)[1] for h in hits] == ["title", "newer", "body"]
    assert "[quokka]" in hits[1]["snippet"]
    assert store.search_articles(db, 'c++ "unterminated') == []
    assert store.search_articles(db, "   ") == []


def test_the_webs_search_sql_ranks_as_the_cli_does(db: Any) -> None:
    feed_id, _ = store.add_feed(db, "https://example.org/feed", title="Feed")
    store.store_entries(
        db,
        feed_id,
        [
            entry(f"e{i}", title=("Owl " * (i % 3)) + f"n{i}", text="owl" if i % 2 else "x owl")
            for i in range(30)
        ],
    )
    store.change_tags(db, 5, add=["birds"])
    store.search.register_search_functions(db.conn)
    for q, tag in (("owl", ""), ("owl", "birds"), ('"x owl"', ""), ("", ""), ("ow*", "")):
        for sort in store.SORTS:
            web = db.execute(
                store.search_sql(), {"q": q, "tag": tag, "feed": "", "sort": sort}
            ).fetchall()
            cli = store.search_articles(db, q, sort=sort, tags=[tag] if tag else [], limit=50)
            assert [r[0] for r in web] == [r["id"] for r in cli]
            assert all("<mark>" in r[12] for r in web)


def test_query_articles_filters_by_tag_feed_state_and_text(db: Any) -> None:
    feed_id, _ = store.add_feed(db, "https://example.org/feed", title="Feed")
    store.store_entries(db, feed_id, [entry("a"), entry("b", title="Zebra")])
    saved, _ = store.save_link(db, "https://elsewhere.example/c", tags=["t"])
    assert [a["url"] for a in store.query_articles(db, tags=["T"])] == [
        "https://elsewhere.example/c"
    ]
    assert len(store.query_articles(db, feed_url="https://example.org/feed")) == 2
    assert [a["title"] for a in store.query_articles(db, query="zebra")] == ["Zebra"]
    assert [a["id"] for a in store.get_articles(db, [saved, 1])] == [saved, 1]
    assert store.query_articles(db, saved=True)[0]["saved"] is True


# ---- safety: backup, checks, lock


def test_a_backup_is_a_checked_copy_and_is_not_overwritten_by_default(
    db: Any, tmp_path: Path
) -> None:
    store.save_link(db, "https://example.org/a", tags=["kept"])
    dest = tmp_path / "backup.db"
    store.backup_database(db, dest)
    with sqlite3.connect(dest) as copy:
        assert copy.execute("SELECT url, tags FROM articles").fetchall() == [
            ("https://example.org/a", '["kept"]')
        ]
    with pytest.raises(DatabaseError, match="already exists"):
        store.backup_database(db, dest)
    store.backup_database(db, dest, force=True)
    assert store.check_database(db) == []


def test_a_corrupt_database_is_refused_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    db = store.open_db(path)
    for i in range(200):
        store.save_link(db, f"https://example.org/{i}", note="n" * 2000)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    data = bytearray(path.read_bytes())
    data[store.PAGE_SIZE * 3 : store.PAGE_SIZE * 3 + 4096] = b"\xff" * 4096
    path.write_bytes(bytes(data))
    db = store.open_db(path, migrate=False)
    with pytest.raises(DatabaseError, match="is corrupt"):
        store.quick_check(db, path)
    assert store.check_database(db)


def test_a_second_writer_waits_then_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom aggregator import store\n"
            f"with store.writer_lock({str(path)!r}):\n"
            "    print('held', flush=True)\n    time.sleep(30)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(LockedError, match="another aggregator process is writing"):
            with store.writer_lock(path, wait=0.3):
                pass
        assert time.monotonic() - started >= 0.3
    finally:
        holder.kill()
        holder.wait()
    with store.writer_lock(path, wait=5):  # released when its process died
        pass
