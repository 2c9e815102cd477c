"""Articles and tags: a feed's entries upserted, tags kept in step with their JSON column,
reading state and what fetching an article's page found."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .connection import _one, _rows, chunks, marks, now_iso, site_of, transaction
from .rows import (
    INSERT_ROWS,
    MAX_ERROR_CHARS,
    MAX_SHORT_CHARS,
    MAX_TEXT_CHARS,
    article_row,
    bounded,
    bounded_text,
    insert_articles_sql,
)
from .schema import TAG_COUNT_TRIGGER, trigger_off

if TYPE_CHECKING:
    import sqlite_utils


MAX_TAG = 100
MAX_TAGS = 200
MAX_CONTENT_UPDATES = 24  # hash-only rewrites of one entry before we stop (reader uses 24)
ARTICLE_STATES = ("unread", "read", "archived")


def normalise_tags(tags: Iterable[str]) -> list[str]:
    """Tags as text: trimmed, whitespace collapsed, capped in length and number, first spelling
    kept (tags compare case-insensitively)."""
    out: dict[str, str] = {}
    for tag in tags:
        if tag is None:
            continue
        t = re.sub(r"\s+", " ", bounded_text(str(tag), MAX_SHORT_CHARS)).strip()[:MAX_TAG]
        t = re.sub(r"[\x00-\x1f\x7f]", "", t)
        if t and t.lower() not in out:
            out[t.lower()] = t
        if len(out) >= MAX_TAGS:
            break
    return list(out.values())


_OLD_ENTRY = (
    "SELECT id, title, author, published, updated, content_hash, content_updates, "
    "full_text, url FROM articles WHERE id IN ({marks})"
)


def store_entries(
    db: sqlite_utils.Database,
    feed_id: int,
    records: Sequence[Mapping[str, Any]],
    *,
    feed_fields: Mapping[str, Any] | None = None,
) -> tuple[int, int]:
    """Upsert a feed's prepared entry records in one transaction and update the feed row.

    Each record: key, url, title, author, published, updated, content_html, text, excerpt,
    word_count, reading_time, categories (list), image, content_hash, site. Identity is the
    entry's key within its feed; an entry whose URL is already an article (from another feed,
    or saved by hand) joins that article. Returns (new, updated).

    A handful of statements per feed, whatever its size: known keys and URLs are looked up for
    the whole batch, new articles go in with one multi-row INSERT, their feed entries with one
    executemany (hand-written rather than sqlite-utils' upsert_all: see "Feed refresh" in
    docs/benchmarks.md, one INSERT per feed)."""
    now = now_iso()
    new = updated = 0
    entries = [_entry_values(rec) for rec in records]
    with transaction(db, memory_journal=True):
        row = db.execute("SELECT title, url, tags FROM feeds WHERE id = ?", [feed_id]).fetchone()
        if row is None:
            return 0, 0
        title, url, tags_json = row
        if feed_fields:
            fields = bounded(feed_fields)
            sets = ", ".join(f"{k} = :{k}" for k in fields)
            db.execute(f"UPDATE feeds SET {sets} WHERE id = :_id", {**fields, "_id": feed_id})
            title = fields.get("title", title)
            url = fields.get("url", url)
            tags_json = fields.get("tags", tags_json)
        if not entries:
            return 0, 0
        feed_title = title or url
        feed_tags = json.loads(tags_json or "[]")

        by_key: dict[str, int] = {}
        for chunk in chunks(dict.fromkeys(e["key"] for e in entries)):
            by_key.update(
                db.execute(
                    "SELECT key, article_id FROM feed_entries "
                    f"WHERE feed_id = ? AND key IN ({marks(len(chunk))})",
                    [feed_id, *chunk],
                ).fetchall()
            )
        by_url: dict[str, int] = {}
        urls = dict.fromkeys(e["url"] for e in entries if e["key"] not in by_key and e["url"])
        for chunk in chunks(urls):
            by_url.update(
                db.execute(
                    f"SELECT url, id FROM articles WHERE url IN ({marks(len(chunk))})", chunk
                ).fetchall()
            )
        old_rows: dict[int, dict[str, Any]] = {}
        for chunk in chunks(dict.fromkeys(by_key.values())):
            for old in _rows(db, _OLD_ENTRY.format(marks=marks(len(chunk))), chunk):
                old_rows[old["id"]] = old

        tagged: list[int] = []
        pending: list[tuple[Any, ...]] = []  # rows of new articles, inserted together
        pending_keys: list[str] = []
        pending_urls: set[str] = set()
        next_id = 0
        joined = False

        def flush() -> None:
            for chunk in chunks(pending, INSERT_ROWS):
                db.execute(insert_articles_sql(len(chunk)), [v for r in chunk for v in r])
            db.conn.executemany(
                "INSERT INTO feed_entries (feed_id, key, article_id, first_seen_at) "
                "VALUES (?, ?, ?, ?)",
                [(feed_id, key, r[0], now) for r, key in zip(pending, pending_keys, strict=True)],
            )
            pending.clear()
            pending_keys.clear()
            pending_urls.clear()

        for entry in entries:
            article_id = by_key.get(entry["key"])
            if article_id is None and entry["url"]:
                if entry["url"] in pending_urls:
                    flush()  # the same link twice in one document: the second joins the first
                    by_url[entry["url"]] = int(
                        _one(db, "SELECT id FROM articles WHERE url = ?", [entry["url"]])
                    )
                article_id = by_url.get(entry["url"])
                if article_id is not None:
                    # A changed guid with a stable link, or a story from a second feed.
                    db.execute(
                        "DELETE FROM feed_entries WHERE feed_id = ? AND article_id = ?",
                        [feed_id, article_id],
                    )
                    db.execute(
                        "INSERT INTO feed_entries (feed_id, key, article_id, first_seen_at) "
                        "VALUES (?, ?, ?, ?)",
                        [feed_id, entry["key"], article_id, now],
                    )
                    tagged.append(article_id)
                    joined = True
            if article_id is None:
                if not next_id:
                    next_id = int(_one(db, "SELECT coalesce(max(id), 0) + 1 FROM articles"))
                article_id, next_id = next_id, next_id + 1
                published = entry["published"]
                pending.append(
                    article_row(
                        {
                            **entry,
                            "id": article_id,
                            "sort_date": min(published, now) if published else now,
                            "first_seen_at": now,
                            "feed_id": feed_id,
                            "feed_title": feed_title,
                            "updated_at": now,
                        }
                    )
                )
                pending_keys.append(entry["key"])
                if entry["url"]:
                    pending_urls.add(entry["url"])
                tagged.append(article_id)
                new += 1
            elif _update_entry(db, article_id, entry, now, old=old_rows.get(article_id)):
                updated += 1
        if pending:
            flush()
        if feed_tags and tagged:
            _add_tags(db, tagged, feed_tags)
        if joined:
            db.execute(
                "UPDATE feeds SET article_count = (SELECT count(*) FROM feed_entries "
                "WHERE feed_id = ?) WHERE id = ?",
                [feed_id, feed_id],
            )
        elif new:
            db.execute(
                "UPDATE feeds SET article_count = article_count + ? WHERE id = ?", [new, feed_id]
            )
    return new, updated


def _entry_values(rec: Mapping[str, Any]) -> dict[str, Any]:
    """A feed entry's record as the values of its article (and its `key`). The key and URL,
    looked up at once, are made bindable here; the rest by article_row for a new article and
    by _update_entry for a known one (not twice for every entry)."""
    url = rec.get("url") or None
    return {
        "key": bounded_text(str(rec["key"]), MAX_SHORT_CHARS),
        "url": None if url is None else bounded_text(str(url), MAX_TEXT_CHARS),
        "title": rec.get("title") or "",
        "author": rec.get("author"),
        "published": rec.get("published"),
        "updated": rec.get("updated"),
        "site": rec.get("site") or site_of(rec.get("url")),
        "categories": json.dumps(list(rec.get("categories") or []), ensure_ascii=False),
        "excerpt": rec.get("excerpt"),
        "text": rec.get("text") or "",
        "content_html": rec.get("content_html") or "",
        "word_count": rec.get("word_count") or 0,
        "reading_time": rec.get("reading_time") or 0,
        "image": rec.get("image"),
        "content_hash": rec.get("content_hash"),
        "fetch_status": rec.get("fetch_status"),
    }


def _update_entry(
    db: sqlite_utils.Database,
    article_id: int,
    values: Mapping[str, Any],
    now: str,
    *,
    old: Mapping[str, Any] | None = None,
) -> bool:
    """Update a known entry in place when it changed. User fields (tags, note, state, starred,
    saved) are never touched. Content changes without a new `updated` date are capped, so a feed
    that embeds the time does not rewrite itself forever. `old`: its row, when already read."""
    if old is None:
        row = _rows(db, _OLD_ENTRY.format(marks="?"), [article_id])
        if not row:
            return False
        old = row[0]
    values = bounded(values)
    meta_changed = (
        values["title"] != old["title"]
        or values["author"] != old["author"]
        or values["published"] != old["published"]
        or values["updated"] != old["updated"]
    )
    content_changed = values["content_hash"] != old["content_hash"]
    if not meta_changed and not content_changed:
        return False
    if content_changed and not meta_changed and old["content_updates"] >= MAX_CONTENT_UPDATES:
        return False
    sets = [
        "title = :title",
        "author = :author",
        "published = :published",
        "updated = :updated",
        "categories = :categories",
        "image = coalesce(:image, image)",
        "updated_at = :now",
    ]
    if content_changed:
        sets.append("content_hash = :content_hash")
        sets.append("content_updates = content_updates + " + ("0" if meta_changed else "1"))
        if not old["full_text"]:
            sets += [
                "content_html = :content_html",
                "text = :text",
                "excerpt = :excerpt",
                "word_count = :word_count",
                "reading_time = :reading_time",
            ]
    if values["url"] and values["url"] != old["url"]:
        taken = _one(
            db, "SELECT id FROM articles WHERE url = ? AND id != ?", [values["url"], article_id]
        )
        if taken is None:
            sets.append("url = :url")
            sets.append("site = :site")
    db.execute(
        f"UPDATE articles SET {', '.join(sets)} WHERE id = :id",
        {**values, "now": now, "id": article_id},
    )
    return True


def _tag_ids(db: sqlite_utils.Database, names: Sequence[str]) -> list[int]:
    ids = []
    for name in names:
        db.execute("INSERT INTO tags (name) VALUES (?) ON CONFLICT(name) DO NOTHING", [name])
        ids.append(int(_one(db, "SELECT id FROM tags WHERE name = ?", [name])))
    return ids


def _sync_tags_json(db: sqlite_utils.Database, article_ids: Sequence[int]) -> None:
    for chunk in chunks(article_ids):
        db.execute(
            f"""
            UPDATE articles SET tags = coalesce((
                SELECT json_group_array(name) FROM (
                    SELECT t.name FROM articles_tags at JOIN tags t ON t.id = at.tag_id
                    WHERE at.article_id = articles.id ORDER BY t.name COLLATE NOCASE)
            ), '[]') WHERE id IN ({marks(len(chunk))})
            """,
            chunk,
        )


def _add_tags(db: sqlite_utils.Database, article_ids: Sequence[int], tags: Sequence[str]) -> None:
    tags = normalise_tags(tags)
    if not tags or not article_ids:
        return
    tag_ids = _tag_ids(db, tags)
    db.conn.executemany(
        "INSERT INTO articles_tags (article_id, tag_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [(a, t) for a in article_ids for t in tag_ids],
    )
    _sync_tags_json(db, list(article_ids))


def _remove_tags(
    db: sqlite_utils.Database, article_ids: Sequence[int], tags: Sequence[str]
) -> None:
    for tag in normalise_tags(tags):
        for article_id in article_ids:
            db.execute(
                "DELETE FROM articles_tags WHERE article_id = ? AND tag_id = "
                "(SELECT id FROM tags WHERE name = ?)",
                [article_id, tag],
            )
    _sync_tags_json(db, list(article_ids))


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def resolve_tags(
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
    for chunk in chunks(distinct):  # the tags known already, then the new ones
        # keyed as the column's NOCASE compares: ASCII letters folded, nothing else
        found = {
            str(n).translate(_ASCII_LOWER): (int(i), str(n))
            for i, n in db.execute(
                f"SELECT id, name FROM tags WHERE name IN ({marks(len(chunk))})", chunk
            )
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


def tags_json(pairs: Sequence[tuple[int, str]]) -> str:
    """The JSON `tags` column for resolve_tags' pairs, as _sync_tags_json writes it (so a bulk
    insert writes it with the row, without a second pass)."""
    return "[" + ",".join(json.dumps(name, ensure_ascii=False) for _, name in pairs) + "]"


def article_id_for_url(db: sqlite_utils.Database, url: str) -> int | None:
    value = _one(db, "SELECT id FROM articles WHERE url = ?", [url])
    return None if value is None else int(value)


def change_tags(
    db: sqlite_utils.Database,
    article_id: int,
    *,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
) -> list[str]:
    with transaction(db):
        _add_tags(db, [article_id], add)
        if remove:
            _remove_tags(db, [article_id], remove)
        return list(
            json.loads(_one(db, "SELECT tags FROM articles WHERE id = ?", [article_id]) or "[]")
        )


def _insert_new_pairs(db: sqlite_utils.Database, pairs: Sequence[tuple[int, int]]) -> None:
    """Insert article-tag pairs that cannot exist yet (articles just inserted), counting them
    per tag in one UPDATE each instead of the per-row trigger (most of the time 80,000 pairs
    took with it: see "Import" in docs/benchmarks.md)."""
    if not pairs:
        return
    with trigger_off(db, TAG_COUNT_TRIGGER) as count_after:
        db.conn.executemany("INSERT INTO articles_tags (article_id, tag_id) VALUES (?, ?)", pairs)
    if count_after:
        per_tag: dict[int, int] = {}
        for _, tag_id in pairs:
            per_tag[tag_id] = per_tag.get(tag_id, 0) + 1
        db.conn.executemany(
            "UPDATE tags SET article_count = article_count + ? WHERE id = ?",
            [(n, tag_id) for tag_id, n in per_tag.items()],
        )


def set_state(
    db: sqlite_utils.Database,
    article_id: int,
    *,
    state: str | None = None,
    starred: bool | None = None,
) -> None:
    sets: dict[str, Any] = {"updated_at": now_iso()}
    if state is not None:
        if state not in ARTICLE_STATES:
            raise ValueError(f"unknown state {state!r}")
        sets["state"] = state
        if state in ("read", "archived"):
            sets["read_at"] = now_iso()
        else:
            sets["read_at"] = None
    if starred is not None:
        sets["starred"] = int(starred)
    assignments = ", ".join(f"{k} = :{k}" for k in sets)
    with transaction(db):
        db.execute(f"UPDATE articles SET {assignments} WHERE id = :id", {**sets, "id": article_id})


def pages_due(
    db: sqlite_utils.Database, *, now: str | None = None, limit: int = 10_000
) -> list[dict[str, Any]]:
    """Articles whose page is to be downloaded: saved links pending, and retries whose time came."""
    return _rows(
        db,
        "SELECT a.id, a.url, a.title, a.author, a.published, a.content_html, a.fetch_attempts, "
        "a.feed_id, a.saved, f.full_text AS feed_full_text, f.summaries AS feed_summaries "
        "FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id WHERE a.url IS NOT NULL AND "
        "(a.fetch_status = 'pending' OR (a.fetch_status = 'error' AND a.next_fetch_at <= ?)) "
        "ORDER BY a.id LIMIT ?",
        [now or now_iso(), limit],
    )


def record_page(db: sqlite_utils.Database, article_id: int, fields: Mapping[str, Any]) -> None:
    """Store what extraction found on an article's page. Blank fields do not erase known ones."""
    fields = {k: v for k, v in fields.items() if v not in (None, "")}
    fields = {
        **fields,
        "fetch_status": fields.get("fetch_status", "ok"),
        "fetch_error": None,
        "updated_at": now_iso(),
    }
    if "site" in fields and not fields["site"]:
        del fields["site"]
    assignments = ", ".join(f"{k} = :{k}" for k in fields)
    with transaction(db):
        db.execute(
            f"UPDATE articles SET {assignments} WHERE id = :_id",
            {**bounded(fields), "_id": article_id},
        )
        if "text" in fields:
            from .highlights import reanchor

            reanchor(db, [article_id])


def record_page_error(
    db: sqlite_utils.Database,
    article_id: int,
    message: str,
    *,
    next_fetch_at: str | None,
    status: str = "error",
) -> None:
    with transaction(db):
        db.execute(
            "UPDATE articles SET fetch_status = ?, fetch_error = ?, "
            "fetch_attempts = fetch_attempts + 1, next_fetch_at = ?, updated_at = ? WHERE id = ?",
            [status, bounded_text(message, MAX_ERROR_CHARS), next_fetch_at, now_iso(), article_id],
        )
