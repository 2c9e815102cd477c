"""Saved links: one link saved by hand, or many at once from an import, with set-based SQL."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import DatabaseError
from .articles import (
    ARTICLE_STATES,
    _add_tags,
    _insert_new_pairs,
    _sync_tags_json,
    resolve_tags,
    tags_json,
)
from .connection import _one, _rows, chunks, marks, now_iso, site_of, transaction
from .rows import (
    INSERT_ARTICLE,
    MAX_TEXT_CHARS,
    article_row,
    bounded,
    bounded_text,
    insert_columns,
)
from .schema import (
    FACET_INSERT_TRIGGER,
    FTS_INSERT_TRIGGER,
    count_facets,
    index_for_search,
    trigger_off,
)

if TYPE_CHECKING:
    import sqlite_utils


def save_link(
    db: sqlite_utils.Database,
    url: str,
    *,
    tags: Sequence[str] = (),
    note: str | None = None,
    title: str | None = None,
    saved_at: str | None = None,
    state: str | None = None,
    starred: bool | None = None,
    excerpt: str | None = None,
    content: Mapping[str, Any] | None = None,
) -> tuple[int, bool]:
    """Save a link: a new pending article, or the existing one marked saved. Saving again merges
    tags, keeps the first saved_at, and replaces the note only when a new one is given.
    Returns (article id, created)."""
    now = now_iso()
    url = bounded_text(url, MAX_TEXT_CHARS)
    with transaction(db):
        existing = _rows(
            db, "SELECT id, saved, saved_at, title, fetch_status FROM articles WHERE url = ?", [url]
        )
        if existing:
            row = existing[0]
            article_id = int(row["id"])
            first = row["saved_at"]
            if saved_at and first:
                first = min(first, saved_at)
            first = first or saved_at or now
            sets = {"saved": 1, "saved_at": first, "updated_at": now}
            if note:
                sets["note"] = note
            if title and not row["title"]:
                sets["title"] = title
            if state in ARTICLE_STATES:
                sets["state"] = state
            if starred:
                sets["starred"] = 1
            if (row["fetch_status"] is None and not row["title"]) or row["fetch_status"] in (
                "error",
                "failed",
            ):
                # never fetched, or failed before: saving it again asks for the page again
                sets["fetch_status"] = "pending"
                sets["next_fetch_at"] = None
            assignments = ", ".join(f"{k} = :{k}" for k in sets)
            db.execute(
                f"UPDATE articles SET {assignments} WHERE id = :id",
                {**bounded(sets), "id": article_id},
            )
            created = False
        else:
            when = saved_at or now
            content = content or {}
            cursor = db.execute(
                INSERT_ARTICLE,
                article_row(
                    {
                        "url": url,
                        "title": title,
                        "sort_date": min(when, now),
                        "first_seen_at": now,
                        "site": site_of(url),
                        "saved": 1,
                        "saved_at": when,
                        "note": note,
                        "state": state if state in ARTICLE_STATES else "unread",
                        "starred": int(bool(starred)),
                        "excerpt": excerpt,
                        "fetch_status": "pending",
                        "updated_at": now,
                        "text": content.get("text"),
                        "content_html": content.get("content_html"),
                        "word_count": content.get("word_count"),
                        "reading_time": content.get("reading_time"),
                    }
                ),
            )
            article_id = int(cursor.lastrowid or 0)
            created = True
        if tags:
            _add_tags(db, [article_id], tags)
        return article_id, created


BULK_INDEX_AFTER = 1_000  # new rows from which a bulk save indexes them for search in one go
BULK_CACHE_KIB = 65_536  # SQLite page cache while a bulk save inserts

_BULK_USER_FIELDS = ("saved", "saved_at", "note", "state", "starred", "fetch_status")


def _merge_repeats(links: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """One record per URL: tags combined, first title, earliest saved_at, later values win."""
    merged: dict[str, Mapping[str, Any]] = {}
    copied: set[str] = set()
    for link in links:
        if not link["url"].isascii():
            link = {**link, "url": bounded_text(link["url"], MAX_TEXT_CHARS)}
        first = merged.get(link["url"])
        if first is None:
            merged[link["url"]] = link
            continue
        if link["url"] not in copied:  # copied only when a URL repeats
            copied.add(link["url"])
            merged[link["url"]] = first = {**first, "tags": list(first.get("tags") or ())}
        item: dict[str, Any] = first  # type: ignore[assignment]
        item["tags"] += list(link.get("tags") or ())
        item["title"] = item.get("title") or link.get("title")
        when = link.get("saved_at")
        if when and (not item.get("saved_at") or when < item["saved_at"]):
            item["saved_at"] = when
        for key in ("note", "excerpt", "state", "content"):
            if link.get(key):
                item[key] = link[key]
        item["starred"] = bool(item.get("starred") or link.get("starred"))
    return merged


_AUTHORITY = re.compile(r"^[^:/?#]*://([^/?#]*)")


def save_links_bulk(
    db: sqlite_utils.Database, links: Sequence[Mapping[str, Any]]
) -> tuple[int, int]:
    """Save many links in one transaction with set-based SQL (imports). The rules of save_link
    (tags merged, earliest saved_at kept, a note replaced only by a new one, a blank title
    filled, state and star taken from the file), except that an existing row is written only when
    a value changes, so saving the same links twice changes nothing. Each mapping: url, title,
    tags, note, saved_at, state, starred, excerpt, and content (text, content_html, word_count,
    reading_time) when the file holds the article. Many new rows are indexed for full-text search
    in one statement after they are inserted, not row by row. Returns (added, existing)."""
    now = now_iso()
    merged = _merge_repeats(links)
    if not merged:
        return 0, 0
    with transaction(db):
        found: dict[str, dict[str, Any]] = {}
        for chunk in chunks(merged):
            for known in _rows(
                db,
                "SELECT id, url, saved, saved_at, title, note, state, starred, "
                f"fetch_status FROM articles WHERE url IN ({marks(len(chunk))})",
                chunk,
            ):
                found[known["url"]] = known
        tag_lists = resolve_tags(db, (link.get("tags") or () for link in merged.values()))
        json_of = {key: tags_json(pairs) for key, pairs in tag_lists.items()}
        sites: dict[str, str | None] = {}
        changed: list[dict[str, Any]] = []
        retitled: list[dict[str, Any]] = []
        fresh: list[tuple[Any, ...]] = []  # rows of article_row
        link_keys: Iterable[str] = ()  # what each new row's values set (the same for all)
        fresh_tags: list[list[tuple[int, str]]] = []
        old_pairs: list[tuple[int, int]] = []
        for url, link in merged.items():
            tag_key = tuple(link.get("tags") or ())
            tags = tag_lists.get(tag_key, [])
            row = found.get(url)
            if row is None:
                when = link.get("saved_at") or now
                content = link.get("content") or {}
                authority = _AUTHORITY.match(url)
                key = authority.group(1) if authority else url
                if key not in sites:
                    sites[key] = site_of(url)
                state = link.get("state")
                values = {
                    "url": url,
                    "title": link.get("title"),
                    "sort_date": min(when, now),
                    "first_seen_at": now,
                    "site": sites[key],
                    "saved": 1,
                    "saved_at": when,
                    "note": link.get("note"),
                    "state": state if state in ARTICLE_STATES else "unread",
                    "starred": int(bool(link.get("starred"))),
                    "excerpt": link.get("excerpt"),
                    "fetch_status": "ok" if content else "pending",
                    "full_text": int(bool(content)),
                    "updated_at": now,
                    "text": content.get("text"),
                    "content_html": content.get("content_html"),
                    "word_count": content.get("word_count"),
                    "reading_time": content.get("reading_time"),
                    "tags": json_of.get(tag_key, "[]"),
                }
                fresh.append(article_row(values))
                link_keys = values.keys()
                fresh_tags.append(tags)
                continue
            old_pairs += [(int(row["id"]), tag_id) for tag_id, _ in tags]
            first = row["saved_at"]
            if link.get("saved_at") and first:
                first = min(first, link["saved_at"])
            new = {
                "saved": 1,
                "saved_at": first or link.get("saved_at") or now,
                "note": link.get("note") or row["note"],
                "state": link["state"] if link.get("state") in ARTICLE_STATES else row["state"],
                "starred": 1 if link.get("starred") else row["starred"],
                "fetch_status": row["fetch_status"],
            }
            if row["fetch_status"] is None and not row["title"]:
                new["fetch_status"] = "pending"
            if link.get("title") and not row["title"]:
                retitled.append({**bounded({"title": link["title"]}), "id": row["id"], "now": now})
            new = bounded(new)
            if any(new[k] != row[k] for k in _BULK_USER_FIELDS):
                changed.append({**new, "id": row["id"], "now": now})
        if changed:
            db.conn.executemany(
                "UPDATE articles SET saved = :saved, saved_at = :saved_at, note = :note, "
                "state = :state, starred = :starred, fetch_status = :fetch_status, "
                "updated_at = :now WHERE id = :id",
                changed,
            )
        if retitled:  # apart, so that only these rows go through the full-text update trigger
            db.conn.executemany(
                "UPDATE articles SET title = :title, updated_at = :now WHERE id = :id", retitled
            )
        insert_pair = (
            "INSERT INTO articles_tags (article_id, tag_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
        )
        if fresh:
            first_id = int(_one(db, "SELECT coalesce(max(id), 0) + 1 FROM articles"))
            many = len(fresh) >= BULK_INDEX_AFTER
            if many:
                # A page cache that holds the indexes being filled (see "Import" in
                # docs/benchmarks.md). The connection keeps it: an import calls this per chunk.
                cache_size = int(_one(db, "PRAGMA cache_size"))
                if cache_size > -BULK_CACHE_KIB:
                    db.execute(f"PRAGMA cache_size = {-BULK_CACHE_KIB}")
            # Many rows are indexed for search and counted for facets after they are inserted:
            # one statement each instead of triggers per row.
            with (
                trigger_off(db, FTS_INSERT_TRIGGER, when=many) as index_after,
                trigger_off(db, FACET_INSERT_TRIGGER, when=many) as count_after,
            ):
                insert, pick = insert_columns(link_keys)
                db.conn.executemany(insert, map(pick, fresh))
                if count_after:
                    count_facets(db, from_id=first_id)
                if index_after:
                    index_for_search(db, from_id=first_id)
            # Rows got consecutive ids from first_id (INTEGER PRIMARY KEY takes max + 1).
            last = int(_one(db, "SELECT max(id) FROM articles"))
            if last != first_id + len(fresh) - 1:
                raise DatabaseError(f"bulk insert: ids {first_id}..{last} for {len(fresh)} rows")
            _insert_new_pairs(
                db,
                [(first_id + i, tag_id) for i, tags in enumerate(fresh_tags) for tag_id, _ in tags],
            )
        # On existing rows only pairs not there yet count: their JSON column is rewritten.
        have: set[tuple[int, int]] = set()
        touched = sorted({a for a, _ in old_pairs})
        for some in chunks(touched):
            have.update(
                db.execute(
                    "SELECT article_id, tag_id FROM articles_tags "
                    f"WHERE article_id IN ({marks(len(some))})",
                    some,
                ).fetchall()
            )
        missing = [pair for pair in old_pairs if pair not in have]
        db.conn.executemany(insert_pair, missing)
        _sync_tags_json(db, sorted({a for a, _ in missing}))
    return len(fresh), len(merged) - len(fresh)
