"""Saved links: one link saved by hand, or many at once from an import, with set-based SQL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import DatabaseError
from .articles import (
    ARTICLE_STATES,
    MAX_TAGS,
    _add_tags,
    _insert_new_pairs,
    _sync_tags_json,
    normalise_tags,
)
from .connection import _one, _rows, now_iso, site_of, transaction
from .schema import FTS_COLUMNS, _facet_count_triggers, count_facets

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
                f"UPDATE articles SET {assignments} WHERE id = :id", {**sets, "id": article_id}
            )
            created = False
        else:
            when = saved_at or now
            values = {
                "url": url,
                "title": title or "",
                "sort_date": min(when, now),
                "now": now,
                "site": site_of(url),
                "saved_at": when,
                "note": note,
                "state": state if state in ARTICLE_STATES else "unread",
                "starred": int(bool(starred)),
                "excerpt": excerpt,
                "fetch_status": "pending",
            }
            if content:
                values.update(
                    {
                        k: content.get(k)
                        for k in ("text", "content_html", "word_count", "reading_time")
                    }
                )
            cursor = db.execute(
                """
                INSERT INTO articles (url, title, sort_date, first_seen_at, site, saved, saved_at,
                    note, state, starred, excerpt, fetch_status, updated_at, text, content_html,
                    word_count, reading_time)
                VALUES (:url, :title, :sort_date, :now, :site, 1, :saved_at, :note, :state,
                    :starred, :excerpt, :fetch_status, :now, coalesce(:text, ''),
                    coalesce(:content_html, ''), coalesce(:word_count, 0),
                    coalesce(:reading_time, 0))
                """,
                {
                    "text": None,
                    "content_html": None,
                    "word_count": None,
                    "reading_time": None,
                    **values,
                },
            )
            article_id = int(cursor.lastrowid or 0)
            created = True
        if tags:
            _add_tags(db, [article_id], tags)
        return article_id, created


BULK_INDEX_AFTER = 1_000  # new rows from which a bulk save indexes them for search in one go
BULK_CACHE_KIB = 65_536  # SQLite page cache while a bulk save inserts

_BULK_INSERT = """
    INSERT INTO articles (url, title, sort_date, first_seen_at, site, saved, saved_at, note, state,
        starred, excerpt, fetch_status, full_text, updated_at, text, content_html, word_count,
        reading_time, tags)
    VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
_BULK_USER_FIELDS = ("saved", "saved_at", "note", "state", "starred", "fetch_status")


def _merge_repeats(links: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """One record per URL: tags combined, first title, earliest saved_at, later values win."""
    merged: dict[str, Mapping[str, Any]] = {}
    copied: set[str] = set()
    for link in links:
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


def _ai_trigger_sql() -> str:
    cols = ", ".join(FTS_COLUMNS)
    new = ", ".join(f"new.{c}" for c in FTS_COLUMNS)
    return (
        f"CREATE TRIGGER articles_ai AFTER INSERT ON articles BEGIN "
        f"INSERT INTO articles_fts(rowid, {cols}) VALUES (new.id, {new}); END"
    )


_AUTHORITY = re.compile(r"^[^:/?#]*://([^/?#]*)")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _resolve_tags(
    db: sqlite_utils.Database, lists: Iterable[Sequence[str]]
) -> dict[tuple[str, ...], list[tuple[int, str]]]:
    """Each list of tags as (tag id, stored spelling) pairs, created where new, in the order of
    the JSON `tags` column (the stored names under SQLite's NOCASE, which folds ASCII only)."""
    cleaned: dict[str, str | None] = {}
    wanted: dict[tuple[str, ...], list[str]] = {}
    for tags in lists:  # normalise_tags, one distinct tag at a time
        key = tuple(tags)
        if not key or key in wanted:
            continue
        names: dict[str, str] = {}
        for raw in key:
            if raw not in cleaned:
                cleaned[raw] = next(iter(normalise_tags([raw])), None)
            name = cleaned[raw]
            if name is not None and len(names) < MAX_TAGS:
                names.setdefault(name.lower(), name)
        wanted[key] = list(names.values())
    by_name: dict[str, tuple[int, str]] = {}
    distinct = sorted({name for names in wanted.values() for name in names})
    for start in range(0, len(distinct), 500):  # the tags known already, then the new ones
        chunk = distinct[start : start + 500]
        marks = ",".join("?" * len(chunk))
        # keyed as the column's NOCASE compares: ASCII letters folded, nothing else
        found = {
            str(n).translate(_ASCII_LOWER): (int(i), str(n))
            for i, n in db.execute(f"SELECT id, name FROM tags WHERE name IN ({marks})", chunk)
        }
        for name in chunk:
            fold = name.translate(_ASCII_LOWER)
            if fold not in found:
                db.execute(
                    "INSERT INTO tags (name) VALUES (?) ON CONFLICT(name) DO NOTHING", [name]
                )
                row = db.execute("SELECT id, name FROM tags WHERE name = ?", [name]).fetchone()
                found[fold] = (int(row[0]), str(row[1]))
            by_name[name] = found[fold]
    order = {stored: stored.translate(_ASCII_LOWER) for _, stored in by_name.values()}
    out: dict[tuple[str, ...], list[tuple[int, str]]] = {}
    for key, chosen in wanted.items():
        resolved = dict(by_name[name] for name in chosen)
        out[key] = sorted(resolved.items(), key=lambda pair: order[pair[1]])
    return out


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
        urls = list(merged)
        for start in range(0, len(urls), 500):
            chunk = urls[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for known in _rows(
                db,
                "SELECT id, url, saved, saved_at, title, note, state, starred, "
                f"fetch_status FROM articles WHERE url IN ({marks})",
                chunk,
            ):
                found[known["url"]] = known
        tag_lists = _resolve_tags(db, (link.get("tags") or () for link in merged.values()))
        encoded = {
            name: json.dumps(name, ensure_ascii=False)
            for pairs in tag_lists.values()
            for _, name in pairs
        }
        sites: dict[str, str | None] = {}
        changed: list[dict[str, Any]] = []
        retitled: list[dict[str, Any]] = []
        fresh: list[tuple[Any, ...]] = []  # rows in the order of _BULK_INSERT's columns
        fresh_tags: list[list[tuple[int, str]]] = []
        old_pairs: list[tuple[int, int]] = []
        for url, link in merged.items():
            tags = tag_lists.get(tuple(link.get("tags") or ()), [])
            row = found.get(url)
            if row is None:
                when = link.get("saved_at") or now
                content = link.get("content") or {}
                authority = _AUTHORITY.match(url)
                key = authority.group(1) if authority else url
                if key not in sites:
                    sites[key] = site_of(url)
                state = link.get("state")
                fresh.append(
                    (
                        url,
                        link.get("title") or "",
                        min(when, now),
                        now,
                        sites[key],
                        when,
                        link.get("note"),
                        state if state in ARTICLE_STATES else "unread",
                        int(bool(link.get("starred"))),
                        link.get("excerpt"),
                        "ok" if content else "pending",
                        int(bool(content)),
                        now,
                        content.get("text") or "",
                        content.get("content_html") or "",
                        content.get("word_count") or 0,
                        content.get("reading_time") or 0,
                        # the JSON column as _sync_tags_json writes it, without a second pass
                        "[" + ",".join(encoded[name] for _, name in tags) + "]",
                    )
                )
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
                retitled.append({"id": row["id"], "title": link["title"], "now": now})
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
            # Index after inserting: one FTS5 statement instead of a trigger per row. Only when
            # the trigger is the one this module made (else it is left to do its work).
            trigger = _one(
                db, "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'articles_ai'"
            )
            index_after = len(fresh) >= BULK_INDEX_AFTER and trigger == _ai_trigger_sql()
            if index_after:
                db.execute("DROP TRIGGER articles_ai")
            if len(fresh) >= BULK_INDEX_AFTER:
                # A page cache that holds the indexes being filled (measured: 100,000 rows go
                # in 1.7x faster with 64 MB than with the default 2 MB). The connection keeps
                # it: an import calls this once per chunk.
                cache_size = int(_one(db, "PRAGMA cache_size"))
                if cache_size > -BULK_CACHE_KIB:
                    db.execute(f"PRAGMA cache_size = {-BULK_CACHE_KIB}")
            facet_trigger = _facet_count_triggers()[0]
            count_after = (
                len(fresh) >= BULK_INDEX_AFTER
                and _one(
                    db,
                    "SELECT sql FROM sqlite_master WHERE type = 'trigger' "
                    "AND name = 'articles_facets_ai'",
                )
                == facet_trigger
            )
            if count_after:  # six upserts per row -> six GROUP BYs over the new rows
                db.execute("DROP TRIGGER articles_facets_ai")
            db.conn.executemany(_BULK_INSERT, fresh)
            if count_after:
                count_facets(db, from_id=first_id)
                db.execute(facet_trigger)
            if index_after:
                cols = ", ".join(FTS_COLUMNS)
                db.execute(
                    f"INSERT INTO articles_fts(rowid, {cols}) "
                    f"SELECT id, {cols} FROM articles WHERE id >= ? ORDER BY id",
                    [first_id],
                )
                db.execute(trigger)
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
        for start in range(0, len(touched), 500):
            some = touched[start : start + 500]
            marks = ",".join("?" * len(some))
            have.update(
                db.execute(
                    f"SELECT article_id, tag_id FROM articles_tags WHERE article_id IN ({marks})",
                    some,
                ).fetchall()
            )
        missing = [pair for pair in old_pairs if pair not in have]
        db.conn.executemany(insert_pair, missing)
        _sync_tags_json(db, sorted({a for a, _ in missing}))
    return len(fresh), len(merged) - len(fresh)
