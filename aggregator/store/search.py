"""Reading articles back: filters, export rows, and the ranked full-text search."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..query import MIN_PREFIX
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


SEARCH_CANDIDATES = 1_000  # a search ranks the most recent matches, this many at most
SEARCH_PAGE = 50  # rows of the web's search page
# A search's rank (lower first, then newest) from the times the query matched in the title (t),
# author (au) and feed title (fe) of a candidate, counted by highlight(); each count saturates
# as bm25's term frequency does (k1 = 1.2). The body decides which rows match, not their order.
# Not bm25 itself, which counts every term's documents over the whole index (see "Search and
# browsing" in docs/benchmarks.md).
SEARCH_SCORE = "-(10 * t * 2.2 / (t + 1.2) + 2 * au * 2.2 / (au + 1.2) + fe * 2.2 / (fe + 1.2))"

# The name under which register_search_functions gives SQL the fts_query function.
FTS_QUERY_FUNCTION = "aggregator_fts_query"
# The web's defaults: what the user typed (`:q`) read by fts_query inside SQL (an empty query
# matches nothing), one tag (`:tag`) and one feed, by title or URL (`:feed`), '' for none.
WEB_MATCH = f"coalesce(nullif({FTS_QUERY_FUNCTION}(:q), ''), '\"\"')"
WEB_FILTERS = (
    "(:tag = '' or exists (select 1 from articles_tags at join tags t on t.id = at.tag_id "
    "where at.article_id = articles_fts.rowid and t.name = :tag))",
    "(:feed = '' or exists (select 1 from articles f where f.id = articles_fts.rowid "
    "and (f.feed_title = :feed or f.feed_id in (select id from feeds where url = :feed))))",
)
# The matched words between private-use characters, the rest escaped, the marks made <mark>.
WEB_SNIPPET = (
    "replace(replace(replace(replace(replace("
    "snippet(articles_fts, -1, char(57344), char(57345), '…', 32), "
    "'&', '&amp;'), '<', '&lt;'), '>', '&gt;'), char(57344), '<mark>'), char(57345), '</mark>')"
)
TEXT_SNIPPET = "snippet(articles_fts, 1, '[', ']', '…', 16)"


def search_sql(
    *,
    match: str = WEB_MATCH,
    filters: Sequence[str] = WEB_FILTERS,
    limit: str = str(SEARCH_PAGE),
    snippet: str = WEB_SNIPPET,
) -> str:
    """The ranked full-text search as SQL text with named parameters: the one definition that
    `aggregator search` (search_articles) and the web's canned `search` query both run.

    Without arguments it is the web's query (`:q`, `:tag`, `:feed`; needs the SQL function of
    register_search_functions). `match`: the SQL of the FTS5 query; `filters`: conditions on the
    full-text row, whose `articles_fts.rowid` is the article's id; `limit`: rows returned (a
    number or a parameter); `snippet`: the SQL of the snippet column.

    Bounded work, whatever the query: `hits` takes the SEARCH_CANDIDATES most recent matches
    (FTS5 walks its index newest first and stops; a phrase is checked only there), `ranked`
    orders them by SEARCH_SCORE and then newest, and only the rows returned get a snippet. The
    `+` keeps the IN filters away from FTS5, which would run the match again for every row."""
    where = "".join(f"\n              AND {f}" for f in filters)
    return f"""
        WITH hits AS (
            SELECT rowid AS id FROM articles_fts
            WHERE articles_fts MATCH {match}{where}
            ORDER BY rowid DESC LIMIT {SEARCH_CANDIDATES}
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
            WHERE articles_fts MATCH {match}
              AND articles_fts.rowid >= (SELECT min(id) FROM hits)
              AND +articles_fts.rowid IN (SELECT id FROM hits)
        ),
        ranked AS MATERIALIZED (
            SELECT id, {SEARCH_SCORE} AS rank
            FROM hit_counts ORDER BY rank, id DESC LIMIT {limit}
        )
        SELECT a.id, a.title, a.url, a.site, a.feed_title, a.author, a.published, a.tags,
               a.reading_time, a.state, a.starred, a.saved,
               {snippet} AS snippet,
               (SELECT rank FROM ranked WHERE ranked.id = articles_fts.rowid) AS rank
        FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid
        WHERE articles_fts MATCH {match}
          AND articles_fts.rowid >= (SELECT min(id) FROM ranked)
          AND +articles_fts.rowid IN (SELECT id FROM ranked)
        ORDER BY rank, a.id DESC
    """


def register_search_functions(conn: sqlite3.Connection) -> None:
    """Give a connection (Datasette's) the SQL function that search_sql's default `match` calls:
    fts_query of what the user typed."""
    conn.create_function(
        FTS_QUERY_FUNCTION, 1, lambda q: fts_query(str(q or "")), deterministic=True
    )


def fts_query(text: str, *, phrases: bool = True) -> str:
    """A user's search words as a safe FTS5 query: "quoted phrases" kept, words quoted (so
    punctuation cannot cause syntax errors), `word*` a prefix (of MIN_PREFIX letters at least),
    OR and NOT kept as operators. With phrases=False a phrase becomes its words, grouped
    (checking a phrase of common words over a whole large index is far slower than its
    words); a query with NOT keeps its phrases, or it would match less."""
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
    row: str = "a.id",
) -> tuple[list[str], dict[str, Any]]:
    """Conditions on the article whose id is `row` (`a.id`, or `articles_fts.rowid` inside the
    full-text query, where a `+` keeps an IN filter away from FTS5, which would re-run the match
    for every row), with their named parameters."""
    unary = "" if row == "a.id" else "+"
    where: list[str] = []
    params: dict[str, Any] = {}
    for i, tag in enumerate(normalise_tags(tags)):
        where.append(
            f"EXISTS (SELECT 1 FROM articles_tags at JOIN tags t ON t.id = at.tag_id "
            f"WHERE at.article_id = {row} AND t.name = :tag{i})"
        )
        params[f"tag{i}"] = tag
    if feed_url:
        where.append(
            f"{unary}{row} IN (SELECT fe.article_id FROM feed_entries fe JOIN feeds f2 "
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
    """Ranked full-text search with a snippet (search_sql, as the web's `search` page ranks):
    where the query matched -- title 10, author 2, feed title 1, repeats saturating as in
    bm25 -- then newest, among the SEARCH_CANDIDATES most recent matches."""
    match = fts_query(query)
    if not match:
        return []
    where, params = _filters(tags=tags, feed_url=feed_url, row="articles_fts.rowid")
    params.update({"match": match, "limit": limit})
    sql = search_sql(match=":match", filters=where, limit=":limit", snippet=TEXT_SNIPPET)
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
