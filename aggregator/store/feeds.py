"""Feeds: subscribing, listing, scheduling state, errors, moves and removal."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .articles import _add_tags, normalise_tags
from .connection import _rows, now_iso, transaction
from .rows import MAX_ERROR_CHARS, MAX_TEXT_CHARS, bindable, bounded, bounded_text

if TYPE_CHECKING:
    import sqlite_utils


def get_feed(db: sqlite_utils.Database, url: str) -> dict[str, Any] | None:
    rows = _rows(db, "SELECT * FROM feeds WHERE url = ?", [url])
    return rows[0] if rows else None


def get_feed_by_id(db: sqlite_utils.Database, feed_id: int) -> dict[str, Any] | None:
    rows = _rows(db, "SELECT * FROM feeds WHERE id = ?", [feed_id])
    return rows[0] if rows else None


def add_feed(
    db: sqlite_utils.Database,
    url: str,
    *,
    title: str | None = None,
    site_url: str | None = None,
    tags: Iterable[str] = (),
    full_text: bool | None = None,
    status: str = "ok",
    note: str | None = None,
) -> tuple[int, bool]:
    """Add a feed, or merge tags (and fill blanks) into the existing one. Returns (id, created)."""
    tags = normalise_tags(tags)
    with transaction(db):
        existing = get_feed(db, url)
        if existing:
            merged = normalise_tags(json.loads(existing["tags"]) + tags)
            updates: dict[str, Any] = {"tags": json.dumps(merged, ensure_ascii=False)}
            if title and not existing["title"]:
                updates["title"] = title
            if site_url and not existing["site_url"]:
                updates["site_url"] = site_url
            if full_text is not None:
                updates["full_text"] = int(full_text)
            sets = ", ".join(f"{k} = :{k}" for k in updates)
            db.execute(
                f"UPDATE feeds SET {sets} WHERE id = :id",
                {**bounded(updates), "id": existing["id"]},
            )
            if tags:
                ids = [
                    r[0]
                    for r in db.execute(
                        "SELECT article_id FROM feed_entries WHERE feed_id = ?", [existing["id"]]
                    )
                ]
                _add_tags(db, ids, tags)
            return int(existing["id"]), False
        cursor = db.execute(
            "INSERT INTO feeds (url, title, site_url, tags, full_text, status, created_at, note) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                bindable(url, MAX_TEXT_CHARS),
                bindable(title),
                bindable(site_url, MAX_TEXT_CHARS),
                json.dumps(tags, ensure_ascii=False),
                None if full_text is None else int(full_text),
                status,
                now_iso(),
                bindable(note, MAX_TEXT_CHARS),
            ],
        )
        return int(cursor.lastrowid or 0), True


def add_feeds_bulk(
    db: sqlite_utils.Database, feeds: Sequence[Mapping[str, Any]]
) -> tuple[int, int]:
    """Add many feeds in one transaction (imports). Each mapping: url, title, site_url, tags.
    Returns (added, updated)."""
    added = updated = 0
    with transaction(db):
        for feed in feeds:
            _, created = add_feed(
                db,
                feed["url"],
                title=feed.get("title"),
                site_url=feed.get("site_url"),
                tags=feed.get("tags") or (),
            )
            if created:
                added += 1
            else:
                updated += 1
    return added, updated


def remove_feed(db: sqlite_utils.Database, url: str) -> bool:
    """Delete a feed and its articles, except articles the user saved, starred, noted or tagged
    by hand, or that another feed also carries: those stay."""
    with transaction(db):
        feed = get_feed(db, url)
        if not feed:
            return False
        feed_id = feed["id"]
        db.execute(
            """
            DELETE FROM articles WHERE id IN (
                SELECT fe.article_id FROM feed_entries fe JOIN articles a ON a.id = fe.article_id
                WHERE fe.feed_id = :f AND a.saved = 0 AND a.starred = 0 AND a.note IS NULL
                  AND NOT EXISTS (SELECT 1 FROM feed_entries o
                                  WHERE o.article_id = fe.article_id AND o.feed_id != :f)
            )
            """,
            {"f": feed_id},
        )
        db.execute("DELETE FROM feed_entries WHERE feed_id = ?", [feed_id])
        db.execute("UPDATE articles SET feed_id = NULL WHERE feed_id = ?", [feed_id])
        db.execute("DELETE FROM feeds WHERE id = ?", [feed_id])
        return True


def list_feeds(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    rows = _rows(db, "SELECT * FROM feeds ORDER BY lower(coalesce(title, url))")
    for row in rows:
        row["tags"] = json.loads(row["tags"] or "[]")
    return rows


def feeds_due(
    db: sqlite_utils.Database, *, now: str | None = None, all: bool = False
) -> list[dict[str, Any]]:
    """Feeds to refresh: active ones (`ok`, `failing`) whose next check time has come, or every
    active one with `all`. Gone and paused feeds never: `aggregator resume` brings them back."""
    if all:
        return _rows(db, "SELECT * FROM feeds WHERE status IN ('ok', 'failing') ORDER BY id")
    return _rows(
        db,
        "SELECT * FROM feeds WHERE status IN ('ok', 'failing') "
        "AND (next_check_at IS NULL OR next_check_at <= ?) ORDER BY id",
        [now or now_iso()],
    )


def update_feed(db: sqlite_utils.Database, feed_id: int, **fields: Any) -> None:
    if not fields:
        return
    sets = ", ".join(f"{k} = :{k}" for k in fields)
    with transaction(db):
        db.execute(f"UPDATE feeds SET {sets} WHERE id = :_id", {**bounded(fields), "_id": feed_id})


def record_feed_error(
    db: sqlite_utils.Database,
    feed_id: int,
    message: str,
    *,
    status: str = "failing",
    next_check_at: str | None = None,
) -> None:
    now = now_iso()
    with transaction(db):
        db.execute(
            "UPDATE feeds SET last_error = ?, last_error_at = ?, last_fetched_at = ?, "
            "error_count = error_count + 1, status = ?, next_check_at = ? WHERE id = ?",
            [bounded_text(message, MAX_ERROR_CHARS), now, now, status, next_check_at, feed_id],
        )


def move_feed(db: sqlite_utils.Database, feed_id: int, new_url: str) -> bool:
    """Point a feed at its new permanent address. False when another feed already has it."""
    with transaction(db):
        if get_feed(db, new_url):
            return False
        db.execute("UPDATE feeds SET url = ? WHERE id = ?", [new_url, feed_id])
        return True


def retitle_articles(db: sqlite_utils.Database, feed_id: int, title: str) -> None:
    """Give a feed's articles its new title (their `feed_title`, shown and searched)."""
    with transaction(db):
        db.execute(
            "UPDATE articles SET feed_title = ? WHERE feed_id = ? AND feed_title IS NOT ?",
            [title, feed_id, title],
        )


def learn_feed_summaries(db: sqlite_utils.Database, feed_id: int, summaries: bool) -> int:
    """Remember whether a feed's entries are summaries of longer pages. When they are, queue
    the pages of its entries that have no full text yet; returns how many were queued."""
    with transaction(db):
        db.execute("UPDATE feeds SET summaries = ? WHERE id = ?", [int(summaries), feed_id])
        if not summaries:
            return 0
        cursor = db.execute(
            "UPDATE articles SET fetch_status = 'pending' WHERE feed_id = ? AND full_text = 0 "
            "AND fetch_status IS NULL AND url IS NOT NULL",
            [feed_id],
        )
        return int(cursor.rowcount or 0)
