"""Reading articles back: filters, export rows, and the ranked full-text search."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .articles import normalise_tags
from .connection import _rows

if TYPE_CHECKING:
    import sqlite_utils


_SELECT_ARTICLE = """
    SELECT a.id, a.url, a.title, a.author, a.published, a.updated, f.url AS feed_url,
           a.feed_title AS feed_title, a.site, a.tags, a.text, a.content_html, a.excerpt,
           a.saved, a.saved_at, a.state, a.starred, a.note, a.word_count, a.reading_time,
           a.lang, a.image, a.site_name
    FROM articles a LEFT JOIN feeds f ON f.id = a.feed_id
"""


def _article_dict(row: dict[str, Any]) -> dict[str, Any]:
    row["tags"] = json.loads(row.get("tags") or "[]")
    row["saved"] = bool(row["saved"])
    row["starred"] = bool(row["starred"])
    if row.get("feed_url") is None:
        row["feed_title"] = None
    return row


MIN_PREFIX = 3  # shorter `ab*` is searched as the word `ab` (a 2-letter prefix merges ~1M rows)
SEARCH_CANDIDATES = 1_000  # a search ranks the most recent matches, this many at most
# A search's rank (lower first, then newest) from the times the query matched in the title (t),
# author (au) and feed title (fe) of a candidate, counted by highlight(); each count saturates
# as bm25's term frequency does (k1 = 1.2). The body decides which rows match, not their order.
SEARCH_SCORE = "-(10 * t * 2.2 / (t + 1.2) + 2 * au * 2.2 / (au + 1.2) + fe * 2.2 / (fe + 1.2))"


def fts_query(text: str, *, phrases: bool = True) -> str:
    """A user's search words as a safe FTS5 query: "quoted phrases" kept, words quoted (so
    punctuation cannot cause syntax errors), `word*` a prefix (of MIN_PREFIX letters at least),
    OR and NOT kept as operators. With phrases=False a phrase becomes its words, grouped (the
    ranking query: counting the rows of a phrase of common words takes ~0.5 s at 1M articles,
    of its words ~30 ms each); a query with NOT keeps its phrases, or it would match less."""
    terms: list[str] = []
    split = not phrases and not re.search(r"(^|\s)NOT(\s|$)", text)
    for match in re.finditer(r'"([^"]*)"|(\S+)', text):
        phrase, word = match.group(1), match.group(2)
        if phrase is not None:
            if split and phrase.split():
                words = [w.replace('"', "") for w in phrase.split()]
                terms.append("(" + " ".join(f'"{w}"' for w in words) + ")")
            elif phrase.strip():
                terms.append('"' + phrase.replace('"', "") + '"')
            continue
        if word in ("OR", "NOT", "AND"):
            if terms and terms[-1] not in ("OR", "NOT", "AND"):
                terms.append(word)
            continue
        core = word.rstrip("*").replace('"', "")
        prefix = word.endswith("*") and len(core) >= MIN_PREFIX
        if not re.search(r"\w", core):
            continue
        terms.append(f'"{core}"' + ("*" if prefix else ""))
    while terms and terms[-1] in ("OR", "NOT", "AND"):
        terms.pop()
    return " ".join(terms)


def _filters(
    *,
    tags: Sequence[str] = (),
    feed_url: str | None = None,
    state: str | None = None,
    since: str | None = None,
    saved: bool | None = None,
) -> tuple[list[str], dict[str, Any]]:
    where: list[str] = []
    params: dict[str, Any] = {}
    for i, tag in enumerate(normalise_tags(tags)):
        where.append(
            f"EXISTS (SELECT 1 FROM articles_tags at JOIN tags t ON t.id = at.tag_id "
            f"WHERE at.article_id = a.id AND t.name = :tag{i})"
        )
        params[f"tag{i}"] = tag
    if feed_url:
        where.append(
            "a.id IN (SELECT fe.article_id FROM feed_entries fe JOIN feeds f2 "
            "ON f2.id = fe.feed_id WHERE f2.url = :feed_url)"
        )
        params["feed_url"] = feed_url
    if state == "starred":
        where.append("a.starred = 1")
    elif state:
        where.append("a.state = :state")
        params["state"] = state
    if since:
        where.append("a.sort_date >= :since")
        params["since"] = since
    if saved is not None:
        where.append("a.saved = :saved")
        params["saved"] = int(saved)
    return where, params


def query_articles(
    db: sqlite_utils.Database,
    *,
    tags: Sequence[str] = (),
    feed_url: str | None = None,
    query: str | None = None,
    state: str | None = None,
    since: str | None = None,
    saved: bool | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Articles as export objects (models.ARTICLE_FIELDS), newest first, or by relevance when a
    full-text query is given."""
    where, params = _filters(tags=tags, feed_url=feed_url, state=state, since=since, saved=saved)
    sql = _SELECT_ARTICLE
    order = "a.sort_date DESC, a.id DESC"
    if query:
        match = fts_query(query)
        if not match:
            return []
        sql += " JOIN articles_fts ON articles_fts.rowid = a.id"
        where.append("articles_fts MATCH :match")
        params["match"] = match
        order = "bm25(articles_fts, 10.0, 1.0, 2.0, 1.0), a.sort_date DESC"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {order}"
    if limit:
        sql += " LIMIT :limit"
        params["limit"] = limit
    try:
        return [_article_dict(r) for r in _rows(db, sql, params)]
    except sqlite3.OperationalError as exc:
        if "fts5" in str(exc) or "syntax" in str(exc):
            return []
        raise


def get_articles(db: sqlite_utils.Database, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Articles as export objects (models.ARTICLE_FIELDS), in the order of `ids` (the web exports
    the rows a Datasette page selected, in that page's order)."""
    found: dict[int, dict[str, Any]] = {}
    wanted = [int(i) for i in ids]
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in _rows(db, f"{_SELECT_ARTICLE} WHERE a.id IN ({marks})", chunk):
            found[int(row["id"])] = _article_dict(row)
    return [found[i] for i in wanted if i in found]


def search_articles(
    db: sqlite_utils.Database,
    query: str,
    *,
    tags: Sequence[str] = (),
    feed_url: str | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """Ranked full-text search with a snippet, among the SEARCH_CANDIDATES most recent matches:
    the same ranking as the web's canned `search` query (metadata.yml): where the query matched
    -- title 10, author 2, feed title 1, repeats saturating as in bm25 -- then newest. Not bm25,
    which counts every term's documents over the whole index (~25 ms per common word at 1M
    articles); see docs/benchmarks.md."""
    match = fts_query(query)
    if not match:
        return []
    where, params = _filters(tags=tags, feed_url=feed_url)
    # on the full-text rows (a `rowid IN` handed to FTS5 would re-run the match per row)
    where = [
        w.replace("a.id IN (", "+articles_fts.rowid IN (").replace("a.id", "articles_fts.rowid")
        for w in where
    ]
    params.update({"match": match, "limit": limit, "candidates": SEARCH_CANDIDATES})
    sql = f"""
        WITH hits AS (
            SELECT rowid AS id FROM articles_fts
            WHERE articles_fts MATCH :match {"".join(" AND " + w for w in where)}
            ORDER BY rowid DESC LIMIT :candidates
        ),
        hit_counts AS MATERIALIZED (
            SELECT articles_fts.rowid AS id,
              coalesce(length(highlight(articles_fts, 0, char(57344), '')) - length(title), 0)
                AS t,
              coalesce(length(highlight(articles_fts, 2, char(57344), '')) - length(author), 0)
                AS au,
              coalesce(length(highlight(articles_fts, 3, char(57344), ''))
                - length(feed_title), 0) AS fe
            FROM articles_fts
            WHERE articles_fts MATCH :match
              AND articles_fts.rowid >= (SELECT min(id) FROM hits)
              AND +articles_fts.rowid IN (SELECT id FROM hits)
        ),
        ranked AS MATERIALIZED (
            SELECT id, {SEARCH_SCORE} AS rank
            FROM hit_counts ORDER BY rank, id DESC LIMIT :limit
        )
        SELECT a.id, a.url, a.title, a.author, a.published, a.feed_title, a.site, a.tags,
               a.saved, a.state, a.starred,
               snippet(articles_fts, 1, '[', ']', '…', 16) AS snippet,
               (SELECT rank FROM ranked WHERE ranked.id = articles_fts.rowid) AS rank
        FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid
        WHERE articles_fts MATCH :match
          AND articles_fts.rowid >= (SELECT min(id) FROM ranked)
          AND +articles_fts.rowid IN (SELECT id FROM ranked)
        ORDER BY rank, a.id DESC
    """
    try:
        rows = _rows(db, sql, params)
    except sqlite3.OperationalError as exc:
        if "fts5" in str(exc) or "syntax" in str(exc):
            return []
        raise
    for row in rows:
        row["tags"] = json.loads(row["tags"] or "[]")
        row["saved"] = bool(row["saved"])
        row["starred"] = bool(row["starred"])
    return rows
