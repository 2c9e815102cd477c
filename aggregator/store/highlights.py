"""Highlights: passages a reader marked in an article, each with an optional note, anchored by
their text so that they survive the page being fetched again (a quote whose text is gone is kept
and flagged, never dropped). Searchable through `highlights_fts` with the articles."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import AggregatorError
from .articles import normalise_tags
from .connection import _one, _rows, now_iso, transaction
from .rows import bounded_text

if TYPE_CHECKING:
    import sqlite_utils

MAX_QUOTE_CHARS = 10_000
MAX_NOTE_CHARS = 10_000
_SPACE = re.compile(r"\s+")

SCHEMA = (
    """CREATE TABLE highlights (
        id INTEGER PRIMARY KEY,
        article_id INTEGER NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
        quote TEXT NOT NULL,
        quote_key TEXT NOT NULL,      -- the quote squashed: whitespace and case do not count
        note TEXT,
        position INTEGER,             -- where the quote starts in the squashed article text
        anchored INTEGER NOT NULL DEFAULT 1,  -- 0: the article's text no longer holds it
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (article_id, quote_key)
    )""",
    "CREATE INDEX idx_highlights_created ON highlights(created_at)",
    """CREATE VIRTUAL TABLE highlights_fts USING fts5(
        quote, note, content="highlights", content_rowid="id",
        tokenize="unicode61 remove_diacritics 2"
    )""",
    "CREATE TRIGGER highlights_ai AFTER INSERT ON highlights BEGIN "
    "INSERT INTO highlights_fts(rowid, quote, note) VALUES (new.id, new.quote, new.note); END",
    "CREATE TRIGGER highlights_ad AFTER DELETE ON highlights BEGIN "
    "INSERT INTO highlights_fts(highlights_fts, rowid, quote, note) "
    "VALUES ('delete', old.id, old.quote, old.note); END",
    "CREATE TRIGGER highlights_au AFTER UPDATE OF quote, note ON highlights BEGIN "
    "INSERT INTO highlights_fts(highlights_fts, rowid, quote, note) "
    "VALUES ('delete', old.id, old.quote, old.note); "
    "INSERT INTO highlights_fts(rowid, quote, note) VALUES (new.id, new.quote, new.note); END",
)


def squash(text: str) -> str:
    """Text as quotes are compared: runs of whitespace made one space, lower case."""
    return _SPACE.sub(" ", text).strip().lower()


def locate(text: str | None, quote: str) -> int | None:
    """Where `quote` starts in the squashed `text`, or None when it is not there."""
    if not text:
        return None
    found = squash(text).find(squash(quote))
    return found if found >= 0 else None


def _clean(quote: str, note: str | None) -> tuple[str, str | None]:
    quote = bounded_text(_SPACE.sub(" ", quote or "").strip(), MAX_QUOTE_CHARS) or ""
    if not quote:
        raise AggregatorError("a highlight needs the text it quotes")
    note = bounded_text((note or "").strip(), MAX_NOTE_CHARS) or None
    return quote, note


def add_highlight(
    db: sqlite_utils.Database,
    article_id: int,
    quote: str,
    *,
    note: str | None = None,
    created_at: str | None = None,
    require_anchor: bool = True,
) -> tuple[int, bool]:
    """Keep a highlight of an article; (its id, whether it is new). The same quote of the same
    article again (whitespace and case aside) updates its note rather than adding a second one.
    With `require_anchor`, a quote that is not in the article's text is refused with a one-line
    error; imports keep it flagged instead (the text may come later)."""
    quote, note = _clean(quote, note)
    text = _one(db, "SELECT text FROM articles WHERE id = ?", [article_id])
    position = locate(text, quote)
    if position is None and require_anchor:
        raise AggregatorError("the quote is not in the article's text (whitespace aside)")
    key = squash(quote)
    now = now_iso()
    with transaction(db):
        existing = db.execute(
            "SELECT id, note FROM highlights WHERE article_id = ? AND quote_key = ?",
            [article_id, key],
        ).fetchone()
        if existing:
            if note is not None and note != existing[1]:
                db.execute(
                    "UPDATE highlights SET note = ?, updated_at = ? WHERE id = ?",
                    [note, now, existing[0]],
                )
            return int(existing[0]), False
        cursor = db.execute(
            "INSERT INTO highlights (article_id, quote, quote_key, note, position, anchored, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                article_id,
                quote,
                key,
                note,
                position,
                int(position is not None),
                created_at or now,
                now,
            ],
        )
        return int(cursor.lastrowid or 0), True


def remove_highlight(db: sqlite_utils.Database, highlight_id: int) -> bool:
    with transaction(db):
        cursor = db.execute("DELETE FROM highlights WHERE id = ?", [highlight_id])
    return bool(cursor.rowcount)


def reanchor(db: sqlite_utils.Database, article_ids: Iterable[int]) -> None:
    """Find each highlight of these articles again in their current text (after a fetch):
    still there, it keeps its place; gone, it is kept and flagged (`anchored` = 0)."""
    for article_id in article_ids:
        rows = db.execute(
            "SELECT h.id, h.quote, a.text FROM highlights h JOIN articles a "
            "ON a.id = h.article_id WHERE h.article_id = ?",
            [article_id],
        ).fetchall()
        if not rows:
            continue
        with transaction(db):
            for highlight_id, quote, text in rows:
                position = locate(text, quote)
                db.execute(
                    "UPDATE highlights SET position = ?, anchored = ? WHERE id = ?",
                    [position, int(position is not None), highlight_id],
                )


_SELECT = """
    SELECT h.id, h.article_id, a.url, a.title, h.quote, h.note, h.position, h.anchored,
           h.created_at, h.updated_at
    FROM highlights h JOIN articles a ON a.id = h.article_id
"""


def list_highlights(
    db: sqlite_utils.Database,
    *,
    tags: Sequence[str] = (),
    url: str | None = None,
    article_ids: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """Highlights, newest first (those of one article in the order of its text when `url` or
    `article_ids` narrows them)."""
    where: list[str] = []
    params: list[Any] = []
    for tag in normalise_tags(tags):
        where.append(
            "EXISTS (SELECT 1 FROM articles_tags at JOIN tags t ON t.id = at.tag_id "
            "WHERE at.article_id = h.article_id AND t.name = ?)"
        )
        params.append(tag)
    if url:
        where.append("a.url = ?")
        params.append(url)
    if article_ids is not None:
        ids = [int(i) for i in article_ids][:10_000]
        if not ids:
            return []
        where.append(f"h.article_id IN ({','.join('?' * len(ids))})")
        params.extend(ids)
    order = (
        "h.article_id, coalesce(h.position, 1e18), h.id"
        if url or article_ids is not None
        else "h.created_at DESC, h.id DESC"
    )
    sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "") + f" ORDER BY {order}"
    rows = _rows(db, sql, params)
    for row in rows:
        row["anchored"] = bool(row["anchored"])
    return rows


def highlights_by_article(
    db: sqlite_utils.Database, article_ids: Sequence[int]
) -> dict[int, list[dict[str, Any]]]:
    """Each article's highlights as exports carry them: {quote, note, created_at}."""
    found: dict[int, list[dict[str, Any]]] = {}
    wanted = [int(i) for i in article_ids]
    for start in range(0, len(wanted), 500):
        for row in list_highlights(db, article_ids=wanted[start : start + 500]):
            found.setdefault(row["article_id"], []).append(
                {"quote": row["quote"], "note": row["note"], "created_at": row["created_at"]}
            )
    return found
