"""Bulk ingest: many whole articles inserted at once, indexed for search after the rows."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .articles import _insert_new_pairs, resolve_tags, tags_json
from .connection import _one, chunks, marks, now_iso, transaction
from .rows import (
    ARTICLE_COLUMNS,
    INSERT_ARTICLE,
    MAX_SHORT_CHARS,
    MAX_TEXT_CHARS,
    article_row,
    bounded_text,
)
from .schema import (
    FACET_INSERT_TRIGGER,
    FTS_COLUMNS,
    FTS_HASH_BYTES,
    FTS_INSERT_TRIGGER,
    count_facets,
    trigger_off,
)

if TYPE_CHECKING:
    import sqlite_utils


BULK_FTS_HASH_BYTES = 256 * 1024 * 1024


def _set_fts_config(db: sqlite_utils.Database, key: str, value: int) -> None:
    db.execute("INSERT INTO articles_fts(articles_fts, rank) VALUES (?, ?)", [key, value])


BULK_SETTINGS_CACHE_KIB = 262_144  # page cache of a bulk ingest (256 MB; restored after)
FTS_AUTOMERGE = 4  # FTS5's default
BULK_FTS_AUTOMERGE = 16


def _fts_config(db: sqlite_utils.Database, key: str, default: int) -> int:
    value = _one(db, "SELECT v FROM articles_fts_config WHERE k = ?", [key])
    return default if value is None else int(value)


@contextmanager
def bulk_settings(db: sqlite_utils.Database) -> Iterator[None]:
    """Connection settings for one bulk write, restored after it: a page cache that holds the
    indexes being filled, no fsync at commit (synchronous = OFF: an application crash still
    loses nothing committed; a power cut during the import may, which an import can redo),
    and FTS5 merging segments by 16 instead of 4 (`automerge`). A bulk write flushes one large
    segment per call (BULK_FTS_HASH_BYTES); merged 4 at a time, a 1,000,000-article build
    rewrites its index about twice (each merge copied again by the WAL checkpoint), by 16
    about once, and the late merges by 4 left freed pages behind ("Bulk ingest at 1,000,000
    articles" in docs/benchmarks.md). A level then holds at most 15 segments; the incremental
    path's merges by 4 resume after, in small steps. Restored after the commit,
    in its own small write: the merging happens when the transaction commits. Does nothing
    inside a caller's transaction (SQLite ignores the pragmas there)."""
    if db.conn.in_transaction:
        yield
        return
    cache_size, synchronous = (
        int(_one(db, "PRAGMA cache_size")),
        int(_one(db, "PRAGMA synchronous")),
    )
    automerge = _fts_config(db, "automerge", FTS_AUTOMERGE)
    db.execute(f"PRAGMA cache_size = {min(cache_size, -BULK_SETTINGS_CACHE_KIB)}")
    db.execute("PRAGMA synchronous = OFF")
    if automerge != BULK_FTS_AUTOMERGE:
        _set_fts_config(db, "automerge", BULK_FTS_AUTOMERGE)
    try:
        yield
    finally:
        if automerge != BULK_FTS_AUTOMERGE:
            _set_fts_config(db, "automerge", automerge)
        db.execute(f"PRAGMA cache_size = {cache_size}")
        db.execute(f"PRAGMA synchronous = {synchronous}")


def store_articles_bulk(db: sqlite_utils.Database, records: Sequence[Mapping[str, Any]]) -> int:
    """Insert many new articles in one transaction (bulk ingest: benchmarks, large imports of
    whole articles): rows first, then the full-text index in one INSERT ... SELECT over the new
    rows (the per-row trigger is dropped meanwhile), then join rows. Records whose URL is
    already stored are skipped. Each record: the columns of `articles` it sets (url, title,
    author, published, text, content_html, excerpt, word_count, reading_time, site, feed_id,
    feed_title, saved, saved_at, state, starred, ...), plus `key` (its feed entry key, when it
    has a feed_id) and `tags` (a list). Returns how many were inserted."""
    now = now_iso()
    with bulk_settings(db), transaction(db):
        urls = [bounded_text(r["url"], MAX_TEXT_CHARS) if r.get("url") else None for r in records]
        known: set[str] = set()
        for chunk in chunks([u for u in urls if u]):
            known.update(
                u
                for (u,) in db.execute(
                    f"SELECT url FROM articles WHERE url IN ({marks(len(chunk))})", chunk
                ).fetchall()
            )
        fresh = [(r, u) for r, u in zip(records, urls, strict=True) if not u or u not in known]
        if not fresh:
            return 0
        tag_lists = resolve_tags(db, (tuple(r.get("tags") or ()) for r, _ in fresh))
        json_of = {key: tags_json(pairs) for key, pairs in tag_lists.items()}
        first_id = int(_one(db, "SELECT coalesce(max(id), 0) + 1 FROM articles"))
        rows = []
        pairs: list[tuple[int, int]] = []
        entries: list[tuple[int, str, int, str]] = []
        for offset, (rec, url) in enumerate(fresh):
            article_id = first_id + offset
            tag_key = tuple(rec.get("tags") or ())
            tags = tag_lists.get(tag_key, [])
            published = rec.get("published")
            when = rec.get("saved_at") if rec.get("saved") and not published else published
            rows.append(
                article_row(
                    {
                        **rec,
                        "id": article_id,
                        "url": url,
                        "sort_date": min(when, now) if when else now,
                        "first_seen_at": now,
                        "updated_at": now,
                        "tags": json_of.get(tag_key, "[]"),
                    }
                )
            )
            pairs += [(article_id, tag_id) for tag_id, _ in tags]
            if rec.get("feed_id") is not None:
                key = bounded_text(str(rec.get("key") or url), MAX_SHORT_CHARS)
                entries.append((int(rec["feed_id"]), key, article_id, now))
        hash_before = BULK_FTS_HASH_BYTES
        with (
            trigger_off(db, FTS_INSERT_TRIGGER) as index_after,
            trigger_off(db, FACET_INSERT_TRIGGER) as count_after,
        ):
            if index_after:
                # One FTS5 segment per call, written at the commit, instead of one per 16 MB of
                # pending index (m004): fewer, larger segments to merge, and the INSERT no
                # longer reads segments back (see "Bulk ingest" in docs/benchmarks.md). Memory
                # (up to this size) only while the transaction is open; restored before it ends
                # (the commit writes whatever is pending, whatever the setting).
                hash_before = _fts_config(db, "hashsize", FTS_HASH_BYTES)
                if hash_before != BULK_FTS_HASH_BYTES:
                    _set_fts_config(db, "hashsize", BULK_FTS_HASH_BYTES)
            db.conn.executemany(INSERT_ARTICLE, rows)
            if count_after:  # six upserts per row -> six GROUP BYs over the new rows
                count_facets(db, from_id=first_id)
            if index_after:
                # From the values in hand, not INSERT ... SELECT, which reads every new row
                # back (see "Bulk ingest" in docs/benchmarks.md).
                at = [ARTICLE_COLUMNS.index(c) for c in FTS_COLUMNS]
                db.conn.executemany(
                    f"INSERT INTO articles_fts(rowid, {', '.join(FTS_COLUMNS)}) "
                    f"VALUES (?, {marks(len(FTS_COLUMNS))})",
                    [(row[0], *(row[i] for i in at)) for row in rows],
                )
        _insert_new_pairs(db, pairs)
        before = db.conn.total_changes
        db.conn.executemany(
            "INSERT INTO feed_entries (feed_id, key, article_id, first_seen_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            entries,
        )
        if entries:
            # Add the entries just made (as store_entries does), not a recount of every entry
            # of each feed touched: at 1,000,000 articles that recount read the whole
            # feed_entries table for each batch.
            per_feed: dict[int, int] = {}
            if db.conn.total_changes - before == len(entries):
                for feed_id, *_ in entries:
                    per_feed[feed_id] = per_feed.get(feed_id, 0) + 1
            else:  # some keys were known already: count what went in
                per_feed.update(
                    db.execute(
                        "SELECT feed_id, count(*) FROM feed_entries INDEXED BY "
                        "idx_feed_entries_article WHERE article_id >= ? GROUP BY feed_id",
                        [first_id],
                    ).fetchall()
                )
            db.conn.executemany(
                "UPDATE feeds SET article_count = article_count + ? WHERE id = ?",
                [(n, feed_id) for feed_id, n in per_feed.items()],
            )
        if index_after and hash_before != BULK_FTS_HASH_BYTES:
            _set_fts_config(db, "hashsize", hash_before)
    return len(fresh)
